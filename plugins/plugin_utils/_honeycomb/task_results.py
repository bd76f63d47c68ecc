# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's callback plugins (fleet_report, beekeeper_log) share about Ansible's task
results (controller only): how to open one on every supported ansible-core, and which ``v2_runner_on_*``
events mean that a task finished on a host.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def task_result_parts(result):
    """(host, task, result dict) of a callback's task result: ansible-core >= 2.19 passes a
    CallbackTaskResult with public attributes, 2.16-2.18 a TaskResult with private ones (and 2.16 is
    the core that drives the Python 3.6 of real nodes)."""
    if hasattr(result, 'host'):
        return result.host, result.task, result.result
    return result._host, result._task, result._result


class FinishedTaskEvents(object):
    """Mix-in for a callback (listed before ``CallbackBase``) that routes every event of a task that
    finished on a host, ok, failed or unreachable, synchronous or async, to ``self._handle(result, state,
    ignore_errors=False)`` with ``state`` one of ``ok``, ``failed`` and ``unreachable``. A skipped task is
    not routed: a callback that wants it defines ``v2_runner_on_skipped`` itself."""

    def _handle(self, result, state, ignore_errors=False):
        raise NotImplementedError('%s must define _handle(result, state, ignore_errors=False)'
                                  % type(self).__name__)

    def v2_runner_on_ok(self, result):
        self._handle(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._handle(result, 'failed', ignore_errors=ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._handle(result, 'unreachable')

    def v2_runner_on_async_ok(self, result):
        self._handle(result, 'ok')

    def v2_runner_on_async_failed(self, result):
        self._handle(result, 'failed')
