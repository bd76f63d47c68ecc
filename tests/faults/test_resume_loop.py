"""The loop breaker of the resume rules through the fleet (Mender's "break out of spontaneous reboot
loop"): a job whose install is cut by a power cut again and again becomes ``inconsistent`` once another
resume would exceed ``max_resumes`` (3), nothing more runs for it, it blocks only its own peripheral,
and ``clear_inconsistent: true`` lets a new job apply the upgrade."""

from __future__ import annotations

import json
import time

import pytest
from hctest import faults as hf

pytestmark = [pytest.mark.fleet, pytest.mark.slow, pytest.mark.faults_full]
NODE = "W003"


def test_repeated_power_cuts_end_inconsistent_then_cleared(fault_fleet, tmp_path, rng):
    ff = fault_fleet
    name, other = "hcf-loop", "hcf-loop-other"
    hcf = ff.hcf(NODE, name)
    hf.seed_peripheral(hcf, hf.OLD)
    hf.seed_peripheral(ff.hcf(NODE, other), hf.OLD)
    (hcf / "fault-phase").write_text("install\n")
    (hcf / "fault-mode").write_text("mark\n")
    (hcf / "step").write_text("0.3\n")
    payload = hf.fault_payload(tmp_path, name)
    statuses = []
    for n in range(1, 5):  # the first run and three resumes, each cut inside install
        for marker in ("inside", "fired"):
            p = hcf / marker
            if p.is_dir():
                p.rmdir()
            elif p.exists():
                p.unlink()
        proc = ff.start_run(payload, tmp_path / f"cut{n}.json", target=NODE)
        try:
            hf.wait_until((hcf / "inside").exists, f"install to start (run {n})", timeout=300)
            time.sleep(rng.uniform(0, 1.0))
            ff.power_cut(NODE)
            job = [j for j in hf.read_jobs(ff.state_dir(NODE)).values() if j.get("name") == name][-1]
            statuses.append((job["status"], job["phase"], job.get("resumes", 0)))
            proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        ff.power_on(NODE)
    assert statuses == [("running", "install", r) for r in range(4)], statuses
    (hcf / "step").unlink()

    code, out, res = ff.run(payload, tmp_path / "r5.json", target=NODE)
    r = res[NODE]
    assert r["status"] == "inconsistent" and r["failed"] and "clear_inconsistent" in r["msg"], r
    starts = hf.script_runs(hcf)
    code, out, res = ff.run(payload, tmp_path / "r6.json", target=NODE)  # blocked, nothing runs
    assert res[NODE]["status"] == "inconsistent" and "blocked" in res[NODE]["msg"], res[NODE]
    assert hf.script_runs(hcf) == starts
    code, out, res = ff.run(hf.fault_payload(tmp_path, other), tmp_path / "r7.json", target=NODE)
    assert res[NODE]["status"] == "applied", res[NODE]  # another peripheral is not blocked

    # as the message says: bring the peripheral into a known state by hand (the last install was cut
    # half-way and nothing rolled it back), then clear
    hf.seed_peripheral(hcf, hf.OLD)
    code, out, res = ff.run(payload, tmp_path / "r8.json", "-e", "clear_inconsistent=true", target=NODE)
    r = res[NODE]
    assert r["status"] == "applied" and any("cleared" in n for n in r.get("notes", [])), r
    final = hf.peripheral(hcf)
    assert final["clean"] and final["version"] == hf.NEW
    jobs = {k: j for k, j in hf.read_jobs(ff.state_dir(NODE)).items() if j.get("name") == name}
    assert sorted(j["status"] for j in jobs.values()) == ["applied", "inconsistent"]
    for job in jobs.values():
        assert hf.journal_problems(job) == [], job
        assert hf.lost_entries(job, hf.script_runs(hcf)) == 0
    assert hf.anomalies(hcf) == [] and hf.double_installs(hf.script_runs(hcf), jobs) == []
    assert json.loads((ff.state_dir(NODE) / "installed.json").read_text())[name]["version"] == hf.NEW
