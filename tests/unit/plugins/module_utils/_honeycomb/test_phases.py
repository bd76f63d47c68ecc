"""The phases of a job (phases.py), called in-process: state check outcomes, retries, timeouts, the
journaled steps, and the check-mode run in its temporary job dir."""

import os

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl

from hctest.faults import journal_problems
from hctest.upgrade import EngineEnv, count, make_payload, run_engine, runs


@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


def test_retry_later_and_failed_precondition(env):
    p = make_payload(env.tmp, scripts={"state_check": "exit 21"}, retries={"state_check": 2})
    r = env.run(p)
    assert r["status"] == "retry_later" and not r.get("failed") and not r["changed"]
    assert count(env.tmp, "state_check") == 1  # retry_later is not retried
    p2 = make_payload(env.tmp, version="2", scripts={"state_check": "exit 7"}, retries={"state_check": 2})
    r = env.run(p2)
    assert r["status"] == "failed" and r["failed"] and not r["changed"]
    assert "precondition" in r["msg"] and r["phases"]["state_check"]["attempts"] == 3
    assert count(env.tmp, "install") == 0


def test_install_retries_then_succeeds(env):
    counter = env.tmp / "n"
    p = make_payload(env.tmp, scripts={"install": 'echo x >> %s; [ "$HC_ATTEMPT" -ge 3 ]' % counter},
                     retries={"install": 3})
    r = env.run(p)
    assert r["status"] == "applied" and r["phases"]["install"]["attempts"] == 3


def test_timeout_kills_the_process_group(env):
    pidfile = env.tmp / "child.pid"
    p = make_payload(env.tmp, scripts={"install": "sleep 300 & echo $! > %s; wait" % pidfile},
                     timeouts={"install": 1})
    r = env.run(p, kill_grace=1)
    assert r["phases"]["install"]["timed_out"] is True
    assert r["phases"]["install"]["killed_with"] == "SIGTERM"  # SIGKILL only for scripts ignoring SIGTERM
    assert r["status"] == "failed"
    child = int(pidfile.read_text())
    assert jr.proc_start_time(child) is None or _is_zombie(child)


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_check_mode_runs_only_the_state_check_and_writes_nothing(env):
    p = make_payload(env.tmp)
    r = env.run(p, check_mode=True)
    assert r["status"] == "needed" and r["changed"] and not r.get("failed")
    assert runs(env.tmp) == [("state_check", 1)]
    assert not env.state.exists()


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


def test_check_mode_dir_is_named_after_its_owner_and_removed(tmp_path, monkeypatch):
    state = tmp_path / "state"
    p = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    assert run_engine(tmp_path, state, p)["status"] == "already_applied"
    seen = []
    real = pl.extract_archive

    def spy(src, dest, **kw):
        seen.append(os.path.basename(os.path.dirname(dest)))
        return real(src, dest, **kw)
    monkeypatch.setattr(pl, "extract_archive", spy)
    r = run_engine(tmp_path, state, p, check_mode=True)
    assert r["status"] == "already_applied"
    assert seen and seen[0].startswith(".check-%d-%s-" % (os.getpid(), jr.proc_start_time(os.getpid())))
    assert not [n for n in os.listdir(str(state / "jobs")) if n.startswith(".check-")]
