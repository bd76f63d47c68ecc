# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bastion hop: ProxyCommand rendering, ssh argv parsing and the wrapper's slot/lane bookkeeping."""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import sys

import pytest

from ansible_collections.waggle.honeycomb.plugins.plugin_utils import bastion

NODE = '000048B02D0766CD'
BARE = ('ssh -p 2201 -i /keys/admin -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null '
        'root@bk.example.org socat - UNIX-CONNECT:/home_dirs/node-000048B02D0766CD/rtun.sock')


def render(**kw):
    args = dict(bastion_host='bk.example.org', node_id=NODE, vsn='W023', bastion_port=2201, bastion_key='/keys/admin')
    args.update(kw)
    return bastion.proxy_command(**args)


def test_unmultiplexed_contract():
    assert render(multiplex=False) == BARE
    assert render(multiplex=False, socket_client='netcat', bastion_key=None) == (
        'ssh -p 2201 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@bk.example.org '
        'netcat -U /home_dirs/node-000048B02D0766CD/rtun.sock')


def test_multiplexed_wraps_the_same_command():
    words = shlex.split(render(python='/opt/py/bin/python3'))
    assert words[0] == '/opt/py/bin/python3'
    assert words[1] == os.path.abspath(bastion.__file__)
    assert words[2:7] == ['--max-sessions', '10', '--persist', '300', '--']
    assert ' '.join(words[7:]) == BARE


def test_multiplex_settings_and_percent_escaping():
    command = render(python='/opt/100%/python3', max_sessions=4, control_persist=60, control_dir='/run/cp %d')
    # ssh expands % tokens in a ProxyCommand: the wrapper's own words reach the shell with single %
    assert '/opt/100%%/python3' in command
    words = shlex.split(command.replace('%%', '%'))
    assert words[2:9] == ['--max-sessions', '4', '--persist', '60', '--control-dir', '/run/cp %d', '--']


@pytest.mark.parametrize('kw, message', [
    ({'max_sessions': 0}, 'bastion_max_sessions must be a whole number of at least 1'),
    ({'max_sessions': True}, 'bastion_max_sessions must be'),
    ({'control_persist': 0}, 'bastion_control_persist must be a number of seconds'),
    ({'bastion_ssh_args': '-o ControlMaster=no -S /tmp/x'}, 'option -S, which the bastion multiplexing sets'),
    ({'bastion_ssh_args': '-W host:22'}, 'option -W'),
    ({'bastion_ssh_args': '-Z'}, 'option -Z, which ssh does not know'),
    ({'template': 'ssh {nope}'}, r'unknown placeholder \{nope\}'),
    ({'socket_client': 'nc'}, 'socket_client must be one of socat, netcat'),
    ({'bastion_ssh_args': '-o "ProxyJump=x"'}, 'double quote or backslash'),
])
def test_bad_settings_are_errors(kw, message):
    with pytest.raises(bastion.ProxyCommandError, match=message):
        render(**kw)


def test_templates_that_are_not_ssh_are_not_wrapped():
    assert render(template='nc -U /srv/{node_id}.sock') == 'nc -U /srv/%s.sock' % NODE
    wrapped = render(template='/usr/bin/ssh gw connect-to-node {vsn}', python='/py')
    assert wrapped.endswith('-- /usr/bin/ssh gw connect-to-node W023')


@pytest.mark.parametrize('argv, expected', [
    ('ssh -p 2201 -i k root@bk socat - UNIX-CONNECT:/s',
     (['-p', '2201', '-i', 'k'], 'root@bk', ['socat', '-', 'UNIX-CONNECT:/s'])),
    # options after the destination are ssh's, as ssh(1) parses them
    ('ssh -i k waggle@gw -p 49190 connect-to-node W030',
     (['-i', 'k', '-p', '49190'], 'waggle@gw', ['connect-to-node', 'W030'])),
    # grouped flags and attached values
    ('ssh -qCp2201 -oBatchMode=yes bk nc -U /s', (['-q', '-C', '-p', '2201', '-o', 'BatchMode=yes'], 'bk',
                                                  ['nc', '-U', '/s'])),
    ('ssh -- bk -x', ([], 'bk', ['-x'])),
    ('ssh bk', ([], 'bk', [])),
])
def test_split_ssh(argv, expected):
    assert bastion.split_ssh(argv.split()) == expected


def test_split_ssh_errors():
    with pytest.raises(bastion.ProxyCommandError, match='names no bastion host'):
        bastion.split_ssh(['ssh', '-p', '22'])
    with pytest.raises(bastion.ProxyCommandError, match='option -p of the bastion ssh command has no value'):
        bastion.split_ssh(['ssh', 'bk', '-p'])


def test_lanes_fill_slot_by_slot(tmp_path):
    base = bastion.lane_base(str(tmp_path), 'ssh', ['-p', '2201'], 'root@bk')
    held = [bastion.take_slot(base, 3) for dummy in range(7)]
    assert [lane for fd, lane in held] == [0, 0, 0, 1, 1, 1, 2]
    # a slot is free again as soon as its holder closes it (or dies: the kernel drops the flock)
    os.close(held[4][0])
    fd, lane = bastion.take_slot(base, 3)
    assert lane == 1
    for fd_, lane_ in held[:4] + held[5:] + [(fd, lane)]:
        os.close(fd_)


def test_lane_families_are_per_bastion(tmp_path):
    a = bastion.lane_base(str(tmp_path), 'ssh', ['-p', '2201'], 'root@bk')
    assert a == bastion.lane_base(str(tmp_path), 'ssh', ['-p', '2201'], 'root@bk')
    assert a != bastion.lane_base(str(tmp_path), 'ssh', ['-p', '2202'], 'root@bk')
    assert a != bastion.lane_base(str(tmp_path), 'ssh', ['-p', '2201'], 'admin@bk')
    assert len(os.path.basename(a)) == len('bk-') + 12


def test_slot_lock_is_held_by_a_child_process(tmp_path):
    """The wrapper hands its slot's flock to the session it execs: held while that process lives."""
    base = bastion.lane_base(str(tmp_path), 'ssh', [], 'bk')
    fd, lane = bastion.take_slot(base, 1)
    os.set_inheritable(fd, True)
    child = subprocess.Popen(['sleep', '30'], close_fds=False)
    os.close(fd)
    try:
        probe = os.open('%s-0.0.lock' % base, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        child.kill()
        child.wait()
    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(probe)


def test_wrapper_errors_name_the_problem(tmp_path):
    script = bastion.__file__
    r = subprocess.run([sys.executable, script, '--control-dir', str(tmp_path), '--', 'ssh', 'bk'],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 255
    assert 'runs nothing there (expected socat or netcat)' in r.stderr
    r = subprocess.run([sys.executable, script, '--control-dir', '/tmp/' + 'x' * 90, '--', 'ssh', 'bk', 'socat'],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 255
    assert 'too long for the bastion\'s ControlMaster sockets' in r.stderr and 'bastion_control_dir' in r.stderr
