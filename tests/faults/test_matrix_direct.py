"""The fault matrix on the direct module path: every fault in every phase of an upgrade run *in the
connection* (``waggle.honeycomb.upgrade`` with ``wait: false``, the module's default and what
``playbooks/upgrade_one.yml`` and playbooks of users' own run), on the simulated fleet.

The rollout users run (``playbooks/upgrade.yml``, ``wait: true``) has its own matrix,
``tests/faults/test_matrix.py``. This one stays (``faults_full``: in ``make faults``) because the direct
path is different where the faults bite: the engine runs in the ssh session itself, not detached, so a
tunnel drop cuts its controller's connection with no wait to ride it out (run 1 unreachable, the job goes
on alone and the next run finds it); a power cut leaves the node off for the rest of the run (the
resume happens in the next run, not in the task); and the results come from the module's own return
(``tests/faults/playbooks/upgrade_report.yml``), not from a collected async status file.

One scenario per fault runs the four phases side by side: node W001 gets the fault in the state check,
W002 in install, W003 in verify, W004 in rollback (its first verify fails once so that a rollback runs).
The payload (``hctest.faults.fault_payload``) signals "inside phase X" with a marker file on the node's
disk; the test then injects the fault:

=============== =============================================================================
power_cut       SIGKILL to the node's init at a random moment (0-1.5 s) after the marker, then power on
sigterm         SIGTERM to the module process at a random moment after the marker
tunnel_drop     the node's tunnel is cut while the phase runs (the script waits for it), restored after
hang            the script hangs past the phase timeout (4 s)
disk_full       the node's state dir (a tmpfs) is filled while the phase runs; a re-run while it is still
                full must fail cleanly and change nothing; then space is freed
=============== =============================================================================

Then the same playbook runs again until the node has converged (run 2, run 3, run 4), and every test
asserts for its node: the outcome of each run is the one the resume table of docs/upgrade.md promises,
every journal on the node is consistent (``journal_problems``), no script start is missing from the
journals, no install ran twice without a rollback in between and none ran over a complete install, the
rollback restored the backup wherever one was due (the simulated peripheral is then completely at
the old version), and the last run changed nothing.
"""

from __future__ import annotations

import threading
import time

import pytest
from hctest import faults as hf

pytestmark = [pytest.mark.fleet, pytest.mark.slow, pytest.mark.faults_full]

NODE = {"state_check": "W001", "install": "W002", "verify": "W003", "rollback": "W004"}
FAULTS = ("power_cut", "sigterm", "tunnel_drop", "hang", "disk_full")
MODE = {"power_cut": "mark", "sigterm": "mark", "tunnel_drop": "wait", "hang": "hang", "disk_full": "wait"}
STEP = {"power_cut": 1.0, "sigterm": 1.0}
"""Seconds per script step in the faulted phase (``fault-step``; the other phases run at 0.05 s a step): a
random moment 0-1.5 s into the phase plus a cut that takes seconds on a loaded machine still lands in it
(with 0.5 s steps in every phase, cuts at load average 20 landed in the next phase)."""
HANG_TIMEOUT = 4

# Expected status of each run per (fault, phase); None = the node was unreachable in that run.
# Run 1 has the fault, then recovery (power on / tunnel back / space freed), then runs 2, 3 and 4.
APPLIED_ON_RESUME = ("applied", "already_applied", "already_applied")
EXPECT = {
    "power_cut": {p: (None,) + APPLIED_ON_RESUME for p in ("state_check", "install", "verify")}
    | {"rollback": (None, "rolled_back", "applied", "already_applied")},
    "sigterm": {p: ("interrupted",) + APPLIED_ON_RESUME for p in ("state_check", "install", "verify")}
    | {"rollback": ("interrupted", "rolled_back", "applied", "already_applied")},
    # the job goes on without its controller: its result is in the journal, the next run is a new job
    "tunnel_drop": {p: (None, "already_applied", "already_applied", "already_applied")
                    for p in ("state_check", "install", "verify")}
    | {"rollback": (None, "applied", "already_applied", "already_applied")},
    "hang": {"state_check": ("failed", "applied", "already_applied", "already_applied"),
             "install": ("rolled_back", "applied", "already_applied", "already_applied"),
             "verify": ("rolled_back", "applied", "already_applied", "already_applied"),
             "rollback": ("rollback_failed", "applied", "already_applied", "already_applied")},
    "disk_full": {p: ("interrupted",) + APPLIED_ON_RESUME for p in ("state_check", "install", "verify")}
    | {"rollback": ("interrupted", "rolled_back", "applied", "already_applied")},
}
# Final job status of the first job when the controller could not see it (tunnel drop).
TUNNEL_JOB = {"state_check": "applied", "install": "applied", "verify": "applied", "rollback": "rolled_back"}
# Install runs in total, per (fault, phase); a callable gets the rollback count of the first job.
INSTALLS = {
    "power_cut": {"state_check": 1, "install": "1+rollbacks", "verify": 1, "rollback": 2},
    "sigterm": {"state_check": 1, "install": "1+rollbacks", "verify": 1, "rollback": 2},
    "tunnel_drop": {"state_check": 1, "install": 1, "verify": 1, "rollback": 2},
    "hang": {"state_check": 1, "install": 2, "verify": 2, "rollback": 2},
    "disk_full": {"state_check": 1, "install": 1, "verify": 1, "rollback": 2},
}

