#!/usr/bin/env bash
# The one system-dependency step of waggle.honeycomb: `make demo`, `make test` and `.ci/run` call it.
# Installs the Debian/Ubuntu packages the simulated fleet and the tests need when run as root;
# without root it names exactly what to install and fails. Fast (one dpkg-query) when all are there.
#
#   tools/system-deps.sh            install what is missing (root), or print the command (non-root)
#   tools/system-deps.sh --check    only report; exit 1 when something is missing
#   tools/system-deps.sh --list     print the package list, one a line
set -euo pipefail

# Each package and why (keep in step with docs/development.md "System packages").
PACKAGES=(
  openssh-server     # real sshd for every simulated node and the bastion (tests, demo)
  openssh-client     # ssh, ssh-keygen (payload signing), the reverse tunnels
  socat              # the bastion's ProxyCommand hop to a node's tunnel socket
  netcat-openbsd     # the alternative ProxyCommand client (nc -U) the inventory plugin supports
  iproute2           # network namespaces for simulated nodes and devices
  tftp-hpa           # a TFTP client nobody here wrote, against the node-side TFTP server of edgeswitch_config
  shellcheck         # ansible-test sanity (shellcheck test) and payload script checks
  psmisc             # fuser/killall-free process inspection in tests
  procps             # ps/pgrep for process checks in tests
  passwd             # useradd/userdel: the unprivileged simulated-fleet test
  util-linux         # unshare, setpriv, nsenter: namespaces and dropping root in the unprivileged test
  tar                # the payload tests list built archives with GNU tar
  tzdata             # IANA time zones for maintenance windows (zoneinfo on the controller)
  git make rsync     # the build, ansible-test's copy of the collection
  python3            # the simulated nodes' own interpreter (/usr/bin/python3)
  python3-requests   # node-side libraries the modules import (node_prereqs installs them on nodes)
  python3-pexpect
  python3-pyftpdlib
  chromium           # headless screenshot of the HTML fleet report (test_rollout)
)

list() { printf '%s\n' "${PACKAGES[@]}"; }

missing() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || echo "$pkg"
  done
}

case "${1:-}" in
  --list) list; exit 0 ;;
  --check|"") ;;
  *) echo "usage: $0 [--check|--list]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "system-deps: this is not a Debian/Ubuntu system (no dpkg-query). Install the equivalents of:" >&2
  list | sed 's/^/  /' >&2
  exit 1
fi

mapfile -t MISSING < <(missing)
[ "${#MISSING[@]}" -eq 0 ] && exit 0

if [ "${1:-}" = --check ]; then
  echo "system-deps: missing packages: ${MISSING[*]}" >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: these system packages are missing: ${MISSING[*]}" >&2
  echo "system-deps: install them as root, then run make again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${MISSING[*]}" >&2
  exit 1
fi

echo "system-deps: installing ${MISSING[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
mapfile -t STILL < <(missing)
if [ "${#STILL[@]}" -ne 0 ]; then
  echo "system-deps: still missing after apt-get install: ${STILL[*]}" >&2
  exit 1
fi
