# -*- coding: utf-8 -*-
# Copyright (c) waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: sanity_compare
short_description: Compare a sanity fleet report with an earlier one (what an upgrade changed)
version_added: 0.1.0
description:
  - Compares the sanity fleet report of this run (the C(waggle.honeycomb.sanity) role's C(sanity_report),
    for example a post-check) with an earlier report of the role (for example the pre-check's
    C(sanity-pre.json)) node by node and check by check.
  - The outcome of a check is C(pass), C(skipped), or its severity (C(warning) or C(fatal)) when it failed.
  - A B(regression) is a check that got worse; passed or skipped before and failed now, or C(warning)
    before and C(fatal) now. A check that failed before and passes now is B(fixed). Any other change of
    outcome (for example C(fatal) to C(warning), or C(pass) to C(skipped)) is listed under C(changed).
  - A node is B(regressed) when it has a regression or its node status got worse
    (C(pass) < C(warning) < C(fatal) < C(error), C(unreachable)).
  - Checks are not compared when either side has no check results (the node was unreachable or the module
    failed); the node's status change says what happened.
  - Nodes of the earlier report that are not among O(hosts) are not listed; a post-check that runs per
    batch compares only its batch.
positional: _input, baseline
options:
  _input:
    description: The report of this run (C(sanity_report) of the role, or a loaded report file).
    type: dict
    required: true
  baseline:
    description: The earlier report to compare with, a C(sanity-*.json) file of the role (its text or the loaded dict).
    type: raw
    required: true
  hosts:
    description: The nodes to compare; default all nodes of O(_input).
    type: list
    elements: str
  source:
    description: Where O(baseline) came from (a file name), copied into the result and named in errors.
    type: str
    default: baseline
"""

EXAMPLES = r"""
- name: Compare the post-check with the pre-check report
  ansible.builtin.set_fact:
    sanity_changes: >-
      {{ sanity_report | waggle.honeycomb.sanity_compare(lookup('ansible.builtin.file', 'sanity-reports/sanity-pre.json') | from_json,
                                                          hosts=ansible_play_batch, source='sanity-pre.json') }}

- name: Show the regressed nodes
  ansible.builtin.debug:
    msg: "{{ sanity_changes.regressed_nodes }}"
"""

RETURN = r"""
_value:
  description: The comparison.
  type: dict
  contains:
    baseline:
      description: O(source).
      type: str
    baseline_phase:
      description: C(phase) of the earlier report.
      type: str
    baseline_generated:
      description: C(generated) time of the earlier report (UTC).
      type: str
    hosts:
      description:
        - Per compared node (sorted by name); C(in_baseline), C(status_before) (null for a new node),
          C(status_after), C(status_change) (C("pass -> fatal") or null), C(regressed), C(checks_compared),
          C(regressions), C(fixed), C(changed) (lists of dicts with C(check), C(before), C(after), C(severity)),
          C(new_checks) (dicts with C(check), C(after)), C(missing_checks) (dicts with C(check), C(before)).
      type: dict
    regressions:
      description: Every regression of every node, dicts with C(node), C(check), C(before), C(after), C(severity).
      type: list
      elements: dict
    regressed_nodes:
      description: Names of the regressed nodes.
      type: list
      elements: str
    fixed_nodes:
      description: Names of the nodes with a fixed check and no regression.
      type: list
      elements: str
    status_changes:
      description: Nodes whose status changed, dicts with C(node), C(before), C(after).
      type: list
      elements: dict
    new_nodes:
      description: Compared nodes that are not in the earlier report.
      type: list
      elements: str
    unchanged_nodes:
      description: Compared nodes with no change at all.
      type: list
      elements: str
    totals:
      description: Counts C(nodes), C(regressed_nodes), C(regressions), C(fixed), C(changed), C(status_changes),
        C(new_nodes), C(unchanged_nodes), C(new_checks), C(missing_checks).
      type: dict
