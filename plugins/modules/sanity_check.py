#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: sanity_check
short_description: Run Waggle sanity tests and the built-in upgrade checks on a Wild Sage node
version_added: 0.1.0
description:
  - Runs the executables C(*.test) of Waggle sanity-suite folders (by default the C(warning_tests) and
    C(fatal_tests) folders of C(/etc/waggle/sanity/config.ini), else C(/etc/waggle/sanity/warning) and
    C(/etc/waggle/sanity/fatal)), warning folders first, each folder in sorted order, with a per-test
    timeout. Like the Waggle runner, rc 0 is a pass, any other rc a failure, and a timeout or a crash
    (exception, or the test killed by a signal) counts as rc 127. Each test runs in its own process
    group, which is killed on timeout.
  - Then runs the built-in checks an upgrade needs (free space, mounts, fsck log, clock, node identity,
    reverse tunnel, k3s node, switch, cameras, C(lan0), PSU GPIO lines). A check that does not apply to
    the node is C(skipped) with a reason, never failed. Every input of every check (paths, addresses,
    commands, thresholds, severity) is a setting; C(docs/sanity.md) in the collection lists them all.
  - Returns every check's name, severity, result, rc, duration and output tail, and the node's overall
    status C(pass), C(warning) (only warning-severity checks failed) or C(fatal).
  - The module changes nothing on the node (the Waggle tests themselves are the node's own; the Waggle
    timer runs them hourly anyway).
author:
  - waggle.honeycomb developers (@waggle-sensor)
attributes:
  check_mode:
    support: full
    description: Read only; runs the same way in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  checks:
    description:
      - Built-in checks to run, C(all) or C(none), or a list of names from C(free_space_root),
        C(free_space_state), C(mounts), C(fsck_clean), C(clock_synchronized), C(node_identity),
        C(reverse_tunnel), C(k3s_node_ready), C(switch_reachable), C(cameras_http), C(lan0_up), C(psu_gpio).
    type: list
    elements: str
    default: [all]
  skip_checks:
    description: Built-in checks not to run (applied after O(checks)).
    type: list
    elements: str
    default: []
  settings:
    description:
      - Per-check settings, a mapping of check name to a mapping of setting to value, merged over the
        defaults. The first example below raises the free space needed in the state dir to 1 GiB.
      - Every check has C(severity) (C(warning) or C(fatal)). An unknown check or setting, or a value of
        the wrong type, fails the module before anything runs, naming the setting.
      - The settings of each check, their defaults and meaning are in C(docs/sanity.md).
    type: dict
    default: {}
  run_waggle_tests:
    description: Whether to run the Waggle C(*.test) executables.
    type: bool
    default: true
  test_dirs:
    description:
      - Folders of Waggle tests with their severity. Default, the C(warning_tests) and C(fatal_tests) of
        O(waggle_config), or C(/etc/waggle/sanity/warning) and C(/etc/waggle/sanity/fatal).
      - A folder that does not exist contributes no test; RV(test_dirs) says which folders were present.
      - The Waggle C(interactive) folder is never run (its tests need a person at the node).
    type: list
    elements: dict
    suboptions:
      path:
        description: Folder holding C(*.test) executables.
        type: path
        required: true
      severity:
        description: Severity of the tests of this folder.
        type: str
        required: true
        choices: [warning, fatal]
  waggle_config:
    description: The Waggle sanity C(config.ini), read for the default O(test_dirs) and O(test_timeout).
    type: path
    default: /etc/waggle/sanity/config.ini
  test_timeout:
    description:
      - Timeout of each Waggle test in seconds. Default, C(timeout_secs) of O(waggle_config), else 150.
    type: int
  output_lines:
    description: How many lines of each check's output to return.
    type: int
    default: 20
  fail_on:
    description:
      - C(none) (default) reports the node status without failing the task; C(fatal) fails the task when the
        status is C(fatal); C(warning) fails it when the status is C(warning) or C(fatal).
    type: str
    choices: [none, warning, fatal]
    default: none
notes:
  - Runs on the node with Python 3.6 or later and the standard library only.
seealso:
  - name: Waggle sanity suite
    description: The node's own sanity tests and runner.
    link: https://github.com/waggle-sensor/waggle-sanity-check
"""

EXAMPLES = r"""
- name: Check the node before an upgrade
  waggle.honeycomb.sanity_check:
    settings:
      free_space_state:
        min_free_mb: 1024
      node_identity:
        expected_node_id: "{{ waggle_node_id | default('') }}"
  register: sanity

- name: Only the built-in network checks, no Waggle tests
  waggle.honeycomb.sanity_check:
    run_waggle_tests: false
    checks: [lan0_up, switch_reachable, cameras_http]
    settings:
      cameras_http:
        addresses: [10.31.81.10, 10.31.81.11]
    fail_on: fatal

