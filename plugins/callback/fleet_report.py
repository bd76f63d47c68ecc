# -*- coding: utf-8 -*-
# Copyright (c) waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_report
type: aggregate
short_description: Fleet rollout report (JSON, JUnit XML, HTML timeline) and console progress
description:
  - Collects the results of C(waggle.honeycomb.upgrade) tasks (also when they run with C(async) and
    are collected with C(ansible.builtin.async_status)), unreachable nodes and failed tasks, and
    writes one report per playbook run into O(output_dir)/<run id>/
    C(report.json) (per node status, phases with their start and finish times and durations, versions,
    unreachable),
    C(junit.xml) (one test case per node, for CI systems),
    C(report.html) (self-contained page with the fleet summary and a per-node phase timeline drawn as
    inline SVG, phases placed by the start and finish times the engine reports, shifted into the task's
    window when the node's clock is off).
  - Every node is classified by the collection's status model (docs/rollout.md, Statuses and outcomes), the
    same as the C(waggle.honeycomb.rollout_gate) and C(waggle.honeycomb.rollout_summary) filters the rollout
    playbooks use; the report's C(summary) is that of C(waggle.honeycomb.rollout_summary).
  - The callback publishes nothing with C(set_stats) (AWX reads the stats before aggregate callbacks run);
    the rollout playbooks publish the fleet summary for AWX as C(honeycomb_rollout).
  - While the playbook runs it prints progress lines (batch x of y, nodes done, failed, unreachable).
  - Playbooks annotate the report by setting facts; a fact C(fleet_report) (a dict) is merged into
    the node's entry (for example C(status=sanity_blocked) and C(reason) for nodes left out by the sanity
    gate, C(versions_before), C(versions_after)); its C(status) must be one of the status model's (an unknown
    one is reported as C(failed)). A fact C(fleet_report_run) (a dict) is merged into the run entry (for
    example C(kind), C(stopped), C(reason), C(payload)).
  - A run writes a report only if it ran an upgrade task or set one of the facts above, unless
    O(always_write) is set.
version_added: 0.1.0
requirements:
  - enable in configuration, for example C(callbacks_enabled = waggle.honeycomb.fleet_report) in the
    C([defaults]) section of C(ansible.cfg) or C(ANSIBLE_CALLBACKS_ENABLED=waggle.honeycomb.fleet_report)
options:
  output_dir:
    description:
      - Directory the per-run report directories are written to.
      - When unset, C($AWX_ISOLATED_DATA_DIR/fleet_report) is used under ansible-runner and AWX (so the
        reports land among the job artifacts), otherwise C(~/.ansible/fleet_reports).
    type: path
    env:
      - name: HONEYCOMB_FLEET_REPORT_DIR
    ini:
      - section: callback_fleet_report
        key: output_dir
  progress:
    description: Print progress lines on the console while the playbook runs.
    type: bool
    default: true
    env:
      - name: HONEYCOMB_FLEET_REPORT_PROGRESS
    ini:
      - section: callback_fleet_report
        key: progress
  always_write:
    description: Write a report for every playbook run, even one that ran no upgrade.
    type: bool
    default: false
    env:
      - name: HONEYCOMB_FLEET_REPORT_ALWAYS
    ini:
      - section: callback_fleet_report
        key: always_write
