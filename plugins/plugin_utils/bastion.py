# -*- coding: utf-8 -*-
# Copyright: (c) 2025, waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bastion hop of a node connection.

Its jobs, one owner:

* ``proxy_command()`` renders the ProxyCommand that reaches a node's tunnel socket on the bastion
  (the ``waggle.honeycomb.beekeeper`` inventory plugin and the simulated fleet's inventory use it);
* ``unit_proxy_command()`` nests a node's ProxyCommand for a compute unit behind its nxcore (nxagent,
  Raspberry Pi): ssh to the nxcore through it, then ``-W`` to the unit's sshd on the node's LAN;
* run as a script (``python bastion.py --max-sessions 10 -- ssh ... bastion socat ...``), it is the
  ProxyCommand wrapper that lets node connections share bastion logins: at most ``--max-sessions``
  node connections per bastion login, because the bastion's sshd allows that many session channels
  (``MaxSessions``, OpenSSH default 10) on one connection, and every ``socat``/``netcat`` run there is
  a session. A node connection takes a free slot of a "lane" (a flock on
  ``<control dir>/bk-<hash>-<lane>.<slot>.lock``, held by the connection's processes until they exit),
  starts the lane's ControlMaster to the bastion if none is alive (one login, under the lane's lock,
  so concurrent connections never race to log in), and runs its command as a session of that master.

Standard library only, and quick to start: the wrapper runs once per node connection.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import errno
import fcntl
import hashlib
import os
import re
import shlex
import socket
import subprocess
import sys
import time

DEFAULT_TEMPLATE = 'ssh -p {bastion_port} {bastion_key_arg} {bastion_ssh_args} {bastion_user}@{bastion_host} {socket_command}'
DEFAULT_BASTION_SSH_ARGS = '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
DEFAULT_SOCKET_PATH = '/home_dirs/node-{node_id}/rtun.sock'
SOCKET_CLIENTS = ('socat', 'netcat')
# OpenSSH's default MaxSessions; beekeeper's bk-sshd does not change it
OPENSSH_MAX_SESSIONS = 10
DEFAULT_CONTROL_PERSIST = 300
# the shipped ansible.cfg's control_path_dir; ANSIBLE_SSH_CONTROL_PATH_DIR wins when set
DEFAULT_CONTROL_DIR = '~/.ansible/cp-hc'
MAX_LANES = 10000
# a unix socket path has 108 bytes; ssh binds "<ControlPath>.<16 random characters>" first
SUN_PATH_MAX = 107 - 17
PLACEHOLDER_RE = re.compile(r'\{([A-Za-z_][A-Za-z0-9_]*)\}')

# ssh(1)'s options with and without an argument (OpenSSH 9's getopt string)
SSH_ARG_OPTIONS = frozenset('BbcDEeFIiJLlmOoPpQRSWw')
SSH_FLAG_OPTIONS = frozenset('1246AaCfGgKkMNnqsTtVvXxYy')
# options the multiplexing sets itself
SSH_OWNED_OPTIONS = frozenset('MSNfWO')
# what the wrapper's session runs: a shell that ignores SIGHUP and waits for ssh. ssh sends SIGHUP to
# its ProxyCommand when it exits; the session must end by its channel closing instead, so that the
# bastion's session slot is free again (sshd frees it only when socat has exited) before this
# connection's slot lock is released.
SESSION_SHELL = "trap '' HUP; \"$@\"; exit $?"


class ProxyCommandError(ValueError):
    """A ProxyCommand setting that cannot work; str() names it and what to do."""


def quote(value):
    """Shell-quote a value for the ProxyCommand ('' for None or empty)."""
    if value in (None, ''):
        return ''
    return shlex.quote(str(value))


def render_template(template, values, what):
    """Replace {name} placeholders; an unknown placeholder is an error naming the option."""
    def repl(match):
        name = match.group(1)
        if name not in values:
            raise ProxyCommandError('%s contains the unknown placeholder {%s}; known placeholders are %s'
                                    % (what, name, ', '.join('{%s}' % k for k in sorted(values))))
        return str(values[name])
    return PLACEHOLDER_RE.sub(repl, template)


