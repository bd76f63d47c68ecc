"""Randomized soak: fleet rollouts (``playbooks/upgrade.yml``, as users run it: the upgrade task with
``wait: true`` and the ``fleet_report`` callback) with power cuts and tunnel drops at random moments.

``make soak`` (= ``pytest tests/faults -k soak``); skipped unless selected with ``-k soak`` or ``-m soak``.
Settings (environment): ``HC_SOAK_INTERRUPTIONS`` (default 200), ``HC_SOAK_NODES`` (default 8),
``HC_SOAK_SEED`` (default random, printed), ``HC_SOAK_REPORT`` (JSON report, default
``tests/output/soak-report.json``).

Each cycle upgrades the fleet to a new version of the fault payload (``hctest.faults``; random script
speeds per node, and on ~20% of the nodes a verify that fails once, so that rollbacks run and get
interrupted too). While that run is going, each node is interrupted once at a
random moment: a power cut (60%) or a tunnel drop (40%), 90% of the nodes per cycle; a quarter of
the moments are drawn over the whole run (connecting, transfer, job, after it), the rest over the
node's job (0 to 20 script steps after its first script started; a job takes ~18 steps plus the
scripts' start-up). 85% of the interrupted nodes come back 0.5 to 8 s later, during the run (the
upgrade task's wait reconnects, or resumes the job the power cut killed, in the same task); the others
stay away until the run has ended (``rollout_reconnect_timeout`` 30 s: the node is unreachable). A node
is brought back only once the cycle's other interruptions have fired (or 15 s later): a power-on holds
simfleet's lock while the node boots, and a cut queued behind it would land late. Then
every node is powered on / reconnected and the same rollout is re-run (up to 3 times) until every node
reports applied or already_applied.

Counted after every cycle, per node (goal: the first three are zero):

* inconsistent nodes: a job left non-final or ``inconsistent``, a journal that fails ``journal_problems``,
  a simulated peripheral that is half-written or not at the target version, ``installed.json`` not
  matching it, or a node that did not converge within 3 recovery runs;
* double installs: an install that found the target already completely installed, or a second install
  in one job without a rollback in between;
* lost journal entries: a script start (from the scripts' own log) without its "phase started" event;
* stray files: anything a run left in the node's state dir (``StateLayout.leftovers``: a
  ``payloads/.upload-*`` of a cut transfer, a ``.partial`` store file, an atomic write's temp file, a
  staging or check-mode dir, a ``waiting/`` file), looked at after every cycle's recovery runs;
* a rollout whose every node ended applied or already_applied must exit 0 (and one with a node that did
  not must not).

Every count above fails the soak. Also reported: which phase each interruption hit, the statuses seen,
what the upgrade task's wait saw (reconnects, lost jobs resumed in the task).
"""

from __future__ import annotations

import collections
import json
import os
import platform
import random
import threading
import time
from pathlib import Path

import pytest
from hctest import faults as hf
from hctest.faults import FaultFleet
from hctest.fleet import running_fleet, skip_unless_fleet_possible

pytestmark = [pytest.mark.fleet, pytest.mark.soak]
HERE = Path(__file__).parent
REPO = HERE.parents[1]
NAME = "hcf-soak"
ROLLOUT_VARS = {"rollout_reconnect_timeout": 30, "rollout_poll_interval": 2}
"""Extra vars of every soak rollout (the rest: ``FaultFleet.start_rollout``)."""
OK = ("applied", "already_applied")


@pytest.fixture(scope="module")
def soak_fleet():
    skip_unless_fleet_possible()
    with running_fleet(int(os.environ.get("HC_SOAK_NODES") or 8), devices="none", restart_delay=1.0) as f:
        yield FaultFleet(f)


def _where(ff, vsn, version):
    """Which step of this cycle's job (``version``) the node was in: its phase, or outside the job."""
    jobs = [j for j in hf.read_jobs(ff.state_dir(vsn)).values() if j.get("name") == NAME]
    if not jobs or jobs[-1].get("version") != version:
        return "before the node's job (connecting, look-up, transfer)"
    j = jobs[-1]
    if j.get("status") in hf.TERMINAL:
        return "after the job ended"
    return f"{j.get('phase')} ({j.get('phase_state')})"


