"""playbooks/upgrade.yml over a fleet of mixed links (simfleet `--link lte:60%,lte-poor:20%,lan`), and
the bytes the collection reports per node against what each node's link relay carried.

A payload of a few MiB (random bytes: it does not compress, as a firmware image or a .tar.gz) goes to
five nodes in a canary and two batches; every node applies it; the report (JSON, HTML, JUnit) gives the
bytes of every node and the fleet total; and each node's estimate of the bytes on its link (the
`traffic.wire_estimate` of the upgrade result) agrees with `simfleet bytes` for that node within 5%,
on the first run (payload and modules). A no-op re-run goes through the node-resident engine (one exec per
module run, a few KB per node, docs/resident-engine.md): there the fixed costs the estimate models (SSH
channel set-up and framing per exec) are the whole figure, so it must agree within 5% or SLACK bytes, and
stay under RERUN_MAX bytes per node towards the node (docs/upgrade.md, "Bytes per node").
"""

import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from hctest.fleet import REPO, fleet_fixture
from hctest.rollout import PAYLOAD_SCRIPTS, UPGRADE_TASK, run_upgrade_yml

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

LINKS = "lte:60%,lte-poor:20%,lan"
BLOB = 3 * 1024 * 1024
AGREEMENT = 0.05
SLACK = 4096  # bytes: for runs of a few KB, where a 5% band is a few hundred bytes
RERUN_MAX = 16384  # bytes per node towards the node on a no-op re-run (the upgrade task and its polls)

fleet = fleet_fixture(5, devices="none", link=LINKS)


def build_big_payload(dest, version):
    src = dest.parent / ("src-" + version)
    src.mkdir(parents=True, exist_ok=True)
    for name, text in PAYLOAD_SCRIPTS.items():
        (src / name).write_text(text)
        (src / name).chmod(0o755)
    (src / "firmware.bin").write_bytes(os.urandom(BLOB))
    subprocess.run([str(REPO / ".venv" / "bin" / "honeycomb-build"), str(src), "-o", str(dest), "--name",
                    "rollout-test", "--version", version, "--peripheral", "rollout-test"],
                   check=True, capture_output=True, text=True)
    return str(dest)


def link_bytes(fleet, reset=False):
    rows = json.loads(fleet.cli("bytes", "--json", *(("--reset",) if reset else ())).stdout)
    return {r["vsn"]: r for r in rows}


def assert_agrees(node, traffic, carried, slack=SLACK):
    """The node's estimate agrees with its relay's count within AGREEMENT (or ``slack`` bytes for runs of a few
    KB): towards the node, and both ways."""
    wire = traffic["wire_estimate"]
    down, both = carried["down"], carried["down"] + carried["up"]
    print("%s: estimate %d / %d B, relay %d / %d B (to / from the node): %+.2f%% / %+.2f%% both ways; "
          "handed to ssh %d / %d B" % (node, wire["sent"], wire["received"], down, carried["up"],
                                       100.0 * (wire["sent"] - down) / down,
                                       100.0 * (wire["sent"] + wire["received"] - both) / both,
                                       traffic["sent"], traffic["received"]))
    assert abs(wire["sent"] - down) <= max(AGREEMENT * down, slack if down < 20 * SLACK else 0), (node, wire, carried)
    assert abs(wire["sent"] + wire["received"] - both) <= max(AGREEMENT * both, slack if both < 20 * SLACK else 0), \
        (node, wire, carried)


