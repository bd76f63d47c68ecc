"""Boot slots of a simulated node (docs/simfleet.md, "Boot slots"): an `nvbootctrl` stand-in and the switch
to the recovery slot.

A Wild Sage nxcore boots from slot 0 (eMMC, "Normal") or slot 1 (the SD card "Recovery" copy); the network
watchdog's last stage runs `nvbootctrl set-active-boot-slot 1` and reboots (docs/devices/node.md). On slot 1
the root has a tmpfs overlay, so `/var/lib/honeycomb` (the upgrade engine's state dir) is empty at every
boot there.

Here the slot the next boot uses is the node's persistent file `DIR/nodes/<VSN>/bootctrl/active-slot`
(what the bootloader keeps; missing = slot 0). At every boot node_init.sh copies it to
`/run/simfleet/boot-slot`, the slot this boot runs from, and on the recovery slot mounts a fresh tmpfs on
`/var/lib/honeycomb` instead of the node's state dir (in the node's mount namespace: it goes with the
node's power and with `simfleet down`, and the slot-0 state dir on the node's disk is left as it was).
The stand-in `nvbootctrl` (DIR/sim/bin, first in the node's PATH) answers `get-current-slot` from the
boot's file and `set-active-boot-slot N` by writing the persistent one.

Namespaces mode only: a ports-mode node has no mounts of its own to hide its state dir with.
Base layer: data and node-disk helpers; the operations on a running node take the Fleet they are handed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import procs
from .hostutil import FleetError

if TYPE_CHECKING:  # pragma: no cover
    from .fleet import Fleet

NORMAL_SLOT = 0
RECOVERY_SLOT = 1
"""Slot 1 is the SD card "Recovery" copy on Wild Sage nodes (docs/devices/node.md)."""
SLOTS = (NORMAL_SLOT, RECOVERY_SLOT)
BOOTCTRL_DIR = "bootctrl"
"""Per-node folder (under DIR/nodes/<VSN>/) with `active-slot`; bound on /run/simfleet/bootctrl in the node."""
ACTIVE_FILE = "active-slot"
CURRENT_FILE_IN_NODE = "/run/simfleet/boot-slot"
FAULT = "recovery"
"""`simfleet fault NODE recovery`: switch to the recovery slot (reboots a running node); --off: back to slot 0."""

# The stand-in for NVIDIA's nvbootctrl (L4T R32), first in every node's PATH (/usr/local/bin). Output shapes
# as on a Wild Sage node: get-current-slot prints the digit; dump-slots-info a magic line and one line per slot.
NVBOOTCTRL = r"""#!/bin/sh
# simfleet: stands in for nvbootctrl on a simulated Wild Sage node (docs/simfleet.md, "Boot slots").
# The current slot is the one this boot started from (/run/simfleet/boot-slot, written by node_init.sh);
# set-active-boot-slot writes the slot the next boot uses (/run/simfleet/bootctrl/active-slot, the node's disk).
run=${SIMFLEET_RUN:-/run}
current=$(cat "$run/simfleet/boot-slot" 2>/dev/null || echo 0)
active_file="$run/simfleet/bootctrl/active-slot"
active=$(cat "$active_file" 2>/dev/null || echo "$current")
case "${1:-}" in
    get-current-slot) echo "$current" ;;
    get-number-slots) echo 2 ;;
    set-active-boot-slot)
        case "${2:-}" in
            0|1) printf '%s\n' "$2" > "$active_file.tmp" && mv "$active_file.tmp" "$active_file" ;;
            *) echo "nvbootctrl: invalid slot ${2:-}" >&2; exit 1 ;;
        esac ;;
    mark-boot-successful) : ;;
    dump-slots-info)
        echo "magic:0x43424e00, version: 3 features: 3 num_slots: 2"
        for s in 0 1; do
            if [ "$s" = "$active" ]; then prio=15; else prio=14; fi
            if [ "$s" = 0 ]; then suffix=_a; else suffix=_b; fi
            echo "slot: $s,             priority: $prio,      suffix: $suffix,   retry_count: 7,   boot_successful: 1"
        done ;;
    *) echo "Usage: nvbootctrl [-t <bootloader|rootfs>] <command> (simfleet stand-in: get-current-slot," \
            "get-number-slots, set-active-boot-slot N, mark-boot-successful, dump-slots-info)" >&2; exit 1 ;;
