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
    window when the node's clock is off) and C(set_stats.json) (the run summary in the shape of C(ansible.builtin.set_stats)
    data, for AWX workflows).
  - The same summary is added to the run's custom stats under C(honeycomb_fleet_report).
  - While the playbook runs it prints progress lines (batch x of y, nodes done, failed, unreachable).
  - Playbooks annotate the report by setting facts; a fact C(fleet_report) (a dict) is merged into
    the node's entry (for example C(status=excluded) and C(reason) for nodes left out by the sanity
    gate, C(versions_before), C(versions_after)); a fact C(fleet_report_run) (a dict) is merged into the
    run entry (for example C(kind), C(stopped), C(reason), C(payload)).
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

import datetime
import html
import json
import os
import re
import tempfile
import time
import xml.etree.ElementTree as ET

from ansible.plugins.callback import CallbackBase

UPGRADE_STATUSES = ('applied', 'already_applied', 'retry_later', 'failed', 'rolled_back',
                    'rollback_failed', 'inconsistent')
PHASE_ORDER = ('state_check', 'install', 'verify', 'rollback')

# outcome classes: what a status means for the rollout
SUCCESS = ('applied', 'already_applied', 'ok')
FAILURE = ('failed', 'rolled_back', 'rollback_failed', 'inconsistent')
PENDING = ('retry_later',)
SKIPPED = ('excluded', 'not_started', 'skipped')

COLORS = {
    'applied': '#2e9d4a', 'already_applied': '#7cc08b', 'ok': '#7cc08b',
    'retry_later': '#e0a526', 'failed': '#d64541', 'rolled_back': '#e07a3f',
    'rollback_failed': '#8e1b17', 'inconsistent': '#8e1b17', 'unreachable': '#6b4ea0',
    'excluded': '#8a8f98', 'not_started': '#c9ccd1', 'skipped': '#c9ccd1',
}
PHASE_COLORS = {
    'transfer': '#9bb7d4', 'state_check': '#4a90d9', 'install': '#f0a02c',
    'verify': '#38a169', 'rollback': '#d64541',
}
TASK_COLOR = '#d5d9de'
UPGRADE_SPAN_COLOR = '#dbe7f5'
# the controller itself: summary plays run there; it is not a node of the fleet
LOCAL_NAMES = ('localhost', '127.0.0.1', '::1')
# actions that run on the controller only: their success does not mean that the node answered
LOCAL_ACTIONS = frozenset(('set_fact', 'debug', 'assert', 'fail', 'set_stats', 'group_by', 'add_host', 'meta',
                           'include_tasks', 'import_tasks', 'include_role', 'import_role', 'include_vars',
                           'pause', 'stat_local', 'validate_argument_spec', 'noop'))


def outcome_of(status, kind='upgrade'):
    """Classify a node status as success, failure, unreachable, pending or skipped."""
    if kind == 'rollback' and status == 'rolled_back':
        return 'success'
    if status in SUCCESS:
        return 'success'
    if status in FAILURE:
        return 'failure'
    if status == 'unreachable':
        return 'unreachable'
    if status in PENDING:
        return 'pending'
    return 'skipped'


def _num(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:
                return datetime.datetime.fromisoformat(value.replace('Z', '+00:00')).timestamp()
            except ValueError:
                return None
    return None


def _iso(ts):
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec='milliseconds')


def _pct_to_int(value, total):
    """Same rule as ansible.utils.helpers.pct_to_int (percentages round down, at least 1)."""
    if isinstance(value, str) and value.endswith('%'):
        v = int(float(value[:-1]) / 100.0 * total)
        return max(v, 1) if total else 0
    return int(value)


def serial_batches(hosts, serial):
    """Split hosts into batches the way PlaybookExecutor._get_serialized_batches does."""
    hosts = list(hosts)
    total = len(hosts)
    serial = list(serial or [])
    if not serial:
        serial = [-1]
    batches = []
    i = 0
    while hosts:
        size = _pct_to_int(serial[min(i, len(serial) - 1)], total)
        if size <= 0:
            batches.append(hosts)
            break
        batches.append(hosts[:size])
        hosts = hosts[size:]
        i += 1
    return batches


