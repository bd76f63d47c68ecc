"""The `ports` isolation of simfleet: a fleet without root and without namespaces (docs/simfleet.md).

Each node is a directory tree standing in for its production paths (DIR/nodes/<VSN>/etc-waggle is its
/etc/waggle, honeycomb its /var/lib/honeycomb, tmp and run its /tmp and /run, wiped at every boot), its
own sshd on a free 127.0.0.1 port, and the same reverse tunnel loop as in namespaces mode, bound on
DIR/bastion/home_dirs/node-<ID>/rtun.sock of a bastion sshd that runs as the invoking user. The
operator still reaches a node only through the bastion. Device simulators listen on 127.0.0.1 with
per-node ports. Every process of a node carries NODE_MARKER=<prefix>-<VSN> in its environment (node
init and, through the node sshd's SetEnv, every login session), which is how `power-cut` finds them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .. import configs, procs
from ..hostutil import free_ports
from .base import Isolation

if TYPE_CHECKING:  # pragma: no cover
    from ..fleet import Fleet

NODE_MARKER = "HC_SIMFLEET_NODE"
LOOPBACK = "127.0.0.1"
# node record "ports" keys, each a free 127.0.0.1 port chosen at `up`
PORT_KEYS = ("ssh", "switch_ssh", "switch_telnet", "camera", "ftp", "tftp")
# and one per compute unit of the node (up --units), keyed by the unit's name

# Faults that need what only namespaces give (name -> why), refused in ports mode.
UNSUPPORTED_FAULTS = {
    "mount-ro": "a node has no mounts of its own without a mount namespace",
    "lan0-down": "a node has no lan0 without a network namespace",
    "recovery": "a node has no mounts of its own to give the recovery slot an empty /var/lib/honeycomb",
}

# Sanity checks that cannot be pointed at a ports-mode node (skipped by the inventory's
# sanity_skip_checks): name -> why.
UNSUPPORTED_CHECKS = {
    "mounts": "reads /proc/mounts for /media/root-ro etc.; a ports-mode node has no mounts of its own",
    "lan0_up": "reads /sys/class/net/lan0; a ports-mode node has no network interface of its own",
}


def node_marker(fleet: Fleet, n: dict) -> str:
    return f"{NODE_MARKER}={fleet.prefix}-{n['vsn']}"


def node_paths(nd: Path) -> dict[str, str]:
    """Where a ports-mode node keeps what a real node has at its production paths."""
    return {"etc_waggle": str(nd / "etc-waggle"), "state_dir": str(nd / "honeycomb"), "tmp": str(nd / "tmp"),
            "run": str(nd / "run"), "hostname_file": str(nd / "etc-hostname")}


def session_env(fleet: Fleet, n: dict) -> dict[str, str]:
    """Environment of every login session on a ports-mode node (node sshd SetEnv): the markers, and
    where the node's /etc/waggle and /run are (read by the stand-in kubectl and the Waggle tests)."""
    p = node_paths(fleet.node_dir(n))
    name, value = node_marker(fleet, n).split("=", 1)
    return {"HC_SIMFLEET": fleet.prefix, name: value, "SIMFLEET_ETC_WAGGLE": p["etc_waggle"],
            "SIMFLEET_RUN": p["run"], "SIMFLEET_HOSTNAME": f"ws-nxcore-{n['node_id']}", "TMPDIR": p["tmp"]}


def node_sshd_config(fleet: Fleet, n: dict) -> str:
    nd = fleet.node_dir(n)
    setenv = " ".join(f"{k}={v}" for k, v in session_env(fleet, n).items())
    return f"""\
# simulated Wild Sage node, ports mode (no namespaces): its own sshd on 127.0.0.1, reached only
# through its reverse tunnel. A non-root sshd logs in only the user it runs as.
ListenAddress {LOOPBACK}:{n['ports']['ssh']}
HostKey {nd}/etc-ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile {nd}/root/.ssh/authorized_keys
# the fleet directory may be under /tmp (world-writable), which StrictModes refuses
StrictModes no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
SetEnv {setenv}
LogLevel INFO
"""


def bastion_extra(fleet: Fleet) -> str:
    b = fleet.dir / "bastion"
    return f"""\
# ports mode: no mount namespace; absolute paths instead of /home_dirs and /root
AuthorizedKeysFile {b}/root/.ssh/authorized_keys
StrictModes no
SetEnv HC_SIMFLEET={fleet.prefix}
"""


def device_args(dev: str, ports: dict) -> str:
    """Extra command-line options of a device simulator on its per-node loopback ports."""
    if dev == "switch":
        return f"--ssh-port {ports['switch_ssh']} --telnet-port {ports['switch_telnet']}"
    return f"--port {ports['camera']}"


