"""The payload store (store.py), through the engine: look-up without an upload, a corrupt upload,
uploads written straight into the store directory by the action plugin, and what the pruning keeps:
referenced and recent entries, uploads and ``.partial`` files of live runs; stale ones go."""

import errno
import os
import pathlib
import shutil

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine as eng
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import store as st

from hctest.playbook import REPO
from hctest.upgrade import EngineEnv, age, dead_pid, engine_params, make_payload, runs


@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


CORPUS = REPO / "tests" / "data" / "hostile"


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


def test_store_keeps_recent_and_referenced_payloads_only(env):
    p = make_payload(env.tmp, scripts={"state_check": "exit 100"})
    env.run(p)
    store = env.state / "payloads"
    stale = store / ("0" * 64 + ".tar.gz")
    fresh = store / ("1" * 64 + ".tar.gz")
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    age(stale, st.STORE_GRACE + 60)
    env.run(p)
    assert not stale.exists() and fresh.exists()
    assert (store / (pl.sha256_file(p) + ".tar.gz")).exists()


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
    monkeypatch.setattr(st.os, "rename", rename)
    monkeypatch.setattr(st.shutil, "copyfile", copyfile)
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


def run(state, payload_path, upload=None):
    p = engine_params(state, _payload_sha256=pl.sha256_file(str(payload_path)),
                      _payload_upload=str(upload) if upload else None)
    return eng.Engine(p).run()


def test_upload_inside_the_store_dir_is_moved_into_the_store(tmp_path):
    state = tmp_path / "state"
    payload = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    sha = pl.sha256_file(str(payload))
    store = state / "payloads"
    store.mkdir(parents=True)
    upload = store / (".upload-%s-0123456789abcdef" % sha)
    upload.write_bytes(open(str(payload), "rb").read())
    r = run(state, payload, upload)
    assert r["status"] == "already_applied" and r["payload_transferred"] is True, r
    assert sorted(os.listdir(str(store))) == [sha + ".tar.gz"]


def test_stale_uploads_are_pruned_recent_ones_kept(tmp_path):
    state = tmp_path / "state"
    payload = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    assert run(state, payload, _copy(payload, tmp_path / "up.tar.gz"))["status"] == "already_applied"
    store = state / "payloads"
    stale = store / (".upload-%s-%s" % ("0" * 64, "a" * 16))
    recent = store / (".upload-%s-%s" % ("1" * 64, "b" * 16))
    stale.write_bytes(b"partial")
    recent.write_bytes(b"partial")
    age(stale, st.STORE_GRACE + 60)
    assert run(state, payload)["status"] == "already_applied"
    assert not stale.exists() and recent.exists()


def _copy(src, dest):
    dest.write_bytes(open(str(src), "rb").read())
    return dest


def test_stale_partial_store_files_are_pruned(tmp_path, live):
    state = tmp_path / "state"
    p = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    assert run(state, p, _copy(p, tmp_path / "up.tar.gz"))["status"] == "already_applied"
    store = state / "payloads"
    sha = "a" * 64
    dead = store / (".%s.partial.%d" % (sha, dead_pid()))
    alive = store / (".%s.partial.%d" % (sha, live))
    alive_but_ancient = store / (".%s.partial.%d" % ("b" * 64, live))  # the pid may have been reused
    for f in (dead, alive, alive_but_ancient):
        f.write_bytes(b"half a payload")
    age(alive_but_ancient, st.STORE_GRACE + 60)
    assert run(state, p, _copy(p, tmp_path / "up.tar.gz"))["status"] == "already_applied"
    assert not dead.exists() and alive.exists() and not alive_but_ancient.exists()
    assert (store / (pl.sha256_file(p) + ".tar.gz")).exists()


