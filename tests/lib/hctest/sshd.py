"""A real OpenSSH server on loopback for integration tests.

Usage (pytest), in a conftest.py or test module::

    from hctest.sshd import sshd_fixture

    sshd = sshd_fixture()            # module-scoped fixture "sshd"; sshd_fixture(scope="function") per test

    server.port, server.client_key, server.host_vars()   # ansible inventory variables

``Sshd`` runs ``/usr/sbin/sshd -D`` as root on ``127.0.0.1:<free port>`` with its own host key,
client key, authorized_keys and pidfile (``Subsystem sftp internal-sftp``,
``PermitRootLogin prohibit-password``, ``UsePAM no``, ``StrictModes no``, ``MaxStartups 200:30:400``).
:meth:`Sshd.stop` stops that sshd by its pid, then the per-connection sshd processes it forked
(children of that pid only). Needs root (sshd's privilege separation) and ``/usr/sbin/sshd``;
:func:`skip_reason` says why it cannot run here, for ``pytest.skip``.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def skip_reason():
    """None when a loopback sshd can be started here, else why not (only the missing root is a reason
    to skip: a missing sshd fails, see :func:`require_sshd`)."""
    if os.geteuid() != 0:
        return "starting sshd on loopback needs root"
    return None


def require_sshd():
    """Fail, naming the command that installs it, when OpenSSH's sshd is missing."""
    from hctest.requires import SYSTEM_DEPS, require_path
    require_path(SSHD, "OpenSSH's sshd", "run `sudo %s` (installs openssh-server)" % SYSTEM_DEPS)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid):
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children)."""
    kids = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as handle:
                kids.extend(int(x) for x in handle.read().split())
    except OSError:
        pass
    return kids


class Sshd:
    def __init__(self, workdir, python="/usr/bin/python3", extra_config="", openssh_defaults=False):
        """openssh_defaults: leave MaxStartups and MaxSessions at OpenSSH's defaults (10:30:100, 10)."""
        self.dir = Path(workdir)
        self.openssh_defaults = openssh_defaults
        self.python = python
        self.extra_config = extra_config
        self.port = None
        self.proc = None
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = self.dir / "id_ed25519"
        self.authorized_keys = self.dir / "authorized_keys"
        self.config = self.dir / "sshd_config"
        self.pidfile = self.dir / "sshd.pid"
        self.log = self.dir / "sshd.log"
        self._session_pids = set()

    def start(self, timeout=15):
        reason = skip_reason()
        if reason:
            raise RuntimeError(reason)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir sshd insists on
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        self.authorized_keys.write_text((self.client_key.with_suffix(".pub")).read_text())
        self.port = free_port()
        self.config.write_text(
            "ListenAddress 127.0.0.1\n"
            "Port %d\n"
            "HostKey %s\n"
            "PidFile %s\n"
            "AuthorizedKeysFile %s\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "%s"
            "Subsystem sftp internal-sftp\n"
            "LogLevel ERROR\n"
            "%s" % (self.port, self.host_key, self.pidfile, self.authorized_keys,
                    "" if self.openssh_defaults else "MaxStartups 200:30:400\nMaxSessions 100\n", self.extra_config))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited with %s: %s" % (self.proc.returncode, self.log.read_text()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("sshd did not answer on 127.0.0.1:%d within %ss" % (self.port, timeout))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def host_vars(self, python=None):
        """Ansible inventory variables to reach this sshd as root."""
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
            "ansible_python_interpreter": python or self.python,
        }

    def ssh_command(self, *command):
        """argv running ``command`` on this sshd with the test client key."""
        return ["ssh", "-p", str(self.port), "-i", str(self.client_key), "-o", "BatchMode=yes",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR",
                "root@127.0.0.1"] + list(command)

    def stop(self, timeout=10):
        """Stop the sshd started by :meth:`start` and the connection handlers it forked."""
        if self.proc is None:
            return
        sessions = _children(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in sessions:  # per-connection sshd processes of this server only
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        self.proc = None


def sshd_fixture(scope="module", name="sshd"):
    """A pytest fixture (called ``name``, of ``scope``) yielding a started :class:`Sshd` in a fresh tmp dir
    and stopping it afterwards, even when the test failed; skips with :func:`skip_reason` without root,
    fails when sshd is not installed. Assign it at module level: ``sshd = sshd_fixture()``."""
    import pytest

    @pytest.fixture(scope=scope, name=name)
    def _sshd(tmp_path_factory):
        reason = skip_reason()
        if reason:
            pytest.skip(reason)
        require_sshd()
        server = Sshd(tmp_path_factory.mktemp("sshd")).start()
        try:
            yield server
        finally:
            server.stop()
    return _sshd
