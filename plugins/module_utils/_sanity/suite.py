# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a whole sanity pass on a node: Waggle test folders, then the built-in checks, and the
aggregation into an overall status (node side, Python 3.6+, stdlib only)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time
import traceback

try:
    import configparser
except ImportError:  # pragma: no cover
    configparser = None

from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity import checks as builtin
from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity.runner import (
    SEVERITIES, TIMEOUT_RC, discover_tests, run_test, tail)

DEFAULT_TEST_TIMEOUT = 150
WAGGLE_CONFIG = "/etc/waggle/sanity/config.ini"
WAGGLE_DIRS = [{"path": "/etc/waggle/sanity/warning", "severity": "warning"},
               {"path": "/etc/waggle/sanity/fatal", "severity": "fatal"}]

STATUS_ORDER = {"pass": 0, "warning": 1, "fatal": 2}


def read_waggle_config(path):
    """([{path, severity}] or None, timeout or None) from the ``[all]`` section of the Waggle
    sanity ``config.ini`` (``warning_tests``, ``fatal_tests``, ``timeout_secs``)."""
    if not path or configparser is None or not os.path.isfile(path):
        return None, None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error:
        return None, None
    if not parser.has_section("all"):
        return None, None
    dirs = []
    for severity in SEVERITIES:
        value = parser.get("all", "%s_tests" % severity, fallback="").strip()
        if value:
            dirs.append({"path": value, "severity": severity})
    timeout = None
    raw = parser.get("all", "timeout_secs", fallback="").strip()
    if raw.isdigit() and int(raw) > 0:
        timeout = int(raw)
    return (dirs or None), timeout


def overall_status(results):
    """fatal if a fatal-severity check failed, warning if a warning-severity one did, else pass."""
    status = "pass"
    for item in results:
        if item["result"] != "fail":
            continue
        candidate = "fatal" if item["severity"] == "fatal" else "warning"
        if STATUS_ORDER[candidate] > STATUS_ORDER[status]:
            status = candidate
    return status


def totals(results):
    counts = {"total": len(results), "pass": 0, "fail": 0, "skipped": 0, "fatal_failed": 0, "warning_failed": 0,
              "timed_out": 0}
    for item in results:
        counts[item["result"]] += 1
        if item["result"] == "fail":
            counts["%s_failed" % item["severity"]] += 1
        if item.get("timed_out"):
            counts["timed_out"] += 1
    return counts


def run_builtin(name, cfg, ctx, output_lines):
    started = time.time()
    try:
        outcome = builtin.CHECK_FUNCS[name](cfg, ctx)
    except Exception as exc:  # a check that crashes counts as 127, as in the Waggle runner
        outcome = builtin.Outcome(builtin.FAIL, TIMEOUT_RC, traceback.format_exc(),
                                  "check raised %s: %s" % (exc.__class__.__name__, exc))
    return {
        "name": name,
        "source": "builtin",
        "severity": cfg["severity"],
        "result": outcome.result,
        "rc": outcome.rc,
        "duration": round(time.time() - started, 3),
        "timed_out": False,
        "reason": outcome.reason,
        "output": tail(outcome.output, output_lines),
    }


def run_suite(checks=None, skip_checks=None, settings=None, run_waggle_tests=True, test_dirs=None,
              waggle_config=WAGGLE_CONFIG, test_timeout=None, output_lines=20, ctx=None):
    """Run the selected checks and return the module result (without ``changed``).

    Raises builtin.SettingsError for bad settings, before anything runs.
    """
    resolved = builtin.resolve_settings(settings)
    selected = builtin.select_checks(checks if checks is not None else ["all"], skip_checks)
    ctx = ctx or builtin.Context()

    config_dirs, config_timeout = read_waggle_config(waggle_config)
    if test_dirs is None:
        test_dirs = config_dirs or WAGGLE_DIRS
    for folder in test_dirs:
        if folder.get("severity") not in SEVERITIES:
            raise builtin.SettingsError("test_dirs: severity of %s must be warning or fatal, got %r"
                                        % (folder.get("path"), folder.get("severity")))
    timeout = test_timeout or config_timeout or DEFAULT_TEST_TIMEOUT

    results = []
    folders = []
    started = time.time()
    if run_waggle_tests:
        tests, folders = discover_tests(test_dirs)
        for test in tests:
            results.append(run_test(test, timeout, output_lines))
    for name in selected:
        results.append(run_builtin(name, resolved[name], ctx, output_lines))

    node_id = builtin.read_identity(resolved["node_identity"]["node_id_file"])
    vsn = builtin.read_identity(resolved["node_identity"]["vsn_file"])
    status = overall_status(results)
    failed_names = dict((sev, [r["name"] for r in results if r["result"] == "fail" and r["severity"] == sev])
                        for sev in SEVERITIES)
    return {
        "status": status,
        "checks": results,
        "totals": totals(results),
        "failed_checks": failed_names,
        "node_id": node_id,
        "vsn": vsn,
        "test_timeout": timeout,
        "test_dirs": folders,
        "duration": round(time.time() - started, 3),
        "python": builtin.python_version(),
    }
