#!/usr/bin/env bash
# Records assets/stall.jsonl, a short recording with surveys
# (`tcpscope --json --sockinfo`): run as root from the repository root after
# `cargo build --release`. Two network namespaces of its own
# (tcpscope-stall-c, tcpscope-stall-s, joined by a veth pair, 10.233.0.1 and
# 10.233.0.2) host a server, "ledger", that accepts one connection and never
# reads it, and a client, "exporter", that writes until its send buffer is
# full: the client's flow stalls on a zero window while the server answers
# its window probes. No traffic leaves them; the namespaces are deleted on
# exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-assets/stall.jsonl}
C=tcpscope-stall-c
S=tcpscope-stall-s
BIN=./target/release/tcpscope

. assets/lab.sh
trap lab_down EXIT
lab_up "$C" "$S" 10.233.0

ip netns exec "$S" python3 -c '
import socket, time, ctypes
ctypes.CDLL(None).prctl(15, b"ledger", 0, 0, 0)
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
listener.bind(("10.233.0.2", 7000))
listener.listen(1)
peer, _ = listener.accept()
time.sleep(60)' &
sleep 0.5
"$BIN" --json --sockinfo --port 7000 --duration 9s > "$OUT" &
RECORDER=$!
sleep 2
ip netns exec "$C" python3 -c '
import socket, time, ctypes
ctypes.CDLL(None).prctl(15, b"exporter", 0, 0, 0)
stream = socket.create_connection(("10.233.0.2", 7000))
stream.setblocking(False)
try:
    while True:
        stream.send(b"x" * 65536)
except BlockingIOError:
    pass
time.sleep(60)' &
wait "$RECORDER"
echo "recorded $(wc -l < "$OUT") lines to $OUT"
