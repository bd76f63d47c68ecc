# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's model (plugins/plugin_utils/_fleet_report/model.py) without the callback."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import model


class _Host:
    def __init__(self, name):
        self.name = name


class Inventory:
    def __init__(self, hosts):
        self.all = [_Host(h) for h in hosts]

    def get_hosts(self, pattern, ignore_restrictions=False, order=None):
        return list(self.all)


def test_serial_batches_match_ansible_playbook_executor():
    from ansible.executor.playbook_executor import PlaybookExecutor

    class P:
        hosts = 'all'
        order = None

    for count in (1, 3, 7, 20, 55):
        for serial in ([1, '10%', '100%'], [2], ['30%'], [], [1, 5, '20%'], [0]):
            hosts = ['h%d' % i for i in range(count)]
            pbe = PlaybookExecutor.__new__(PlaybookExecutor)
            pbe._inventory = Inventory(hosts)
            play = P()
            play.serial = serial
            ansible_batches = [[h.name for h in b] for b in pbe._get_serialized_batches(play)]
            assert model.serial_batches(hosts, serial) == ansible_batches, (count, serial)


@pytest.mark.parametrize('skew', [0.0, 3600.0, -3600.0])
def test_layout_uses_node_times_and_corrects_clock_skew(skew):
    """Phases with gaps between them (a retry wait, the engine's own work) are placed by their real start
    and finish; a node clock off by an hour is shifted into the controller's window of the task."""
    t0 = 1_700_000_000.0
    phases = {'state_check': {'rc': 0, 'started_epoch': t0 + 2 + skew, 'finished_epoch': t0 + 3 + skew},
              'install': {'rc': 0, 'started_epoch': t0 + 5 + skew, 'finished_epoch': t0 + 9 + skew, 'duration': 4},
              'verify': {'rc': 0, 'started': model._iso(t0 + 12 + skew), 'finished': model._iso(t0 + 13 + skew)}}
    out, shift = model.FleetRun._layout_phases(phases, t0 + 1, t0 + 20, None)
    got = {p['name']: (round(p['start'] - t0, 3), round(p['end'] - t0, 3)) for p in out}
    if skew == 0:
        assert shift == 0 and got == {'state_check': (2, 3), 'install': (5, 9), 'verify': (12, 13)}
    elif skew > 0:  # node ahead: the job ends at the controller's "now"
        assert shift == -3593 and got['verify'][1] == 20
        assert got['install'][0] - got['state_check'][0] == 3 and got['verify'][0] - got['install'][1] == 3
    else:  # node behind: the job starts when the task started
        assert got['state_check'][0] == 1 and got['install'] == (4, 8) and got['verify'] == (11, 12)
    for p in out:
        assert p['timed'] is True and p['node_started'] and p['node_finished']


def _run(statuses, serial=(1, '100%')):
    """A run whose rollout play upgraded the nodes given a status; the others were never batched."""
    names = list(statuses)
    run = model.FleetRun(playbook='/x/upgrade.yml', now=1000.0)
    batches = model.serial_batches(names, list(serial))
    t = 1000.0
    for batch in batches:
        todo = [h for h in batch if statuses[h] is not None]
        if not todo:
            break
        run.play_start('Roll out', 'u1', names, list(serial), batch, t)
        for h in todo:
            run.record(h, 'Upgrade', 'waggle.honeycomb.upgrade', {'status': statuses[h], 'phases': {}}, 'ok', t, t + 1)
        t += 2
    run.finish(t)
    return run


def test_summary_is_the_status_models_fleet_summary():
    run = _run({'n1': 'applied', 'n2': 'retry_later', 'n3': 'applied'})
    rep = run.to_dict()
    assert rep['summary'] == st.fleet_summary({'n1': 'applied', 'n2': 'retry_later', 'n3': 'applied'})
    assert rep['result'] == 'success' and rep['summary']['pending_nodes'] == ['n2']


def test_not_run_nodes_after_failures_mean_the_rollout_stopped():
    rep = _run({'n1': 'failed', 'n2': None, 'n3': None}).to_dict()
    assert rep['stopped'] and rep['result'] == 'stopped'
    assert rep['reason'] == 'rollout stopped after batch 1 of 2: 1 failed, 0 unreachable, 2 nodes not run'
    assert rep['summary']['line'].endswith('; ' + rep['reason'])


