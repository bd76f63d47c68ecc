"""Process and namespace helpers for simfleet (Linux only)."""

from __future__ import annotations

import os
import signal
import socket
import time
import traceback

NETNS_DIR = "/run/netns"
MARKER = "HC_SIMFLEET"


def _stat(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    return data[data.rindex(b")") + 2:].split()


def starttime(pid: int) -> int | None:
    """The start time of pid (clock ticks since boot), or None if it is gone; guards against pid reuse."""
    fields = _stat(pid)
    if fields is None or fields[0] == b"Z":
        return None
    return int(fields[19])


def alive(proc: dict | None) -> bool:
    """proc is {"pid": int, "start": int} as recorded when simfleet started it."""
    return bool(proc) and starttime(proc["pid"]) == proc["start"]


def kill(proc: dict | None, group: bool = False, sig: int = signal.SIGKILL) -> bool:
    """Signal a process simfleet started (verified by start time), or its process group."""
    if not alive(proc):
        return False
    try:
        if group:
            os.killpg(proc["pid"], sig)
        else:
            os.kill(proc["pid"], sig)
    except ProcessLookupError:
        return False
    return True


def mount_namespaces(plist, exclude=None) -> set:
    """The mount namespace ids held by the live processes of plist ({"pid", "start"} dicts), except
    ``exclude``. Read only from live processes: a freed namespace's inode may already be another's."""
    ids = set()
    for p in plist:
        if not alive(p):
            continue
        ino = ns_inode(f"/proc/{p['pid']}/ns/mnt")
        if ino and ino != exclude and alive(p):  # still the same process after the read
            ids.add(ino)
    return ids


def wait_gone(procs: list[dict], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in procs):
            return True
        time.sleep(0.02)
    return not any(alive(p) for p in procs)


def spawn(argv: list[str], env: dict[str, str], log_path: str, *, netns: str | None = None,
          new_ns: int = 0, hostname: str | None = None, cwd: str = "/") -> dict:
    """Start argv as a daemon (double fork, own session) and return {"pid", "start"}.

    netns: name of a network namespace under /run/netns to join first. new_ns: os.CLONE_* flags to
    unshare; with os.CLONE_NEWPID the started program is pid 1 of the new pid namespace (the returned
    pid is its pid in ours). The daemon is never our child, so callers leave no zombies behind.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # intermediate
        try:
            os.close(rfd)
            if netns:
                nfd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
                os.setns(nfd, os.CLONE_NEWNET)
                os.close(nfd)
            if new_ns:
                os.unshare(new_ns)
            if hostname:
                socket.sethostname(hostname)
            out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.chdir(cwd)
            child = os.fork()
            if child == 0:
                try:
                    os.setsid()  # its own session and process group: killpg(pid) stops it and its children
                    os.execve(argv[0], argv, env)
                finally:
                    os._exit(127)
            os.write(wfd, str(child).encode())
        except BaseException:  # report and leave; the parent sees no pid
            try:
                os.write(2, traceback.format_exc().encode())
            finally:
                os._exit(1)
        os._exit(0)
    os.close(wfd)
    chunks = []
    while True:
        b = os.read(rfd, 64)
        if not b:
            break
        chunks.append(b)
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        raise RuntimeError(f"could not start {argv[0]} (see {log_path})")
    child = int(b"".join(chunks))
    st = None
    for _ in range(100):
        st = starttime(child)
        if st is not None:
            break
        time.sleep(0.001)
    return {"pid": child, "start": st or 0}


def netns_names(prefix: str) -> list[str]:
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix + "-"))


def ns_inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def scan(prefix: str, netns_ids: set, mntns_ids: set, cmd_marks: tuple[bytes, ...] = ()) -> list[dict]:
    """Processes that belong to the fleet `prefix`: carrying its marker in their environment, living in
    one of its network namespaces or one of the given mount namespaces (the bastion's), or whose
    command line contains one of cmd_marks (sshd overwrites its environment with its process title)."""
    found = []
    me = os.getpid()
    marker = f"{MARKER}={prefix}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me:
            continue
        hit = False
        try:
            if netns_ids and ns_inode(f"/proc/{pid}/ns/net") in netns_ids:
                hit = True
            elif mntns_ids and ns_inode(f"/proc/{pid}/ns/mnt") in mntns_ids:
                hit = True
            else:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    hit = marker in f.read().split(b"\0")
                if not hit and cmd_marks:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read()
                    hit = any(m in cmd for m in cmd_marks)
        except OSError:
            continue
        if hit:
            st = starttime(pid)
            if st is not None:
                found.append({"pid": pid, "start": st})
    return found


def _ppids() -> dict[int, int]:
    """{pid: parent pid} of every process we can see."""
    out = {}
    for name in os.listdir("/proc"):
        fields = _stat(name) if name.isdigit() else None
        if fields is not None:
            out[int(name)] = int(fields[1])
    return out


def descendants(pids: set[int]) -> set[int]:
    """Every process below one of pids in the process tree (not pids themselves)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppids().items():
        children.setdefault(ppid, []).append(pid)
    out: set[int] = set()
    todo = list(pids)
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in out and c not in pids:
                out.add(c)
                todo.append(c)
    return out


def with_marker(marker: str) -> set[int]:
    """Processes whose environment holds marker (NAME=value), as far as we may read them."""
    want = marker.encode()
    out = set()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if want in f.read().split(b"\0"):
                    out.add(int(name))
        except OSError:
            continue
    return out


def freeze_and_kill(root: dict | None, marker: str, timeout: float = 5.0) -> list[int]:
    """Kill a process tree at once without a pid namespace: root (as recorded by spawn), everything
    below it and every process carrying marker in its environment (daemons that left the tree).

    All of them are stopped first (SIGSTOP) and the search repeated until it finds nothing new, so
    nothing can fork or restart a sibling between the search and the kill; then SIGKILL to all."""
    stopped: set[int] = set()
    me = os.getpid()
    for _ in range(50):
        found = with_marker(marker)
        if alive(root):
            found.add(root["pid"])
        found |= descendants(found | stopped)
        new = {p for p in found - stopped if p != me}
        if not new:
            break
        for p in new:
            try:
                os.kill(p, signal.SIGSTOP)
            except (ProcessLookupError, PermissionError):
                continue
            stopped.add(p)
    for p in stopped:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in stopped if starttime(p) is not None]
        if not left:
            break
        time.sleep(0.02)
    return sorted(stopped)