"""

import json

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

_CHECK_RANK = {"pass": 0, "skipped": 0, "warning": 1, "fatal": 2}
_FAILED = ("warning", "fatal")
_STATUS_RANK = {"pass": 0, "warning": 1, "fatal": 2, "error": 3, "unreachable": 3}
_WITH_CHECKS = ("pass", "warning", "fatal")
_CHANGE_KEYS = ("regressions", "fixed", "changed", "new_checks", "missing_checks")


def _outcome(check):
    result = check.get("result")
    if result == "fail":
        return check.get("severity") or "fatal"
    return result if isinstance(result, str) else "unknown"


def _check_map(node):
    """Outcome and severity by check name; a repeated name (the same test in two folders) gets " (2)"."""
    found = {}
    for check in node.get("checks") or []:
        if not isinstance(check, dict) or not check.get("name"):
            continue
        name = check["name"]
        count = 2
        while name in found:
            name = "%s (%d)" % (check["name"], count)
            count += 1
        found[name] = (_outcome(check), check.get("severity"))
    return found


def _hosts_of(report, what, source):
    if not isinstance(report, dict) or not isinstance(report.get("hosts"), dict):
        raise AnsibleFilterError(
            "sanity_compare: %s (%s) is not a sanity report of the waggle.honeycomb.sanity role (a mapping with "
            "'hosts'); pass the loaded JSON report, or set sanity_compare_with to a sanity-*.json file "
            "(or to '' to compare nothing)" % (what, source))
    return report["hosts"]


def _compare_node(before, after):
    status_before = before.get("status") if before is not None else None
    status_after = after.get("status")
    node = {
        "in_baseline": before is not None,
        "status_before": status_before,
        "status_after": status_after,
        "status_change": None,
        "regressed": False,
        "checks_compared": False,
        "regressions": [],
        "fixed": [],
        "changed": [],
        "new_checks": [],
        "missing_checks": [],
    }
    if before is None:
        return node
    if status_before != status_after:
        node["status_change"] = "%s -> %s" % (status_before, status_after)
    if status_before in _WITH_CHECKS and status_after in _WITH_CHECKS:
        node["checks_compared"] = True
        old, new = _check_map(before), _check_map(after)
        for name, (outcome, severity) in new.items():
            if name not in old:
                node["new_checks"].append({"check": name, "after": outcome})
                continue
            was = old[name][0]
            if was == outcome:
                continue
            change = {"check": name, "before": was, "after": outcome, "severity": severity}
            if outcome in _FAILED and _CHECK_RANK.get(outcome, 0) > _CHECK_RANK.get(was, 0):
                node["regressions"].append(change)
            elif was in _FAILED and outcome == "pass":
                node["fixed"].append(change)
            else:
                node["changed"].append(change)
        node["missing_checks"] = [{"check": name, "before": old[name][0]} for name in old if name not in new]
    worse = _STATUS_RANK.get(status_after, 0) > _STATUS_RANK.get(status_before, 0)
    node["regressed"] = bool(node["regressions"]) or worse
    return node


def sanity_compare(report, baseline, hosts=None, source="baseline"):
    """Compare the sanity report ``report`` with the earlier report ``baseline`` (see DOCUMENTATION)."""
    after_hosts = _hosts_of(report, "the report of this run", "sanity_report")
    if isinstance(baseline, str):
        try:
            baseline = json.loads(baseline)
        except ValueError as exc:
            raise AnsibleFilterError(
                "sanity_compare: the earlier report %s is not valid JSON (%s); point sanity_compare_with at a "
                "sanity-*.json report of the waggle.honeycomb.sanity role, or set it to '' to compare nothing"
                % (source, exc))
    before_hosts = _hosts_of(baseline, "the earlier report", source)
    if hosts is None:
        names = sorted(after_hosts)
    elif is_sequence(hosts):
        names = sorted(h for h in set(hosts) if h in after_hosts)
    else:
        raise AnsibleFilterError("sanity_compare: hosts must be a list of node names, got %r" % (hosts,))

    result = {
        "baseline": source,
        "baseline_phase": baseline.get("phase"),
        "baseline_generated": baseline.get("generated"),
        "hosts": {},
        "regressions": [],
        "regressed_nodes": [],
        "fixed_nodes": [],
        "status_changes": [],
        "new_nodes": [],
        "unchanged_nodes": [],
    }
    totals = dict.fromkeys(_CHANGE_KEYS, 0)
    for name in names:
        node = _compare_node(before_hosts.get(name), after_hosts[name] or {})
        result["hosts"][name] = node
        for key in totals:
            totals[key] += len(node[key])
        result["regressions"].extend(dict(change, node=name) for change in node["regressions"])
        if not node["in_baseline"]:
            result["new_nodes"].append(name)
            continue
        if node["status_change"]:
            result["status_changes"].append(
                {"node": name, "before": node["status_before"], "after": node["status_after"]})
        if node["regressed"]:
            result["regressed_nodes"].append(name)
        elif node["fixed"]:
            result["fixed_nodes"].append(name)
        if not (node["status_change"] or any(node[key] for key in _CHANGE_KEYS)):
            result["unchanged_nodes"].append(name)
    totals.update({"nodes": len(names)}, **dict(
        (key, len(result[key])) for key in ("regressed_nodes", "status_changes", "new_nodes", "unchanged_nodes")))
    result["totals"] = totals
    return result


class FilterModule(object):
    """waggle.honeycomb sanity report filters."""

    def filters(self):
        return {"sanity_compare": sanity_compare}
