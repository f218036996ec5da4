#!/usr/bin/env bash
# Fuzzes tcpscope's parsers of outside input (tui/fuzz: the filter language,
# recording lines, sock_diag datagrams, /proc text, BTF, ring-buffer
# records) with cargo-fuzz on the pinned nightly.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target (all of them by default) for SECONDS (default 20), one
# after the other, on one core, and prints one row per target: executions,
# corpus size, and whether it found a crash (the input is then saved under
# tui/fuzz/artifacts/<target>/ and the script fails). The corpora start
# from seeds made here: the recordings in assets/, this machine's
# /proc/net/{netstat,snmp} and the head of /proc/kallsyms, and the BTF of
# tcpscope's own probes. Installs cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${1:-20}
shift || true
all=(filter recording_line sock_diag proc_text btf ring_record)
targets=("${@:-${all[@]}}")
toolchain=$(tr -d '[:space:]' <probes/bpf-toolchain)
fuzz_dir=tui/fuzz

log() { printf 'fuzz: %s\n' "$*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

seed() {
  local target=$1 dir=$fuzz_dir/corpus/$1
  mkdir -p "$dir"
  case $target in
    filter)
      printf '%s' 'port:80,443 comm:nginx' >"$dir/seed-1"
      printf '%s' 'state:syn_sent reason:paws netns:4026531840 unit:ssh.service' >"$dir/seed-2"
      printf '%s' 'addr:10.0.0.2 dport:5432 pid:1 state:stalled' >"$dir/seed-3" ;;
    recording_line)
      local n=0
      for recording in assets/*.jsonl; do
        head -n 200 "$recording" | while IFS= read -r line; do
          n=$((n + 1))
          printf '%s' "$line" >"$dir/$(basename "$recording" .jsonl)-$n"
        done
      done ;;
    proc_text)
      cat /proc/net/netstat >"$dir/netstat" 2>/dev/null || true
      cat /proc/net/snmp >"$dir/snmp" 2>/dev/null || true
      head -c 3000 /proc/kallsyms >"$dir/kallsyms" 2>/dev/null || true
      printf '%s' 'socket:[4026]' >"$dir/fd-link"
      printf '%s' '0::/system.slice/nginx.service' >"$dir/cgroup" ;;
    btf)
      local object
      object=$(find target/release/build -path '*tcpscope-*/out/tcpscope' -type f 2>/dev/null | head -n 1)
      if [ -n "$object" ] && command -v llvm-objcopy-22 >/dev/null; then
        llvm-objcopy-22 --dump-section ".BTF=$dir/probes-btf" "$object" /dev/null 2>/dev/null || true
      fi ;;
    sock_diag | ring_record) ;;
  esac
}

failed=0
printf '%-16s %8s %12s %8s  %s\n' target seconds execs corpus result
for target in "${targets[@]}"; do
  seed "$target"
  out=$(mktemp)
  max_len=4096
  [ "$target" = btf ] && max_len=65536
  status=ok
  (cd "$fuzz_dir" && cargo "+$toolchain" fuzz run --release --debug-assertions "$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=1024 -print_final_stats=1) \
    >"$out" 2>&1 || status=CRASH
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
  corpus=$(find "$fuzz_dir/corpus/$target" -type f | wc -l)
  printf '%-16s %8s %12s %8s  %s\n' "$target" "$seconds" "${execs:-?}" "$corpus" "$status"
  if [ "$status" != ok ]; then
    failed=1
    tail -n 40 "$out" >&2
  fi
  rm -f "$out"
done
exit "$failed"
