"""Engine.run, the coordinator, called in-process: a fresh apply and its re-run, the module result of an
interrupted run (SIGTERM) and of a state dir that cannot be written (journal stays resumable), the
bounded history, and the journal checker of the fault suite."""

import errno
import os
import signal

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock as lk
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

from hctest.faults import journal_problems
from hctest.upgrade import EngineEnv, PowerCut, count, make_payload


@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


def test_fresh_apply_then_already_applied(env):
    marker = env.target / "version"
    p = make_payload(env.tmp, scripts={
        "state_check": '[ "$(cat %s 2>/dev/null)" = "$HC_PAYLOAD_VERSION" ] && exit 100; exit 0' % marker,
        "install": 'echo "$HC_PAYLOAD_VERSION" > %s; echo "node=$HC_NODE_ID vsn=$HC_VSN param=$HC_PARAM_COLOR"' % marker,
        "verify": '[ "$(cat %s)" = "$HC_PAYLOAD_VERSION" ]' % marker,
    }, parameters={"properties": {"color": {"type": "string", "default": "blue"}}})
    node_id = env.tmp / "node-id"
    node_id.write_text("000048B02D0766CD\n")
    r = env.run(p, node_id_file=str(node_id))
    assert r["status"] == "applied" and r["changed"] and not r.get("failed"), r
    assert r["payload_transferred"] is True
    assert r["installed_version"] == "1.0"
    assert "node=000048B02D0766CD" in r["phases"]["install"]["stdout_tail"]
    assert "param=blue" in r["phases"]["install"]["stdout_tail"]
    assert os.stat(str(env.state)).st_mode & 0o777 == 0o700
    r2 = env.run(p)
    assert r2["status"] == "already_applied" and not r2["changed"] and not r2.get("failed")
    assert r2["payload_transferred"] is False
    assert count(env.tmp, "install") == 1 and count(env.tmp, "state_check") == 2
    installed = jr.StateDir(str(env.state)).installed()
    assert installed["demo"]["version"] == "1.0" and installed["demo"]["job_id"] == r2["job_id"]


def test_sigterm_journals_interrupted_and_kills_the_phase(env, monkeypatch):
    p = make_payload(env.tmp)
    real = runner.run_script

    def fake(script, cwd, env_, *args, **kwargs):
        if env_.get("HC_PHASE") == "install":
            raise runner.Interrupted(signal.SIGTERM)
        return real(script, cwd, env_, *args, **kwargs)
    monkeypatch.setattr(runner, "run_script", fake)
    r = env.run(p)
    assert r["status"] == "interrupted" and r["failed"] and "resumes" in r["msg"]
    job = env.jobs()[0]
    assert job.status == "interrupted" and job.data["events"][-1]["event"] == "interrupted"
    monkeypatch.undo()
    # our own pid still lives: make it look like the module exited (it does, right after)
    job.data["owner"]["pid"] = 0
    job.save()
    r = env.run(p)
    assert r["status"] == "applied" and r["resumed"]


def test_history_is_bounded(env):
    p = make_payload(env.tmp, scripts={"state_check": "exit 100"})
    for dummy in range(4):
        env.run(p, keep_jobs=2)
    assert len(env.jobs()) == 2
    assert not any(os.path.exists(os.path.join(j.job_dir, "payload")) for j in env.jobs())


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
