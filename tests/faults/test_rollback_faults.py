"""Faults during the explicit rollback of a succeeded upgrade (``waggle.honeycomb.upgrade state=rolled_back``,
docs/upgrade.md section 4), on the simulated fleet.

The fault payload (``hctest.faults.fault_payload``) is first applied (1.0 -> 2.0); then its rollback is
requested. ``fault-phase rollback`` + ``fault-mode wait`` make the rollback job's hc_rollback_upgrade.sh
write its marker ``inside`` and block until the test creates ``go``, so the fault lands inside the script
deterministically (the snapshot of the undone job is restored by then):

* power cut inside the script, power on, re-run: the job is resumed and the rollback re-run whole, the
  node ends rolled back exactly once, other nodes untouched (fast subset);
* tunnel drop while ``playbooks/rollback.yml`` polls the detached job: the node is reported unreachable,
  the job finishes on the node alone, the re-run converges (``faults_full``);
* power cuts beyond ``max_resumes``: ``inconsistent``, further upgrades and rollbacks of the peripheral
  blocked, ``clear_inconsistent`` lets a new rollback job finish it (``faults_full``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hctest import faults as hf

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

ROLLBACK_REPORT = hf.PLAYBOOKS / "rollback_report.yml"


def _start_rollback(ff, name, report: Path, *extra: str, target: str) -> subprocess.Popen:
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(ff.f.inventory), str(ROLLBACK_REPORT),
            "-e", f"peripheral={name}", "-e", f"report={report}", "-e", f"target={target}", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ff.f.ansible_env(), cwd=str(hf.REPO))


def _finish(proc: subprocess.Popen, report: Path, timeout: float = 600) -> tuple[str, dict]:
    try:
        out = proc.communicate(timeout=timeout)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out, (json.loads(report.read_text()) if report.exists() else {})


def _rollback(ff, name, report: Path, *extra: str, target: str) -> dict:
    out, res = _finish(_start_rollback(ff, name, report, *extra, target=target), report)
    assert target in res, out[-5000:]
    return res[target]


def _jobs(ff, vsn, name, kind=None) -> dict[str, dict]:
    return {k: j for k, j in hf.read_jobs(ff.state_dir(vsn)).items()
            if j.get("name") == name and (kind is None or j.get("kind", "upgrade") == kind)}


def _upgrades(ff, vsn, name) -> dict[str, dict]:
    """The applied upgrade jobs of the peripheral (not the already_applied ones of the 1.0 payload)."""
    return {k: j for k, j in _jobs(ff, vsn, name, kind="upgrade").items() if j["status"] == "applied"}


def _installed(ff, vsn, name):
    return (json.loads((ff.state_dir(vsn) / "installed.json").read_text()).get(name) or {}).get("version")


def _applied(ff, tmp, name, vsns: list[str]) -> str:
    """Put the peripheral at 1.0 on ``vsns`` (recorded in installed.json: the 1.0 payload finds it
    already applied) and upgrade them to 2.0; returns the 2.0 payload."""
    for vsn in vsns:
        hf.seed_peripheral(ff.hcf(vsn, name), hf.OLD)
    for version, status in ((hf.OLD, "already_applied"), (hf.NEW, "applied")):
        payload = hf.fault_payload(tmp, name, version=version)
        code, out, res = ff.run(payload, tmp / f"upgrade-{version}.json", target=":".join(vsns))
        for vsn in vsns:
            assert res.get(vsn, {}).get("status") == status, out[-5000:]
            assert _installed(ff, vsn, name) == version
    return payload


def _arm(hcf: Path) -> None:
    """Make the next rollback script block inside (marker ``inside``) until ``go`` exists."""
    for marker in ("inside", "go"):
        (hcf / marker).unlink(missing_ok=True)
    if (hcf / "fired").is_dir():
        (hcf / "fired").rmdir()
    (hcf / "fault-phase").write_text("rollback\n")
    (hcf / "fault-mode").write_text("wait\n")


def _prepared(ff, tmp, name, vsns: list[str]) -> tuple[Path, str, Path]:
    """``_applied`` on ``vsns``, then the first node armed for its rollback: (its hcf dir, the id of its
    applied 2.0 job, the 2.0 payload)."""
    payload = _applied(ff, tmp, name, vsns)
    (upgrade_id,) = _upgrades(ff, vsns[0], name)
    hcf = ff.hcf(vsns[0], name)
    _arm(hcf)
    return hcf, upgrade_id, payload


def _running_rollback(ff, vsn, name) -> dict:
    jobs = _jobs(ff, vsn, name, kind="rollback")
    assert jobs, "no rollback job on the node"
    return list(jobs.values())[-1]


def _check_rolled_back_once(ff, vsn, name, upgrade_id: str) -> dict:
    """The node is rolled back exactly once: one successful rollback job, the undone job marked, the
    peripheral completely at the old version, installed.json at it, journals consistent."""
    hcf = ff.hcf(vsn, name)
    rb = _jobs(ff, vsn, name, kind="rollback")
    done = {k: j for k, j in rb.items() if j["status"] == "rolled_back"}
    assert len(done) == 1, {k: j["status"] for k, j in rb.items()}
    (rb_id, rb_job), = done.items()
    upgrade = _jobs(ff, vsn, name)[upgrade_id]
    assert rb_job["rollback_of"] == upgrade_id and rb_job["rollback"]["ok"] is True, rb_job
    assert upgrade["status"] == "applied" and upgrade["rolled_back_by"] == rb_id, upgrade
    assert [e["event"] for e in upgrade["events"]].count("rolled_back") == 1, upgrade["events"]
    periph = hf.peripheral(hcf)
    assert periph["clean"] and periph["version"] == hf.OLD, periph
    assert _installed(ff, vsn, name) == hf.OLD
    starts = hf.script_runs(hcf)
    for job in _jobs(ff, vsn, name).values():
        assert hf.journal_problems(job) == [], job
        assert hf.lost_entries(job, starts) == 0, (job["events"], starts)
    assert hf.anomalies(hcf) == [], hf.anomalies(hcf)  # no rollback script before the restore
    assert hf.stray_files(ff.state_dir(vsn)) == []
    assert "released" in json.loads((ff.state_dir(vsn) / "lock.json").read_text())
    return rb_job


def test_power_cut_inside_rollback_script_then_rerun(fault_fleet, tmp_path):
    """Power cut while the rollback job's hc_rollback_upgrade.sh runs; power on; the re-run resumes the
    job, re-runs the whole rollback (restore, script, installed.json) once and finishes it; a further
    re-run changes nothing; the other node is untouched."""
    ff = fault_fleet
    vsn, other, name = "W001", "W002", "hcf-rb-cut"
    hcf, upgrade_id, _payload = _prepared(ff, tmp_path, name, [vsn, other])
    other_jobs = _jobs(ff, other, name)
    other_runs = hf.script_runs(ff.hcf(other, name))

    report = tmp_path / "rb1.json"
    proc = _start_rollback(ff, name, report, "-e", f"rollback_version={hf.NEW}", target=vsn)
    try:
        hf.wait_until((hcf / "inside").exists, "the rollback script to start", timeout=300)
        job = _running_rollback(ff, vsn, name)
        at_cut = (job["status"], job["phase"], job["phase_state"])
        restored_at_cut = hf.peripheral(hcf)
        ff.power_cut(vsn)
    finally:
        out, res = _finish(proc, report)
    ff.power_on(vsn)
    rb_id = job["job_id"]
    assert at_cut == ("running", "rollback", "started"), at_cut  # the cut landed inside the script
    assert restored_at_cut["clean"] and restored_at_cut["version"] == hf.OLD  # the snapshot was restored first
    assert vsn not in res or res[vsn].get("unreachable"), res
    # cut before the end: installed.json and the undone job not touched yet
    assert _installed(ff, vsn, name) == hf.NEW
    assert "rolled_back_by" not in _jobs(ff, vsn, name)[upgrade_id]

    r = _rollback(ff, name, tmp_path / "rb2.json", "-e", f"rollback_version={hf.NEW}", target=vsn)
    assert r["status"] == "rolled_back" and r["changed"] and not r.get("failed"), r
    assert r["job_id"] == rb_id and r["resumed"] is True and r["resumes"] == 1, r
    assert r["rollback_of"] == upgrade_id and r["installed_version"] == hf.OLD, r
    assert f"now at version {hf.OLD}" in r["msg"], r

    r = _rollback(ff, name, tmp_path / "rb3.json", target=vsn)  # without the version guard: same target
    assert r["status"] == "rolled_back" and not r["changed"] and "already rolled back" in r["msg"], r
    assert r["job_id"] == rb_id, r

    rb_job = _check_rolled_back_once(ff, vsn, name, upgrade_id)
    assert rb_job["resumes"] == 1
    rollback_starts = [s for s in hf.script_runs(hcf) if s[0] == "rollback"]
    # the script ran twice, both in the rollback job: the cut run and the resumed run (idempotent by
    # contract); no other script ran for it and none after it finished
    assert [(s[2], s[3]) for s in rollback_starts] == [(rb_id, "0"), (rb_id, "1")], rollback_starts
    assert [s[0] for s in hf.script_runs(hcf) if s[2] == rb_id] == ["rollback", "rollback"]

    # the other node: still at 2.0, no new job, no script ran
    assert _jobs(ff, other, name) == other_jobs
    assert hf.script_runs(ff.hcf(other, name)) == other_runs
    assert hf.peripheral(ff.hcf(other, name))["version"] == hf.NEW and _installed(ff, other, name) == hf.NEW


ROLLBACK_YML = hf.REPO / "playbooks" / "rollback.yml"


def _rollback_yml(ff, name, vsn, reports: Path, **extra) -> subprocess.Popen:
    """playbooks/rollback.yml -e rollback_peripheral=<name> on ``vsn`` (fleet report in ``reports``)."""
    ev = {"rollback_peripheral": name, "rollback_version": hf.NEW, "rollout_hosts": vsn,
          "rollout_sanity_gate": False, "rollout_post_check": False, "rollout_poll_interval": 1, **extra}
    env = dict(ff.f.ansible_env(), ANSIBLE_CALLBACKS_ENABLED="waggle.honeycomb.fleet_report",
               HONEYCOMB_FLEET_REPORT_DIR=str(reports))
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(ff.f.inventory), str(ROLLBACK_YML),
            "-e", json.dumps(ev)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=str(hf.REPO))


def _node_report(reports: Path, vsn: str) -> tuple[dict, dict]:
    report = json.loads((reports / "latest" / "report.json").read_text())
    (node,) = [n for n in report["nodes"] if n["name"] == vsn]
    return report, node


@pytest.mark.faults_full
def test_tunnel_drop_during_rollback_playbook(fault_fleet, tmp_path):
    """playbooks/rollback.yml starts the rollback detached (async) and polls it; the node's tunnel drops
    while the rollback script runs and stays down past rollout_reconnect_timeout: the node is reported
    unreachable (not failed, not skipped) and the rollout stops; the job finishes on the node alone;
    tunnel back, the re-run finds it rolled back (ok, unchanged)."""
    ff = fault_fleet
    vsn, name = "W003", "hcf-rb-tunnel"
    hcf, upgrade_id, _payload = _prepared(ff, tmp_path, name, [vsn])

    reports = tmp_path / "reports"
    proc = _rollback_yml(ff, name, vsn, reports, rollout_reconnect_timeout=3)
    dropped = False
    try:
        hf.wait_until((hcf / "inside").exists, "the rollback script to start", timeout=300)
        ff.drop_tunnel(vsn)
        dropped = True
        job = _running_rollback(ff, vsn, name)
        at_drop = (job["status"], job["phase"], job["phase_state"])
        (hcf / "go").touch()  # the job goes on without its controller
        out = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if dropped:
            hf.wait_until(lambda: _running_rollback(ff, vsn, name)["status"] in hf.TERMINAL,
                          "the rollback job to finish on the node alone", timeout=300)
            ff.restore_tunnel(vsn)
    assert at_drop == ("running", "rollback", "started"), at_drop
    assert proc.returncode != 0, out[-5000:]  # 1 of 1 nodes unreachable: the rollout stops
    report, node = _node_report(reports, vsn)
    assert node["status"] == "unreachable", (node, out[-5000:])
    assert report["stopped"] and vsn in report["reason"] and "unreachable" in report["reason"], report
    # alone on the node, the job finished the rollback
    assert _running_rollback(ff, vsn, name)["status"] == "rolled_back"

    proc = _rollback_yml(ff, name, vsn, reports)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-5000:]
    report, node = _node_report(reports, vsn)
    assert report["result"] == "success" and node["status"] == "rolled_back", (report, node)
    assert node["outcome"] == "success" and node["installed_version"] == hf.OLD, node
    rb_job = _check_rolled_back_once(ff, vsn, name, upgrade_id)
    assert node["job_id"] == rb_job["job_id"], node
    rollback_starts = [s for s in hf.script_runs(hcf) if s[0] == "rollback"]
    assert [s[2] for s in rollback_starts] == [rb_job["job_id"]], rollback_starts  # ran once, not re-run


@pytest.mark.faults_full
def test_repeated_power_cuts_in_rollback_end_inconsistent_then_cleared(fault_fleet, tmp_path):
    """The rollback job is cut inside its script in the first run and in three resumes; the fifth run
    finds max_resumes (3) exceeded: ``inconsistent``, nothing runs; upgrades and rollbacks of the
    peripheral are blocked with a message saying what to do (rollback.yml's report: the node
    ``inconsistent``, naming the job); ``clear_inconsistent: true`` lets a new rollback job finish it."""
    ff = fault_fleet
    vsn, name = "W004", "hcf-rb-loop"
    hcf, upgrade_id, payload = _prepared(ff, tmp_path, name, [vsn])
    at_cuts = []
    for n in range(1, 5):
        _arm(hcf)
        report = tmp_path / f"cut{n}.json"
        proc = _start_rollback(ff, name, report, target=vsn)
        try:
            hf.wait_until((hcf / "inside").exists, f"the rollback script to start (run {n})", timeout=300)
            job = _running_rollback(ff, vsn, name)
            at_cuts.append((job["job_id"], job["status"], job["phase"], job.get("resumes", 0)))
            ff.power_cut(vsn)
        finally:
            _finish(proc, report)
        ff.power_on(vsn)
    rb_id = at_cuts[0][0]
    assert at_cuts == [(rb_id, "running", "rollback", r) for r in range(4)], at_cuts
    (hcf / "fault-phase").unlink()
    starts = hf.script_runs(hcf)

    r = _rollback(ff, name, tmp_path / "r5.json", target=vsn)
    assert r["status"] == "inconsistent" and r["failed"] and not r["changed"], r
    assert r["job_id"] == rb_id and "clear_inconsistent" in r["msg"] and "interrupted 4 times" in r["msg"], r
    code, out, res = ff.run(payload, tmp_path / "r6.json", target=vsn)  # an upgrade: blocked
    assert res[vsn]["status"] == "inconsistent" and "blocked" in res[vsn]["msg"] and rb_id in res[vsn]["msg"], res
    reports = tmp_path / "reports"  # the rollback again, through rollback.yml: blocked too
    proc = _rollback_yml(ff, name, vsn, reports)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode != 0, out[-5000:]
    report, node = _node_report(reports, vsn)
    assert node["status"] == "inconsistent" and node["outcome"] == "failure", (node, out[-5000:])
    assert node["job_id"] == rb_id, node  # the blocking job
    assert hf.script_runs(hcf) == starts  # nothing ran
    assert _installed(ff, vsn, name) == hf.NEW

    r = _rollback(ff, name, tmp_path / "r8.json", "-e", "clear_inconsistent=true", target=vsn)
    assert r["status"] == "rolled_back" and r["changed"] and r["job_id"] != rb_id, r
    assert any("cleared" in note for note in r.get("notes", [])), r
    rb_jobs = _jobs(ff, vsn, name, kind="rollback")
    assert rb_jobs[rb_id]["status"] == "inconsistent" and rb_jobs[rb_id]["cleared"], rb_jobs[rb_id]
    rb_job = _check_rolled_back_once(ff, vsn, name, upgrade_id)
    assert rb_job["job_id"] == r["job_id"]
    assert [s[2] for s in hf.script_runs(hcf) if s[0] == "rollback"] == [rb_id] * 4 + [r["job_id"]]


@pytest.mark.faults_full
def test_power_cut_during_rollback_playbook(fault_fleet, tmp_path):
    """playbooks/rollback.yml, power cut inside the detached rollback job, the node back at once. The
    async job's status file on the node (in /root, which survives) still says "started, not finished"
    after the reboot; the upgrade task's wait sees that no process of the job is alive (upgrade_info
    async_jid), resumes the job in the same task and reports the node rolled back; a re-run changes nothing."""
    ff = fault_fleet
    vsn, name = "W002", "hcf-rb-yml-cut"
    hcf, upgrade_id, _payload = _prepared(ff, tmp_path, name, [vsn])

    reports = tmp_path / "reports"
    proc = _rollback_yml(ff, name, vsn, reports, rollout_reconnect_timeout=120)
    try:
        hf.wait_until((hcf / "inside").exists, "the rollback script to start", timeout=300)
        ff.power_cut(vsn)
        ff.power_on(vsn)
        out = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-5000:]
    # one upgrade task waited for the job, saw it lost with the power and resumed it (journal: resumes 1)
    assert "TASK [Upgrade the node (detached job, waited for through dropped tunnels and power cuts)]" in out
    _report, first = _node_report(reports, vsn)
    assert first["status"] == "rolled_back" and first["installed_version"] == hf.OLD, first
    rb_job = _check_rolled_back_once(ff, vsn, name, upgrade_id)
    assert rb_job["resumes"] == 1, rb_job

    proc = _rollback_yml(ff, name, vsn, reports)
    out2 = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out2[-5000:]
    _report, node = _node_report(reports, vsn)
    assert node["status"] == "rolled_back" and node["installed_version"] == hf.OLD, node
    assert _check_rolled_back_once(ff, vsn, name, upgrade_id)["job_id"] == rb_job["job_id"]
