"""Rollback (rollback.py), called in-process. The explicit rollback of a succeeded upgrade (``state:
rolled_back``): success, missing store entry, failing rollback script, already rolled back, check mode,
power cuts, refusals. And the rollback of a failed install or verify: snapshot restore,
hc_rollback_upgrade.sh, nothing to roll back."""

import json
import os
import shutil

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine as eng
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

from hctest.upgrade import EngineEnv, count, engine_params, make_legacy_payload, make_payload


class PowerCut(BaseException):
    pass


@pytest.fixture
def env(tmp_path):
    class Env:
        tmp = tmp_path
        state = tmp_path / "state"
        conf = tmp_path / "target" / "conf"
        version_file = tmp_path / "target" / "version"

        def payload(self, version, rollback="exit 0", backup=True, **kw):
            """A payload that writes its version into conf/app.cfg and target/version; its rollback
            script (optional) puts the version it finds in the restored conf back into target/version."""
            scripts = {
                "state_check": '[ "$(cat %s 2>/dev/null)" = "$HC_PAYLOAD_VERSION" ] && exit 100; exit 0'
                               % self.version_file,
                "install": 'echo "$HC_PAYLOAD_VERSION" > %s/app.cfg; echo "$HC_PAYLOAD_VERSION" > %s'
                           % (self.conf, self.version_file),
                "verify": '[ "$(cat %s)" = "$HC_PAYLOAD_VERSION" ]' % self.version_file,
            }
            if rollback is not None:
                scripts["rollback"] = rollback
            kw.setdefault("backup_paths", [str(self.conf)] if backup else [])
            return make_payload(self.tmp, version=version, scripts=scripts, **kw)

        def apply(self, payload_path, **params):
            upload = str(self.tmp / "upload.tar.gz")
            shutil.copyfile(payload_path, upload)
            p = engine_params(self.state, _payload_sha256=pl.sha256_file(payload_path), _payload_upload=upload,
                              **params)
            return eng.Engine(p).run()

        def rollback(self, check_mode=False, src=None, **params):
            params.setdefault("state", "rolled_back")
            if "job_id" not in params:
                params.setdefault("peripheral", "demo")
            if src:
                upload = str(self.tmp / "upload.tar.gz")
                shutil.copyfile(src, upload)
                params.setdefault("_payload_upload", upload)
                params["_payload_sha256"] = pl.sha256_file(src)
            return eng.Engine(engine_params(self.state, **params), check_mode=check_mode).run()

        def installed(self):
            return jr.StateDir(str(self.state)).installed()

        def jobs(self):
            return jr.StateDir(str(self.state)).list_jobs()

        def job(self, job_id):
            return jr.Journal.load(str(self.state / "jobs" / job_id))
    e = Env()
    e.conf.mkdir(parents=True)
    (e.conf / "app.cfg").write_text("factory\n")
    return e


def upgraded_twice(env, **v2):
    """1.0 then 2.0 applied; returns (job of 1.0, job of 2.0, payload 2.0)."""
    r1 = env.apply(env.payload("1.0"))
    assert r1["status"] == "applied", r1
    p2 = env.payload("2.0", **v2)
    r2 = env.apply(p2)
    assert r2["status"] == "applied", r2
    assert (env.conf / "app.cfg").read_text() == "2.0\n"
    return r1["job_id"], r2["job_id"], p2


def test_rollback_restores_snapshot_runs_script_and_resets_installed(env):
    restored = env.tmp / "restored-seen"
    job1, job2, dummy = upgraded_twice(env, rollback='cp "$HC_BACKUP_DIR/index.json" %s; '
                                                     'cat %s/app.cfg > %s' % (restored, env.conf, env.version_file))
    r = env.rollback()
    assert r["status"] == "rolled_back" and r["changed"] and not r.get("failed"), r
    assert r["kind"] == "rollback" and r["rollback_of"] == job2 and r["job_id"] != job2
    assert r["restored_version"] == "1.0" and r["installed_version"] == "1.0"
    assert (env.conf / "app.cfg").read_text() == "1.0\n"        # snapshot taken before 2.0's install
    assert env.version_file.read_text() == "1.0\n"              # the rollback script saw the restored files
    assert json.loads(restored.read_text())["entries"][0]["path"] == str(env.conf)  # HC_BACKUP_DIR: job 2's
    assert count(env.tmp, "rollback") == 1
    assert env.installed()["demo"]["version"] == "1.0" and env.installed()["demo"]["job_id"] == job1
    assert env.job(job2).data["rolled_back_by"] == r["job_id"]
    rb = env.job(r["job_id"]).data
    assert rb["kind"] == "rollback" and rb["status"] == "rolled_back" and rb["rollback_of"] == job2
    assert "rolled back" in r["msg"] and "version 1.0" in r["msg"]
    phase = r["phases"]["rollback"]
    assert phase["rc"] == 0 and phase["started_epoch"] <= phase["finished_epoch"]
    assert phase["started"].endswith("Z") and phase["finished"] >= phase["started"]