def test_soak(soak_fleet, tmp_path):
    ff = soak_fleet
    target_interruptions = int(os.environ.get("HC_SOAK_INTERRUPTIONS") or 200)
    seed = int(os.environ.get("HC_SOAK_SEED") or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    print(f"soak: HC_SOAK_SEED={seed}, {target_interruptions} interruptions, {len(ff.f.nodes)} nodes")
    vsns = [n["vsn"] for n in ff.f.nodes]
    for vsn in vsns:
        hf.seed_peripheral(ff.hcf(vsn, NAME), hf.OLD)

    # warm-up (not counted): every node applies version 2.0 once, without faults
    warm = hf.fault_payload(tmp_path, NAME, version="2.0", timeout=120)
    for attempt in range(3):
        code, out, res = ff.rollout(warm, tmp_path / f"warmup-{attempt}", ROLLOUT_VARS)
        if all((res.get(v) or {}).get("status") in OK for v in vsns):
            break
    else:
        raise AssertionError(f"the warm-up run did not reach every node:\n{out[-3000:]}")

    stats = {"cycles": 0, "interruptions": 0, "power_cuts": 0, "tunnel_drops": 0, "hit": collections.Counter(),
             "statuses_after_fault": collections.Counter(), "recovery_statuses": collections.Counter(),
             "recovery_runs": collections.Counter(), "inconsistent_nodes": 0, "double_installs": 0,
             "lost_journal_entries": 0, "stray_files": 0, "problems": [], "jobs": 0, "installs": 0,
             "rollbacks": 0, "resumed_jobs": 0, "waited_for_job": 0, "exit_code_wrong": 0,
             "back_during_run": 0, "wait_reconnects": 0, "wait_losses": 0, "wait_resumes": 0}
    started = time.monotonic()
    window = 8.0  # seconds of the faulted run in which interruptions land; adapted to the measured run time
    seen_jobs: set[str] = set()
    seen_anomalies = {v: 0 for v in vsns}
    k = 0
    while stats["interruptions"] < target_interruptions:
        k += 1
        version = f"2.{k}"
        payload = hf.fault_payload(tmp_path, NAME, version=version, timeout=120)
        for vsn in vsns:
            hcf = ff.hcf(vsn, NAME)
            (hcf / "step").write_text(f"{rng.choice((0.02, 0.1, 0.2, 0.4))}\n")
            fv = hcf / "verify-failed"
            if fv.exists():
                fv.rmdir()
            (hcf / "fail-verify-once").unlink(missing_ok=True)
            if rng.random() < 0.2:
                (hcf / "fail-verify-once").touch()
        plan = {}
        for vsn in vsns:
            if rng.random() < 0.9 and stats["interruptions"] + len(plan) < target_interruptions:
                kind = "power_cut" if rng.random() < 0.6 else "tunnel_drop"
                outage = rng.uniform(0.5, 8.0) if rng.random() < 0.85 else None  # None: back after the run
                if rng.random() < 0.25:  # any moment of the run: connecting, transfer, job, after it
                    plan[vsn] = (kind, None, rng.uniform(0.5, window), outage)
                else:  # a moment of the node's job: after its first script started
                    step = float((ff.hcf(vsn, NAME) / "step").read_text())
                    plan[vsn] = (kind, len(hf.script_runs(ff.hcf(vsn, NAME))), rng.uniform(0, 20 * step), outage)
        hits = {}
        errors = []

        def inject(vsn, kind, anchor, at, outage, t0):
            try:
                if anchor is None:
                    time.sleep(max(0.0, at - (time.monotonic() - t0)))
                else:
                    hf.wait_until(lambda: len(hf.script_runs(ff.hcf(vsn, NAME))) > anchor or proc.poll() is not None,
                                  f"{vsn}'s job to start", timeout=600)
                    time.sleep(at)
                if kind == "power_cut":
                    ff.power_cut(vsn)
                else:
                    ff.drop_tunnel(vsn)
                hits[vsn] = _where(ff, vsn, version)
                with fired:
                    fired_count[0] += 1
                    fired.notify_all()
                if outage is not None:  # the node comes back while the rollout still waits for it
                    time.sleep(outage)
                    # ... once the other cuts of the cycle have fired (up to 15 s more): a power-on holds the
                    # fleet's lock while the node boots, and a cut waiting for it would land late
                    with fired:
                        fired.wait_for(lambda: fired_count[0] >= len(plan) or proc.poll() is not None, timeout=15)
                    ff.f.cli("power-on" if kind == "power_cut" else "restore-tunnel", vsn, "--no-wait")
            except BaseException as exc:
                errors.append(f"{vsn}: {exc!r}")

        fired, fired_count = threading.Condition(), [0]
        t0 = time.monotonic()
        proc = ff.start_rollout(payload, tmp_path / f"c{k}", ROLLOUT_VARS)
        threads = [threading.Thread(target=inject, args=(v, *plan[v], t0)) for v in plan]
        for t in threads:
            t.start()
        out = proc.communicate(timeout=900)[0]
        run_time = time.monotonic() - t0
        for t in threads:
            t.join(300)
        assert not errors, errors
        window = max(3.0, min(20.0, 0.5 * window + 0.5 * run_time))
        res = hf.rollout_results(tmp_path / f"c{k}")
        if not res:
            stats["problems"].append(f"cycle {k}: the faulted run wrote no fleet report:\n{out[-3000:]}")
        _check_exit_code(stats, f"cycle {k} faulted run", proc.returncode, res, vsns, out)
        for vsn in vsns:
            r = res.get(vsn) or {}
            stats["statuses_after_fault"][r.get("status")] += 1
            wait = r.get("wait") or {}
            for key in ("reconnects", "losses", "resumes"):
                stats["wait_" + key] += int(wait.get(key) or 0)
        for vsn, (kind, _anchor, _at, outage) in plan.items():
            stats["interruptions"] += 1
            stats["power_cuts" if kind == "power_cut" else "tunnel_drops"] += 1
            stats["hit"][hits.get(vsn, "?")] += 1
            stats["back_during_run"] += outage is not None

        # recovery: power on / reconnect the nodes still away, then re-run until converged
        _bring_back(ff)
        converged = set()
        for attempt in range(1, 4):
            code, out, res = ff.rollout(payload, tmp_path / f"c{k}-r{attempt}", ROLLOUT_VARS)
            _check_exit_code(stats, f"cycle {k} recovery run {attempt}", code, res, vsns, out)
            for vsn in vsns:
                r = res.get(vsn) or {}
                if vsn in converged:
                    continue
                status = r.get("status")
                stats["recovery_statuses"][status] += 1
                if r.get("waited_for_job"):
                    stats["waited_for_job"] += 1
                if status in OK:
                    converged.add(vsn)
                    stats["recovery_runs"][attempt] += 1
            if len(converged) == len(vsns):
                break

        # checks, per node
        for vsn in vsns:
            hcf, sd = ff.hcf(vsn, NAME), ff.state_dir(vsn)
            problems = []
            if vsn not in converged:
                problems.append("did not converge in 3 recovery runs")
            jobs = {j: d for j, d in hf.read_jobs(sd).items() if d.get("name") == NAME}
            starts = hf.script_runs(hcf)
            new = [j for j in jobs if j not in seen_jobs]
            for jid in new:
                data = jobs[jid]
                if data.get("status") not in hf.TERMINAL or data.get("status") == "inconsistent":
                    problems.append(f"job {jid} is {data.get('status')}")
                problems += hf.journal_problems(data)
                lost = hf.lost_entries(data, starts)
                stats["lost_journal_entries"] += lost
                if lost:
                    problems.append(f"job {jid}: {lost} lost journal entries")
                stats["rollbacks"] += len(data.get("rollbacks") or [])
                stats["resumed_jobs"] += 1 if data.get("resumed") else 0
            stats["jobs"] += len(new)
            seen_jobs.update(new)
            doubles = hf.double_installs([s for s in starts if s[2] in new], jobs)
            found = hf.anomalies(hcf)
            fresh, seen_anomalies[vsn] = found[seen_anomalies[vsn]:], len(found)
            n_double = len(doubles) + sum(1 for a in fresh if a.startswith("double-install"))
            stats["double_installs"] += n_double
            problems += doubles + fresh
            stats["installs"] += sum(1 for s in starts if s[0] == "install" and s[2] in new)
            periph = hf.peripheral(hcf)
            if not (periph["clean"] and periph["version"] == version):
                problems.append(f"peripheral {periph['raw']} is not completely at {version}")
            installed = json.loads((sd / "installed.json").read_text()).get(NAME, {}) \
                if (sd / "installed.json").exists() else {}
            if installed.get("version") != version:
                problems.append(f"installed.json says {installed.get('version')}, expected {version}")
            stray = sorted(set(hf.leftovers(sd)) | set(hf.stray_files(sd)))
            stats["stray_files"] += len(stray)
            if stray:
                stats["problems"].append(f"cycle {k} {vsn}: stray files {stray}")
            if problems:
                stats["inconsistent_nodes"] += 1
                stats["problems"].append(f"cycle {k} {vsn}: {problems}")
        stats["cycles"] = k
        print(f"soak cycle {k}: {stats['interruptions']} interruptions, run {run_time:.1f} s, "
              f"inconsistent {stats['inconsistent_nodes']}, double {stats['double_installs']}, "
              f"lost {stats['lost_journal_entries']}, stray {stats['stray_files']}, "
              f"exit code wrong {stats['exit_code_wrong']}", flush=True)

    elapsed = time.monotonic() - started
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": seed, "nodes": len(vsns),
        "seconds": round(elapsed, 1),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "loadavg_end": os.getloadavg(),
        **{k: (dict(v) if isinstance(v, collections.Counter) else v) for k, v in stats.items()},
    }
    out_path = Path(os.environ.get("HC_SOAK_REPORT") or REPO / "tests" / "output" / "soak-report.json")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps(report, indent=1, default=str))
    assert stats["inconsistent_nodes"] == 0, stats["problems"]
    assert stats["double_installs"] == 0, stats["problems"]
    assert stats["lost_journal_entries"] == 0, stats["problems"]
    assert stats["stray_files"] == 0, stats["problems"]
    assert stats["exit_code_wrong"] == 0, stats["problems"]