def socket_command(socket_path, client='socat'):
    """The command run on the bastion that joins stdio to the node's tunnel socket."""
    if client == 'netcat':
        return 'netcat -U %s' % quote(socket_path)
    if client == 'socat':
        return 'socat - %s' % quote('UNIX-CONNECT:' + socket_path)
    raise ProxyCommandError('socket_client must be one of %s, got %r' % (', '.join(SOCKET_CLIENTS), client))


def mux_prefix(max_sessions=OPENSSH_MAX_SESSIONS, control_persist=DEFAULT_CONTROL_PERSIST, control_dir=None,
               python=None):
    """The words that put this file's wrapper in front of an ssh command (ssh expands % in a ProxyCommand)."""
    if not isinstance(max_sessions, int) or isinstance(max_sessions, bool) or max_sessions < 1:
        raise ProxyCommandError('bastion_max_sessions must be a whole number of at least 1 (the bastion sshd\'s '
                                'MaxSessions, OpenSSH\'s default is 10), got %r' % (max_sessions,))
    if not isinstance(control_persist, int) or isinstance(control_persist, bool) or control_persist < 1:
        raise ProxyCommandError('bastion_control_persist must be a number of seconds of at least 1, got %r'
                                % (control_persist,))
    script = os.path.abspath(__file__)
    if script.endswith(('.pyc', '.pyo')):
        script = script[:-1]
    words = [quote(python or sys.executable), quote(script), '--max-sessions', str(max_sessions),
             '--persist', str(control_persist)]
    if control_dir:
        words += ['--control-dir', quote(control_dir)]
    return ' '.join(words).replace('%', '%%') + ' --'


def proxy_command(bastion_host, node_id, vsn='', bastion_port=22, bastion_user='root', bastion_key=None,
                  bastion_ssh_args=DEFAULT_BASTION_SSH_ARGS, socket_path_template=DEFAULT_SOCKET_PATH,
                  socket_client='socat', template=DEFAULT_TEMPLATE, multiplex=True,
                  max_sessions=OPENSSH_MAX_SESSIONS, control_persist=DEFAULT_CONTROL_PERSIST, control_dir=None,
                  python=None):
    """The ProxyCommand of one node: ssh to the bastion, then socat/netcat into the node's tunnel socket.

    With multiplex (the default) an ssh command is wrapped so that node connections share bastion logins
    (see the module docstring); a template that does not start with ssh is used as it is.
    Raises ProxyCommandError for settings that cannot work."""
    names = {'node_id': node_id, 'vsn': vsn}
    socket_path = render_template(socket_path_template, names, 'socket_path_template')
    values = {
        'bastion_host': quote(bastion_host),
        'bastion_port': quote(bastion_port),
        'bastion_user': quote(bastion_user),
        'bastion_key': quote(bastion_key),
        'bastion_key_arg': '-i %s' % quote(bastion_key) if bastion_key else '',
        'bastion_ssh_args': bastion_ssh_args or '',
        'socket_path': quote(socket_path),
        'socket_command': socket_command(socket_path, socket_client),
        'node_id': node_id,
        'vsn': vsn,
    }
    command = ' '.join(render_template(template, values, 'proxy_command_template').split())
    if multiplex and is_ssh_command(command):
        split_ssh(shlex.split(command))  # refuse what the multiplexing cannot wrap now, not at connect time
        command = '%s %s' % (mux_prefix(max_sessions, control_persist, control_dir, python), command)
    if '"' in command or '\\' in command:
        raise ProxyCommandError('the ProxyCommand for %s contains a double quote or backslash, which cannot be '
                                'passed through ansible_ssh_common_args: %s' % (vsn or node_id, command))
    return command


