"""Two (and more) playbook runs at the same node at once, through the simulated fleet's tunnels.

Issue item 5: one job runs, the other waits and then reports the first one's result or fails clearly;
never two jobs at the same time. tests/integration/upgrade/test_upgrade.py::test_two_runs_on_one_node
proves it on a loopback sshd; this test does it through the reverse tunnels with real concurrent
ansible-playbook processes, and also when the first run's controller dies while the job runs.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from hctest import faults as hf

pytestmark = [pytest.mark.fleet, pytest.mark.slow, pytest.mark.faults_full]
NODE = "W002"


def test_concurrent_runs_through_the_tunnels(fault_fleet, tmp_path):
    ff = fault_fleet
    name, other = "hcf-conc", "hcf-conc-other"
    hcf = ff.hcf(NODE, name)
    for n in (name, other):
        hf.seed_peripheral(ff.hcf(NODE, n), hf.OLD)
    (hcf / "fault-phase").write_text("install\n")
    (hcf / "fault-mode").write_text("wait\n")  # A's install waits for "go" while holding the node
    pa = hf.fault_payload(tmp_path, name)
    pc = hf.fault_payload(tmp_path, other)
    waiting = ff.state_dir(NODE) / "waiting"

    a = ff.start_run(pa, tmp_path / "a.json", target=NODE)
    procs = [a]
    try:
        hf.wait_until((hcf / "inside").exists, "A's install to start", timeout=180)
        a_job = json.loads((ff.state_dir(NODE) / "lock.json").read_text())["job_id"]
        b = ff.start_run(pa, tmp_path / "b.json", target=NODE)                          # same payload
        c = ff.start_run(pc, tmp_path / "c.json", "-e", "lock_timeout=600", target=NODE)  # another one
        procs += [b, c]
        hf.wait_until(lambda: waiting.is_dir() and len(os.listdir(waiting)) == 2, "B and C to wait", timeout=180)
        # D: another payload with a short lock_timeout fails clearly, naming the running job
        code, out, res = ff.run(pc, tmp_path / "d.json", "-e", "lock_timeout=2", target=NODE)
        d = res[NODE]
        assert d["status"] == "failed" and a_job in d["msg"] and "lock_timeout" in d["msg"], d
        assert d["lock_holder"]["job_id"] == a_job
        # A's controller dies (its ssh goes with it); the job goes on on the node
        a.send_signal(signal.SIGKILL)
        a.wait(60)
        (hcf / "go").touch()
        for p in (b, c):
            p.communicate(timeout=600)
    finally:
        (hcf / "go").touch()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    bres = json.loads((tmp_path / "b.json").read_text())[NODE]
    cres = json.loads((tmp_path / "c.json").read_text())[NODE]
    # B waited for A's job and reports its result; C ran its own job after A's
    assert bres["status"] == "applied" and bres["waited_for_job"] == a_job and bres["job_id"] == a_job, bres
    assert cres["status"] == "applied" and cres["job_id"] != a_job, cres
    starts_a = hf.script_runs(hcf)
    assert [s[0] for s in starts_a] == ["state_check", "install", "verify"]  # once, by A's job only
    assert {s[2] for s in starts_a} == {a_job}
    # never two jobs at once: every script of A's job ended before the first script of C's job started
    log = [e for e in hf.node_script_log(hcf.parent) if e[2] in (a_job, cres["job_id"])]
    owners = [e[2] for e in log]
    assert owners == sorted(owners, key=lambda j: j != a_job), log
    assert len(log) == 12 and log[5] == ("end", "verify", a_job), log
    jobs = hf.read_jobs(ff.state_dir(NODE))
    a_data, c_data = jobs[a_job], jobs[cres["job_id"]]
    for data in (a_data, c_data):
        assert hf.journal_problems(data) == []
    assert "released" in json.loads((ff.state_dir(NODE) / "lock.json").read_text())
    assert not os.listdir(waiting)
