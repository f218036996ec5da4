#!/usr/bin/env bash
# Installs, idempotently, what building and testing tcpscope needs on a
# Debian/Ubuntu machine that has rustup: a pinned nightly with rust-src
# (the eBPF probes build core for bpfel-unknown-none), LLVM 22 and a bpf-linker
# built against it, and the tools the root integration tests drive (iproute2,
# iptables, tmux, bpftool, Prometheus and promtool), and the musl target for the
# static binary. Each step checks first and does nothing when already done.
set -euo pipefail

LLVM_MAJOR=22
BPF_LINKER_VERSION=0.13.0

log() { printf 'setup: %s\n' "$*" >&2; }

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

command -v rustup >/dev/null || { log "rustup is required: https://rustup.rs"; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"

apt_install "llvm-${LLVM_MAJOR}-dev" libzstd-dev zlib1g-dev \
  iproute2 iptables tmux procps bpftool

# The probes build with this exact nightly: its LLVM major must match
# bpf-linker's (build.rs reads the same file).
BPF_TOOLCHAIN=$(tr -d '[:space:]' <"$(dirname "$0")/../probes/bpf-toolchain")
if ! rustup component list --toolchain "$BPF_TOOLCHAIN" --installed 2>/dev/null | grep -q '^rust-src'; then
  log "installing the $BPF_TOOLCHAIN toolchain with rust-src"
  rustup toolchain install "$BPF_TOOLCHAIN" --profile minimal --component rust-src
fi
# Clippy for the probes' own code, which only exists for the BPF target.
if ! rustup component list --toolchain "$BPF_TOOLCHAIN" --installed 2>/dev/null | grep -q '^clippy'; then
  log "adding clippy to $BPF_TOOLCHAIN (lints the probes)"
  rustup component add --toolchain "$BPF_TOOLCHAIN" clippy
fi
llvm_of_toolchain=$(rustup run "$BPF_TOOLCHAIN" rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
if [ "$llvm_of_toolchain" != "$LLVM_MAJOR" ]; then
  log "$BPF_TOOLCHAIN uses LLVM $llvm_of_toolchain, but bpf-linker is built for LLVM $LLVM_MAJOR"
  exit 1
fi

# The binary engineers copy to a box is linked statically against musl.
if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  log "adding the x86_64-unknown-linux-musl target (the static binary)"
  rustup target add x86_64-unknown-linux-musl
fi

if ! bpf-linker --version 2>/dev/null | grep -q "$BPF_LINKER_VERSION"; then
  log "building bpf-linker $BPF_LINKER_VERSION against LLVM $LLVM_MAJOR (about a minute)"
  LLVM_PREFIX="/usr/lib/llvm-${LLVM_MAJOR}" cargo install bpf-linker --locked \
    --version "$BPF_LINKER_VERSION" --no-default-features --features "llvm-${LLVM_MAJOR}"
fi

# Prometheus and promtool for the metrics tests: unpacked from Debian's
# package, not installed, so that no prometheus service starts on this
# machine (a test starts its own, on loopback, and stops it). Under
# target/, which the kernel matrix's guests see as the host does.
PROMETHEUS_DIR="$(cd "$(dirname "$0")/.." && pwd)/target/tools/prometheus"
if [ ! -x "$PROMETHEUS_DIR/usr/bin/prometheus" ] || [ ! -x "$PROMETHEUS_DIR/usr/bin/promtool" ]; then
  log "unpacking Debian's prometheus package into $PROMETHEUS_DIR (the metrics tests)"
  apt_update_once
  download=$(mktemp -d)
  (cd "$download" && apt-get -o APT::Sandbox::User=root download -qq prometheus)
  mkdir -p "$PROMETHEUS_DIR"
  dpkg-deb -x "$download"/prometheus_*.deb "$PROMETHEUS_DIR"
  rm -rf "$download"
fi

log "ready"