class FleetRun(object):
    """Everything the report knows about one playbook run; independent of Ansible objects."""

    def __init__(self, playbook=None, now=None):
        self.playbook = playbook
        self.started = now if now is not None else time.time()
        self.finished = None
        self.nodes = {}
        self.order = []
        self.plays = []        # [{name, uuid, batches: [[hosts]], current}]
        self.batches = []      # [{play, index, total, hosts, started, finished}]
        self.annotations = {}  # from fleet_report_run facts
        self.current = None    # batch entry of the serial play that is running
        self.saw_fleet_activity = False

    # -- nodes -----------------------------------------------------------------------------------
    def node(self, name):
        if name not in self.nodes:
            self.nodes[name] = {
                'name': name, 'status': None, 'batch': None, 'unreachable': False,
                'unreachable_msg': None, 'seen': False, 'started': None, 'finished': None,
                'phases': [], 'installed_version': None, 'previous_version': None,
                'job_id': None, 'payload_bytes_sent': None, 'payload': None,
                'upgrade_started': None, 'upgrade_finished': None, 'failed_task': None,
                'msg': None, 'tasks': [], 'annotations': {},
            }
            self.order.append(name)
        return self.nodes[name]

    def add_expected(self, names):
        for name in names:
            self.node(name)

    # -- batches ---------------------------------------------------------------------------------
    def play_start(self, name, uuid, all_hosts, serial, batch_hosts, now):
        """A play (or the next batch of a serial play) starts; returns the batch entry or None.

        Only plays with ``serial`` have batches; other plays (a sanity gate, a summary on localhost)
        only close the batch that was running.
        """
        self.close_batch(now)
        self.current = None
        for h in (all_hosts or batch_hosts):
            if h not in LOCAL_NAMES:
                self.node(h)
        if not serial:
            return None
        play = None
        for p in self.plays:
            if p['uuid'] == uuid:
                play = p
        if play is None:
            batches = serial_batches(all_hosts, serial) if all_hosts else [list(batch_hosts)]
            play = {'name': name, 'uuid': uuid, 'batches': batches, 'current': 0}
            self.plays.append(play)
        else:
            play['current'] += 1
        index = play['current'] + 1
        total = max(len(play['batches']), index)
        entry = {'play': name, 'index': index, 'total': total, 'hosts': list(batch_hosts),
                 'started': now, 'finished': None}
        self.batches.append(entry)
        self.current = entry
        for h in batch_hosts:
            n = self.node(h)
            if n['batch'] is None:
                n['batch'] = index
        return entry

    def close_batch(self, now):
        if self.batches and self.batches[-1]['finished'] is None:
            self.batches[-1]['finished'] = now

    def current_batch(self):
        return self.current

    # -- results ---------------------------------------------------------------------------------
    def task_start(self, host, now):
        n = self.node(host)
        n['seen'] = True
        if n['started'] is None:
            n['started'] = now

    def record(self, host, task_name, action, result, state, start, now, ignore_errors=False, local=None):
        """Record one task result; state is ok, failed, skipped or unreachable.

        ``local`` tells that the task ran on the controller (delegated or a controller-only action), so
        its success says nothing about the node being reachable; by default it is guessed from the action.
        """
        if local is None:
            local = bool(action) and action.split('.')[-1] in LOCAL_ACTIONS
        n = self.node(host)
        n['seen'] = True
        if n['started'] is None:
            n['started'] = start if start is not None else now
        n['finished'] = now
        result = result if isinstance(result, dict) else {}
        if len(n['tasks']) < 500:
            n['tasks'].append({'name': task_name, 'action': action, 'state': state,
                               'start': start if start is not None else now, 'end': now})
        facts = result.get('ansible_facts') or {}
        if isinstance(facts, dict):
            if isinstance(facts.get('fleet_report'), dict):
                self.saw_fleet_activity = True
                n['annotations'].update(facts['fleet_report'])
            if isinstance(facts.get('fleet_report_run'), dict):
                self.saw_fleet_activity = True
                self.annotations.update(facts['fleet_report_run'])
        if state == 'unreachable':
            n['unreachable'] = True
            n['unreachable_msg'] = result.get('msg')
            return
        if state == 'ok' and n['unreachable'] and n['status'] is None and not local:
            # the node answered again (a tunnel that dropped and reconnected)
            n['unreachable'] = False
        if result.get('ansible_job_id') and result.get('started') and not result.get('finished') \
                and _is_upgrade_action(action):
            self.saw_fleet_activity = True
            n['upgrade_started'] = start if start is not None else now
            n['job_id'] = n['job_id'] or result.get('ansible_job_id')
            return
        if _is_upgrade_result(result):
            self.saw_fleet_activity = True
            self._record_upgrade(n, result, start, now)
            return
        if _is_upgrade_action(action) and state == 'failed':
            # the action failed before the engine produced a status (bad payload, no space...)
            self.saw_fleet_activity = True
            n['upgrade_started'] = n['upgrade_started'] or start
            n['upgrade_finished'] = now
            n['status'] = n['status'] or 'failed'
        if state == 'failed' and not ignore_errors:
            if n['failed_task'] is None:
                n['failed_task'] = task_name
                n['msg'] = _short_msg(result)

    def _record_upgrade(self, n, result, start, now):
        n['status'] = result['status']
        n['upgrade_finished'] = now
        if n['upgrade_started'] is None:
            n['upgrade_started'] = start if start is not None else now
        for key in ('installed_version', 'previous_version', 'job_id', 'payload_bytes_sent'):
            if result.get(key) is not None:
                n[key] = result[key]
        payload = result.get('payload')
        if isinstance(payload, dict):
            n['payload'] = {k: payload.get(k) for k in ('name', 'version', 'peripheral', 'sha256')
                            if payload.get(k) is not None}
        elif result.get('name') or result.get('version'):
            n['payload'] = {k: result.get(k) for k in ('name', 'version', 'peripheral')
                            if result.get(k) is not None}
        if result['status'] in FAILURE and not n['msg']:
            n['msg'] = _short_msg(result)
        n['phases'], n['clock_shift'] = self._layout_phases(result.get('phases') or {}, n['upgrade_started'], now,
                                                            result.get('transfer_duration'))

    @staticmethod
    def _phase_times(info):
        """(start, end) epoch seconds a phase result carries (the engine's started_epoch/finished_epoch,
        or started/finished, start/end, started_at/finished_at as epoch seconds or ISO 8601); None
        for what is missing or not an absolute time."""
        found = []
        for keys in (('started_epoch', 'started', 'start', 'started_at', 'start_time'),
                     ('finished_epoch', 'finished', 'end', 'finished_at', 'end_time')):
            value = None
            for k in keys:
                value = value if value is not None else _num(info.get(k))
            found.append(value if value is not None and value >= 1e8 else None)
        return found[0], found[1]

    @classmethod
    def _clock_shift(cls, phases, upgrade_start, now):
        """Seconds to add to the node's phase times so that they fall inside the controller's window
        of the upgrade task ([upgrade_start, now]): 0 unless the node's clock disagrees with the
        controller's by more than the phases leave room for (nodes in the field may run with a wrong
        clock)."""
        times = [cls._phase_times(info) for info in phases.values() if isinstance(info, dict)]
        starts = [t[0] for t in times if t[0] is not None]
        ends = [t[1] for t in times if t[1] is not None] or starts
        if not starts or upgrade_start is None:
            return 0.0
        first, last = min(starts), max(ends)
        if first < upgrade_start:
            return upgrade_start - first
        if last > now:
            return max(now - last, upgrade_start - first)
        return 0.0

    @classmethod
    def _layout_phases(cls, phases, upgrade_start, now, transfer_duration):
        """Turn the engine's phases dict into a list with absolute start/end times (controller clock),
        and the clock shift applied to the node's times.

        Phases that carry their own timestamps (see :meth:`_phase_times`) are drawn where they ran,
        shifted as a whole into the upgrade task's window when the node's clock disagrees with the
        controller's (:meth:`_clock_shift`); the others are laid out one after the other from the
        start of the upgrade task (after the payload transfer when its duration is known), or after
        the previous phase.
        """
        out = []
        shift = cls._clock_shift(phases, upgrade_start, now)
        cursor = upgrade_start if upgrade_start is not None else now
        transfer = _num(transfer_duration)
        if transfer:
            out.append({'name': 'transfer', 'duration': transfer, 'start': cursor,
                        'end': cursor + transfer, 'rc': None, 'attempts': None})
            cursor += transfer
        names = [p for p in PHASE_ORDER if p in phases] + sorted(p for p in phases if p not in PHASE_ORDER)
        for name in names:
            info = phases.get(name)
            if not isinstance(info, dict):
                continue
            if info.get('skipped') or info.get('ran') is False:
                continue
            node_start, node_end = cls._phase_times(info)
            start = node_start + shift if node_start is not None else None
            end = node_end + shift if node_end is not None else None
            duration = _num(info.get('duration'))
            if duration is None and start is not None and end is not None:
                duration = max(end - start, 0.0)
            if start is None:
                start = cursor
            if end is None:
                end = start + (duration or 0.0)
            if duration is None:
                duration = max(end - start, 0.0)
            entry = {'name': name, 'duration': round(duration, 3), 'start': start, 'end': end,
                     'timed': node_start is not None}
            if node_start is not None:
                entry['node_started'] = _iso(node_start)
            if node_end is not None:
                entry['node_finished'] = _iso(node_end)
            for k in ('rc', 'attempts', 'timed_out', 'result', 'status'):
                if k in info:
                    entry[k] = info[k]
            out.append(entry)
            cursor = max(cursor, end)
        return out, round(shift, 3)

    # -- final state -----------------------------------------------------------------------------
    def finish(self, now, dark=None, failures=None):
        self.finished = now
        self.close_batch(now)
        for name in (dark or ()):
            self.node(name)['unreachable'] = True
        for name in (failures or ()):
            n = self.node(name)
            if n['status'] is None and n['failed_task'] is None:
                n['failed_task'] = '(failed)'

    def node_status(self, n):
        ann = n['annotations'].get('status')
        if ann:
            return ann
        if n['status']:
            return n['status']
        if n['unreachable']:
            return 'unreachable'
        if n['failed_task']:
            return 'failed'
        if n['seen'] and not (self.batches and n['batch'] is None):
            return 'ok'
        # never reached, or (in a run with a serial rollout play) never part of a batch
        return 'not_started'

    def kind(self):
        return self.annotations.get('kind', 'upgrade')

    def to_dict(self):
        kind = self.kind()
        nodes = []
        by_status = {}
        by_outcome = {'success': 0, 'failure': 0, 'unreachable': 0, 'pending': 0, 'skipped': 0}
        for name in self.order:
            n = self.nodes[name]
            if name in LOCAL_NAMES and not n['status'] and not n['annotations']:
                continue
            status = self.node_status(n)
            outcome = outcome_of(status, kind)
            by_status[status] = by_status.get(status, 0) + 1
            by_outcome[outcome] += 1
            duration = None
            if n['started'] is not None and n['finished'] is not None:
                duration = round(n['finished'] - n['started'], 3)
            entry = {
                'name': name, 'status': status, 'outcome': outcome, 'batch': n['batch'],
                'unreachable': bool(n['unreachable']) or status == 'unreachable',
                'unreachable_msg': n['unreachable_msg'],
                'started': _iso(n['started']), 'finished': _iso(n['finished']),
                'offset': round(n['started'] - self.started, 3) if n['started'] is not None else None,
                'duration': duration,
                'upgrade_duration': (round(n['upgrade_finished'] - n['upgrade_started'], 3)
                                     if n['upgrade_started'] and n['upgrade_finished'] else None),
                'phases': [
                    _phase_entry(p, self.started) for p in n['phases']
                ],
                'installed_version': n['installed_version'],
                'previous_version': n['previous_version'] or n['annotations'].get('previous_version'),
                'job_id': n['job_id'], 'payload_bytes_sent': n['payload_bytes_sent'],
                'payload': n['payload'], 'failed_task': n['failed_task'], 'msg': n['msg'],
                'upgrade_offset': (round(n['upgrade_started'] - self.started, 3)
                                   if n['upgrade_started'] else None),
                'clock_shift': n.get('clock_shift') or None,
                'tasks': [[round(t['start'] - self.started, 3), round(t['end'] - t['start'], 3), t['name'], t['state']]
                          for t in n['tasks']],
            }
            extra = dict(n['annotations'])
            extra.pop('status', None)
            extra.pop('previous_version', None)
            if extra:
                entry['annotations'] = extra
            nodes.append(entry)
        unreachable = [e['name'] for e in nodes if e['status'] == 'unreachable']
        failed = [e['name'] for e in nodes if e['outcome'] == 'failure']
        not_started = [e['name'] for e in nodes if e['status'] == 'not_started']
        stopped = bool(self.annotations.get('stopped')) or bool(not_started and (failed or unreachable))
        reason = self.annotations.get('reason')
        if stopped and not reason:
            last = self.batches[-1] if self.batches else None
            where = ' after batch %d of %d' % (last['index'], last['total']) if last else ''
            reason = 'rollout stopped%s: %d failed, %d unreachable, %d nodes not started' % (
                where, len(failed), len(unreachable), len(not_started))
        if stopped:
            result = 'stopped'
        elif failed or unreachable:
            result = 'failed'
        else:
            result = 'success'
        payload = self.annotations.get('payload')
        if payload is None:
            for e in nodes:
                if e['payload']:
                    payload = e['payload']
                    break
        return {
            'schema': 'waggle.honeycomb.fleet_report/1',
            'kind': kind,
            'playbook': self.playbook,
            'payload': payload,
            'started': _iso(self.started), 'finished': _iso(self.finished),
            'duration': round((self.finished or time.time()) - self.started, 3),
            'result': result,
            'stopped': stopped,
            'reason': reason,
            'summary': {
                'total': len(nodes), 'by_status': by_status, 'by_outcome': by_outcome,
                'failed_nodes': failed, 'unreachable_nodes': unreachable,
                'not_started_nodes': not_started,
            },
            'batches': [
                {'play': b['play'], 'index': b['index'], 'total': b['total'], 'hosts': b['hosts'],
                 'started': _iso(b['started']), 'finished': _iso(b['finished']),
                 'offset': round(b['started'] - self.started, 3),
                 'duration': round((b['finished'] or b['started']) - b['started'], 3)}
                for b in self.batches
            ],
            'annotations': dict((k, v) for k, v in self.annotations.items()
                                if k not in ('kind', 'stopped', 'reason', 'payload')),
            'nodes': nodes,
        }


