# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The waggle.honeycomb.beekeeper_log callback, fed with task results, posting to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import threading

import pytest

from ansible_collections.waggle.honeycomb.plugins.callback import beekeeper_log as bl
from hctest.beekeeper_api import BeekeeperLog
from hctest.callback_fakes import Display, Result

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
TOKEN = 's3cr3t-token-value'
IDS = {'W001': '000048B02D001001', 'W002': '000048B02D001002', 'W003': '000048B02D001003'}


class Host:
    def __init__(self, name, hostvars):
        self.name = name
        self.vars = hostvars

    def get_name(self):
        return self.name

    def get_vars(self):
        return dict(self.vars)


class Task:
    def __init__(self, action):
        self.action = self.resolved_action = action


class Stats:
    pass


@pytest.fixture
def api():
    server = BeekeeperLog().start()
    yield server
    server.stop()


def make_cb(url, **options):
    cb = bl.CallbackModule(display=Display(verbosity=3))
    # what set_options() would store (test_documented_options_load_through_ansible checks the real thing)
    cb._plugin_options = {'url': url, 'token': TOKEN, 'token_scheme': 'Sage', 'field_name': 'honeycomb_rollout',
                          'source': 'waggle.honeycomb', 'node_id_var': 'node_id', 'timeout': 5.0, 'retries': 3,
                          'retry_delay': 0.05, 'drain_timeout': 30.0, 'validate_certs': True,
                          'outcomes': ['success', 'failure', 'unreachable', 'pending', 'skipped']}
    cb._plugin_options.update(options)
    cb.url = cb._plugin_options['url']
    return cb


def host(name, **hostvars):
    hostvars.setdefault('node_id', IDS.get(name))
    return Host(name, hostvars)


def upgrade(status, action='upgrade'):
    return {'status': status, 'phases': {'state_check': {'rc': 0}}, 'action': action, 'changed': True}


def rollout_fact(status):
    return {'ansible_facts': {'honeycomb_rollout': {'status': status, 'msg': ''}}}


def test_documented_options_load_through_ansible():
    code = (
        "from ansible.plugins.loader import callback_loader, init_plugin_loader\n"
        "init_plugin_loader([%r])\n"
        "cb = callback_loader.get('waggle.honeycomb.beekeeper_log')\n"
        "cb.set_options()\n"
        "print(cb.get_option('url'), cb.get_option('retries'), cb.get_option('timeout'), cb.get_option('field_name'),"
        " cb.get_option('outcomes'), cb.CALLBACK_NEEDS_ENABLED, cb.CALLBACK_TYPE)\n"
    ) % os.path.join(REPO, '.build', 'collections')
    env = dict(os.environ, HONEYCOMB_BEEKEEPER_LOG_URL='http://127.0.0.1:9/log', HONEYCOMB_BEEKEEPER_LOG_RETRIES='1')
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split(None, 4)[:4] == ['http://127.0.0.1:9/log', '1', '10.0', 'honeycomb_rollout']
    assert out.stdout.strip().endswith('True notification')


def test_node_status_seam():
    assert bl.node_status('waggle.honeycomb.upgrade', upgrade('applied')) == 'applied'
    assert bl.node_status('ansible.builtin.async_status', upgrade('rolled_back')) == 'rolled_back'
    assert bl.node_status('ansible.builtin.set_fact', rollout_fact('post_check_failed')) == 'post_check_failed'
    assert bl.node_status('ansible.builtin.ping', {}, 'unreachable') == 'unreachable'
    # not a node's rollout result
    assert bl.node_status('ansible.builtin.command', {'status': 'applied', 'phases': {}}) is None
    assert bl.node_status('waggle.honeycomb.upgrade', {'ansible_job_id': '1.2', 'started': 1}) is None
    assert bl.node_status('ansible.builtin.set_fact', rollout_fact('made_up')) is None
    assert bl.rollout_kind(upgrade('rolled_back', action='rollback')) == 'rollback'


