"""Checks and payloads of the fault-injection suite (tests/faults/, docs/reliability.md).

``journal_problems(data)`` parses one job journal (``jobs/<id>/journal.json``) and lists every way it is
inconsistent: a non-final status, a phase that started and neither ended nor was resolved by the resume
rule (a ``resumed`` event), a final status its phases do not support, a resume count that does not
match its ``resumed`` events. An empty list means consistent.

``fault_payload(tmp, name)`` builds the payload every fault test uses. Its scripts keep a simulated
peripheral in ``/etc/waggle/hcf/<name>/periph/`` (``part1``, ``part2``, ``version``, ``complete``; install
writes them in steps, ``complete`` last), count their own runs in ``/etc/waggle/hcf/<name>/runs.log``
and report anomalies in ``anomalies``: ``double-install`` (install found the target already complete:
a phase that must not repeat ran again), ``dirty-start`` (install found a half-written peripheral: a
rollback that was due did not restore the backup), ``rollback-saw-dirty`` (the rollback script ran before
the snapshot was restored). Per-node files in the same directory inject the fault:

=================== ===========================================================================
``fault-phase``     the phase (``state_check``, ``install``, ``verify``, ``rollback``) that fires once
``fault-mode``      ``mark``: write ``inside`` and go on slowly (the test cuts power / SIGTERMs at a
                    random moment); ``wait``: write ``inside`` and wait for ``go`` (tunnel drop, disk
                    full); ``hang``: write ``inside`` and hang past the phase timeout
``fail-verify-once`` make the first verify fail (to get a rollback to interrupt)
``step``            seconds per install/rollback step (default 0.05)
``fault-step``      seconds per step from the fault on, in the phase where it fired (only that phase is slow)
=================== ===========================================================================

/etc/waggle is the node's persistent disk; the host sees it as ``<fleet>/nodes/<VSN>/etc-waggle``.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hctest.payloads import build_script_payload

TERMINAL = {"applied", "already_applied", "retry_later", "failed", "rolled_back", "rollback_failed", "inconsistent"}
OLD, NEW = "1.0", "2.0"
PHASES = ("state_check", "install", "verify", "rollback")

_PROLOGUE = r'''#!/bin/sh
D=/etc/waggle/hcf/$HC_PAYLOAD_NAME
R=$D/periph
P=$HC_PHASE
T=$HC_PAYLOAD_VERSION
mkdir -p "$D"
echo "start $P $HC_ATTEMPT $HC_JOB_ID $HC_RESUMED" >> "$D/runs.log"
echo "start $P $HC_JOB_ID" >> /etc/waggle/hcf/all.log
trap 'echo "end $P $HC_JOB_ID" >> /etc/waggle/hcf/all.log' EXIT
STEP=$(cat "$D/step" 2>/dev/null || echo 0.05)
get() { cat "$R/$1" 2>/dev/null; }
anomaly() { echo "$1 $P $HC_JOB_ID" >> "$D/anomalies"; }
clean_at() {  # clean_at VERSION: the peripheral is completely at VERSION
    [ "$(get complete)" = "$1" ] && [ "$(get version)" = "$1" ] && [ "$(get part1)" = "p1-$1" ] && [ "$(get part2)" = "p2-$1" ]
}
fault_point() {  # fires once per node, in the configured phase
    [ "$(cat "$D/fault-phase" 2>/dev/null)" = "$P" ] || return 0
    mkdir "$D/fired" 2>/dev/null || return 0
    if [ -e "$D/fault-step" ]; then STEP=$(cat "$D/fault-step"); fi
    echo "$1" > "$D/inside.tmp" && mv "$D/inside.tmp" "$D/inside"
    case "$(cat "$D/fault-mode" 2>/dev/null)" in
        hang) while :; do sleep 1; done ;;
        wait) while [ ! -e "$D/go" ]; do sleep 0.05; done ;;
    esac
}
'''

SCRIPTS = {
    "hc_state_check.sh": _PROLOGUE + r'''fault_point check
for i in 1 2 3 4 5 6; do sleep "$STEP"; done
clean_at "$T" && exit 100
exit 0
''',
    "hc_install_upgrade.sh": _PROLOGUE + r'''if clean_at "$T"; then anomaly double-install
elif ! clean_at "$(get version)"; then anomaly dirty-start; fi
fault_point install
mkdir -p "$R"
rm -f "$R/complete"
sleep "$STEP"; echo "p1-$T" > "$R/part1"
sleep "$STEP"; sleep "$STEP"; echo "p2-$T" > "$R/part2"
sleep "$STEP"; sleep "$STEP"; echo "$T" > "$R/version"
sleep "$STEP"; echo "$T" > "$R/complete"
''',
    "hc_verify_upgrade.sh": _PROLOGUE + r'''fault_point verify
for i in 1 2 3 4 5 6; do sleep "$STEP"; done
if [ -e "$D/fail-verify-once" ] && mkdir "$D/verify-failed" 2>/dev/null; then exit 1; fi
clean_at "$T"
''',
    "hc_rollback_upgrade.sh": _PROLOGUE + r'''clean_at "$(get version)" || anomaly rollback-saw-dirty
fault_point rollback
for i in 1 2 3 4 5 6; do sleep "$STEP"; done
exit 0
''',
}


def fault_payload(tmp: Path, name: str, version: str = NEW, timeout: int = 60, step: float | None = None) -> Path:
    """Build the fault payload ``<tmp>/<name>-<version>.tar.gz`` with honeycomb-build (peripheral = name,
    backup_paths = the simulated peripheral, every phase ``timeout`` seconds, no retries)."""
    return build_script_payload(Path(tmp) / f"{name}-{version}.tar.gz", SCRIPTS, name=name, version=version,
                                description="fault-injection payload", shebang="",
                                manifest_extra=f"backup_paths: [/etc/waggle/hcf/{name}/periph]\n",
                                timeouts=dict.fromkeys(PHASES, timeout))


def seed_peripheral(hcf_dir: Path, version: str = OLD) -> None:
    """Put the simulated peripheral completely at ``version`` (as an earlier upgrade left it)."""
    periph = hcf_dir / "periph"
    periph.mkdir(parents=True, exist_ok=True)
    for fname, value in (("part1", f"p1-{version}"), ("part2", f"p2-{version}"), ("version", version),
                         ("complete", version)):
        (periph / fname).write_text(value + "\n")


def peripheral(hcf_dir: Path) -> dict:
    """{"clean": bool, "version": str|None} of the simulated peripheral."""
    periph = hcf_dir / "periph"

    def get(name):
        p = periph / name
        return p.read_text().strip() if p.exists() else None
    v = get("version")
    clean = v is not None and get("complete") == v and get("part1") == f"p1-{v}" and get("part2") == f"p2-{v}"
    raw = {n: get(n) for n in ("part1", "part2", "version", "complete")}
    return {"clean": clean, "version": v if clean else None, "raw": raw}


def script_runs(hcf_dir: Path) -> list[tuple[str, int, str, str]]:
    """(phase, attempt, job_id, resumed) of every script start, in order."""
    p = hcf_dir / "runs.log"
    out = []
    for line in (p.read_text().splitlines() if p.exists() else []):
        f = line.split()
        if len(f) >= 4 and f[0] == "start":
            out.append((f[1], int(f[2]), f[3], f[4] if len(f) > 4 else ""))
    return out


def node_script_log(hcf_root: Path) -> list[tuple[str, str, str]]:
    """("start"|"end", phase, job id) of every script of every fault payload on the node, in order
    (``<etc-waggle>/hcf/all.log``)."""
    p = hcf_root / "all.log"
    return [tuple(line.split()[:3]) for line in (p.read_text().splitlines() if p.exists() else [])
            if len(line.split()) >= 3]


def anomalies(hcf_dir: Path) -> list[str]:
    p = hcf_dir / "anomalies"
    return p.read_text().splitlines() if p.exists() else []


def journal_problems(data: dict) -> list[str]:
    """Everything inconsistent about one job journal (see the module docstring)."""
    problems = []
    jid = data.get("job_id", "?")
    status = data.get("status")
    if status not in TERMINAL:
        problems.append(f"{jid}: status {status!r} is not final")
    events = data.get("events") or []
    if not events or events[0].get("event") != "created":
        problems.append(f"{jid}: first event is not 'created'")
    truncated = len(events) >= 200
    open_phase = None
    resumed_events = 0
    finished = None
    for i, ev in enumerate(events):
        name = ev.get("event")
        if name == "phase_started":
            ph = ev.get("phase")
            if open_phase is not None and open_phase != ph:
                problems.append(f"{jid}: event {i}: {ph} started while {open_phase} had not ended")
            open_phase = ph
        elif name == "phase_finished":
            if open_phase != ev.get("phase"):
                problems.append(f"{jid}: event {i}: {ev.get('phase')} finished but {open_phase} was open")
            open_phase = None
        elif name == "rollback_finished":
            if open_phase not in (None, "rollback"):
                problems.append(f"{jid}: event {i}: rollback finished while {open_phase} was open")
            open_phase = None
        elif name == "resumed":
            resumed_events += 1
            if open_phase is not None and ev.get("from_phase") != open_phase:
                problems.append(f"{jid}: event {i}: resumed from {ev.get('from_phase')} but {open_phase} was open")
            open_phase = None  # resolved by the resume rule
        elif name == "finished":
            finished = ev.get("status")
            if open_phase is not None and ev.get("status") != "inconsistent":
                problems.append(f"{jid}: finished {ev.get('status')} with phase {open_phase} still open")
    if finished != status and status in TERMINAL:
        problems.append(f"{jid}: last 'finished' event says {finished}, status says {status}")
    if not truncated and resumed_events != data.get("resumes", 0) and status != "inconsistent":
        problems.append(f"{jid}: resumes={data.get('resumes')} but {resumed_events} 'resumed' events")
    phases = data.get("phases") or {}
    if status == "applied" and (phases.get("verify") or {}).get("rc") != 0:
        problems.append(f"{jid}: applied without a passing verify")
    if status == "already_applied" and (phases.get("state_check") or {}).get("rc") is None:
        problems.append(f"{jid}: already_applied without a state check")
    if status in ("rolled_back", "rollback_failed"):
        ok = (data.get("rollback") or {}).get("ok")
        if ok is not (status == "rolled_back"):
            problems.append(f"{jid}: status {status} but rollback.ok={ok}")
    return problems


def lost_entries(data: dict, starts: list[tuple[str, int, str, str]]) -> int:
    """Script starts of this job (from the scripts' own log) with no 'phase_started' journal event
    for that phase and attempt: journal entries that were lost."""
    jid = data.get("job_id")
    want: dict[tuple[str, int], int] = {}
    for ph, att, job, _res in starts:
        if job == jid:
            want[(ph, att)] = want.get((ph, att), 0) + 1
    have: dict[tuple[str, int], int] = {}
    for ev in data.get("events") or []:
        if ev.get("event") == "phase_started" and ev.get("attempt") is not None:
            key = (ev.get("phase"), int(ev["attempt"]))
            have[key] = have.get(key, 0) + 1
    if len(data.get("events") or []) >= 200:
        return 0  # bounded event list: cannot tell
    return sum(max(0, n - have.get(k, 0)) for k, n in want.items())


def double_installs(starts: list[tuple[str, int, str, str]], jobs: dict[str, dict]) -> list[str]:
    """Install runs of one job with no rollback run in between (the resume rule only re-installs after
    a rollback), and installs of a job that had already applied."""
    out = []
    by_job: dict[str, list[str]] = {}
    for ph, _att, job, _res in starts:
        by_job.setdefault(job, []).append(ph)
    for job, seq in by_job.items():
        installs_since_rollback = 0
        for ph in seq:
            if ph == "install":
                installs_since_rollback += 1
                if installs_since_rollback > 1:
                    out.append(f"{job}: install ran again without a rollback in between ({' '.join(seq)})")
            elif ph == "rollback":
                installs_since_rollback = 0
    return out


def read_jobs(state_dir: Path) -> dict[str, dict]:
    """{job_id: journal} of a node's state dir as seen from the host."""
    out = {}
    jobs = state_dir / "jobs"
    for d in sorted(jobs.iterdir()) if jobs.is_dir() else []:
        p = d / "journal.json"
        if p.exists():
            try:
                out[d.name] = json.loads(p.read_text())
            except ValueError:
                out[d.name] = {"job_id": d.name, "status": "<unreadable journal>"}
    return out


def stray_files(state_dir: Path) -> list[str]:
    """Temporary files a crash may leave: atomic-write temps, partial store entries, staging dirs."""
    out = []
    for p in state_dir.rglob("*") if state_dir.is_dir() else []:
        n = p.name
        if ".tmp." in n or ".partial." in n or n.startswith(".upload-") or ".staging-" in n or n.endswith(".hc-restore"):
            out.append(str(p.relative_to(state_dir)))
    return sorted(out)


def seed_fault_nodes(ff, nodes: dict, name: str, mode: str, step: float | None = None) -> None:
    """Before a fault scenario of payload ``name``: each node of ``nodes`` ({phase: node}) at the old version,
    told which phase the fault is for and how it fires (``mode``; ``step``: the faulted phase's script step),
    and the rollback node's first verify set to fail once, so that a rollback runs."""
    for phase, vsn in nodes.items():
        hcf = ff.hcf(vsn, name)
        seed_peripheral(hcf, OLD)
        (hcf / "fault-phase").write_text(phase + "\n")
        (hcf / "fault-mode").write_text(mode + "\n")
        if step is not None:
            (hcf / "fault-step").write_text(f"{step}\n")
        if phase == "rollback":
            (hcf / "fail-verify-once").touch()


def record_run(sc: dict, ff, nodes: dict, name: str, before: dict) -> None:
    """After one run of a fault scenario: each node's simulated peripheral (``sc["periph"]``) and the scripts
    the run started on it (``sc["new_runs"]``, phase names; ``before``: {phase: script runs before it})."""
    sc["periph"].append({p: peripheral(ff.hcf(v, name)) for p, v in nodes.items()})
    sc.setdefault("new_runs", []).append(
        {p: [r[0] for r in script_runs(ff.hcf(v, name))[before[p]:]] for p, v in nodes.items()})


def check_converged(state_dir: Path, hcf_dir: Path, name: str, installs_want) -> None:
    """What every fault scenario asserts of its node at the end (tests/faults/test_matrix.py and
    test_matrix_direct.py): every journal of payload ``name`` consistent, no script start without its journal
    entry, no stray file in the state dir, no anomaly the scripts saw, no double install, the expected number
    of installs (``installs_want``: a number, or ``"1+rollbacks"``: one plus the rollbacks of the first job),
    the new version installed and the lock released."""
    jobs = {k: j for k, j in read_jobs(state_dir).items() if j.get("name") == name}
    starts = script_runs(hcf_dir)
    for job in jobs.values():
        assert journal_problems(job) == [], job
        assert lost_entries(job, starts) == 0, (job["events"], starts)
    assert stray_files(state_dir) == []
    assert anomalies(hcf_dir) == [], anomalies(hcf_dir)
    assert double_installs(starts, jobs) == []
    installs = sum(1 for s in starts if s[0] == "install")
    want = installs_want
    if want == "1+rollbacks":
        first_job = starts[0][2]
        want = 1 + sum(1 for s in starts if s[0] == "rollback" and s[2] == first_job)
        assert want <= 2
    assert installs == want, (installs, starts)
    assert json.loads((state_dir / "installed.json").read_text())[name]["version"] == NEW
    lock = json.loads((state_dir / "lock.json").read_text())
    assert "released" in lock, lock


def wait_until(predicate, what: str, timeout: float = 120, interval: float = 0.05):
    """Poll ``predicate`` until it returns something true (returned); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def leftovers(state_dir: Path) -> list[str]:
    """What a run left behind in a node's state dir (seen from the host) while no run is going on: every
    temporary name the collection's state dir layout knows (``StateLayout.leftovers``: ``payloads/.upload-*``,
    ``.partial`` store files, atomic-write temps, staging and check-mode dirs, ``waiting/`` files)."""
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import StateLayout
    return StateLayout(str(state_dir)).leftovers()


ROLLOUT_PLAYBOOK = Path(__file__).resolve().parents[3] / "playbooks" / "upgrade.yml"
ROLLOUT_UPGRADE_TASK = "Upgrade the node (detached job, waited for through dropped tunnels and power cuts)"
"""The name of upgrade.yml's upgrade task (its results are read from the hctest_results lines)."""


