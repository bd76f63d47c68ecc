# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the waggle.honeycomb.sanity_compare filter (post-check report vs pre-check report)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.waggle.honeycomb.plugins.filter.sanity_compare import FilterModule, sanity_compare


def check(name, result, severity="fatal"):
    return {"name": name, "result": result, "severity": severity, "source": "builtin"}


def node(status, *checks):
    return {"status": status, "checks": list(checks)}


def report(phase, **hosts):
    return {"phase": phase, "generated": "2026-11-24T03:00:00Z", "hosts": hosts}


PRE = report(
    "pre",
    W001=node("pass", check("lan0_up", "pass"), check("cameras_http", "pass", "warning")),
    W002=node("warning", check("lan0_up", "pass"), check("clock_synchronized", "fail", "warning")),
    W003=node("pass", check("lan0_up", "pass"), check("k3s_node_ready", "skipped")),
    W004=node("fatal", check("lan0_up", "fail"), check("hang", "fail", "warning")),
    W005=node("pass", check("lan0_up", "pass")),
)


def test_regressions_fixed_status_changes_and_unchanged():
    post = report(
        "post",
        # pass -> fatal, warning check pass -> warning
        W001=node("fatal", check("lan0_up", "fail"), check("cameras_http", "fail", "warning")),
        # warning check fixed
        W002=node("pass", check("lan0_up", "pass"), check("clock_synchronized", "pass", "warning")),
        # unchanged
        W003=node("pass", check("lan0_up", "pass"), check("k3s_node_ready", "skipped")),
        # fatal -> pass for lan0_up, hang gone, a new check
        W004=node("pass", check("lan0_up", "pass"), check("psu_gpio", "pass")),
        # not in the pre-check
        W009=node("pass", check("lan0_up", "pass")),
    )
    cmp = sanity_compare(post, PRE, source="sanity-pre.json")
    assert cmp["baseline"] == "sanity-pre.json"
    assert (cmp["baseline_phase"], cmp["baseline_generated"]) == ("pre", "2026-11-24T03:00:00Z")
    assert cmp["regressed_nodes"] == ["W001"]
    assert cmp["regressions"] == [
        {"node": "W001", "check": "lan0_up", "before": "pass", "after": "fatal", "severity": "fatal"},
        {"node": "W001", "check": "cameras_http", "before": "pass", "after": "warning", "severity": "warning"},
    ]
    assert cmp["hosts"]["W001"]["status_change"] == "pass -> fatal"
    assert cmp["hosts"]["W002"]["fixed"] == [
        {"check": "clock_synchronized", "before": "warning", "after": "pass", "severity": "warning"}]
    assert cmp["hosts"]["W002"]["regressed"] is False
    assert cmp["fixed_nodes"] == ["W002", "W004"]
    assert cmp["hosts"]["W004"]["new_checks"] == [{"check": "psu_gpio", "after": "pass"}]
    assert cmp["hosts"]["W004"]["missing_checks"] == [{"check": "hang", "before": "warning"}]
    assert cmp["unchanged_nodes"] == ["W003"]
    assert cmp["new_nodes"] == ["W009"]
    assert cmp["hosts"]["W009"]["in_baseline"] is False
    assert cmp["hosts"]["W009"]["status_before"] is None
    assert cmp["status_changes"] == [{"node": "W001", "before": "pass", "after": "fatal"},
                                     {"node": "W002", "before": "warning", "after": "pass"},
                                     {"node": "W004", "before": "fatal", "after": "pass"}]
    assert cmp["totals"] == {"nodes": 5, "regressed_nodes": 1, "regressions": 2, "fixed": 2, "changed": 0,
                             "status_changes": 3, "new_nodes": 1, "unchanged_nodes": 1, "new_checks": 1,
                             "missing_checks": 1}


@pytest.mark.parametrize("before,after,kind", [
    (check("c", "skipped"), check("c", "fail"), "regressions"),          # newly applicable and failing
    (check("c", "fail", "warning"), check("c", "fail", "fatal"), "regressions"),  # got worse
    (check("c", "fail", "fatal"), check("c", "fail", "warning"), "changed"),    # better, not fixed
    (check("c", "pass"), check("c", "skipped"), "changed"),
    (check("c", "fail"), check("c", "skipped"), "changed"),
])
def test_check_outcome_transitions(before, after, kind):
    cmp = sanity_compare(report("post", n=node("pass", after)), report("pre", n=node("pass", before)))
    node_cmp = cmp["hosts"]["n"]
    for key in ("regressions", "fixed", "changed"):
        assert len(node_cmp[key]) == (1 if key == kind else 0), (key, node_cmp)


def test_unreachable_after_is_a_status_regression_without_missing_checks():
    post = report("post", W005=node("unreachable"))
    cmp = sanity_compare(post, PRE)
    n = cmp["hosts"]["W005"]
    assert (n["status_change"], n["regressed"], n["checks_compared"]) == ("pass -> unreachable", True, False)
    assert n["missing_checks"] == [] and n["regressions"] == []
    assert cmp["regressed_nodes"] == ["W005"]


def test_hosts_restricts_to_the_batch_and_json_text_is_accepted():
    post = report("post", W005=node("pass", check("lan0_up", "pass")),
                  W003=node("fatal", check("lan0_up", "fail")))
    cmp = sanity_compare(post, json.dumps(PRE), hosts=["W005", "not-in-report"])
    assert list(cmp["hosts"]) == ["W005"]
    assert cmp["regressed_nodes"] == []
    assert cmp["unchanged_nodes"] == ["W005"]


def test_repeated_check_names_are_compared_in_order():
    pre = report("pre", n=node("pass", check("t", "pass", "warning"), check("t", "pass")))
    post = report("post", n=node("fatal", check("t", "pass", "warning"), check("t", "fail")))
    cmp = sanity_compare(post, pre)
    assert [c["check"] for c in cmp["regressions"]] == ["t (2)"]


@pytest.mark.parametrize("baseline,message", [
    ("{not json", "not valid JSON"),
    ({"phase": "pre"}, "not a sanity report"),
    ([], "not a sanity report"),
])
def test_bad_baseline_names_the_file(baseline, message):
    with pytest.raises(AnsibleFilterError) as err:
        sanity_compare(report("post"), baseline, source="/r/sanity-pre.json")
    assert message in str(err.value)
    assert "/r/sanity-pre.json" in str(err.value)
    assert "sanity_compare_with" in str(err.value)


def test_hosts_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="hosts must be a list"):
        sanity_compare(report("post"), PRE, hosts="W001")


def test_registered_name():
    assert FilterModule().filters()["sanity_compare"] is sanity_compare
