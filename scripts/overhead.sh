#!/usr/bin/env bash
# Measures what tcpscope costs a busy box: connections per second of a
# loopback connect storm (tui/examples/connect_storm.rs) without tcpscope,
# and with `tcpscope --json` attached, printing every event or printing
# nothing (a filter that matches no flow: probes, decoding and the table
# still run), and with `--metrics` on as well as that filter (scraped once a
# second during the storm). Rounds alternate so drift affects both sides.
# Needs root.
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

# GET /metrics from host:port, as a scraper would (bash's /dev/tcp: no curl).
scrape() {
  exec 3<>"/dev/tcp/${1%:*}/${1##*:}"
  printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
  cat <&3 >/dev/null
  exec 3<&-
}

# Runs the storm with tcpscope attached, started with the given arguments.
attached() {
  "${TCPSCOPE_BIN:-./target/release/tcpscope}" --json "$@" >"$scratch/out" 2>"$scratch/err" &
  local pid=$!
  for _ in $(seq 100); do [ -s "$scratch/out" ] && break; sleep 0.1; done
  [ -s "$scratch/out" ] || { cat "$scratch/err" >&2; kill "$pid"; exit 1; }
  local scraper=
  if [ "${SCRAPE:-}" ]; then
    (while sleep 1; do scrape "$SCRAPE" || true; done) >/dev/null 2>&1 &
    scraper=$!
  fi
  storm
  [ -z "$scraper" ] || kill "$scraper"
  kill -TERM "$pid"
  wait "$pid" || true
  grep '"kind":"stats"' "$scratch/out" | tail -1 >"$scratch/stats"
}

metrics=127.0.0.1:10429
printf '%-6s %10s %12s %8s %12s %8s %12s %8s %s\n' round baseline printing ratio filtered ratio metrics ratio "lost (printing)"
for round in $(seq "$rounds"); do
  base=$(storm)
  printing=$(attached)
  lost=$(sed -n 's/.*"lost":\([0-9]*\).*/\1/p' "$scratch/stats")
  filtered=$(attached --port 1)
  with_metrics=$(SCRAPE=$metrics attached --port 1 --metrics "$metrics")
  awk -v r="$round" -v b="$base" -v p="$printing" -v f="$filtered" -v m="$with_metrics" -v l="$lost" \
    'BEGIN { printf "%-6s %10d %12d %8.3f %12d %8.3f %12d %8.3f %s\n", r, b, p, p / b, f, f / b, m, m / b, l }'
done
