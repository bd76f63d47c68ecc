"""simfleet inventory: the operator connection contract and the Beekeeper-shaped JSON."""

import json
import shlex

import pytest
import yaml

pytestmark = pytest.mark.fleet


def test_yaml_inventory_follows_the_connection_contract(fleet3):
    inv = yaml.safe_load(fleet3.cli("inventory").stdout)
    assert inv == yaml.safe_load(fleet3.inventory.read_text())
    allv = inv["all"]["vars"]
    assert allv["ansible_user"] == "root"
    assert allv["ansible_ssh_private_key_file"] == str(fleet3.operator_key)
    assert allv["ansible_python_interpreter"] == "/usr/bin/python3"
    assert allv["honeycomb_state_dir"] == "/var/lib/honeycomb"
    hosts = inv["all"]["children"]["nodes"]["hosts"]
    assert sorted(hosts) == ["W001", "W002", "W003"]
    for vsn, hv in hosts.items():
        n = fleet3.node(vsn)
        assert hv["ansible_host"] == hv["node_id"] == n["node_id"]
        assert hv["vsn"] == vsn
        args = shlex.split(hv["ansible_ssh_common_args"])
        assert args[0:2] == ["-o", "ProxyCommand=ssh -p %d -i %s -o StrictHostKeyChecking=no "
                                   "-o UserKnownHostsFile=/dev/null root@127.0.0.1 socat - "
                                   "UNIX-CONNECT:/home_dirs/node-%s/rtun.sock"
                             % (fleet3.bastion_port, fleet3.operator_key, n["node_id"])]
        assert args[2:] == ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]


def test_beekeeper_format_has_manifest_and_nodes_api_fields(fleet3):
    nodes = json.loads(fleet3.cli("inventory", "--format", "beekeeper").stdout)
    assert [n["vsn"] for n in nodes] == ["W001", "W002", "W003"]
    for n in nodes:
        assert n["name"] == fleet3.node(n["vsn"])["node_id"]
        for key in ("phase", "project", "address", "gps_lat", "gps_lon", "modem", "tags", "computes",
                    "sensors", "resources", "lorawanconnections", "type", "site_id"):
            assert key in n, key
        assert n["phase"] == "Deployed"
        assert any(s["hw_model"] == "XNP-6400RW" for s in n["sensors"])


def test_unknown_node_is_named(fleet3):
    r = fleet3.cli("power-cut", "W999", check=False)
    assert r.returncode == 2
    assert "no node 'W999'" in r.stderr and "W001, W002, W003" in r.stderr