esac
"""


def write_sim_files(sim: Path, write) -> None:
    """The fleet's shared stand-in (DIR/sim/bin/nvbootctrl)."""
    (sim / "bin").mkdir(parents=True, exist_ok=True)
    write(sim / "bin" / "nvbootctrl", NVBOOTCTRL, 0o755)


def active_slot_path(node_dir: Path) -> Path:
    return Path(node_dir) / BOOTCTRL_DIR / ACTIVE_FILE


def active_slot(node_dir: Path) -> int:
    """The slot the node's next boot uses (0 when never set)."""
    try:
        text = active_slot_path(node_dir).read_text().strip()
    except FileNotFoundError:
        return NORMAL_SLOT
    return int(text) if text in ("0", "1") else NORMAL_SLOT


def set_active_slot(node_dir: Path, slot: int) -> None:
    """What `nvbootctrl set-active-boot-slot SLOT` does: the next boot uses SLOT (written atomically)."""
    if slot not in SLOTS:
        raise ValueError(f"a Wild Sage node has boot slots 0 and 1, not {slot!r}")
    path = active_slot_path(node_dir)
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.simfleet")
    tmp.write_text(f"{slot}\n")
    tmp.replace(path)


def current_slot(fleet: Fleet, n: dict) -> int | None:
    """The slot a powered node booted from (what its nvbootctrl get-current-slot prints), None when off."""
    if not procs.alive(n.get("init")):
        return None
    try:
        text = (fleet.iso.node_root(fleet, n) / CURRENT_FILE_IN_NODE.lstrip("/")).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def set_boot_slot(fleet: Fleet, node: dict | str, slot: int, reboot: bool = True) -> dict:
    """Make `slot` the node's active boot slot and, when it is powered and `reboot`, reboot it onto that
    slot (a power cut and a boot, waiting for its tunnel when its link is up). Records the `recovery` fault
    in fleet.json while the active slot is the recovery one. The caller holds the fleet's lock when other
    simfleet commands may run at the same time (the CLI does). Returns the node record."""
    n = fleet.find(node) if isinstance(node, str) else node
    if fleet.isolation != "namespaces":
        raise FleetError(f"boot slots need namespaces mode: a {fleet.isolation}-mode node has no mounts of its own "
                           f"to give the recovery slot its empty /var/lib/honeycomb (as root, `simfleet up "
                           f"--isolation namespaces`)")
    set_active_slot(fleet.node_dir(n), slot)
    faults = n.setdefault("faults", {})
    if slot == RECOVERY_SLOT:
        faults[FAULT] = {}
    else:
        faults.pop(FAULT, None)
    fleet.save()
    if reboot and procs.alive(n.get("init")):
        fleet.power_cut(n["vsn"])
        fleet.power_on(n["vsn"], wait=procs.alive(n.get("relay")))
    return n


def switch_to_recovery(fleet: Fleet, node: dict | str) -> dict:
    """The network watchdog's last stage: `nvbootctrl set-active-boot-slot 1`, then a reboot. A powered node
    comes back on slot 1 with an empty tmpfs on /var/lib/honeycomb; a node that is off boots there at its
    next power-on. `node`: the node's record in fleet.state or its VSN / node ID. Returns the node record."""
    return set_boot_slot(fleet, node, RECOVERY_SLOT)


def select_recovery(fleet: Fleet, node: dict | str) -> dict:
    """The network watchdog stand-in's slot switch (watchdog.SLOT_SWITCH): only `nvbootctrl
    set-active-boot-slot 1`; the watchdog reboots the node itself, which then comes up on slot 1."""
    return set_boot_slot(fleet, node, RECOVERY_SLOT, reboot=False)


def switch_to_normal(fleet: Fleet, node: dict | str) -> dict:
    """Back to slot 0 (an operator's `nvbootctrl set-active-boot-slot 0` and a reboot): the node's own state
    dir is there again, as the recovery boot left it (untouched)."""
    return set_boot_slot(fleet, node, NORMAL_SLOT)
