"""Unit tests of waggle.honeycomb.rollout (plugins/action/rollout.py, plugins/plugin_utils/_honeycomb/rollout.py):
the settings check, each node's status from its host variables, the node step's task result (failed /
unreachable / ok), the batch gate and the fleet summary published for AWX."""

from unittest import mock

import pytest
from ansible.parsing.dataloader import DataLoader

from ansible_collections.waggle.honeycomb.plugins.action.rollout import ActionModule
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import rollout as ro

CONF = ro.settings({"payload": "/p.tar.gz", "max_fail_percentage": 40, "rollout_post_check": True})


def node(status=None, unreachable=False, failed=None, groups=(), sanity=None, **extra):
    res = {"changed": True}
    if status is not None:
        res["status"] = status
    if unreachable:
        res["unreachable"] = True
    if failed is not None:
        res["failed"] = failed
    res.update(extra)
    hv = {"honeycomb_upgrade": res, "group_names": list(groups)}
    if sanity is not None:
        hv["ansible_facts"] = {"sanity_status": sanity, "sanity_error": ""}
    return hv


@pytest.mark.parametrize("node_vars,expected", [
    (node("applied"), "applied"),
    (node("already_applied"), "already_applied"),
    (node("lost", failed=True), "lost"),
    (node("interrupted", failed=True), "interrupted"),
    (node("rolled_back", failed=True), "rolled_back"),
    (node(failed=True, msg="payload refused"), "failed"),  # failed before the engine gave a status
    (node("unreachable", unreachable=True), "unreachable"),
    (node(unreachable=True, msg="ssh: Connection refused"), "unreachable"),
    (node("applied", sanity="fatal"), "post_check_failed"),
    (node("applied", sanity="pass"), "applied"),
    (node("rolled_back", failed=True, sanity="fatal"), "rolled_back"),  # no post-check after a failure
    (node("no_such_status"), "failed"),
    ({"group_names": ["sanity_blocked"], "ansible_facts": {"sanity_status": "fatal"}}, "sanity_blocked"),
    ({"group_names": ["sanity_blocked"], "ansible_facts": {"sanity_status": "unreachable"}}, "unreachable"),
    ({}, "not_run"),
    ({"honeycomb_upgrade": {"skipped": True}}, "not_run"),
])
def test_node_status(node_vars, expected):
    assert ro.node_status(node_vars, CONF)[0] == expected


def test_post_check_is_not_looked_at_when_it_is_off():
    conf = ro.settings({"payload": "/p.tar.gz", "rollout_post_check": "false"})
    assert ro.node_status(node("applied", sanity="fatal"), conf)[0] == "applied"


def test_engine_rollback_kind():
    conf = ro.settings({"rollout_kind": "rollback", "rollback_peripheral": "camera", "rollback_version": "2.0"})
    assert conf["kind"] == "rollback" and conf["state"] == "rolled_back" and conf["src"] is None
    assert conf["payload_label"] == "rollback of camera 2.0" and conf["batches"] == [1, "10%", "100%"]
    conf = ro.settings({"rollout_kind": "rollback", "payload": "/old.tar.gz"})
    assert conf["kind"] == "upgrade" and conf["state"] == "applied" and conf["src"] == "/old.tar.gz"


@pytest.mark.parametrize("args,message", [
    ({}, "set payload to the path of a payload archive"),
    ({"rollout_kind": "rollback"}, "say what to roll back"),
    ({"payload": "/p", "max_fail_percentage": "lots"}, "max_fail_percentage must be a number from 0 to 100"),
    ({"payload": "/p", "max_unreachable_percentage": 150}, "max_unreachable_percentage must be a number from 0 to 100"),
    ({"payload": "/p", "rollout_batches": "[0]"}, "is not a batch size"),
    ({"payload": "/p", "rollout_batches": []}, "non-empty list"),
    ({"payload": "/p", "rollout_batches": "[1, "}, "is not a YAML list"),
    ({"payload": "/p", "rollout_wait_timeout": "soon"}, "rollout_wait_timeout must be a whole number of seconds"),
    ({"payload": "/p", "rollout_max_resumes": -1}, "rollout_max_resumes must be >= 0"),
    ({"payload": "/p", "rollout_sanity_gate": "maybe"}, "rollout_sanity_gate must be true or false"),
])
def test_bad_settings_name_the_setting(args, message):
    with pytest.raises(ro.SettingsError, match=message.replace("(", r"\(").replace("[", r"\[")):
        ro.settings(args)


def test_batches_as_awx_survey_text():
    assert ro.settings({"payload": "/p", "rollout_batches": '[1, "100%"]'})["batches"] == [1, "100%"]
    assert ro.settings({"payload": "/p", "rollout_batches": "5"})["batches"] == [5]


