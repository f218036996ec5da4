#!/usr/bin/env bash
# Measures tcpscope's start-up time on a box with many open sockets (the
# goal: under 500 ms to the first frame with 10,000 sockets). Start-up
# attaches the probes, then surveys every namespace's sockets with sock_diag
# and finds each one's owner in /proc/<pid>/fd, so it grows with the number
# of sockets. tui/examples/open_sockets.rs holds the sockets open.
#
# Time to first frame: tcpscope runs in a detached tmux session of fixed
# size; the pane is polled every ~10 ms until the header line ("tcpscope ...
# probes N attached") is on screen, timed from just before exec. Also timed:
# `tcpscope --json --duration 1ms` (start-up through its first lines), with
# the number of `flow` lines it printed (one per surveyed socket).
# Each is measured without the extra sockets first, then with them. Needs root.
#   scripts/startup.sh [runs, default 5] [connections, default 5000 = 10,000 sockets] [port, default 23901]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
connections=${2:-5000}
port=${3:-23901}

if [ "$(id -u)" -ne 0 ]; then
  echo "startup.sh: tcpscope loads eBPF probes, which takes root; run: sudo $0 $*" >&2
  exit 1
fi
command -v tmux >/dev/null || { echo "startup.sh: needs tmux (apt-get install tmux)" >&2; exit 1; }

cargo build --release --quiet --bin tcpscope --examples
bin=${CARGO_TARGET_DIR:-target}/release
bin=$(cd "$bin" && pwd)
scratch=$(mktemp -d)
# What each tmux session runs: note the time, then become tcpscope.
cat >"$scratch/launch" <<LAUNCH
#!/usr/bin/env bash
echo "\$EPOCHREALTIME" >'$scratch/launched'
exec '$bin/tcpscope' 2>'$scratch/err'
LAUNCH
chmod +x "$scratch/launch"
# A tmux server of our own, so that no one else's sessions are touched.
tmux_socket=tcpscope-startup-$$
session=startup
holder=""
cleanup() {
  tmux -L "$tmux_socket" kill-server 2>/dev/null || true
  if [ -n "$holder" ]; then kill "$holder" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# Microseconds since the epoch, without starting a process.
now_us() { local t=$EPOCHREALTIME; echo "${t//[.,]/}"; }

# Milliseconds from launch to the first frame, for one run of the screen.
first_frame_ms() {
  rm -f "$scratch/launched" "$scratch/err"
  tmux -L "$tmux_socket" new-session -d -s "$session" -x 160 -y 48 "$scratch/launch"
  local seen="" deadline=$(($(now_us) + 30000000))
  while [ "$(now_us)" -lt "$deadline" ]; do
    if ! screen=$(tmux -L "$tmux_socket" capture-pane -p -t "$session" 2>/dev/null); then
      break # the session ended: tcpscope exited
    fi
    if grep -q 'tcpscope.*probes' <<<"$screen"; then
      seen=$(now_us)
      break
    fi
    sleep 0.01
  done
  # q quits; the session ends with tcpscope, which detaches its probes.
  tmux -L "$tmux_socket" send-keys -t "$session" q 2>/dev/null || true
  for _ in $(seq 100); do
    tmux -L "$tmux_socket" has-session -t "$session" 2>/dev/null || break
    sleep 0.05
  done
  tmux -L "$tmux_socket" kill-session -t "$session" 2>/dev/null || true
  if [ -z "$seen" ] || [ ! -s "$scratch/launched" ]; then
    echo "startup.sh: no first frame within 30 s; tcpscope said:" >&2
    cat "$scratch/err" >&2 2>/dev/null || true
    exit 1
  fi
  local launched
  launched=$(<"$scratch/launched")
  echo $(((seen - ${launched//[.,]/}) / 1000))
}

# "<milliseconds> <flow lines>" for one `tcpscope --json --duration 1ms`.
json_run() {
  local start end
  start=$(now_us)
  "$bin/tcpscope" --json --duration 1ms >"$scratch/json" 2>"$scratch/err" || {
    cat "$scratch/err" >&2
    exit 1
  }
  end=$(now_us)
  echo "$(((end - start) / 1000)) $(grep -c '"kind":"flow"' "$scratch/json" || true)"
}

# "min median max" of the numbers on stdin.
summary() {
  sort -n | awk '{ v[NR] = $1 } END { printf "%d %d %d\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
}

# Prints one table row per measurement for the sockets open now.
measure() {
  local label=$1 frames=() json_ms=() flows=() ms count
  for _ in $(seq "$runs"); do frames+=("$(first_frame_ms)"); done
  for _ in $(seq "$runs"); do
    read -r ms count < <(json_run)
    json_ms+=("$ms")
    flows+=("$count")
  done
  read -r lo mid hi < <(printf '%s\n' "${frames[@]}" | summary)
  printf '%-22s %-12s %8s %8s %8s   %s\n' "$label" "first frame" "$lo" "$mid" "$hi" \
    "(${frames[*]})"
  read -r lo mid hi < <(printf '%s\n' "${json_ms[@]}" | summary)
  printf '%-22s %-12s %8s %8s %8s   %s\n' "$label" "--json 1ms" "$lo" "$mid" "$hi" \
    "(${json_ms[*]}; flow lines: ${flows[*]})"
}

echo "tcpscope start-up, $runs runs each, times in ms"
read -r load _ </proc/loadavg
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  echo "warning: load average $load on $(nproc) CPUs; start-up waits for CPU, so expect" \
    "inflated times (an idle box, or \`chrt -f 10 $0\`, shows tcpscope's own cost)" >&2
fi
# One untimed run, so that every timed one finds BTF and the binary cached.
first_frame_ms >/dev/null
printf '%-22s %-12s %8s %8s %8s\n' sockets measure min median max
measure "baseline"

coproc HOLDER { exec "$bin/examples/open_sockets" "$connections" "$port"; }
holder=$HOLDER_PID
if ! read -r -t 120 -u "${HOLDER[0]}" ready count _ || [ "$ready" != ready ]; then
  echo "startup.sh: open_sockets did not get ready" >&2
  exit 1
fi
measure "+$count loopback"
