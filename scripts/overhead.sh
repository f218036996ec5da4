#!/usr/bin/env bash
# Measures what watching costs a busy box: connections per second of a
# loopback connect storm (tui/examples/connect_storm.rs, healthy short
# connections) without any watcher, then with each of these attached:
#   tcpscope      `tcpscope --json` as a user runs it (its lines to a file)
#   every-flow    the same with --every-flow: every state change sent
#   metrics       `tcpscope --metrics` alone, scraped once a second
#   bpf-count     bpftrace counting the tracepoints tcpscope watches, in a map
#   bpf-print     bpftrace printing every such event (the seeds' method)
# Each column is that rate over the round's baseline. Rounds alternate
# so drift affects every side alike. Installs bpftrace (Debian's package)
# and mounts tracefs when missing. Needs root.
#   scripts/overhead.sh [seconds per run, default 5] [rounds, default 3]
# TCPSCOPE_BIN=path measures another build of tcpscope (e.g. an older
# commit's) against the same storm.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
rounds=${2:-3}
cargo build --release --quiet --bin tcpscope --example connect_storm
storm() { ./target/release/examples/connect_storm "$seconds"; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

if ! command -v bpftrace >/dev/null; then
  echo "overhead: installing bpftrace (Debian's package)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null; }
fi
if [ ! -e /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing
fi

# GET /metrics from host:port, as a scraper would (bash's /dev/tcp: no curl).
scrape() {
  exec 3<>"/dev/tcp/${1%:*}/${1##*:}"
  printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
  cat <&3 >/dev/null
  exec 3<&-
}

# Runs the storm with a watcher attached, once the watcher wrote its first
# byte to $scratch/out (tcpscope's first line, bpftrace's "Attaching").
watched() {
  : >"$scratch/out"
  "$@" >"$scratch/out" 2>"$scratch/err" &
  local pid=$!
  for _ in $(seq 200); do [ -s "$scratch/out" ] && break; sleep 0.1; done
  [ -s "$scratch/out" ] || { cat "$scratch/err" >&2; kill "$pid"; exit 1; }
  local scraper=
  if [ "${SCRAPE:-}" ]; then
    (while sleep 1; do scrape "$SCRAPE" || true; done) >/dev/null 2>&1 &
    scraper=$!
  fi
  storm
  [ -z "$scraper" ] || kill "$scraper"
  kill -INT "$pid"
  wait "$pid" || true
}

tcpscope=${TCPSCOPE_BIN:-./target/release/tcpscope}
metrics=127.0.0.1:10429
tracepoints='tracepoint:sock:inet_sock_set_state, tracepoint:tcp:tcp_retransmit_skb,
  tracepoint:tcp:tcp_retransmit_synack, tracepoint:tcp:tcp_send_reset,
  tracepoint:tcp:tcp_receive_reset, tracepoint:tcp:tcp_destroy_sock, tracepoint:skb:kfree_skb'
count="$tracepoints { @[probe] = count(); }"
print="tracepoint:sock:inet_sock_set_state {
  printf(\"%d %s %d -> %d\\n\", pid, comm, args->oldstate, args->newstate); }
tracepoint:tcp:tcp_retransmit_skb, tracepoint:tcp:tcp_retransmit_synack,
tracepoint:tcp:tcp_send_reset, tracepoint:tcp:tcp_receive_reset, tracepoint:tcp:tcp_destroy_sock,
tracepoint:skb:kfree_skb { printf(\"%d %s %s\\n\", pid, comm, probe); }"

printf '%-6s %10s %10s %10s %10s %10s %10s %s\n' round baseline tcpscope every-flow metrics \
  bpf-count bpf-print "lost (tcpscope, every-flow)"
for round in $(seq "$rounds"); do
  base=$(storm)
  scope=$(watched "$tcpscope" --json)
  lost=$(grep '"kind":"stats"' "$scratch/out" | tail -1 | sed -n 's/.*"lost":\([0-9]*\).*/\1/p')
  every=$(watched "$tcpscope" --json --every-flow)
  lost_every=$(grep '"kind":"stats"' "$scratch/out" | tail -1 | sed -n 's/.*"lost":\([0-9]*\).*/\1/p')
  with_metrics=$(SCRAPE=$metrics watched "$tcpscope" --metrics "$metrics" --json --port 1)
  counting=$(watched bpftrace -e "$count")
  printing=$(watched bpftrace -e "$print")
  awk -v r="$round" -v b="$base" -v s="$scope" -v e="$every" -v m="$with_metrics" \
    -v c="$counting" -v p="$printing" -v l="$lost, $lost_every" \
    'BEGIN { printf "%-6s %10d %10.3f %10.3f %10.3f %10.3f %10.3f %s\n",
             r, b, s / b, e / b, m / b, c / b, p / b, l }'
done
