"""The resident engine's detached job (module_utils/_honeycomb/detach.py) and how the polls tell it running,
finished or lost (asyncjob.job_state): real forks on this machine, fake /proc trees for the lost cases."""

import json
import os
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import asyncjob, detach


def fake_proc(root, boot="boot-a", procs=None):
    (root / "sys/kernel/random").mkdir(parents=True)
    (root / "sys/kernel/random/boot_id").write_text(boot + "\n")
    for pid, start in (procs or {}).items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text("%d (python3 x) S 1 %s %d 0\n" % (pid, " 0" * 17, start))
        (root / str(pid) / "cmdline").write_bytes(b"python3\0-c\0")
    return str(root)


def started_file(async_dir, jid, owner):
    async_dir.mkdir(exist_ok=True)
    (async_dir / jid).write_text(json.dumps({"started": True, "finished": False, "ansible_job_id": jid,
                                             detach.OWNER_KEY: owner}))


def test_owner_record_reads_pid_start_and_boot(tmp_path):
    proc = fake_proc(tmp_path / "proc", procs={42: 777})
    assert detach.owner(42, proc) == {"pid": 42, "start": 777, "boot_id": "boot-a"}
    assert detach.owner_alive({"pid": 42, "start": 777, "boot_id": "boot-a"}, proc)


def test_a_watchdog_gone_with_the_power_is_lost(tmp_path):
    """After a power cut the file still says started; its pid is gone, reused, or of another boot."""
    proc = fake_proc(tmp_path / "proc", boot="boot-b", procs={42: 5})
    for owner in ({"pid": 43, "start": 5, "boot_id": "boot-b"},   # gone
                  {"pid": 42, "start": 9, "boot_id": "boot-b"},   # reused by another process
                  {"pid": 42, "start": 5, "boot_id": "boot-a"}):  # same pid and ticks, another boot
        started_file(tmp_path / "async", "1.1", owner)
        state = asyncjob.job_state("1.1", str(tmp_path / "async"), proc)
        assert state["lost"] and not state["alive"] and not state["finished"], (owner, state)
    started_file(tmp_path / "async", "1.1", {"pid": 42, "start": 5, "boot_id": "boot-b"})
    state = asyncjob.job_state("1.1", str(tmp_path / "async"), proc)
    assert state["alive"] and not state["lost"]


def wait_finished(path):
    for dummy in range(600):  # a bound, not a timing assertion
        if os.path.exists(path):
            data = json.loads(open(path).read())
            if not (data.get("started") and not data.get("finished")):
                return data
        time.sleep(0.05)
    raise AssertionError("the detached job never finished")


def test_start_returns_at_once_and_the_job_writes_its_masked_result(tmp_path):
    marker = tmp_path / "go"

    def work():
        while not marker.exists():  # runs only once the start has answered
            time.sleep(0.02)
        return {"changed": True, "status": "applied", "msg": "token=hunter2"}

    started = detach.start(work, str(tmp_path / "async"), 60, ["hunter2"])
    assert started["started"] and not started["finished"] and not started["failed"]
    jid = started["ansible_job_id"]
    assert started["results_file"] == str(tmp_path / "async" / jid)
    state = asyncjob.job_state(jid, str(tmp_path / "async"))
    assert state["alive"] and not state["finished"] and not state["lost"]
    marker.write_text("")
    data = wait_finished(started["results_file"])
    assert data == {"changed": True, "status": "applied", "msg": "token=********", "ansible_job_id": jid}
    assert asyncjob.job_state(jid, str(tmp_path / "async"))["finished"]


def test_time_limit_kills_the_job_as_async_wrapper_does(tmp_path):
    def work():
        time.sleep(120)
        return {"status": "applied"}

    started = detach.start(work, str(tmp_path / "async"), 1)
    data = wait_finished(started["results_file"])
    assert data["failed"] and data["msg"] == detach.TIMEOUT_MSG


def test_a_job_that_dies_without_a_result_is_reported_failed_not_left_started(tmp_path):
    def work():
        os._exit(9)

    started = detach.start(work, str(tmp_path / "async"), 60)
    data = wait_finished(started["results_file"])
    assert data["failed"] and "without a result" in data["msg"]
