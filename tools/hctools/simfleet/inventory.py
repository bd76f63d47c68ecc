"""Inventories of a simulated fleet: Ansible YAML, an ssh_config, and a Beekeeper-shaped JSON."""

from __future__ import annotations

import functools
import json
import shlex

import yaml
from ansible_collections.waggle.honeycomb.plugins.inventory import beekeeper

from . import ports
from .fleet import STATE_DIR_ON_NODE, Fleet
from .nodefiles import resources

# the node hop: the simulated nodes' host keys are new at every `up`
SSH_OPTS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def user(fleet: Fleet) -> str:
    """The login on the bastion and the nodes: root, or in ports mode the user the fleet runs as."""
    return fleet.state.get("user", "root") if fleet.ports_mode else "root"


@functools.lru_cache(maxsize=None)
def _plugin_defaults() -> dict:
    """The Beekeeper inventory plugin's option defaults, from its DOCUMENTATION (their one owner)."""
    options = yaml.safe_load(beekeeper.DOCUMENTATION)["options"]
    return {k: v.get("default") for k, v in options.items()}


def proxy_command(fleet: Fleet, node_id: str, vsn: str = "") -> str:
    """The operator's hop: ssh to the bastion, then socat into the node's tunnel socket (the contract),
    rendered by the Beekeeper inventory plugin itself with its default template and bastion options."""
    d = _plugin_defaults()
    home_dirs = f"{fleet.dir}/bastion/home_dirs" if fleet.ports_mode else "/home_dirs"
    return beekeeper.proxy_command(
        "127.0.0.1", node_id, vsn, bastion_port=fleet.state["bastion_port"], bastion_user=user(fleet),
        bastion_key=str(fleet.operator_key), bastion_ssh_args=d["bastion_ssh_args"],
        socket_path_template=home_dirs + "/node-{node_id}/rtun.sock", socket_client="socat",
        template=d["proxy_command_template"])


def host_vars(fleet: Fleet, n: dict) -> dict:
    hv = {
        "ansible_host": n["node_id"],
        "ansible_ssh_common_args": f'-o ProxyCommand="{proxy_command(fleet, n["node_id"], n["vsn"])}" {SSH_OPTS}',
        "node_id": n["node_id"],
        "vsn": n["vsn"],
    }
    if fleet.ports_mode:
        hv.update(ports.host_vars(fleet, n))
    return hv


def inventory_dict(fleet: Fleet) -> dict:
    fleet_vars = {
        "ansible_user": user(fleet),
        "ansible_ssh_private_key_file": str(fleet.operator_key),
        "ansible_python_interpreter": "/usr/bin/python3",
        "honeycomb_state_dir": STATE_DIR_ON_NODE,
        "simfleet_dir": str(fleet.dir),
    }
    if fleet.ports_mode:  # each node has its own state dir (host vars)
        del fleet_vars["honeycomb_state_dir"]
        fleet_vars["simfleet_isolation"] = "ports"
    return {"all": {
        "vars": fleet_vars,
        "children": {"nodes": {"hosts": {n["vsn"]: host_vars(fleet, n) for n in fleet.nodes}}},
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


def beekeeper_nodes(fleet: Fleet) -> list[dict]:
    """The fleet as the manifest API (`/manifests/`) returns it, with the `/api/v-beta/nodes/` fields
    merged in (see the reference notes, section 4). Simulated values are plausible, not real."""
    out = []
    for n in fleet.nodes:
        i = n["index"]
        phase = "Deployed"
        sensors = [
            {"name": "top_camera", "hw_model": "XNP-6400RW", "manufacturer": "Hanwha", "scope": "global",
             "capabilities": ["camera"], "is_active": True},
            {"name": "bme680", "hw_model": "BME680", "manufacturer": "Bosch", "scope": "global",
             "capabilities": [], "is_active": True},
        ]
        computes = [{"name": "nxcore", "zone": "core", "serial_no": n["node_id"], "hw_model": "xaviernx",
                     "manufacturer": "ConnectTech", "is_active": True, "capabilities": ["gpu", "cuda102", "arm64"]}]
        out.append({
            "id": i,
            "vsn": n["vsn"],
            "name": n["node_id"],
            "phase": phase,
            "project": "SAGE",
            "focus": "simulated",
            "partner": "",
            "type": "WSN",
            "site_id": f"SIM{i:03d}",
            "address": f"Simulated site {i}",
            "location": "",
            "gps_lat": round(41.7 + i / 1000, 6),
            "gps_lon": round(-87.98 - i / 1000, 6),
            "gps_alt": 200,
            "commissioned_at": "2024-01-01T00:00:00Z",
            "registered_at": "2023-12-01T00:00:00Z",
            "modem": {"model": "mtcm2", "sim_type": "att", "carrier": "AT&T"},
            "modem_model": "mtcm2",
            "modem_sim_type": "att",
            "modem_carrier": "AT&T",
            "tags": ["simfleet"] + (["even"] if i % 2 == 0 else ["odd"]),
            "computes": computes,
            "sensors": sensors,
            "resources": resources(),
            "lorawanconnections": [],
        })
    return out


def render_beekeeper(fleet: Fleet) -> str:
    return json.dumps(beekeeper_nodes(fleet), indent=2) + "\n"


def ssh_command(fleet: Fleet, n: dict) -> str:
    return f"ssh -F {shlex.quote(str(fleet.dir / 'ssh_config'))} {n['vsn']}"
