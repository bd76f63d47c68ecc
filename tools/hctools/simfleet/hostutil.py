"""Host helpers of simfleet: the error type, commands, files, keys, ports and probes (bottom layer)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import procs

SSHD = "/usr/sbin/sshd"


class FleetError(Exception):
    """A problem the user can act on; str() says what is wrong and what to do."""


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise FleetError(f"{' '.join(argv[:4])}... failed (rc={r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r


def check_tools() -> None:
    missing = [t for t in ("ssh", "ssh-keygen", "socat") if not shutil.which(t)]
    if not os.access(SSHD, os.X_OK):
        missing.append(SSHD)
    if missing:
        raise FleetError(f"simfleet needs {', '.join(missing)}: install openssh-client, openssh-server and socat "
                         "(apt-get install openssh-client openssh-server socat)")


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def keygen(path: Path, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file atomically (a temporary file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ip_batch(netns: str | None, lines: list[str]) -> None:
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    run(argv, input="\n".join(lines) + "\n")


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """count distinct free 127.0.0.1 ports (held open together so that none is handed out twice)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_banner(addr, timeout: float, once: bool = False) -> bool:
    """True when an SSH server answers on addr (a (host, port) or a unix socket path)."""
    deadline = time.monotonic() + timeout
    while True:
        family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                s.connect(addr)
                if s.recv(8).startswith(b"SSH-2.0"):
                    return True
        except OSError:
            pass
        if once or time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _tcp_wait(addr: str, port: int, want_open: bool, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=1):
                is_open = True
        except OSError:
            is_open = False
        if is_open == want_open:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def tcp_in_netns(netns: str | None, addr: str, port: int, want_open: bool, timeout: float) -> bool:
    """Wait until a TCP connect to addr:port from inside network namespace netns succeeds (want_open)
    or is refused (not want_open); False on timeout. Runs in a short-lived forked child; netns None
    (ports mode): from here."""
    if netns is None:
        return _tcp_wait(addr, port, want_open, timeout)
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            fd = os.open(os.path.join(procs.NETNS_DIR, netns), os.O_RDONLY)
            os.setns(fd, os.CLONE_NEWNET)
            os.close(fd)
            code = 0 if _tcp_wait(addr, port, want_open, timeout) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