def _phase_entry(phase, origin):
    """A phase in report.json: ``offset`` from the start of the run and ``started``/``finished`` (UTC ISO
    8601) where it is drawn, on the controller's clock; ``node_started``/``node_finished`` as the node
    reported them; ``timed`` whether the node reported them (else placed from durations)."""
    entry = dict((k, v) for k, v in phase.items() if k not in ('start', 'end'))
    entry['offset'] = round(phase['start'] - origin, 3)
    entry['started'] = _iso(phase['start'])
    entry['finished'] = _iso(phase['end'])
    return entry


def _task_result_parts(result):
    """(host, task, result dict) of a callback's task result: ansible-core >= 2.19 passes a
    CallbackTaskResult with public attributes, 2.16-2.18 a TaskResult with private ones (and 2.16 is
    the core that drives the Python 3.6 of real nodes)."""
    if hasattr(result, 'host'):
        return result.host, result.task, result.result
    return result._host, result._task, result._result


def _is_upgrade_result(result):
    return (isinstance(result, dict) and result.get('status') in UPGRADE_STATUSES
            and isinstance(result.get('phases'), dict))


def _is_upgrade_action(action):
    return bool(action) and action.split('.')[-1] in ('upgrade', 'upgrade_rollback')


def _short_msg(result):
    msg = result.get('msg') or result.get('reason') or result.get('stderr') or ''
    if not isinstance(msg, str):
        msg = json.dumps(msg, default=str)
    msg = msg.strip()
    return msg[:500] if msg else None


