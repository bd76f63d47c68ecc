# -*- coding: utf-8 -*-
# Copyright (c) waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's model: what one playbook run did to each node, independent of Ansible objects.

The waggle.honeycomb.fleet_report callback feeds it the run's events; every node is classified by the
collection's status model (plugins/module_utils/_honeycomb/status.py) and the run's summary is that
model's fleet summary. junit.py and html.py render the report dict :meth:`FleetRun.to_dict` returns.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import re
import tempfile
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import html as report_html
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import junit as report_junit

SCHEMA = 'waggle.honeycomb.fleet_report/2'
PHASE_ORDER = ('state_check', 'install', 'verify', 'rollback')
# the controller itself: summary plays run there; it is not a node of the fleet
LOCAL_NAMES = ('localhost', '127.0.0.1', '::1')
# actions that run on the controller only: their success does not mean that the node answered
LOCAL_ACTIONS = frozenset(('set_fact', 'debug', 'assert', 'fail', 'set_stats', 'group_by', 'add_host', 'meta',
                           'include_tasks', 'import_tasks', 'include_role', 'import_role', 'include_vars',
                           'pause', 'stat_local', 'validate_argument_spec', 'noop'))


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
                'msg': None, 'tasks': [], 'annotations': {}, 'kind': None, 'traffic': None,
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
        if _is_upgrade_action(action) and isinstance(result.get('traffic'), dict):
            n['traffic'] = add_traffic(n['traffic'], result['traffic'])
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
        if is_upgrade_result(result):
            self.saw_fleet_activity = True
            self._record_upgrade(n, result, start, now)
            return
        if _is_upgrade_action(action) and state == 'failed':
            # the action failed before the engine produced a status (bad payload, no space...)
            self.saw_fleet_activity = True
            n['upgrade_started'] = n['upgrade_started'] or start
            n['upgrade_finished'] = now
            n['status'] = n['status'] or st.FAILED
        if state == 'failed' and not ignore_errors:
            if n['failed_task'] is None:
                n['failed_task'] = task_name
                n['msg'] = _short_msg(result)

    def _record_upgrade(self, n, result, start, now):
        n['status'] = result['status']
        if result.get('kind') in st.KINDS:
            n['kind'] = result['kind']
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
        if st.outcome(result['status'], n['kind'] or self.kind()) == st.FAILURE and not n['msg']:
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
        """The node's status, one of the status model's (st.STATUSES)."""
        status = n['annotations'].get('status') or n['status']
        if status:
            # a status the model does not know is never a success: reported as failed (to_dict says which)
            return status if status in st.STATUSES else st.FAILED
        if n['unreachable']:
            return st.UNREACHABLE
        if n['failed_task']:
            return st.FAILED
        if n['seen'] and not (self.batches and n['batch'] is None) and not self.saw_fleet_activity:
            return st.OK  # a run that upgrades nothing (a report written with always_write)
        # never reached, never part of a batch of the rollout, or reached but given no result
        return st.NOT_RUN

    def kind(self):
        """The rollout kind the nodes are classified by: that of the engine's results (a rollback job says
        ``rollback``), else the run's ``fleet_report_run`` kind, else ``upgrade``. A rollback that applies
        the payload of an older version is an upgrade to the engine, and so here."""
        for name in self.order:
            if self.nodes[name].get('kind'):
                return self.nodes[name]['kind']
        kind = self.annotations.get('kind')
        return kind if kind in st.KINDS else st.UPGRADE

    def to_dict(self):
        kind = self.kind()
        nodes = []
        for name in self.order:
            n = self.nodes[name]
            if name in LOCAL_NAMES and not n['status'] and not n['annotations']:
                continue
            status = self.node_status(n)
            reported = n['annotations'].get('status') or n['status']
            msg = n['msg']
            if reported and reported != status:
                msg = 'unknown status %r (not in the status model, so counted as failed)%s' % (
                    reported, ('; ' + msg) if msg else '')
            duration = None
            if n['started'] is not None and n['finished'] is not None:
                duration = round(n['finished'] - n['started'], 3)
            entry = {
                'name': name, 'status': status, 'outcome': st.outcome(status, kind), 'batch': n['batch'],
                'unreachable': bool(n['unreachable']) or status == st.UNREACHABLE,
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
                'payload': n['payload'], 'failed_task': n['failed_task'], 'msg': msg,
                'upgrade_offset': (round(n['upgrade_started'] - self.started, 3)
                                   if n['upgrade_started'] else None),
                'clock_shift': n.get('clock_shift') or None,
                'traffic': n['traffic'],
                'tasks': [[round(t['start'] - self.started, 3), round(t['end'] - t['start'], 3), t['name'], t['state']]
                          for t in n['tasks']],
            }
            extra = dict(n['annotations'])
            extra.pop('status', None)
            extra.pop('previous_version', None)
            if extra:
                entry['annotations'] = extra
            nodes.append(entry)
        statuses = dict((e['name'], e['status']) for e in nodes)
        summary = st.fleet_summary(statuses, kind)
        stopped = bool(self.annotations.get('stopped')) or bool(
            summary['not_run_nodes'] and (summary['failed_nodes'] or summary['unreachable_nodes']))
        reason = self.annotations.get('reason')
        if stopped and not reason:
            last = self.batches[-1] if self.batches else None
            where = ' after batch %d of %d' % (last['index'], last['total']) if last else ''
            reason = 'rollout stopped%s: %d failed, %d unreachable, %d nodes not run' % (
                where, len(summary['failed_nodes']), len(summary['unreachable_nodes']), len(summary['not_run_nodes']))
        if stopped:
            summary = st.fleet_summary(statuses, kind, stopped=True, reason=reason)
        payload = self.annotations.get('payload')
        if payload is None:
            for e in nodes:
                if e['payload']:
                    payload = e['payload']
                    break
        return {
            'schema': SCHEMA,
            'kind': self.annotations.get('kind') or kind,
            'playbook': self.playbook,
            'payload': payload,
            'started': _iso(self.started), 'finished': _iso(self.finished),
            'duration': round((self.finished or time.time()) - self.started, 3),
            'result': summary['result'],
            'stopped': stopped,
            'reason': reason,
            'summary': summary,
            'batches': [
                {'play': b['play'], 'index': b['index'], 'total': b['total'], 'hosts': b['hosts'],
                 'started': _iso(b['started']), 'finished': _iso(b['finished']),
                 'offset': round(b['started'] - self.started, 3),
                 'duration': round((b['finished'] or b['started']) - b['started'], 3)}
                for b in self.batches
            ],
            'annotations': dict((k, v) for k, v in self.annotations.items()
                                if k not in ('kind', 'stopped', 'reason', 'payload')),
            'traffic': fleet_traffic(nodes),
            'nodes': nodes,
        }


