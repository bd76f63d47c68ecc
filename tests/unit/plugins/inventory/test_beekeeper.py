# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the waggle.honeycomb.beekeeper inventory plugin, with the API shapes of docs/devices/node.md."""

from __future__ import annotations

import json
import os
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
COLLECTIONS = REPO / '.build' / 'collections'

init_plugin_loader([str(COLLECTIONS)])

from ansible_collections.waggle.honeycomb.plugins.inventory import beekeeper  # noqa: E402

PROD_ID = '000048B02D0766CD'


@pytest.fixture
def run(tmp_path, new_display):
    """run(config_dict, cache=True, plugin=None) -> (plugin, InventoryData) after parse()."""

    def _run(config, cache=True, plugin=None, name='test.beekeeper.yml'):
        conf = {'plugin': 'waggle.honeycomb.beekeeper', 'bastion_host': '127.0.0.1'}
        conf.update(config)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(conf))
        if plugin is None:
            plugin = inventory_loader.get('waggle.honeycomb.beekeeper')
            plugin.display = new_display()
        inventory = InventoryData()
        assert plugin.verify_file(str(path))
        plugin.parse(inventory, DataLoader(), str(path), cache=cache)
        return plugin, inventory

    return _run


def hostvars(inventory, name):
    return inventory.get_host(name).get_vars()


def test_verify_file_wants_beekeeper_suffix(tmp_path):
    plugin = inventory_loader.get('waggle.honeycomb.beekeeper')
    for good in ('prod.beekeeper.yml', 'beekeeper.yaml'):
        (tmp_path / good).write_text('plugin: waggle.honeycomb.beekeeper\n')
        assert plugin.verify_file(str(tmp_path / good))
    for bad in ('prod.yml', 'beekeeper.json', 'beekeeper.yml.bak'):
        (tmp_path / bad).write_text('plugin: waggle.honeycomb.beekeeper\n')
        assert not plugin.verify_file(str(tmp_path / bad))
    assert not plugin.verify_file(str(tmp_path / 'missing.beekeeper.yml'))


def test_manifests_shape(run):
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json')})
    # W001 (node ID with an S) and w0x (bad VSN) are skipped
    assert sorted(inv.hosts) == ['V032', 'W023', 'W02F', 'W030']
    hv = hostvars(inv, 'W023')
    assert hv['node_id'] == PROD_ID
    assert hv['vsn'] == 'W023'
    assert hv['project'] == 'SAGE'
    assert hv['phase'] == 'Deployed'
    assert hv['node_type'] is None
    assert hv['node_tags'] == ['ptz', 'urban']
    assert hv['address'] == 'Argonne National Laboratory, Lemont, IL'
    assert hv['gps'] == {'lat': 41.7183, 'lon': -87.9786}
    assert [s['hw_model'] for s in hv['sensors']] == ['XNP-6400RW', 'BME280']
    top = hv['sensors'][0]
    assert top['name'] == 'top_camera' and top['manufacturer'] == 'Hanwha Techwin'
    assert top['scope'] == 'global' and top['capabilities'] == ['camera']
    assert 'description' not in top and 'datasheet' not in top
    assert [(c['name'], c['zone'], c['hw_model']) for c in hv['computes']] == [
        ('nxcore', 'core', 'xavierNX'), ('rpi', 'shield', 'RPI4B')]
    # lower-case hexadecimal IDs are upper-cased, empty address and missing GPS left out
    assert hostvars(inv, 'V032')['node_id'] == '000048B02D35A97C'
    assert 'address' not in hostvars(inv, 'W030') and 'gps' not in hostvars(inv, 'W030')


def test_bad_records_are_skipped_with_warnings(run):
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json')})
    warnings = plugin.display.warnings
    assert len(warnings) == 2
    assert "'000077A12S23AD1A' is not 16 hexadecimal digits" in warnings[0] and "'W001'" in warnings[0]
    assert "VSN 'w0x' does not match" in warnings[1] and '000048B02D0A0B0C' in warnings[1]


