"""Per-node lock: waits, times out naming the holder, is released by the kernel when its holder dies."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock as lk

HOLDER = textwrap.dedent("""
    import sys, time
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr, lock as lk
    state = jr.StateDir(sys.argv[1])
    state.ensure()
    lock = lk.NodeLock(state)
    lock.acquire(5, {"job_id": "JOB-HOLDER", "name": "demo", "version": "9", "payload_sha256": "ab" * 32})
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    lock.release()
""")


@pytest.fixture
def holder(tmp_path):
    procs = []

    def start(seconds=60):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), str(seconds)], stdout=subprocess.PIPE,
                                text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_timeout_names_the_running_job(tmp_path, holder):
    holder()
    state = jr.StateDir(str(tmp_path))
    lock = lk.NodeLock(state)
    assert lock.is_held()
    assert lock.holder()["job_id"] == "JOB-HOLDER"
    with pytest.raises(lk.LockTimeout) as err:
        lock.acquire(0.5, {"job_id": None})
    assert "JOB-HOLDER" in str(err.value) and "lock_timeout" in str(err.value)
    assert err.value.holder["job_id"] == "JOB-HOLDER"


def test_waiter_gets_the_lock_when_the_holder_finishes(tmp_path, holder):
    holder(seconds=1)
    lock = lk.NodeLock(jr.StateDir(str(tmp_path)))
    seen = []
    waited = lock.acquire(30, {"job_id": "JOB-2"}, on_wait=seen.append)
    assert [h["job_id"] for h in waited] == ["JOB-HOLDER"]
    assert seen and seen[0]["job_id"] == "JOB-HOLDER"
    assert jr.read_json(str(tmp_path / "lock.json"))["job_id"] == "JOB-2"
    lock.release()
    assert not lk.NodeLock(jr.StateDir(str(tmp_path))).is_held()


def test_lock_of_a_killed_holder_is_free(tmp_path, holder):
    proc = holder()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = lk.NodeLock(jr.StateDir(str(tmp_path)))
    assert not lock.is_held()
    assert lock.holder() is None  # stale lock.json is not reported as a holder
    lock.acquire(0, {"job_id": "JOB-3"})  # no waiting needed
    lock.release()