_SCENARIOS: dict[str, dict] = {}


def _newest_job(ff, vsn, name):
    jobs = [j for j in hf.read_jobs(ff.state_dir(vsn)).values() if j.get("name") == name]
    return jobs[-1] if jobs else None


def _inject(ff, fault, phase, vsn, name, rng, log, errors):
    """Wait for the node's payload to be inside ``phase``, then inject ``fault`` (runs in a thread)."""
    hcf = ff.hcf(vsn, name)
    try:
        hf.wait_until((hcf / "inside").exists, f"{vsn} to enter {phase}", timeout=180)
        if fault in ("power_cut", "sigterm"):
            delay = rng.uniform(0, 1.5)
            log["delay"] = round(delay, 3)
            threading.Event().wait(delay)
            if fault == "power_cut":
                ff.power_cut(vsn)
                job = _newest_job(ff, vsn, name)
                log["journal_at_cut"] = (job["status"], job["phase"], job["phase_state"])
            else:
                log["pid"] = ff.sigterm_module(vsn)
        elif fault == "tunnel_drop":
            ff.drop_tunnel(vsn)
            job = _newest_job(ff, vsn, name)
            log["journal_at_cut"] = (job["status"], job["phase"], job["phase_state"])
            (hcf / "go").touch()
        elif fault == "disk_full":
            log["ballast"] = ff.fill_state_dir(vsn)
            (hcf / "go").touch()
    except BaseException as exc:  # reported by the scenario
        errors.append(f"{vsn}: {exc!r}")


def run_scenario(ff, fault, tmp, rng) -> dict:
    name = f"hcf-{fault.replace('_', '-')}"
    hf.seed_fault_nodes(ff, NODE, name, MODE[fault], STEP.get(fault))
    payload = hf.fault_payload(tmp, name, timeout=HANG_TIMEOUT if fault == "hang" else 120)
    sc = {"name": name, "runs": [], "periph": [], "log": {p: {} for p in NODE}, "errors": [], "outputs": []}

    threads = [threading.Thread(target=_inject, args=(ff, fault, p, v, name, rng, sc["log"][p], sc["errors"]))
               for p, v in NODE.items()]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    code, out, res = ff.run(payload, tmp / "r1.json")
    sc["times"] = {"run1": round(time.monotonic() - t0, 1)}
    for t in threads:
        t.join(300)
    sc["outputs"].append(out)
    sc["runs"].append(res)
    sc["periph"].append({p: hf.peripheral(ff.hcf(v, name)) for p, v in NODE.items()})

    # recovery (scripts at normal speed again)
    for vsn in NODE.values():
        (ff.hcf(vsn, name) / "step").unlink(missing_ok=True)
    if fault == "power_cut":
        for vsn in NODE.values():
            ff.power_on(vsn)
    elif fault == "tunnel_drop":
        for vsn in NODE.values():
            ff.restore_tunnel(vsn)
        for phase, vsn in NODE.items():
            hf.wait_until(lambda v=vsn: (_newest_job(ff, v, name) or {}).get("status") in hf.TERMINAL,
                          f"{vsn}'s job to finish without its controller", timeout=180)
            sc["log"][phase]["job_status"] = _newest_job(ff, vsn, name)["status"]
    elif fault == "disk_full":
        before = {v: hf.read_jobs(ff.state_dir(v)) for v in NODE.values()}
        starts = {v: len(hf.script_runs(ff.hcf(v, name))) for v in NODE.values()}
        code, out, res = ff.run(payload, tmp / "r1b.json")
        sc["outputs"].append(out)
        sc["still_full"] = {"res": res, "jobs_changed": {v: hf.read_jobs(ff.state_dir(v)) != before[v]
                                                         for v in NODE.values()},
                            "new_script_runs": {v: len(hf.script_runs(ff.hcf(v, name))) - starts[v]
                                                for v in NODE.values()}}
        for vsn in NODE.values():
            ff.free_state_dir(vsn)

    for n in (2, 3, 4):
        before = {p: len(hf.script_runs(ff.hcf(v, name))) for p, v in NODE.items()}
        t0 = time.monotonic()
        code, out, res = ff.run(payload, tmp / f"r{n}.json")
        sc["times"][f"run{n}"] = round(time.monotonic() - t0, 1)
        sc["outputs"].append(out)
        sc["runs"].append(res)
        hf.record_run(sc, ff, NODE, name, before)
    print(f"{fault}: playbook run times {sc['times']}")
    return sc