def test_nodes_shape(run):
    plugin, inv = run({'path': str(FIXTURES / 'nodes.json')})
    assert sorted(inv.hosts) == ['H00F', 'W023']
    hv = hostvars(inv, 'W023')
    assert hv['node_id'] == PROD_ID
    assert hv['node_type'] == 'WSN'
    assert hv['phase'] == 'Deployed'
    assert hv['node_tags'] == []
    assert hv['gps'] == {'lat': 41.7183, 'lon': -87.9786, 'alt': 210.0}
    assert hv['sensors'][0] == {'name': 'top_camera', 'hw_model': 'XNP-6400RW', 'manufacturer': 'Hanwha Techwin'}
    assert hostvars(inv, 'H00F')['node_type'] == 'Blade'
    assert any("'48B02D0766' is not 16 hexadecimal digits" in w for w in plugin.display.warnings)


def test_nodes_shape_paginated(run, tmp_path):
    records = json.loads((FIXTURES / 'nodes.json').read_text())
    (tmp_path / 'page.json').write_text(json.dumps({'count': 3, 'next': None, 'previous': None, 'results': records}))
    plugin, inv = run({'path': str(tmp_path / 'page.json')})
    assert sorted(inv.hosts) == ['H00F', 'W023']


def test_beekeeper_state_shape(run):
    plugin, inv = run({'path': str(FIXTURES / 'beekeeper_state.json')})
    assert sorted(inv.hosts) == ['W023', 'W02F']
    hv = hostvars(inv, 'W023')
    assert hv['node_id'] == PROD_ID
    assert hv['project'] == 'SAGE'
    assert hv['phase'] is None and hv['node_type'] is None
    assert hv['sensors'] == [] and hv['node_tags'] == []
    assert hv['mode'] == 'active' and hv['beehive'] == 'sage-beehive'
    assert hostvars(inv, 'W02F')['mode'] == 'failed'
    # a registered node without a VSN yet and the short test ID are skipped, with a reason each
    assert len(plugin.display.warnings) == 2
    assert 'VSN None does not match' in plugin.display.warnings[0]
    assert "'123' is not 16 hexadecimal digits" in plugin.display.warnings[1]


def test_yaml_file_and_relative_path(run, tmp_path):
    (tmp_path / 'nodes').mkdir()
    (tmp_path / 'nodes' / 'm.yaml').write_text((FIXTURES / 'manifests.yaml').read_text())
    plugin, inv = run({'path': 'nodes/m.yaml'})
    assert list(inv.hosts) == ['W030']
    assert hostvars(inv, 'W030')['node_id'] == '000048B02D0766BE'


@pytest.mark.parametrize('shape,fixture', [
    ('manifests', 'manifests.json'), ('nodes', 'nodes.json'), ('beekeeper_state', 'beekeeper_state.json')])
def test_detect_shape(shape, fixture):
    document = json.loads((FIXTURES / fixture).read_text())
    records = beekeeper.extract_records(document)
    assert beekeeper.classify(document, records) == shape


def test_explicit_api_shape_mismatch_is_an_error(run):
    with pytest.raises(AnsibleParserError, match='looks like the manifests API, not api_shape=nodes'):
        run({'path': str(FIXTURES / 'manifests.json'), 'api_shape': 'nodes'})


def test_explicit_api_shape_for_untelling_records(run, tmp_path):
    (tmp_path / 'bare.json').write_text(json.dumps([{'vsn': 'W023', 'name': PROD_ID, 'phase': 'Deployed'}]))
    with pytest.raises(AnsibleParserError, match='match none of /manifests/'):
        run({'path': str(tmp_path / 'bare.json')})
    plugin, inv = run({'path': str(tmp_path / 'bare.json'), 'api_shape': 'manifests'})
    assert hostvars(inv, 'W023')['phase'] == 'Deployed'


@pytest.mark.parametrize('content,message', [
    ('{"vsn": ', 'neither valid JSON'),
    ('{"nodes": []}', 'unknown document: a mapping with the keys nodes'),
    ('"hello"', 'unknown document: a str'),
    ('{"data": "x"}', '"data" is a str'),
])
def test_bad_documents(run, tmp_path, content, message):
    (tmp_path / 'bad.json').write_text(content)
    with pytest.raises(AnsibleParserError, match=message):
        run({'path': str(tmp_path / 'bad.json')})


