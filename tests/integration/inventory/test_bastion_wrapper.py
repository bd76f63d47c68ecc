# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bastion multiplexing wrapper (plugins/plugin_utils/bastion.py) against a real sshd that keeps
OpenSSH's defaults (MaxSessions 10, MaxStartups 10:30:100), with `cat` standing in for socat."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ansible_collections.waggle.honeycomb.plugins.plugin_utils import bastion
from hctest.requires import require_system_tool
from hctest.sshd import Sshd, skip_reason

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    s = Sshd(tmp_path_factory.mktemp('bastion'), openssh_defaults=True).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def control_dir():
    path = Path(tempfile.mkdtemp(prefix='hcw-', dir='/tmp'))
    yield path
    for sock in path.iterdir():
        if sock.is_socket():
            subprocess.run(['ssh', '-o', 'ControlPath=%s' % sock, '-O', 'exit', 'x'], capture_output=True,
                           timeout=20, check=False)
    shutil.rmtree(path, ignore_errors=True)


def _bastion_ssh(server, *remote, port=None):
    return ['ssh', '-p', str(port or server.port), '-i', str(server.client_key), '-o', 'BatchMode=yes',
            '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
            'root@127.0.0.1'] + list(remote)


def _open(server, control_dir, max_sessions=10, port=None):
    """One ProxyCommand-like session through the wrapper: `cat` on the bastion echoes what it gets."""
    argv = [sys.executable, bastion.__file__, '--max-sessions', str(max_sessions), '--control-dir',
            str(control_dir), '--'] + _bastion_ssh(server, 'cat', port=port)
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _echo(proc, text):
    proc.stdin.write(text.encode() + b'\n')
    proc.stdin.flush()
    return proc.stdout.readline().decode().strip()


def _client_connections(server):
    out = subprocess.run(['ss', '-Htn', 'state', 'established', 'dst', '127.0.0.1:%d' % server.port],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def _close(procs):
    for p in procs:
        p.stdin.close()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_eleven_sessions_share_two_logins(server, control_dir):
    require_system_tool('ss', 'iproute2')
    before = _client_connections(server)
    procs = []
    try:
        for i in range(11):
            procs.append(_open(server, control_dir))
            # each session works as it is opened, the eleventh on a second bastion login
            assert _echo(procs[-1], 'node %d' % i) == 'node %d' % i
        assert _client_connections(server) - before == 2
        lanes = sorted(p.name for p in control_dir.iterdir() if p.is_socket())
        assert len(lanes) == 2 and lanes[0].endswith('-0') and lanes[1].endswith('-1')
        # ssh sends SIGHUP to its ProxyCommand when it exits; the session must live on until its channel
        # closes, so that the bastion has freed the session before the slot is given to another connection
        procs[0].send_signal(signal.SIGHUP)
        assert _echo(procs[0], 'still there') == 'still there'
    finally:
        _close(procs)
    assert all(p.returncode == 0 for p in procs), [p.stderr.read() for p in procs]


def test_sessions_beyond_maxsessions_are_refused_by_sshd(server, control_dir):
    """What the bastion counts: with --max-sessions above the server's MaxSessions (10), sshd refuses the
    eleventh session on one login; ssh then falls back to a login of its own. So a bastion_max_sessions
    above the bastion's MaxSessions costs logins (and meets MaxStartups again), it does not fail."""
    require_system_tool('ss', 'iproute2')
    before = _client_connections(server)
    procs = []
    try:
        for i in range(11):
            procs.append(_open(server, control_dir, max_sessions=11))
            assert _echo(procs[-1], str(i)) == str(i)
        assert _client_connections(server) - before == 2  # the shared login and the eleventh's own
        assert len([p for p in control_dir.iterdir() if p.is_socket()]) == 1
    finally:
        _close(procs)
    assert 'Session open refused by peer' in procs[-1].stderr.read().decode()
    assert all(p.returncode == 0 for p in procs)


def test_stale_control_socket_is_replaced(server, control_dir):
    options, destination, remote = bastion.split_ssh(_bastion_ssh(server, 'cat'))
    path = '%s-0' % bastion.lane_base(str(control_dir), 'ssh', options, destination)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # a socket file nobody listens on, as a killed master leaves behind
    stale.close()
    proc = _open(server, control_dir)
    try:
        assert _echo(proc, 'fresh') == 'fresh'
        assert bastion.master_alive(path)
    finally:
        _close([proc])


def test_unreachable_bastion_falls_back_and_says_why(server, control_dir):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        dead_port = s.getsockname()[1]
    proc = _open(server, control_dir, port=dead_port)
    proc.stdin.close()
    assert proc.wait(timeout=60) == 255
    err = proc.stderr.read().decode()
    assert 'could not open the shared bastion connection' in err and 'connecting without it' in err
    assert 'Connection refused' in err
    assert not [p for p in control_dir.iterdir() if p.is_socket()]
    assert os.path.exists(control_dir)
