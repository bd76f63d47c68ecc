# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status model: one outcome per status and kind, Ansible's batch rule, the fleet summary."""

import inspect
import itertools

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st


def test_every_status_has_one_known_outcome_per_kind_and_a_constant():
    assert len(set(st.STATUSES)) == len(st.STATUSES)
    for name in st.STATUSES:
        assert getattr(st, name.upper()) == name, "no constant %s for status %s" % (name.upper(), name)
        assert st.DESCRIPTIONS[name] and st.ORIGINS[name] in ("engine", "rollout", "report")
        for kind in st.KINDS:
            assert st.outcome(name, kind) in st.OUTCOMES
    assert set(st.ENGINE_STATUSES) | set(st.ROLLOUT_STATUSES) | {st.OK} == set(st.STATUSES)
    assert set(st.TERMINAL_STATUSES) <= set(st.ENGINE_STATUSES)


@pytest.mark.parametrize("status, upgrade, rollback", [
    ("applied", "success", "failure"),
    ("already_applied", "success", "failure"),
    ("rolled_back", "failure", "success"),
    ("failed", "failure", "failure"),
    ("rollback_failed", "failure", "failure"),
    ("inconsistent", "failure", "failure"),
    # issue 13: a job lost twice or interrupted ended a run with exit 0 and "fleet success"
    ("interrupted", "failure", "failure"),
    ("lost", "failure", "failure"),
    # issue 13: post_check_failed was a failure to the playbook but "skipped" to the callback
    ("post_check_failed", "failure", "failure"),
    ("unreachable", "unreachable", "unreachable"),
    ("retry_later", "pending", "pending"),
    ("needed", "pending", "pending"),
    ("running", "pending", "pending"),
    ("deferred", "pending", "pending"),
    ("sanity_blocked", "skipped", "skipped"),
    ("not_run", "skipped", "skipped"),
    ("ok", "success", "success"),
])
def test_outcomes(status, upgrade, rollback):
    assert st.outcome(status) == upgrade
    assert st.outcome(status, "upgrade") == upgrade
    assert st.outcome(status, "rollback") == rollback


def test_no_status_outside_the_model_is_a_success():
    successes = set(st.statuses_with(st.SUCCESS)) | set(st.statuses_with(st.SUCCESS, st.ROLLBACK))
    assert successes == {st.APPLIED, st.ALREADY_APPLIED, st.ROLLED_BACK, st.OK}
    assert st.statuses_with(st.SUCCESS, st.ROLLBACK) == (st.ROLLED_BACK, st.OK)


@pytest.mark.parametrize("bad", ["excluded", "not_started", "pending", "", None, "APPLIED", ["applied"]])
def test_unknown_status_is_a_clear_error(bad):
    with pytest.raises(ValueError) as err:
        st.outcome(bad)
    assert "unknown node status %r" % (bad,) in str(err.value) and "applied, already_applied" in str(err.value)


def test_unknown_kind_and_outcome_are_clear_errors():
    with pytest.raises(ValueError, match="unknown rollout kind 'downgrade'"):
        st.outcome("applied", "downgrade")
    with pytest.raises(ValueError, match="unknown outcome 'fine'"):
        st.statuses_with("fine")


# -- batch gate ----------------------------------------------------------------------------------------
def test_the_gate_rule_is_still_the_one_of_ansible():
    """The expression batch_gate copies, as ansible-core's linear strategy writes it."""
    from ansible.plugins.strategy import linear
    src = inspect.getsource(linear)
    assert "percentage = iterator._play.max_fail_percentage / 100.0" in src
    assert "if (len(self._tqm._failed_hosts) / iterator.batch_size) > percentage:" in src
    from ansible.executor import playbook_executor
    src = inspect.getsource(playbook_executor)
    assert "if len(batch) == failed_hosts_count:" in src


def ansible_stops(failed, size, max_fail_percentage):
    """linear.py's test with the play attribute post-validated as Ansible's 'percent' type does."""
    value = max_fail_percentage
    if isinstance(value, str) and '%' in value:
        value = value.replace('%', '')
    percentage = float(value) / 100.0
    return (failed / size) > percentage


@pytest.mark.parametrize("pct", [0, 10, "10", "10%", 12.5, "33.3", 33.34, 50, 99.9, 100])
def test_gate_stops_exactly_where_ansible_would(pct):
    for size in range(1, 25):
        for failed, unreachable in itertools.product(range(size + 1), range(size + 1)):
            if failed + unreachable > size:
                continue
            batch = ["failed"] * failed + ["unreachable"] * unreachable + ["applied"] * (size - failed - unreachable)
            gate = st.batch_gate(batch, pct, pct)
            assert gate["over_fail"] == ansible_stops(failed, size, pct), (size, failed, pct)
            assert gate["over_unreachable"] == ansible_stops(unreachable, size, pct), (size, unreachable, pct)
            assert gate["all_failed"] == (failed + unreachable == size)
            assert gate["stop"] == (gate["over_fail"] or gate["over_unreachable"] or gate["all_failed"])


def test_gate_counts_outcomes_of_statuses_and_names_the_nodes():
    batch = {"n1": "applied", "n2": "lost", "n3": "post_check_failed", "n4": "unreachable", "n5": "retry_later",
             "n6": "interrupted", "n7": None, "n8": "applied", "n9": "already_applied", "n10": "applied"}
    gate = st.batch_gate(batch, 30, "10%")
    assert gate["failed_nodes"] == ["n2", "n3", "n6", "n7"] and gate["failed"] == 4
    assert gate["unreachable_nodes"] == ["n4"] and gate["unreachable_pct"] == 10.0
    assert gate["over_fail"] and not gate["over_unreachable"] and gate["stop"]
    assert gate["reason"] == ("4 of 10 nodes of the batch (40.0%) failed, more than max_fail_percentage 30: "
                              "n2, n3, n6, n7")
    # outcome names work as well as statuses
    assert st.batch_gate(["success", "failure", "pending"], 50, 50)["failed"] == 1


