# -*- coding: utf-8 -*-
# Copyright: (c) 2025, waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: beekeeper
short_description: Wild Sage nodes from the Beekeeper or manifest API, reached through their reverse tunnels
version_added: 0.1.0
author:
  - waggle.honeycomb developers (@waggle-sensor)
description:
  - Reads Waggle / SAGE nodes from the manifest API (C(/manifests/)), the node API (C(/api/v-beta/nodes/))
    or the Beekeeper state API (C(/state), a C(data) list), either from a URL or from a local JSON or
    YAML file holding the same document.
  - Names each host by its VSN (for example C(W023)) and sets the host variables C(node_id), C(vsn),
    C(project), C(phase), C(node_type), C(node_tags) (the manifest's C(tags); C(tags) itself is a reserved
    Ansible name) and C(sensors), and C(computes), C(address) and C(gps) when the API provides them.
    Fields an API does not provide are set to C(null) (or an empty list).
  - Sets the reverse-tunnel connection of every node, C(ansible_host) is the node ID and
    C(ansible_ssh_common_args) carries a C(ProxyCommand) that logs in to the bastion and connects to the
    node's tunnel socket there (C(/home_dirs/node-<NODE ID>/rtun.sock)) with C(socat) or C(netcat -U).
  - By default node connections share bastion logins, at most O(bastion_max_sessions) per login (see
    O(bastion_multiplex)), so that a fan-out neither logs in to the bastion once per node nor meets the
    bastion sshd's C(MaxStartups) throttling.
  - Records with a node ID that is not 16 hexadecimal digits or a VSN that does not match
    C([A-Z][A-Z0-9]{3}) are skipped with a warning; lower-case hexadecimal node IDs are upper-cased.
  - Everything read from the API is data, never a template, text such as C({{ ... }}) in an API field is
    kept literally.
  - The inventory source must be a YAML file whose name ends in C(beekeeper.yml) or C(beekeeper.yaml).
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
requirements:
  - jmespath (only when O(filter) is set)
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    type: str
    required: true
    choices: ['waggle.honeycomb.beekeeper']
  url:
    description:
      - URL of the API list, for example V(https://auth.sagecontinuum.org/manifests/),
        V(https://auth.sagecontinuum.org/api/v-beta/nodes/) or V(https://api.sagecontinuum.org/api/state).
      - Paginated answers (a C(results) list and a C(next) URL) are followed.
      - Exactly one of O(url) and O(path) must be set.
    type: str
    env:
      - name: WAGGLE_BEEKEEPER_URL
  path:
    description:
      - Local JSON or YAML file holding the same document one of the APIs returns.
      - A relative path is relative to the directory of the inventory configuration file.
      - Exactly one of O(url) and O(path) must be set.
    type: str
    env:
      - name: WAGGLE_BEEKEEPER_PATH
  api_shape:
    description:
      - Which API document to expect. V(auto) recognises them by their fields.
      - V(manifests) is C(/manifests/) (node ID in C(name), C(tags), nested C(sensors[].hardware)),
        V(nodes) is C(/api/v-beta/nodes/) (node ID in C(name), C(type), flat C(sensors[].hw_model)),
        V(beekeeper_state) is Beekeeper C(/state) (a C(data) list, node ID in C(id)).
    type: str
    default: auto
    choices: [auto, manifests, nodes, beekeeper_state]
  token:
    description:
      - API token, sent in the C(Authorization) header as C(<token_scheme> <token>). Not needed for public data.
      - Prefer the environment variable to writing the token into the configuration file.
    type: str
    env:
      - name: WAGGLE_BEEKEEPER_TOKEN
  token_scheme:
    description: Authorization scheme sent with O(token); the SAGE auth API expects V(Sage).
    type: str
    default: Sage
  timeout:
    description: Seconds to wait for the API.
    type: int
    default: 30
  validate_certs:
    description: Verify the API's TLS certificate.
    type: bool
    default: true
  filter:
    description:
      - JMESPath expression evaluated for each node; only nodes for which it is true are added.
      - It sees the host variables this plugin sets (C(node_id), C(vsn), C(project), C(phase), C(node_type),
        C(node_tags), C(sensors), C(computes), ...), where every sensor and compute has C(name), C(hw_model) and
        C(manufacturer) whatever the API, plus C(raw), the record exactly as the API returned it.
      - 'Example: V(phase == ''Deployed'' && contains(sensors[].hw_model, ''XNP-6400RW'')) keeps the Deployed nodes
        that carry an XNP-6400RW camera.'
    type: str
  set_connection:
    description:
      - Set C(ansible_host), C(ansible_user) and the tunnel C(ansible_ssh_common_args) for every node.
      - Turn off when an ssh_config (for example C(Host node-*)) already routes to the nodes.
    type: bool
    default: true
  node_user:
    description: User to log in as on the nodes (C(ansible_user)).
    type: str
    default: root
  node_key:
    description:
      - Private key for the login on the nodes (C(ansible_ssh_private_key_file)); not set when empty, so
        the ssh agent, C(~/.ssh) or C(private_key_file) in C(ansible.cfg) decide.
    type: str
    env:
      - name: WAGGLE_NODE_KEY
  node_python_interpreter:
    description:
      - C(ansible_python_interpreter) for every node, so that Ansible does not run its interpreter discovery
        on each node in every run (one connection per node and run less).
      - The default is the Python of the Wild Sage nodes' Ubuntu 18.04 image (Python 3.6).
      - V(auto), V(auto_silent), V(auto_legacy) or V(auto_legacy_silent) set that discovery mode for the nodes
        (Ansible discovers the interpreter on each node); an empty value sets no C(ansible_python_interpreter),
        leaving it to C(interpreter_python) in C(ansible.cfg) or to C(group_vars).
      - A host variable set here wins over C(group_vars); O(compose) can still override it per node.
      - Anything else must be an absolute path.
      - Applies whatever O(set_connection) is.
    type: str
    default: /usr/bin/python3
    env:
      - name: WAGGLE_NODE_PYTHON_INTERPRETER
  bastion_host:
    description:
      - Host of the bastion whose sshd holds the nodes' tunnel sockets (Beekeeper's bk-sshd).
      - Required when O(set_connection) is true.
    type: str
    env:
      - name: WAGGLE_BASTION_HOST
  bastion_port:
    description: SSH port of the bastion.
    type: int
    env:
      - name: WAGGLE_BASTION_PORT
    default: 22
  bastion_user:
    description: User to log in as on the bastion.
    type: str
    env:
      - name: WAGGLE_BASTION_USER
    default: root
  bastion_key:
    description: Private key for the bastion login (C(ssh -i)); left out of the ProxyCommand when not set.
    type: path
    env:
      - name: WAGGLE_BASTION_KEY
  bastion_ssh_args:
    description:
      - Extra C(ssh) options for the bastion hop, inserted verbatim into the ProxyCommand.
      - The default does not check the bastion's host key, as the Beekeeper API's own ProxyCommand does.
        Set it to, for example, V(-o UserKnownHostsFile=~/.ssh/known_hosts_beekeeper) to pin the key.
    type: str
    default: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  socket_path_template:
    description: Path of a node's tunnel socket on the bastion; C({node_id}) and C({vsn}) are replaced.
    type: str
    default: /home_dirs/node-{node_id}/rtun.sock
  socket_client:
    description:
      - Command that connects the ProxyCommand's stdio to the tunnel socket on the bastion.
      - V(socat) runs C(socat - UNIX-CONNECT:<socket>) (what staff use), V(netcat) runs C(netcat -U <socket>)
        (what the Beekeeper API uses).
    type: str
    default: socat
    choices: [socat, netcat]
  proxy_command_template:
    description:
      - The ProxyCommand. The placeholders C({bastion_port}), C({bastion_key_arg}) (C(-i <key>) or empty),
        C({bastion_key}), C({bastion_ssh_args}), C({bastion_user}), C({bastion_host}), C({socket_path}),
        C({socket_command}) (from O(socket_client)), C({node_id}) and C({vsn}) are replaced; values are
        shell-quoted where needed. Any other C({name}) is an error.
      - 'The default gives C(ssh -p <port> -i <key> -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
        <user>@<host> socat - UNIX-CONNECT:/home_dirs/node-<NODE ID>/rtun.sock).'
      - The result must not contain double quotes or backslashes.
      - With O(bastion_multiplex) a command that starts with C(ssh) runs through the shared-login wrapper.
    type: str
    default: ssh -p {bastion_port} {bastion_key_arg} {bastion_ssh_args} {bastion_user}@{bastion_host} {socket_command}
  extra_ssh_args:
    description: Extra options appended to C(ansible_ssh_common_args) after the ProxyCommand.
    type: str
    default: ''
  bastion_multiplex:
    description:
      - Let node connections share bastion logins instead of logging in to the bastion once per node.
      - The ProxyCommand then runs through a small wrapper shipped with this collection (run by the
        controller's Python). A node connection takes a free slot of one of the shared bastion connections
        (ssh ControlMasters under O(bastion_control_dir)), opens that connection first if it is not up (one
        login, never two at once for the same connection), and runs C(socat)/C(netcat) there as one session.
      - At most O(bastion_max_sessions) node connections share one bastion login, because every
        C(socat)/C(netcat) on the bastion is a session and sshd allows C(MaxSessions) sessions per connection.
      - Only a ProxyCommand that starts with C(ssh) is wrapped; other O(proxy_command_template) commands are
        used as they are.
      - Turn off to log in to the bastion once per node connection (and so meet the bastion's
        C(MaxStartups) throttling when more than 10 connections start at once).
    type: bool
    default: true
    env:
      - name: WAGGLE_BASTION_MULTIPLEX
    ini:
      - section: waggle_honeycomb_beekeeper
        key: bastion_multiplex
  bastion_max_sessions:
    description:
      - The bastion sshd's C(MaxSessions) (OpenSSH's default, 10, unless the bastion's sshd_config sets it;
        Beekeeper's bk-sshd does not), that is, how many node connections share one bastion login.
      - A lower value costs more bastion logins. With a higher value than the bastion allows, sshd refuses the
        extra sessions (C(Session open refused by peer)) and ssh opens a login of its own for each of them.
    type: int
    default: 10
    env:
      - name: WAGGLE_BASTION_MAX_SESSIONS
    ini:
      - section: waggle_honeycomb_beekeeper
        key: bastion_max_sessions
  bastion_control_persist:
    description: Seconds a shared bastion connection stays open after its last node connection ended.
    type: int
    default: 300
    env:
      - name: WAGGLE_BASTION_CONTROL_PERSIST
    ini:
      - section: waggle_honeycomb_beekeeper
        key: bastion_control_persist
  bastion_control_dir:
    description:
      - Directory of the shared bastion connections' control sockets and lock files.
      - When not set, the wrapper uses C(ANSIBLE_SSH_CONTROL_PATH_DIR) when that is in its environment, else
        C(~/.ansible/cp-hc) (the shipped C(ansible.cfg)'s C(control_path_dir)).
      - Keep it short (unix socket paths have 108 bytes) and private to the user.
    type: str
    env:
      - name: WAGGLE_BASTION_CONTROL_DIR
    ini:
      - section: waggle_honeycomb_beekeeper
        key: bastion_control_dir
  units:
    description:
      - Also add each node's other compute units as hosts, reached through the node's nxcore. Off by default
        (an empty list), when only the nxcore of each node, named by its VSN, is a host.
      - V(nxagent) is the node's second Xavier NX (C(ws-nxagent), 10.31.81.3), V(rpi) the Raspberry Pi of its
        shield (C(ws-rpi), 10.31.81.4). A unit host is named C(<VSN>-<unit>), for example C(W023-nxagent).
      - With units, every host is in the group of its unit, V(nxcore), V(nxagent) or V(rpi), and has the host
        variables C(compute_unit) and, on a unit, C(node_host) (its nxcore's host name) besides the node's
        C(node_id), C(vsn), C(project), C(phase), C(node_type) and C(node_tags).
      - Which of these units a node has comes from the API when its record has a C(computes) list (see
        O(units_from_computes)), else every unit listed here is assumed; O(node_units) sets it per node.
    type: list
    elements: str
    default: []
    env:
      - name: WAGGLE_BEEKEEPER_UNITS
  units_from_computes:
    description:
      - When a node's record has a non-empty C(computes) list (the manifest and node APIs; Beekeeper C(/state)
        has none), add only the units it lists, a compute in zone C(agent) (or named C(nxagent*)) for V(nxagent) and one in
        zone C(shield) (or named C(rpi*)) for V(rpi). An enclosure Raspberry Pi is not added (its LAN address
        is not known).
      - Turn off to add every unit of O(units) to every node whatever the API says.
    type: bool
    default: true
  node_units:
    description:
      - Per node (VSN or node ID), the list of units it has; wins over the API and O(units). An empty list adds
        none. Units must be among V(nxagent) and V(rpi).
    type: dict
    default: {}
  unit_addresses:
    description:
      - Where the node's nxcore reaches each unit's sshd, C(host) or C(host:port) (port 22 when not given).
      - Missing units keep the defaults, V(10.31.81.3) for V(nxagent) and V(10.31.81.4) for V(rpi) (the
        addresses the nxcore's dnsmasq hands out). Host names are resolved on the nxcore (its C(/etc/hosts)
        has C(ws-nxagent) and C(ws-rpi)).
    type: dict
    default: {}
  unit_user:
    description: User to log in as on the units (C(ansible_user) of a unit host).
    type: str
    default: root
  unit_key:
    description:
      - Private key for the login on the units (C(ansible_ssh_private_key_file) of a unit host); O(node_key) when
        not set. The units must accept it (C(/root/.ssh/authorized_keys)); the nxcore's own key for them
        stays on the nxcore.
      - The hop to the nxcore inside a unit's ProxyCommand always logs in with O(node_user) and O(node_key).
    type: str
  unit_state_dirs:
    description:
      - Per unit (V(nxcore), V(nxagent), V(rpi)), the state directory of the upgrade modules on it, set as the
        unit group's C(honeycomb_state_dir) (and C(node_prereqs_state_dir)); an empty value keeps the modules'
        default, C(/var/lib/honeycomb).
      - Missing units keep the defaults, V(/media/plugin-data/honeycomb) for V(rpi), whose root file system is
        read-only with a tmpfs overlay, so that only C(/media/plugin-data) (its SD card) survives a reboot.
      - Group variables, so C(group_vars/rpi.yml) (or a host variable) still wins.
    type: dict
    default: {}
"""

EXAMPLES = r"""
# production.beekeeper.yml: every Deployed node with an XNP-6400RW camera, grouped by project and phase
plugin: waggle.honeycomb.beekeeper
url: https://auth.sagecontinuum.org/manifests/
filter: "phase == 'Deployed' && contains(sensors[].hw_model, 'XNP-6400RW')"
bastion_host: beekeeper.sagecontinuum.org
bastion_port: 2201
bastion_key: ~/.ssh/beekeeper_admin
keyed_groups:
  - key: project
    prefix: project
  - key: phase | lower | replace(' ', '_')
    prefix: phase
groups:
  blades: node_type == 'Blade'
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/waggle-beekeeper
cache_timeout: 3600

---
# simfleet.beekeeper.yml: the simulated fleet, from a file written by `simfleet inventory --format beekeeper`
plugin: waggle.honeycomb.beekeeper
path: /tmp/simfleet/beekeeper.json
bastion_host: 127.0.0.1
bastion_port: 2222
bastion_key: /tmp/simfleet/operator_key
node_key: /tmp/simfleet/operator_key
extra_ssh_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null

---
# units.beekeeper.yml: every node's nxagent and Raspberry Pi too (when the manifest lists them), as hosts
# W023-nxagent, W023-rpi in the groups nxagent and rpi (the nodes themselves are in nxcore); the units
# accept the operator's key
plugin: waggle.honeycomb.beekeeper
url: https://auth.sagecontinuum.org/manifests/
bastion_host: beekeeper.sagecontinuum.org
bastion_port: 2201
bastion_key: ~/.ssh/beekeeper_admin
units: [nxagent, rpi]
"""

import json
import os
import re

import yaml

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urljoin
from ansible.module_utils.urls import open_url
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible_collections.waggle.honeycomb.plugins.plugin_utils import bastion
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import units as units_

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    jmespath = None
    HAS_JMESPATH = False

NODE_ID_RE = re.compile(r'^[0-9A-F]{16}$')
VSN_RE = re.compile(r'^[A-Z][A-Z0-9]{3}$')
# Values of ansible_python_interpreter that ask Ansible to discover the interpreter on each node.
INTERPRETER_DISCOVERY = ('auto', 'auto_silent', 'auto_legacy', 'auto_legacy_silent')
MAX_PAGES = 1000
# the node's host variables a compute unit host gets too
UNIT_HOST_KEYS = ('node_id', 'vsn', 'project', 'phase', 'node_type', 'node_tags')

SHAPES = ('manifests', 'nodes', 'beekeeper_state')
# Fields only one of the node APIs has; used by api_shape=auto.
MANIFEST_KEYS = frozenset(('tags', 'resources', 'lorawanconnections', 'modem'))
NODES_KEYS = frozenset(('type', 'focus', 'partner', 'commissioned_at', 'registered_at', 'gps_alt', 'modem_sim'))
STATE_KEYS = frozenset(('project_id', 'beehive', 'mode', 'registration_event', 'wes_deploy_event',
                        'server_node', 'internet_connection'))
# Hardware fields copied from a sensor or compute record into the normalised host variable.
HARDWARE_KEYS = ('hardware', 'hw_model', 'hw_version', 'sw_version', 'manufacturer', 'capabilities')
PART_KEYS = ('name', 'scope', 'zone', 'serial_no', 'is_active', 'labels')


class BeekeeperShapeError(Exception):
    """The document is not one of the known API shapes."""


class UnknownRecordsError(BeekeeperShapeError):
    """A list of records none of whose fields tells which API it came from."""


def extract_records(document):
    """Return the list of node records of a decoded API document; raise BeekeeperShapeError."""
    if isinstance(document, dict) and 'data' in document:
        data = document['data']
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise BeekeeperShapeError('"data" is a %s, expected a list of nodes' % type(data).__name__)
        return data
    if isinstance(document, dict) and isinstance(document.get('results'), list):
        return document['results']
    if isinstance(document, dict) and ('vsn' in document or 'name' in document or 'id' in document):
        return [document]
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        raise BeekeeperShapeError('a mapping with the keys %s, expected a list of nodes, {"data": [...]} or '
                                  '{"results": [...]}' % (', '.join(sorted(str(k) for k in document)[:10]) or '(none)'))
    raise BeekeeperShapeError('a %s, expected a list of nodes' % type(document).__name__)


def classify(document, records):
    """Return the API shape of the records, or None when nothing tells (no records)."""
    if isinstance(document, dict) and 'data' in document:
        return 'beekeeper_state'
    keys = set()
    for record in records:
        if isinstance(record, dict):
            keys.update(record)
    if not records:
        return None
    if keys & MANIFEST_KEYS:
        return 'manifests'
    if keys & NODES_KEYS:
        return 'nodes'
    if keys & STATE_KEYS:
        return 'beekeeper_state'
    raise UnknownRecordsError('node records with the keys %s match none of /manifests/, /api/v-beta/nodes/ or '
                              'Beekeeper /state' % (', '.join(sorted(str(k) for k in keys)[:15]) or '(none)'))


def _part(record):
    """Normalise one sensor or compute record of any API into a flat dict."""
    if not isinstance(record, dict):
        return {'name': to_text(record), 'hw_model': None, 'manufacturer': None}
    part = {}
    for key in PART_KEYS:
        if key in record:
            part[key] = record[key]
    hardware = record.get('hardware')
    if isinstance(hardware, dict):
        # /manifests/: the hardware is a nested object
        for key in HARDWARE_KEYS:
            if key in hardware:
                part[key] = hardware[key]
    else:
        for key in HARDWARE_KEYS:
            if key in record:
                part[key] = record[key]
    part.setdefault('name', None)
    part.setdefault('hw_model', None)
    part.setdefault('manufacturer', None)
    return part


def _parts(value):
    if not isinstance(value, list):
        return []
    return [_part(item) for item in value]


def _gps(record):
    gps = {}
    for key in ('lat', 'lon', 'alt'):
        value = record.get('gps_' + key)
        if value is not None and value != '':
            gps[key] = value
    return gps or None


def normalise(record, shape):
    """Map one API record onto the plugin's host variables.

    Returns a dict; node_id and vsn are left exactly as found (validated by the caller).
    """
    if shape == 'beekeeper_state':
        node_id = record.get('id')
        host_vars = {
            'node_id': node_id,
            'vsn': record.get('vsn'),
            'project': record.get('project_id'),
            'phase': None,
            'node_type': None,
            'node_tags': [],
            'sensors': [],
        }
        for key in ('address', 'mode', 'beehive'):
            if record.get(key) not in (None, ''):
                host_vars[key] = record[key]
        return host_vars

    # /manifests/ and /api/v-beta/nodes/ both carry the node ID in "name"
    host_vars = {
        'node_id': record.get('name'),
        'vsn': record.get('vsn'),
        'project': record.get('project'),
        'phase': record.get('phase'),
        'node_type': record.get('type'),
        'node_tags': [to_text(t) for t in record.get('tags') or [] if t is not None],
        'sensors': _parts(record.get('sensors')),
    }
    if isinstance(record.get('computes'), list):
        host_vars['computes'] = _parts(record['computes'])
    if record.get('address') not in (None, ''):
        host_vars['address'] = record['address']
    gps = _gps(record)
    if gps:
        host_vars['gps'] = gps
    return host_vars


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Wild Sage nodes from the Beekeeper / manifest APIs."""

    NAME = 'waggle.honeycomb.beekeeper'

    def verify_file(self, path):
        if super(InventoryModule, self).verify_file(path):
            return path.endswith(('beekeeper.yml', 'beekeeper.yaml'))
        return False

    # ----------------------------------------------------------------- reading
    def _source(self):
        url = self.get_option('url')
        path = self.get_option('path')
        if bool(url) == bool(path):
            raise AnsibleParserError('%s: set exactly one of "url" (the Beekeeper / manifest API) and "path" '
                                     '(a local JSON or YAML file of the same shape)' % self._config_path)
        if path:
            path = os.path.expanduser(path)
            if not os.path.isabs(path):
                path = os.path.join(os.path.dirname(os.path.abspath(self._config_path)), path)
            return 'path', path
        return 'url', url

    def _fetch_url(self, url):
        headers = {'Accept': 'application/json'}
        token = self.get_option('token')
        if token:
            headers['Authorization'] = '%s %s' % (self.get_option('token_scheme'), token)
        records = []
        shape = None
        seen = set()
        next_url = url
        for dummy in range(MAX_PAGES):
            if next_url in seen:
                break
            seen.add(next_url)
            try:
                response = open_url(next_url, headers=headers, timeout=self.get_option('timeout'),
                                    validate_certs=self.get_option('validate_certs'), use_netrc=False)
                body = response.read()
            except HTTPError as e:
                hint = ' Check "token" (or WAGGLE_BEEKEEPER_TOKEN).' if e.code in (401, 403) else ''
                raise AnsibleParserError('The Beekeeper / manifest API at %s answered HTTP %s %s.%s'
                                         % (next_url, e.code, to_native(e.reason), hint))
            except (URLError, OSError, ValueError) as e:
                reason = getattr(e, 'reason', e)
                raise AnsibleParserError('Could not reach the Beekeeper / manifest API at %s: %s. Check "url", '
                                         'the network and "timeout", or use "path" with a saved copy.'
                                         % (next_url, to_native(reason)))
            try:
                document = json.loads(to_text(body, errors='surrogate_or_strict'))
            except ValueError as e:
                raise AnsibleParserError('The answer of %s is not valid JSON (%s); expected the document of '
                                         '/manifests/, /api/v-beta/nodes/ or Beekeeper /state.'
                                         % (next_url, to_native(e)))
            page_shape, page = self._shape(document, next_url)
            shape = shape or page_shape
            records.extend(page)
            next_url = document.get('next') if isinstance(document, dict) else None
            if not next_url:
                break
            next_url = urljoin(url, next_url)
        else:
            raise AnsibleParserError('%s: more than %d pages, giving up' % (url, MAX_PAGES))
        return shape, records

    def _read_path(self, path):
        if not os.path.exists(path):
            raise AnsibleParserError('The node file %s does not exist; set "path" to a JSON or YAML file holding '
                                     'the /manifests/, /api/v-beta/nodes/ or Beekeeper /state document.' % path)
        try:
            with open(path, 'rb') as f:
                text = to_text(f.read(), errors='surrogate_or_strict')
        except (IOError, OSError, UnicodeError) as e:
            raise AnsibleParserError('Could not read the node file %s: %s' % (path, to_native(e)))
        try:
            document = json.loads(text)
        except ValueError as json_error:
            # Not JSON: YAML, loaded as plain data (nothing in it is ever a template)
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise AnsibleParserError('The node file %s is neither valid JSON (%s) nor valid YAML (%s).'
                                         % (path, to_native(json_error), to_native(e)))
        return self._shape(document, path)

    def _shape(self, document, where):
        wanted = self.get_option('api_shape')
        try:
            records = extract_records(document)
            shape = classify(document, records)
        except UnknownRecordsError as e:
            if wanted != 'auto':
                # records without any telling field: trust the explicit api_shape
                return wanted, extract_records(document)
            raise AnsibleParserError('%s holds an unknown document: %s. Point "url"/"path" at /manifests/, '
                                     '/api/v-beta/nodes/ or Beekeeper /state, or set "api_shape".' % (where, e))
        except BeekeeperShapeError as e:
            raise AnsibleParserError('%s holds an unknown document: %s. Point "url"/"path" at /manifests/, '
                                     '/api/v-beta/nodes/ or Beekeeper /state, or set "api_shape".' % (where, e))
        if wanted != 'auto':
            if shape is not None and shape != wanted:
                raise AnsibleParserError('%s looks like the %s API, not api_shape=%s; fix "api_shape" or use '
                                         '"api_shape: auto".' % (where, shape, wanted))
            shape = wanted
        return shape, records

    def _load(self):
        kind, source = self._source()
        if kind == 'url':
            shape, records = self._fetch_url(source)
        else:
            shape, records = self._read_path(source)
        return {'source': '%s:%s' % (kind, source), 'shape': shape, 'records': records}

    # ------------------------------------------------------------- connection
    def _node_proxy(self, node_id, vsn):
        """The node's ProxyCommand through the bastion (plugin_utils/bastion.py renders it)."""
        bastion_host = self.get_option('bastion_host')
        if not bastion_host:
            raise AnsibleParserError('%s: "bastion_host" is required to reach nodes through their tunnels (or set '
                                     '"set_connection: false" if your ssh_config routes to them).'
                                     % self._config_path)
        try:
            proxy = bastion.proxy_command(
                bastion_host, node_id, vsn, bastion_port=self.get_option('bastion_port'),
                bastion_user=self.get_option('bastion_user'), bastion_key=self.get_option('bastion_key'),
                bastion_ssh_args=self.get_option('bastion_ssh_args'),
                socket_path_template=self.get_option('socket_path_template'),
                socket_client=self.get_option('socket_client'),
                template=self.get_option('proxy_command_template'),
                multiplex=self.get_option('bastion_multiplex'),
                max_sessions=self.get_option('bastion_max_sessions'),
                control_persist=self.get_option('bastion_control_persist'),
                control_dir=self.get_option('bastion_control_dir'))
        except bastion.ProxyCommandError as e:
            raise AnsibleParserError('%s: %s' % (self._config_path, to_native(e)))
        return proxy

    def _common_args(self, proxy):
        common_args = '-o ProxyCommand="%s"' % proxy
        extra = self.get_option('extra_ssh_args')
        if extra:
            common_args = '%s %s' % (common_args, extra)
        return common_args

    def _connection_vars(self, node_id, vsn):
        result = {
            'ansible_host': node_id,
            'ansible_user': self.get_option('node_user'),
            'ansible_ssh_common_args': self._common_args(self._node_proxy(node_id, vsn)),
        }
        if self.get_option('node_key'):
            result['ansible_ssh_private_key_file'] = os.path.expanduser(self.get_option('node_key'))
        return result

    def _unit_connection_vars(self, node_id, vsn, unit, address):
        """A unit's connection: through the node's ProxyCommand to its nxcore, then -W to the unit's sshd."""
        node_key = self.get_option('node_key')
        node_key = os.path.expanduser(node_key) if node_key else None
        try:
            proxy = bastion.unit_proxy_command(
                self._node_proxy(node_id, vsn), node_id, address[0], address[1],
                node_user=self.get_option('node_user'), node_key=node_key,
                node_ssh_args=self.get_option('extra_ssh_args'))
        except bastion.ProxyCommandError as e:
            raise AnsibleParserError('%s: %s' % (self._config_path, to_native(e)))
        result = {
            # unique per unit: ssh's ControlPath and known_hosts entries are per host name
            'ansible_host': '%s-%s' % (node_id, unit),
            'ansible_user': self.get_option('unit_user'),
            'ansible_ssh_common_args': self._common_args(proxy),
        }
        unit_key = self.get_option('unit_key') or self.get_option('node_key')
        if unit_key:
            result['ansible_ssh_private_key_file'] = os.path.expanduser(unit_key)
        return result

    def _unit_settings(self):
        """(wanted units, per-node overrides, unit -> (host, port), unit -> group vars); units are on when
        either of the first two is not empty."""
        node_units = self.get_option('node_units') or {}
        try:
            wanted = units_.check_units(self.get_option('units'), 'units')
            if not isinstance(node_units, dict):
                raise units_.UnitsError('node_units must map VSNs or node IDs to lists of units, got %r' % (node_units,))
            overrides = {}
            for key, value in node_units.items():
                overrides[str(key).strip().upper()] = units_.check_units(value or [], 'node_units[%s]' % key)
            addresses = units_.unit_addresses(self.get_option('unit_addresses'))
            gvars = dict((u, units_.group_vars(u, self.get_option('unit_state_dirs'))) for u in units_.GROUPS)
        except units_.UnitsError as e:
            raise AnsibleParserError('%s: %s' % (self._config_path, to_native(e)))
        return wanted, overrides, addresses, gvars

    def _add_unit_groups(self, gvars):
        for group in units_.GROUPS:
            self.inventory.add_group(group)
            for key, value in gvars[group].items():
                self.inventory.set_variable(group, key, value)

    def _python_interpreter(self):
        """The node_python_interpreter option checked: an absolute path, a discovery mode, or None (not set)."""
        value = (self.get_option('node_python_interpreter') or '').strip()
        if not value:
            return None
        if value not in INTERPRETER_DISCOVERY and not value.startswith('/'):
            raise AnsibleParserError('%s: "node_python_interpreter" is %r; give an absolute path such as '
                                     '/usr/bin/python3, one of %s to let Ansible discover it on each node, or an '
                                     'empty value to leave ansible_python_interpreter unset.'
                                     % (self._config_path, value, ', '.join(INTERPRETER_DISCOVERY)))
        return value

    # ------------------------------------------------------------------ build
    def _compile_filter(self):
        expression = self.get_option('filter')
        if not expression:
            return None
        if not HAS_JMESPATH:
            raise AnsibleParserError('The "filter" option of %s needs the Python library jmespath on the controller '
                                     '(pip install jmespath).' % self.NAME)
        try:
            return jmespath.compile(expression)
        except jmespath.exceptions.JMESPathError as e:
            raise AnsibleParserError('The "filter" option is not a valid JMESPath expression: %s' % to_native(e))

    def _matches(self, compiled, host_vars, record, label):
        if compiled is None:
            return True
        subject = dict(host_vars)
        subject['raw'] = record
        try:
            return bool(compiled.search(subject))
        except jmespath.exceptions.JMESPathError as e:
            if self.get_option('strict'):
                raise AnsibleParserError('The "filter" failed on node %s: %s' % (label, to_native(e)))
            self.display.vvv('beekeeper: filter failed on node %s (%s), node left out' % (label, to_native(e)))
            return False

    def _construct(self, name, strict):
        variables = self.inventory.get_host(name).get_vars()
        self._set_composite_vars(self.get_option('compose'), variables, name, strict=strict)
        self._add_host_to_composed_groups(self.get_option('groups'), variables, name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, name, strict=strict)

    def _add_units(self, vsn, node_id, host_vars, unit_settings, interpreter, strict):
        """The node's compute units as hosts <VSN>-<unit> in their unit's group."""
        wanted, overrides, addresses, dummy = unit_settings
        override = overrides.get(vsn, overrides.get(node_id))
        for unit in units_.node_units(wanted, host_vars.get('computes'), override,
                                      self.get_option('units_from_computes')):
            name = units_.host_name(vsn, unit)
            self.inventory.add_host(name, group=unit)
            for key in UNIT_HOST_KEYS:
                if key in host_vars:
                    self.inventory.set_variable(name, key, host_vars[key])
            self.inventory.set_variable(name, units_.UNIT_VAR, unit)
            self.inventory.set_variable(name, units_.NODE_HOST_VAR, vsn)
            if self.get_option('set_connection'):
                for key, value in self._unit_connection_vars(node_id, vsn, unit, addresses[unit]).items():
                    self.inventory.set_variable(name, key, value)
            if interpreter:
                self.inventory.set_variable(name, 'ansible_python_interpreter', interpreter)
            self._construct(name, strict)

    def _populate(self, data):
        shape = data['shape']
        compiled = self._compile_filter()
        interpreter = self._python_interpreter()
        strict = self.get_option('strict')
        unit_settings = self._unit_settings()
        with_units = bool(unit_settings[0] or unit_settings[1])
        if with_units:
            self._add_unit_groups(unit_settings[3])
        seen_vsn = {}
        seen_id = {}
        for index, record in enumerate(data['records']):
            where = 'record %d of %s' % (index, data['source'])
            if not isinstance(record, dict):
                self.display.warning('beekeeper: skipping %s: not a mapping but %s.' % (where, type(record).__name__))
                continue
            host_vars = normalise(record, shape)
            node_id = host_vars.get('node_id')
            vsn = host_vars.get('vsn')
            if isinstance(node_id, str):
                node_id = node_id.strip().upper()
            if not isinstance(node_id, str) or not NODE_ID_RE.match(node_id):
                hint = ' (quote node IDs in YAML files)' if isinstance(node_id, int) else ''
                self.display.warning('beekeeper: skipping %s (VSN %r): node ID %r is not 16 hexadecimal digits%s.'
                                     % (where, vsn, host_vars.get('node_id'), hint))
                continue
            if not isinstance(vsn, str) or not VSN_RE.match(vsn):
                self.display.warning('beekeeper: skipping %s (node %s): VSN %r does not match [A-Z][A-Z0-9]{3}.'
                                     % (where, node_id, vsn))
                continue
            if vsn in seen_vsn:
                self.display.warning('beekeeper: skipping %s: VSN %s is already used by node %s (this one is node %s).'
                                     % (where, vsn, seen_vsn[vsn], node_id))
                continue
            if node_id in seen_id:
                self.display.warning('beekeeper: skipping %s: node %s is already listed as %s (this one says %s).'
                                     % (where, node_id, seen_id[node_id], vsn))
                continue
            host_vars['node_id'] = node_id
            if not self._matches(compiled, host_vars, record, vsn):
                continue
            seen_vsn[vsn] = node_id
            seen_id[node_id] = vsn

            self.inventory.add_host(vsn)
            for key, value in host_vars.items():
                self.inventory.set_variable(vsn, key, value)
            if self.get_option('set_connection'):
                for key, value in self._connection_vars(node_id, vsn).items():
                    self.inventory.set_variable(vsn, key, value)
            if interpreter:
                self.inventory.set_variable(vsn, 'ansible_python_interpreter', interpreter)
            if with_units:
                self.inventory.add_child(units_.CORE, vsn)
                self.inventory.set_variable(vsn, units_.UNIT_VAR, units_.CORE)
            self._construct(vsn, strict)
            if with_units:
                self._add_units(vsn, node_id, host_vars, unit_settings, interpreter, strict)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._config_path = path
        self._read_config_data(path)

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        data = None
        if use_cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                update_cache = True
            else:
                kind, source = self._source()
                # a cache written for another url/path is stale
                if not isinstance(data, dict) or data.get('source') != '%s:%s' % (kind, source):
                    data = None
                    update_cache = True
        if data is None:
            data = self._load()
        if update_cache:
            self._cache[cache_key] = data
        try:
            self._populate(data)
        except AnsibleParserError:
            raise
        except AnsibleError as e:
            raise AnsibleParserError(to_native(e))