def summary_stats(report):
    """The run summary as set_stats data (per_host false): small, JSON-able, unique key."""
    s = report['summary']
    return {
        'honeycomb_fleet_report': {
            'result': report['result'], 'stopped': report['stopped'], 'reason': report['reason'],
            'kind': report['kind'], 'payload': report['payload'], 'total': s['total'],
            'by_status': s['by_status'], 'failed_nodes': s['failed_nodes'],
            'unreachable_nodes': s['unreachable_nodes'], 'not_started_nodes': s['not_started_nodes'],
            'batches': len(report['batches']), 'report_dir': report.get('report_dir'),
        }
    }


# -- JUnit -----------------------------------------------------------------------------------------
def render_junit(report):
    nodes = report['nodes']
    counts = report['summary']['by_outcome']
    suite_name = 'waggle.honeycomb %s %s' % (report['kind'], os.path.basename(report['playbook'] or ''))
    suites = ET.Element('testsuites', name=suite_name.strip())
    suite = ET.SubElement(suites, 'testsuite', {
        'name': suite_name.strip(), 'tests': str(len(nodes)),
        'failures': str(counts['failure']), 'errors': str(counts['unreachable']),
        'skipped': str(counts['skipped'] + counts['pending']),
        'time': '%.3f' % (report['duration'] or 0), 'timestamp': report['started'] or '',
    })
    props = ET.SubElement(suite, 'properties')
    for key in ('result', 'reason', 'kind'):
        ET.SubElement(props, 'property', name=key, value=str(report.get(key) or ''))
    if report['payload']:
        ET.SubElement(props, 'property', name='payload', value=json.dumps(report['payload'], sort_keys=True))
    for n in nodes:
        classname = 'batch%s' % n['batch'] if n['batch'] else 'fleet'
        case = ET.SubElement(suite, 'testcase', {
            'classname': classname, 'name': n['name'], 'time': '%.3f' % (n['duration'] or 0)})
        text = '%s: %s' % (n['name'], n['status'])
        if n['msg']:
            text += ' - ' + n['msg']
        if n['outcome'] == 'failure':
            f = ET.SubElement(case, 'failure', message=text, type=n['status'])
            f.text = text + (('\nfailed task: ' + n['failed_task']) if n['failed_task'] else '')
        elif n['outcome'] == 'unreachable':
            e = ET.SubElement(case, 'error', message='%s unreachable: %s' % (n['name'], n['unreachable_msg'] or ''),
                              type='unreachable')
            e.text = n['unreachable_msg'] or 'unreachable'
        elif n['outcome'] in ('skipped', 'pending'):
            ET.SubElement(case, 'skipped', message=text)
        lines = ['status: %s' % n['status']]
        for p in n['phases']:
            lines.append('phase %s: %.1fs rc=%s attempts=%s' % (p['name'], p['duration'], p.get('rc'), p.get('attempts')))
        if n['installed_version']:
            lines.append('installed_version: %s' % n['installed_version'])
        out = ET.SubElement(case, 'system-out')
        out.text = '\n'.join(lines)
    ET.indent(suites)
    return ET.tostring(suites, encoding='unicode', xml_declaration=True) + '\n'