def _bring_back(ff):
    """Power on every node that is off and restore every dropped tunnel link; wait for every tunnel."""
    for n in ff.f.status()["nodes"]:
        if n["power"] == "off":
            ff.f.cli("power-on", n["vsn"], "--no-wait")
        if n["link"] == "down":
            ff.f.cli("restore-tunnel", n["vsn"], "--no-wait")
    try:
        hf.wait_until(lambda: all(n["tunnel"] == "up" for n in ff.f.status()["nodes"]), "every tunnel back",
                      timeout=180, interval=0.5)
    except AssertionError as exc:
        nodes = [{k: n[k] for k in ("vsn", "power", "link", "tunnel")} for n in ff.f.status()["nodes"]]
        raise AssertionError(f"{exc}: {nodes}") from None


def _check_exit_code(stats, what, code, res, vsns, out):
    """A rollout in which every node applied exits 0; one in which a node did not exits non-zero."""
    all_ok = bool(res) and all((res.get(v) or {}).get("status") in OK for v in vsns)
    if all_ok != (code == 0):
        stats["exit_code_wrong"] += 1
        statuses = {v: (res.get(v) or {}).get("status") for v in vsns}
        stats["problems"].append(f"{what}: ansible-playbook exited {code} with {statuses}:\n{out[-2000:]}")