def test_missing_file(run, tmp_path):
    with pytest.raises(AnsibleParserError, match='does not exist'):
        run({'path': str(tmp_path / 'nope.json')})


def test_url_or_path_required(run):
    with pytest.raises(AnsibleParserError, match='set exactly one of "url"'):
        run({})
    with pytest.raises(AnsibleParserError, match='set exactly one of "url"'):
        run({'url': 'http://127.0.0.1:9/manifests/', 'path': '/x.json'})


def test_unreachable_url(run):
    # port 9 (discard) on loopback: nothing listens there in the test environment
    with pytest.raises(AnsibleParserError, match=r'Could not reach the Beekeeper / manifest API at http://127\.0\.0\.1:9/'):
        run({'url': 'http://127.0.0.1:9/manifests/', 'timeout': 3})


def test_filter_deployed_with_xnp_camera(run):
    expr = "phase == 'Deployed' && contains(sensors[].hw_model, 'XNP-6400RW')"
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'filter': expr})
    assert list(inv.hosts) == ['W023']
    # the same filter works on the flat sensors of /api/v-beta/nodes/
    plugin, inv = run({'path': str(FIXTURES / 'nodes.json'), 'filter': expr})
    assert list(inv.hosts) == ['W023']


def test_filter_sees_raw_record(run):
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'),
                       'filter': "contains(raw.resources[].hardware.hw_model, 'ES-8-150W')"})
    assert list(inv.hosts) == ['W023']


def test_filter_invalid_expression(run):
    with pytest.raises(AnsibleParserError, match='not a valid JMESPath expression'):
        run({'path': str(FIXTURES / 'manifests.json'), 'filter': "phase == 'Deployed' &&"})


def test_filter_type_error_leaves_node_out_unless_strict(run):
    expr = "contains(raw.modem.carrier, '310')"  # modem is null on most nodes
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'filter': expr})
    assert list(inv.hosts) == ['W023']
    with pytest.raises(AnsibleParserError, match='"filter" failed on node W02F'):
        run({'path': str(FIXTURES / 'manifests.json'), 'filter': expr, 'strict': True})


def test_constructed_compose_groups_keyed_groups(run):
    plugin, inv = run({
        'path': str(FIXTURES / 'manifests.json'),
        'compose': {'camera_models': "sensors | map(attribute='hw_model') | list",
                    'site': 'vsn | lower'},
        'groups': {'ptz': "'ptz' in node_tags", 'deployed': "phase == 'Deployed'"},
        'keyed_groups': [{'key': 'project', 'prefix': 'project'},
                         {'key': "phase | lower | replace(' ', '_')", 'prefix': 'phase'}],
    })
    assert hostvars(inv, 'W023')['camera_models'] == ['XNP-6400RW', 'BME280']
    assert hostvars(inv, 'W030')['site'] == 'w030'
    groups = {name: sorted(h.name for h in g.get_hosts()) for name, g in inv.groups.items()}
    assert groups['ptz'] == ['W023', 'W030']
    assert groups['deployed'] == ['W023', 'W02F']
    assert groups['project_SAGE'] == ['W023', 'W02F']
    assert groups['project_NEON'] == ['W030']
    assert groups['phase_awaiting_deployment'] == ['V032']


def test_constructed_strict(run):
    conf = {'path': str(FIXTURES / 'manifests.json'), 'compose': {'x': 'no_such_variable.attr'}}
    plugin, inv = run(conf)
    assert 'x' not in hostvars(inv, 'W023')
    conf['strict'] = True
    with pytest.raises(Exception, match='Could not set x for host'):
        run(conf)


def test_api_data_is_never_rendered(run, tmp_path):
    marker = tmp_path / 'pwned'
    records = json.loads((FIXTURES / 'manifests.json').read_text())
    records[1]['address'] = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % marker
    (tmp_path / 'evil.json').write_text(json.dumps(records))
    plugin, inv = run({'path': str(tmp_path / 'evil.json'),
                       'compose': {'where': 'address'},
                       'keyed_groups': [{'key': 'address', 'prefix': 'addr'}]})
    hv = hostvars(inv, 'W02F')
    assert hv['address'].startswith('{{ lookup(')
    assert hv['where'] == hv['address']
    assert not marker.exists()


