#!/usr/bin/env bash
# make demo: an 8-node simulated Wild Sage fleet behind real reverse SSH tunnels, the example Honeycomb
# payload applied through the tunnels, and a per-node summary. The fleet stays up afterwards; running
# it again reuses the fleet and shows every node as already applied. See docs/simfleet.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
NODES=${DEMO_NODES:-8}
FLEET_DIR=${SIMFLEET_DIR:-/tmp/hc-simfleet}
PAYLOAD_SRC=examples/payloads/honeycomb-version
PLAYBOOK=playbooks/upgrade_one.yml

die() { echo "demo: $*" >&2; exit 1; }

{ [ -x "$BIN/simfleet" ] && [ -x "$BIN/ansible-playbook" ]; } || die "$BIN has no simfleet/ansible-playbook: run 'make venv' (make demo does)"
[ "$(id -u)" -eq 0 ] || die "the simulated fleet needs root (Linux network, mount and pid namespaces): run 'sudo make demo'"
[ -d "$PAYLOAD_SRC" ] || die "the example payload $PAYLOAD_SRC is missing from this checkout (it comes with the payload examples)"
[ -f "$PLAYBOOK" ] || die "$PLAYBOOK is missing from this checkout (it comes with the upgrade engine)"
[ -x "$BIN/honeycomb-build" ] || die "$BIN/honeycomb-build is missing: run 'make venv'"

export ANSIBLE_CONFIG=${ANSIBLE_CONFIG:-$ROOT/ansible.cfg}
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.build/collections}
export PATH=$BIN:$PATH

echo "== simulated fleet: $NODES nodes in $FLEET_DIR"
simfleet up --nodes "$NODES" --dir "$FLEET_DIR"
INVENTORY=$FLEET_DIR/inventory.yml
simfleet inventory --dir "$FLEET_DIR" > "$INVENTORY"

echo "== example payload"
mkdir -p "$FLEET_DIR/payloads"
PAYLOAD=$FLEET_DIR/payloads/honeycomb-version.tar.gz
honeycomb-build "$PAYLOAD_SRC" -o "$PAYLOAD"

echo "== ansible-playbook $PLAYBOOK through the tunnels"
SUMMARY=$FLEET_DIR/demo-summary.tsv
rm -f "$SUMMARY"
rc=0
ansible-playbook -i "$INVENTORY" tools/demo/summary.yml -e "payload=$PAYLOAD" -e "demo_summary=$SUMMARY" || rc=$?

echo
echo "== summary"
if [ -s "$SUMMARY" ]; then
    awk -F '\t' '{printf "%-6s %-18s %-16s %s\n", $1, $2, $3, $4}' "$SUMMARY"
else
    echo "(no summary: the playbook stopped before it; see its output above)"
fi
echo
echo "The fleet is still up. Look at it:  .venv/bin/simfleet status   |   ssh -F $FLEET_DIR/ssh_config W001"
echo "                                    ansible -i $INVENTORY nodes -m ansible.builtin.ping"
echo "Stop it:                            make demo-down"
exit "$rc"
