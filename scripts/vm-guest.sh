#!/usr/bin/env bash
# The part of scripts/vmtest.sh that runs on the kernel under test: inside a
# virtme-ng guest (the host's root filesystem, read-write; its /tmp is the
# guest's own), or natively for the `host` row. It records the kernel, runs
# `tcpscope --json --duration 3s` once (its first `stats` line says which
# probes attached; its stderr what a failure printed), then each root
# integration test binary of the plan as root, with TCPSCOPE_BIN set.
# Everything goes to files in OUT, which the host reads afterwards:
#   uname                   uname -r
#   probe.stdout/.stderr/.rc  the short tcpscope run
#   tests/NAME.log/.rc/.secs  one test binary's libtest output (--show-output)
#   tests/NAME.retry.log/.rc  with RETRY=1: its failed tests once more, one
#                           at a time (not after a timeout)
#   done                    written last: the guest got to the end
#
#   vm-guest.sh OUT TCPSCOPE_BIN PLAN BINARY_TIMEOUT_SECONDS RETRY
# PLAN: one line per test binary, tab-separated: name, working directory,
# executable, libtest arguments (space-separated; test names have no spaces).
set -euo pipefail

out=$1 bin=$2 plan=$3 binary_timeout=$4 retry=${5:-0}

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export TCPSCOPE_BIN=$bin
export RUST_BACKTRACE=0
# Without KVM a guest makes connections ten times slower: a smaller storm.
export TCPSCOPE_STORM_CONNECTIONS=${TCPSCOPE_STORM_CONNECTIONS:-4000}
export TCPSCOPE_FLOOD_CONNECTS=${TCPSCOPE_FLOOD_CONNECTS:-10000}
export TERM=${TERM:-xterm}
export HOME=${HOME:-/root}

mkdir -p "$out/tests"
uname -r >"$out/uname"

rc=0
timeout -k 10 60 "$bin" --json --duration 3s \
  </dev/null >"$out/probe.stdout" 2>"$out/probe.stderr" || rc=$?
echo "$rc" >"$out/probe.rc"

while IFS=$'\t' read -r name dir exe args; do
  [ -n "$name" ] || continue
  start=$(date +%s)
  rc=0
  # shellcheck disable=SC2086 # args is a list of test names and flags
  (cd "$dir" && exec timeout -k 10 "$binary_timeout" "$exe" $args --show-output) \
    </dev/null >"$out/tests/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$out/tests/$name.rc"
  echo $(($(date +%s) - start)) >"$out/tests/$name.secs"
  if [ "$retry" = 1 ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
    failed=$({ grep -ao 'test [^ ]* \.\.\. FAILED' "$out/tests/$name.log" || true; } | awk '{print $2}' | sort -u | tr '\n' ' ')
    if [ -n "$failed" ]; then
      rc=0
      # shellcheck disable=SC2086 # test names
      (cd "$dir" && exec timeout -k 10 "$binary_timeout" "$exe" --exact $failed --test-threads=1 --show-output) \
        </dev/null >"$out/tests/$name.retry.log" 2>&1 || rc=$?
      echo "$rc" >"$out/tests/$name.retry.rc"
    fi
  fi
done <"$plan"

sync
date +%s >"$out/done"
sync
