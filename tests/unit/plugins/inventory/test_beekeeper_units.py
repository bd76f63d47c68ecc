# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The beekeeper inventory plugin's compute units (nxagent, rpi): off by default, names, groups, group
variables (state dir on persistent storage), which units a node has, and the ProxyCommand chain through
the node's nxcore."""

from __future__ import annotations

import pathlib
import shlex

import pytest
import yaml

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'
REPO = pathlib.Path(__file__).resolve().parents[4]
init_plugin_loader([str(REPO / '.build' / 'collections')])

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout  # noqa: E402
from ansible_collections.waggle.honeycomb.plugins.plugin_utils import bastion  # noqa: E402
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import units  # noqa: E402

W023 = '000048B02D0766CD'
BASE = {'bastion_host': 'beekeeper.example.org', 'bastion_port': 2201, 'bastion_user': 'admin',
        'bastion_key': '/keys/admin_key', 'node_key': '/keys/node_key'}


@pytest.fixture
def run(tmp_path, new_display):
    def _run(config, fixture='manifests.json'):
        conf = {'plugin': 'waggle.honeycomb.beekeeper', 'path': str(FIXTURES / fixture)}
        conf.update(BASE)
        conf.update(config)
        path = tmp_path / 'units.beekeeper.yml'
        path.write_text(yaml.safe_dump(conf))
        plugin = inventory_loader.get('waggle.honeycomb.beekeeper')
        plugin.display = new_display()
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), str(path), cache=False)
        return inventory

    return _run


def hv(inventory, name):
    return inventory.get_host(name).get_vars()


def members(inventory, group):
    return sorted(h.name for h in inventory.groups[group].get_hosts())


def proxy_argv(hostvars):
    """The unit's ProxyCommand as sh would split it (ssh runs it with sh -c)."""
    args = shlex.split(hostvars['ansible_ssh_common_args'])
    assert args[0] == '-o' and args[1].startswith('ProxyCommand=')
    return shlex.split(args[1][len('ProxyCommand='):]), args[2:]


def test_units_are_off_by_default(run):
    inv = run({})
    assert sorted(inv.hosts) == ['V032', 'W023', 'W02F', 'W030']
    for group in units.GROUPS:
        assert group not in inv.groups
    assert 'compute_unit' not in hv(inv, 'W023')


def test_units_from_the_manifest_computes(run):
    """W023 lists an rpi in zone shield (and no agent), W02F only its nxcore; W030 and V032 list nothing,
    which says nothing: they get every unit asked for."""
    inv = run({'units': ['nxagent', 'rpi']})
    assert sorted(inv.hosts) == ['V032', 'V032-nxagent', 'V032-rpi', 'W023', 'W023-rpi', 'W02F',
                                 'W030', 'W030-nxagent', 'W030-rpi']
    assert members(inv, 'nxcore') == ['V032', 'W023', 'W02F', 'W030']
    assert members(inv, 'nxagent') == ['V032-nxagent', 'W030-nxagent']
    assert members(inv, 'rpi') == ['V032-rpi', 'W023-rpi', 'W030-rpi']
    pi = hv(inv, 'W023-rpi')
    assert pi['compute_unit'] == 'rpi' and pi['node_host'] == 'W023'
    assert pi['node_id'] == W023 and pi['vsn'] == 'W023' and pi['project'] == 'SAGE'
    assert pi['ansible_host'] == W023 + '-rpi' and pi['ansible_user'] == 'root'
    assert pi['ansible_ssh_private_key_file'] == '/keys/node_key'
    assert pi['ansible_python_interpreter'] == '/usr/bin/python3'
    assert hv(inv, 'W023')['compute_unit'] == 'nxcore'


def test_group_variables_put_the_pi_state_on_plugin_data(run):
    inv = run({'units': ['nxagent', 'rpi']})
    rpi = inv.groups['rpi'].get_vars()
    assert rpi['honeycomb_state_dir'] == layout.PLUGIN_DATA_STATE_DIR == '/media/plugin-data/honeycomb'
    assert rpi['node_prereqs_state_dir'] == '/media/plugin-data/honeycomb'
    assert rpi['sanity_checks'] == ['free_space_root', 'free_space_state', 'clock_synchronized']
    assert rpi['sanity_settings'] == {'free_space_state': {'path': '/media/plugin-data/honeycomb'}}
    assert rpi['sanity_run_waggle_tests'] is False
    agent = inv.groups['nxagent'].get_vars()
    assert 'honeycomb_state_dir' not in agent  # the modules' default: the agent's /var persists
    assert 'reverse_tunnel' not in agent['sanity_checks'] and 'mounts' in agent['sanity_checks']
    assert inv.groups['nxcore'].get_vars() == {}
    # the state dirs are configurable, per unit
    inv = run({'units': ['rpi'], 'unit_state_dirs': {'rpi': '/media/plugin-data/hc', 'nxcore': '/srv/hc'}})
    assert inv.groups['rpi'].get_vars()['honeycomb_state_dir'] == '/media/plugin-data/hc'
    assert inv.groups['nxcore'].get_vars()['honeycomb_state_dir'] == '/srv/hc'


def test_beekeeper_state_has_no_computes_so_every_unit_is_added(run):
    inv = run({'units': 'rpi'}, fixture='beekeeper_state.json')
    assert sorted(inv.hosts) == ['W023', 'W023-rpi', 'W02F', 'W02F-rpi']


