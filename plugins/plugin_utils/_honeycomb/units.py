# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compute units of a Wild Sage node (controller only): which there are, how they are named in an
inventory, where they are on the node's LAN, and what differs on them (state dir, sanity checks).

A node has up to three computers (docs/devices/node.md, "Compute units"): ``nxcore`` (the end of the
reverse tunnel, the inventory host named by the VSN), ``nxagent`` (10.31.81.3) and a Raspberry Pi
(``rpi``, 10.31.81.4), both reachable only from the node's nxcore. The Beekeeper inventory plugin and
the simulated fleet's inventory both take names, groups and group variables from here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout

CORE = "nxcore"
UNITS = ("nxagent", "rpi")
"""The units besides nxcore an inventory can add, in a fixed order."""
GROUPS = (CORE,) + UNITS
"""One inventory group per unit, named after it."""
UNIT_VAR = "compute_unit"
"""Host variable naming the unit of a host (nxcore, nxagent, rpi)."""
NODE_HOST_VAR = "node_host"
"""Host variable of a unit naming its node's nxcore host in the inventory."""

DEFAULT_ADDRESSES = {"nxagent": "10.31.81.3", "rpi": "10.31.81.4"}
"""Where the node's nxcore reaches each unit's sshd (the node's dnsmasq leases, port 22)."""
LAN_HOSTNAMES = {"nxagent": "ws-nxagent", "rpi": "ws-rpi"}
"""Their names in the nxcore's /etc/hosts."""

DEFAULT_STATE_DIRS = {"rpi": layout.PLUGIN_DATA_STATE_DIR}
"""Per unit: the state dir when it is not the modules' default (layout.DEFAULT_STATE_DIR). The Pi's root
is read-only with a tmpfs overlay; only /media/plugin-data (its SD card) survives a reboot."""

# The sanity checks that apply to a unit (the others read what only nxcore has: the tunnel, the node's
# identity files, the switch and cameras, the PSU lines, k3s's server, the Waggle sanity suite).
SANITY_CHECKS = {
    "nxagent": ["free_space_root", "free_space_state", "mounts", "fsck_clean", "clock_synchronized"],
    # NFS root with a tmpfs overlay: no eMMC/NVMe mounts, no fsck log of its own
    "rpi": ["free_space_root", "free_space_state", "clock_synchronized"],
}


class UnitsError(ValueError):
    """A unit setting that cannot work; str() names it and what to do."""


def host_name(node_host, unit):
    """Inventory name of a unit of a node: ``<node host>-<unit>`` (``W023-nxagent``); nxcore keeps the node's."""
    return node_host if unit == CORE else "%s-%s" % (node_host, unit)


def check_units(units, what="units"):
    """The units of a setting, checked and in the fixed order (a list of names; nxcore is always there)."""
    if units is None:
        return []
    if isinstance(units, str):
        units = [u.strip() for u in units.split(",") if u.strip()]
    if not isinstance(units, (list, tuple)):
        raise UnitsError("%s must be a list of units (%s), got %r" % (what, ", ".join(UNITS), units))
    unknown = [u for u in units if u not in UNITS and u != CORE]
    if unknown:
        raise UnitsError("%s names the unknown unit(s) %s; the units are %s (nxcore is always the node itself)"
                         % (what, ", ".join(repr(u) for u in unknown), ", ".join(UNITS)))
    return [u for u in UNITS if u in units]


def unit_of_compute(compute):
    """The unit a manifest / node API ``computes`` entry stands for (its name or zone), or None.

    Zones of the manifest API: ``core``, ``agent``, ``shield`` (the Pi of the node's shield), ``detector``,
    ``enclosure``; an enclosure Pi's LAN address is not known, so it is not a unit here."""
    if not isinstance(compute, dict):
        return None
    name = str(compute.get("name") or "").lower().replace("-", "").replace("_", "")
    zone = str(compute.get("zone") or "").lower()
    if zone == "agent" or (not zone and name.startswith("nxagent")):
        return "nxagent"
    if zone == "shield" or (not zone and name.startswith("rpi")):
        return "rpi"
    return None


def node_units(wanted, computes=None, override=None, from_computes=True):
    """The units to add for one node.

    ``override`` (a list, from the plugin's ``node_units``) wins; else, with ``from_computes`` and a
    non-empty ``computes`` list from the API, the wanted units the node's computes list; else (no list, or
    an empty one, which says nothing) all wanted units."""
    if override is not None:
        return check_units(override, "node_units")
    if from_computes and isinstance(computes, list) and computes:
        present = set(unit_of_compute(c) for c in computes)
        return [u for u in wanted if u in present]
    return list(wanted)


def split_address(address, unit):
    """(host, port) of a unit's sshd from ``host`` or ``host:port``."""
    text = str(address or "").strip()
    if not text or any(c.isspace() or c in "'\"\\%" for c in text):
        raise UnitsError("the address of %s is %r; give a host or host:port without spaces or quotes" % (unit, address))
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 22
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise UnitsError("the address of %s is %r; the port after ':' must be a number from 1 to 65535"
                         % (unit, address))
    return host, int(port)


def unit_addresses(overrides=None):
    """DEFAULT_ADDRESSES with the plugin's ``unit_addresses`` applied: unit -> (host, port)."""
    merged = dict(DEFAULT_ADDRESSES)
    for unit, value in (overrides or {}).items():
        check_units([unit], "unit_addresses")
        merged[unit] = value
    return dict((u, split_address(a, u)) for u, a in merged.items())


def group_vars(unit, state_dirs=None):
    """Variables of a unit's inventory group: the state dir where it is not the default (persistent storage
    where the root is volatile), the sanity checks that apply to it. ``state_dirs`` (unit -> path or
    None for the modules' default) overrides DEFAULT_STATE_DIRS."""
    dirs = dict(DEFAULT_STATE_DIRS)
    for key, value in (state_dirs or {}).items():
        if key != CORE:
            check_units([key], "unit_state_dirs")
        if value not in (None, "") and not str(value).startswith("/"):
            raise UnitsError("unit_state_dirs: the state dir of %s must be an absolute path, got %r" % (key, value))
        dirs[key] = value or None
    out = {}
    state_dir = dirs.get(unit)
    if state_dir:
        out["honeycomb_state_dir"] = state_dir
        out["node_prereqs_state_dir"] = state_dir
    if unit in SANITY_CHECKS:
        out["sanity_checks"] = list(SANITY_CHECKS[unit])
        out["sanity_run_waggle_tests"] = False
        # free space where the state really is (measured on its nearest existing parent before a first job)
        out["sanity_settings"] = {"free_space_state": {"path": state_dir or layout.DEFAULT_STATE_DIR}}
    return out
