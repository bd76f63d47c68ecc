# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the waggle.honeycomb.fleet_report callback, fed with fake task results."""

from __future__ import annotations

import json
import os
import time
import uuid
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import subprocess
import sys

import pytest

from ansible_collections.waggle.honeycomb.plugins.callback import fleet_report as fr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import model
from hctest.callback_fakes import Display, Result

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


# -- fakes standing in for Ansible's Host, Task, Play and AggregateStats (Display and CallbackTaskResult:
# hctest.callback_fakes) ---------------------------------------------------------------------------
class Host:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class Task:
    def __init__(self, name, action):
        self._uuid = uuid.uuid4().hex
        self.name = name
        self.action = action
        self.resolved_action = action

    def get_name(self):
        return self.name


class Inventory:
    def __init__(self, hosts):
        self.all = [Host(h) for h in hosts]
        self.restriction = None

    def get_hosts(self, pattern, ignore_restrictions=False, order=None):
        if self.restriction is None or ignore_restrictions:
            return list(self.all)
        return [h for h in self.all if h.name in self.restriction]


class VariableManager:
    def __init__(self, inventory):
        self._inventory = inventory


class Play:
    def __init__(self, name, inventory, serial):
        self.name = name
        self._uuid = uuid.uuid4().hex
        self.hosts = 'all'
        self.order = None
        self.serial = serial
        self._vm = VariableManager(inventory)

    def get_name(self):
        return self.name

    def get_variable_manager(self):
        return self._vm


class Stats:
    def __init__(self):
        self.dark = {}
        self.failures = {}
        self.custom = {}

    def update_custom_stats(self, key, value, host=None):
        self.custom.setdefault(host or '_run', {})[key] = value


class Playbook:
    _file_name = '/somewhere/playbooks/upgrade.yml'


def phases(install_rc=0, install_s=4.0, rollback=False):
    out = {
        'state_check': {'rc': 0, 'attempts': 1, 'duration': 0.5},
        'install': {'rc': install_rc, 'attempts': 2 if install_rc else 1, 'duration': install_s},
        'verify': {'rc': 0, 'attempts': 1, 'duration': 1.0},
    }
    if rollback:
        out['rollback'] = {'rc': 0, 'attempts': 1, 'duration': 2.0}
    return out


def upgrade_result(status, **kw):
    res = {'changed': status == 'applied', 'status': status, 'phases': phases(**kw),
           'installed_version': '2.0.0' if status in ('applied', 'already_applied') else '1.0.0',
           'previous_version': '1.0.0', 'job_id': 'job-1', 'payload_bytes_sent': 2048}
    if st.outcome(status) == st.FAILURE:
        res['failed'] = True
        res['msg'] = 'install exited 1 twice'
    return res


@pytest.fixture
def make_cb(tmp_path):
    def make(**options):
        cb = fr.CallbackModule(display=Display())
        # what set_options() would store; the options and their defaults are checked against the
        # plugin's DOCUMENTATION by test_documented_options_load_through_ansible
        cb._plugin_options = {'output_dir': str(tmp_path / 'reports'), 'progress': True, 'always_write': False}
        cb._plugin_options.update(options)
        return cb
    return make


def test_documented_options_load_through_ansible(tmp_path):
    """The plugin loads by its FQCN and its documented options come from env vars."""
    code = (
        "from ansible.plugins.loader import callback_loader, init_plugin_loader\n"
        "init_plugin_loader([%r])\n"
        "cb = callback_loader.get('waggle.honeycomb.fleet_report')\n"
        "cb.set_options()\n"
        "print(cb.get_option('output_dir'), cb.get_option('progress'), cb.get_option('always_write'),"
        " cb.CALLBACK_NEEDS_ENABLED, cb.CALLBACK_TYPE)\n"
    ) % os.path.join(REPO, '.build', 'collections')
    env = dict(os.environ, HONEYCOMB_FLEET_REPORT_DIR=str(tmp_path), HONEYCOMB_FLEET_REPORT_PROGRESS='no')
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(tmp_path), 'False', 'False', 'True', 'aggregate']


