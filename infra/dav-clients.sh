#!/usr/bin/env bash
# The real WebDAV clients that tests/dav_clients_test.ts drives, from Debian's packages,
# and nginx, the load balancer of tests/scale_out_test.ts.
#
#   infra/dav-clients.sh install   install litmus, cadaver, rclone, davfs2 and nginx unless
#                                  all are installed already (needs root or sudo, and apt)
#   infra/dav-clients.sh check     exit 0 when all are installed, else name the missing ones
#
# davfs2 asks (debconf) whether unprivileged users may mount; the answer is preseeded to
# "no" and the install runs non-interactively, so nothing waits for a terminal. The tests
# mount as root. nginx's package would start a daemon on port 80: a policy-rc.d (only when
# none exists) keeps the install from starting any service; the test runs its own nginx.
set -euo pipefail

packages=(litmus cadaver rclone davfs2 nginx)

missing() {
  local p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

install() {
  local need
  mapfile -t need < <(missing)
  if [ "${#need[@]}" -eq 0 ]; then
    echo "dav-clients: ${packages[*]} already installed" >&2
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "dav-clients: need root to install ${need[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  echo "dav-clients: installing ${need[*]}" >&2
  if command -v debconf-set-selections >/dev/null; then
    echo "davfs2 davfs2/suid_file boolean false" | "${sudo[@]}" debconf-set-selections
  fi
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    own_policy=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  local status=0
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${need[@]}" >/dev/null || status=$?
  if [ -n "$own_policy" ]; then "${sudo[@]}" rm -f "$policy"; fi
  [ "$status" -eq 0 ] || return "$status"
  mapfile -t need < <(missing)
  if [ "${#need[@]}" -ne 0 ]; then
    echo "dav-clients: still missing after apt-get install: ${need[*]}" >&2
    return 1
  fi
}

case ${1:-} in
  install) install ;;
  check)
    mapfile -t need < <(missing)
    [ "${#need[@]}" -eq 0 ] || { echo "dav-clients: missing ${need[*]}" >&2; exit 1; }
    ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
