"""Admission of a run (admission.py): options, the node's own inspection of the payload, state check
code overrides, parameters, the lock (waiting announced, then withdrawn) and blocked peripherals."""

import os

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine as eng
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock as lk

from hctest.upgrade import EngineEnv, count, engine_params, make_payload, runs


@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


def test_rc_overrides(env):
    p = make_payload(env.tmp, scripts={"state_check": "exit 5"})
    r = env.run(p, already_applied_rc=[5])
    assert r["status"] == "already_applied"
    r = env.run(p, already_applied_rc=[0])
    assert r["failed"] and "two meanings" in r["msg"]


def test_parameters_are_checked_on_the_node(env):
    p = make_payload(env.tmp, parameters={"properties": {"n": {"type": "integer"}}, "required": ["n"]})
    r = env.run(p)
    assert r["failed"] and "'n'" in r["msg"] and count(env.tmp, "state_check") == 0
    r = env.run(p, parameters={}, secret_parameters={"n": 3})
    assert r["status"] == "applied"


@pytest.mark.parametrize("case", ["traversal", "symlink-escape", "unlisted-file", "checksum-mismatch"])
def test_node_refuses_hostile_payloads_itself(env, case):
    """The controller normally refuses these; the node checks again and runs nothing."""
    corpus = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "hostile")
    r = env.run(os.path.join(corpus, "%s.tar.gz" % case))
    assert r["failed"] and r["status"] == "failed" and r["payload_error"]["member"]
    assert repr(r["payload_error"]["member"]) in r["msg"]
    assert env.jobs() == [] and runs(env.tmp) == []


@pytest.mark.parametrize("params,words", [
    ({"_payload_sha256": None}, "64 hex digits"),
    ({"_payload_sha256": "abc"}, "64 hex digits"),
    ({"_payload_sha256": "a" * 64, "lock_timeout": -1}, "lock_timeout must be >= 0"),
    ({"_payload_sha256": "a" * 64, "parameters": {"x": 1}, "secret_parameters": {"x": 2}}, "give each once"),
])
def test_bad_options_are_refused_before_anything_is_written(env, params, words):
    r = eng.Engine(engine_params(env.state, **params)).run()
    assert r["failed"] and words in r["msg"], r
    assert not env.state.exists()


def test_lock_timeout_names_the_holder_and_withdraws_the_waiting_announcement(env, monkeypatch):
    p = make_payload(env.tmp)
    state = jr.StateDir(str(env.state))
    state.ensure()
    holder = lk.NodeLock(state)
    holder.acquire(5, {"job_id": "20240101T000000Z-other-0001", "name": "other", "version": "9"})
    announced = []
    real = jr.atomic_write_json

    def spy(path, obj, mode=0o600):
        if path == state.waiting_path():
            announced.append(obj)
        return real(path, obj, mode)
    monkeypatch.setattr(jr, "atomic_write_json", spy)
    try:
        r = env.run(p, lock_timeout=0)
    finally:
        monkeypatch.undo()
        holder.release()
    assert r["failed"] and "another upgrade is running" in r["msg"], r
    assert r["lock_holder"]["job_id"] == "20240101T000000Z-other-0001"
    assert announced and announced[0]["name"] == "demo" and announced[0]["pid"] == os.getpid()
    assert state.waiting_files() == [] and runs(env.tmp) == []


def test_inconsistent_job_blocks_its_peripheral_only(env):
    p = make_payload(env.tmp)
    assert env.run(p)["status"] == "applied"
    job = env.jobs()[0]
    job.data.update(status="inconsistent", msg="unknown state")
    job.save()
    r = env.run(make_payload(env.tmp, version="2.0"))
    assert r["status"] == "inconsistent" and r["failed"] and job.job_id in r["msg"] and r["phases"] == {}
    assert env.run(make_payload(env.tmp, name="other"))["status"] == "applied"
