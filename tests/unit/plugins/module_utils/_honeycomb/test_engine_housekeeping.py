"""Housekeeping of the state dir by the engine's pruning: ``.partial`` store files and ``.check-*`` job
dirs that killed runs left behind are removed, those of live runs are kept."""

import os
import shutil
import subprocess

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine as eng
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl

from hctest.upgrade import engine_params, make_payload


@pytest.fixture
def live():
    proc = subprocess.Popen(["sleep", "300"])
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def run(tmp, state, payload, check_mode=False):
    upload = str(tmp / "upload.tar.gz")
    shutil.copyfile(payload, upload)
    p = engine_params(state, _payload_sha256=pl.sha256_file(payload), _payload_upload=upload)
    return eng.Engine(p, check_mode=check_mode).run()


def age(path, seconds):
    old = os.path.getmtime(str(path)) - seconds
    os.utime(str(path), (old, old))


def test_stale_partial_store_files_are_pruned(tmp_path, live):
    state = tmp_path / "state"
    p = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    assert run(tmp_path, state, p)["status"] == "already_applied"
    store = state / "payloads"
    sha = "a" * 64
    dead = store / (".%s.partial.%d" % (sha, dead_pid()))
    alive = store / (".%s.partial.%d" % (sha, live))
    alive_but_ancient = store / (".%s.partial.%d" % ("b" * 64, live))  # the pid may have been reused
    for f in (dead, alive, alive_but_ancient):
        f.write_bytes(b"half a payload")
    age(alive_but_ancient, eng.STORE_GRACE + 60)
    assert run(tmp_path, state, p)["status"] == "already_applied"
    assert not dead.exists() and alive.exists() and not alive_but_ancient.exists()
    assert (store / (pl.sha256_file(p) + ".tar.gz")).exists()


def test_check_dirs_of_killed_check_mode_runs_are_pruned(tmp_path, live):
    state = tmp_path / "state"
    p = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    assert run(tmp_path, state, p)["status"] == "already_applied"
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
    assert run(tmp_path, state, p)["status"] == "already_applied"
    left = sorted(n for n in os.listdir(str(jobs)) if n.startswith(".check-"))
    assert left == sorted([alive.name, legacy_young.name])


def test_check_mode_dir_is_named_after_its_owner_and_removed(tmp_path, monkeypatch):
    state = tmp_path / "state"
    p = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    assert run(tmp_path, state, p)["status"] == "already_applied"
    seen = []
    real = pl.extract_archive

    def spy(src, dest, **kw):
        seen.append(os.path.basename(os.path.dirname(dest)))
        return real(src, dest, **kw)
    monkeypatch.setattr(pl, "extract_archive", spy)
    r = run(tmp_path, state, p, check_mode=True)
    assert r["status"] == "already_applied"
    assert seen and seen[0].startswith(".check-%d-%s-" % (os.getpid(), jr.proc_start_time(os.getpid())))
    assert not [n for n in os.listdir(str(state / "jobs")) if n.startswith(".check-")]