def test_stale_uploads_are_pruned_at_admission_even_when_the_run_fails(tmp_path):
    """Issue 14: ``.upload-*`` files of interrupted transfers no longer wait for a run that reaches the
    lock: every run (not check mode) removes the ones older than STORE_GRACE before anything else."""
    state = tmp_path / "state"
    payload = make_payload(tmp_path, parameters={"properties": {"n": {"type": "integer"}}, "required": ["n"]})
    store = state / "payloads"
    store.mkdir(parents=True)
    stale = store / (".upload-%s-%s" % ("0" * 64, "a" * 16))
    recent = store / (".upload-%s-%s" % ("1" * 64, "b" * 16))
    for f in (stale, recent):
        f.write_bytes(b"partial")
    age(stale, st.STORE_GRACE + 60)
    check = eng.Engine(engine_params(state, _payload_sha256=pl.sha256_file(payload)), check_mode=True).run()
    assert check["payload_missing"] and stale.exists(), check  # check mode changes nothing
    r = run(state, payload, _copy(payload, tmp_path / "up.tar.gz"))
    assert r["failed"] and "'n'" in r["msg"], r  # refused at admission: no lock, no job
    assert not stale.exists() and recent.exists()


def test_idle_partial_transfers_are_pruned_by_every_run(tmp_path):
    """A resumable transfer's partial file (receive.py) that nobody resumed for receive.DEFAULT_IDLE is
    removed with its state file by the next module run; a recent one stays for its transfer to resume."""
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import receive
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import StateLayout
    state = tmp_path / "state"
    payload = make_payload(tmp_path, parameters={"properties": {"n": {"type": "integer"}}, "required": ["n"]})
    layout = StateLayout(str(state))
    os.makedirs(layout.payloads_dir)
    idle, recent = "0" * 64, "1" * 64
    for sha in (idle, recent):
        open(layout.transfer_path(sha), "wb").write(b"half a payload")
        open(layout.transfer_state_path(sha), "w").write("{}")
    age(pathlib.Path(layout.transfer_path(idle)), receive.DEFAULT_IDLE + 60)
    r = run(state, payload, _copy(payload, tmp_path / "up.tar.gz"))
    assert r["failed"], r  # refused at admission: pruned all the same
    assert not os.path.exists(layout.transfer_path(idle)) and not os.path.exists(layout.transfer_state_path(idle))
    assert os.path.exists(layout.transfer_path(recent)) and os.path.exists(layout.transfer_state_path(recent))


def test_stale_uploads_never_include_the_runs_own_upload(tmp_path):
    state = tmp_path / "state"
    payload = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    store = state / "payloads"
    store.mkdir(parents=True)
    own = store / (".upload-%s-%s" % (pl.sha256_file(payload), "c" * 16))
    _copy(payload, own)
    age(own, st.STORE_GRACE + 60)  # e.g. a node clock that jumped
    r = run(state, payload, own)
    assert r["status"] == "already_applied" and r["payload_transferred"] is True, r
    assert sorted(os.listdir(str(store))) == [pl.sha256_file(payload) + ".tar.gz"]


def test_payload_store_directly(tmp_path):
    """PayloadStore without the engine: a look-up moves the upload in; check mode removes nothing; a
    refused payload a job journal still names stays."""
    payload = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    sha = pl.sha256_file(payload)
    state = jr.StateDir(str(tmp_path / "state"))
    notes = []
    store = st.PayloadStore(state, sha, notes=notes)
    assert store.lookup() == (None, False) and not os.path.exists(state.root)
    path, transferred = store.lookup(str(_copy(payload, tmp_path / "up.tar.gz")))
    assert (path, transferred) == (state.payload_path(sha), True) and state.store_files() == [sha + ".tar.gz"]
    stale = state.upload_path("0" * 64, "ab")
    _copy(payload, tmp_path / "x").rename(stale)
    age(stale, st.STORE_GRACE + 60)
    assert st.PayloadStore(state, sha, check_mode=True).prune_uploads() == [] and os.path.exists(stale)
    assert store.prune_uploads() == [stale]
    jr.Journal.create(state.job_dir(state.new_job_id(sha)), payload_sha256=sha)
    store.drop_refused(path)
    assert os.path.exists(path) and notes == []
