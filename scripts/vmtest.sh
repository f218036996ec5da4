#!/usr/bin/env bash
# The kernel matrix: runs tcpscope's static (musl) binary and its root
# integration tests on other kernels than this machine's, each booted in a
# virtme-ng guest over the host's own root filesystem (TCG: no KVM here).
#
#   scripts/vmtest.sh [KERNEL...]      KERNEL: 6.1, 6.12 or host (default: all three)
#
#   6.1   Debian bookworm's newest linux-image-6.1.0-N-amd64
#   6.12  the newest linux-image-6.12.N+deb12-amd64 that apt-cache finds
#   host  the same steps natively on this machine's kernel, no VM
#
# What it does, each step only when not already done (a second run installs
# and downloads nothing):
#  1. installs qemu-system-x86 (--no-install-recommends), kmod and
#     busybox-static from apt (apt-get update at most once, only when
#     something is missing), and virtme-ng (`vng`, pinned) from PyPI into a
#     venv in the cache directory;
#  2. downloads the kernel packages with `apt-get download` into the cache
#     directory, unpacks them with dpkg-deb, puts the image in /boot and the
#     modules in /lib/modules/<version> and runs depmod, so that the guest
#     can load veth and the nf_tables modules iptables needs;
#  3. runs scripts/setup.sh, builds the static binary
#     (target/x86_64-unknown-linux-musl/release/tcpscope, checked to be
#     static) and, with `cargo test --release --no-run`, the root test
#     binaries (live_* and screen_live), which find the binary under test
#     through TCPSCOPE_BIN;
#  4. boots each kernel (one guest at a time, under a timeout) and runs
#     scripts/vm-guest.sh in it: one short `tcpscope --json` run for the
#     probes' attach results, then the tests; results land in
#     target/vmtest/<kernel>/;
#  5. prints one row per kernel (uname -r, probes attached, tests
#     passed/failed/skipped, wall time) and the tail of each failing test's
#     output. Exits non-zero when a test failed or a kernel did not boot.
#
# Environment:
#   TCPSCOPE_BIN          the binary under test (default: build the musl one)
#   VMTEST_TESTS          full (default: every test of the live_* and screen_live
#                         binaries) or subset (one test per probe and page)
#   VMTEST_CACHE          download cache (default /var/cache/tcpscope-vmtest)
#   VMTEST_MEMORY         guest memory (default 3G)
#   VMTEST_GUEST_TIMEOUT  seconds one guest may run, boot included (default 900)
#   VMTEST_BINARY_TIMEOUT seconds one test binary may run (default 300)
#   VMTEST_RETRY          1 (default): a failed test runs once more, alone; one
#                         that passes then counts as passed and is listed as
#                         flaky (TCG's timing). 0: no second try.
#   VMTEST_TEST_THREADS   libtest's --test-threads (default: its own, one per CPU)
#   VMTEST_SETUP=0        do not run scripts/setup.sh first
set -euo pipefail

script_start=$(date +%s)
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH"

VNG_VERSION=1.42
cache=${VMTEST_CACHE:-/var/cache/tcpscope-vmtest}
memory=${VMTEST_MEMORY:-3G}
guest_timeout=${VMTEST_GUEST_TIMEOUT:-900}
binary_timeout=${VMTEST_BINARY_TIMEOUT:-300}
tests_mode=${VMTEST_TESTS:-full}
retry=${VMTEST_RETRY:-1}
threads=${VMTEST_TEST_THREADS:+--test-threads=$VMTEST_TEST_THREADS}
target_dir=${CARGO_TARGET_DIR:-$repo/target}
results=$target_dir/vmtest

