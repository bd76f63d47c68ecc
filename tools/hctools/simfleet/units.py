"""A node's other compute units (`simfleet up --units nxagent,rpi`): an nxagent and a Raspberry Pi, each
its own sshd "computer" on the node's LAN (10.31.81.3 / 10.31.81.4 in the node's LAN namespace), reachable
only from that node's nxcore. They share the node's power: a power cut stops them, a boot starts them.
Where a unit runs and listens is the isolation mode's (Fleet.iso; docs/simfleet.md, "Compute units")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import procs, topology
from .hostutil import SSHD, FleetError, keygen, write

if TYPE_CHECKING:  # pragma: no cover
    from .fleet import Fleet

UNIT_INIT = str(Path(__file__).with_name("unit_init.sh"))


def check(names: list[str], isolation: str) -> list[str]:
    """The --units list checked, in the fixed order."""
    unknown = [u for u in names if u not in topology.UNIT_ADDRS]
    if unknown:
        raise FleetError(f"unknown unit(s) {', '.join(unknown)} in --units; use a comma list of "
                         f"{', '.join(topology.UNIT_ADDRS)}, or none")
    return [u for u in topology.UNIT_ADDRS if u in names]


def unit_dir(fleet: Fleet, n: dict, unit: str) -> Path:
    return fleet.node_dir(n) / "units" / unit


def prepare(fleet: Fleet, n: dict, unit: str) -> None:
    """The unit's disk: host key, sshd_config, the operator's key, its persistent folders."""
    ud = unit_dir(fleet, n, unit)
    for sub, mode in (("etc-ssh", 0o755), ("root", 0o700), ("root/.ssh", 0o700), ("honeycomb", 0o700),
                      ("var-log", 0o755), ("media-plugin-data", 0o755), ("media-root-ro", 0o755),
                      ("media-root-rw", 0o755)):
        (ud / sub).mkdir(mode=mode, parents=True, exist_ok=True)
    if not (ud / "etc-ssh" / "ssh_host_ed25519_key").exists():
        keygen(ud / "etc-ssh" / "ssh_host_ed25519_key", f"root@{topology.UNIT_HOSTNAMES[unit]}")
    write(ud / "etc-ssh" / "sshd_config", fleet.iso.unit_sshd_config(fleet, n, unit))
    key = fleet.operator_key.with_suffix(".pub").read_text()
    write(ud / "authorized_keys", key, 0o600)
    write(ud / "root" / ".ssh" / "authorized_keys", key, 0o600)


def boot(fleet: Fleet, n: dict) -> None:
    """Start the node's units that are not running (they share the node's power)."""
    records = n.setdefault("units", {})
    for unit in fleet.state.get("units", []):
        if procs.alive(records.get(unit)):
            continue
        prepare(fleet, n, unit)
        ud = unit_dir(fleet, n, unit)
        env = fleet.env(SIMFLEET_UNIT_DIR=str(ud), SIMFLEET_UNIT=unit, SIMFLEET_SSHD=SSHD,
                        SIMFLEET_SIM_DIR=str(fleet.dir / "sim"))
        records[unit] = fleet.iso.boot_unit(fleet, n, unit, ["/bin/sh", UNIT_INIT], env, str(ud / "console.log"))


def power_cut(n: dict) -> None:
    """Kill the node's units at once (SIGKILL to their inits: in namespaces mode their pid namespaces die
    with them; in ports mode the node's power cut has already stopped every process with its marker)."""
    records = n.get("units") or {}
    alive = [p for p in records.values() if procs.alive(p)]
    for p in alive:
        procs.kill(p, group=True)
    procs.wait_gone(alive)
    for unit in records:
        records[unit] = None


def processes(n: dict) -> list[dict]:
    return [p for p in (n.get("units") or {}).values() if p]
