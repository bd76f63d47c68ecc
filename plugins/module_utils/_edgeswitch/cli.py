# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pexpect session with an EdgeSwitch CLI over ssh (OpenSSH client) or telnet.

Flows and screen texts: docs/devices/edgeswitch.md."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import socket
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import (
    AuthError, CommandError, ConnectError, ConnectionLost, EdgeSwitchError, TransferError)

try:
    import pexpect
    from pexpect import fdpexpect
    HAS_PEXPECT = True
    PEXPECT_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported through missing_required_lib
    HAS_PEXPECT = False
    PEXPECT_IMPORT_ERROR = exc

# `(UBNT EdgeSwitch) >`, `(name) #`, `(name) (Config)#`, `(name) (Interface 0/1)#`; the name may hold spaces.
PROMPT = r"\r?\n\(([^()\r\n]+)\) (?:\(([^()\r\n]+)\))?([>#])"
PAGER = r"--More-- or \(q\)uit"
PAGER_ERASE = "\r" + " " * 18 + "\r"
ERROR_PATTERNS = (
    r"% ?Invalid input detected",
    r"(?:Incomplete|Ambiguous) command",
    r"Command not found",
    r"% ?Error",
    r"% ?Bad secret",
    r"An invalid",
)
LEGACY_KEX = ("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1")
LEGACY_HOSTKEYS = ("ssh-rsa", "ssh-dss")
HOST_KEY_POLICIES = {"strict": "yes", "accept-new": "accept-new", "off": "no"}

_SSH_QUERY_CACHE = {}


def ssh_supported(ssh, what):
    """Algorithms the local OpenSSH client knows (`ssh -Q kex|key`), cached."""
    key = (ssh, what)
    if key not in _SSH_QUERY_CACHE:
        try:
            out = pexpect.run("%s -Q %s" % (ssh, what), timeout=15)
            if isinstance(out, bytes):
                out = out.decode("ascii", "replace")
            _SSH_QUERY_CACHE[key] = set(w for w in out.split() if re.match(r"^[a-z0-9@.+-]+$", w))
        except Exception:  # no ssh client: no legacy options, ssh itself will report the problem
            _SSH_QUERY_CACHE[key] = set()
    return _SSH_QUERY_CACHE[key]


def legacy_ssh_options(ssh="ssh"):
    """-o options adding the switch's legacy algorithms, only those this ssh client supports."""
    opts = []
    kex = [k for k in LEGACY_KEX if k in ssh_supported(ssh, "kex")]
    keys = [k for k in LEGACY_HOSTKEYS if k in ssh_supported(ssh, "key")]
    if kex:
        opts += ["-o", "KexAlgorithms=+" + ",".join(kex)]
    if keys:
        opts += ["-o", "HostKeyAlgorithms=+" + ",".join(keys)]
    return opts


def connection_argument_spec():
    """Module options for reaching the CLI, shared by edgeswitch_command and edgeswitch_config.

    Documented by the waggle.honeycomb._edgeswitch doc fragment; change both together."""
    return dict(
        host=dict(type="str", default="10.31.81.2"),
        port=dict(type="int"),
        connection=dict(type="str", choices=["ssh", "telnet"], default="ssh"),
        username=dict(type="str", default="ubnt"),
        password=dict(type="str", required=True, no_log=True),
        enable_password=dict(type="str", no_log=True),
        host_key_checking=dict(type="str", choices=["strict", "accept-new", "off"], default="accept-new"),
        known_hosts_file=dict(type="path"),
        legacy_algorithms=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
    )


def cli_from_params(p):
    """An EdgeSwitchCLI (not yet opened) from module params; options missing from p take their defaults."""
    return EdgeSwitchCLI(
        p["host"], p["username"], p["password"], enable_password=p.get("enable_password"),
        transport=p.get("connection", "ssh"), port=p.get("port"),
        host_key_checking=p.get("host_key_checking", "accept-new"),
        known_hosts_file=p.get("known_hosts_file"), legacy_algorithms=p.get("legacy_algorithms", True),
        timeout=p.get("timeout", 30))


