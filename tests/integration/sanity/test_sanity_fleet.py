"""The sanity role through the reverse tunnels of a simulated fleet (tools/hctools/simfleet).

Three nodes with switch and camera simulators on their LAN. Through the tunnels the test gives one
node a failing and a hanging Waggle warning test and takes lan0 down on another; the pre-check
must report pass / warning / fatal, the hanging test as 127, and the stand-in upgrade must run on
the first two nodes only. The checks read the node's real files (/etc/waggle, /proc/mounts, /proc,
/sys/class/net of the node's namespaces) and reach the simulators at 10.31.81.2 and 10.31.81.10
inside the node's network namespace.
"""

import json

import pytest

from hctest.fleet import SANITY_SETTINGS, fleet_fixture
from hctest.sanity import gate_playbook

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

PLAYBOOK = gate_playbook("/var/lib/honeycomb/sanity-gate-marker")

fleet = fleet_fixture(3, devices="switch,camera")


def test_pre_check_and_gate_through_the_tunnels(fleet, tmp_path):
    w1, w2, w3 = (n["vsn"] for n in fleet.nodes)
    fleet.ssh(w2, "mkdir -p /etc/waggle/sanity/warning /etc/waggle/sanity/fatal"
                  " && printf '#!/bin/sh\\necho hanging; sleep 60\\n' > /etc/waggle/sanity/warning/hang.test"
                  " && printf '#!/bin/sh\\necho wan0 down; exit 1\\n' > /etc/waggle/sanity/warning/wan0_status.test"
                  " && chmod +x /etc/waggle/sanity/warning/*.test")
    fleet.ssh(w3, "ip link set lan0 down")
    playbook = tmp_path / "gate.yml"
    playbook.write_text(PLAYBOOK)
    reports = tmp_path / "reports"
    extra = {"sanity_report_dir": str(reports), "sanity_test_timeout": 2, "sanity_settings": SANITY_SETTINGS}
    run = fleet.ansible_playbook(playbook, "-e", json.dumps(extra))
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]

    report = json.loads((reports / "sanity-pre.json").read_text())
    hosts = report["hosts"]
    assert {h: n["status"] for h, n in hosts.items()} == {w1: "pass", w2: "warning", w3: "fatal"}, run.stdout[-8000:]
    for node in fleet.nodes:
        entry = hosts[node["vsn"]]
        assert (entry["node_id"], entry["vsn"]) == (node["node_id"], node["vsn"])
        by_name = {c["name"]: c for c in entry["checks"]}
        assert by_name["node_identity"]["result"] == "pass"  # matches the inventory's node_id and vsn
        assert by_name["k3s_node_ready"]["result"] == "skipped"
        assert by_name["psu_gpio"]["result"] == "pass"  # simulated nodes provide the PSU GPIO lines
    ok = {c["name"]: c for c in hosts[w1]["checks"]}
    for name in ("reverse_tunnel", "lan0_up", "switch_reachable", "cameras_http", "mounts"):
        assert ok[name]["result"] == "pass", ok[name]
    assert "rtun.sock" in ok["reverse_tunnel"]["output"]
    assert "10.31.81.2:22 open" in ok["switch_reachable"]["output"]
    warn = {c["name"]: c for c in hosts[w2]["checks"]}
    assert (warn["hang"]["rc"], warn["hang"]["timed_out"]) == (127, True)
    assert warn["wan0_status"]["rc"] == 1
    # lan0 down: lan0_up fails, and the switch behind it is unreachable
    assert hosts[w3]["failed_checks"]["fatal"] == ["switch_reachable", "lan0_up"]
    assert report["gate"]["blocked"] == [w3]

    for vsn, upgraded in ((w1, True), (w2, True), (w3, False)):
        marker = fleet.ssh(vsn, "test -e /var/lib/honeycomb/sanity-gate-marker", check=False)
        assert (marker.returncode == 0) is upgraded, vsn
    assert "left out: %s" % w3 in run.stdout