def test_rolling_back_again_is_ok_and_unchanged(env):
    dummy, job2, dummy2 = upgraded_twice(env)
    first = env.rollback()
    again = env.rollback()
    assert again["status"] == "rolled_back" and not again["changed"] and not again.get("failed"), again["msg"]
    assert again["job_id"] == first["job_id"] and "already rolled back" in again["msg"]
    by_id = env.rollback(job_id=job2)
    assert not by_id["changed"] and by_id["status"] == "rolled_back"
    assert count(env.tmp, "rollback") == 1
    assert len([j for j in env.jobs() if j.data.get("kind") == "rollback"]) == 1


def test_already_rolled_back_result_has_empty_phases(env):
    """The unchanged result is an engine result like any other (phases: {}, no phase ran): the
    fleet_report callback recognises engine results by their phases dict and otherwise reported a
    re-run of rollback.yml as "ok" without the installed version (found by tests/faults)."""
    upgraded_twice(env)
    first = env.rollback()
    again = env.rollback()
    assert again["phases"] == {} and again["installed_version"] == "1.0" and again["job_id"] == first["job_id"]


def test_blocked_results_have_empty_phases(env, monkeypatch):
    """A run refused by an inconsistent job is an engine result too (phases: {}): fleet_report then shows
    the node as inconsistent, naming the job, instead of a generic failure."""
    upgraded_twice(env)
    _cut_rollback(env, monkeypatch, max_resumes=1)
    _cut_rollback(env, monkeypatch, max_resumes=1)
    for r in (env.rollback(max_resumes=1), env.rollback(), env.apply(env.payload("3.0"))):
        assert r["status"] == "inconsistent" and r["phases"] == {} and "blocked" in r["msg"], r


def test_rollback_of_the_first_upgrade_removes_the_installed_record(env):
    assert env.apply(env.payload("1.0"))["status"] == "applied"
    r = env.rollback()
    assert r["status"] == "rolled_back" and r["installed_version"] is None and r["restored_version"] is None
    assert "demo" not in env.installed()
    assert (env.conf / "app.cfg").read_text() == "factory\n"


def test_missing_store_entry_fails_clearly_then_src_ships_it(env):
    dummy, job2, p2 = upgraded_twice(env)
    store = env.state / "payloads" / (pl.sha256_file(p2) + ".tar.gz")
    store.unlink()
    r = env.rollback()
    assert r["failed"] and str(store) in r["msg"] and "src" in r["msg"] and job2 in r["msg"], r
    assert r["missing"] == str(store)
    assert (env.conf / "app.cfg").read_text() == "2.0\n" and env.installed()["demo"]["version"] == "2.0"
    missing = env.rollback(src=p2, _payload_upload=None)   # the action plugin's look-up: not there
    assert missing["payload_missing"] is True and not missing.get("failed")
    check = env.rollback(src=p2, check_mode=True)           # check mode uses the upload, stores nothing
    assert check["status"] == "needed" and check["rollback_of"] == job2, check
    assert not store.exists()
    r = env.rollback(src=p2)
    assert r["status"] == "rolled_back" and r["payload_transferred"] is True, r
    assert env.installed()["demo"]["version"] == "1.0"


def test_src_of_another_payload_is_refused(env):
    upgraded_twice(env)
    other = make_payload(env.tmp, name="other", peripheral="demo", version="9")
    r = env.rollback(src=other)
    assert r["failed"] and "give the payload file of that job" in r["msg"]
    assert env.installed()["demo"]["version"] == "2.0"


def test_failing_rollback_script_is_rollback_failed(env):
    dummy, job2, dummy2 = upgraded_twice(env, rollback="echo broken >&2; exit 5")
    r = env.rollback()
    assert r["status"] == "rollback_failed" and r["failed"] and r["changed"], r
    assert "ROLLBACK FAILED" in r["msg"] and "exited 5" in r["msg"]
    assert "broken" in r["phases"]["rollback"]["stderr_tail"]
    assert env.installed()["demo"]["version"] == "2.0"          # not reset
    assert "rolled_back_by" not in env.job(job2).data
    assert os.path.isdir(os.path.join(env.job(job2).job_dir, "backup"))  # kept for the next attempt