class EdgeSwitchCLI(object):
    def __init__(self, host, username, password, enable_password=None, transport="ssh", port=None,
                 host_key_checking="accept-new", known_hosts_file=None, legacy_algorithms=True,
                 timeout=30, ssh_executable="ssh", logfile=None):
        self.host = host
        self.username = username
        self.password = password
        self.enable_password = enable_password
        self.transport = transport
        self.port = port or (22 if transport == "ssh" else 23)
        self.host_key_checking = host_key_checking
        self.known_hosts_file = known_hosts_file
        self.legacy_algorithms = legacy_algorithms
        self.timeout = timeout
        self.ssh = ssh_executable
        self.logfile = logfile
        self.child = None
        self.relay = None
        self.hostname = None
        self.banner_seen = ""

    # ---- connection ---------------------------------------------------------------------------------
    def ssh_command(self):
        args = ["-F", "/dev/null", "-tt", "-p", str(self.port),
                "-o", "PubkeyAuthentication=no", "-o", "GSSAPIAuthentication=no",
                "-o", "PreferredAuthentications=password,keyboard-interactive",
                "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=%d" % max(1, int(self.timeout)),
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
                "-o", "StrictHostKeyChecking=%s" % HOST_KEY_POLICIES[self.host_key_checking]]
        if self.host_key_checking == "off":
            args += ["-o", "UserKnownHostsFile=/dev/null"]
        elif self.known_hosts_file:
            args += ["-o", "UserKnownHostsFile=%s" % self.known_hosts_file]
        if self.legacy_algorithms:
            args += legacy_ssh_options(self.ssh)
        args += ["-l", self.username, self.host]
        return args

    def _spawn(self):
        if self.transport == "telnet":
            from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.telnet import TelnetRelay
            try:
                self.relay = TelnetRelay(self.host, self.port, self.timeout)
            except (socket.error, OSError) as exc:
                raise ConnectError("cannot reach the switch at %s port %d over telnet: %s"
                                   % (self.host, self.port, exc))
            child = fdpexpect.fdspawn(self.relay.fileno(), timeout=self.timeout, encoding="utf-8",
                                      codec_errors="replace")
        else:
            child = pexpect.spawn(self.ssh, self.ssh_command(), timeout=self.timeout, encoding="utf-8",
                                  codec_errors="replace", dimensions=(200, 200))
        child.delaybeforesend = None
        if self.logfile is not None:
            child.logfile_read = self.logfile
        return child

    def open(self):
        self.child = self._spawn()
        try:
            self._login()
            self._enable()
            self.command("terminal length 0")
        except Exception:
            self.abort()
            raise
        return self

    def _login(self):
        c = self.child
        sent_user = sent_password = False
        patterns = [
            # 0: the prompt, last thing received: the login banner (printed in the session before the
            # first prompt) may hold lines that look like a prompt, e.g. "(lab switch) > staff only"
            PROMPT + r"[ \t]*$",
            r"[Pp]assword: ?$",                                        # 1
            r"User(?:name)?: ?$",                                      # 2
            r"\(yes/no(?:/\[fingerprint\])?\)\? ?",                    # 3
            r"Permission denied|Authentication failed|Too many authentication failures",  # 4
            r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed",       # 5
            r"Connection refused|No route to host|Connection timed out|timed out|Could not resolve"
            r"|Network is unreachable|Connection closed|Connection reset|no matching",     # 6
            pexpect.EOF, pexpect.TIMEOUT,
        ]
        while True:
            idx = c.expect(patterns)
            if idx == 0:
                self.banner_seen += c.before
                self._note_prompt(c.match)
                return
            if idx == 1:
                if sent_password:
                    raise AuthError("the switch %s rejected the password for user %r: check username and "
                                    "password" % (self.host, self.username))
                c.send(self.password + "\r")
                sent_password = True
            elif idx == 2:
                if sent_user:
                    raise AuthError("the switch %s rejected the login of user %r: check username and "
                                    "password" % (self.host, self.username))
                self.banner_seen += c.before
                c.send(self.username + "\r")
                sent_user = True
                sent_password = False
            elif idx == 3:
                c.send("no\r")
                raise ConnectError("the switch %s has a host key not in known_hosts and host_key_checking is "
                                   "strict: add its key to the known_hosts file, or use accept-new" % self.host)
            elif idx == 4:
                raise AuthError("the switch %s rejected the login of user %r (%s): check username and "
                                "password" % (self.host, self.username, c.after.strip()))
            elif idx == 5:
                raise ConnectError("host key verification for the switch %s failed (%s): if the switch was "
                                   "replaced, remove its old key from known_hosts; to accept any key set "
                                   "host_key_checking: off" % (self.host, c.after.strip()))
            elif idx == 6:
                detail = (c.before + c.after).strip().splitlines()
                raise ConnectError("cannot reach the switch at %s port %d: %s" % (
                    self.host, self.port, detail[-1] if detail else c.after))
            elif idx == 7:
                detail = (c.before or "").strip().splitlines()
                raise ConnectError("the connection to the switch %s closed during login%s" % (
                    self.host, (": " + detail[-1]) if detail else ""))
            else:
                raise ConnectError("no CLI prompt from the switch %s within %ss (last output: %r)"
                                   % (self.host, self.timeout, (c.before or "")[-200:]))

    def _note_prompt(self, match):
        self.hostname = match.group(1)
        self.mode = match.group(3)
        self.submode = match.group(2)

    def _enable(self):
        if self.mode == "#":
            return
        c = self.child
        c.send("enable\r")
        idx = c.expect([PROMPT, r"[Pp]assword: ?$", pexpect.EOF, pexpect.TIMEOUT])
        if idx == 1:
            if self.enable_password is None:
                c.send("\r")
                c.expect([PROMPT, pexpect.EOF, pexpect.TIMEOUT])
                raise AuthError("the switch %s asks for an enable password: set enable_password" % self.host)
            c.send(self.enable_password + "\r")
            idx = c.expect([PROMPT, pexpect.EOF, pexpect.TIMEOUT])
            if idx == 0:
                self._note_prompt(c.match)
                if self.mode != "#":
                    raise AuthError("the switch %s refused the enable password (still in user mode): check "
                                    "enable_password" % self.host)
                return
        if idx == 0:
            self._note_prompt(c.match)
            if self.mode == "#":
                return
            raise AuthError("failed to elevate privilege to enable mode on %s" % self.host)
        raise ConnectionLost("the connection to the switch %s was lost while entering privileged mode" % self.host)

    # ---- commands -------------------------------------------------------------------------------------
    def _clean(self, text, command):
        text = text.replace(PAGER_ERASE, "").replace("\r\n", "\n").replace("\r", "")
        lines = text.split("\n")
        if lines and lines[0].strip() == command.strip():
            lines = lines[1:]
        return "\n".join(lines)

    def command(self, command, timeout=None, answers=None, check=True):
        """Run one command, page through, answer (y/n) questions from `answers` (list of (regex, key)),
        return its output without the echo and the prompt."""
        c = self.child
        c.send(command + "\r")
        chunks = []
        patterns = [PROMPT, PAGER, r"\(y/n\) ?$", pexpect.EOF, pexpect.TIMEOUT]
        while True:
            idx = c.expect(patterns, timeout=timeout or self.timeout)
            chunks.append(c.before)
            if idx == 0:
                self._note_prompt(c.match)
                break
            if idx == 1:
                c.send(" ")
                continue
            if idx == 2:
                question = (c.before + c.after)
                chunks.append(c.after)
                key = "n"
                for regex, answer in answers or ():
                    if re.search(regex, question):
                        key = answer
                        break
                c.send(key)
                continue
            if idx == 3:
                raise ConnectionLost("the connection to the switch %s closed during %r" % (self.host, command))
            raise EdgeSwitchError("the switch %s did not answer %r within %ss (last output: %r)"
                                  % (self.host, command, timeout or self.timeout, "".join(chunks)[-200:]))
        output = self._clean("".join(chunks), command)
        if check:
            for pattern in ERROR_PATTERNS:
                if re.search(pattern, output):
                    raise CommandError("the switch rejected %r: %s" % (command, output.strip()), output)
        return output

    def copy(self, source, dest, password=None, timeout=300):
        """copy <source> <dest> with Remote Password: and the (y/n) start question. Returns the
        output; raises TransferError unless the switch reports success."""
        c = self.child
        command = "copy %s %s" % (source, dest)
        c.send(command + "\r")
        chunks = []
        patterns = [PROMPT, r"Remote Password: ?$", r"\(y/n\) ?$", pexpect.EOF, pexpect.TIMEOUT]
        while True:
            idx = c.expect(patterns, timeout=timeout)
            chunks.append(c.before)
            if idx == 0:
                self._note_prompt(c.match)
                break
            if idx == 1:
                chunks.append(c.after)
                c.send((password or "") + "\r")
            elif idx == 2:
                chunks.append(c.after)
                c.send("y" if re.search(r"start\?", c.before + c.after) else "n")
            elif idx == 3:
                raise ConnectionLost("the connection to the switch %s dropped during the transfer (%s)"
                                     % (self.host, command.replace(password or "\0", "********")))
            else:
                raise TransferError("the transfer %r did not finish within %ss" % (command, timeout),
                                    "".join(chunks))
        output = self._clean("".join(chunks), command)
        if password:
            output = output.replace(password, "********")
        status = [l.strip() for l in output.split("\n")
                  if re.search(r"success|fail|error|cancel|invalid|not valid|not found", l, re.I)]
        if any(re.search(r"fail|error|cancel|invalid|not valid|not found", l, re.I) for l in status) or \
                not any(re.search(r"successful", l, re.I) for l in status):
            raise TransferError("the switch did not complete %r: %s" % (
                "copy %s %s" % (source, dest), "; ".join(status) or output.strip()[-300:]), output)
        return output

    def reload(self, save=False):
        """reload: answer the unsaved-changes question with n (keep the downloaded startup-config),
        confirm the reset, wait for the connection to close."""
        c = self.child
        c.send("reload\r")
        while True:
            idx = c.expect([r"save them now\? \(y/n\) ?", r"reset the system\? \(y/n\) ?",
                            r"System will now restart", PROMPT, pexpect.EOF, pexpect.TIMEOUT], timeout=60)
            if idx == 0:
                c.send("y" if save else "n")
            elif idx == 1:
                c.send("y")
            elif idx == 2:
                try:
                    c.expect([pexpect.EOF], timeout=60)
                except pexpect.TIMEOUT:
                    pass
                break
            elif idx == 3:
                raise CommandError("the switch %s did not accept reload: %s" % (self.host, c.before.strip()))
            elif idx == 4:
                break
            else:
                raise EdgeSwitchError("the switch %s did not restart after reload" % self.host)
        self.abort()

    def close(self):
        """quit, answering n to the unsaved-changes question."""
        if self.child is None:
            return
        try:
            if self.child.isalive() if hasattr(self.child, "isalive") else True:
                self.child.send("quit\r")
                idx = self.child.expect([r"\(y/n\) ?", pexpect.EOF, pexpect.TIMEOUT], timeout=10)
                if idx == 0:
                    self.child.send("n")
                    self.child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=10)
        except Exception:
            pass
        self.abort()

    def abort(self):
        child, self.child = self.child, None
        if child is not None:
            try:
                child.close(force=True) if not isinstance(child, fdpexpect.fdspawn) else child.close()
            except Exception:
                pass
        if self.relay is not None:
            self.relay.close()
            self.relay = None


def wait_for_port(host, port, deadline, interval=1.0):
    """True once a TCP connection to host:port succeeds before the deadline (time.time())."""
    while time.time() < deadline:
        try:
            sock = socket.create_connection((host, port), min(5, max(0.5, deadline - time.time())))
            sock.close()
            return True
        except (socket.error, OSError):
            time.sleep(interval)
    return False
