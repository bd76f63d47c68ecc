"""Fault switches of a simulated node: `simfleet fault NODE NAME [--off]` (docs/simfleet.md).

Each fault makes one input of the `waggle.honeycomb.sanity_check` checks wrong, the way the real
fault would. The active faults of a node are kept in fleet.json (`nodes[].faults`, name -> options).
Persistent faults survive a power cut (they live on the node's disk, in its LAN or in a device that
has its own supply, or node_init.sh re-creates them at boot); volatile ones are gone after a boot,
as on a real node, and are dropped from fleet.json when the node boots.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

from . import bootslot, nodefiles, procs
from .faultdefs import DEVICE_FAULTS, FAULTS, SEVERITIES, Fault, as_json, describe
from .fleet import Fleet
from .hostutil import FleetError, ip_batch, tcp_in_netns

__all__ = ["FAULTS", "as_json", "describe", "switch"]  # the table is faultdefs'; `simfleet fault --list` reads it


def _options(fleet_error, fault: Fault, line: str | None, severity: str | None) -> dict:
    given = {"line": line, "severity": severity}
    for opt, value in given.items():
        if value is not None and opt not in fault.options:
            raise fleet_error(f"--{opt} does not apply to the {fault.name} fault; only to "
                              f"{', '.join(f.name for f in FAULTS.values() if opt in f.options)}")
    opts = {}
    if "line" in fault.options:
        opts["line"] = line or "pg1"
        if opts["line"] not in nodefiles.PSU_LINES:
            raise fleet_error(f"--line must be one of {', '.join(nodefiles.PSU_LINES)}, got {opts['line']!r}")
    if "severity" in fault.options:
        opts["severity"] = severity or "warning"
        if opts["severity"] not in SEVERITIES:
            raise fleet_error(f"--severity must be warning or fatal, got {opts['severity']!r}")
    return opts


def switch(fleet: Fleet, n: dict, name: str, on: bool, line: str | None = None,
           severity: str | None = None) -> dict:
    """Switch fault `name` on or off on node n (idempotent) and return the node's active faults."""
    if name not in FAULTS:
        raise FleetError(f"unknown fault {name!r}; known faults: {', '.join(FAULTS)} (`simfleet fault --list`)")
    fault = FAULTS[name]
    if on and name in fleet.iso.unsupported_faults:
        raise FleetError(f"the {name} fault needs namespaces mode: {fleet.iso.unsupported_faults[name]} (the fleet at "
                         f"{fleet.dir} runs in ports mode; as root, `simfleet up --isolation namespaces`)")
    opts = _options(FleetError, fault, line, severity) if on else {}
    active = n.setdefault("faults", {})
    powered = procs.alive(n.get("init"))
    if on and not fault.persistent and not powered:
        raise FleetError(f"node {n['vsn']} is off and {name} does not survive a boot; "
                         f"`simfleet power-on {n['vsn']}` first")
    if name in DEVICE_FAULTS:
        dev = DEVICE_FAULTS[name]
        if on and dev not in fleet.state.get("devices", []):
            raise FleetError(f"the fleet at {fleet.dir} runs no {dev} simulators (started with --devices "
                             f"{','.join(fleet.state.get('devices', [])) or 'none'}); nothing to stop")
    previous = active.get(name)
    if previous is not None and previous != opts:
        _APPLY[name](fleet, n, False, previous)  # e.g. another PSU line: restore the old one first
    if on:
        active[name] = opts
    else:
        active.pop(name, None)
    fleet.save()  # record first: a device loop must not be restarted by a concurrent `up`
    _APPLY[name](fleet, n, on, opts if on else (previous or {}))
    return active


# ---------------------------------------------------------------------- how each fault is applied

def _node_root(fleet: Fleet, n: dict) -> Path | None:
    """The node's file system as its own processes see it (its mount namespace), or None when it is off.
    In ports mode the node's folder, which holds its run/ (the node's /run)."""
    if not procs.alive(n.get("init")):
        return None
    return fleet.iso.node_root(fleet, n)


def fsck_log_text(sim: Path, error: bool) -> str:
    body = (sim / ("fsck-error.log" if error else "fsck-clean.log")).read_text()
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
    return (f"Log of fsck -C -a -T -t ext4 {nodefiles.FSCK_DEVICE} \n{stamp}\n\n{body}\n{stamp}\n"
            "----------------\n")


def _fsck(fleet: Fleet, n: dict, on: bool, _opts: dict) -> None:
    root = _node_root(fleet, n)
    if root is not None:  # takes effect at once (as if the node had booted with it) and at every boot
        _write_in_node(root / "run" / "initramfs" / "fsck.log", fsck_log_text(fleet.dir / "sim", on))


def _clock(fleet: Fleet, n: dict, on: bool, _opts: dict) -> None:
    root = _node_root(fleet, n)
    if root is None:
        return
    path = root / "run" / "systemd" / "timesync" / "synchronized"
    if on:
        path.unlink(missing_ok=True)
    else:
        _write_in_node(path, "")


