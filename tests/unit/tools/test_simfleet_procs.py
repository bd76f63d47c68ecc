"""simfleet.procs: what `simfleet down` may treat as the fleet's (it must never signal a stranger)."""

import os
import subprocess
import time

import pytest

from hctools.simfleet import procs


def _record(proc):
    for dummy in range(100):
        st = procs.starttime(proc.pid)
        if st is not None:
            return {"pid": proc.pid, "start": st}
        time.sleep(0.01)
    raise AssertionError("no start time for %d" % proc.pid)


def test_mount_namespaces_come_from_live_processes_only():
    if os.geteuid() != 0:
        pytest.skip("unshare -m needs root")
    self_mnt = procs.ns_inode("/proc/self/ns/mnt")
    same = subprocess.Popen(["sleep", "30"])
    own = subprocess.Popen(["unshare", "-m", "sleep", "30"])
    try:
        rec_same, rec_own = _record(same), _record(own)
        for dummy in range(100):  # unshare execs sleep once the namespace is made
            if procs.ns_inode(f"/proc/{own.pid}/ns/mnt") != self_mnt:
                break
            time.sleep(0.01)
        held = procs.mount_namespaces([rec_same, rec_own, None], exclude=self_mnt)
        assert held == {procs.ns_inode(f"/proc/{own.pid}/ns/mnt")}
        own.kill()
        own.wait()
        # the namespace is freed with its last process: its id may be reused by anyone from now on
        assert procs.mount_namespaces([rec_own], exclude=self_mnt) == set()
        # a recorded pid that now belongs to another process (other start time) is not the fleet's
        assert procs.mount_namespaces([dict(rec_same, start=rec_same["start"] + 1)]) == set()
    finally:
        for p in (same, own):
            p.kill()
            p.wait()