def rollout_results(out_dir: Path) -> dict[str, dict]:
    """{node: result} of one ``FaultFleet.start_rollout`` run: the upgrade task's result (``wait``,
    ``job_id`` ...) with ``status``, ``outcome`` and ``unreachable`` as the fleet report (the
    ``fleet_report`` callback's report.json, what users read) says; a node the report does not list
    (no report: the run died) has no entry."""
    tasks = {}
    results = out_dir / "results.jsonl"
    for line in results.read_text().splitlines() if results.exists() else []:
        rec = json.loads(line)
        if rec.get("task") == ROLLOUT_UPGRADE_TASK:
            tasks[rec["host"]] = dict(rec["result"], task_state=rec["status"])
    report = out_dir / "reports" / "latest" / "report.json"
    if not report.exists():
        return {}
    out = {}
    for node in json.loads(report.read_text()).get("nodes", []):
        r = dict(tasks.get(node["name"]) or {})
        r.update(status=node.get("status"), outcome=node.get("outcome"), unreachable=bool(node.get("unreachable")))
        out[node["name"]] = r
    return out


STATE_TMPFS_SIZE = "8m"
PLAYBOOKS = Path(__file__).resolve().parents[2] / "faults" / "playbooks"
REPO = Path(__file__).resolve().parents[3]