# VMTEST_TESTS=subset: one test per probe and page, 18 of the 33 root tests.
# Under TCG it saves less than it drops (measured on 6.12: 4.4 min against
# 6.4 for the full suite, most of it per-binary start-up and black-hole
# timeouts), so the full suite is the default. A binary not listed here runs
# none of its tests; "*" runs all of them.
declare -A SUBSET=(
  [live_pipeline]="syn_black_hole_retransmits_then_times_out connect_to_closed_port_is_refused reset_by_peer_ends_flow_as_reset aborting_close_shows_reset_sent normal_close_ends_flow_as_closed"
  [live_giveup]="established_black_hole_with_retries2_3_gives_up_inside_window syn_black_hole_with_three_retries_gives_up_inside_window"
  [live_drops]="an_iptables_drop_of_syns_shows_netfilter_drop_with_the_exact_4_tuple a_syn_to_a_closed_port_shows_no_socket_and_a_reset"
  [live_listeners]="*"
  [live_counters]="*"
  [live_destinations]="*"
  [live_stalls]="a_receiver_that_stops_reading_stalls_the_sender_on_a_zero_window"
  [live_survey]="accepted_flows_open_before_start_show_the_servers_pid_and_comm"
  [live_hooks]="*"
  [live_capabilities]="*"
  [screen_live]="*"
)

log() { printf 'vmtest: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# What runs a guest (or the host's tests): `timeout` in its own process
# group, all of which goes when the script is interrupted.
guard=
artifacts=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
  [ -z "$guard" ] || kill -TERM -- "-$guard" 2>/dev/null || true
  [ -z "$artifacts" ] || rm -f "$artifacts"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
guarded() {
  timeout -k 30 "$guest_timeout" "$@" &
  guard=$!
  local rc=0
  wait "$guard" || rc=$?
  guard=
  return "$rc"
}

APT_NO_RECOMMENDS=1
# shellcheck source=scripts/lib.sh
. "$repo/scripts/lib.sh"

# ---- arguments ---------------------------------------------------------------
[ $# -gt 0 ] || set -- 6.1 6.12 host
for kernel in "$@"; do
  case $kernel in
    6.1 | 6.12 | host) ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown kernel '$kernel' (one of: 6.1 6.12 host)" ;;
  esac
done
case $tests_mode in subset | full) ;; *) die "VMTEST_TESTS must be subset or full" ;; esac
case $retry in 0 | 1) ;; *) die "VMTEST_RETRY must be 0 or 1" ;; esac
[ "$(id -u)" -eq 0 ] || die "the root tests load eBPF and create namespaces: run as root"
wants_vm=0
for kernel in "$@"; do [ "$kernel" = host ] || wants_vm=1; done

# One run at a time on a machine: two TCG guests on two cores time out each
# other's tests, and the runs share target/vmtest.
mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
  log "another vmtest run holds $cache/.lock: waiting for it"
  flock 9
fi

# ---- 1. tools -----------------------------------------------------------------
vng=$cache/venv/bin/vng
if [ "$wants_vm" -eq 1 ]; then
  mkdir -p "$cache/debs"
  apt_install qemu-system-x86 kmod busybox-static
  if ! "$vng" --version 2>/dev/null | grep -qx "virtme-ng $VNG_VERSION"; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
      apt_install python3 python3-venv
    fi
    [ -x "$cache/venv/bin/pip" ] || python3 -m venv "$cache/venv"
    log "installing virtme-ng $VNG_VERSION from PyPI into $cache/venv"
    "$cache/venv/bin/pip" install -q "virtme-ng==$VNG_VERSION"
  fi
fi

# ---- 2. kernels ---------------------------------------------------------------
# The newest package of a series that apt-cache can download (sort -V on
# the names, which carry the ABI or upstream version).
newest_kernel_package() {
  local regex=$1 pkg
  for pkg in $(apt-cache pkgnames linux-image-6 2>/dev/null | grep -E "$regex" | sort -rV); do
    if apt-cache show --no-all-versions "$pkg" 2>/dev/null | grep -q '^Version:'; then
      echo "$pkg"
      return 0
    fi
  done
  return 1
}

