"""upgrade_info gives every job its outcome by the status model (an interrupted job is a failure)."""

import json
import os
import subprocess
import sys

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr

MODULE = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules",
                                       "upgrade_info.py"))


def run_module(tmp_path, args):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, MODULE, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, check=False)
    return json.loads(proc.stdout.decode())


def job(state, job_id, status, kind="upgrade", created=0):
    j = jr.Journal.create(state.job_dir(job_id), kind=kind, peripheral="demo", name="demo", version="1.0",
                          created_epoch=1700000000 + created)
    if status != "running":
        j.finish(status, "done")
    return j


def test_each_job_has_its_outcome(tmp_path):
    state = jr.StateDir(str(tmp_path / "state"))
    state.ensure()
    job(state, "j1-applied", "applied", created=1)
    job(state, "j2-undone", "rolled_back", kind="rollback", created=2)
    job(state, "j3-rolled-back", "rolled_back", created=3)
    job(state, "j4-inconsistent", "inconsistent", created=4)
    job(state, "j5-later", "retry_later", created=5)
    job(state, "j6-power-cut", "running", created=6)  # no live owner: interrupted
    r = run_module(tmp_path, {"state_dir": state.root})
    assert not r.get("failed"), r
    outcomes = dict((j["job_id"], j["outcome"]) for j in r["jobs"])
    assert outcomes == {"j1-applied": "success", "j2-undone": "success", "j3-rolled-back": "failure",
                        "j4-inconsistent": "failure", "j5-later": "pending", "j6-power-cut": "failure"}
    assert [(j["job_id"], j["outcome"]) for j in r["interrupted"]] == [("j6-power-cut", "failure")]
    assert [(j["job_id"], j["outcome"]) for j in r["inconsistent"]] == [("j4-inconsistent", "failure")]
    full = run_module(tmp_path, {"state_dir": state.root, "job_id": "j6-power-cut"})["jobs"][0]
    assert full["status"] == "running" and full["outcome"] == "failure"


def test_a_status_the_model_does_not_know_is_no_success(tmp_path):
    """Not terminal for the journal, no live owner: an interrupted job, a failure."""
    state = jr.StateDir(str(tmp_path / "state"))
    state.ensure()
    job(state, "j1", "half_done")
    r = run_module(tmp_path, {"state_dir": state.root})
    assert r["jobs"][0]["status"] == "half_done" and r["jobs"][0]["outcome"] == "failure"


def test_last_job_per_peripheral(tmp_path):
    state = jr.StateDir(str(tmp_path / "state"))
    state.ensure()
    job(state, "j1", "applied", created=1)
    job(state, "j2", "rolled_back", created=2)
    other = jr.Journal.create(state.job_dir("j0-other"), peripheral="cam", version="9", created_epoch=1700000009)
    other.finish("applied", "done")
    r = run_module(tmp_path, {"state_dir": state.root, "limit": 0, "peripheral": "cam"})
    assert r["jobs"] == []
    assert {p: (j["job_id"], j["status"], j["outcome"]) for p, j in r["last_jobs"].items()} == {
        "demo": ("j2", "rolled_back", "failure"), "cam": ("j0-other", "applied", "success")}