BARE_W023 = ('ssh -p 2201 -i /keys/admin_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null '
             'admin@beekeeper.example.org socat - UNIX-CONNECT:/home_dirs/node-000048B02D0766CD/rtun.sock')


def test_proxy_command_exact_contract(run):
    conf = {'path': str(FIXTURES / 'manifests.json'), 'bastion_host': 'beekeeper.example.org',
            'bastion_port': 2201, 'bastion_user': 'admin', 'bastion_key': '/keys/admin_key'}
    plugin, inv = run(dict(conf, bastion_multiplex=False))
    hv = hostvars(inv, 'W023')
    assert hv['ansible_host'] == PROD_ID
    assert hv['ansible_user'] == 'root'
    assert hv['ansible_ssh_common_args'] == '-o ProxyCommand="%s"' % BARE_W023
    # what the ssh connection plugin will hand to ssh
    assert shlex.split(hv['ansible_ssh_common_args']) == ['-o', 'ProxyCommand=' + BARE_W023]


def test_proxy_command_multiplexed_by_default(run):
    """The default wraps the same bastion ssh command in the collection's multiplexing wrapper."""
    conf = {'path': str(FIXTURES / 'manifests.json'), 'bastion_host': 'beekeeper.example.org',
            'bastion_port': 2201, 'bastion_user': 'admin', 'bastion_key': '/keys/admin_key'}
    plugin, inv = run(conf)
    args = shlex.split(hostvars(inv, 'W023')['ansible_ssh_common_args'])
    assert args[0] == '-o'
    words = shlex.split(args[1].split('=', 1)[1])
    script = str(COLLECTIONS / 'ansible_collections' / 'waggle' / 'honeycomb' / 'plugins' / 'plugin_utils'
                 / 'bastion.py')
    assert os.path.realpath(words[1]) == os.path.realpath(script)
    assert os.path.isfile(words[0]) and os.access(words[0], os.X_OK)  # the controller's Python
    assert words[2:7] == ['--max-sessions', '10', '--persist', '300', '--']
    assert ' '.join(words[7:]) == BARE_W023


def test_proxy_command_multiplex_options(run, monkeypatch):
    monkeypatch.setenv('WAGGLE_BASTION_MAX_SESSIONS', '4')
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'bastion_control_persist': 60,
                       'bastion_control_dir': '/run/hc cp'})
    words = shlex.split(shlex.split(hostvars(inv, 'W023')['ansible_ssh_common_args'])[1].split('=', 1)[1])
    assert words[2:9] == ['--max-sessions', '4', '--persist', '60', '--control-dir', '/run/hc cp', '--']
    with pytest.raises(AnsibleParserError, match='bastion_max_sessions must be a whole number of at least 1'):
        run({'path': str(FIXTURES / 'manifests.json'), 'bastion_max_sessions': 0})
    # an option the multiplexing sets itself is refused when the inventory is read, not at connect time
    with pytest.raises(AnsibleParserError, match='option -S, which the bastion multiplexing sets itself'):
        run({'path': str(FIXTURES / 'manifests.json'), 'bastion_ssh_args': '-S /tmp/cp'})
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'bastion_ssh_args': '-S /tmp/cp',
                       'bastion_multiplex': False})


def test_proxy_command_netcat_and_options(run):
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'bastion_port': 2222,
                       'socket_client': 'netcat', 'node_user': 'waggle',
                       'bastion_ssh_args': '-o UserKnownHostsFile=/etc/bk_known_hosts',
                       'socket_path_template': '/srv/tunnels/{vsn}-{node_id}.sock',
                       'extra_ssh_args': '-o ServerAliveInterval=15', 'bastion_multiplex': False})
    hv = hostvars(inv, 'W023')
    assert hv['ansible_user'] == 'waggle'
    assert hv['ansible_ssh_common_args'] == (
        '-o ProxyCommand="ssh -p 2222 -o UserKnownHostsFile=/etc/bk_known_hosts root@127.0.0.1 '
        'netcat -U /srv/tunnels/W023-000048B02D0766CD.sock" -o ServerAliveInterval=15')