def test_units_from_computes_off_and_node_units(run):
    inv = run({'units': ['nxagent', 'rpi'], 'units_from_computes': False})
    assert members(inv, 'nxagent') == ['V032-nxagent', 'W023-nxagent', 'W02F-nxagent', 'W030-nxagent']
    inv = run({'units': ['rpi'], 'node_units': {'W02F': ['nxagent'], W023: [], 'v032': ['rpi', 'nxagent']}})
    assert members(inv, 'nxagent') == ['V032-nxagent', 'W02F-nxagent']
    assert members(inv, 'rpi') == ['V032-rpi', 'W030-rpi']
    # node_units alone turns units on for those nodes
    inv = run({'node_units': {'W030': ['nxagent']}})
    assert members(inv, 'nxagent') == ['W030-nxagent'] and members(inv, 'rpi') == []


def test_proxy_chain_goes_through_the_nodes_own_proxy_command(run):
    inv = run({'units': ['nxagent', 'rpi'], 'units_from_computes': False,
               'extra_ssh_args': '-o StrictHostKeyChecking=no'})
    node = hv(inv, 'W023')
    node_proxy = shlex.split(node['ansible_ssh_common_args'])[1][len('ProxyCommand='):]
    for unit, address in (('nxagent', '10.31.81.3:22'), ('rpi', '10.31.81.4:22')):
        argv, rest = proxy_argv(hv(inv, 'W023-' + unit))
        assert argv == ['ssh', '-o', 'ProxyCommand=' + node_proxy, '-W', address, '-i', '/keys/node_key',
                        '-o', 'StrictHostKeyChecking=no', 'root@' + W023]
        assert rest == ['-o', 'StrictHostKeyChecking=no']
    # the node hop is the multiplexed bastion login of the node itself
    assert 'bastion.py' in node_proxy and 'UNIX-CONNECT:/home_dirs/node-%s/rtun.sock' % W023 in node_proxy


def test_unit_addresses_user_and_key(run):
    inv = run({'units': ['nxagent', 'rpi'], 'units_from_computes': False, 'bastion_multiplex': False,
               'unit_addresses': {'rpi': 'ws-rpi:2222'}, 'unit_user': 'waggle', 'unit_key': '/keys/unit'})
    argv, dummy = proxy_argv(hv(inv, 'W02F-rpi'))
    assert argv[3:5] == ['-W', 'ws-rpi:2222']
    argv, dummy = proxy_argv(hv(inv, 'W02F-nxagent'))
    assert argv[3:5] == ['-W', '10.31.81.3:22']
    assert argv[-1] == 'root@000048B02D15BC7D'  # the nxcore hop logs in as node_user with node_key
    assert argv[5:7] == ['-i', '/keys/node_key']
    assert hv(inv, 'W02F-rpi')['ansible_user'] == 'waggle'
    assert hv(inv, 'W02F-rpi')['ansible_ssh_private_key_file'] == '/keys/unit'


@pytest.mark.parametrize('config, message', [
    ({'units': ['nxagent', 'gpu']}, "unknown unit(s) 'gpu'"),
    ({'units': ['rpi'], 'node_units': {'W023': ['camera']}}, 'node_units[W023]'),
    ({'units': ['rpi'], 'unit_addresses': {'rpi': '10.31.81.4:99999'}}, 'port after'),
    ({'units': ['rpi'], 'unit_addresses': {'rpi': 'a b'}}, 'without spaces'),
    ({'units': ['rpi'], 'unit_state_dirs': {'rpi': 'relative/dir'}}, 'absolute path'),
    ({'units': ['rpi'], 'bastion_key': '/keys/my key'}, 'single quote'),
])
def test_bad_unit_settings_are_errors(run, config, message):
    with pytest.raises(AnsibleParserError, match=None) as e:
        run(config)
    assert message in str(e.value)


def test_constructed_groups_see_the_unit(run):
    inv = run({'units': ['rpi'], 'keyed_groups': [{'key': 'compute_unit', 'prefix': 'unit'}]})
    assert members(inv, 'unit_rpi') == ['V032-rpi', 'W023-rpi', 'W030-rpi']


def test_unit_proxy_command_doubles_percent_signs():
    inner = 'ssh -o ControlPath=/tmp/%%C bastion socat - UNIX-CONNECT:/s'
    out = bastion.unit_proxy_command(inner, 'NODE', '10.31.81.3')
    # ssh expands % once per level: the outer ssh leaves the inner ssh its %%C
    assert "'ProxyCommand=ssh -o ControlPath=/tmp/%%%%C bastion" in out
    assert out.endswith('-W 10.31.81.3:22 root@NODE')


def test_unit_of_compute():
    assert units.unit_of_compute({'name': 'nxagent', 'zone': 'agent'}) == 'nxagent'
    assert units.unit_of_compute({'name': 'rpi', 'zone': 'shield'}) == 'rpi'
    assert units.unit_of_compute({'name': 'rpi-enclosure', 'zone': 'enclosure'}) is None
    assert units.unit_of_compute({'name': 'nx-agent'}) == 'nxagent'
    assert units.unit_of_compute({'name': 'nxcore', 'zone': 'core'}) is None
    assert units.unit_of_compute('rpi') is None