- name: Waggle tests from custom folders with a short timeout
  waggle.honeycomb.sanity_check:
    checks: none
    test_dirs:
      - path: /opt/site-tests/warning
        severity: warning
      - path: /opt/site-tests/fatal
        severity: fatal
    test_timeout: 30
"""

RETURN = r"""
status:
  description: Overall status of the node, C(pass), C(warning) or C(fatal).
  returned: always
  type: str
  sample: warning
checks:
  description: One entry per Waggle test (first, in run order) and per built-in check.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Test name (file name without C(.test)) or built-in check name.
      type: str
      sample: lan0_up
    source:
      description: C(waggle) for a test executable, C(builtin) for a built-in check.
      type: str
      sample: builtin
    severity:
      description: C(warning) or C(fatal).
      type: str
      sample: fatal
    result:
      description: C(pass), C(fail) or C(skipped).
      type: str
      sample: pass
    rc:
      description: Exit code (0 pass; 127 timeout or crash); null when skipped.
      type: int
      sample: 0
    duration:
      description: Seconds the check took.
      type: float
      sample: 0.012
    timed_out:
      description: Whether the test was killed on timeout.
      type: bool
      sample: false
    reason:
      description: Why the check failed or was skipped (empty on a plain pass).
      type: str
      sample: "no camera addresses configured"
    output:
      description: Last O(output_lines) lines of the check's output.
      type: str
      sample: "lan0 operstate up"
    path:
      description: Path of the test executable (Waggle tests only).
      type: str
      sample: /etc/waggle/sanity/fatal/lan0_status.test
totals:
  description: Counts of checks by result, failures by severity and timeouts.
  returned: always
  type: dict
  sample: {"total": 14, "pass": 11, "fail": 1, "skipped": 2, "fatal_failed": 0, "warning_failed": 1, "timed_out": 0}
failed_checks:
  description: Names of the failed checks by severity.
  returned: always
  type: dict
  sample: {"warning": ["cameras_http"], "fatal": []}
node_id:
  description: Content of the node-id file, or null when it is missing.
  returned: always
  type: str
  sample: 000048B02D0766CD
vsn:
  description: Content of the VSN file, or null when it is missing.
  returned: always
  type: str
  sample: W030
test_timeout:
  description: Per-test timeout used, in seconds.
  returned: always
  type: int
  sample: 150
test_dirs:
  description: Waggle test folders looked at, in run order, with C(present) and the number of tests (C(count)).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/waggle/sanity/warning", "severity": "warning", "present": true, "count": 3}]
duration:
  description: Seconds the whole run took.
  returned: always
  type: float
  sample: 4.2
python:
  description: Python version the module ran with on the node.
  returned: always
  type: str
  sample: 3.6.9
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity.checks import SettingsError
from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity.suite import run_suite


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type="list", elements="str", default=["all"]),
            skip_checks=dict(type="list", elements="str", default=[]),
            settings=dict(type="dict", default={}),
            run_waggle_tests=dict(type="bool", default=True),
            test_dirs=dict(type="list", elements="dict", options=dict(
                path=dict(type="path", required=True),
                severity=dict(type="str", required=True, choices=["warning", "fatal"]),
            )),
            waggle_config=dict(type="path", default="/etc/waggle/sanity/config.ini"),
            test_timeout=dict(type="int"),
            output_lines=dict(type="int", default=20),
            fail_on=dict(type="str", choices=["none", "warning", "fatal"], default="none"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["test_timeout"] is not None and params["test_timeout"] <= 0:
        module.fail_json(msg="test_timeout must be a positive number of seconds, got %d" % params["test_timeout"])
    if params["output_lines"] < 0:
        module.fail_json(msg="output_lines must be 0 or more, got %d" % params["output_lines"])
    try:
        result = run_suite(
            checks=params["checks"],
            skip_checks=params["skip_checks"],
            settings=params["settings"],
            run_waggle_tests=params["run_waggle_tests"],
            test_dirs=params["test_dirs"],
            waggle_config=params["waggle_config"],
            test_timeout=params["test_timeout"],
            output_lines=params["output_lines"],
        )
    except SettingsError as exc:
        module.fail_json(msg="%s. Fix the module arguments (see docs/sanity.md for every check's settings)." % exc)

    result["changed"] = False
    fail_on = params["fail_on"]
    if fail_on != "none" and (result["status"] == "fatal" or (fail_on == "warning" and result["status"] == "warning")):
        names = result["failed_checks"]["fatal"] + (result["failed_checks"]["warning"] if fail_on == "warning" else [])
        module.fail_json(msg="sanity status %s: failed %s" % (result["status"], ", ".join(names)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
