"""Upgrade engine, called in-process: phases, state-check codes, rollback and every resume rule.

A power cut is simulated by making the runner raise ``PowerCut`` (a BaseException the engine does
not catch) at a chosen phase, then marking the journal's owner as a process of a previous boot, which
is what the next run sees after a real power cut.
"""

import os
import signal
import subprocess

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine as eng
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

from hctest.upgrade import EngineEnv, PowerCut, count, engine_params, make_payload, runs


@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


def power_cut_at(monkeypatch, phase, after_script=False, times=1):
    """Make the next ``times`` runs of ``phase`` die like a power cut (before or after the script ran)."""
    real = runner.run_script
    left = {"n": times}

    def fake(script, cwd, env, *args, **kwargs):
        if env.get("HC_PHASE") == phase and left["n"] > 0:
            left["n"] -= 1
            if after_script:
                real(script, cwd, env, *args, **kwargs)
            raise PowerCut()
        return real(script, cwd, env, *args, **kwargs)
    monkeypatch.setattr(runner, "run_script", fake)


def reboot(env):
    """What a power cut leaves: owners from the previous boot; the lock died with its holder."""
    env.reboot()


def crash(env, monkeypatch, payload, phase, after_script=False, **params):
    power_cut_at(monkeypatch, phase, after_script)
    with pytest.raises(PowerCut):
        env.run(payload, **params)
    monkeypatch.undo()
    reboot(env)


# ---------------------------------------------------------------------------- normal path

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


def test_payload_missing_without_upload(env):
    p = make_payload(env.tmp)
    r = eng.Engine(engine_params(env.state, _payload_sha256=pl.sha256_file(p))).run()
    assert r["payload_missing"] is True and not r.get("failed") and not r["changed"]
    assert not env.state.exists()  # a look-up writes nothing


def test_corrupt_upload_is_refused(env):
    p = make_payload(env.tmp)
    upload = env.tmp / "up.tar.gz"
    upload.write_bytes(open(p, "rb").read() + b"x")
    r = eng.Engine(engine_params(env.state, _payload_sha256=pl.sha256_file(p), _payload_upload=str(upload))).run()
    assert r["failed"] and "corrupted" in r["msg"]


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


def test_rc_overrides(env):
    p = make_payload(env.tmp, scripts={"state_check": "exit 5"})
    r = env.run(p, already_applied_rc=[5])
    assert r["status"] == "already_applied"
    r = env.run(p, already_applied_rc=[0])
    assert r["failed"] and "two meanings" in r["msg"]


def test_install_retries_then_succeeds(env):
    counter = env.tmp / "n"
    p = make_payload(env.tmp, scripts={"install": 'echo x >> %s; [ "$HC_ATTEMPT" -ge 3 ]' % counter},
                     retries={"install": 3})
    r = env.run(p)
    assert r["status"] == "applied" and r["phases"]["install"]["attempts"] == 3


def test_failed_verify_restores_backup_paths(env):
    conf = env.target / "conf"
    conf.mkdir()
    (conf / "a.cfg").write_text("old\n")
    os.chmod(str(conf / "a.cfg"), 0o640)
    os.symlink("a.cfg", str(conf / "link"))
    created = env.target / "created-by-install"
    p = make_payload(env.tmp, scripts={
        "install": 'echo new > %s/a.cfg; rm %s/link; mkdir %s; echo extra > %s/b.cfg' % (conf, conf, created, conf),
        "verify": "exit 3",
    }, backup_paths=[str(conf), str(created)])
    r = env.run(p)
    assert r["status"] == "rolled_back" and r["failed"] and r["changed"], r
    assert (conf / "a.cfg").read_text() == "old\n"
    assert os.stat(str(conf / "a.cfg")).st_mode & 0o777 == 0o640
    assert os.readlink(str(conf / "link")) == "a.cfg"
    assert not (conf / "b.cfg").exists()
    assert not created.exists()  # absent before install -> removed by the restore
    assert r["rollback"]["ok"] and str(created) in r["rollback"]["restore"]["removed"]
    assert "verify exited 3" in r["msg"]
    assert "demo" not in jr.StateDir(str(env.state)).installed()


def test_failed_install_runs_rollback_script(env):
    p = make_payload(env.tmp, scripts={"install": "exit 9", "rollback": "exit 0"})
    r = env.run(p)
    assert r["status"] == "rolled_back"
    assert r["rollback"]["script"]["rc"] == 0
    assert count(env.tmp, "rollback") == 1 and count(env.tmp, "verify") == 0
    p2 = make_payload(env.tmp, version="2", scripts={"install": "exit 9", "rollback": "exit 4"})
    r = env.run(p2)
    assert r["status"] == "rollback_failed" and "ROLLBACK FAILED" in r["msg"]


def test_failed_install_without_anything_to_roll_back(env):
    p = make_payload(env.tmp, scripts={"install": "exit 9"})
    r = env.run(p)
    assert r["status"] == "failed" and r["rollback"]["performed"] is False
    assert "nothing was rolled back" in r["msg"]


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


def test_parameters_are_checked_on_the_node(env):
    p = make_payload(env.tmp, parameters={"properties": {"n": {"type": "integer"}}, "required": ["n"]})
    r = env.run(p)
    assert r["failed"] and "'n'" in r["msg"] and count(env.tmp, "state_check") == 0
    r = env.run(p, parameters={}, secret_parameters={"n": 3})
    assert r["status"] == "applied"


# ---------------------------------------------------------------------------- resume rules

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


def test_store_keeps_recent_and_referenced_payloads_only(env):
    p = make_payload(env.tmp, scripts={"state_check": "exit 100"})
    env.run(p)
    store = env.state / "payloads"
    stale = store / ("0" * 64 + ".tar.gz")
    fresh = store / ("1" * 64 + ".tar.gz")
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    old = os.path.getmtime(str(stale)) - eng.STORE_GRACE - 60
    os.utime(str(stale), (old, old))
    env.run(p)
    assert not stale.exists() and fresh.exists()
    assert (store / (pl.sha256_file(p) + ".tar.gz")).exists()


@pytest.mark.parametrize("case", ["traversal", "symlink-escape", "unlisted-file", "checksum-mismatch"])
def test_node_refuses_hostile_payloads_itself(env, case):
    """The controller normally refuses these; the node checks again and runs nothing."""
    corpus = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "hostile")
    r = env.run(os.path.join(corpus, "%s.tar.gz" % case))
    assert r["failed"] and r["status"] == "failed" and r["payload_error"]["member"]
    assert repr(r["payload_error"]["member"]) in r["msg"]
    assert env.jobs() == [] and runs(env.tmp) == []