def run_step(step, hostvars, inventory_hostname="n1", batch=None, **args):
    task = mock.MagicMock()
    task.args = dict(args, step=step)
    task.async_val = 0
    task.check_mode = False
    task.get_search_path.return_value = ["/"]
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(), DataLoader(), mock.MagicMock(), None)
    task_vars = {"hostvars": hostvars, "inventory_hostname": inventory_hostname,
                 "ansible_play_batch": batch or [], "ansible_play_hosts_all": list(hostvars)}
    return action.run(task_vars=task_vars)


def fleet(**nodes):
    hv = dict(nodes)
    conf = dict(CONF, targets=list(nodes))
    hv["localhost"] = {"ansible_facts": {"honeycomb_rollout_settings": conf}}
    return hv


def test_node_step_fails_a_failure_makes_unreachable_unreachable_and_annotates_the_report():
    hv = fleet(n1=node("lost", failed=True, msg="lost twice"), n2=node("unreachable", unreachable=True),
               n3=node("applied"), n4=node("retry_later"))
    r = run_step("node", hv, "n1")
    assert r["failed"] is True and r["status"] == "lost" and r["outcome"] == "failure"
    assert r["ansible_facts"]["fleet_report"] == {"status": "lost", "reason": "lost twice"}
    r = run_step("node", hv, "n2")
    assert r["unreachable"] is True and not r.get("failed") and r["status"] == "unreachable"
    r = run_step("node", hv, "n3")
    assert not r.get("failed") and not r.get("unreachable") and r["status"] == "applied"
    r = run_step("node", hv, "n4")
    assert not r.get("failed") and r["outcome"] == "pending"


def test_batch_gate_stops_over_the_threshold_and_publishes_the_summary():
    hv = fleet(n1=node("applied"), n2=node("applied"), n3=node("lost", failed=True), n4={})
    r = run_step("batch_gate", hv, batch=["n2", "n3"])
    assert r["stop"] is True and "1 of 2 nodes of the batch (50.0%) failed, more than max_fail_percentage 40: n3" \
        in r["msg"]
    assert r["ansible_facts"]["fleet_report_run"]["stopped"] is True
    summary = r["ansible_stats"]["data"]["honeycomb_rollout"]
    assert r["ansible_stats"]["per_host"] is False
    assert summary["nodes"] == {"n1": "applied", "n2": "applied", "n3": "lost", "n4": "not_run"}
    assert summary["failed_nodes"] == ["n3"] and summary["result"] == "stopped" and not summary["success"]
    r = run_step("batch_gate", hv, batch=["n1", "n2"])
    assert r["stop"] is False and "ansible_facts" not in r


def test_summary_is_never_success_with_a_lost_node():
    """Issue 13: a node whose job was lost twice ended a run with "fleet success"."""
    hv = fleet(n1=node("applied"), n2=node("applied"), n3=node("lost", failed=True))
    r = run_step("summary", hv, "localhost")
    s = r["summary"]
    assert s["result"] == "failed" and not s["success"] and s["failed_nodes"] == ["n3"]
    assert r["msg"].startswith("fleet FAILED: 3 nodes, applied 2, lost 1; failed: n3")
    assert r["ansible_stats"]["data"]["honeycomb_rollout"] == s


def test_summary_says_stopped_with_the_gate_reason():
    hv = fleet(n1=node("rolled_back", failed=True), n2={})
    hv["n1"]["ansible_facts"] = {"fleet_report_run": {"stopped": True, "reason": "1 of 1 nodes failed"}}
    s = run_step("summary", hv, "localhost")["summary"]
    assert s["result"] == "stopped" and s["reason"] == "1 of 1 nodes failed" and s["not_run_nodes"] == ["n2"]


def test_pre_gate_counts_nodes_unreachable_at_the_sanity_pre_check():
    hv = fleet(n1={"ansible_facts": {"sanity_status": "unreachable"}}, n2={"ansible_facts": {"sanity_status": "pass"}})
    r = run_step("pre_gate", hv)
    assert r["stop"] is True and "1 of 2 nodes (50.0%) unreachable at the sanity pre-check" in r["msg"]
    hv["n1"] = {"ansible_facts": {"sanity_status": "pass"}}
    assert run_step("pre_gate", hv)["stop"] is False


def test_settings_step_keeps_the_settings_for_the_other_steps(tmp_path):
    payload = tmp_path / "p.tar.gz"
    payload.write_bytes(b"x")
    r = run_step("settings", {"n1": {}, "n2": {}}, payload=str(payload), rollout_batches="[1, 2]")
    conf = r["ansible_facts"]["honeycomb_rollout_settings"]
    assert conf["src"] == str(payload) and conf["batches"] == [1, 2] and conf["targets"] == ["n1", "n2"]
    assert r["ansible_facts"]["fleet_report_run"]["payload"] == "p.tar.gz"
    r = run_step("settings", {"n1": {}}, payload=str(tmp_path / "missing.tar.gz"))
    assert r["failed"] and "missing.tar.gz does not exist on the controller" in r["msg"]
    r = run_step("node", {"n1": {}})
    assert r["failed"] and "run waggle.honeycomb.rollout step=settings first" in r["msg"]
