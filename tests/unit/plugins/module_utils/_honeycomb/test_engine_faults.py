"""Regression tests for engine bugs found by the fault-injection suite (tests/faults/).

Each test names what was wrong before the fix."""

import errno
import os
import shutil

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine as eng
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock as lk
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

from hctest.faults import journal_problems
from hctest.playbook import REPO
from hctest.upgrade import EngineEnv, PowerCut, count, make_payload, runs

CORPUS = REPO / "tests" / "data" / "hostile"


@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


def enospc_when(monkeypatch, predicate):
    """Make atomic journal writes fail with ENOSPC while ``predicate(data)`` is true (data: bytes)."""
    real = jr.atomic_write_bytes

    def fake(path, data, mode=0o600):
        if predicate(path, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(path, data, mode)
    monkeypatch.setattr(jr, "atomic_write_bytes", fake)


def test_full_state_dir_mid_install_is_a_clear_error_and_resumes(env, monkeypatch):
    """Before: an ENOSPC while journaling escaped as a traceback (MODULE FAILURE) with no hint."""
    done = env.target / "done"
    p = make_payload(env.tmp, scripts={"install": "touch %s" % done, "verify": "[ -f %s ]" % done})
    # the disk fills while install runs: its "phase finished" cannot be written
    enospc_when(monkeypatch, lambda path, data: b'"phase": "install"' in data and b'"phase_state": "finished"' in data)
    r = env.run(p)
    monkeypatch.undo()
    assert r["failed"] and r["status"] == "interrupted", r
    assert "No space left on device" in r["msg"] and "free space in the state dir" in r["msg"]
    assert r["state_dir_error"]["errno"] == errno.ENOSPC
    job = env.jobs()[0]
    assert job.status == "running" and job.data["phase"] == "install" and job.data["phase_state"] == "started"
    assert not lk.NodeLock(jr.StateDir(str(env.state))).is_held()  # released although lock.json is stale
    env.reboot()
    r = env.run(p)
    assert r["status"] == "applied" and r["resumed"] and count(env.tmp, "install") == 1, r
    assert journal_problems(env.jobs()[0].data) == []


def test_full_state_dir_before_any_job_is_a_clear_error(env, monkeypatch):
    """Before: lock.json could not be written after flock() and the lock stayed held until exit."""
    p = make_payload(env.tmp)
    env.run(p)  # stores the payload
    enospc_when(monkeypatch, lambda path, data: path.endswith("lock.json") and b"job_id" in data)
    r = env.run(make_payload(env.tmp, name="other"))
    monkeypatch.undo()
    assert r["failed"] and r["status"] == "failed" and r["job_id"] is None
    assert "could not write to the node's state dir" in r["msg"] and "Nothing was run" in r["msg"]
    assert count(env.tmp, "state_check") == 1  # only the first run's
    assert not lk.NodeLock(jr.StateDir(str(env.state))).is_held()


def test_full_state_dir_while_storing_leaves_no_partial_file(env, monkeypatch):
    """Before: a copy into the store that failed half-way left ``.<sha>.partial.<pid>`` behind."""
    p = make_payload(env.tmp)
    real_rename, real_copy = os.rename, shutil.copyfile

    def rename(src, dst):
        if src == str(env.upload):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        return real_rename(src, dst)

    def copyfile(src, dst, **kw):
        if "payloads" not in dst:
            return real_copy(src, dst, **kw)
        with open(dst, "wb") as handle:
            handle.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
    monkeypatch.setattr(eng.os, "rename", rename)
    monkeypatch.setattr(eng.shutil, "copyfile", copyfile)
    r = env.run(p)
    monkeypatch.undo()
    assert r["failed"] and "No space left on device" in r["msg"], r
    assert os.listdir(str(env.state / "payloads")) == []


@pytest.mark.parametrize("case", ["traversal", "symlink-escape", "manifest-huge", "truncated-half"])
def test_payload_refused_on_the_node_is_not_kept_in_the_store(env, case):
    """Before: an archive refused by the node's own inspection stayed in payloads/ (outside any job dir)."""
    r = env.run(str(CORPUS / (case + ".tar.gz")))
    assert r["failed"] and r["payload_error"], r
    assert os.listdir(str(env.state / "payloads")) == []
    assert "removed from the node's store" in " ".join(r.get("notes", []))
    assert runs(env.tmp) == []


def test_restarted_state_check_does_not_overwrite_the_interrupted_attempts_logs(env, monkeypatch):
    """Before: a power cut after the script started but before the next journal write made the
    resumed run reuse the same log name (run number) and overwrite the interrupted attempt's logs."""
    p = make_payload(env.tmp, scripts={"state_check": "echo checking; exit 0"})
    real = runner.run_script

    def cut_after_start(script, cwd, env_, timeout, grace, log_dir, log_name, *a, **kw):
        with open(os.path.join(log_dir, log_name + ".stdout"), "w") as handle:
            handle.write("first attempt output\n")
        open(os.path.join(log_dir, log_name + ".stderr"), "w").close()
        raise PowerCut()  # before on_start could journal anything
    monkeypatch.setattr(runner, "run_script", cut_after_start)
    with pytest.raises(PowerCut):
        env.run(p)
    monkeypatch.setattr(runner, "run_script", real)
    env.reboot()
    r = env.run(p)
    assert r["status"] == "applied" and r["resumed"], r
    logs = sorted(os.listdir(os.path.join(env.jobs()[0].job_dir, "logs")))
    sc = [n for n in logs if "state_check" in n and n.endswith(".stdout")]
    assert len(sc) == 2, logs
    texts = [open(os.path.join(env.jobs()[0].job_dir, "logs", n)).read() for n in sc]
    assert "first attempt output\n" in texts


def test_every_started_step_is_journaled_as_finished(env):
    """Before: the extract step had a "phase_started" event and never a "phase_finished"."""
    p = make_payload(env.tmp, backup_paths=[str(env.target / "x")])
    r = env.run(p)
    assert r["status"] == "applied"
    data = env.jobs()[0].data
    assert journal_problems(data) == []
    started = [e["phase"] for e in data["events"] if e["event"] == "phase_started"]
    finished = [e["phase"] for e in data["events"] if e["event"] == "phase_finished"]
    assert started == finished == ["extract", "state_check", "backup", "install", "verify"]
    assert "extract" not in r["phases"]


# ---------------------------------------------------------------------------- the suite's own checker

def test_journal_checker_sees_what_is_wrong(env, monkeypatch):
    """hctest.faults.journal_problems (used by tests/faults and the soak) is not vacuous: it accepts a real
    resumed journal and flags an open phase, a status without its 'finished' event, a wrong resume count
    and a non-final status; lost_entries flags a script start that has no 'phase_started'."""
    from hctest.faults import journal_problems, lost_entries
    done = env.target / "done"
    p = make_payload(env.tmp, scripts={"install": "touch %s" % done, "verify": "[ -f %s ]" % done})

    def cut(script, cwd, env_, *a, **kw):
        if env_.get("HC_PHASE") == "install":
            raise PowerCut()
        return real(script, cwd, env_, *a, **kw)
    real = runner.run_script
    monkeypatch.setattr(runner, "run_script", cut)
    with pytest.raises(PowerCut):
        env.run(p)
    monkeypatch.undo()
    interrupted = dict(env.jobs()[0].data)
    assert any("not final" in x for x in journal_problems(interrupted))
    env.reboot()
    assert env.run(p)["resumed"] is True
    good = env.jobs()[0].data
    assert good["resumed"] and journal_problems(good) == [], journal_problems(good)

    no_end = dict(good, events=[e for e in good["events"]
                                if not (e["event"] == "phase_finished" and e.get("phase") == "state_check")])
    assert any("state_check" in x for x in journal_problems(no_end))
    assert any("resumes" in x for x in journal_problems(dict(good, resumes=2)))
    other = "applied" if good["status"] != "applied" else "already_applied"
    assert any("finished" in x for x in journal_problems(dict(good, status=other)))
    starts = [("install", 1, good["job_id"], "0"), ("install", 1, good["job_id"], "0"), ("install", 1, "other", "0")]
    want = sum(1 for e in good["events"] if e["event"] == "phase_started" and e.get("phase") == "install")
    assert lost_entries(good, starts) == max(0, 2 - want)
    assert lost_entries(good, starts + [("verify", 7, good["job_id"], "1")]) == max(0, 2 - want) + 1


def test_temp_files_of_interrupted_journal_writes_are_removed(env):
    """Before (found by the soak): a power cut in the middle of an atomic journal write left
    ``.journal.json.tmp.<pid>.<n>`` in the job dir until the whole job was pruned."""
    p = make_payload(env.tmp)
    env.run(p)
    job_dir = env.jobs()[0].job_dir
    stale = [os.path.join(job_dir, ".journal.json.tmp.142.357976944"),
             str(env.state / ".installed.json.tmp.77.12345"), str(env.state / ".lock.json.tmp.78.999")]
    for path in stale:
        with open(path, "w") as handle:
            handle.write('{"half": ')
    assert env.run(make_payload(env.tmp, name="next"))["status"] == "applied"
    assert [path for path in stale if os.path.exists(path)] == []
    assert os.path.isfile(os.path.join(job_dir, "journal.json"))