def unit_proxy_command(node_proxy_command, node_host, unit_host, unit_port=22, node_user='root', node_key=None,
                       node_ssh_args=''):
    """The ProxyCommand of a compute unit behind a node's nxcore (an nxagent, a Raspberry Pi): ssh to the
    node's nxcore through its own ProxyCommand (``node_proxy_command``, from proxy_command()) and forward
    the connection from there to the unit's sshd (``ssh -W unit_host:unit_port``), so that the unit sees a
    connection from the nxcore, as it only accepts. ``node_host`` is the nxcore's ssh destination (the
    node ID, as the node's own ``ansible_host``), ``node_user``/``node_key``/``node_ssh_args`` its login.

    The node's ProxyCommand is nested as one single-quoted word; ssh expands ``%`` in a ProxyCommand
    once per level, so its ``%`` are doubled. Raises ProxyCommandError for what cannot be nested."""
    if "'" in node_proxy_command:
        raise ProxyCommandError('the ProxyCommand of node %s contains a single quote (a value with spaces or other '
                                'characters the shell quotes), which cannot be nested in the ProxyCommand of its '
                                'compute units: %s; use paths and options without such characters'
                                % (node_host, node_proxy_command))
    words = ['ssh', '-o', "'ProxyCommand=%s'" % node_proxy_command.replace('%', '%%'),
             '-W', quote('%s:%d' % (unit_host, int(unit_port)))]
    if node_key:
        words += ['-i', quote(node_key)]
    if node_ssh_args:
        words.append(' '.join(node_ssh_args.split()))
    words.append(quote('%s@%s' % (node_user, node_host)) if node_user else quote(node_host))
    command = ' '.join(words)
    if '"' in command or '\\' in command:
        raise ProxyCommandError('the ProxyCommand for %s (unit %s) contains a double quote or backslash, which cannot '
                                'be passed through ansible_ssh_common_args: %s' % (node_host, unit_host, command))
    return command


def is_ssh_command(command):
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return bool(words) and os.path.basename(words[0]) == 'ssh'


def split_ssh(argv):
    """(options, destination, remote command) of an ssh argv, parsed the way ssh(1) does: options may
    come before and after the destination; the command starts at the first word after it that is not
    an option."""
    options, destination = [], None
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == '--':
            i += 1
            if destination is None and i < len(argv):
                destination = argv[i]
                i += 1
            break
        if word.startswith('-') and len(word) > 1:
            j = 1
            while j < len(word):
                letter = word[j]
                if letter in SSH_OWNED_OPTIONS:
                    raise ProxyCommandError('the bastion ssh command has the option -%s, which the bastion '
                                            'multiplexing sets itself; remove it or set bastion_multiplex: false'
                                            % letter)
                if letter in SSH_ARG_OPTIONS:
                    if j + 1 < len(word):
                        options += ['-' + letter, word[j + 1:]]
                    elif i + 1 < len(argv):
                        i += 1
                        options += ['-' + letter, argv[i]]
                    else:
                        raise ProxyCommandError('the option -%s of the bastion ssh command has no value' % letter)
                    break
                if letter not in SSH_FLAG_OPTIONS:
                    raise ProxyCommandError('the bastion ssh command has the option -%s, which ssh does not know'
                                            % letter)
                options.append('-' + letter)
                j += 1
            i += 1
            continue
        if destination is not None:
            break
        destination = word
        i += 1
    if destination is None:
        raise ProxyCommandError('the bastion ssh command names no bastion host: %s' % ' '.join(argv))
    return options, destination, argv[i:]


# ---------------------------------------------------------------------------------------- the wrapper
def lane_base(control_dir, ssh_program, options, destination):
    """<control dir>/bk-<hash>: one family of lanes per bastion, user, port, key and options."""
    digest = hashlib.sha256('\0'.join([ssh_program] + options + [destination]).encode('utf-8')).hexdigest()
    return os.path.join(control_dir, 'bk-' + digest[:12])