def test_proxy_command_without_key_and_custom_template(run):
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'bastion_multiplex': False,
                       'proxy_command_template': 'ssh bk-sshd connect-to-node {vsn}'})
    assert hostvars(inv, 'W023')['ansible_ssh_common_args'] == '-o ProxyCommand="ssh bk-sshd connect-to-node W023"'
    # multiplexed, the same ssh command follows the wrapper; a command that is not ssh is used as it is
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'),
                       'proxy_command_template': 'ssh bk-sshd connect-to-node {vsn}'})
    assert hostvars(inv, 'W023')['ansible_ssh_common_args'].endswith(' -- ssh bk-sshd connect-to-node W023"')
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'),
                       'proxy_command_template': 'nc -U /srv/{node_id}.sock'})
    assert hostvars(inv, 'W023')['ansible_ssh_common_args'] == '-o ProxyCommand="nc -U /srv/%s.sock"' % PROD_ID
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json')})
    assert '-i ' not in hostvars(inv, 'W023')['ansible_ssh_common_args']


def test_proxy_command_quotes_odd_paths(run):
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'bastion_key': '/keys/my key',
                       'bastion_multiplex': False})
    args = shlex.split(hostvars(inv, 'W023')['ansible_ssh_common_args'])
    # ssh hands the ProxyCommand to a shell, which sees the quoted key path as one word
    assert shlex.split(args[1].split('=', 1)[1])[3:5] == ['-i', '/keys/my key']


def test_proxy_command_unknown_placeholder(run):
    with pytest.raises(AnsibleParserError, match=r'unknown placeholder \{bastion\}'):
        run({'path': str(FIXTURES / 'manifests.json'), 'proxy_command_template': 'ssh {bastion} nc'})


def test_bastion_host_required_unless_set_connection_off(run):
    with pytest.raises(AnsibleParserError, match='"bastion_host" is required'):
        run({'path': str(FIXTURES / 'manifests.json'), 'bastion_host': None})
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'bastion_host': None, 'set_connection': False})
    hv = hostvars(inv, 'W023')
    assert 'ansible_host' not in hv and 'ansible_ssh_common_args' not in hv


def test_duplicate_vsn_and_node_id(run, tmp_path):
    records = json.loads((FIXTURES / 'manifests.json').read_text())[:2]
    dup_vsn = dict(records[1], name='000048B02D999999')
    dup_vsn['vsn'] = 'W023'
    dup_id = dict(records[1], vsn='W099', name=PROD_ID.lower())
    (tmp_path / 'dup.json').write_text(json.dumps(records + [dup_vsn, dup_id]))
    plugin, inv = run({'path': str(tmp_path / 'dup.json')})
    assert sorted(inv.hosts) == ['W023', 'W02F']
    assert hostvars(inv, 'W023')['node_id'] == PROD_ID
    assert any('VSN W023 is already used by node %s' % PROD_ID in w for w in plugin.display.warnings)
    assert any('node %s is already listed as W023' % PROD_ID in w for w in plugin.display.warnings)


def test_cache_is_used_and_flushed(run, tmp_path):
    data = tmp_path / 'nodes.json'
    data.write_text((FIXTURES / 'nodes.json').read_text())
    conf = {'path': str(data), 'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile',
            'cache_connection': str(tmp_path / 'cache'), 'cache_timeout': 3600}
    plugin, inv = run(conf)
    plugin.update_cache_if_changed()  # what InventoryManager does after parse()
    assert sorted(inv.hosts) == ['H00F', 'W023']
    cached = list((tmp_path / 'cache').iterdir())
    assert len(cached) == 1 and cached[0].name.endswith(plugin.get_cache_key(str(tmp_path / 'test.beekeeper.yml')))

    # the source changes; a fresh plugin (new process) still sees the cached nodes
    records = json.loads(data.read_text())
    data.write_text(json.dumps(records[:1]))
    plugin, inv = run(conf)
    assert sorted(inv.hosts) == ['H00F', 'W023']

    # --flush-cache (cache=False) reads the source again and rewrites the cache
    plugin, inv = run(conf, cache=False)
    plugin.update_cache_if_changed()
    assert sorted(inv.hosts) == ['W023']
    plugin, inv = run(conf)
    assert sorted(inv.hosts) == ['W023']


