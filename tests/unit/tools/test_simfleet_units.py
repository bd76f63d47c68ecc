"""simfleet's compute units without a fleet: the --units list, the units' sshd (only the nxcore may log in),
their addresses (the collection's), and the Beekeeper JSON listing them."""

import pytest

from hctools.simfleet import nodefiles, topology, units
from hctools.simfleet.hostutil import FleetError
from hctools.simfleet.isolation.namespaces import Namespaces
from hctools.simfleet.isolation.ports import PORT_KEYS, Ports
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import units as hc_units


def test_units_list_is_checked_and_ordered():
    assert units.check(["rpi", "nxagent"], "namespaces") == ["nxagent", "rpi"]
    assert units.check(["rpi"], "ports") == ["rpi"]
    with pytest.raises(FleetError, match="unknown unit"):
        units.check(["gpu"], "namespaces")


def test_unit_sshd_listens_on_its_lan_address_and_admits_only_the_nxcore():
    iso = Namespaces()
    conf = iso.unit_sshd_config(None, {}, "rpi")
    assert "ListenAddress 10.31.81.4:22" in conf
    assert "AllowUsers root@10.31.81.1" in conf
    assert iso.unit_endpoint({}, "nxagent") == ("10.31.81.3", 22)
    assert topology.UNIT_ADDRS == hc_units.DEFAULT_ADDRESSES


def test_ports_mode_units_listen_on_their_own_loopback_ports():
    n = {"vsn": "W001", "ports": {"nxagent": 40001, "rpi": 40002}}
    assert Ports().unit_endpoint(n, "rpi") == ("127.0.0.1", 40002)
    nodes = [{"vsn": "W001", "units": {"nxagent": None, "rpi": None}}, {"vsn": "W002", "units": {}}]
    Ports().allocate(None, nodes)
    assert set(nodes[0]["ports"]) == set(PORT_KEYS) | {"nxagent", "rpi"} and set(nodes[1]["ports"]) == set(PORT_KEYS)
    assert len({p for n in nodes for p in n["ports"].values()}) == 2 * len(PORT_KEYS) + 2


def test_beekeeper_record_lists_the_units_in_computes():
    n = {"index": 1, "vsn": "W001", "node_id": "000048B02D000001"}
    plain = nodefiles.beekeeper_record(n)
    assert [c["name"] for c in plain["computes"]] == ["nxcore"]
    full = nodefiles.beekeeper_record(n, ["nxagent", "rpi"])
    found = [hc_units.unit_of_compute(c) for c in full["computes"]]
    assert found == [None, "nxagent", "rpi"]
