"""The switch playbooks through the simulated fleet's reverse tunnels, against each node's switch
simulator at 10.31.81.2 on the node's LAN (started by simfleet with the simulator's defaults)."""

import json
from pathlib import Path

import pytest

from hctest.fleet import fleet_fixture, node_python_with, recap
from hctest.playbook import REPO

pytestmark = [pytest.mark.fleet, pytest.mark.slow]


fleet = fleet_fixture(2, devices="switch")
# the same nodes without namespaces: switch simulators on per-node loopback ports, and the role must
# hand each node's own FTP port to the module (edgeswitch_ftp_port from the ports-mode inventory)
ports_fleet = fleet_fixture(2, devices="switch", name="ports_fleet", isolation="ports")


@pytest.fixture(scope="module")
def node_python():
    """pexpect/ptyprocess/pyftpdlib/tftpy (pure Python) for the nodes' /usr/bin/python3, in a folder the
    nodes see at the same path (/var/tmp is shared). Stands in for the node_prereqs role."""
    with node_python_with(("pexpect", "ptyprocess", "pyftpdlib", "tftpy"), "edgeswitch-node-pylib-") as python:
        yield python


def test_backup_and_canary_deploy_through_tunnels(fleet, node_python, tmp_path):
    backup_then_canary_deploy(fleet, node_python, tmp_path)


def test_backup_and_deploy_on_a_fleet_without_namespaces(ports_fleet, node_python, tmp_path):
    backup_then_canary_deploy(ports_fleet, node_python, tmp_path)


def backup_then_canary_deploy(fleet, node_python, tmp_path):
    backups = tmp_path / "backups"
    common = {"edgeswitch_password": "ubnt", "edgeswitch_backup_root": str(backups),
              "ansible_python_interpreter": node_python, "edgeswitch_reload_timeout": 120}
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(common))
    proc = fleet.ansible_playbook(str(REPO / "playbooks" / "switch_backup.yml"), "-e", "@%s" % vars_file)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    for node in fleet.nodes:
        files = list((backups / node["vsn"]).glob("switch-*.cfg"))
        assert len(files) == 1, sorted(backups.rglob("*"))
        assert files[0].read_text() == (Path(node["dir"]) / "switch" / "startup-config").read_text()

    template = tmp_path / "switch.cfg.j2"
    template.write_text(files[0].read_text().replace("description 'lidar'", "description 'lidar {{ inventory_hostname }}'"))
    deploy = dict(common, edgeswitch_config_template=str(template), edgeswitch_config_version="8.0.0")
    vars_file.write_text(json.dumps(deploy))
    proc = fleet.ansible_playbook(str(REPO / "playbooks" / "switch_deploy.yml"), "-e", "@%s" % vars_file)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    r = recap(proc.stdout)
    assert len(r) == 2 and all(v["failed"] == 0 and v["changed"] == 1 for v in r.values()), r
    # canary first: the first play ran on exactly one node
    assert proc.stdout.index("Deploy the switch configuration on the canary node") < \
        proc.stdout.index("Deploy the switch configuration on the other nodes")
    for node in fleet.nodes:
        sd = Path(node["dir"]) / "switch"
        assert "description 'lidar " in (sd / "startup-config").read_text()
        assert (sd / "cli.bnr").read_text() == "waggle config version: 8.0.0"
        assert json.loads((sd / "status.json").read_text())["reloads"] == 1