def test_gate_by_kind_and_defaults():
    assert st.batch_gate(["rolled_back"] * 9 + ["applied"], kind="rollback")["failed"] == 1
    gate = st.batch_gate(["rolled_back"] * 9 + ["applied"])
    assert gate["failed"] == 9 and gate["max_fail_percentage"] == 10 and gate["max_unreachable_percentage"] == 20
    ok = st.batch_gate(["applied"] * 9 + ["failed"])  # 10% is not more than the default 10%
    assert not ok["stop"] and ok["reason"] == ""
    assert st.batch_gate([], 0, 0)["stop"] is False


def test_gate_stops_a_batch_with_no_success_even_at_100_percent():
    gate = st.batch_gate({"n1": "failed", "n2": "unreachable"}, 100, 100)
    assert gate["stop"] and gate["all_failed"] and not gate["over_fail"]
    assert "no node of the batch succeeded (1 failed, 1 unreachable)" in gate["reason"]


@pytest.mark.parametrize("bad", ["lots", "-1", 101, True, "10%%x", float("nan")])
def test_gate_refuses_bad_thresholds(bad):
    with pytest.raises(ValueError, match="max_fail_percentage must be a number from 0 to 100"):
        st.batch_gate(["applied"], bad, 20)


def test_gate_refuses_unknown_statuses():
    with pytest.raises(ValueError, match="unknown node status 'excluded'"):
        st.batch_gate({"n1": "excluded"})


# -- fleet summary -------------------------------------------------------------------------------------
def test_a_node_that_lost_its_job_fails_the_fleet():
    s = st.fleet_summary({"n1": "applied", "n2": "applied", "n3": "lost"})
    assert s["success"] is False and s["result"] == "failed"
    assert s["failed_nodes"] == ["n3"] and s["by_status"] == {"applied": 2, "lost": 1}
    assert s["by_outcome"] == {"success": 2, "failure": 1, "unreachable": 0, "pending": 0, "skipped": 0}
    assert s["line"] == "fleet FAILED: 3 nodes, applied 2, lost 1; failed: n3"


def test_targeted_nodes_without_a_status_are_not_run_and_fail_the_fleet():
    s = st.fleet_summary({"n1": "applied", "n2": None}, targets=["n1", "n2", "n3"])
    assert s["nodes"] == {"n1": "applied", "n2": "not_run", "n3": "not_run"}
    assert s["not_run_nodes"] == ["n2", "n3"] and s["skipped_nodes"] == ["n2", "n3"]
    assert s["success"] is False and s["result"] == "failed"
    assert s["line"] == "fleet FAILED: 3 nodes, applied 1, not_run 2; not run: n2, n3"


def test_success_and_what_does_not_spoil_it():
    s = st.fleet_summary({"a": "applied", "b": "already_applied", "c": "retry_later", "d": "sanity_blocked"},
                         targets=["a", "b", "c", "d"])
    assert s["success"] is True and s["result"] == "success"
    assert s["pending_nodes"] == ["c"] and s["skipped_nodes"] == ["d"]
    assert s["line"] == "fleet SUCCESS: 4 nodes, applied 1, already_applied 1, retry_later 1, sanity_blocked 1"


def test_unreachable_and_stopped_and_rollback_kind():
    s = st.fleet_summary({"a": "rolled_back", "b": "unreachable"}, kind="rollback", stopped=True,
                         reason="1 of 1 nodes of the batch (100.0%) unreachable")
    assert s["result"] == "stopped" and not s["success"] and s["stopped"]
    assert s["by_outcome"]["success"] == 1 and s["unreachable_nodes"] == ["b"]
    assert s["line"] == ("fleet rollback STOPPED: 2 nodes, rolled_back 1, unreachable 1; unreachable: b; "
                         "1 of 1 nodes of the batch (100.0%) unreachable")
    assert st.fleet_summary({"a": "rolled_back"}, "rollback")["success"] is True
    assert st.fleet_summary({"a": "rolled_back"})["success"] is False


def test_summary_refuses_unknown_statuses_and_kinds():
    with pytest.raises(ValueError, match="unknown node status 'pending'"):
        st.fleet_summary({"n1": "pending"})
    with pytest.raises(ValueError, match="unknown rollout kind"):
        st.fleet_summary({}, kind="sideways")
    with pytest.raises(ValueError, match="mapping node -> status"):
        st.fleet_summary(["applied"])


def test_empty_fleet_and_long_lists():
    assert st.fleet_summary({})["line"] == "fleet SUCCESS: 0 nodes"
    many = dict(("n%02d" % i, "failed") for i in range(25))
    assert st.fleet_summary(many)["line"].endswith("n19 and 5 more")


def test_markdown_table_lists_every_status():
    table = st.markdown_table().splitlines()
    assert len(table) == 2 + len(st.STATUSES)
    assert "| `lost` | rollout | failure | failure |" in st.markdown_table()


def test_the_docs_table_is_the_models():
    """docs/rollout.md 'Statuses and outcomes' shows status.markdown_table() (regenerate it from there)."""
    import os
    path = os.path.join(os.path.dirname(__file__), *[os.pardir] * 5, 'docs', 'rollout.md')
    with open(path) as f:
        text = f.read()
    start = text.index('<!-- status table:')
    start = text.index('\n', start) + 1
    end = text.index('<!-- end of status table -->')
    assert text[start:end].rstrip('\n') == st.markdown_table(), 'docs/rollout.md: status table differs from status.py'