TRAFFIC_KEYS = ('sent', 'received', 'execs', 'files', 'failed_execs')


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def add_traffic(total, traffic):
    """The sum of a node's ``traffic`` so far (None at first) and the ``traffic`` of one more upgrade task
    result (plugins/plugin_utils/_honeycomb/traffic.py): counts, categories and the wire estimate."""
    out = {'sent': 0, 'received': 0, 'execs': 0, 'files': 0, 'failed_execs': 0, 'tasks': 0,
           'by_category': {}, 'wire_estimate': {'sent': 0, 'received': 0}}
    for part in (total, dict(traffic, tasks=1)):
        if not isinstance(part, dict):
            continue
        for key in TRAFFIC_KEYS + ('tasks',):
            out[key] += _count(part.get(key))
        for cat, counts in (part.get('by_category') or {}).items():
            if isinstance(counts, dict):
                mine = out['by_category'].setdefault(cat, {'sent': 0, 'received': 0})
                for key in ('sent', 'received'):
                    mine[key] += _count(counts.get(key))
        wire = part.get('wire_estimate')
        if isinstance(wire, dict):
            for key in ('sent', 'received'):
                out['wire_estimate'][key] += _count(wire.get(key))
            if 'compression' in wire:
                out['wire_estimate']['compression'] = bool(wire['compression'])
    return out


def fleet_traffic(nodes):
    """The fleet total of the nodes' upgrade traffic: the sums, and how many nodes reported one."""
    total = {'sent': 0, 'received': 0, 'wire_sent': 0, 'wire_received': 0, 'nodes': 0}
    for n in nodes:
        t = n.get('traffic')
        if not isinstance(t, dict):
            continue
        total['nodes'] += 1
        total['sent'] += _count(t.get('sent'))
        total['received'] += _count(t.get('received'))
        wire = t.get('wire_estimate') or {}
        total['wire_sent'] += _count(wire.get('sent'))
        total['wire_received'] += _count(wire.get('received'))
    return total


def _phase_entry(phase, origin):
    """A phase in report.json: ``offset`` from the start of the run and ``started``/``finished`` (UTC ISO
    8601) where it is drawn, on the controller's clock; ``node_started``/``node_finished`` as the node
    reported them; ``timed`` whether the node reported them (else placed from durations)."""
    entry = dict((k, v) for k, v in phase.items() if k not in ('start', 'end'))
    entry['offset'] = round(phase['start'] - origin, 3)
    entry['started'] = _iso(phase['start'])
    entry['finished'] = _iso(phase['end'])
    return entry


def is_upgrade_result(result):
    """A result of the upgrade engine (the upgrade module, or async_status collecting it)."""
    return (isinstance(result, dict) and result.get('status') in st.ENGINE_STATUSES
            and isinstance(result.get('phases'), dict))


def _is_upgrade_action(action):
    return bool(action) and action.split('.')[-1] in ('upgrade', 'upgrade_rollback')


def _short_msg(result):
    msg = result.get('msg') or result.get('reason') or result.get('stderr') or ''
    if not isinstance(msg, str):
        msg = json.dumps(msg, default=str)
    msg = msg.strip()
    return msg[:500] if msg else None


def write_report(run, base_dir, now=None):
    """Write report.json, junit.xml and report.html into a new directory under ``base_dir`` (and point
    ``base_dir``/latest at it); returns (dir, report dict)."""
    report = run.to_dict()
    stamp = datetime.datetime.fromtimestamp(run.started).strftime('%Y%m%dT%H%M%S')
    name = re.sub(r'[^A-Za-z0-9_.-]+', '_', os.path.splitext(os.path.basename(run.playbook or 'run'))[0])
    os.makedirs(base_dir, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix='%s-%s-' % (stamp, name), dir=base_dir)
    os.chmod(run_dir, 0o755)
    report['report_dir'] = run_dir
    files = {
        'report.json': json.dumps(report, indent=2, sort_keys=True, default=str) + '\n',
        'junit.xml': report_junit.render_junit(report),
        'report.html': report_html.render_html(report),
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
