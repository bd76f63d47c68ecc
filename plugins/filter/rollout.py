# -*- coding: utf-8 -*-
# Copyright (c) waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters exposing the rollout status model (plugins/module_utils/_honeycomb/status.py) to playbooks:
rollout_outcome, rollout_gate and rollout_summary. Their documentation is in the YAML files next to this
one (one per filter)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st

DEFAULT_FACT = "honeycomb_rollout"


def _status_of(value, name, where):
    """A node's status from a status string, None, or a dict with a ``status`` key (a rollout fact)."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        found = value.get("status")
        if found is None or isinstance(found, str):
            return found or None
    raise AnsibleFilterError("%s: the status of node %s must be a status name, null or a dict with a 'status' key, "
                             "got %r" % (where, name, value))


def _statuses(nodes, hostvars, fact, where):
    """{node: status or None} from a mapping node -> status/fact, or from a list of node names and hostvars."""
    if isinstance(nodes, Mapping):
        return dict((str(n), _status_of(v, n, where)) for n, v in nodes.items())
    if is_sequence(nodes):
        if hostvars is None:
            if all(v is None or isinstance(v, str) for v in nodes):
                raise AnsibleFilterError("%s: give node names with hostvars=hostvars (the status is read from each "
                                         "node's %s fact), or a mapping node -> status" % (where, fact))
            raise AnsibleFilterError("%s: expected a mapping node -> status or a list of node names, got %r"
                                     % (where, nodes))
        out = {}
        for name in nodes:
            node_vars = hostvars[name] if name in hostvars else {}
            out[str(name)] = _status_of(node_vars.get(fact) if isinstance(node_vars, Mapping) else None, name, where)
        return out
    raise AnsibleFilterError("%s: expected a mapping node -> status or a list of node names, got %r" % (where, nodes))


def rollout_outcome(status, kind=st.UPGRADE):
    """The outcome (success, failure, unreachable, pending, skipped) of a node status."""
    try:
        return st.outcome(_status_of(status, "?", "rollout_outcome"), kind)
    except ValueError as exc:
        raise AnsibleFilterError("rollout_outcome: %s" % exc)


def rollout_gate(batch, max_fail_percentage=st.DEFAULT_MAX_FAIL_PERCENTAGE,
                 max_unreachable_percentage=st.DEFAULT_MAX_UNREACHABLE_PERCENTAGE, kind=st.UPGRADE,
                 hostvars=None, fact=DEFAULT_FACT):
    """Whether the rollout stops after this batch (status.batch_gate)."""
    if is_sequence(batch) and hostvars is None:
        unknown = [v for v in batch if v is not None and v not in st.STATUSES and v not in st.OUTCOMES]
        if unknown:
            raise AnsibleFilterError("rollout_gate: %r is not a node status; give node names with hostvars=hostvars "
                                     "(the status is read from each node's %s fact), a list of statuses or a mapping "
                                     "node -> status" % (unknown[0], fact))
        statuses = list(batch)
    else:
        statuses = _statuses(batch, hostvars, fact, "rollout_gate")
    try:
        return st.batch_gate(statuses, max_fail_percentage, max_unreachable_percentage, kind)
    except ValueError as exc:
        raise AnsibleFilterError("rollout_gate: %s" % exc)


def rollout_summary(nodes, kind=st.UPGRADE, targets=None, stopped=False, reason=None, hostvars=None,
                    fact=DEFAULT_FACT):
    """The fleet summary (status.fleet_summary)."""
    statuses = _statuses(nodes, hostvars, fact, "rollout_summary")
    if targets is not None and not is_sequence(targets):
        raise AnsibleFilterError("rollout_summary: targets must be a list of node names, got %r" % (targets,))
    try:
        return st.fleet_summary(statuses, kind, targets=list(targets) if targets is not None else None,
                                stopped=boolean(stopped, strict=False), reason=reason)
    except ValueError as exc:
        raise AnsibleFilterError("rollout_summary: %s" % exc)


class FilterModule(object):
    """waggle.honeycomb rollout status filters."""

    def filters(self):
        return {"rollout_outcome": rollout_outcome, "rollout_gate": rollout_gate, "rollout_summary": rollout_summary}
