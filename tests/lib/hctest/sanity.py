"""Helpers of the sanity_check tests (unit and integration)."""

import os
import pathlib


def write_proc(root, pid, argv):
    """Add a fake /proc/<pid>/cmdline under ``root``."""
    folder = pathlib.Path(root) / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return str(root)


def pids_alive(pids):
    """The pids of ``pids`` that still run (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        try:
            with open("/proc/%d/stat" % pid) as handle:
                if handle.read().split(") ", 1)[1].startswith("Z"):
                    continue
        except OSError:
            continue
        alive.append(pid)
    return alive