def test_check_mode_reports_and_changes_nothing(env):
    dummy, job2, dummy2 = upgraded_twice(env)
    before = sorted(os.listdir(str(env.state / "jobs")))
    r = env.rollback(check_mode=True)
    assert r["status"] == "needed" and r["changed"] and not r.get("failed"), r
    assert r["rollback_of"] == job2 and r["restored_version"] == "1.0"
    assert "restore the snapshot of 1 backup_path(s)" in r["msg"] and "version 1.0" in r["msg"]
    assert sorted(os.listdir(str(env.state / "jobs"))) == before
    assert (env.conf / "app.cfg").read_text() == "2.0\n" and count(env.tmp, "rollback") == 0
    env.rollback()
    r = env.rollback(check_mode=True)
    assert r["status"] == "rolled_back" and not r["changed"]


def _cut_rollback(env, monkeypatch, **params):
    real = runner.run_script

    def fake(script, cwd, env_, *args, **kwargs):
        if env_.get("HC_PHASE") == "rollback":
            real(script, cwd, env_, *args, **kwargs)
            raise PowerCut()
        return real(script, cwd, env_, *args, **kwargs)
    monkeypatch.setattr(runner, "run_script", fake)
    with pytest.raises(PowerCut):
        env.rollback(**params)
    monkeypatch.undo()
    for job in env.jobs():
        if not job.terminal:
            job.data["owner"] = dict(job.data.get("owner") or {}, boot_id="previous-boot")
            job.save()


def test_power_cut_mid_rollback_is_resumed_to_completion(env, monkeypatch):
    dummy, job2, dummy2 = upgraded_twice(env)
    _cut_rollback(env, monkeypatch)
    cut = [j for j in env.jobs() if j.data.get("kind") == "rollback"][0]
    assert cut.status == "running" and cut.data["phase"] == "rollback"
    assert env.installed()["demo"]["version"] == "2.0"
    r = env.rollback()
    assert r["status"] == "rolled_back" and r["resumed"] and r["job_id"] == cut.job_id, r
    assert count(env.tmp, "rollback") == 2                     # re-run to completion
    assert env.installed()["demo"]["version"] == "1.0" and (env.conf / "app.cfg").read_text() == "1.0\n"


def test_power_cut_mid_rollback_resolved_by_an_upgrade_run(env, monkeypatch):
    upgraded_twice(env)
    _cut_rollback(env, monkeypatch)
    r = env.apply(make_payload(env.tmp, name="other"))
    assert r["status"] == "applied"
    assert r["resolved_jobs"][0]["status"] == "rolled_back", r["resolved_jobs"]
    assert env.installed()["demo"]["version"] == "1.0"


def test_repeated_power_cuts_mid_rollback_make_it_inconsistent(env, monkeypatch):
    upgraded_twice(env)
    _cut_rollback(env, monkeypatch, max_resumes=1)
    _cut_rollback(env, monkeypatch, max_resumes=1)
    r = env.rollback(max_resumes=1)
    assert r["status"] == "inconsistent" and r["failed"] and "clear_inconsistent" in r["msg"], r
    blocked = env.apply(env.payload("3.0"))
    assert blocked["status"] == "inconsistent" and "blocked" in blocked["msg"]
    r = env.rollback(clear_inconsistent=True)
    assert r["status"] == "rolled_back", r


def test_refusals_name_what_is_wrong(env):
    r = env.rollback()
    assert r["failed"] and "does not exist" in r["msg"]
    assert env.apply(env.payload("1.0", rollback=None, backup=False))["status"] == "applied"
    r = env.rollback()
    assert r["failed"] and "neither hc_rollback_upgrade.sh nor backup_paths" in r["msg"]
    r = env.rollback(peripheral="nothing-here")
    assert r["failed"] and "no succeeded upgrade of peripheral 'nothing-here'" in r["msg"]
    r = env.rollback(version="7.7")
    assert r["failed"] and "not version 7.7" in r["msg"]
    r = env.rollback(job_id="20200101T000000Z-000000000000-0000")
    assert r["failed"] and "is not in" in r["msg"]


def test_only_the_installed_job_can_be_rolled_back(env):
    job1, dummy, dummy2 = upgraded_twice(env)
    r = env.rollback(job_id=job1)
    assert r["failed"] and "newer upgrade ran since" in r["msg"], r
    assert env.installed()["demo"]["version"] == "2.0"


def test_old_journal_without_previous_version(env):
    dummy, job2, dummy2 = upgraded_twice(env)
    job = env.job(job2)
    del job.data["previous_installed"]
    job.save()
    r = env.rollback()
    assert r["failed"] and "older version of this collection" in r["msg"] and "rollback_payload" in r["msg"], r
    assert env.installed()["demo"]["version"] == "2.0" and (env.conf / "app.cfg").read_text() == "2.0\n"


