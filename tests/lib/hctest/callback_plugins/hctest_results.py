# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: append every task result as one JSON line to $HCTEST_RESULTS_FILE.

Loaded by hctest.playbook through ANSIBLE_CALLBACK_PLUGINS / ANSIBLE_CALLBACKS_ENABLED; works with
ansible-core 2.16 and 2.21.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: hctest_results
type: aggregate
short_description: write task results as JSON lines for tests
description: Writes one JSON object per task result to the file named by HCTEST_RESULTS_FILE.
"""


def _plain(value):
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hctest_results"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, status):
        path = os.environ.get("HCTEST_RESULTS_FILE")
        if not path:
            return
        data = getattr(result, "result", None)
        if not isinstance(data, dict):
            data = getattr(result, "_result", {})
        task = getattr(result, "task", None) or getattr(result, "_task", None)
        host = getattr(result, "host", None) or getattr(result, "_host", None)
        record = {"task": task.get_name() if task else None, "host": host.get_name() if host else None,
                  "status": status, "result": _plain(dict(data)), "time": time.time()}
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def v2_runner_on_ok(self, result, **kwargs):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._write(result, "failed")

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._write(result, "unreachable")

    def v2_runner_on_skipped(self, result, **kwargs):
        self._write(result, "skipped")