# -- HTML ------------------------------------------------------------------------------------------
def _e(value):
    return html.escape('' if value is None else str(value), quote=True)


def _fmt_s(seconds):
    if seconds is None:
        return ''
    seconds = float(seconds)
    if seconds < 60:
        return '%.1f s' % seconds
    if seconds < 3600:
        return '%d min %02d s' % (seconds // 60, seconds % 60)
    return '%d h %02d min' % (seconds // 3600, (seconds % 3600) // 60)


def render_html(report, run=None):
    """A self-contained page: summary cards, a status bar, and a per-node SVG timeline."""
    total = report['summary']['total'] or 1
    span = max(report['duration'] or 0, 0.001)
    nodes = report['nodes']
    title = 'Fleet %s report - %s' % (report['kind'], report['result'].upper())
    parts = []
    parts.append('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                 '<meta name="viewport" content="width=device-width, initial-scale=1">'
                 '<title>%s</title><style>%s</style></head><body>' % (_e(title), _CSS))
    badge = {'success': 'ok', 'failed': 'bad', 'stopped': 'bad'}.get(report['result'], 'warn')
    payload = report['payload'] or {}
    payload_text = ' '.join(str(payload.get(k)) for k in ('peripheral', 'name', 'version') if payload.get(k)) \
        if isinstance(payload, dict) else str(payload)
    parts.append('<header><h1>Fleet %s <span class="badge %s" id="result">%s</span></h1>'
                 '<p class="meta">%s &middot; %s &middot; started %s &middot; took %s &middot; %d nodes in %d batches</p></header>'
                 % (_e(report['kind']), badge, _e(report['result'].upper()),
                    _e(os.path.basename(report['playbook'] or '')), _e(payload_text or 'no payload'),
                    _e(report['started']), _e(_fmt_s(report['duration'])), len(nodes), len(report['batches'])))
    if report['stopped'] or report['reason']:
        parts.append('<div class="alert" id="reason"><strong>Rollout stopped.</strong> %s</div>' % _e(report['reason']))
    # summary cards
    parts.append('<section class="cards" id="summary">')
    for status in sorted(report['summary']['by_status'], key=lambda s: -report['summary']['by_status'][s]):
        count = report['summary']['by_status'][status]
        parts.append('<div class="card" data-status="%s"><div class="num" style="color:%s">%d</div>'
                     '<div class="lbl">%s</div></div>'
                     % (_e(status), COLORS.get(status, '#555'), count, _e(status.replace('_', ' '))))
    parts.append('</section>')
    # stacked fleet bar
    parts.append('<div class="stack" id="fleetbar" title="fleet status">')
    for status, count in sorted(report['summary']['by_status'].items(), key=lambda kv: -kv[1]):
        parts.append('<div style="width:%.3f%%;background:%s" title="%s: %d"></div>'
                     % (100.0 * count / total, COLORS.get(status, '#555'), _e(status), count))
    parts.append('</div>')
    # lists of problem nodes
    for key, label in (('failed_nodes', 'Failed'), ('unreachable_nodes', 'Unreachable'),
                       ('not_started_nodes', 'Not started')):
        names = report['summary'][key]
        if names:
            parts.append('<p class="list" id="%s"><strong>%s (%d):</strong> %s</p>'
                         % (key, label, len(names), ', '.join(_e(x) for x in names)))
    parts.append(_svg_timeline(report, span))
    parts.append(_node_table(report))
    parts.append('<footer>waggle.honeycomb fleet_report &middot; %s</footer></body></html>\n'
                 % _e(report['schema']))
    return ''.join(parts)


def _svg_timeline(report, span):
    nodes = report['nodes']
    label_w, status_w, chart_w, row_h, top = 170, 130, 760, 22, 34
    width = label_w + chart_w + status_w
    batches = report['batches']
    height = top + row_h * max(len(nodes), 1) + 28
    scale = chart_w / span

    def x(t):
        return label_w + max(0.0, min(t, span)) * scale

    out = ['<section><h2>Timeline</h2><div class="legend">']
    for name, color in PHASE_COLORS.items():
        out.append('<span><i style="background:%s"></i>%s</span>' % (color, _e(name.replace('_', ' '))))
    out.append('<span><i style="background:%s;border:1px solid #9bb7d4"></i>upgrade job</span>' % UPGRADE_SPAN_COLOR)
    out.append('<span><i style="background:%s"></i>other tasks</span>' % TASK_COLOR)
    out.append('<span><i class="x">&#x2716;</i>unreachable</span></div>')
    out.append('<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
               'viewBox="0 0 %d %d" role="img" aria-label="per-node phase timeline">' % (width, height, width, height))
    # batch bands and axis
    for b in batches:
        bx = x(b['offset'])
        bw = max(x(b['offset'] + b['duration']) - bx, 1)
        out.append('<rect class="batch" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>'
                   % (bx, top - 4, bw, height - top - 20, '#f4f6f9' if b['index'] % 2 else '#eef1f5'))
        out.append('<text x="%.1f" y="%d" class="axis">batch %d/%d</text>' % (bx + 2, top - 8, b['index'], b['total']))
    ticks = 6
    for i in range(ticks + 1):
        t = span * i / ticks
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#d5d9de" stroke-width="0.5"/>'
                   % (x(t), x(t), top - 4, height - 22))
        out.append('<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>'
                   % (x(t), height - 8, _e(_fmt_s(t))))
    for i, n in enumerate(nodes):
        y = top + i * row_h
        out.append('<g class="node-row" data-node="%s" data-status="%s">' % (_e(n['name']), _e(n['status'])))
        out.append('<text x="%d" y="%d" class="label">%s</text>' % (label_w - 8, y + 15, _e(n['name'])))
        s = n['offset']
        f = s + (n['duration'] or 0.0) if s is not None else None
        if s is not None and f is not None:
            out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-width="1"/>'
                       % (x(s), x(f), y + 11, y + 11, TASK_COLOR))
        for t_off, t_dur, t_name, t_state in n.get('tasks', []):
            out.append('<rect class="task" x="%.1f" y="%d" width="%.1f" height="8" fill="%s"><title>%s: %s %s</title></rect>'
                       % (x(t_off), y + 7, max(t_dur * scale, 1.0),
                          '#e8a3a1' if t_state == 'failed' else TASK_COLOR, _e(t_name), _e(t_state), _e(_fmt_s(t_dur))))
        if n.get('upgrade_offset') is not None and n.get('upgrade_duration'):
            out.append('<rect class="upgrade" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="#9bb7d4" rx="3">'
                       '<title>%s upgrade job: %s</title></rect>'
                       % (x(n['upgrade_offset']), y + 2, max(n['upgrade_duration'] * scale, 2.0), row_h - 4,
                          UPGRADE_SPAN_COLOR, _e(n['name']), _e(_fmt_s(n['upgrade_duration']))))
        for p in n['phases']:
            ps = p['offset']
            pw = max(min(p['duration'] * scale, label_w + chart_w - x(ps)), 2.0)
            tip = '%s %s: %s' % (n['name'], p['name'], _fmt_s(p['duration']))
            if p.get('node_started'):
                tip += ' from %s to %s (node clock)' % (p['node_started'], p.get('node_finished') or '?')
            else:
                tip += ' (placed from durations)'
            if p.get('rc') is not None:
                tip += ' rc=%s' % p['rc']
            if p.get('attempts') is not None:
                tip += ' attempts=%s' % p['attempts']
            out.append('<rect class="phase phase-%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" rx="2">'
                       '<title>%s</title></rect>'
                       % (_e(p['name']), x(ps), y + 3, pw, row_h - 6, PHASE_COLORS.get(p['name'], '#777'), _e(tip)))
        if n['unreachable']:
            ux = x(f) if f is not None else label_w + 4
            out.append('<text class="unreach" x="%.1f" y="%d" fill="%s">&#x2716;<title>%s unreachable: %s</title></text>'
                       % (ux + 2, y + 16, COLORS['unreachable'], _e(n['name']), _e(n['unreachable_msg'])))
        out.append('<rect x="%d" y="%d" width="10" height="10" rx="2" fill="%s"/>'
                   % (label_w + chart_w + 8, y + 6, COLORS.get(n['status'], '#555')))
        out.append('<text x="%d" y="%d" class="status">%s</text></g>'
                   % (label_w + chart_w + 22, y + 15, _e(n['status'].replace('_', ' '))))
    out.append('</svg></section>')
    return ''.join(out)