def test_cache_for_another_source_is_ignored(run, tmp_path):
    conf = {'path': str(FIXTURES / 'nodes.json'), 'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile',
            'cache_connection': str(tmp_path / 'cache')}
    plugin, inv = run(conf)
    plugin.update_cache_if_changed()
    conf['path'] = str(FIXTURES / 'beekeeper_state.json')
    plugin, inv = run(conf)
    assert hostvars(inv, 'W023').get('mode') == 'active'


def test_cache_key_is_per_config_file(tmp_path):
    plugin = inventory_loader.get('waggle.honeycomb.beekeeper')
    a = plugin.get_cache_key(str(tmp_path / 'a.beekeeper.yml'))
    b = plugin.get_cache_key(str(tmp_path / 'b.beekeeper.yml'))
    assert a != b and a.startswith('waggle.honeycomb.beekeeper_')


def test_token_from_environment_is_sent(monkeypatch, run):
    seen = {}

    class Response:
        def read(self):
            return (FIXTURES / 'nodes.json').read_bytes()

    def fake_open_url(url, headers=None, **kwargs):
        seen['url'] = url
        seen['headers'] = headers
        seen['kwargs'] = kwargs
        return Response()

    monkeypatch.setattr(beekeeper, 'open_url', fake_open_url)
    monkeypatch.setenv('WAGGLE_BEEKEEPER_TOKEN', 's3cret')
    plugin, inv = run({'url': 'https://auth.example.org/api/v-beta/nodes/', 'timeout': 7, 'validate_certs': False})
    assert seen['headers']['Authorization'] == 'Sage s3cret'
    assert seen['kwargs']['timeout'] == 7 and seen['kwargs']['validate_certs'] is False
    assert sorted(inv.hosts) == ['H00F', 'W023']
    assert 's3cret' not in json.dumps({h: str(hostvars(inv, h)) for h in inv.hosts})


def test_node_python_interpreter_default_and_choices(run, monkeypatch):
    # default: the nodes' /usr/bin/python3, so Ansible skips interpreter discovery
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json')})
    assert {hostvars(inv, h)['ansible_python_interpreter'] for h in inv.hosts} == {'/usr/bin/python3'}
    # also without the tunnel settings
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'set_connection': False,
                       'node_python_interpreter': '/opt/py/bin/python3'})
    hv = hostvars(inv, 'W023')
    assert hv['ansible_python_interpreter'] == '/opt/py/bin/python3' and 'ansible_host' not in hv
    # a discovery mode is passed through, an empty value sets nothing
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'node_python_interpreter': 'auto'})
    assert hostvars(inv, 'W023')['ansible_python_interpreter'] == 'auto'
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'), 'node_python_interpreter': ''})
    assert 'ansible_python_interpreter' not in hostvars(inv, 'W023')
    # environment variable
    monkeypatch.setenv('WAGGLE_NODE_PYTHON_INTERPRETER', '/usr/local/bin/python3.11')
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json')})
    assert hostvars(inv, 'W023')['ansible_python_interpreter'] == '/usr/local/bin/python3.11'


def test_node_python_interpreter_compose_overrides_and_bad_value(run):
    plugin, inv = run({'path': str(FIXTURES / 'manifests.json'),
                       'compose': {'ansible_python_interpreter': "'/usr/bin/python3.8' if vsn == 'W023' else "
                                                                 "ansible_python_interpreter"}})
    assert hostvars(inv, 'W023')['ansible_python_interpreter'] == '/usr/bin/python3.8'
    assert hostvars(inv, 'W02F')['ansible_python_interpreter'] == '/usr/bin/python3'
    with pytest.raises(AnsibleParserError, match='"node_python_interpreter" is \'python3\'; give an absolute path'):
        run({'path': str(FIXTURES / 'manifests.json'), 'node_python_interpreter': 'python3'})
