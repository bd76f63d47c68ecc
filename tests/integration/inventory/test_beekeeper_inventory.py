# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real ansible-inventory (and ansible) with the beekeeper plugin against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

PROXY_W023 = ('-o ProxyCommand="ssh -p 2201 -i /keys/bk_admin -o StrictHostKeyChecking=no '
              '-o UserKnownHostsFile=/dev/null root@bastion.example.org '
              'socat - UNIX-CONNECT:/home_dirs/node-000048B02D0766CD/rtun.sock"')
BASTION = {'bastion_host': 'bastion.example.org', 'bastion_port': 2201, 'bastion_key': '/keys/bk_admin'}
FAIL_ON_UNPARSED = {'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true'}


def plain(value):
    """Drop ansible-inventory's {"__ansible_unsafe": ...} wrappers (API data is untrusted)."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def hosts_of(data, group='all'):
    data = plain(data)
    found = set(data.get(group, {}).get('hosts', []))
    for child in data.get(group, {}).get('children', []):
        found |= hosts_of(data, child)
    return found


def test_manifests_url(api, inventory):
    url, state = api
    data, proc = inventory(dict(BASTION, url=url + '/manifests/', bastion_multiplex=False,
                                keyed_groups=[{'key': 'project', 'prefix': 'project'}]))
    data = plain(data)
    assert hosts_of(data) == {'V032', 'W023', 'W02F', 'W030'}
    hv = data['_meta']['hostvars']['W023']
    assert hv['ansible_host'] == '000048B02D0766CD'
    assert hv['ansible_user'] == 'root'
    assert hv['ansible_ssh_common_args'] == PROXY_W023
    assert hv['phase'] == 'Deployed' and hv['project'] == 'SAGE' and hv['node_tags'] == ['ptz', 'urban']
    assert [s['hw_model'] for s in hv['sensors']] == ['XNP-6400RW', 'BME280']
    assert set(data['project_SAGE']['hosts']) == {'W023', 'W02F'}
    # the bad records are reported, not fatal
    assert '000077A12S23AD1A' in proc.stderr and "VSN 'w0x'" in proc.stderr
    assert state.requests == [('/manifests/', None)]


def test_nodes_url_follows_pages(api, inventory):
    url, state = api
    data, proc = inventory(dict(BASTION, url=url + '/api/v-beta/nodes/', api_shape='nodes'))
    data = plain(data)
    assert hosts_of(data) == {'W023', 'H00F'}
    assert data['_meta']['hostvars']['H00F']['node_type'] == 'Blade'
    assert [req[0] for req in state.requests] == ['/api/v-beta/nodes/', '/api/v-beta/nodes/?page=2']


def test_beekeeper_state_url(api, inventory):
    url, state = api
    data, proc = inventory(dict(BASTION, url=url + '/api/state', socket_client='netcat'))
    data = plain(data)
    assert hosts_of(data) == {'W023', 'W02F'}
    assert data['_meta']['hostvars']['W02F']['ansible_ssh_common_args'].endswith(
        'root@bastion.example.org netcat -U /home_dirs/node-000048B02D15BC7D/rtun.sock"')


def test_filter_deployed_xnp_cameras(api, inventory):
    url, state = api
    data, proc = inventory(dict(BASTION, url=url + '/manifests/',
                                filter="phase == 'Deployed' && contains(sensors[].hw_model, 'XNP-6400RW')"))
    assert hosts_of(data) == {'W023'}


def test_token_from_environment(api, inventory):
    url, state = api
    conf = dict(BASTION, url=url + '/private/manifests/')
    data, proc = inventory(conf, env=FAIL_ON_UNPARSED, check=False)
    assert proc.returncode != 0
    stderr = ' '.join(proc.stderr.split())
    assert 'answered HTTP 401' in stderr and 'WAGGLE_BEEKEEPER_TOKEN' in stderr
    data, proc = inventory(conf, env={'WAGGLE_BEEKEEPER_TOKEN': state.token})
    assert 'W023' in hosts_of(data)
    assert state.requests[-1] == ('/private/manifests/', 'Sage ' + state.token)
    assert state.token not in proc.stdout


def test_clear_errors(api, inventory):
    url, state = api
    cases = {
        url + '/broken/': 'is not valid JSON',
        url + '/unknown/': 'unknown document: a mapping with the keys nodes',
        url + '/missing/': 'answered HTTP 404',
        'http://127.0.0.1:9/manifests/': 'Could not reach the Beekeeper / manifest API at http://127.0.0.1:9/manifests/',
    }
    for bad_url, message in cases.items():
        data, proc = inventory(dict(BASTION, url=bad_url, timeout=5), env=FAIL_ON_UNPARSED, check=False)
        assert proc.returncode != 0, bad_url
        assert message in ' '.join(proc.stderr.split()), (bad_url, proc.stderr)


def test_cache_and_flush_cache(api, inventory, tmp_path):
    url, state = api
    conf = dict(BASTION, url=url + '/manifests/', cache=True, cache_plugin='ansible.builtin.jsonfile',
                cache_connection=str(tmp_path / 'inventory-cache'), cache_timeout=3600)
    data, proc = inventory(conf)
    assert 'W023' in hosts_of(data)
    assert len(state.requests) == 1
    state.documents['/manifests/'] = state.documents['/manifests/'][2:3]  # only W030 left
    data, proc = inventory(conf)
    assert 'W023' in hosts_of(data) and len(state.requests) == 1  # served from the cache
    data, proc = inventory(conf, '--flush-cache')
    assert hosts_of(data) == {'W030'} and len(state.requests) == 2
    data, proc = inventory(conf)
    assert hosts_of(data) == {'W030'} and len(state.requests) == 2


def test_api_text_is_not_rendered_by_ansible(api, inventory, tmp_path):
    url, state = api
    marker = tmp_path / 'pwned'
    state.documents['/manifests/'][1]['address'] = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % marker
    conf = dict(BASTION, url=url + '/manifests/', compose={'where': 'address'})
    data, proc = inventory(conf, 'W02F', '-m', 'ansible.builtin.debug', '-a', 'var=where', command='ansible')
    assert "lookup('ansible.builtin.pipe'" in proc.stdout
    assert not marker.exists()


def test_bastion_multiplex_from_ansible_cfg_and_environment(api, inventory, tmp_path):
    """The shipped ansible.cfg turns the shared bastion logins on; its [waggle_honeycomb_beekeeper] keys and
    the WAGGLE_BASTION_* variables set them, the inventory file wins over both."""
    url, state = api

    def proxy(conf, env=None):
        data, proc = inventory(dict(BASTION, url=url + '/manifests/', **conf), env=env)
        value = plain(data)['_meta']['hostvars']['W023']['ansible_ssh_common_args']
        return value.split('ProxyCommand="', 1)[1].rsplit('"', 1)[0]

    bare = PROXY_W023.split('ProxyCommand="', 1)[1].rsplit('"', 1)[0]
    shipped = proxy({})
    assert shipped.endswith(' --max-sessions 10 --persist 300 -- ' + bare)
    assert 'plugin_utils/bastion.py' in shipped
    cfg = tmp_path / 'ansible.cfg'
    cfg.write_text((REPO / 'ansible.cfg').read_text().replace('bastion_max_sessions = 10', 'bastion_max_sessions = 3'))
    assert ' --max-sessions 3 ' in proxy({}, env={'ANSIBLE_CONFIG': str(cfg)})
    assert ' --max-sessions 4 ' in proxy({'bastion_max_sessions': 4}, env={'ANSIBLE_CONFIG': str(cfg)})
    assert proxy({}, env={'WAGGLE_BASTION_MULTIPLEX': 'false'}) == bare
    assert ' --control-dir /run/hc ' in proxy({}, env={'WAGGLE_BASTION_CONTROL_DIR': '/run/hc'})
