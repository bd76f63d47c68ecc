"""Admission of a run (admission.py): options, the node's own inspection of the payload, state check
code overrides, parameters, and a lock that cannot be announced."""

import os

import pytest

from hctest.upgrade import EngineEnv, count, make_payload, runs


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
