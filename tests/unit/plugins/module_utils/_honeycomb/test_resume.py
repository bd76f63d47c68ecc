"""The resume rules (resume.py, docs/upgrade.md's table), called in-process.

A power cut is simulated by making the runner raise ``PowerCut`` (a BaseException the engine does
not catch) at a chosen phase, then marking the journal's owner as a process of a previous boot, which
is what the next run sees after a real power cut (``hctest.upgrade.crash``)."""

import os
import signal
import subprocess

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

from hctest.upgrade import EngineEnv, PowerCut, count, crash, make_payload, runs


@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


def test_interrupted_in_state_check_starts_over(env, monkeypatch):
    p = make_payload(env.tmp)
    crash(env, monkeypatch, p, "state_check")
    r = env.run(p)
    assert r["status"] == "applied" and r["resumed"] is True and r["resumes"] == 1
    assert count(env.tmp, "install") == 1 and count(env.tmp, "state_check") == 1  # first one never ran
    assert len(env.jobs()) == 1


def test_interrupted_in_install_verify_passes(env, monkeypatch):
    p = make_payload(env.tmp)
    crash(env, monkeypatch, p, "install", after_script=True)
    r = env.run(p)
    assert r["status"] == "applied" and r["resumed"] and r["changed"]
    assert count(env.tmp, "install") == 1 and count(env.tmp, "verify") == 1
    assert "verify passed on resume" in r["msg"]


def test_interrupted_in_install_verify_fails_rolls_back_and_starts_over(env, monkeypatch):
    done = env.target / "done"
    p = make_payload(env.tmp, scripts={"install": "touch %s" % done, "verify": "[ -f %s ]" % done,
                                       "rollback": "exit 0"})
    crash(env, monkeypatch, p, "install", after_script=False)  # install never got to run
    r = env.run(p)
    assert r["status"] == "applied" and r["resumed"], r
    expected = ["state_check", "verify", "rollback", "state_check", "install", "verify"]
    assert [ph for ph, dummy in runs(env.tmp)] == expected


def test_interrupted_in_verify_behaves_like_install(env, monkeypatch):
    p = make_payload(env.tmp)
    crash(env, monkeypatch, p, "verify")
    r = env.run(p)
    assert r["status"] == "applied" and r["resumed"]
    assert count(env.tmp, "install") == 1


def test_interrupted_in_rollback_reruns_rollback(env, monkeypatch):
    p = make_payload(env.tmp, scripts={"install": "exit 1", "rollback": "exit 0"})
    crash(env, monkeypatch, p, "rollback", after_script=False)
    r = env.run(p)
    assert r["status"] == "rolled_back" and r["resumed"] and r["failed"]
    assert count(env.tmp, "rollback") == 1 and count(env.tmp, "install") == 1  # install not re-run


def test_too_many_interruptions_make_the_job_inconsistent_and_block(env, monkeypatch):
    p = make_payload(env.tmp)
    crash(env, monkeypatch, p, "install")
    for dummy in range(3):  # every resume starts with verify: cut it there, 3 times
        crash(env, monkeypatch, p, "verify")
    assert env.jobs()[0].data["resumes"] == 3
    r = env.run(p, max_resumes=3)
    assert r["status"] == "inconsistent" and r["failed"]
    assert "clear_inconsistent" in r["msg"] and r["journal"] in r["msg"]
    installs = count(env.tmp, "install")
    r = env.run(p)
    assert r["status"] == "inconsistent" and "blocked" in r["msg"]
    assert count(env.tmp, "install") == installs  # nothing ran
    other_peripheral = make_payload(env.tmp, name="other")
    assert env.run(other_peripheral)["status"] == "applied"
    r = env.run(p, clear_inconsistent=True)
    assert r["status"] == "applied" and not r["resumed"], r
    assert any("cleared" in n for n in r["notes"])


def test_interrupted_job_of_another_payload_is_resolved_first(env, monkeypatch):
    a = make_payload(env.tmp, name="a")
    b = make_payload(env.tmp, name="b")
    crash(env, monkeypatch, a, "install", after_script=True)
    r = env.run(b)
    assert r["status"] == "applied"
    assert len(r["resolved_jobs"]) == 1 and r["resolved_jobs"][0]["status"] == "applied"
    assert jr.StateDir(str(env.state)).installed()["a"]["version"] == "1.0"


def test_orphaned_script_of_a_dead_run_is_stopped(env, monkeypatch):
    p = make_payload(env.tmp)
    crash(env, monkeypatch, p, "install")
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        job = env.jobs()[0]
        job.data["child"] = dict(jr.process_identity(orphan.pid), pgid=orphan.pid)
        job.save()
        r = env.run(p)
        assert r["status"] == "applied"
        assert orphan.wait(timeout=10) == -signal.SIGTERM
        assert any("orphaned" in n for n in r["notes"])
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


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
