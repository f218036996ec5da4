#!/usr/bin/env bash
# Records assets/demo.jsonl, the recording `tcpscope --replay assets/demo.jsonl`
# plays: run as root from the repository root after `cargo build --release`.
# Two network namespaces of its own (tcpscope-demo-c, tcpscope-demo-s, joined by
# a veth pair, 10.232.0.1 and 10.232.0.2) host a client, "checkout-svc", and a
# server, "inventory-db". No traffic leaves them. The client:
#   t=1s   connects to a port whose SYNs the server drops (SYN black-hole:
#          tcp_syn_retries=3, so SYNs at 0, 1, 3, 7 s and ETIMEDOUT at 15 s);
#   t=1.5s connects to a closed port (refused);
#   t=2s   opens a connection, then the server drops everything on it
#          (t=3s) and the client sends (RTO backoff, tcp_retries2=4: ETIMEDOUT);
#   t=4s   is reset by the server (SO_LINGER 0 close: reset);
#   t=5s   gives up on a black-holed connect after 2 s itself (abandoned);
#   t=19s  starts another black-holed connect, still retrying at the end.
# It records with --sockinfo, so the replay also has each flow's owner (the
# server's accepted flows included) and tcp_info. The namespaces are deleted
# on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-assets/demo.jsonl}
C=tcpscope-demo-c
S=tcpscope-demo-s
BIN=./target/release/tcpscope
WORK=$(mktemp -d)

. assets/lab.sh
cleanup() {
  lab_down
  rm -rf "$WORK"
}
trap cleanup EXIT
lab_up "$C" "$S" 10.232.0
ip netns exec "$C" sysctl -q -w net.ipv4.tcp_syn_retries=3 net.ipv4.tcp_retries2=4 \
  net.ipv4.tcp_syn_linear_timeouts=0
ip netns exec "$S" iptables -A INPUT -p tcp --dport 8081 -j DROP

cat >"$WORK/server.py" <<'PY'
import ctypes, socket, struct, threading
ctypes.CDLL(None).prctl(15, b"inventory-db", 0, 0, 0)

def serve(port, handle):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("10.232.0.2", port))
    listener.listen()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()

def answer(conn):
    while conn.recv(4096):
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nstock: 12\n")

def reset(conn):
    conn.recv(4096)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()

threading.Thread(target=serve, args=(8080, answer), daemon=True).start()
serve(8083, reset)
PY

cat >"$WORK/client.py" <<'PY'
import ctypes, socket, threading, time
ctypes.CDLL(None).prctl(15, b"checkout-svc", 0, 0, 0)
SERVER = "10.232.0.2"
start = time.monotonic()

def at(seconds):
    time.sleep(max(0.0, start + seconds - time.monotonic()))

def attempt(port, timeout=None):
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((SERVER, port))
    except OSError as error:
        print(f"connect to {port}: {error!r}", flush=True)
    s.close()

def blackholed_peer():
    s = socket.create_connection((SERVER, 8080))
    s.sendall(b"GET /stock HTTP/1.0\r\n\r\n")
    s.recv(4096)
    at(4)
    s.sendall(b"GET /stock HTTP/1.0\r\n\r\n")
    try:
        s.recv(4096)
    except OSError as error:
        print(f"blackholed peer: {error!r}", flush=True)

def reset_by_peer():
    s = socket.create_connection((SERVER, 8083))
    s.sendall(b"PING\r\n")
    try:
        s.recv(4096)
    except OSError as error:
        print(f"reset: {error!r}", flush=True)

plan = [
    (1.0, attempt, (8081,)),
    (1.5, attempt, (8082,)),
    (2.0, blackholed_peer, ()),
    (4.0, reset_by_peer, ()),
    (5.0, attempt, (8081, 2.0)),
    (19.0, attempt, (8081,)),
]
for when, work, args in plan:
    at(when)
    threading.Thread(target=work, args=args, daemon=True).start()
at(30)
PY

# Only these two namespaces: sockets of earlier runs can outlive theirs
# (a server's orphaned FIN retrying into the black hole for minutes).
NETNS=$(stat -L -c %i "/run/netns/$C"),$(stat -L -c %i "/run/netns/$S")
: >"$OUT"
"$BIN" --json --sockinfo --filter "addr:10.232.0.2 netns:$NETNS" --duration 24s >"$OUT" &
recorder=$!
until [ -s "$OUT" ]; do sleep 0.1; done
ip netns exec "$S" python3 "$WORK/server.py" &
sleep 0.3
ip netns exec "$C" python3 "$WORK/client.py" &
sleep 3
ip netns exec "$S" iptables -A INPUT -p tcp --dport 8080 -j DROP
wait "$recorder"
echo "recorded $(wc -l <"$OUT") lines, $(stat -c %s "$OUT") bytes in $OUT" >&2