def test_events_have_beekeepers_shape(api):
    cb = make_cb(api.url)
    hosts = {name: host(name) for name in IDS}
    cb.v2_runner_on_ok(Result(hosts['W001'], Task('waggle.honeycomb.upgrade'), upgrade('applied')))
    # the same status again (the rollout records it in its fact) is not posted twice
    cb.v2_runner_on_ok(Result(hosts['W001'], Task('ansible.builtin.set_fact'), rollout_fact('applied')))
    cb.v2_runner_on_ok(Result(hosts['W002'], Task('ansible.builtin.async_status'), upgrade('rolled_back')))
    cb.v2_runner_on_unreachable(Result(hosts['W003'], Task('waggle.honeycomb.upgrade_info'), {'msg': 'x'}))
    # a later status of a node is a new event (Beekeeper keeps the latest by effective_time)
    cb.v2_runner_on_ok(Result(hosts['W001'], Task('ansible.builtin.set_fact'), rollout_fact('post_check_failed')))
    cb.v2_runner_on_ok(Result(hosts['W001'], Task('ansible.builtin.ping'), {'ping': 'pong'}))
    cb.v2_playbook_on_stats(Stats())
    assert api.errors == []
    got = sorted((op['node_id'], op['field_value']) for op in api.operations)
    assert got == sorted([(IDS['W001'], 'applied'), (IDS['W002'], 'rolled_back'), (IDS['W003'], 'unreachable'),
                          (IDS['W001'], 'post_check_failed')])
    for op in api.operations:
        assert op['operation'] == 'insert' and op['field_name'] == 'honeycomb_rollout'
        assert op['source'] == 'waggle.honeycomb'
        when = datetime.datetime.fromisoformat(op['effective_time'])
        assert when.tzinfo is not None and when.microsecond == 0
    for headers, body in api.requests:
        assert headers['Authorization'] == 'Sage ' + TOKEN
        assert headers['Content-Type'] == 'application/json'
    assert cb._display.warnings == []
    assert 'beekeeper_log: 4 events posted to %s, 0 not delivered' % api.url in cb._display.lines


def test_retries_after_a_500(api):
    api.fail_next = 2
    cb = make_cb(api.url)
    cb.v2_runner_on_ok(Result(host('W001'), Task('waggle.honeycomb.upgrade'), upgrade('applied')))
    cb.v2_playbook_on_stats(Stats())
    assert len(api.requests) == 3
    assert [(op['node_id'], op['field_value']) for op in api.operations] == [(IDS['W001'], 'applied')]
    assert cb._display.warnings == []


def test_a_400_is_not_retried_and_only_warned(api):
    cb = make_cb(api.url.replace('/log', '/nolog'))
    cb.v2_runner_on_ok(Result(host('W001'), Task('waggle.honeycomb.upgrade'), upgrade('applied')))
    cb.v2_playbook_on_stats(Stats())
    assert len(api.requests) == 1
    assert any('HTTP 404' in w and 'the rollout goes on' in w for w in cb._display.warnings)


def test_dead_server_gives_up_and_never_raises():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    cb = make_cb('http://user:pw@127.0.0.1:%d/log' % port, retries=1)
    for name in IDS:
        cb.v2_runner_on_ok(Result(host(name), Task('waggle.honeycomb.upgrade'), upgrade('failed')))
    cb.v2_runner_on_ok(Result(host('W004', node_id='000048B02D001004'), Task('waggle.honeycomb.upgrade'),
                              upgrade('applied')))
    cb.v2_playbook_on_stats(Stats())
    text = '\n'.join(cb._display.warnings + cb._display.lines)
    assert 'could not post W001' in text and 'not trying again in this run' in text
    assert cb.sender.failed == 3 and cb.sender.dropped == 1
    # neither the token nor the URL's password is shown
    assert TOKEN not in text and 'pw@' not in text


def test_hanging_server_is_bounded_by_the_timeout():
    """A server that accepts and never answers: each attempt ends after `timeout`, the run goes on."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(16)
    try:
        cb = make_cb('http://127.0.0.1:%d/log' % listener.getsockname()[1], timeout=0.5, retries=1)
        cb.v2_runner_on_ok(Result(host('W001'), Task('waggle.honeycomb.upgrade'), upgrade('applied')))
        cb.v2_playbook_on_stats(Stats())
        assert cb.sender.failed == 1
        assert any('timed out' in w for w in cb._display.warnings), cb._display.warnings
    finally:
        listener.close()


def test_hosts_without_node_id_and_filtered_outcomes(api):
    cb = make_cb(api.url, outcomes=['failure'])
    cb.v2_runner_on_ok(Result(Host('W009', {'ansible_host': 'somewhere'}), Task('waggle.honeycomb.upgrade'),
                              upgrade('failed')))
    cb.v2_runner_on_ok(Result(host('W001'), Task('waggle.honeycomb.upgrade'), upgrade('applied')))
    cb.v2_runner_on_ok(Result(Host('W002', {'ansible_host': IDS['W002'].lower()}), Task('waggle.honeycomb.upgrade'),
                              upgrade('rolled_back')))
    cb.v2_playbook_on_stats(Stats())
    assert [(op['node_id'], op['field_value']) for op in api.operations] == [(IDS['W002'], 'rolled_back')]
    assert any('W009 has no node ID' in w for w in cb._display.warnings)


def test_no_url_is_one_warning_and_nothing_else():
    cb = make_cb(None)
    for dummy in range(3):
        cb.v2_runner_on_ok(Result(host('W001'), Task('waggle.honeycomb.upgrade'), upgrade('applied')))
    cb.v2_playbook_on_stats(Stats())
    assert len(cb._display.warnings) == 1 and 'has no url' in cb._display.warnings[0]
    assert threading.active_count() >= 1
