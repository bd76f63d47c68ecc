# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real HTTP server on 127.0.0.1 serving the Beekeeper / manifest API shapes, and an ansible-inventory runner."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = REPO / 'tests' / 'unit' / 'plugins' / 'inventory' / 'fixtures'
BIN = pathlib.Path(sys.executable).parent
TOKEN = 'integration-token'


class FakeApi:
    """What the server answers; tests may change `documents` while it runs."""

    def __init__(self):
        manifests = json.loads((FIXTURES / 'manifests.json').read_text())
        nodes = json.loads((FIXTURES / 'nodes.json').read_text())
        self.documents = {
            '/manifests/': manifests,
            '/private/manifests/': manifests,
            # /api/v-beta/nodes/ paginated the Django REST framework way, second page by relative URL
            '/api/v-beta/nodes/': {'count': len(nodes), 'next': '/api/v-beta/nodes/?page=2', 'previous': None,
                                   'results': nodes[:1]},
            '/api/v-beta/nodes/?page=2': {'count': len(nodes), 'next': None, 'previous': '/api/v-beta/nodes/',
                                          'results': nodes[1:]},
            '/api/state': json.loads((FIXTURES / 'beekeeper_state.json').read_text()),
            '/unknown/': {'nodes': []},
        }
        self.raw = {'/broken/': b'{"vsn": "W023", '}
        self.requests = []
        self.token = TOKEN


def _handler(api):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            api.requests.append((self.path, self.headers.get('Authorization')))
            if self.path.startswith('/private/') and self.headers.get('Authorization') != 'Sage ' + TOKEN:
                return self._send(401, b'{"detail": "Authentication credentials were not provided."}')
            if self.path in api.raw:
                return self._send(200, api.raw[self.path])
            if self.path in api.documents:
                return self._send(200, json.dumps(api.documents[self.path]).encode())
            return self._send(404, b'{"detail": "Not found."}')

        def _send(self, code, body):
            self.send_response(code)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def api():
    """(base URL, FakeApi) of a real HTTP server on 127.0.0.1, stopped after the test."""
    state = FakeApi()
    server = ThreadingHTTPServer(('127.0.0.1', 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d' % server.server_address[1], state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def ansible_env(tmp_path):
    env = dict(os.environ)
    for key in list(env):
        if key.lower().endswith('_proxy') or key.startswith(('ANSIBLE_', 'WAGGLE_')):
            del env[key]
    env.update({
        'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': str(REPO / '.build' / 'collections'),
        'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'ansible-tmp'),
        'ANSIBLE_NOCOLOR': '1',
        'NO_PROXY': '*',
        'PATH': '%s:%s' % (BIN, env.get('PATH', '')),
    })
    return env


@pytest.fixture
def inventory(tmp_path, ansible_env):
    """inventory(config, *extra_args, env=None, check=True) -> (parsed --list JSON or None, CompletedProcess)."""

    def _run(config, *extra, env=None, check=True, name='test.beekeeper.yml', command='ansible-inventory'):
        path = tmp_path / name
        conf = {'plugin': 'waggle.honeycomb.beekeeper'}
        conf.update(config)
        path.write_text(yaml.safe_dump(conf))
        run_env = dict(ansible_env)
        run_env.update(env or {})
        args = [str(BIN / command), '-i', str(path)]
        args += ['--list'] if command == 'ansible-inventory' else []
        proc = subprocess.run(args + list(extra), env=run_env, capture_output=True, text=True, timeout=120, check=False,
                              cwd=str(tmp_path))
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        data = None
        if command == 'ansible-inventory' and proc.returncode == 0:
            data = json.loads(proc.stdout)
        return data, proc

    return _run
