#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: rollout
short_description: The deciding steps of a fleet rollout (settings, gates, node status, fleet summary)
version_added: 0.2.0
description:
  - Used by C(playbooks/upgrade.yml) and C(playbooks/rollback.yml); runs on the controller only (action plugin).
    Each node's status comes from one function, from what the run left in its host variables - the
    M(waggle.honeycomb.upgrade) result the rollout play registers as C(honeycomb_upgrade), the sanity pre-check's
    blocked group and the post-check's C(sanity_status) - and what a status means (success, failure, unreachable,
    pending, skipped) from the collection's status model. No status is derived from a task name.
  - O(step=settings) (C(run_once), C(delegate_to=localhost), C(delegate_facts=true)) checks every rollout
    setting, fails naming a bad one, and sets the fact C(honeycomb_rollout_settings) on C(localhost) (the
    normalised settings and the targeted nodes) that every other step reads, and C(fleet_report_run) for the
    fleet report.
  - O(step=pre_gate) (C(run_once)) returns C(stop=true) and the reason when more than C(max_unreachable_percentage)
    of the targeted nodes were unreachable at the sanity pre-check.
  - O(step=node) reports this node's status - the task fails for a failure (C(failed), C(rolled_back) in an
    upgrade, C(rollback_failed), C(inconsistent), C(interrupted), C(lost), C(post_check_failed)), is unreachable
    for an unreachable node, and is ok otherwise - and sets the fact C(fleet_report) (status and reason) for the
    fleet report.
  - O(step=batch_gate) (C(run_once)) applies the thresholds to the current batch (C(stop)) and publishes the
    fleet summary so far as the custom stat C(honeycomb_rollout).
  - O(step=summary) publishes and prints the fleet summary of the run (custom stat C(honeycomb_rollout)).
author:
  - Waggle Honeycomb developers (@waggle-sensor)
extends_documentation_fragment:
  - waggle.honeycomb._attributes
attributes:
  check_mode:
    support: full
    details: Decides from the run's results only; changes nothing anywhere.
  diff_mode:
    support: none
options:
  step:
    description: Which step (see the description).
    type: str
    required: true
    choices: [settings, pre_gate, node, batch_gate, summary]
  rollout_kind:
    description: With O(step=settings), V(upgrade) or V(rollback) (set by C(playbooks/rollback.yml)).
    type: raw
  payload:
    description: With O(step=settings), the payload archive on the controller.
    type: raw
  rollback_src:
    description: With O(step=settings), the payload of the job to undo (rollback without a payload).
    type: raw
  rollback_peripheral:
    description: With O(step=settings), the peripheral whose newest succeeded upgrade is undone.
    type: raw
  rollback_version:
    description: With O(step=settings), a guard - only undo a job that installed this version.
    type: raw
  rollout_batches:
    description: With O(step=settings), the batches (a list, or its YAML text), default C([1, "10%", "100%"]).
    type: raw
  max_fail_percentage:
    description: With O(step=settings), stop when failed nodes in a batch exceed this percentage (default 10).
    type: raw
  max_unreachable_percentage:
    description: With O(step=settings), stop when unreachable nodes in a batch exceed this percentage (default 20).
    type: raw
  rollout_sanity_gate:
    description: With O(step=settings), whether the sanity pre-check gates nodes (default true).
    type: raw
  sanity_blocked_group:
    description: With O(step=settings), the group of nodes the sanity gate left out (default C(sanity_blocked)).
    type: raw
  rollout_post_check:
    description: With O(step=settings), whether the sanity post-check runs on upgraded nodes (default true).
    type: raw
  rollout_post_check_fail_on:
    description: With O(step=settings), post-check statuses that make a node C(post_check_failed)
      (default C([fatal, error, unreachable])).
    type: raw
  rollout_wait_timeout:
    description: With O(step=settings), M(waggle.honeycomb.upgrade)'s C(wait_timeout) (default the module's).
    type: raw
  rollout_poll_interval:
    description: With O(step=settings), M(waggle.honeycomb.upgrade)'s C(poll_interval) (default the module's).
    type: raw
  rollout_reconnect_timeout:
    description: With O(step=settings), M(waggle.honeycomb.upgrade)'s C(reconnect_timeout) (default the module's).
    type: raw
  rollout_max_resumes:
    description: With O(step=settings), M(waggle.honeycomb.upgrade)'s C(max_resumes) (default the module's).
    type: raw
notes:
  - C(docs/rollout.md) documents every setting in one table, the statuses and the steps of the playbooks.
seealso:
  - module: waggle.honeycomb.upgrade
"""

EXAMPLES = r"""
- name: Check the batch against the thresholds and publish the fleet summary so far
  waggle.honeycomb.rollout:
    step: batch_gate
  register: gate
  run_once: true

- name: Fail the nodes that did not upgrade (unreachable ones stay unreachable)
  waggle.honeycomb.rollout:
    step: node

- name: Stop the rollout, later batches are not started
  ansible.builtin.meta: end_play
  when: gate.stop
"""

RETURN = r"""
settings:
  description: With O(step=settings), the normalised settings (also the fact C(honeycomb_rollout_settings)).
  returned: with O(step=settings)
  type: dict
status:
  description: With O(step=node), the node's status.
  returned: with O(step=node)
  type: str
  sample: lost
outcome:
  description: With O(step=node), what the status means for the rollout.
  returned: with O(step=node)
  type: str
  sample: failure
stop:
  description: With O(step=pre_gate) or O(step=batch_gate), whether the rollout stops.
  returned: with O(step=pre_gate) or O(step=batch_gate)
  type: bool
gate:
  description: The gate's counts and percentages, and its reason.
  returned: with O(step=pre_gate) or O(step=batch_gate)
  type: dict
summary:
  description:
    - The fleet summary - C(result) (success, failed, stopped), C(total), C(nodes) (node to status),
      C(by_status), C(by_outcome), C(failed_nodes), C(unreachable_nodes), C(not_run_nodes), C(stopped), C(reason),
      C(line), C(payload). Also published as the custom stat C(honeycomb_rollout).
  returned: with O(step=batch_gate) or O(step=summary)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(
        step=dict(type="str", required=True, choices=["settings", "pre_gate", "node", "batch_gate", "summary"]),
        rollout_kind=dict(type="raw"), payload=dict(type="raw"), rollback_src=dict(type="raw"),
        rollback_peripheral=dict(type="raw"), rollback_version=dict(type="raw"), rollout_batches=dict(type="raw"),
        max_fail_percentage=dict(type="raw"), max_unreachable_percentage=dict(type="raw"),
        rollout_sanity_gate=dict(type="raw"), sanity_blocked_group=dict(type="raw"), rollout_post_check=dict(type="raw"),
        rollout_post_check_fail_on=dict(type="raw"), rollout_wait_timeout=dict(type="raw"),
        rollout_poll_interval=dict(type="raw"), rollout_reconnect_timeout=dict(type="raw"),
        rollout_max_resumes=dict(type="raw"),
    ), supports_check_mode=True)
    module.fail_json(msg="waggle.honeycomb.rollout runs on the controller (its action plugin); it has nothing to do "
                         "on a node")


if __name__ == "__main__":
    main()
