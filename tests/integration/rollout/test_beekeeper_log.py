# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real ansible-playbook runs with the waggle.honeycomb.beekeeper_log callback posting to a real HTTP server on
127.0.0.1 that checks Beekeeper's /log shape: events per node, retries on 500, a dead Beekeeper does not fail the
run, and the token appears nowhere in the output (at -vvv)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hctest.beekeeper_api import BeekeeperLog

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
TOKEN = 'tok-3f9a1c-never-shown'
NODES = {'W001': ('000048B02D00A001', 'applied'), 'W002': ('000048B02D00A002', 'rolled_back'),
         'W003': ('000048B02D00A003', 'post_check_failed')}

PLAYBOOK = """
- name: A rollout's record of its nodes (as playbooks/upgrade.yml sets it)
  hosts: nodes
  gather_facts: false
  tasks:
    - name: Record the upgrade result
      ansible.builtin.set_fact:
        honeycomb_rollout:
          status: "{{ rollout_status }}"

- name: A node that cannot be reached
  hosts: lost
  gather_facts: false
  ignore_unreachable: true
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


@pytest.fixture
def api():
    server = BeekeeperLog().start()
    yield server
    server.stop()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run(tmp_path, url, **env_extra):
    inventory = {'all': {'children': {
        'nodes': {'hosts': {vsn: {'node_id': node_id, 'rollout_status': status}
                            for vsn, (node_id, status) in NODES.items()},
                  'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}},
        'lost': {'hosts': {'W004': {'node_id': '000048B02D00A004', 'ansible_host': '127.0.0.1',
                                    'ansible_port': _free_port(), 'ansible_user': 'nobody'}}},
    }}}
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'HONEYCOMB_'))}
    env.update({
        'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': str(REPO / '.build' / 'collections'),
        'ANSIBLE_CALLBACKS_ENABLED': 'waggle.honeycomb.beekeeper_log',
        'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'tmp'),
        'ANSIBLE_SSH_CONTROL_PATH_DIR': str(tmp_path / 'cp'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_TIMEOUT': '5',
        'HONEYCOMB_BEEKEEPER_LOG_URL': url,
        'HONEYCOMB_BEEKEEPER_LOG_TOKEN': TOKEN,
        'HONEYCOMB_BEEKEEPER_LOG_RETRY_DELAY': '0.1',
        'NO_PROXY': '*',
        'PATH': '%s:%s' % (BIN, os.environ.get('PATH', '')),
    })
    env.update(env_extra)
    return subprocess.run([str(BIN / 'ansible-playbook'), '-vvv', '-i', str(tmp_path / 'inventory.yml'),
                           str(tmp_path / 'play.yml')], env=env, capture_output=True, text=True, timeout=600,
                          check=False, cwd=str(tmp_path))


def _everything_written(tmp_path, proc):
    """All output of the run: stdout, stderr and every file under tmp_path (temp dirs, logs)."""
    text = proc.stdout + proc.stderr
    for path in tmp_path.rglob('*'):
        if path.is_file():
            text += path.read_text(errors='replace')
    return text


def test_events_reach_beekeeper_in_its_shape(api, tmp_path):
    api.fail_next = 1  # the first request meets a 500 and is retried
    proc = _run(tmp_path, api.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert api.errors == []
    got = sorted((op['node_id'], op['field_value']) for op in api.operations)
    want = sorted(list(NODES.values()) + [('000048B02D00A004', 'unreachable')])
    assert got == want
    assert len(api.requests) == len(want) + 1
    assert all(headers['Authorization'] == 'Sage ' + TOKEN for headers, body in api.requests)
    assert 'beekeeper_log: 4 events posted to %s, 0 not delivered' % api.url in proc.stdout
    assert TOKEN not in _everything_written(tmp_path, proc)


def test_dead_beekeeper_does_not_fail_the_run(tmp_path):
    url = 'http://127.0.0.1:%d/log' % _free_port()
    proc = _run(tmp_path, url, HONEYCOMB_BEEKEEPER_LOG_RETRIES='1')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert 'beekeeper_log: could not post' in out and 'the rollout goes on' in out
    assert 'not trying again in this run' in out
    assert TOKEN not in _everything_written(tmp_path, proc)
