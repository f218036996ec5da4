#!/usr/bin/env bash
# What each of tcpscope's probes costs the kernel under a loopback connect
# storm (tui/examples/connect_storm.rs): runs, runs per connection and
# nanoseconds per run, from the kernel's BPF statistics
# (kernel.bpf_stats_enabled, switched on only while measuring and restored
# after), the share of a core they take, and tcpscope's own CPU and peak
# memory meanwhile. Needs root and bpftool (scripts/setup.sh installs it).
#   scripts/probe-cost.sh [seconds, default 5] [tcpscope arguments...]
# The default arguments, --json --port 1, print nothing: the probes,
# decoding and the table still run.
#   EMPTY=1   also attach bpftrace programs that do nothing to two of the
#             same tracepoints (inet_sock_set_s, tcp_destroy_soc in the
#             table): what any program costs a run here, in the same run
#             (installs bpftrace and mounts tracefs when missing)
#   STORM_CPUS=0   run the storm on these CPUs only (taskset -c): with
#             one, no two CPUs share the probes' maps' cache lines
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
shift || true
[ $# -gt 0 ] || set -- --json --port 1
cargo build --release --quiet --bin tcpscope --example connect_storm
scratch=$(mktemp -d)
stats_were=$(sysctl -n kernel.bpf_stats_enabled)
pid=
empty=
cleanup() {
  sysctl -qw kernel.bpf_stats_enabled="$stats_were"
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -z "${empty:-}" ] || kill "$empty" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# The programs loaded before tcpscope: not its own.
bpftool prog show | awk '/^[0-9]+:/ { sub(":", "", $1); print $1 }' >"$scratch/others"
"${TCPSCOPE_BIN:-./target/release/tcpscope}" "$@" >"$scratch/out" 2>"$scratch/err" &
pid=$!
if [ -n "${EMPTY:-}" ]; then
  if ! command -v bpftrace >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null; }
  fi
  [ -e /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing
  bpftrace -e 'tracepoint:sock:inet_sock_set_state { } tracepoint:tcp:tcp_destroy_sock { }' >"$scratch/empty" 2>&1 &
  empty=$!
  for _ in $(seq 100); do grep -q '^Attaching' "$scratch/empty" && break; sleep 0.1; done
  grep -q '^Attaching' "$scratch/empty" || { cat "$scratch/empty" >&2; exit 1; }
  sleep 1
fi
for _ in $(seq 100); do [ -s "$scratch/out" ] && break; sleep 0.1; done
[ -s "$scratch/out" ] || { cat "$scratch/err" >&2; exit 1; }

# id name run_time_ns run_cnt, one line per program tcpscope loaded.
programs() {
  bpftool prog show | awk -v others="$scratch/others" '
    BEGIN { while ((getline id < others) > 0) before[id] = 1 }
    function flush() { if (id != "" && !(id in before)) print id, name, ns + 0, cnt + 0 }
    /^[0-9]+:/ { flush(); id = $1; sub(":", "", id); name = ""; ns = 0; cnt = 0
                 for (i = 1; i < NF; i++) if ($i == "name") name = $(i + 1) }
    { for (i = 1; i < NF; i++) { if ($i == "run_time_ns") ns = $(i + 1); if ($i == "run_cnt") cnt = $(i + 1) } }
    END { flush() }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

sysctl -qw kernel.bpf_stats_enabled=1
programs >"$scratch/before"
ticks_before=$(cpu_ticks)
started=$(date +%s.%N)
pin=()
[ -z "${STORM_CPUS:-}" ] || pin=(taskset -c "$STORM_CPUS")
rate=$("${pin[@]}" ./target/release/examples/connect_storm "$seconds")
ended=$(date +%s.%N)
programs >"$scratch/after"
ticks_after=$(cpu_ticks)
peak_kib=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
hz=$(getconf CLK_TCK)

awk -v rate="$rate" -v started="$started" -v ended="$ended" \
    -v ticks=$((ticks_after - ticks_before)) -v hz="$hz" -v peak="$peak_kib" '
  FNR == NR { ns0[$1] = $3; cnt0[$1] = $4; next }
  { runs = $4 - cnt0[$1]; ns = $3 - ns0[$1]; name[$1] = $2; r[$1] = runs; t[$1] = ns; total += ns }
  END {
    elapsed = ended - started; connections = rate * elapsed
    printf "storm: %d connections/s for %.1f s\n\n", rate, elapsed
    printf "%-24s %10s %10s %8s %10s\n", "program", "runs", "per conn", "ns/run", "% of core"
    for (id in name) {
      if (r[id] == 0) continue
      printf "%-24s %10d %10.2f %8.0f %10.1f\n", name[id], r[id], r[id] / connections, t[id] / r[id], 100 * t[id] / (elapsed * 1e9)
    }
    printf "%-24s %10s %10s %8s %10.1f\n", "all probes", "", "", "", 100 * total / (elapsed * 1e9)
    printf "\ntcpscope itself: %.1f%% of a core, peak RSS %.1f MiB\n", 100 * ticks / hz / elapsed, peak / 1024
  }' "$scratch/before" "$scratch/after"
