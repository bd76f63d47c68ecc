"""The parts of a simulated node: its disk (config files, keys), its uplink relay, its boot and its
device simulators. The isolation mode (fleet.iso) decides where and how they run."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import bootslot, configs, faultdefs, links, nodefiles, procs, topology
from . import units as units_
from .hostutil import SSHD, importable, keygen, write

if TYPE_CHECKING:  # pragma: no cover
    from .fleet import Fleet


def prepare(fleet: Fleet, n: dict, port: int) -> None:
    """The node's files: identity, config.ini, the bastion's host key, the operator's key, its sshd."""
    nd = fleet.node_dir(n)
    for sub, mode in (("etc-waggle", 0o755), ("honeycomb", 0o700), ("root", 0o700), ("root/.ssh", 0o700),
                      ("etc-ssh", 0o755), ("var-log", 0o755), ("uplink", 0o700)):
        (nd / sub).mkdir(mode=mode, parents=True, exist_ok=True)
    ew = nd / "etc-waggle"
    write(ew / "node-id", n["node_id"] + "\n")
    write(ew / "vsn", n["vsn"] + "\n")
    key = fleet.iso.node_key_path(fleet, n)
    write(ew / "config.ini", configs.NODE_CONFIG_INI.format(port=port, key=key) + "\n" + nodefiles.wagman_ini())
    host_pub = (fleet.dir / "bastion" / "ssh_host_ed25519_key.pub").read_text().split()
    write(ew / "bk_known_hosts", f"bastion {host_pub[0]} {host_pub[1]}\n")
    write(nd / "root" / ".ssh" / "authorized_keys", fleet.operator_key.with_suffix(".pub").read_text(), 0o600)
    es = nd / "etc-ssh"
    if not (es / "ssh_host_ed25519_key").exists():
        keygen(es / "ssh_host_ed25519_key", f"root@ws-nxcore-{n['node_id']}")
    write(es / "sshd_config", fleet.iso.node_sshd_config(fleet, n))
    write(es / "ssh_config", "# simulated node: defaults only\n")
    write(nd / "etc-hosts", configs.NODE_HOSTS.format(node_id=n["node_id"]))
    bootslot.set_active_slot(nd, bootslot.NORMAL_SLOT)  # a fresh `up` boots slot 0 (as faults, cleared)


def uplink_path(fleet: Fleet, n: dict) -> Path:
    return fleet.node_dir(n) / "uplink" / "bastion.sock"


def start_relay(fleet: Fleet, n: dict) -> None:
    """The node's uplink: the shaping relay of its link profile (relay.py) in front of the bastion."""
    nd = fleet.node_dir(n)
    if not (nd / links.LINK_FILE).exists():  # a fleet made before link profiles: an unshaped link
        links.write_link(nd, n.setdefault("link", "lan"))
    with contextlib.suppress(FileNotFoundError):  # stale: wait_relays waits for the new one's
        uplink_path(fleet, n).unlink()
    argv = [sys.executable, "-m", "hctools.simfleet.relay", "--listen", str(uplink_path(fleet, n)),
            "--connect", f"127.0.0.1:{fleet.state['bastion_port']}", "--node-dir", str(nd),
            "--seed", str(n["index"])]
    n["relay"] = procs.spawn(argv, fleet.env(), str(nd / "relay.log"))


def wait_relays(fleet: Fleet, nodes: list[dict], timeout: float = 30) -> None:
    """Wait until the relays accept (their socket appears only then), so no boot waits a restart delay."""
    deadline = time.monotonic() + timeout
    for n in nodes:
        while not uplink_path(fleet, n).exists() and procs.alive(n.get("relay")) and time.monotonic() < deadline:
            time.sleep(0.02)


def apply_link(fleet: Fleet, n: dict, spec: str) -> None:
    links.write_link(fleet.node_dir(n), spec)
    n["link"] = spec
    if procs.alive(n.get("relay")):
        procs.kill(n["relay"], sig=signal.SIGHUP)  # the relay re-reads link.json, open connections too


def boot(fleet: Fleet, n: dict) -> None:
    nd = fleet.node_dir(n)
    # volatile faults end with the power; the persistent ones node_init.sh re-creates are passed on
    faults = {k: v for k, v in (n.get("faults") or {}).items() if faultdefs.FAULTS[k].persistent}
    n["faults"] = faults
    env = fleet.env(SIMFLEET_NODE_DIR=str(nd), SIMFLEET_RESTART_DELAY=str(fleet.state.get("restart_delay", 2)),
                    SIMFLEET_SSHD=SSHD, SIMFLEET_SIM_DIR=str(fleet.dir / "sim"),
                    SIMFLEET_FAULTS=" ".join(sorted(faults)))
    n["init"] = fleet.iso.boot(fleet, n, ["/bin/sh", topology.NODE_INIT], env, str(nd / "console.log"))
    n["boots"] = n.get("boots", 0) + 1
    units_.boot(fleet, n)  # the node's other computers (up --units) power up with it


def start_watchdog(fleet: Fleet, n: dict) -> None:
    """The node's network watchdog stand-in (watchdog.py), when the fleet runs them (`up --watchdog-scale`)
    and it is not running. It runs on the host, lives across the node's boots and acts on the node."""
    wd = fleet.state.get("watchdog") or {}
    if not wd.get("scale") or procs.alive(n.get("watchdog")):
        return
    nd = fleet.node_dir(n)
    (nd / "var-log" / "simfleet").mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-u", "-m", "hctools.simfleet.watchdog", "--dir", str(fleet.dir), "--node", n["vsn"],
            "--scale", repr(float(wd["scale"])), "--slot-switch", wd["slot_switch"]]
    n["watchdog"] = procs.spawn(argv, fleet.env(), str(nd / "watchdog-process.log"))


def start_devices(fleet: Fleet, n: dict) -> None:
    """Start the node's device simulators that are not running (and not stopped by a fault)."""
    n.setdefault("devices", {})
    for dev in fleet.state.get("devices", []):
        module, lan_addr = topology.DEVICES[dev]
        if not importable(module):
            n["devices"][dev] = None
            continue
        if procs.alive(n["devices"].get(dev)) or f"{dev}-down" in (n.get("faults") or {}):
            continue
        nd = fleet.node_dir(n)
        (nd / dev).mkdir(exist_ok=True)
        addr, extra = fleet.iso.device_bind(n, dev, lan_addr)
        loop = ('while :; do "$PY" -m "$MOD" --bind "$ADDR" --state-dir "$SD" $EXTRA; '
                'echo "$(date -u +%FT%TZ) exited rc=$?"; sleep 1; done')
        n["devices"][dev] = procs.spawn(
            ["/bin/sh", "-c", loop],
            fleet.env(PY=sys.executable, MOD=module, ADDR=addr, SD=str(nd / dev), EXTRA=extra),
            str(nd / f"{dev}.log"), netns=n["lan_netns"], cwd=str(nd / dev))
