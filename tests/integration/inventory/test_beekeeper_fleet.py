# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The beekeeper plugin's tunnel contract against the simulated fleet: real bastion sshd, real reverse tunnels."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from hctest.fleet import REPO, VENV_BIN, fleet_fixture, simfleet
from hctest.requires import require_system_tool

pytestmark = [pytest.mark.fleet, pytest.mark.slow]


fleet = fleet_fixture(2, devices='none')


@pytest.fixture
def control_dir():
    # ssh's ControlPath (<dir>/<40 hex %C>.<16 random chars> while the master starts) must fit in the
    # 108 bytes of a unix socket name: pytest's tmp_path is too deep for that
    path = Path(tempfile.mkdtemp(prefix='hcp-', dir='/tmp'))
    yield path
    for sock in path.glob('*'):
        # stop the ControlPersist master of each socket (ssh -O exit), then remove the directory
        subprocess.run(['ssh', '-o', 'ControlPath=%s' % sock, '-O', 'exit', 'x'], capture_output=True,
                       timeout=20, check=False)
    shutil.rmtree(path, ignore_errors=True)


def _config(fleet, tmp_path, **extra):
    nodes = tmp_path / 'nodes.json'
    nodes.write_text(simfleet('inventory', '--format', 'beekeeper', '--dir', str(fleet.dir)).stdout)
    conf = {
        'plugin': 'waggle.honeycomb.beekeeper',
        'path': str(nodes),
        'bastion_host': '127.0.0.1',
        'bastion_port': fleet.bastion_port,
        'bastion_key': str(fleet.operator_key),
        'node_key': str(fleet.operator_key),
        # simulated nodes get fresh host keys with every fleet
        'extra_ssh_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
        'keyed_groups': [{'key': 'project', 'prefix': 'project'}],
    }
    conf.update(extra)
    path = tmp_path / 'simfleet.beekeeper.yml'
    path.write_text(yaml.safe_dump(conf))
    return path


def _ansible(fleet, control_dir, inventory, *args):
    env = fleet.ansible_env(control_dir=control_dir)
    return subprocess.run([str(VENV_BIN / 'ansible'), '-i', str(inventory), *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_inventory_matches_simfleet_contract(fleet, tmp_path):
    # simfleet's own inventory logs in to the bastion once per node (no shared bastion logins)
    inventory = _config(fleet, tmp_path, bastion_multiplex=False)
    env = fleet.ansible_env(control_dir=tmp_path / 'cp')
    out = subprocess.run([str(VENV_BIN / 'ansible-inventory'), '-i', str(inventory), '--list'], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    hostvars = json.loads(out)['_meta']['hostvars']
    simfleet_inv = yaml.safe_load(fleet.inventory.read_text())
    expected = {}
    for group in simfleet_inv['all'].get('children', {}).values():
        expected.update(group.get('hosts') or {})
    assert sorted(hostvars) == sorted(expected)

    def unwrap(v):
        return v['__ansible_unsafe'] if isinstance(v, dict) and '__ansible_unsafe' in v else v

    for vsn, want in expected.items():
        got = {k: unwrap(v) for k, v in hostvars[vsn].items()}
        assert got['ansible_host'] == want['ansible_host'] == got['node_id']
        # the same ProxyCommand simfleet's own inventory uses (the shared contract)
        assert got['ansible_ssh_common_args'] == want['ansible_ssh_common_args']
        assert got['ansible_user'] == 'root'
        assert got['ansible_ssh_private_key_file'] == str(fleet.operator_key)
        # the plugin's default interpreter is the one simfleet's inventory gives its nodes (no discovery)
        assert got['ansible_python_interpreter'] == simfleet_inv['all']['vars']['ansible_python_interpreter']


@pytest.mark.parametrize('socket_client', ['socat', 'netcat'])
def test_ping_through_tunnels(fleet, tmp_path, control_dir, socket_client):
    if socket_client == 'netcat':
        # the bastion is the host's own sshd: its `netcat -U` is this machine's netcat
        require_system_tool('netcat', 'netcat-openbsd')
    inventory = _config(fleet, tmp_path, socket_client=socket_client,
                        filter="phase == 'Deployed' && contains(sensors[].hw_model, 'XNP-6400RW')")
    proc = _ansible(fleet, control_dir, inventory, 'project_SAGE', '-m', 'ansible.builtin.command',
                    '-a', 'cat /etc/waggle/node-id')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for node in fleet.nodes:
        # each host answered from its own node: its /etc/waggle/node-id is the node ID the plugin used
        assert '%s | CHANGED | rc=0 >>\n%s\n' % (node['vsn'], node['node_id']) in proc.stdout, proc.stdout


def test_shipped_simfleet_example(fleet, tmp_path, control_dir):
    """inventories/simfleet.beekeeper.yml with the bastion port and keys from WAGGLE_* variables."""
    conf = yaml.safe_load((REPO / 'inventories' / 'simfleet.beekeeper.yml').read_text())
    nodes = tmp_path / 'simfleet-nodes.json'
    nodes.write_text(simfleet('inventory', '--format', 'beekeeper', '--dir', str(fleet.dir)).stdout)
    conf['path'] = str(nodes)
    path = tmp_path / 'simfleet.beekeeper.yml'
    path.write_text(yaml.safe_dump(conf))
    env = fleet.ansible_env(control_dir=control_dir)
    env.update(WAGGLE_BASTION_PORT=str(fleet.bastion_port), WAGGLE_BASTION_KEY=str(fleet.operator_key),
               WAGGLE_NODE_KEY=str(fleet.operator_key))
    proc = subprocess.run([str(VENV_BIN / 'ansible'), '-i', str(path), 'all', '-m', 'ansible.builtin.ping'],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count('SUCCESS') == len(fleet.nodes)
