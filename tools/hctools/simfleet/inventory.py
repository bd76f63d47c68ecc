"""Inventories of a simulated fleet: Ansible YAML, an ssh_config, and a Beekeeper-shaped JSON."""

from __future__ import annotations

import functools
import json
import shlex

import yaml
from ansible_collections.waggle.honeycomb.plugins.inventory import beekeeper
from ansible_collections.waggle.honeycomb.plugins.plugin_utils import bastion
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import units as hc_units

from . import nodefiles
from .fleet import Fleet
from .hostutil import write
from .topology import INVENTORY_FILE, SSH_CONFIG_FILE, STATE_DIR_ON_NODE

# the node hop: the simulated nodes' host keys are new at every `up`
SSH_OPTS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def user(fleet: Fleet) -> str:
    """The login on the bastion and the nodes: root, or in ports mode the user the fleet runs as."""
    return fleet.iso.login_user(fleet)


@functools.lru_cache(maxsize=None)
def _plugin_defaults() -> dict:
    """The Beekeeper inventory plugin's option defaults, from its DOCUMENTATION (their one owner)."""
    options = yaml.safe_load(beekeeper.DOCUMENTATION)["options"]
    return {k: v.get("default") for k, v in options.items()}


def proxy_command(fleet: Fleet, node_id: str, vsn: str = "") -> str:
    """The operator's hop: ssh to the bastion, then socat into the node's tunnel socket (the contract),
    rendered as the Beekeeper inventory plugin renders it (plugin_utils/bastion.py) with the plugin's default
    template and bastion options, without shared bastion logins (one bastion login per node connection)."""
    d = _plugin_defaults()
    home_dirs = fleet.iso.bastion_home_dirs(fleet)
    return bastion.proxy_command(
        "127.0.0.1", node_id, vsn, bastion_port=fleet.state["bastion_port"], bastion_user=user(fleet),
        bastion_key=str(fleet.operator_key), bastion_ssh_args=d["bastion_ssh_args"],
        socket_path_template=home_dirs + "/node-{node_id}/rtun.sock", socket_client="socat",
        template=d["proxy_command_template"], multiplex=False)


def host_vars(fleet: Fleet, n: dict) -> dict:
    hv = {
        "ansible_host": n["node_id"],
        "ansible_ssh_common_args": f'-o ProxyCommand="{proxy_command(fleet, n["node_id"], n["vsn"])}" {SSH_OPTS}',
        "node_id": n["node_id"],
        "vsn": n["vsn"],
    }
    hv.update(fleet.iso.host_vars(fleet, n))
    return hv


def unit_host_vars(fleet: Fleet, n: dict, unit: str) -> dict:
    """A compute unit of node n (`up --units`): through the node's own ProxyCommand to its nxcore, then
    ssh -W to the unit on the node's LAN (plugin_utils/bastion.py renders the chain, as for the plugin)."""
    host, port = fleet.iso.unit_endpoint(n, unit)
    proxy = bastion.unit_proxy_command(proxy_command(fleet, n["node_id"], n["vsn"]), n["node_id"], host, port,
                                       node_user=user(fleet), node_key=str(fleet.operator_key), node_ssh_args=SSH_OPTS)
    hv = {
        "ansible_host": f"{n['node_id']}-{unit}",
        "ansible_ssh_common_args": f'-o ProxyCommand="{proxy}" {SSH_OPTS}',
        "node_id": n["node_id"],
        "vsn": n["vsn"],
        hc_units.UNIT_VAR: unit,
        hc_units.NODE_HOST_VAR: n["vsn"],
    }
    hv.update(fleet.iso.unit_host_vars(fleet, n, unit))
    return hv


def units_children(fleet: Fleet) -> dict:
    """With units: the groups nxcore, nxagent, rpi and their group variables, as the plugin makes them."""
    names = fleet.state.get("units") or []
    if not names:
        return {}
    out = {hc_units.CORE: {"hosts": {n["vsn"]: {hc_units.UNIT_VAR: hc_units.CORE} for n in fleet.nodes},
                           "vars": hc_units.group_vars(hc_units.CORE)}}
    for unit in names:
        out[unit] = {"hosts": {hc_units.host_name(n["vsn"], unit): unit_host_vars(fleet, n, unit) for n in fleet.nodes},
                     "vars": hc_units.group_vars(unit)}
    return out


def inventory_dict(fleet: Fleet) -> dict:
    fleet_vars = {
        "ansible_user": user(fleet),
        "ansible_ssh_private_key_file": str(fleet.operator_key),
        "ansible_python_interpreter": "/usr/bin/python3",
        "honeycomb_state_dir": STATE_DIR_ON_NODE,
        "simfleet_dir": str(fleet.dir),
    }
    return {"all": {
        "vars": fleet.iso.inventory_vars(fleet, fleet_vars),
        "children": {"nodes": {"hosts": {n["vsn"]: host_vars(fleet, n) for n in fleet.nodes}},
                     **units_children(fleet)},
    }}


def render_yaml(fleet: Fleet) -> str:
    head = (f"# Simulated Wild Sage fleet at {fleet.dir} (bastion 127.0.0.1:{fleet.state.get('bastion_port')}, "
            f"{fleet.isolation} mode).\n"
            "# Written by `simfleet inventory`; hosts are VSNs, ansible_host is the node ID.\n")
    return head + yaml.safe_dump(inventory_dict(fleet), sort_keys=False, width=1000)


def render_ssh_config(fleet: Fleet) -> str:
    """`ssh -F <dir>/ssh_config W001` (or the node ID) reaches a node the way staff do."""
    out = [f"# ssh -F {fleet.dir}/ssh_config <VSN or node ID>\n"]
    for n in fleet.nodes:
        out.append(
            f"Host {n['vsn']} {n['node_id']} node-{n['vsn']} node-{n['node_id']}\n"
            f"    HostName {n['node_id']}\n    User {user(fleet)}\n    IdentityFile {fleet.operator_key}\n"
            f"    IdentitiesOnly yes\n    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n"
            f"    LogLevel ERROR\n    ProxyCommand {proxy_command(fleet, n['node_id'], n['vsn'])}\n")
    return "\n".join(out)


def write_files(fleet: Fleet) -> None:
    """DIR/inventory.yml and DIR/ssh_config (`up` publishes them before it waits for the tunnels)."""
    write(fleet.dir / INVENTORY_FILE, render_yaml(fleet))
    write(fleet.dir / SSH_CONFIG_FILE, render_ssh_config(fleet))


def beekeeper_nodes(fleet: Fleet) -> list[dict]:
    """The fleet as the manifest API (`/manifests/`) returns it, with the `/api/v-beta/nodes/` fields
    merged in (see docs/devices/node.md, Beekeeper and the manifest API). Simulated values are plausible, not real."""
    return [nodefiles.beekeeper_record(n, fleet.state.get("units") or []) for n in fleet.nodes]


def render_beekeeper(fleet: Fleet) -> str:
    return json.dumps(beekeeper_nodes(fleet), indent=2) + "\n"


def ssh_command(fleet: Fleet, n: dict) -> str:
    return f"ssh -F {shlex.quote(str(fleet.dir / 'ssh_config'))} {n['vsn']}"