# Readies the newest kernel of series $1 to boot and sets RELEASE[$1] to its
# release (uname -r): image in /boot, modules in /lib/modules/<release> with
# depmod's index.
prepare_kernel() {
  local series=$1 regex pkg version deb release stamp unpack
  case $series in
    6.1) regex='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
    6.12) regex='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
  esac
  if ! pkg=$(newest_kernel_package "$regex"); then
    [ "$apt_updated" -eq 0 ] || die "apt-cache finds no package matching $regex"
    log "apt-cache finds no $series kernel package: updating the package lists"
    apt_update_once
    pkg=$(newest_kernel_package "$regex") || die "apt-cache finds no package matching $regex"
  fi
  version=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -1)
  release=${pkg#linux-image-}
  deb=$cache/debs/${pkg}_${version//:/%3a}_amd64.deb
  if [ ! -s "$deb" ]; then
    log "downloading $pkg $version into $cache/debs"
    if ! (cd "$cache/debs" && as_root apt-get download -qq "$pkg=$version" 2>&1) |
      { grep -v 'Download is performed unsandboxed' >&2 || true; }; then
      die "apt-get download $pkg=$version failed"
    fi
    [ -s "$deb" ] || die "apt-get download $pkg=$version gave no $deb"
  fi
  stamp=/lib/modules/$release/.tcpscope-vmtest
  if [ ! -f "/boot/vmlinuz-$release" ] || [ ! -s "/lib/modules/$release/modules.dep" ] ||
    [ "$(cat "$stamp" 2>/dev/null)" != "$(basename "$deb")" ]; then
    log "installing $release: /boot/vmlinuz-$release, /lib/modules/$release (depmod)"
    unpack=$(mktemp -d "$cache/unpack.XXXXXX")
    dpkg-deb -x "$deb" "$unpack"
    local mods=$unpack/lib/modules/$release
    [ -d "$mods" ] || mods=$unpack/usr/lib/modules/$release
    if [ ! -f "$unpack/boot/vmlinuz-$release" ] || [ ! -d "$mods" ]; then
      die "$deb has no boot/vmlinuz-$release or modules/$release"
    fi
    as_root mkdir -p /boot /lib/modules
    as_root cp "$unpack/boot/vmlinuz-$release" /boot/
    for extra in config System.map; do
      [ -f "$unpack/boot/$extra-$release" ] && as_root cp "$unpack/boot/$extra-$release" /boot/
    done
    as_root rm -rf "/lib/modules/$release"
    as_root cp -a "$mods" "/lib/modules/$release"
    as_root depmod -a "$release"
    basename "$deb" | as_root tee "$stamp" >/dev/null
    rm -rf "$unpack"
  fi
  # What an earlier run put there for an older kernel of the series goes
  # (only trees with this script's stamp: never a kernel dpkg installed).
  local old name
  for old in /lib/modules/*/.tcpscope-vmtest; do
    [ -f "$old" ] || continue
    name=$(basename "$(dirname "$old")")
    if [ "$name" = "$release" ] || ! [[ linux-image-$name =~ $regex ]]; then continue; fi
    log "removing $name, superseded by $release"
    as_root rm -rf "/lib/modules/$name" "/boot/vmlinuz-$name" "/boot/config-$name" "/boot/System.map-$name"
  done
  for old in "$cache"/debs/linux-image-*.deb; do
    [ -f "$old" ] || continue
    name=$(basename "$old")
    if [ "$old" = "$deb" ] || ! [[ ${name%%_*} =~ $regex ]]; then continue; fi
    as_root rm -f "$old"
  done
  RELEASE[$series]=$release
}

declare -A RELEASE=()
for kernel in "$@"; do
  [ "$kernel" = host ] || prepare_kernel "$kernel"
done

# ---- 3. binaries ---------------------------------------------------------------
if [ "${VMTEST_SETUP:-1}" != 0 ]; then
  "$repo/scripts/setup.sh"
fi
if [ -n "${TCPSCOPE_BIN:-}" ]; then
  bin=$(realpath "$TCPSCOPE_BIN")
  [ -x "$bin" ] || die "TCPSCOPE_BIN=$TCPSCOPE_BIN is not an executable"
  log "binary under test (TCPSCOPE_BIN): $bin"
else
  log "building the static binary (cargo build --release --target x86_64-unknown-linux-musl)"
  cargo build --release --quiet --target x86_64-unknown-linux-musl --bin tcpscope
  bin=$target_dir/x86_64-unknown-linux-musl/release/tcpscope
fi
linkage=$(file -bL "$bin")
if ldd "$bin" 2>&1 | grep -Eq 'statically linked|not a dynamic executable'; then
  log "binary under test is static: $bin (file: $(grep -Eo 'static(-pie|ally) linked' <<<"$linkage" || echo "$linkage"); ldd: $(ldd "$bin" 2>&1 | head -1 | sed 's/^[[:space:]]*//'))"
else
  log "WARNING: $bin is dynamically linked (the guests share this machine's libraries, so it still runs): $linkage"
fi
# The guest's /tmp is its own: a checkout or target directory under /tmp
# (a CI clone, say) is handed to it explicitly. The binary under test is
# copied into the target directory below.
shared=()
for dir in "$repo" "$target_dir"; do
  case $dir/ in
    "$repo"/?*) [ "$dir" = "$repo" ] || continue ;;
  esac
  case $dir/ in /tmp/*) shared+=("--rwdir=$dir") ;; esac
done

log "building the root test binaries (cargo test --release --no-run)"
artifacts=$(mktemp)
if ! cargo test --release --quiet --no-run --message-format=json >"$artifacts"; then
  # The compiler's messages are in the JSON: show the errors.
  python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-message" and m["message"]["level"] == "error":
        sys.stderr.write(m["message"].get("rendered") or m["message"]["message"])
' <"$artifacts"
  die "cargo test --release --no-run failed"
fi
# name, working directory (the package's), executable of each test target
mapfile -t test_bins < <(python3 -c '
import json, os, re, sys
seen = {}
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    t = m["target"]
    if "test" in t["kind"] and re.match(r"live_|screen_live$", t["name"]):
        seen[t["name"]] = (os.path.dirname(m["manifest_path"]), m["executable"])
for name in sorted(seen):
    print("\t".join((name,) + seen[name]))
' <"$artifacts")
[ ${#test_bins[@]} -gt 0 ] || die "cargo built no live_* or screen_live test binary"

# The guests run copies, so that a rebuild while they run changes nothing.
rm -rf "${results:?}/bin" "$results/plan.tsv"
mkdir -p "$results/bin"
cp "$bin" "$results/bin/tcpscope"
bin=$results/bin/tcpscope

# The plan the guest runs: one line per binary (see vm-guest.sh).
plan=$results/plan.tsv
: >"$plan"
for entry in "${test_bins[@]}"; do
  IFS=$'\t' read -r name dir exe <<<"$entry"
  cp "$exe" "$results/bin/$name"
  exe=$results/bin/$name
  listed=$("$exe" --list --format terse 2>/dev/null | sed -n 's/: test$//p')
  if [ "$tests_mode" = full ]; then
    selected="*"
  else
    selected=${SUBSET[$name]:-}
  fi
  [ -n "$selected" ] || { log "not running $name (not in the subset)"; continue; }
  if [ "$selected" = "*" ]; then
    names=${listed//$'\n'/ }
  else
    for t in $selected; do
      grep -qx "$t" <<<"$listed" || die "$name has no test named $t (renamed? update SUBSET in $0)"
    done
    names=$selected
  fi
  [ -n "$names" ] || continue
  printf '%s\t%s\t%s\t%s--exact %s\n' "$name" "$dir" "$exe" "${threads:+$threads }" "$names" >>"$plan"
done
log "plan ($tests_mode): $(awk -F'\t' '{k = split($4, a, " "); for (i = 1; i <= k; i++) n += a[i] !~ /^-/} END {print n + 0}' "$plan") tests in $(wc -l <"$plan") binaries"

# ---- 4. runs ----------------------------------------------------------------------
run_kernel() {
  local kernel=$1 out=$results/$1 start rc=0
  rm -rf "$out"
  mkdir -p "$out"
  start=$(date +%s)
  if [ "$kernel" = host ]; then
    log "host: running natively on $(uname -r)"
    guarded bash "$repo/scripts/vm-guest.sh" \
      "$out" "$bin" "$plan" "$binary_timeout" "$retry" >"$out/console.log" 2>&1 || rc=$?
  else
    local release=${RELEASE[$kernel]}
    log "$kernel: booting $release (vng --disable-kvm, 2 CPUs, $memory; timeout ${guest_timeout}s)"
    # vng -v: the guest's console (kernel messages, the command's output)
    # goes to console.log, which explains a guest that did not finish. vng
    # does not pass the command's exit code on (it falls back to the console
    # for the script): the guest writes its results and `done` into $out.
    PATH=$cache/venv/bin:$PATH guarded "$vng" --run "/boot/vmlinuz-$release" \
      --disable-kvm --cpus 2 --memory "$memory" --rw "${shared[@]}" --verbose \
      --exec "bash $repo/scripts/vm-guest.sh $out $bin $plan $binary_timeout $retry" \
      </dev/null >"$out/console.log" 2>&1 || rc=$?
  fi
  echo "$rc" >"$out/run.rc"
  echo $(($(date +%s) - start)) >"$out/wall"
  if [ ! -f "$out/done" ]; then
    log "$kernel: the guest did not finish (exit $rc$([ "$rc" -eq 124 ] && echo ": timed out")); console tail:"
    tail -n 40 "$out/console.log" >&2 || true
  fi
}

netns_before=$(ip netns list 2>/dev/null | awk '{print $1}' || true)
for kernel in "$@"; do
  run_kernel "$kernel"
done
# Namespaces left on the host (only the host row can leave any): new since
# the start, and not of a test process still running (tcpscope-t<pid>-...,
# e.g. someone else's cargo test at the same time).
leftover=()
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' || true); do
  grep -qx "$ns" <<<"$netns_before" && continue
  if [[ $ns =~ ^tcpscope-t([0-9]+)- ]] && [ -d "/proc/${BASH_REMATCH[1]}" ]; then continue; fi
  leftover+=("$ns")
done
[ ${#leftover[@]} -eq 0 ] || log "WARNING: network namespaces left on the host: ${leftover[*]}"

# ---- 5. report --------------------------------------------------------------------
status=0
python3 - "$results" "$(($(date +%s) - script_start))" "$@" <<'PY' || status=$?
import json, os, re, sys

results, total, kernels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
RESULT = re.compile(r"test (\S+) \.\.\. (ok|FAILED|ignored)\b")
SECTION = re.compile(r"^---- (\S+) stdout ----$")

def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default

def parse_log(text):
    """libtest's pretty output with --show-output: each test's result and
    its captured output (stdout and stderr of the test's own threads)."""
    status, output, current = {}, {}, None
    for line in text.splitlines():
        m = SECTION.match(line)
        if m:
            current = m.group(1)
            output[current] = []
            continue
        if line in ("successes:", "failures:") or line.startswith("test result:"):
            current = None
        for m in RESULT.finditer(line):
            status[m.group(1)] = m.group(2)
        if current is not None:
            output[current].append(line)
    return status, output

rows, failures, bad = [], [], False
for kernel in kernels:
    out = os.path.join(results, kernel)
    row = {"kernel": kernel, "uname": read(f"{out}/uname").strip() or "-",
           "wall": int(read(f"{out}/wall", "0").strip() or 0)}
    booted = os.path.exists(f"{out}/done")
    stats = None
    for line in read(f"{out}/probe.stdout").splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict) and v.get("kind") == "stats":
            stats = v
            break
    if stats:
        failed_probes = [p["probe"] for p in stats.get("probes_failed", [])]
        n = stats.get("probes_attached", 0)
        row["probes"] = f"{n}/{n + len(failed_probes)}"
        row["probe_failures"] = ", ".join(failed_probes) or "-"
    else:
        row["probes"] = "?"
        row["probe_failures"] = f"no stats line (exit {read(f'{out}/probe.rc').strip() or '?'})"
    stderr = read(f"{out}/probe.stderr")
    row["stderr_lines"] = len(stderr.splitlines())
    row["stderr_head"] = stderr.splitlines()[:3]
    passed = failed = skipped = not_run = 0
    flaky = []
    plan = [l.split("\t") for l in read(f"{results}/plan.tsv").splitlines() if l]
    for name, _dir, _exe, args in plan:
        expected = [a for a in args.split() if not a.startswith("-")]
        if not os.path.exists(f"{out}/tests/{name}.log"):
            not_run += len(expected)
            continue
        logtext = read(f"{out}/tests/{name}.log")
        rc = read(f"{out}/tests/{name}.rc").strip()
        status, output = parse_log(logtext)
        retry_text = read(f"{out}/tests/{name}.retry.log")
        retry_status, retry_output = parse_log(retry_text)
        for test in expected:
            s = status.get(test)
            lines = output.get(test, [])
            if s == "ok":
                if any(l.startswith("skipped:") for l in lines):
                    skipped += 1
                else:
                    passed += 1
            elif s == "ignored":
                skipped += 1
            elif s == "FAILED" and retry_status.get(test) == "ok":
                passed += 1
                flaky.append(test)
                failures.append((kernel, f"{name}::{test}", "failed, then passed alone (flaky)",
                                 lines[-25:]))
            else:
                failed += 1
                why = "failed" if s == "FAILED" else (
                    f"gave no result (the binary exited with {rc or '?'}"
                    f"{': timed out' if rc == '124' else ''})")
                tail = lines[-40:] if lines else logtext.splitlines()[-40:]
                if test in retry_status:
                    why += ", and again alone"
                    tail = lines[-15:] + ["--- alone:"] + retry_output.get(test, [])[-30:]
                failures.append((kernel, f"{name}::{test}", why, tail))
    notes = []
    if not booted:
        notes.append("the guest did not finish (console.log)")
    if not_run:
        notes.append(f"{not_run} tests not run")
    if flaky:
        notes.append("flaky: " + ", ".join(flaky))
    row.update(passed=passed, failed=failed, skipped=skipped, booted=booted,
               notes="; ".join(notes))
    if failed or not booted or not_run:
        bad = True
    rows.append(row)

for kernel, test, why, tail in failures:
    print(f"\n=== {kernel}: {test} {why}; output tail:")
    print("\n".join("    " + l for l in tail) or "    (no output)")

print("\nprobe start-up (tcpscope --json --duration 3s), stderr:")
for r in rows:
    print(f"  {r['kernel']}: {r['stderr_lines']} lines" +
          "".join(f"\n      {l[:160]}" for l in r["stderr_head"]))

head = ("kernel", "uname -r", "probes", "failed probes", "passed", "failed", "skipped", "wall", "notes")
table = [head] + [(r["kernel"], r["uname"], r["probes"], r["probe_failures"], str(r["passed"]),
                   str(r["failed"]), str(r["skipped"]), f"{r['wall'] // 60}m{r['wall'] % 60:02d}s",
                   r["notes"]) for r in rows]
widths = [max(len(row[i]) for row in table) for i in range(len(head))]
print()
for i, row in enumerate(table):
    print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
print(f"\nvmtest: total {total // 60}m{total % 60:02d}s; results in {results}/<kernel>/")
p = sum(r["passed"] for r in rows); f = sum(r["failed"] for r in rows); s = sum(r["skipped"] for r in rows)
print(f"vmtest: {p} passed, {f} failed, {s} skipped")
sys.exit(1 if bad else 0)
PY
exit "$status"