class Driver:
    """Plays a rollout through the callback the way the strategy plugin would."""

    def __init__(self, cb, hosts, serial):
        self.cb = cb
        self.inventory = Inventory(hosts)
        self.play = Play('Upgrade', self.inventory, serial)
        self.hosts = {h: Host(h) for h in hosts}
        self.stats = Stats()
        cb.v2_playbook_on_start(Playbook())

    def batch(self, names):
        self.inventory.restriction = set(names)
        self.cb.v2_playbook_on_play_start(self.play)

    def task(self, name, action, results):
        task = Task(name, action)
        for host, (state, res) in results.items():
            self.cb.v2_runner_on_start(self.hosts[host], task)
        for host, (state, res) in results.items():
            r = Result(self.hosts[host], task, res)
            if state == 'ok':
                self.cb.v2_runner_on_ok(r)
            elif state == 'failed':
                self.cb.v2_runner_on_failed(r)
            elif state == 'ignored':
                self.cb.v2_runner_on_failed(r, ignore_errors=True)
            elif state == 'unreachable':
                self.cb.v2_runner_on_unreachable(r)
            elif state == 'skipped':
                self.cb.v2_runner_on_skipped(r)
        return task

    def upgrade(self, results):
        return self.task('Upgrade the payload', 'waggle.honeycomb.upgrade', results)

    def end(self):
        self.cb.v2_playbook_on_stats(self.stats)
        return self.cb.report_dir


def load(run_dir):
    with open(os.path.join(run_dir, 'report.json')) as f:
        return json.load(f)


def nodes_by_name(report):
    return {n['name']: n for n in report['nodes']}