@pytest.fixture
def scenario(request, fault_fleet, tmp_path_factory, rng):
    fault = request.param
    if fault not in _SCENARIOS:
        _SCENARIOS[fault] = run_scenario(fault_fleet, fault, tmp_path_factory.mktemp(fault), rng)
    return _SCENARIOS[fault]


CASES = [pytest.param(f, p, id=f"{f}-{p}") for f in FAULTS for p in NODE]


@pytest.mark.parametrize("scenario,phase", [(c.values[0], c.values[1]) for c in CASES],
                         ids=[c.id for c in CASES], indirect=["scenario"])
def test_fault_in_phase(scenario, phase, fault_fleet):
    ff, name, vsn = fault_fleet, scenario["name"], NODE[phase]
    fault = name[len("hcf-"):].replace("-", "_")
    assert not scenario["errors"], scenario["errors"]
    log = scenario["log"][phase]
    context = f"{fault} in {phase} on {vsn}: injection {log}"
    hcf = ff.hcf(vsn, name)
    assert (hcf / "fired").is_dir(), f"the fault never fired: {context}"

    # the fault hit inside the phase
    if "journal_at_cut" in log:
        assert log["journal_at_cut"] == ("running", phase, "started"), context
    first = scenario["runs"][0].get(vsn)
    if fault == "hang":
        assert first["phases"][phase if phase != "rollback" else "rollback"]["timed_out"] is True, first
    if fault == "sigterm":
        assert first["status"] == "interrupted" and f"in phase {phase}" in first["msg"], first
    if fault == "disk_full":
        assert first["state_dir_error"]["errno"] == 28 and "No space left" in first["msg"], first
        assert f"during phase {phase}" in first["msg"], first
        still = scenario["still_full"]
        r = still["res"][vsn]
        assert r["status"] == "failed" and "state_dir_error" in r and "Nothing was run" in r["msg"], r
        assert still["jobs_changed"][vsn] is False and still["new_script_runs"][vsn] == 0, still
    if fault == "tunnel_drop":
        assert log["job_status"] == TUNNEL_JOB[phase], context

    # each run ended as the resume table promises
    statuses = []
    for res in scenario["runs"]:
        r = res.get(vsn)
        statuses.append(None if r is None or r.get("unreachable") else r.get("status"))
    assert tuple(statuses) == EXPECT[fault][phase], (context, statuses,
                                                     [res.get(vsn) for res in scenario["runs"]][:2])
    if fault in ("power_cut", "sigterm", "disk_full"):
        assert scenario["runs"][1][vsn]["resumed"] is True and scenario["runs"][1][vsn]["resumes"] == 1

    # backups restored wherever a rollback was due; the peripheral is never left half-written
    for n, (res, periph) in enumerate(zip(scenario["runs"], scenario["periph"]), 1):
        r = res.get(vsn) or {}
        if r.get("status") in ("rolled_back", "rollback_failed"):
            assert periph[phase] == {"clean": True, "version": hf.OLD, "raw": periph[phase]["raw"]}, (n, periph)
        if r.get("status") in ("applied", "already_applied"):
            assert periph[phase]["clean"] and periph[phase]["version"] == hf.NEW, (n, periph)
    final = hf.peripheral(hcf)
    assert final["clean"] and final["version"] == hf.NEW, final

    # journals consistent, nothing lost, no phase repeated that must not be; the node is idle
    hf.check_converged(ff.state_dir(vsn), hcf, name, INSTALLS[fault][phase])

    # a further run changed nothing
    last = scenario["runs"][-1][vsn]
    assert last["status"] == "already_applied" and last["changed"] is False
    assert scenario["new_runs"][-1][phase] == ["state_check"]
