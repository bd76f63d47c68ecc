"""Catch-up: playbooks/status.yml -e target_version lists the nodes not yet at that version (set_stats for AWX,
a file for --limit @file), and a rollout limited to that list brings them there."""

import pytest
from hctest.playbook import REPO, run_playbook

pytestmark = pytest.mark.slow
CATCH_UP_TASK = "List the nodes not yet at the target version (catch-up)"


def test_status_lists_the_nodes_behind_and_a_limited_rollout_catches_them_up(make_fleet, rollout, payload, tmp_path):
    fleet = make_fleet(3, unreachable=["n3"])
    res, dummy = rollout(fleet, rollout_hosts="n1", rollout_batches=["100%"])
    assert res.rc == 0, res.output
    assert fleet.marker("n1") == "1.0.0" and fleet.marker("n2") is None

    listing = tmp_path / "behind.txt"
    res = run_playbook(REPO / "playbooks" / "status.yml", fleet.hosts,
                       extra_vars={"target_version": "1.0.0", "catch_up_file": str(listing)})
    assert res.rc == 0, res.output
    catch_up = res.result(CATCH_UP_TASK)["ansible_facts"]["honeycomb_catch_up"]
    assert catch_up["peripheral"] == "rollout-test" and catch_up["target_version"] == "1.0.0"
    assert catch_up["nodes"] == ["n2", "n3"] and catch_up["at_target"] == ["n1"] and catch_up["count"] == 2
    assert catch_up["details"]["n2"]["reason"] == "rollout-test not installed"
    assert catch_up["details"]["n3"]["reason"].startswith("unreachable")
    assert catch_up["limit"] == "n2,n3"
    assert res.result("Publish the catch-up list for AWX")["ansible_stats"]["data"]["honeycomb_catch_up"] == catch_up
    assert listing.read_text() == "n2\nn3\n"
    assert "2 of 3 nodes not at rollout-test 1.0.0: n2 (rollout-test not installed), n3 (unreachable" in res.stdout

    # the catch-up run, limited to the list (n3 is still down: the rollout reports it unreachable)
    res = run_playbook(REPO / "playbooks" / "upgrade.yml", fleet.hosts, extra_vars={
        "payload": payload, "rollout_sanity_gate": False, "rollout_post_check": False, "rollout_poll_interval": 1,
        "rollout_batches": ["100%"], "max_unreachable_percentage": 100}, args=("--limit", "@%s" % listing))
    assert fleet.marker("n2") == "1.0.0", res.output
    upgrade = "Upgrade the node (detached job, waited for through dropped tunnels and power cuts)"
    assert res.result(upgrade, "n2")["status"] == "applied" and res.status(upgrade, "n3") == "unreachable"
    assert not [r for r in res.records if r["host"] == "n1"]  # at the target already: left alone

    res = run_playbook(REPO / "playbooks" / "status.yml", fleet.hosts, extra_vars={"target_version": "1.0.0"})
    assert res.result(CATCH_UP_TASK)["ansible_facts"]["honeycomb_catch_up"]["nodes"] == ["n3"]


def test_several_peripherals_need_the_peripheral_named(make_fleet, rollout):
    fleet = make_fleet(1)
    res = run_playbook(REPO / "playbooks" / "status.yml", fleet.hosts, extra_vars={"target_version": "1.0.0"})
    assert res.rc != 0 and "-e peripheral=<name>" in res.output and "no installed peripheral" in res.output
