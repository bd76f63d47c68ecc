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
