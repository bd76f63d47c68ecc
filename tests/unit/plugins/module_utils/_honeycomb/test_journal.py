"""Journal, state dir and process-identity rules of the upgrade engine."""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr

from hctest.upgrade import age, dead_pid, make_payload, run_engine


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "j.json"
    jr.atomic_write_json(str(path), {"a": 1})
    jr.atomic_write_json(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert sorted(os.listdir(tmp_path)) == ["j.json"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_failed_write_keeps_old_content(tmp_path, monkeypatch):
    path = tmp_path / "j.json"
    jr.atomic_write_json(str(path), {"a": 1})

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(jr.os, "rename", boom)
    with pytest.raises(OSError):
        jr.atomic_write_json(str(path), {"a": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"a": 1}


def test_phase_started_is_persisted_before_the_phase_runs(tmp_path):
    job = jr.Journal.create(str(tmp_path / "job1"), payload_sha256="ab" * 32)
    job.phase_started("install", attempt=1)
    on_disk = jr.Journal.load(str(tmp_path / "job1"))
    assert on_disk.data["phase"] == "install" and on_disk.data["phase_state"] == "started"
    assert on_disk.data["events"][-1]["event"] == "phase_started"
    assert not on_disk.terminal
    job.finish("applied", "ok")
    assert jr.Journal.load(str(tmp_path / "job1")).terminal


def test_garbled_journal_is_ignored(tmp_path):
    (tmp_path / "jobs" / "x").mkdir(parents=True)
    (tmp_path / "jobs" / "x" / "journal.json").write_text("{not json")
    assert jr.StateDir(str(tmp_path)).list_jobs() == []


def test_jobs_of_the_same_second_are_listed_by_age_not_by_id(tmp_path):
    """Job ids carry the second and a random suffix: a rollback created after an upgrade in the same
    second can sort before it by id. upgrade_info's newest-first list and the history use list_jobs."""
    jobs = tmp_path / "jobs"
    older = jr.Journal.create(str(jobs / "20261204T195805Z-b63e045fb8da-d02b"), kind="upgrade")
    newer = jr.Journal.create(str(jobs / "20261204T195805Z-b63e045fb8da-7554"), kind="rollback")
    older.data["created_epoch"], newer.data["created_epoch"] = 1000.25, 1000.75
    older.save()
    newer.save()
    listed = jr.StateDir(str(tmp_path)).list_jobs()
    assert [j.data["kind"] for j in listed] == ["upgrade", "rollback"]


def test_events_are_bounded(tmp_path):
    job = jr.Journal.create(str(tmp_path / "j"))
    for i in range(jr.MAX_EVENTS + 50):
        job.event("tick", save=False, n=i)
    assert len(job.data["events"]) == jr.MAX_EVENTS
    assert job.data["events"][0]["event"] == "created"
    assert job.data["events"][-1]["n"] == jr.MAX_EVENTS + 49


def test_state_dir_is_private(tmp_path):
    root = tmp_path / "state"
    root.mkdir(mode=0o755)
    jr.StateDir(str(root)).ensure()
    assert root.stat().st_mode & 0o777 == 0o700
    assert (root / "jobs").is_dir() and (root / "payloads").is_dir()


def test_identity_of_live_dead_and_other_boot_processes():
    me = jr.process_identity()
    assert jr.identity_alive(me)
    assert not jr.identity_alive(dict(me, boot_id="another-boot"))
    assert not jr.identity_alive(dict(me, start_time=me["start_time"] + 1))  # pid reused
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = jr.process_identity(proc.pid)
    proc.wait()
    assert not jr.identity_alive(ident)
    assert not jr.identity_alive(None)


def test_prune_keeps_history_bounded_and_drops_payload_and_backup(tmp_path):
    state = jr.StateDir(str(tmp_path))
    state.ensure()
    ids = []
    for i, status in enumerate(["applied", "failed", "rolled_back", "inconsistent", "rollback_failed", "applied"]):
        job_id = "2024010%dT000000Z-aaaa-%04d" % (i, i)
        job = jr.Journal.create(state.job_dir(job_id))
        for sub in ("payload", "backup", "logs"):
            os.mkdir(os.path.join(job.job_dir, sub))
        job.finish(status, "x")
        ids.append(job_id)
    running = jr.Journal.create(state.job_dir("20240109T000000Z-bbbb-0000"))
    removed = state.prune(keep_jobs=2)
    left = [j.job_id for j in state.list_jobs()]
    # the inconsistent job (not cleared) and the running one are never pruned
    assert ids[3] in left and running.job_id in left
    # 5 finished jobs (inconsistent excluded), keep 2 newest
    assert removed == [ids[0], ids[1], ids[2]]
    assert ids[4] in left and ids[5] in left
    assert not os.path.exists(os.path.join(state.job_dir(ids[5]), "payload"))
    assert os.path.exists(os.path.join(state.job_dir(ids[5]), "logs"))
    # operator needs these
    assert os.path.exists(os.path.join(state.job_dir(ids[3]), "backup"))
    assert os.path.exists(os.path.join(state.job_dir(ids[4]), "backup"))


def test_installed_records(tmp_path):
    state = jr.StateDir(str(tmp_path))
    state.ensure()
    state.set_installed("switch", {"version": "1.0"})
    state.set_installed("camera", {"version": "2.0"})
    state.set_installed("switch", {"version": "1.1"})
    assert state.installed() == {"switch": {"version": "1.1"}, "camera": {"version": "2.0"}}


# ---------------------------------------------------------------------------- pruning of check-mode dirs

def test_check_dirs_of_killed_check_mode_runs_are_pruned(tmp_path, live):
    state = tmp_path / "state"
    p = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    assert run_engine(tmp_path, state, p)["status"] == "already_applied"
    jobs = state / "jobs"
    start = jr.proc_start_time(live)
    dead = jobs / (".check-%d-%s-x1" % (dead_pid(), 12345))
    alive = jobs / (".check-%d-%s-x2" % (live, start))
    reused = jobs / (".check-%d-%s-x3" % (live, start + 1))  # same pid, another process
    legacy_young = jobs / ".check-abc123"                     # name of an older version: no owner
    legacy_old = jobs / ".check-def456"
    for d in (dead, alive, reused, legacy_young, legacy_old):
        (d / "payload").mkdir(parents=True)
    age(legacy_old, jr.STALE_AGE + 60)
    assert run_engine(tmp_path, state, p)["status"] == "already_applied"
    left = sorted(n for n in os.listdir(str(jobs)) if n.startswith(".check-"))
    assert left == sorted([alive.name, legacy_young.name])