"""

import os
import time

from ansible.plugins.callback import CallbackBase

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report.html import fmt_seconds
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report.model import FleetRun
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report.model import is_upgrade_result
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report.model import write_report
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb.task_results import FinishedTaskEvents
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb.task_results import task_result_parts

PROGRESS_COLORS = {st.SUCCESS: 'green', st.PENDING: 'yellow', st.SKIPPED: None, st.UNREACHABLE: 'magenta',
                   st.FAILURE: 'red'}


class CallbackModule(FinishedTaskEvents, CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'waggle.honeycomb.fleet_report'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.run = FleetRun()
        self._starts = {}
        self._last_progress = None
        self.report_dir = None

    # -- options ---------------------------------------------------------------------------------
    def _output_dir(self):
        configured = self.get_option('output_dir')
        if configured:
            return os.path.expanduser(configured)
        awx = os.environ.get('AWX_ISOLATED_DATA_DIR')
        if awx:
            return os.path.join(awx, 'fleet_report')
        return os.path.expanduser('~/.ansible/fleet_reports')

    def _progress(self, msg, color=None):
        if self.get_option('progress'):
            self._display.display('[fleet] %s' % msg, color=color)

    # -- playbook events -------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self.run = FleetRun(playbook=getattr(playbook, '_file_name', None))

    def v2_playbook_on_play_start(self, play):
        now = time.time()
        name = play.get_name()
        all_hosts, batch_hosts = [], []
        try:
            inventory = play.get_variable_manager()._inventory
            batch_hosts = [h.name for h in inventory.get_hosts(play.hosts, order=play.order)]
            all_hosts = [h.name for h in inventory.get_hosts(play.hosts, ignore_restrictions=True, order=play.order)]
        except Exception:  # pylint: disable=broad-except  # progress must never break a run
            pass
        serial = play.serial if isinstance(play.serial, list) else ([play.serial] if play.serial else [])
        prev = self.run.current_batch()
        if prev is not None:
            self._batch_done_line(prev)
        entry = self.run.play_start(name, play._uuid, all_hosts, serial, batch_hosts, now)
        if entry is not None:
            shown = ', '.join(entry['hosts'][:8]) + (' ...' if len(entry['hosts']) > 8 else '')
            self._progress('%s: batch %d of %d, %d node(s): %s'
                           % (name, entry['index'], entry['total'], len(entry['hosts']), shown))

    def _counts(self, names=None):
        """Nodes per outcome (done = success) so far, of ``names`` or of the whole run."""
        rep = {'done': 0, 'failed': 0, 'unreachable': 0, 'pending': 0, 'skipped': 0}
        key = {st.SUCCESS: 'done', st.FAILURE: 'failed', st.UNREACHABLE: 'unreachable', st.PENDING: 'pending',
               st.SKIPPED: 'skipped'}
        kind = self.run.kind()
        for name in (names if names is not None else self.run.order):
            n = self.run.nodes.get(name)
            if n is not None:
                rep[key[st.outcome(self.run.node_status(n), kind)]] += 1
        return rep

    def _batch_done_line(self, batch):
        b = self._counts(batch['hosts'])
        f = self._counts()
        self._progress('batch %d of %d finished: %d done, %d failed, %d unreachable; fleet: %d/%d done, '
                       '%d failed, %d unreachable'
                       % (batch['index'], batch['total'], b['done'], b['failed'], b['unreachable'],
                          f['done'], len(self.run.order), f['failed'], f['unreachable']))

    def v2_runner_on_start(self, host, task):
        now = time.time()
        self._starts[(host.get_name(), task._uuid)] = now
        self.run.task_start(host.get_name(), now)

    def _handle(self, result, state, ignore_errors=False):
        now = time.time()
        host, task, res = task_result_parts(result)
        host = host.get_name()
        start = self._starts.pop((host, task._uuid), None)
        action = getattr(task, 'resolved_action', None) or task.action
        was_unreachable = self.run.nodes.get(host, {}).get('unreachable')
        local = None
        if getattr(task, 'delegate_to', None):
            local = True
        self.run.record(host, task.get_name(), action, res, state, start, now, ignore_errors=ignore_errors,
                        local=local)
        n = self.run.nodes[host]
        batch = self.run.current_batch()
        where = ' (batch %d/%d)' % (batch['index'], batch['total']) if batch and batch['total'] > 1 else ''
        if is_upgrade_result(res):
            f = self._counts()
            took = (n['upgrade_finished'] - n['upgrade_started']) if n['upgrade_started'] else None
            self._progress('%s: %s%s%s; fleet: %d/%d done, %d failed, %d unreachable'
                           % (host, n['status'], ' in %s' % fmt_seconds(took) if took else '', where,
                              f['done'], len(self.run.order), f['failed'], f['unreachable']),
                           color=PROGRESS_COLORS[st.outcome(self.run.node_status(n), self.run.kind())])
        elif state == 'unreachable' and not was_unreachable:
            f = self._counts()
            self._progress('%s: unreachable%s; fleet: %d/%d done, %d failed, %d unreachable'
                           % (host, where, f['done'], len(self.run.order), f['failed'], f['unreachable']),
                           color='magenta')

    # ok, failed and unreachable results (also async) come to _handle through FinishedTaskEvents
    def v2_runner_on_skipped(self, result):
        self._handle(result, 'skipped')

    def v2_playbook_on_stats(self, stats):
        now = time.time()
        prev = self.run.current_batch()
        if prev is not None:
            self._batch_done_line(prev)
        dark = [h for h, c in getattr(stats, 'dark', {}).items() if c]
        failures = [h for h, c in getattr(stats, 'failures', {}).items() if c]
        self.run.finish(now, dark=dark, failures=failures)
        if not (self.run.saw_fleet_activity or self.get_option('always_write')):
            return
        try:
            run_dir, report = write_report(self.run, self._output_dir())
        except (OSError, ValueError) as e:
            self._display.warning('fleet_report: could not write the report into %s: %s. Set '
                                  'HONEYCOMB_FLEET_REPORT_DIR to a writable directory.' % (self._output_dir(), e))
            return
        self.report_dir = run_dir
        summary = report['summary']
        self._progress(summary['line'], color='green' if summary['success'] else 'red')
        self._progress('report: %s' % os.path.join(run_dir, 'report.html'))
