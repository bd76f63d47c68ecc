"""playbooks/rollback.yml (selected nodes back to an older payload) and playbooks/status.yml (version table)."""

import json

import pytest
from hctest.playbook import REPO, run_playbook
from hctest.rollout import REPORT_CALLBACKS, build_payload

pytestmark = pytest.mark.slow
UPGRADE_TASK = "Upgrade the node (detached job, waited for through dropped tunnels and power cuts)"


def test_rollback_selected_nodes_then_status_table(make_fleet, rollout, payload, tmp_path):
    new_payload = build_payload(tmp_path / "p2" / "rollout-test-2.0.0.tar.gz", version="2.0.0")
    fleet = make_fleet(2)
    res, run_dir = rollout(fleet, payload=new_payload, rollout_batches=[1, "100%"])
    assert res.rc == 0, res.output
    assert fleet.marker("n1") == fleet.marker("n2") == "2.0.0"

    # no node selected: refused before anything runs
    res = run_playbook(REPO / "playbooks" / "rollback.yml", fleet.hosts, extra_vars={"rollback_payload": payload})
    assert res.rc != 0 and "select the nodes with -e rollout_hosts=<pattern>" in res.stdout
    assert fleet.marker("n1") == "2.0.0"

    reports = tmp_path / "rollback-reports"
    res = run_playbook(REPO / "playbooks" / "rollback.yml", fleet.hosts, extra_vars={
        "rollback_payload": payload, "rollout_hosts": "n1", "rollout_sanity_gate": False,
        "rollout_post_check": False, "rollout_poll_interval": 1,
    }, env={"ANSIBLE_CALLBACKS_ENABLED": REPORT_CALLBACKS, "HONEYCOMB_FLEET_REPORT_DIR": str(reports)})
    assert res.rc == 0, res.output
    assert fleet.marker("n1") == "1.0.0" and fleet.marker("n2") == "2.0.0"
    report = json.loads((reports / "latest" / "report.json").read_text())
    assert report["kind"] == "rollback" and report["result"] == "success"
    (n1,) = report["nodes"]
    assert n1["name"] == "n1" and n1["status"] == "applied"
    assert n1["previous_version"] == "2.0.0" and n1["installed_version"] == "1.0.0"

    res = run_playbook(REPO / "playbooks" / "status.yml", fleet.hosts)
    assert res.rc == 0, res.output
    table = res.result("Build the version table")["ansible_facts"]["honeycomb_versions"]
    assert table["peripherals"] == ["rollout-test"]
    assert table["nodes"]["n1"]["versions"] == {"rollout-test": "1.0.0"}
    assert table["nodes"]["n2"]["versions"] == {"rollout-test": "2.0.0"}
    lines = res.result("Show which version of each peripheral runs on which node")["msg"]
    assert lines[0].split() == ["node", "rollout-test", "notes"]
    assert lines[1].split() == ["n1", "1.0.0"] and lines[2].split() == ["n2", "2.0.0"]


def test_status_flags_unreachable_nodes(make_fleet):
    fleet = make_fleet(2, unreachable=["n2"])
    res = run_playbook(REPO / "playbooks" / "status.yml", fleet.hosts)
    assert res.rc == 0, res.output
    lines = res.result("Show which version of each peripheral runs on which node")["msg"]
    assert lines[0].split() == ["node", "notes"]
    assert lines[1].split() == ["n1"] and lines[2].startswith("n2") and "UNREACHABLE" in lines[2]


