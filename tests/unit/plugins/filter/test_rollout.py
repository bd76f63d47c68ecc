# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The waggle.honeycomb.rollout_* filters: the status model as playbooks see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.waggle.honeycomb.plugins.filter.rollout import (FilterModule, rollout_gate, rollout_outcome,
                                                                         rollout_summary)
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from hctest.requires import require_path

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'rollout_outcome', 'rollout_gate', 'rollout_summary'}


def test_outcome_filter_follows_the_model():
    for status in st.STATUSES:
        for kind in st.KINDS:
            assert rollout_outcome(status, kind) == st.outcome(status, kind)
    assert rollout_outcome({'status': 'lost', 'msg': 'x'}) == 'failure'
    with pytest.raises(AnsibleFilterError, match="rollout_outcome: unknown node status 'excluded'"):
        rollout_outcome('excluded')
    with pytest.raises(AnsibleFilterError, match='unknown rollout kind'):
        rollout_outcome('applied', 'sideways')


class FakeHostVars(dict):
    """hostvars: a mapping node -> that node's variables."""


def test_gate_and_summary_read_the_rollout_fact_through_hostvars():
    hv = FakeHostVars(n1={'honeycomb_rollout': {'status': 'applied'}}, n2={'honeycomb_rollout': {'status': 'lost'}},
                      n3={'other': 1})
    gate = rollout_gate(['n1', 'n2', 'n3'], 40, 20, hostvars=hv)
    assert gate['failed_nodes'] == ['n2', 'n3'] and gate['stop']  # n3 has no status: failed
    summary = rollout_summary(['n1', 'n2', 'n3'], hostvars=hv, targets=['n1', 'n2', 'n3', 'n4'])
    assert summary['nodes'] == {'n1': 'applied', 'n2': 'lost', 'n3': 'not_run', 'n4': 'not_run'}
    assert summary['result'] == 'failed'
    assert summary['line'] == 'fleet FAILED: 4 nodes, applied 1, lost 1, not_run 2; failed: n2; not run: n3, n4'


def test_filters_take_plain_mappings_and_lists():
    assert rollout_gate(['applied', 'failed'], '50%', 20)['stop'] is False
    assert rollout_gate({'a': 'failed', 'b': {'status': 'applied'}}, 49, 20)['failed_nodes'] == ['a']
    s = rollout_summary({'a': 'rolled_back'}, kind='rollback', stopped='false')
    assert s['success'] is True and s['stopped'] is False
    assert rollout_summary({'a': 'applied'}, stopped='yes', reason='why')['result'] == 'stopped'


@pytest.mark.parametrize('call, message', [
    (lambda: rollout_gate(['n1', 'n2'], 10, 20), "'n1' is not a node status; give node names with hostvars=hostvars"),
    (lambda: rollout_gate(['applied'], 'lots', 20), "max_fail_percentage must be a number from 0 to 100"),
    (lambda: rollout_summary('n1'), "expected a mapping node -> status or a list of node names"),
    (lambda: rollout_summary({'n1': 3}), "the status of node n1 must be a status name"),
    (lambda: rollout_summary({'n1': 'applied'}, targets='n1'), "targets must be a list of node names"),
    (lambda: rollout_summary({'n1': 'pending'}), "unknown node status 'pending'"),
])
def test_bad_input_is_a_clear_filter_error(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


CORE216 = os.path.join(REPO, '.venv-core216', 'bin', 'ansible-playbook')


@pytest.mark.parametrize('core', ['current', '2.16'])
def test_filters_work_in_a_playbook(tmp_path, core):
    """Through ansible-playbook: FQCN lookup, hostvars of real hosts, and the result as data; also with
    ansible-core 2.16, the controller that drives the Python 3.6 of real nodes."""
    playbook_cmd = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    if core == '2.16':
        playbook_cmd = str(require_path(CORE216, 'ansible-core 2.16', 'run `make venv-core216`'))
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text('all:\n  hosts:\n    n1: {}\n    n2: {}\n    n3: {}\n'
                         '  vars: {ansible_connection: local, ansible_python_interpreter: "%s"}\n' % sys.executable)
    play = tmp_path / 'play.yml'
    play.write_text("""
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.set_fact:
        honeycomb_rollout: {status: "{{ {'n1': 'applied', 'n2': 'post_check_failed'}[inventory_hostname] }}"}
      when: inventory_hostname != 'n3'
    - ansible.builtin.set_fact:
        _gate: "{{ ansible_play_batch | waggle.honeycomb.rollout_gate(40, 20, hostvars=hostvars) }}"
        _summary: "{{ ansible_play_hosts_all | waggle.honeycomb.rollout_summary(hostvars=hostvars) }}"
        _outcome: "{{ 'rolled_back' | waggle.honeycomb.rollout_outcome('rollback') }}"
      run_once: true
    - ansible.builtin.copy:
        dest: "%s"
        content: "{{ {'gate': _gate, 'summary': _summary, 'outcome': _outcome} | to_json }}"
        mode: '0644'
      run_once: true
""" % (tmp_path / 'out.json'))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
               ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'))
    (tmp_path / 'ansible.cfg').write_text('[defaults]\n')
    env.pop('ANSIBLE_CALLBACKS_ENABLED', None)
    res = subprocess.run([playbook_cmd, '-i', str(inventory),
                          str(play)], env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads((tmp_path / 'out.json').read_text())
    assert out['outcome'] == 'success'
    assert out['gate']['failed_nodes'] == ['n2', 'n3'] and out['gate']['stop'] is True
    assert out['summary']['nodes'] == {'n1': 'applied', 'n2': 'post_check_failed', 'n3': 'not_run'}
    assert out['summary']['line'] == ('fleet FAILED: 3 nodes, applied 1, post_check_failed 1, not_run 1; '
                                      'failed: n2; not run: n3')