def test_canary_failure_stops_rollout_and_report_names_untouched_nodes(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2', 'n3', 'n4', 'n5'], [1, '10%', '100%'])
    d.batch(['n1'])
    d.upgrade({'n1': ('failed', upgrade_result('rolled_back', install_rc=3, rollback=True))})
    run_dir = d.end()
    assert run_dir and sorted(os.listdir(run_dir)) == ['junit.xml', 'report.html', 'report.json']
    rep = load(run_dir)
    n = nodes_by_name(rep)
    assert n['n1']['status'] == 'rolled_back' and n['n1']['outcome'] == 'failure'
    assert [p['name'] for p in n['n1']['phases']] == ['state_check', 'install', 'verify', 'rollback']
    install = [p for p in n['n1']['phases'] if p['name'] == 'install'][0]
    assert install == {'name': 'install', 'duration': 4.0, 'rc': 3, 'attempts': 2, 'offset': install['offset'],
                       'timed': False, 'started': install['started'], 'finished': install['finished']}
    for name in ('n2', 'n3', 'n4', 'n5'):
        assert n[name]['status'] == 'not_run' and n[name]['outcome'] == 'skipped'
    assert rep['stopped'] is True and rep['result'] == 'stopped'
    assert 'batch 1 of 3' in rep['reason']
    assert rep['summary']['failed_nodes'] == ['n1']
    assert rep['summary']['not_run_nodes'] == ['n2', 'n3', 'n4', 'n5']
    assert rep['summary']['line'].startswith('fleet STOPPED: 5 nodes, rolled_back 1, not_run 4; failed: n1; not run: ')
    assert rep['batches'][0]['index'] == 1 and rep['batches'][0]['total'] == 3


def test_batches_follow_ansible_serial_rules_and_statuses_are_reported(make_cb):
    cb = make_cb()
    hosts = ['n%02d' % i for i in range(1, 21)]
    d = Driver(cb, hosts, [1, '10%', '100%'])
    expected = model.serial_batches(hosts, [1, '10%', '100%'])
    assert [len(b) for b in expected] == [1, 2, 17]
    for batch in expected:
        d.batch(batch)
        results = {}
        for h in batch:
            if h == 'n05':
                results[h] = ('failed', upgrade_result('failed', install_rc=1))
            elif h == 'n06':
                results[h] = ('ok', upgrade_result('already_applied'))
            elif h == 'n07':
                results[h] = ('ok', upgrade_result('retry_later'))
            elif h == 'n08':
                results[h] = ('unreachable', {'unreachable': True, 'msg': 'ssh: connect to host: Connection timed out'})
            else:
                results[h] = ('ok', upgrade_result('applied'))
        d.upgrade(results)
    rep = load(d.end())
    n = nodes_by_name(rep)
    assert [b['hosts'] for b in rep['batches']] == expected
    assert [(b['index'], b['total']) for b in rep['batches']] == [(1, 3), (2, 3), (3, 3)]
    assert n['n01']['batch'] == 1 and n['n03']['batch'] == 2 and n['n20']['batch'] == 3
    assert n['n05']['status'] == 'failed' and n['n05']['msg'] == 'install exited 1 twice'
    assert n['n06']['status'] == 'already_applied' and n['n06']['outcome'] == 'success'
    assert n['n07']['outcome'] == 'pending'
    assert n['n08']['status'] == 'unreachable' and n['n08']['unreachable'] is True
    assert 'timed out' in n['n08']['unreachable_msg']
    assert n['n01']['installed_version'] == '2.0.0' and n['n01']['previous_version'] == '1.0.0'
    assert n['n01']['payload_bytes_sent'] == 2048 and n['n01']['job_id'] == 'job-1'
    assert rep['summary']['by_status'] == {'applied': 16, 'failed': 1, 'already_applied': 1,
                                           'retry_later': 1, 'unreachable': 1}
    assert rep['summary']['unreachable_nodes'] == ['n08']
    assert rep['result'] == 'failed' and rep['stopped'] is False
    # progress lines: batch x of y and fleet counters
    text = '\n'.join(cb._display.lines)
    assert 'Upgrade: batch 2 of 3, 2 node(s): n02, n03' in text
    assert 'batch 3 of 3 finished: 14 done, 1 failed, 1 unreachable' in text
    assert 'n08: unreachable (batch 3/3)' in text
    assert 'report: %s' % os.path.join(cb.report_dir, 'report.html') in text


def test_junit_is_valid_and_classifies_nodes(make_cb):
    cb = make_cb()
    d = Driver(cb, ['a', 'b', 'c', 'd'], [2])
    d.batch(['a', 'b'])
    d.upgrade({'a': ('ok', upgrade_result('applied')),
               'b': ('unreachable', {'unreachable': True, 'msg': 'tunnel closed'})})
    run_dir = d.end()
    root = ET.parse(os.path.join(run_dir, 'junit.xml')).getroot()
    assert root.tag == 'testsuites'
    suite = root.find('testsuite')
    assert suite.get('tests') == '4' and suite.get('errors') == '1' and suite.get('skipped') == '2'
    cases = {c.get('name'): c for c in suite.findall('testcase')}
    assert set(cases) == {'a', 'b', 'c', 'd'}
    assert cases['a'].find('failure') is None and cases['a'].find('error') is None
    assert 'phase install: 4.0s rc=0' in cases['a'].find('system-out').text
    assert cases['b'].find('error').get('type') == 'unreachable'
    assert cases['c'].find('skipped') is not None and cases['d'].find('skipped') is not None


def test_failed_upgrade_is_a_junit_failure(make_cb):
    cb = make_cb()
    d = Driver(cb, ['a'], [])
    d.batch(['a'])
    d.upgrade({'a': ('failed', upgrade_result('rollback_failed', install_rc=1, rollback=True))})
    suite = ET.parse(os.path.join(d.end(), 'junit.xml')).getroot().find('testsuite')
    assert suite.get('failures') == '1'
    failure = suite.find('testcase').find('failure')
    assert failure.get('type') == 'rollback_failed' and 'install exited 1 twice' in failure.get('message')


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_has_summary_and_per_node_timeline(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2', '<b>evil</b>'], [1, '100%'])
    d.batch(['n1'])
    d.upgrade({'n1': ('ok', upgrade_result('applied'))})
    d.batch(['n2', '<b>evil</b>'])
    d.upgrade({'n2': ('failed', upgrade_result('rolled_back', install_rc=2, rollback=True)),
               '<b>evil</b>': ('unreachable', {'unreachable': True, 'msg': '<script>alert(1)</script>'})})
    with open(os.path.join(d.end(), 'report.html')) as f:
        page = f.read()
    assert '<script>' not in page and '<b>evil</b>' not in page
    assert '&lt;b&gt;evil&lt;/b&gt;' in page
    p = _Collect()
    p.feed(page)
    svgs = [a for t, a in p.tags if t == 'svg']
    assert len(svgs) == 1 and svgs[0]['id'] == 'timeline'
    rows = [a for t, a in p.tags if t == 'g' and a.get('class') == 'node-row']
    assert [(r['data-node'], r['data-status']) for r in rows] == [
        ('n1', 'applied'), ('n2', 'rolled_back'), ('<b>evil</b>', 'unreachable')]
    phase_rects = [a['class'] for t, a in p.tags if t == 'rect' and a.get('class', '').startswith('phase ')]
    # n1: state_check, install, verify; n2: the same plus rollback
    assert phase_rects.count('phase phase-install') == 2
    assert phase_rects.count('phase phase-rollback') == 1
    assert sum(1 for t, a in p.tags if t == 'text' and a.get('class') == 'unreach') == 1
    widths = [float(a['width']) for t, a in p.tags if t == 'rect' and a.get('class', '').startswith('phase ')]
    assert all(w > 0 for w in widths)
    assert 'id="reason"' not in page  # failed, but nobody was left out: not "stopped"
    cards = [a['data-status'] for t, a in p.tags if t == 'div' and a.get('class') == 'card']
    assert sorted(cards) == ['applied', 'rolled_back', 'unreachable']


def test_async_launch_then_async_status_is_one_upgrade(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    d.upgrade({'n1': ('ok', {'ansible_job_id': 'j123.4', 'started': 1, 'finished': 0,
                             'results_file': '/root/.ansible_async/j123.4', 'changed': True})})
    assert cb.run.nodes['n1']['status'] is None
    final = upgrade_result('applied')
    final.update({'ansible_job_id': 'j123.4', 'finished': 1, 'started': 1})
    d.task('Wait for the upgrade', 'ansible.builtin.async_status', {'n1': ('ok', final)})
    rep = load(d.end())
    n = rep['nodes'][0]
    assert n['status'] == 'applied' and n['upgrade_duration'] is not None
    assert n['job_id'] == 'job-1'


def test_unreachable_node_that_comes_back_is_not_unreachable(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    d.task('Ping', 'ansible.builtin.ping', {'n1': ('unreachable', {'unreachable': True, 'msg': 'gone'})})
    d.task('Wait for connection', 'ansible.builtin.wait_for_connection', {'n1': ('ok', {})})
    d.upgrade({'n1': ('ok', upgrade_result('applied'))})
    n = load(d.end())['nodes'][0]
    assert n['status'] == 'applied' and n['unreachable'] is False


def test_phase_timestamps_are_used_when_present(make_cb):
    """The phases are drawn where the node says they ran (relative times kept); here the node's clock is
    ahead of the controller's, so the whole job is shifted back into the upgrade task's window."""
    cb = make_cb()
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    start = cb.run.started
    res = upgrade_result('applied')
    res['phases'] = {'state_check': {'rc': 0, 'started': start + 10, 'finished': start + 11},
                     'install': {'rc': 0, 'started_epoch': start + 11.5, 'finished_epoch': start + 31.5, 'attempts': 1,
                                 'started': 'ignored: the epoch fields win'},
                     'verify': {'rc': 0, 'duration': 2.0}}
    d.upgrade({'n1': ('ok', res)})
    node = load(d.end())['nodes'][0]
    ph = {p['name']: p for p in node['phases']}
    assert node['clock_shift'] < -9  # the node's times were ~10 s after the task ended on the controller
    assert ph['state_check']['offset'] == pytest.approx(node['upgrade_offset'], abs=0.01)
    assert ph['install']['offset'] - ph['state_check']['offset'] == pytest.approx(1.5, abs=0.01)
    assert ph['install']['duration'] == pytest.approx(20, abs=0.01)
    assert ph['install']['timed'] is True and ph['verify']['timed'] is False
    assert ph['verify']['offset'] - ph['install']['offset'] == pytest.approx(20, abs=0.01)  # laid out after install
    assert ph['install']['node_started'] == model._iso(start + 11.5)
    assert ph['install']['node_finished'] == model._iso(start + 31.5)
    assert ph['install']['started'] == model._iso(start + 11.5 + node['clock_shift'])  # where it is drawn


def test_html_timeline_draws_phases_at_their_real_times(make_cb):
    """The SVG places a phase that started at 60 % of the upgrade task (after a gap) there, not right
    after the previous phase."""
    cb = make_cb()
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    res = upgrade_result('applied')
    res['phases'] = {'state_check': {'rc': 0, 'duration': 1.0}, 'install': {'rc': 0, 'duration': 1.0},
                     'verify': {'rc': 0, 'duration': 1.0}}
    run = cb.run
    real = model.FleetRun._layout_phases

    def fixed(phases, upgrade_start, now, transfer):  # a 0.2 s job; phases at 0, 60 % and 90 % of it
        t, d = upgrade_start, 0.02
        now = t + 10 * d
        time.sleep(max(0.0, now - time.time()) + 0.05)  # the run lasts longer than the job
        timed = {'state_check': {'rc': 0, 'started_epoch': t, 'finished_epoch': t + d},
                 'install': {'rc': 0, 'started_epoch': t + 6 * d, 'finished_epoch': t + 7 * d},
                 'verify': {'rc': 0, 'started_epoch': t + 9 * d, 'finished_epoch': t + 10 * d}}
        return real(timed, upgrade_start, now, transfer)
    run._layout_phases = fixed
    d.upgrade({'n1': ('ok', res)})
    run_dir = d.end()
    html = open(os.path.join(run_dir, 'report.html')).read()
    xs = {}
    for name in ('state_check', 'install', 'verify'):
        tag = html.split('class="phase phase-%s"' % name, 1)[1]
        xs[name] = float(tag.split('x="', 1)[1].split('"', 1)[0])
    gap_install = xs['install'] - xs['state_check']
    gap_verify = xs['verify'] - xs['install']
    assert gap_install > 0 and gap_install == pytest.approx(2 * gap_verify, rel=0.05)  # 6 vs 3 tenths apart
    assert 'node clock' in html


def test_annotations_excluded_nodes_and_run_reason(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2', 'n3'], [])
    d.batch(['n1', 'n2', 'n3'])
    d.task('Sanity gate', 'ansible.builtin.set_fact', {
        'n1': ('ok', {'ansible_facts': {'fleet_report': {'versions_before': {'honeycomb': '1.0'}}}}),
        'n2': ('ok', {'ansible_facts': {'fleet_report': {'status': 'sanity_blocked', 'reason': 'sanity: disk full'}}}),
        'n3': ('ok', {'ansible_facts': {}}),
    })
    d.upgrade({'n1': ('ok', upgrade_result('applied')), 'n3': ('unreachable', {'unreachable': True, 'msg': 'x'})})
    d.task('Stop', 'ansible.builtin.set_fact', {'n1': ('ok', {'ansible_facts': {'fleet_report_run': {
        'stopped': True, 'reason': '1 of 3 nodes unreachable (33%) exceeds max_unreachable_percentage 0',
        'payload': {'name': 'demo', 'version': '2.0.0'}}}})})
    rep = load(d.end())
    n = nodes_by_name(rep)
    assert n['n2']['status'] == 'sanity_blocked' and n['n2']['annotations'] == {'reason': 'sanity: disk full'}
    assert n['n2']['outcome'] == 'skipped'
    assert n['n1']['annotations'] == {'versions_before': {'honeycomb': '1.0'}}
    assert rep['stopped'] and rep['reason'].startswith('1 of 3 nodes unreachable')
    assert rep['payload'] == {'name': 'demo', 'version': '2.0.0'}
    with open(os.path.join(cb.report_dir, 'report.html')) as f:
        page = f.read()
    assert 'id="reason"' in page and 'max_unreachable_percentage' in page and 'sanity: disk full' in page


def test_the_callback_publishes_no_summary_of_its_own(make_cb):
    """AWX reads the stats before aggregate callbacks run: the playbooks publish honeycomb_rollout; the
    callback adds no second summary to the custom stats and writes no set_stats.json."""
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2'], [])
    d.batch(['n1', 'n2'])
    d.upgrade({'n1': ('ok', upgrade_result('applied')), 'n2': ('ok', upgrade_result('applied'))})
    run_dir = d.end()
    assert d.stats.custom == {}
    assert not os.path.exists(os.path.join(run_dir, 'set_stats.json'))
    rep = load(run_dir)
    assert rep['schema'] == 'waggle.honeycomb.fleet_report/2'
    assert rep['summary'] == dict(st.fleet_summary({'n1': 'applied', 'n2': 'applied'}), kind='upgrade')
    assert '[fleet] fleet SUCCESS: 2 nodes, applied 2' in cb._display.lines


def test_no_report_for_runs_without_fleet_activity(make_cb, tmp_path):
    cb = make_cb()
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    d.task('Ping', 'ansible.builtin.ping', {'n1': ('ok', {'ping': 'pong'})})
    assert d.end() is None
    assert not (tmp_path / 'reports').exists()
    cb = make_cb(always_write=True)
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    d.task('Ping', 'ansible.builtin.ping', {'n1': ('ok', {'ping': 'pong'})})
    rep = load(d.end())
    assert rep['nodes'][0]['status'] == 'ok'


def test_output_dir_defaults_to_runner_artifacts(make_cb, tmp_path, monkeypatch):
    monkeypatch.setenv('AWX_ISOLATED_DATA_DIR', str(tmp_path / 'artifacts' / 'ident'))
    cb = make_cb(output_dir=None)
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    d.upgrade({'n1': ('ok', upgrade_result('applied'))})
    run_dir = d.end()
    assert os.path.dirname(run_dir) == str(tmp_path / 'artifacts' / 'ident' / 'fleet_report')


def test_unwritable_output_dir_warns_and_does_not_raise(make_cb, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    cb = make_cb(output_dir=str(blocker / 'sub'))
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    d.upgrade({'n1': ('ok', upgrade_result('applied'))})
    assert d.end() is None
    assert cb._display.warnings and 'HONEYCOMB_FLEET_REPORT_DIR' in cb._display.warnings[0]


def test_controller_side_tasks_do_not_make_an_unreachable_node_reachable(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2'], [])
    d.batch(['n1', 'n2'])
    d.task('Read versions', 'waggle.honeycomb.upgrade_info', {
        'n1': ('unreachable', {'unreachable': True, 'msg': 'tunnel down'}), 'n2': ('ok', {})})
    d.task('Record', 'ansible.builtin.set_fact', {'n1': ('ok', {'ansible_facts': {'x': 1}}), 'n2': ('ok', {})})
    d.task('Gate', 'ansible.builtin.debug', {'n1': ('ok', {'msg': 'x'})})
    d.upgrade({'n2': ('ok', upgrade_result('applied'))})
    n = nodes_by_name(load(d.end()))
    assert n['n1']['status'] == 'unreachable' and n['n1']['unreachable_msg'] == 'tunnel down'
    assert n['n2']['status'] == 'applied'


def test_nodes_seen_before_the_rollout_but_never_batched_are_not_started(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2', 'n3'], [])
    d.batch(['n1', 'n2', 'n3'])  # a gate play without serial touches every node
    d.task('Check settings', 'ansible.builtin.assert', {h: ('ok', {}) for h in ('n1', 'n2', 'n3')})
    rollout = Play('Roll out', d.inventory, [1, '100%'])
    d.inventory.restriction = {'n1'}
    cb.v2_playbook_on_play_start(rollout)
    d.upgrade({'n1': ('failed', upgrade_result('failed', install_rc=1))})
    rep = load(d.end())
    assert {n['name']: n['status'] for n in rep['nodes']} == {'n1': 'failed', 'n2': 'not_run', 'n3': 'not_run'}
    assert [b['hosts'] for b in rep['batches']] == [['n1']]  # only the serial play has batches
    assert rep['stopped'] and rep['batches'][0]['total'] == 2


# -- issue 13: a node that did not upgrade is never reported as a success ----------------------------
def test_a_job_lost_twice_fails_the_node_and_the_fleet(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2'], [2])
    d.batch(['n1', 'n2'])
    d.upgrade({'n1': ('ok', upgrade_result('applied')),
               'n2': ('ok', {'ansible_job_id': 'j1.2', 'started': 1, 'finished': 0})})
    d.task('Give up on a job lost twice', 'ansible.builtin.fail', {'n2': ('failed', {'msg': 'lost twice'})})
    d.task('Record the failure', 'ansible.builtin.set_fact', {'n2': ('ok', {'ansible_facts': {
        'fleet_report': {'status': 'lost', 'reason': 'the node lost the upgrade job twice'}}})})
    rep = load(d.end())
    n = nodes_by_name(rep)
    assert (n['n2']['status'], n['n2']['outcome']) == ('lost', 'failure')
    assert rep['result'] == 'failed' and rep['summary']['success'] is False
    assert rep['summary']['line'] == 'fleet FAILED: 2 nodes, applied 1, lost 1; failed: n2'
    assert '[fleet] fleet FAILED: 2 nodes, applied 1, lost 1; failed: n2' in cb._display.lines


@pytest.mark.parametrize('status', ['post_check_failed', 'interrupted'])
def test_post_check_failed_and_interrupted_are_failures(make_cb, status):
    cb = make_cb()
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    if status == 'interrupted':  # the engine's result when the module got SIGTERM mid-job
        d.upgrade({'n1': ('failed', {'failed': True, 'status': 'interrupted', 'phases': {}, 'msg': 'signal 15'})})
    else:
        d.upgrade({'n1': ('ok', upgrade_result('applied'))})
        d.task('Tell the fleet report', 'ansible.builtin.set_fact',
               {'n1': ('ok', {'ansible_facts': {'fleet_report': {'status': status}}})})
    rep = load(d.end())
    assert (rep['nodes'][0]['status'], rep['nodes'][0]['outcome']) == (status, 'failure')
    assert rep['result'] == 'failed'
    suite = ET.parse(os.path.join(cb.report_dir, 'junit.xml')).getroot().find('testsuite')
    assert suite.get('failures') == '1'


def test_a_node_reached_but_never_upgraded_is_not_a_success(make_cb):
    """upgrade task skipped on n2 (say by a when:): it did not upgrade, so it is not run, and the fleet failed"""
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2'], [])
    d.batch(['n1', 'n2'])
    d.upgrade({'n1': ('ok', upgrade_result('applied')), 'n2': ('skipped', {'skipped': True})})
    rep = load(d.end())
    assert nodes_by_name(rep)['n2']['status'] == 'not_run'
    assert rep['result'] == 'failed' and rep['summary']['not_run_nodes'] == ['n2']


def test_an_unknown_status_is_reported_as_failed_and_named(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1'], [])
    d.batch(['n1'])
    d.task('Sanity gate', 'ansible.builtin.set_fact',
           {'n1': ('ok', {'ansible_facts': {'fleet_report': {'status': 'excluded'}}})})
    rep = load(d.end())
    n = rep['nodes'][0]
    assert (n['status'], n['outcome']) == ('failed', 'failure')
    assert "unknown status 'excluded'" in n['msg']


def test_engine_rollback_results_are_classified_as_a_rollback(make_cb):
    """rolled_back is the success of an engine rollback (its result says kind rollback), a failure of an
    upgrade, also of a rollback playbook that applies an older payload (the engine's kind is upgrade)"""
    for engine_kind, outcome in (('rollback', 'success'), ('upgrade', 'failure')):
        cb = make_cb()
        d = Driver(cb, ['n1'], [])
        d.batch(['n1'])
        d.task('Describe the run', 'ansible.builtin.set_fact',
               {'n1': ('ok', {'ansible_facts': {'fleet_report_run': {'kind': 'rollback'}}})})
        res = upgrade_result('rolled_back')
        res.update(kind=engine_kind, failed=engine_kind == 'upgrade')
        d.upgrade({'n1': ('ok', res)})
        rep = load(d.end())
        assert rep['kind'] == 'rollback' and rep['summary']['kind'] == engine_kind
        assert rep['nodes'][0]['outcome'] == outcome


def test_a_run_without_batches_does_not_count_batches(make_cb):
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2'], [])
    d.batch(['n1', 'n2'])
    d.upgrade({'n1': ('ok', upgrade_result('applied')), 'n2': ('ok', upgrade_result('applied'))})
    with open(os.path.join(d.end(), 'report.html')) as f:
        page = f.read()
    assert 'batches' not in page.split('</header>')[0] and '&middot; 2 nodes</p>' in page
    assert 'id="line">fleet SUCCESS: 2 nodes, applied 2</p>' in page
    cb = make_cb()
    d = Driver(cb, ['n1', 'n2', 'n3'], [1, '100%'])
    d.batch(['n1'])
    d.upgrade({'n1': ('ok', upgrade_result('applied'))})
    d.batch(['n2', 'n3'])
    d.upgrade({'n2': ('ok', upgrade_result('applied')), 'n3': ('ok', upgrade_result('applied'))})
    with open(os.path.join(d.end(), 'report.html')) as f:
        assert '3 nodes in 2 batches' in f.read()