def device_port(dev: str, ports: dict) -> int:
    """The port `wait-devices` and the device faults probe."""
    return ports["switch_ssh"] if dev == "switch" else ports["camera"]


def host_vars(fleet: Fleet, n: dict) -> dict:
    """Inventory host vars that point the collection's roles and modules at a ports-mode node."""
    nd = fleet.node_dir(n)
    p = node_paths(nd)
    ports = n["ports"]
    hv = {
        "simfleet_node_dir": str(nd),
        "simfleet_etc_waggle": p["etc_waggle"],
        "honeycomb_state_dir": p["state_dir"],
        "honeycomb_node_id_file": f"{p['etc_waggle']}/node-id",
        "honeycomb_vsn_file": f"{p['etc_waggle']}/vsn",
        "node_prereqs_state_dir": p["state_dir"],
        "edgeswitch_node_dir": f"{p['state_dir']}/edgeswitch",
        "sanity_skip_checks": sorted(UNSUPPORTED_CHECKS),
        "sanity_test_dirs": [{"path": f"{p['etc_waggle']}/sanity/warning", "severity": "warning"},
                             {"path": f"{p['etc_waggle']}/sanity/fatal", "severity": "fatal"}],
        "sanity_settings": sanity_settings(fleet, n),
    }
    devices = fleet.state.get("devices", [])
    if "camera" in devices:
        hv.update({"camera_host": LOOPBACK, "camera_port": ports["camera"]})
    if "switch" in devices:
        # ftp/tftp: the node's transfer server for the switch (the edgeswitch role passes them on)
        hv.update({"edgeswitch_host": LOOPBACK, "edgeswitch_port": ports["switch_ssh"],
                   "edgeswitch_server_address": LOOPBACK, "edgeswitch_ftp_port": ports["ftp"],
                   "edgeswitch_tftp_port": ports["tftp"]})
    return hv


def sanity_settings(fleet: Fleet, n: dict) -> dict:
    """waggle.honeycomb.sanity_check settings for a ports-mode node: every path and address its own."""
    p = node_paths(fleet.node_dir(n))
    ew, run, ports = p["etc_waggle"], p["run"], n["ports"]
    return {
        "free_space_state": {"path": p["state_dir"]},
        "fsck_clean": {"log": f"{run}/initramfs/fsck.log"},
        "clock_synchronized": {"sources": ["timesync_file"], "timesync_file": f"{run}/systemd/timesync/synchronized"},
        "node_identity": {"node_id_file": f"{ew}/node-id", "vsn_file": f"{ew}/vsn",
                          "hostname_file": p["hostname_file"]},
        # all nodes share the host's /proc: look for this node's own tunnel only
        "reverse_tunnel": {"method": "process",
                           "process_pattern": r"(^|/)ssh\s.*-R\s*\S*/node-%s/rtun\.sock" % n["node_id"]},
        "k3s_node_ready": {"kubectl": str(fleet.dir / "sim" / "bin" / "kubectl"), "node_id_file": f"{ew}/node-id"},
        "switch_reachable": {"address": LOOPBACK, "ports": [ports["switch_ssh"], ports["switch_telnet"]]},
        "cameras_http": {"addresses": [LOOPBACK], "port": ports["camera"]},
        "psu_gpio": {"config_ini": f"{ew}/config.ini", "gpio_dir": str(fleet.node_dir(n) / "sys-class" / "gpio"),
                     "manifest": f"{ew}/node-manifest-v2.json"},
    }


def unit_dir(fleet: Fleet, n: dict, unit: str) -> Path:
    return fleet.node_dir(n) / "units" / unit


def unit_state_dir(fleet: Fleet, n: dict, unit: str) -> str:
    """A ports-mode unit's state dir: the Pi's on its plugin-data folder (the rest of it is emptied at boot)."""
    ud = unit_dir(fleet, n, unit)
    return str(ud / "media-plugin-data" / "honeycomb") if unit == "rpi" else str(ud / "honeycomb")


def unit_sshd_config(fleet: Fleet, n: dict, unit: str) -> str:
    ud = unit_dir(fleet, n, unit)
    name, value = node_marker(fleet, n).split("=", 1)
    return f"""\
# simulated {unit} of a Wild Sage node, ports mode: its own sshd on 127.0.0.1 (any local process can
# connect; the inventory reaches it only through the node's sshd, ssh -W)
ListenAddress {LOOPBACK}:{n['ports'][unit]}
HostKey {ud}/etc-ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile {ud}/root/.ssh/authorized_keys
StrictModes no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
SetEnv HC_SIMFLEET={fleet.prefix} {name}={value} TMPDIR={ud}/tmp
LogLevel INFO
"""