class FaultFleet:
    """A running fleet plus the fault tools of this suite."""

    def __init__(self, fleet):
        self.f = fleet
        self.mounted: list[Path] = []

    # node files as seen from the host ----------------------------------------------------------
    def node_dir(self, vsn: str) -> Path:
        return self.f.dir / "nodes" / vsn

    def state_dir(self, vsn: str) -> Path:
        return self.node_dir(vsn) / "honeycomb"

    def hcf(self, vsn: str, name: str) -> Path:
        return self.node_dir(vsn) / "etc-waggle" / "hcf" / name

    # playbook runs -------------------------------------------------------------------------------
    def start_run(self, payload: Path, report: Path, *extra: str, target: str | None = None) -> subprocess.Popen:
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.f.inventory),
                str(PLAYBOOKS / "upgrade_report.yml"), "-e", f"payload={payload}", "-e", f"report={report}",
                *extra]
        if target:
            argv += ["-e", f"target={target}"]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.f.ansible_env(), cwd=str(REPO))

    def start_rollout(self, payload: Path, out_dir: Path, extra: dict | None = None,
                      target: str | None = None) -> subprocess.Popen:
        """``playbooks/upgrade.yml`` as users run it (the upgrade task with ``wait: true``, the
        ``fleet_report`` callback) in one batch, without the sanity gate and post-check (the nodes have no
        Waggle environment) and with thresholds that never stop it; ``extra`` overrides extra vars.
        Every task result goes to ``<out_dir>/results.jsonl``, the fleet report to ``<out_dir>/reports``
        (read both with ``rollout_results``)."""
        from hctest.playbook import CALLBACKS
        out_dir.mkdir(parents=True, exist_ok=True)
        ev = {"payload": str(payload), "rollout_batches": ["100%"], "rollout_sanity_gate": False,
              "rollout_post_check": False, "max_fail_percentage": 100, "max_unreachable_percentage": 100,
              "rollout_poll_interval": 2}
        ev.update(extra or {})
        if target:
            ev["rollout_hosts"] = target
        env = self.f.ansible_env()
        env["ANSIBLE_CALLBACK_PLUGINS"] = str(CALLBACKS)
        env["ANSIBLE_CALLBACKS_ENABLED"] = "hctest_results,waggle.honeycomb.fleet_report"
        env["HCTEST_RESULTS_FILE"] = str(out_dir / "results.jsonl")
        env["HONEYCOMB_FLEET_REPORT_DIR"] = str(out_dir / "reports")
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.f.inventory),
                str(ROLLOUT_PLAYBOOK), "-e", json.dumps(ev)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=str(REPO))

    def rollout(self, payload: Path, out_dir: Path, extra: dict | None = None, target: str | None = None,
                timeout: float = 900) -> tuple[int, str, dict]:
        """``start_rollout`` to its end: (exit code, output, ``rollout_results``)."""
        p = self.start_rollout(payload, out_dir, extra, target=target)
        try:
            out = p.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0]
            raise AssertionError(f"ansible-playbook did not finish in {timeout} s:\n{out[-5000:]}")
        return p.returncode, out, rollout_results(out_dir)

    def run(self, payload: Path, report: Path, *extra: str, target: str | None = None,
            timeout: float = 600) -> tuple[int, str, dict]:
        p = self.start_run(payload, report, *extra, target=target)
        try:
            out = p.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0]
            raise AssertionError(f"ansible-playbook did not finish in {timeout} s:\n{out[-5000:]}")
        res = json.loads(report.read_text()) if report.exists() else {}
        return p.returncode, out, res

    # faults ----------------------------------------------------------------------------------------
    def power_cut(self, vsn: str) -> None:
        self.f.power_cut(vsn)

    def power_on(self, vsn: str) -> None:
        self.f.power_on(vsn)

    def drop_tunnel(self, vsn: str) -> None:
        self.f.drop_tunnel(vsn)

    def restore_tunnel(self, vsn: str) -> None:
        self.f.restore_tunnel(vsn)

    def sigterm_module(self, vsn: str) -> int:
        """SIGTERM to the upgrade module that holds the node's lock (its pid in the node's pid namespace,
        from lock.json), sent on the node through its tunnel as an operator would."""
        info = json.loads((self.state_dir(vsn) / "lock.json").read_text())
        pid = int(info["pid"])
        self.f.ssh(vsn, f"kill -TERM {pid}")
        return pid

    def fill_state_dir(self, vsn: str) -> int:
        """Fill the node's state-dir tmpfs completely (a ballast file); returns the bytes written."""
        ballast = self.state_dir(vsn) / ".ballast"
        written = 0
        fd = os.open(str(ballast), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 1 << 16, 4096, 1):
                data = b"\0" * chunk
                while True:
                    try:
                        written += os.write(fd, data)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return written

    def free_state_dir(self, vsn: str) -> None:
        (self.state_dir(vsn) / ".ballast").unlink(missing_ok=True)

    # state-dir tmpfs -------------------------------------------------------------------------------
    def mount_state_tmpfs(self, vsns: list[str]) -> None:
        """Power the nodes off, put a tmpfs (with the old content) on their state dirs, power them on."""
        for vsn in vsns:
            self.f.power_cut(vsn)
        for vsn in vsns:
            d = self.state_dir(vsn)
            keep = d.parent / "honeycomb.disk"
            d.rename(keep)
            d.mkdir(mode=0o700)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={STATE_TMPFS_SIZE},mode=0700", "tmpfs", str(d)],
                           check=True)
            self.mounted.append(d)
            subprocess.run(["cp", "-a", f"{keep}/.", str(d)], check=True)
        for vsn in vsns:
            self.f.power_on(vsn)

    def unmount_all(self) -> None:
        for d in self.mounted:
            subprocess.run(["umount", "-l", str(d)], check=False)
        self.mounted = []
