"""Names and addresses of a simulated fleet: its directory, node identities, LAN and devices (bottom layer)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import units as hc_units

from . import nodefiles

DEFAULT_DIR = "/tmp/hc-simfleet"
STATE_FILE = "fleet.json"
INVENTORY_FILE = "inventory.yml"
SSH_CONFIG_FILE = "ssh_config"
NODE_INIT = str(Path(__file__).with_name("node_init.sh"))
# Mountpoints the namespaces bind onto; created on the host only if absent (documented).
HOST_MOUNTPOINTS = ("/etc/waggle", "/var/lib/honeycomb", "/home_dirs") + tuple(nodefiles.MEDIA_MOUNTS)
LAN_NODE_ADDR = "10.31.81.1/24"
DEVICES = {
    # name: (module, address on the node's LAN)
    "switch": ("hctools.switchsim", "10.31.81.2"),
    "camera": ("hctools.camerasim", "10.31.81.10"),
}
# the port `wait-devices` and the device faults probe
DEVICE_PORTS = {"switch": 22, "camera": 80}
LAN_ADDRS = ("10.31.81.2/24", "10.31.81.10/24")
# compute units (`up --units`): their LAN addresses (the collection's defaults) and host names
UNIT_ADDRS = dict(hc_units.DEFAULT_ADDRESSES)
UNIT_HOSTNAMES = dict(hc_units.LAN_HOSTNAMES)
STATE_DIR_ON_NODE = "/var/lib/honeycomb"
MAX_NODES = 999
SUN_PATH_MAX = 107


def remembered_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "hc-simfleet" / "current"


def resolve_dir(explicit: str | None) -> Path:
    """--dir, else $SIMFLEET_DIR, else the fleet `up` remembered last, else the default."""
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get("SIMFLEET_DIR"):
        return Path(os.environ["SIMFLEET_DIR"]).resolve()
    try:
        remembered = remembered_file().read_text().strip()
        if remembered:
            return Path(remembered)
    except OSError:
        pass
    return Path(DEFAULT_DIR)


def remember(d: Path) -> None:
    rf = remembered_file()
    rf.parent.mkdir(parents=True, exist_ok=True)
    rf.write_text(str(d) + "\n")


def fleet_prefix(d: Path) -> str:
    """Name prefix of the fleet's namespaces, derived from its directory (several fleets side by side)."""
    return "hcf" + hashlib.sha256(str(d).encode()).hexdigest()[:6]


def fleet_tag(d: Path) -> int:
    """12 bits that make node IDs unique across fleets (ssh ControlPath hashes contain the node ID)."""
    if str(d) == DEFAULT_DIR:
        return 0
    return 1 + int(hashlib.sha256(str(d).encode()).hexdigest()[6:12], 16) % 4095


def node_identity(d: Path, index: int) -> tuple[str, str]:
    """(vsn, node_id) of node number index (1-based): W001 / 000048B02D<tag:3><index:3>."""
    return f"W{index:03d}", f"000048B02D{fleet_tag(d):03X}{index:03X}"
