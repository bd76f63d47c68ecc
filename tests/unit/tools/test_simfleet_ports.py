"""simfleet ports mode without a fleet: the power-cut process search and the inventory host vars."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hctools.simfleet import fleet as fl
from hctools.simfleet import inventory, procs
from hctools.simfleet.isolation import ports


def _alive(pid: int) -> bool:
    st = procs.starttime(pid)
    return st is not None


def test_freeze_and_kill_takes_the_tree_and_marked_runaways_but_nothing_else(tmp_path):
    marker = f"HC_SIMFLEET_NODE=unit-{os.getpid()}"
    name, value = marker.split("=")
    pids = tmp_path / "pids"
    # root: a restart loop (like node_init) with a child, and a daemon that left the tree (setsid + reparent)
    script = (f'sleep 300 & echo $! >> {pids}; '
              f'(setsid sleep 301 </dev/null >/dev/null 2>&1 & echo $! >> {pids}); '
              'while :; do sleep 1; done')
    env = dict(os.environ, **{name: value})
    root = procs.spawn(["/bin/sh", "-c", script], env, str(tmp_path / "log"))
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # same user, no marker
    try:
        deadline = time.monotonic() + 10
        while (not pids.exists() or len(pids.read_text().split()) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        others = [int(p) for p in pids.read_text().split()]
        assert all(_alive(p) for p in others + [root["pid"]])
        killed = procs.freeze_and_kill(root, marker)
        assert set(others) | {root["pid"]} <= set(killed)
        assert not any(_alive(p) for p in others + [root["pid"]])
        assert bystander.poll() is None and bystander.pid not in killed
    finally:
        bystander.kill()
        bystander.wait()
        procs.kill(root, group=True)


def _ports_fleet(tmp_path: Path, devices) -> fl.Fleet:
    f = fl.Fleet(tmp_path)
    f.state = {"isolation": "ports", "user": "alice", "bastion_port": 2200, "devices": devices,
               "nodes": [{"index": 1, "vsn": "W001", "node_id": "000048B02D001001", "netns": None,
                          "lan_netns": None, "ports": dict(zip(ports.PORT_KEYS, range(3001, 3007)))}]}
    return f


def test_ports_inventory_points_everything_at_the_node(tmp_path):
    f = _ports_fleet(tmp_path, ["switch", "camera"])
    inv = inventory.inventory_dict(f)["all"]
    assert inv["vars"]["ansible_user"] == "alice" and "honeycomb_state_dir" not in inv["vars"]
    hv = inv["children"]["nodes"]["hosts"]["W001"]
    nd = tmp_path / "nodes" / "W001"
    assert hv["honeycomb_state_dir"] == str(nd / "honeycomb")
    assert hv["honeycomb_node_id_file"] == str(nd / "etc-waggle" / "node-id")
    assert hv["honeycomb_vsn_file"] == str(nd / "etc-waggle" / "vsn")
    assert (hv["camera_host"], hv["camera_port"]) == ("127.0.0.1", 3004)
    switch = (hv["edgeswitch_host"], hv["edgeswitch_port"], hv["edgeswitch_server_address"])
    assert switch == ("127.0.0.1", 3002, "127.0.0.1")
    assert "alice@127.0.0.1 socat - UNIX-CONNECT:%s/bastion/home_dirs/node-000048B02D001001/rtun.sock" % tmp_path \
        in hv["ansible_ssh_common_args"]
    s = hv["sanity_settings"]
    assert s["switch_reachable"] == {"address": "127.0.0.1", "ports": [3002, 3003]}
    assert s["cameras_http"] == {"addresses": ["127.0.0.1"], "port": 3004}
    assert "node-000048B02D001001" in s["reverse_tunnel"]["process_pattern"]
    assert sorted(hv["sanity_skip_checks"]) == ["lan0_up", "mounts"]
    assert "User alice" in inventory.render_ssh_config(f)


def test_ports_inventory_sets_no_device_vars_without_devices(tmp_path):
    hv = inventory.host_vars(_ports_fleet(tmp_path, []), _ports_fleet(tmp_path, []).nodes[0])
    assert not [k for k in hv if k.startswith(("camera_", "edgeswitch_host"))]


def test_sanity_settings_are_accepted_by_the_module_validation(tmp_path):
    """Every setting the ports inventory emits must exist in waggle.honeycomb.sanity_check (or it fails)."""
    from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity import checks
    for check, settings in ports.sanity_settings(_ports_fleet(tmp_path, ["switch"]), _ports_fleet(
            tmp_path, ["switch"]).nodes[0]).items():
        assert set(settings) <= set(checks.DEFAULTS[check]), check
    assert set(ports.UNSUPPORTED_CHECKS) <= set(checks.DEFAULTS)


def test_unsupported_faults_are_refused_in_ports_mode(tmp_path):
    from hctools.simfleet import faults
    f = _ports_fleet(tmp_path, [])
    with pytest.raises(fl.FleetError, match="needs namespaces mode"):
        faults.switch(f, f.nodes[0], "lan0-down", True)


def test_the_cli_refuses_an_unsupported_fault_in_ports_mode(tmp_path, capsys):
    from hctools.simfleet.cli import main
    f = _ports_fleet(tmp_path, [])
    f.save()
    assert main(["fault", "W001", "lan0-down", "--dir", str(tmp_path)]) == 2
    assert "the lan0-down fault needs namespaces mode" in capsys.readouterr().err
    assert main(["status", "--dir", str(tmp_path)]) == 0  # the status table names each node's faults
    assert "W001" in capsys.readouterr().out