def take_slot(base, max_sessions):
    """(fd holding the slot's lock, lane number): the first lane with a free session slot."""
    for lane in range(MAX_LANES):
        for slot in range(max_sessions):
            fd = os.open('%s-%d.%d.lock' % (base, lane, slot), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                continue
            return fd, lane
    raise ProxyCommandError('all %d bastion lanes of %s are busy' % (MAX_LANES, base))


def master_alive(path):
    """A ControlMaster listens on path (a stale socket file refuses the connection)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(path)
        return True
    except OSError:
        return False
    finally:
        sock.close()


def start_master(ssh_program, options, destination, path, persist):
    """Log in to the bastion once as the lane's ControlMaster (ssh -f -N); None or the reason it failed."""
    try:
        os.unlink(path)  # a stale socket would make the new master run without multiplexing
    except OSError:
        pass
    argv = ([ssh_program, '-o', 'ControlMaster=yes', '-o', 'ControlPath=' + path, '-o', 'ControlPersist=%d' % persist,
             '-N', '-f'] + options
            + ['-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4', '-o', 'ConnectTimeout=30', destination])
    with open(path + '.log', 'wb') as log:
        try:
            rc = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                                 timeout=120)
        except subprocess.TimeoutExpired:
            rc = 'a timeout'
    if rc == 0:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if master_alive(path):
                return None
            time.sleep(0.05)
        rc = 'no control socket'
    with open(path + '.log', 'rb') as log:
        text = log.read().decode('utf-8', 'replace').strip()
    return '%s (%s)' % (text or 'no message', rc)


def _parser():
    p = argparse.ArgumentParser(prog='bastion.py', description='ProxyCommand wrapper: node connections share '
                                'bastion logins, at most --max-sessions per login.')
    p.add_argument('--max-sessions', type=int, default=OPENSSH_MAX_SESSIONS)
    p.add_argument('--persist', type=int, default=DEFAULT_CONTROL_PERSIST)
    p.add_argument('--control-dir', default=None)
    p.add_argument('command', nargs=argparse.REMAINDER)
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    try:
        options, destination, remote = split_ssh(command)
        if not remote:
            raise ProxyCommandError('the bastion ssh command runs nothing there (expected socat or netcat)')
        if args.max_sessions < 1:
            raise ProxyCommandError('--max-sessions must be at least 1')
        control_dir = os.path.expanduser(args.control_dir or os.environ.get('ANSIBLE_SSH_CONTROL_PATH_DIR')
                                         or DEFAULT_CONTROL_DIR)
        base = lane_base(control_dir, command[0], options, destination)
        if len(base) + 5 > SUN_PATH_MAX:
            raise ProxyCommandError('the control directory %s is too long for the bastion\'s ControlMaster sockets '
                                    '(at most %d characters); set bastion_control_dir to a shorter one'
                                    % (control_dir, SUN_PATH_MAX - 22))
        os.makedirs(control_dir, mode=0o700, exist_ok=True)
        slot_fd, lane = take_slot(base, args.max_sessions)
        path = '%s-%d' % (base, lane)
        lane_fd = os.open(path + '.lock', os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(lane_fd, fcntl.LOCK_EX)
        failure = None if master_alive(path) else start_master(command[0], options, destination, path, args.persist)
        os.close(lane_fd)
    except (ProxyCommandError, OSError) as e:
        sys.stderr.write('waggle.honeycomb bastion multiplexing: %s\n' % e)
        return 255
    if failure:
        # one login of this connection's own, as without multiplexing
        sys.stderr.write('waggle.honeycomb bastion multiplexing: could not open the shared bastion connection %s: '
                         '%s; connecting without it\n' % (path, failure))
        os.close(slot_fd)
        os.execvp(command[0], command)
    session = [command[0], '-o', 'ControlMaster=no', '-o', 'ControlPath=' + path] + options + [destination] + remote
    os.set_inheritable(slot_fd, True)
    os.execv('/bin/sh', ['sh', '-c', SESSION_SHELL, 'sh'] + session)
    return 255  # not reached


if __name__ == '__main__':
    sys.exit(main())