def _node_table(report):
    out = ['<section><h2>Nodes</h2><table id="nodes"><thead><tr><th>node</th><th>batch</th><th>status</th>'
           '<th>version</th><th>phases</th><th>sent</th><th>took</th><th>message</th></tr></thead><tbody>']
    for n in report['nodes']:
        phases = ' '.join('<span class="ph" style="border-color:%s">%s %s</span>'
                          % (PHASE_COLORS.get(p['name'], '#777'), _e(p['name'].replace('_', ' ')),
                             _e(_fmt_s(p['duration']))) for p in n['phases'])
        version = n['installed_version'] or ''
        if n['previous_version'] and n['previous_version'] != n['installed_version']:
            version = '%s &rarr; %s' % (_e(n['previous_version']), _e(version))
        else:
            version = _e(version)
        msg = n['msg'] or ''
        if n['unreachable'] and n['unreachable_msg']:
            msg = n['unreachable_msg']
        if n.get('annotations', {}).get('reason'):
            msg = n['annotations']['reason']
        sent = n['payload_bytes_sent']
        out.append('<tr data-node="%s"><td>%s</td><td>%s</td><td><span class="pill" style="background:%s">%s</span></td>'
                   '<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="msg">%s</td></tr>'
                   % (_e(n['name']), _e(n['name']), _e(n['batch'] or ''), COLORS.get(n['status'], '#555'),
                      _e(n['status'].replace('_', ' ')), version, phases,
                      _e('%d B' % sent if isinstance(sent, int) else ''), _e(_fmt_s(n['duration'])), _e(msg)))
    out.append('</tbody></table></section>')
    return ''.join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#57606a;margin:0 0 12px}.badge{font-size:13px;padding:3px 10px;border-radius:12px;color:#fff;vertical-align:middle}
