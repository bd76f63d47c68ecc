# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""50 nodes at forks 25 through a bastion with the production sshd settings (OpenSSH's MaxStartups
10:30:100 and MaxSessions 10): the beekeeper plugin's multiplexed bastion hop reaches every node with
one bastion login per 10 node connections."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from hctest.fleet import REPO, VENV_BIN, simfleet, skip_unless_fleet_possible

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

NODES = 50
FORKS = 25
MAX_SESSIONS = 10  # OpenSSH's default, which the production bastion keeps


@pytest.fixture(scope='module')
def big_fleet():
    skip_unless_fleet_possible()
    d = Path(tempfile.mkdtemp(prefix='hcb-', dir='/tmp'))
    try:
        simfleet('up', '--nodes', str(NODES), '--devices', 'none', '--bastion', 'production', '--dir', str(d),
                 '--restart-delay', '1', '--no-remember', timeout=600)
        yield json.loads(simfleet('status', '--json', '--dir', str(d)).stdout)
    finally:
        simfleet('down', '--dir', str(d), '--purge', check=False, timeout=600)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def control_dir():
    # short: ssh's control sockets must fit in 108 bytes
    path = Path(tempfile.mkdtemp(prefix='hcm-', dir='/tmp'))
    yield path
    for sock in path.iterdir():
        if sock.is_socket():  # node and bastion ControlMasters: ssh -O exit
            subprocess.run(['ssh', '-o', 'ControlPath=%s' % sock, '-O', 'exit', 'x'], capture_output=True,
                           timeout=20, check=False)
    shutil.rmtree(path, ignore_errors=True)


def _inventory(status, tmp_path, **extra):
    nodes = tmp_path / 'nodes.json'
    nodes.write_text(simfleet('inventory', '--format', 'beekeeper', '--dir', status['dir']).stdout)
    conf = {
        'plugin': 'waggle.honeycomb.beekeeper',
        'path': str(nodes),
        'bastion_host': '127.0.0.1',
        'bastion_port': status['bastion_port'],
        'bastion_key': status['operator_key'],
        'node_key': status['operator_key'],
        'extra_ssh_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
    }
    conf.update(extra)
    path = tmp_path / 'fleet.beekeeper.yml'
    path.write_text(yaml.safe_dump(conf))
    return path


def _operator_logins(status):
    """Logins to the bastion with the operator's key so far (the bastion logs at VERBOSE, like bk-sshd)."""
    fingerprint = subprocess.run(['ssh-keygen', '-lf', status['operator_key'] + '.pub'], capture_output=True,
                                 text=True, check=True).stdout.split()[1]
    log = (Path(status['dir']) / 'bastion' / 'sshd.log').read_text(errors='replace')
    return len(re.findall(r'Accepted publickey for \S+ from 127\.0\.0\.1 port \d+ ssh2: \S+ %s$'
                          % re.escape(fingerprint), log, re.M))


def _ping(status, inventory, control_dir):
    env = {
        'PATH': '%s:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' % VENV_BIN,
        'HOME': str(Path.home()),
        'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': str(REPO / '.build' / 'collections'),
        'ANSIBLE_SSH_CONTROL_PATH_DIR': str(control_dir),
        'ANSIBLE_NOCOLOR': '1',
    }
    return subprocess.run([str(VENV_BIN / 'ansible'), '-i', str(inventory), 'all', '-f', str(FORKS),
                           '-m', 'ansible.builtin.ping'], env=env, capture_output=True, text=True, timeout=900,
                          check=False)


def test_bastion_has_production_settings(big_fleet):
    assert big_fleet['bastion_profile'] == 'production'
    config = (Path(big_fleet['dir']) / 'bastion' / 'sshd_config').read_text()
    # bk-sshd sets neither: OpenSSH's MaxStartups 10:30:100 and MaxSessions 10 apply
    assert not re.search(r'^\s*(MaxStartups|MaxSessions)\b', config, re.M | re.I)
    assert re.search(r'^ClientAliveInterval 60$', config, re.M)
    assert re.search(r'^AllowStreamLocalForwarding remote$', config, re.M)


def test_fifty_nodes_at_forks_25_through_production_bastion(big_fleet, tmp_path, control_dir):
    inventory = _inventory(big_fleet, tmp_path)
    before = _operator_logins(big_fleet)
    proc = _ping(big_fleet, inventory, control_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count('| SUCCESS') == NODES, out
    assert 'UNREACHABLE' not in out
    # one bastion login per MaxSessions node connections instead of one per node
    lanes = math.ceil(NODES / MAX_SESSIONS)
    assert _operator_logins(big_fleet) - before == lanes
    masters = sorted(p.name for p in control_dir.iterdir() if p.is_socket() and p.name.startswith('bk-'))
    assert len(masters) == lanes, masters

    # a second run within ControlPersist reuses every connection: no new bastion login at all
    proc = _ping(big_fleet, inventory, control_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count('| SUCCESS') == NODES
    assert _operator_logins(big_fleet) - before == lanes


def test_without_multiplexing_every_node_logs_in(big_fleet, tmp_path, control_dir):
    """The comparison: bastion_multiplex false pays one bastion login per node (whether the bastion's
    MaxStartups then drops some depends on timing; docs/benchmarks.md has a burst that shows it)."""
    inventory = _inventory(big_fleet, tmp_path, bastion_multiplex=False)
    before = _operator_logins(big_fleet)
    proc = _ping(big_fleet, inventory, control_dir)
    reached = proc.stdout.count('| SUCCESS')
    assert reached + proc.stdout.count('UNREACHABLE!') == NODES, proc.stdout + proc.stderr
    assert _operator_logins(big_fleet) - before >= reached
    assert not [p for p in control_dir.iterdir() if p.name.startswith('bk-')]