def test_rollback_without_older_payload(make_fleet, rollout, payload, tmp_path):
    """rollback.yml with rollback_peripheral: the engine undoes each selected node's newest succeeded
    upgrade (no older payload): n1 goes back to 1.0.0, n2 is not selected; a re-run is ok, unchanged."""
    new_payload = build_payload(tmp_path / "p2" / "rollout-test-2.0.0.tar.gz", version="2.0.0")
    fleet = make_fleet(2)
    for p in (payload, new_payload):
        res, dummy = rollout(fleet, payload=p, rollout_batches=["100%"])
        assert res.rc == 0, res.output
    assert fleet.marker("n1") == fleet.marker("n2") == "2.0.0"

    res = run_playbook(REPO / "playbooks" / "rollback.yml", fleet.hosts, extra_vars={
        "rollback_peripheral": "rollout-test", "rollback_payload": payload, "rollout_hosts": "n1"})
    assert res.rc != 0 and "one way" in res.stdout  # both ways at once: refused

    reports = tmp_path / "engine-rollback-reports"
    ev = {"rollback_peripheral": "rollout-test", "rollback_version": "2.0.0", "rollout_hosts": "n1",
          "rollout_sanity_gate": False, "rollout_post_check": False, "rollout_poll_interval": 1}
    env = {"ANSIBLE_CALLBACKS_ENABLED": REPORT_CALLBACKS, "HONEYCOMB_FLEET_REPORT_DIR": str(reports)}
    res = run_playbook(REPO / "playbooks" / "rollback.yml", fleet.hosts, extra_vars=ev, env=env)
    assert res.rc == 0, res.output
    r = res.result(UPGRADE_TASK, "n1")
    assert r["status"] == "rolled_back" and r["kind"] == "rollback" and r["changed"], r
    assert fleet.marker("n1") == "1.0.0" and fleet.marker("n2") == "2.0.0"
    installed = {n: json.loads((fleet.state_dir(n) / "installed.json").read_text())["rollout-test"]["version"]
                 for n in ("n1", "n2")}
    assert installed == {"n1": "1.0.0", "n2": "2.0.0"}
    report = json.loads((reports / "latest" / "report.json").read_text())
    assert report["kind"] == "rollback" and report["result"] == "success", report
    (n1,) = report["nodes"]
    assert n1["name"] == "n1" and n1["status"] == "rolled_back" and n1["outcome"] == "success"
    assert n1["installed_version"] == "1.0.0" and n1["previous_version"] == "2.0.0"
    (phase,) = n1["phases"]
    assert phase["name"] == "rollback" and phase["timed"] is True and phase["node_started"].endswith("+00:00")

    # the re-run as an AWX survey sends it: unanswered optional questions arrive as empty strings
    res = run_playbook(REPO / "playbooks" / "rollback.yml", fleet.hosts,
                       extra_vars=dict(ev, rollback_version="", rollback_src=""), env=env)
    assert res.rc == 0, res.output
    r = res.result(UPGRADE_TASK, "n1")
    assert r["status"] == "rolled_back" and not r["changed"] and "already rolled back" in r["msg"], r
    assert fleet.marker("n1") == "1.0.0"


def test_status_flags_peripherals_whose_newest_job_failed(make_fleet, rollout):
    """n1's install fails and is rolled back: its newest job's outcome (status model) is a failure."""
    fleet = make_fleet(2, failing=["n1"])
    res, dummy = rollout(fleet, rollout_batches=["100%"], max_fail_percentage=100)
    assert fleet.marker("n1") is None and fleet.marker("n2") == "1.0.0"
    res = run_playbook(REPO / "playbooks" / "status.yml", fleet.hosts)
    assert res.rc == 0, res.output
    table = res.result("Build the version table")["ansible_facts"]["honeycomb_versions"]
    assert table["nodes"]["n1"]["last_jobs"] == {"rollout-test": {"status": "rolled_back", "outcome": "failure"}}
    assert table["nodes"]["n2"]["last_jobs"] == {"rollout-test": {"status": "applied", "outcome": "success"}}
    lines = res.result("Show which version of each peripheral runs on which node")["msg"]
    assert lines[1].startswith("n1") and lines[1].endswith("LAST JOB FAILED rollout-test: rolled_back")
    assert lines[2].split() == ["n2", "1.0.0"]