.badge.ok{background:#2e9d4a}.badge.bad{background:#d64541}.badge.warn{background:#e0a526}
.alert{background:#fdecea;border-left:4px solid #d64541;padding:8px 12px;margin:8px 0}
.cards{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:8px 16px;min-width:90px;text-align:center}
.card .num{font-size:28px;font-weight:700}.card .lbl{color:#57606a;font-size:12px;text-transform:uppercase}
.stack{display:flex;height:18px;border-radius:9px;overflow:hidden;border:1px solid #d0d7de;max-width:1060px}
.list{margin:6px 0}.legend{display:flex;gap:14px;font-size:12px;color:#57606a;margin-bottom:4px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-2px}
.legend i.x{width:auto;height:auto;color:#6b4ea0;font-style:normal}
svg text{font-size:12px}svg .label{text-anchor:end;fill:#1f2328}svg .axis{fill:#8b949e;font-size:10px}
svg .status{fill:#57606a;font-size:11px}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left}
.pill{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px}
.ph{border-left:4px solid;padding:0 4px;margin-right:4px;white-space:nowrap}
.msg{max-width:420px;color:#57606a}footer{margin-top:24px;color:#8b949e;font-size:11px}
"""


def write_report(run, base_dir, now=None):
    """Write report.json, junit.xml, report.html and set_stats.json; returns (dir, report dict)."""
    report = run.to_dict()
    stamp = datetime.datetime.fromtimestamp(run.started).strftime('%Y%m%dT%H%M%S')
    name = re.sub(r'[^A-Za-z0-9_.-]+', '_', os.path.splitext(os.path.basename(run.playbook or 'run'))[0])
    os.makedirs(base_dir, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix='%s-%s-' % (stamp, name), dir=base_dir)
    os.chmod(run_dir, 0o755)
    report['report_dir'] = run_dir
    files = {
        'report.json': json.dumps(report, indent=2, sort_keys=True, default=str) + '\n',
        'junit.xml': render_junit(report),
        'report.html': render_html(report, run),
        'set_stats.json': json.dumps({'data': summary_stats(report), 'per_host': False, 'aggregate': True},
                                     indent=2, sort_keys=True, default=str) + '\n',
    }
    for fname, text in files.items():
        path = os.path.join(run_dir, fname)
        with open(path + '.tmp', 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(path + '.tmp', path)
    latest = os.path.join(base_dir, 'latest')
    try:
        if os.path.islink(latest):
            os.unlink(latest)
        if not os.path.exists(latest):
            os.symlink(os.path.basename(run_dir), latest)
    except OSError:
        pass
    return run_dir, report


class CallbackModule(CallbackBase):
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
        rep = {'done': 0, 'failed': 0, 'unreachable': 0, 'pending': 0}
        kind = self.run.kind()
        for name in (names if names is not None else self.run.order):
            n = self.run.nodes.get(name)
            if n is None:
                continue
            st = self.run.node_status(n)
            oc = outcome_of(st, kind)
            if oc == 'success' and (n['status'] or not self.run.saw_fleet_activity):
                rep['done'] += 1
            elif oc == 'failure':
                rep['failed'] += 1
            elif oc == 'unreachable':
                rep['unreachable'] += 1
            elif oc == 'pending':
                rep['pending'] += 1
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
        host, task, res = _task_result_parts(result)
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
        if _is_upgrade_result(res):
            f = self._counts()
            took = (n['upgrade_finished'] - n['upgrade_started']) if n['upgrade_started'] else None
            self._progress('%s: %s%s%s; fleet: %d/%d done, %d failed, %d unreachable'
                           % (host, n['status'], ' in %s' % _fmt_s(took) if took else '', where,
                              f['done'], len(self.run.order), f['failed'], f['unreachable']),
                           color='green' if n['status'] in SUCCESS else ('yellow' if n['status'] in PENDING else 'red'))
        elif state == 'unreachable' and not was_unreachable:
            f = self._counts()
            self._progress('%s: unreachable%s; fleet: %d/%d done, %d failed, %d unreachable'
                           % (host, where, f['done'], len(self.run.order), f['failed'], f['unreachable']),
                           color='magenta')

    def v2_runner_on_ok(self, result):
        self._handle(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._handle(result, 'failed', ignore_errors=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._handle(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._handle(result, 'unreachable')

    def v2_runner_on_async_ok(self, result):
        self._handle(result, 'ok')

    def v2_runner_on_async_failed(self, result):
        self._handle(result, 'failed')

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
        try:
            for key, value in summary_stats(report).items():
                stats.update_custom_stats(key, value)
        except Exception:  # pylint: disable=broad-except  # custom stats are a bonus
            pass
        s = report['summary']
        color = 'green' if report['result'] == 'success' else 'red'
        self._progress('%s %s: %d nodes, %s%s' % (
            report['kind'], report['result'].upper(), s['total'],
            ', '.join('%s %d' % (k, v) for k, v in sorted(s['by_status'].items())),
            ('; ' + report['reason']) if report['reason'] else ''), color=color)
        if s['unreachable_nodes']:
            self._progress('unreachable: %s' % ', '.join(s['unreachable_nodes']), color='magenta')
        if s['failed_nodes']:
            self._progress('failed: %s' % ', '.join(s['failed_nodes']), color='red')
        self._progress('report: %s' % os.path.join(run_dir, 'report.html'))
