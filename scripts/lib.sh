# shellcheck shell=bash
# What the project's scripts share: running as root, and installing
# Debian packages only when missing, with `apt-get update` at most once.
# Sourced; the sourcing script defines log() first. APT_NO_RECOMMENDS=1
# installs without the packages' recommendations.

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; exit 1
  fi
}

apt_updated=0
apt_update_once() {
  [ "$apt_updated" -eq 1 ] && return 0
  as_root apt-get update -qq
  apt_updated=1
}

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_update_once
  log "installing ${missing[*]}"
  local options=(-y -qq)
  [ "${APT_NO_RECOMMENDS:-0}" = 1 ] && options+=(--no-install-recommends)
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install "${options[@]}" "${missing[@]}" >/dev/null
}