def test_missing_snapshot_is_refused(env):
    dummy, job2, dummy2 = upgraded_twice(env)
    shutil.rmtree(os.path.join(env.job(job2).job_dir, "backup"))
    r = env.rollback()
    assert r["failed"] and "snapshot of job %s" % job2 in r["msg"] and r["missing"].endswith("index.json")


def test_history_keeps_the_snapshot_of_the_newest_applied_job(env):
    dummy, job2, dummy2 = upgraded_twice(env)
    for dummy3 in range(3):  # already_applied re-runs push job 2 out of a short history...
        assert env.apply(env.payload("2.0"), keep_jobs=1)["status"] == "already_applied"
    assert env.job(job2) is not None                          # ...but it is kept, with its backup
    assert os.path.isfile(os.path.join(env.job(job2).job_dir, "backup", "index.json"))
    assert env.rollback(keep_jobs=1)["status"] == "rolled_back"
    undone = env.job(job2)  # no longer needed: pruned like any job (keep_jobs 1)
    assert undone is None or not os.path.isdir(os.path.join(undone.job_dir, "backup"))


def test_legacy_payload_with_a_rollback_script(env):
    """2021 payloads have no rollback script in their format; one that carries hc_rollback_upgrade.sh
    (listed in md5sum.chk) can be rolled back with it."""
    marker = env.tmp / "legacy-version"
    scripts = {"state_check": "[ -f %s ] && exit 1; exit 0" % marker, "install": "echo 1.0.0 > %s" % marker,
               "verify": "[ -f %s ]" % marker, "rollback": "rm -f %s" % marker}
    p = make_legacy_payload(env.tmp / "legacy", scripts=scripts, runs_log=str(env.tmp / "runs.log"))
    r = env.apply(p)
    assert r["status"] == "applied" and marker.exists(), r
    r = env.rollback(peripheral="quickstart")
    assert r["status"] == "rolled_back" and not marker.exists(), r
    assert count(env.tmp, "rollback") == 1 and "quickstart" not in env.installed()


# ---------------------------------------------------------------------------- rollback of a failed install or verify

@pytest.fixture
def fresh(tmp_path):
    return EngineEnv(tmp_path)


def test_failed_verify_restores_backup_paths(fresh):
    conf = fresh.target / "conf"
    conf.mkdir()
    (conf / "a.cfg").write_text("old\n")
    os.chmod(str(conf / "a.cfg"), 0o640)
    os.symlink("a.cfg", str(conf / "link"))
    created = fresh.target / "created-by-install"
    p = make_payload(fresh.tmp, scripts={
        "install": 'echo new > %s/a.cfg; rm %s/link; mkdir %s; echo extra > %s/b.cfg' % (conf, conf, created, conf),
        "verify": "exit 3",
    }, backup_paths=[str(conf), str(created)])
    r = fresh.run(p)
    assert r["status"] == "rolled_back" and r["failed"] and r["changed"], r
    assert (conf / "a.cfg").read_text() == "old\n"
    assert os.stat(str(conf / "a.cfg")).st_mode & 0o777 == 0o640
    assert os.readlink(str(conf / "link")) == "a.cfg"
    assert not (conf / "b.cfg").exists()
    assert not created.exists()  # absent before install -> removed by the restore
    assert r["rollback"]["ok"] and str(created) in r["rollback"]["restore"]["removed"]
    assert "verify exited 3" in r["msg"]
    assert "demo" not in jr.StateDir(str(fresh.state)).installed()


def test_failed_install_runs_rollback_script(fresh):
    p = make_payload(fresh.tmp, scripts={"install": "exit 9", "rollback": "exit 0"})
    r = fresh.run(p)
    assert r["status"] == "rolled_back"
    assert r["rollback"]["script"]["rc"] == 0
    assert count(fresh.tmp, "rollback") == 1 and count(fresh.tmp, "verify") == 0
    p2 = make_payload(fresh.tmp, version="2", scripts={"install": "exit 9", "rollback": "exit 4"})
    r = fresh.run(p2)
    assert r["status"] == "rollback_failed" and "ROLLBACK FAILED" in r["msg"]


def test_failed_install_without_anything_to_roll_back(fresh):
    p = make_payload(fresh.tmp, scripts={"install": "exit 9"})
    r = fresh.run(p)
    assert r["status"] == "failed" and r["rollback"]["performed"] is False
    assert "nothing was rolled back" in r["msg"]