def unit_host_vars(fleet: Fleet, n: dict, unit: str) -> dict:
    """A ports-mode unit's paths: its state dir, and where its sanity inputs are."""
    ud = unit_dir(fleet, n, unit)
    state = unit_state_dir(fleet, n, unit)
    return {
        "simfleet_unit_dir": str(ud),
        "honeycomb_state_dir": state,
        "node_prereqs_state_dir": state,
        "sanity_skip_checks": ["mounts"],  # no mounts of its own
        "sanity_settings": {
            "free_space_state": {"path": state},
            "fsck_clean": {"log": f"{ud}/run/initramfs/fsck.log"},
            "clock_synchronized": {"sources": ["timesync_file"],
                                   "timesync_file": f"{ud}/run/systemd/timesync/synchronized"},
        },
    }


class Ports(Isolation):
    name = "ports"
    unsupported_faults = UNSUPPORTED_FAULTS
    devices_where = "on their 127.0.0.1 ports (ports mode; see `simfleet status --json`)"

    def home(self) -> str:
        return os.path.expanduser("~")

    def node_record(self, fleet: Fleet, index: int, vsn: str, node_id: str) -> dict:
        # no namespaces: free loopback ports instead of production addresses
        return {"index": index, "vsn": vsn, "node_id": node_id, "netns": None, "lan_netns": None,
                "ports": {}, "init": None, "relay": None, "devices": {}, "faults": {}}

    def allocate(self, fleet: Fleet, nodes: list[dict]) -> None:
        keys = {n["vsn"]: PORT_KEYS + tuple(n.get("units") or ()) for n in nodes}
        free = iter(free_ports(sum(len(k) for k in keys.values())))  # all at once: no two nodes get the same port
        for n in nodes:
            n["ports"] = {k: next(free) for k in keys[n["vsn"]]}

    def node_key_path(self, fleet: Fleet, n: dict) -> str:
        return f"{fleet.node_dir(n)}/etc-waggle/bk_key.pem"

    def node_sshd_config(self, fleet: Fleet, n: dict) -> str:
        return node_sshd_config(fleet, n)

    def boot(self, fleet: Fleet, n: dict, argv: list[str], env: dict[str, str], log_path: str) -> dict:
        marker, value = node_marker(fleet, n).split("=", 1)
        env = dict(env, **{marker: value, "SIMFLEET_ISOLATION": "ports", "SIMFLEET_SSH_PORT": str(n["ports"]["ssh"]),
                           "SIMFLEET_RTUN": str(fleet.rtun_path(n)), "SIMFLEET_BK_USER": fleet.state["user"]})
        return procs.spawn(argv, env, log_path)

    def power_cut(self, fleet: Fleet, n: dict) -> None:
        # no pid namespace: stop the node's process tree and marked processes at once
        procs.freeze_and_kill(n["init"], node_marker(fleet, n))

    def node_root(self, fleet: Fleet, n: dict) -> Path:
        return fleet.node_dir(n)  # it holds the node's run/ (its /run)

    def bastion_sshd_config(self, fleet: Fleet, port: int) -> str:
        return bastion_extra(fleet) + configs.BASTION_SSHD_CONFIG.format(port=port, dir=fleet.dir / "bastion")

    def bastion_script(self) -> str:
        return "set -e; "

    def bastion_home_dirs(self, fleet: Fleet) -> str:
        return f"{fleet.dir}/bastion/home_dirs"

    def unit_endpoint(self, n: dict, unit: str) -> tuple[str, int]:
        return LOOPBACK, n["ports"][unit]

    def unit_sshd_config(self, fleet: Fleet, n: dict, unit: str) -> str:
        return unit_sshd_config(fleet, n, unit)

    def boot_unit(self, fleet: Fleet, n: dict, unit: str, argv: list[str], env: dict[str, str], log_path: str) -> dict:
        # the node's marker: a power cut of the node stops its units too
        marker, value = node_marker(fleet, n).split("=", 1)
        return procs.spawn(argv, dict(env, **{marker: value, "SIMFLEET_ISOLATION": "ports"}), log_path)

    def unit_host_vars(self, fleet: Fleet, n: dict, unit: str) -> dict:
        return unit_host_vars(fleet, n, unit)

    def device_bind(self, n: dict, dev: str, lan_addr: str) -> tuple[str, str]:
        return LOOPBACK, device_args(dev, n["ports"])

    def device_endpoint(self, n: dict, dev: str) -> tuple[str, int]:
        return LOOPBACK, device_port(dev, n["ports"])

    def login_user(self, fleet: Fleet) -> str:
        return fleet.state.get("user", "root")

    def inventory_vars(self, fleet: Fleet, fleet_vars: dict) -> dict:
        out = {k: v for k, v in fleet_vars.items() if k != "honeycomb_state_dir"}  # each node has its own
        out["simfleet_isolation"] = "ports"
        return out

    def host_vars(self, fleet: Fleet, n: dict) -> dict:
        return host_vars(fleet, n)