def test_mixed_links_canary_and_batches_and_bytes_per_node(fleet, tmp_path):
    nodes = [n["vsn"] for n in fleet.nodes]
    profiles = {n["vsn"]: n["link_profile"] for n in fleet.status()["nodes"]}
    assert sorted(profiles.values()) == ["lan", "lte", "lte", "lte", "lte-poor"]
    payload = build_big_payload(tmp_path / "p" / "rollout-test-4.0.0.tar.gz", "4.0.0")
    size = os.path.getsize(payload)
    assert size > BLOB

    link_bytes(fleet, reset=True)
    first = run_upgrade_yml(fleet, tmp_path / "first", {"payload": payload, "rollout_batches": [1, "50%", "100%"],
                                                        "rollout_reconnect_timeout": 300})
    carried = link_bytes(fleet, reset=True)
    assert first.rc == 0, first.log[-8000:]

    # canary first, then the batches; every node applied
    assert [b["hosts"] for b in first.report["batches"]] == [nodes[:1], nodes[1:3], nodes[3:]]
    assert {h: n["status"] for h, n in first.nodes.items()} == dict.fromkeys(nodes, "applied")
    assert first.summary["result"] == "success"

    total = {"sent": 0, "wire_sent": 0}
    for node in nodes:
        res = first.result(UPGRADE_TASK, node)
        t = res["traffic"]
        # the payload went once, whole, under its category; the engine's code went too
        assert t["by_category"]["payload"]["sent"] >= size, (node, t)
        # each exec of the resumable transfer also carries its node helper (~4.5 KB) and a chunk header
        assert t["by_category"]["payload"]["sent"] <= size + 8192 * t["by_category"]["payload"]["execs"], (node, t)
        # (the first contact sends the node-resident engine's code, ~75 KB compressed, instead of a module)
        assert t["by_category"]["modules"]["sent"] > 50000 and t["failed_execs"] == 0, (node, t)
        assert t["sent"] == sum(c["sent"] for c in t["by_category"].values())
        assert t["wire_estimate"]["compression"] is True  # ansible.cfg's ssh_args have -C
        assert_agrees(node, t, carried[node])
        # the report holds the same figures
        rep = first.nodes[node]["traffic"]
        assert (rep["sent"], rep["received"], rep["wire_estimate"]["sent"]) == \
            (t["sent"], t["received"], t["wire_estimate"]["sent"])
        total["sent"] += t["sent"]
        total["wire_sent"] += t["wire_estimate"]["sent"]
    fleet_total = first.report["traffic"]
    assert fleet_total["nodes"] == 5 and fleet_total["sent"] == total["sent"]
    assert fleet_total["wire_sent"] == total["wire_sent"]
    # the fleet total agrees with the relays' sum as well
    down = sum(c["down"] for c in carried.values())
    assert abs(fleet_total["wire_sent"] - down) <= AGREEMENT * down, (fleet_total, down)

    page = first.html()
    assert '<th>link bytes (to / from node)</th>' in page and 'id="traffic">link bytes (estimated): ' in page
    suite = ET.parse(first.run_dir / "junit.xml").getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert int(props["traffic_wire_sent"]) == fleet_total["wire_sent"]
    for case in suite.iter("testcase"):
        case_props = {p.get("name"): p.get("value") for p in case.find("properties")}
        assert int(case_props["traffic_sent"]) == first.nodes[case.get("name")]["traffic"]["sent"]

    # a no-op re-run: no payload, only the modules' code (compressed by ssh) and their results
    again = run_upgrade_yml(fleet, tmp_path / "again", {"payload": payload, "rollout_batches": [1, "50%", "100%"],
                                                        "rollout_reconnect_timeout": 300})
    carried = link_bytes(fleet)
    assert again.rc == 0, again.log[-8000:]
    assert {h: n["status"] for h, n in again.nodes.items()} == dict.fromkeys(nodes, "already_applied")
    for node in nodes:
        t = again.result(UPGRADE_TASK, node)["traffic"]
        assert t["by_category"]["payload"]["sent"] == 0, (node, t)
        # The re-run's execs repeat the resident bootstrap; ssh -C compresses them against what the node's
        # ControlMaster connection carried last (the first run's resident polls, since the first contact
        # installs the engine at its start): ~1.9 KB down where the per-task estimate, which knows no
        # connection history, says ~5.5 KB. The estimate is an upper bound there; 2 x SLACK of room.
        assert_agrees(node, t, carried[node], slack=2 * SLACK)
        # the node-resident engine: no module code, a few KB on the link
        assert t["by_category"]["modules"]["sent"] == 0 and carried[node]["down"] <= RERUN_MAX, (node, t, carried[node])