def test_write_report_writes_three_files_and_latest(tmp_path):
    run = _run({'n1': 'applied'})
    run_dir, rep = model.write_report(run, str(tmp_path))
    assert sorted(os.listdir(run_dir)) == ['junit.xml', 'report.html', 'report.json']
    assert os.readlink(tmp_path / 'latest') == os.path.basename(run_dir)
    with open(os.path.join(run_dir, 'report.json')) as f:
        assert json.load(f)['report_dir'] == run_dir == rep['report_dir']


def _traffic(sent, received, wire_sent, wire_received, payload=0):
    return {'sent': sent, 'received': received, 'execs': 3, 'files': 0, 'failed_execs': 0,
            'by_category': {'payload': {'sent': payload, 'received': 0, 'execs': 1, 'files': 0},
                            'modules': {'sent': sent - payload, 'received': received, 'execs': 2, 'files': 0}},
            'wire_estimate': {'sent': wire_sent, 'received': wire_received, 'compression': True}}


def _upgrade_result(status, traffic):
    return {'status': status, 'phases': {}, 'changed': True, 'traffic': traffic}


def test_traffic_per_node_is_summed_over_its_upgrade_tasks_and_the_fleet_total():
    run = model.FleetRun(playbook='/x/upgrade.yml', now=1000.0)
    run.play_start('Roll out', 'u', ['a', 'b', 'c'], ['100%'], ['a', 'b', 'c'], 1000.0)
    run.record('a', 'up', 'waggle.honeycomb.upgrade', _upgrade_result('applied', _traffic(5000, 100, 4000, 300, 3000)),
               'ok', 1000.0, 1001.0)
    # a second upgrade task on the same node (a rollback after it, say): added to the first
    run.record('a', 'up2', 'waggle.honeycomb.upgrade', _upgrade_result('applied', _traffic(700, 50, 600, 90)),
               'ok', 1001.0, 1002.0)
    # an unreachable node's upgrade result still tells what was sent before the link went
    run.record('b', 'up', 'waggle.honeycomb.upgrade', {'unreachable': True, 'msg': 'gone', 'traffic': _traffic(900, 0, 800, 10)},
               'unreachable', 1000.0, 1003.0)
    # traffic of other actions is not the upgrade's
    run.record('c', 'x', 'ansible.builtin.command', {'traffic': _traffic(1, 1, 1, 1)}, 'ok', 1000.0, 1001.0)
    run.finish(1004.0)
    rep = run.to_dict()
    nodes = {n['name']: n for n in rep['nodes']}
    a = nodes['a']['traffic']
    assert (a['sent'], a['received'], a['execs'], a['tasks']) == (5700, 150, 6, 2)
    assert a['by_category']['payload'] == {'sent': 3000, 'received': 0}
    assert a['by_category']['modules'] == {'sent': 2700, 'received': 150}
    assert a['wire_estimate'] == {'sent': 4600, 'received': 390, 'compression': True}
    assert nodes['b']['traffic']['sent'] == 900 and nodes['b']['status'] == 'unreachable'
    assert nodes['c']['traffic'] is None
    assert rep['traffic'] == {'sent': 6600, 'received': 150, 'wire_sent': 5400, 'wire_received': 400, 'nodes': 2}
    json.dumps(rep)  # report.json can hold it


def test_a_run_without_traffic_has_a_zero_total():
    rep = _run({'n1': 'applied'}).to_dict()
    assert rep['traffic'] == {'sent': 0, 'received': 0, 'wire_sent': 0, 'wire_received': 0, 'nodes': 0}
    assert rep['nodes'][0]['traffic'] is None


def test_traffic_of_bad_shapes_is_ignored_not_fatal():
    total = model.add_traffic(None, {'sent': 'x', 'received': True, 'by_category': {'p': 'x', 'q': {'sent': 5}},
                                     'wire_estimate': 'nope'})
    assert total['sent'] == 0 and total['received'] == 0 and total['tasks'] == 1
    assert total['by_category'] == {'q': {'sent': 5, 'received': 0}}
