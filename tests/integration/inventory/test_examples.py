# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The example inventories under inventories/ work with real ansible-inventory / ansible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
FIXTURES = REPO / 'tests' / 'unit' / 'plugins' / 'inventory' / 'fixtures'


def _run(argv, env):
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _var(env, inventory, host, var, *extra):
    out = _run([str(BIN / 'ansible'), '-i', str(inventory), host, '-m', 'ansible.builtin.debug', '-a',
                'var=%s' % var, *extra], env)
    return json.loads(out.split('=>', 1)[1])[var]


def test_static_example_matches_plugin_contract(ansible_env, inventory):
    static = REPO / 'inventories' / 'example-nodes.yml'
    got = _var(ansible_env, static, 'W023', 'ansible_ssh_common_args', '-e', 'bastion_key=/keys/bk_admin')
    # a static inventory has no shared bastion logins: the plugin's ProxyCommand without them
    data, proc = inventory({'path': str(FIXTURES / 'manifests.json'), 'bastion_host': 'beekeeper.example.org',
                            'bastion_port': 2201, 'bastion_key': '/keys/bk_admin', 'bastion_multiplex': False})
    want = data['_meta']['hostvars']['W023']['ansible_ssh_common_args']
    want = want['__ansible_unsafe'] if isinstance(want, dict) else want
    assert got == want
    assert _var(ansible_env, static, 'W023', 'ansible_host') == '000048B02D0766CD'


def test_production_example_groups(ansible_env, tmp_path):
    conf = yaml.safe_load((REPO / 'inventories' / 'production.beekeeper.yml').read_text())
    assert conf['url'].endswith('/manifests/')
    # the same configuration, offline: the API document from a file, the cache in tmp_path
    del conf['url']
    conf.update(path=str(FIXTURES / 'manifests.json'), cache_connection=str(tmp_path / 'cache'),
                bastion_host='beekeeper.example.org')
    path = tmp_path / 'production.beekeeper.yml'
    path.write_text(yaml.safe_dump(conf))
    graph = json.loads(_run([str(BIN / 'ansible-inventory'), '-i', str(path), '--list'], ansible_env))
    assert sorted(graph['phase_deployed']['hosts']) == ['W023', 'W02F']
    assert graph['ptz_camera']['hosts'] == ['W023']
    assert graph['shield']['hosts'] == ['W023']
    assert graph['tag_ptz']['hosts'] == ['W023']
    assert sorted(graph['project_SAGE']['hosts']) == ['W023', 'W02F']
