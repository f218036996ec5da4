#!/usr/bin/env bash
# tcpscope's memory with many live flows: starts tcpscope, then opens N
# loopback connections (default 50,000, to 4 listeners; both ends of each
# are flows, so 100,000 flows) that stay open,
# waits until tcpscope has them all as live flows (told by the healthy path
# once past their first second), and prints its RSS then and its peak.
# Needs root (the probes; a raised open-files limit).
#   scripts/flows-rss.sh [connections, default 50000] [tcpscope arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-50000}
shift || true
cargo build --release --quiet --bin tcpscope
scratch=$(mktemp -d)
# Each process holds both ends of its connections, within the open-files
# limit (which a container may not let even root raise).
per_process=$(( ($(ulimit -n) - 100) / 2 ))
processes=$(( (connections + per_process - 1) / per_process ))
ports_were=$(sysctl -n net.ipv4.ip_local_port_range)
pids=()
cleanup() {
  sysctl -qw net.ipv4.ip_local_port_range="$ports_were"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
sysctl -qw net.ipv4.ip_local_port_range="1024 65000"

"${TCPSCOPE_BIN:-./target/release/tcpscope}" --json --port 1 "$@" >"$scratch/out" 2>"$scratch/err" &
tcpscope=$!
pids+=("$tcpscope")
for _ in $(seq 100); do [ -s "$scratch/out" ] && break; sleep 0.1; done
before=$(awk '/VmRSS/ { print $2 }' "/proc/$tcpscope/status")

for n in $(seq "$processes"); do
python3 - $((connections / processes)) "$scratch/ready.$n" <<'PY' &
import socket, sys, threading, time
count, ready = int(sys.argv[1]), sys.argv[2]
listeners = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    listeners.append(s)
accepted = []
def accept(s):
    while True:
        accepted.append(s.accept()[0])
for s in listeners:
    threading.Thread(target=accept, args=(s,), daemon=True).start()
clients = [socket.create_connection(listeners[i % 4].getsockname()) for i in range(count)]
while len(accepted) < count:
    time.sleep(0.1)
open(ready, "w").close()
time.sleep(3600)
PY
pids+=($!)
done
until [ "$(ls "$scratch" | grep -c '^ready\.')" -ge "$processes" ]; do sleep 0.5; done
# Both ends of each connection are flows.
want=$((2 * (connections / processes) * processes))
for _ in $(seq 120); do
  live=$({ grep '"kind":"stats"' "$scratch/out" || true; } | tail -1 | sed -n 's/.*"flows_live":\([0-9]*\).*/\1/p')
  [ "${live:-0}" -ge "$want" ] && break
  sleep 1
done
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$tcpscope/status")
peak=$(awk '/VmHWM/ { print $2 }' "/proc/$tcpscope/status")
echo "connections $connections, live flows $live (want $want): RSS before $((before / 1024)) MiB, with them $((rss / 1024)) MiB, peak $((peak / 1024)) MiB; $(( (rss - before) * 1024 / (live > 0 ? live : 1) )) bytes per flow"