def _mount_ro(fleet: Fleet, n: dict, on: bool, _opts: dict) -> None:
    if not procs.alive(n.get("init")):
        return  # the next boot mounts it read-write anyway
    mode = "ro" if on else "rw"
    r = subprocess.run(["nsenter", "-t", str(n["init"]["pid"]), "-m", "mount", "-o", f"remount,bind,{mode}",
                        "/media/root-rw"], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise FleetError(f"remounting /media/root-rw {mode} in {n['vsn']} failed: {r.stderr.strip()}")


def _psu(fleet: Fleet, n: dict, on: bool, opts: dict) -> None:
    key = nodefiles.PSU_LINES[opts.get("line", "pg1")]
    value = fleet.node_dir(n) / "sys-class" / "gpio" / f"gpio{nodefiles.PSU_GPIOS[key]}" / "value"
    if on:
        _rewrite(value, "0\n")
    else:  # all lines high again (also after an --off without options)
        for number in nodefiles.PSU_GPIOS.values():
            _rewrite(fleet.node_dir(n) / "sys-class" / "gpio" / f"gpio{number}" / "value", "1\n")


def _sanity_test(kind: str):
    filename, script = nodefiles.FAULT_TESTS[kind]

    def apply(fleet: Fleet, n: dict, on: bool, opts: dict) -> None:
        sanity = fleet.node_dir(n) / "etc-waggle" / "sanity"
        for sev in SEVERITIES:
            (sanity / sev / filename).unlink(missing_ok=True)
        if on:
            path = sanity / opts["severity"] / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(script)
            path.chmod(0o755)
    return apply


def _k3s(fleet: Fleet, n: dict, on: bool, _opts: dict) -> None:
    root = _node_root(fleet, n)
    if root is None:
        return
    flag = root / "run" / "simfleet" / "k3s-notready"
    if on:
        _write_in_node(flag, "simfleet fault k3s-notready\n")
    else:
        flag.unlink(missing_ok=True)


def _vsn(fleet: Fleet, n: dict, on: bool, _opts: dict) -> None:
    _rewrite(fleet.node_dir(n) / "etc-waggle" / "vsn", (n["vsn"].lower() if on else n["vsn"]) + "\n")


def _device(dev: str):
    def apply(fleet: Fleet, n: dict, on: bool, _opts: dict) -> None:
        if on:
            proc = (n.get("devices") or {}).get(dev)
            procs.kill(proc, group=True)
            if not tcp_in_netns(n["lan_netns"], *fleet.iso.device_endpoint(n, dev), want_open=False, timeout=10):
                raise FleetError(f"the {dev} simulator of {n['vsn']} still answers after being stopped")
        else:
            fleet.start_devices(n)
            fleet.save()
            if "lan0-down" not in (n.get("faults") or {}):
                fleet.wait_devices([n], devices=[dev])
    return apply


def _lan0(fleet: Fleet, n: dict, on: bool, _opts: dict) -> None:
    ip_batch(n["lan_netns"], [f"link set eth0 {'down' if on else 'up'}"])
    want = "DOWN" if on else "UP"
    deadline = time.monotonic() + 10
    while True:  # the kernel updates the peer's operstate asynchronously (link watch, up to ~1 s)
        r = subprocess.run(["ip", "-n", n["netns"], "-j", "link", "show", "lan0"], capture_output=True, text=True,
                           check=False)
        with contextlib.suppress(ValueError, IndexError, KeyError):
            if json.loads(r.stdout)[0]["operstate"] == want:
                return
        if time.monotonic() > deadline:
            raise FleetError(f"lan0 of {n['vsn']} did not become {want} within 10 s")
        time.sleep(0.1)


def _recovery(fleet: Fleet, n: dict, on: bool, _opts: dict) -> None:
    (bootslot.switch_to_recovery if on else bootslot.switch_to_normal)(fleet, n)


_APPLY = {
    "fsck": _fsck, "clock": _clock, "mount-ro": _mount_ro, "psu": _psu,
    "sanity-fail": _sanity_test("sanity-fail"), "sanity-hang": _sanity_test("sanity-hang"),
    "k3s-notready": _k3s, "vsn": _vsn, "switch-down": _device("switch"), "camera-down": _device("camera"),
    "lan0-down": _lan0, "recovery": _recovery,
}


# ---------------------------------------------------------------------- helpers

def _rewrite(path: Path, text: str) -> None:
    """Replace a file's content in place (same inode: bind and overlay mounts keep seeing it)."""
    with open(path, "w") as f:
        f.write(text)


def _write_in_node(path: Path, text: str) -> None:
    """Write a file inside a node's mount namespace (through /proc/<init>/root), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.simfleet")
    tmp.write_text(text)
    os.replace(tmp, path)
