"""The `namespaces` isolation of simfleet (root): each node is a set of Linux network, mount, pid and UTS
namespaces with the production paths and addresses; its LAN (10.31.81.0/24, switch and camera) is a
second network namespace behind a veth pair; the bastion has its own mount namespace where its
home_dirs and root are bind-mounted on /home_dirs and /root.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .. import configs, procs, topology
from ..hostutil import FleetError, ip_batch
from .base import Isolation


def check_root() -> None:
    if os.geteuid() != 0:
        raise FleetError("simfleet's namespaces mode needs root: each node is a set of Linux network, mount and "
                         "pid namespaces. Run it as root (e.g. `sudo .venv/bin/simfleet up`), or use "
                         "`simfleet up --isolation ports` (per-node ports and folders, no root; see docs/simfleet.md "
                         "for what it does not simulate).")


def ns_members(n: dict) -> list[int]:
    """The pids in node n's network namespace."""
    ino = procs.ns_inode(os.path.join(procs.NETNS_DIR, n["netns"]))
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and procs.ns_inode(f"/proc/{name}/ns/net") == ino:
            out.append(int(name))
    return out


class Namespaces(Isolation):
    name = "namespaces"
    devices_where = "at 10.31.81.2 and 10.31.81.10 in their LAN namespaces"

    def check_host(self) -> None:
        check_root()

    def stop_needs_root(self, fleet) -> bool:
        return True

    def prepare_host(self) -> None:
        for mp in topology.HOST_MOUNTPOINTS:
            if not os.path.isdir(mp):
                os.makedirs(mp, mode=0o755, exist_ok=True)

    def home(self) -> str:
        return "/root"

    def node_record(self, fleet, index: int, vsn: str, node_id: str) -> dict:
        return {"index": index, "vsn": vsn, "node_id": node_id, "netns": f"{fleet.prefix}-{vsn}",
                "lan_netns": f"{fleet.prefix}-{vsn}-lan", "init": None, "relay": None, "devices": {}, "faults": {}}

    def make_network(self, fleet, nodes: list[dict]) -> None:
        batch = []
        for n in nodes:
            batch += [f"netns add {n['netns']}", f"netns add {n['lan_netns']}",
                      f"link add lan0 netns {n['netns']} type veth peer name eth0 netns {n['lan_netns']}"]
        ip_batch(None, batch)
        for n in nodes:
            ip_batch(n["netns"], ["link set lo up", f"addr add {topology.LAN_NODE_ADDR} dev lan0", "link set lan0 up"])
            # the devices' addresses, and the compute units' (up --units) on the same LAN
            addrs = list(topology.LAN_ADDRS) + [f"{topology.UNIT_ADDRS[u]}/24" for u in fleet.state.get("units", [])]
            ip_batch(n["lan_netns"], ["link set lo up"] + [f"addr add {a} dev eth0" for a in addrs]
                     + ["link set eth0 up"])

    def node_key_path(self, fleet, n: dict) -> str:
        return "/etc/waggle/bk_key.pem"

    def node_sshd_config(self, fleet, n: dict) -> str:
        return configs.NODE_SSHD_CONFIG

    def boot(self, fleet, n: dict, argv: list[str], env: dict[str, str], log_path: str) -> dict:
        return procs.spawn(argv, env, log_path, netns=n["netns"],
                           new_ns=os.CLONE_NEWNS | os.CLONE_NEWPID | os.CLONE_NEWUTS,
                           hostname=f"ws-nxcore-{n['node_id']}")

    def power_cut(self, fleet, n: dict) -> None:
        procs.kill(n["init"])
        procs.wait_gone([n["init"]])
        # everything in the pid namespace dies with its init; wait until the kernel is done
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and ns_members(n):
            time.sleep(0.02)

    def node_root(self, fleet, n: dict) -> Path:
        return Path(f"/proc/{n['init']['pid']}/root")

    def bastion_sshd_config(self, fleet, port: int) -> str:
        return configs.BASTION_SSHD_CONFIG.format(port=port, dir=fleet.dir / "bastion")

    def bastion_script(self) -> str:
        return ("set -e; mount --make-rprivate /; mount --bind \"$B/home_dirs\" /home_dirs; "
                "mount --bind \"$B/root\" /root; mount -t tmpfs -o mode=0755,size=16m tmpfs /run; "
                "mkdir -p /run/sshd; ")

    def bastion_new_ns(self) -> int:
        return os.CLONE_NEWNS

    def bastion_started(self, fleet, proc: dict) -> None:
        fleet.state["bastion_mntns"] = list(procs.ns_inode(f"/proc/{proc['pid']}/ns/mnt") or ())

    def bastion_home_dirs(self, fleet) -> str:
        return "/home_dirs"

    def unit_endpoint(self, n: dict, unit: str) -> tuple[str, int]:
        return topology.UNIT_ADDRS[unit], 22

    def unit_sshd_config(self, fleet, n: dict, unit: str) -> str:
        return configs.UNIT_SSHD_CONFIG.format(hostname=topology.UNIT_HOSTNAMES[unit], address=topology.UNIT_ADDRS[unit],
                                               nxcore=topology.LAN_NODE_ADDR.split("/")[0])

    def boot_unit(self, fleet, n: dict, unit: str, argv: list[str], env: dict[str, str], log_path: str) -> dict:
        # in the node's LAN namespace, where its address is; a computer of its own (mounts, pids, name)
        return procs.spawn(argv, env, log_path, netns=n["lan_netns"],
                           new_ns=os.CLONE_NEWNS | os.CLONE_NEWPID | os.CLONE_NEWUTS,
                           hostname=topology.UNIT_HOSTNAMES[unit])

    def device_bind(self, n: dict, dev: str, lan_addr: str) -> tuple[str, str]:
        return lan_addr, ""

    def device_endpoint(self, n: dict, dev: str) -> tuple[str, int]:
        return topology.DEVICES[dev][1], topology.DEVICE_PORTS[dev]
