# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The phases of an upgrade job (runs on nodes, Python 3.6+, stdlib only): extract, state check, backup,
install, verify; each script run with its retries, environment, logs and system-journal copy; and the
check-mode run (the state check alone, in a temporary job dir).

Part of :class:`engine.Engine` (a mixin over the run's state).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import tempfile
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import backup
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

JOURNAL_TAIL_LIMIT = 8 * 1024
RESTART_PHASES = (None, "extract", "state_check", "backup")
"""Phases before any change: a job interrupted in one of them is started over (or closed as failed)."""


def _read_first_line(path):
    try:
        with open(path) as handle:
            return handle.readline().strip()
    except (IOError, OSError, UnicodeDecodeError):
        return ""


def public_phase(result, limit):
    """The part of a phase result that goes into the module result and the journal."""
    if result is None:
        return None
    out = {}
    for key in ("rc", "attempts", "duration", "started", "finished", "started_epoch", "finished_epoch", "timed_out",
                "killed_with", "script", "stdout_path", "stderr_path", "outcome"):
        if key in result:
            out[key] = result[key]
    out["stdout_tail"] = (result.get("stdout_tail") or "")[-limit:]
    out["stderr_tail"] = (result.get("stderr_tail") or "")[-limit:]
    return out


def rc_text(res):
    """How a script run ended, for messages: "exited 3" or "timed out (killed with SIGKILL)"."""
    if res.get("timed_out"):
        return "timed out (killed with %s)" % res.get("killed_with")
    return "exited %s" % res.get("rc")


class PhasesMixin(object):
    """Running an upgrade job's phases."""

    def _check_run(self, store_path):
        peripheral = self.manifest["peripheral"]
        blocking = self._blocking_jobs(peripheral) if self.state.exists() else []
        if blocking:
            return self._blocked_result(blocking)
        parent = self.state.jobs_dir if os.path.isdir(self.state.jobs_dir) else None
        tmp = tempfile.mkdtemp(prefix=self.state.check_dir_prefix(), dir=parent)
        try:
            job = jr.Journal(tmp, {"job_id": "check-mode", "status": "running", "phases": {}, "events": []})
            job.save = lambda: None  # check mode writes nothing outside its temporary dir
            os.mkdir(self.state.job_logs_dir(tmp), 0o700)
            try:
                self.pl.extract_archive(store_path, self.state.job_payload_dir(tmp),
                                        legacy_state_check=self.p.get("legacy_state_check", "readme"))
            except self.pl.PayloadError as exc:
                return {"failed": True, "status": "failed", "msg": str(exc), "payload": self._payload_info()}
            outcome, phase = self._state_check(job)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        status = {"needed": "needed", "already_applied": "already_applied", "retry_later": "retry_later"}.get(outcome, "failed")
        installed = self.state.installed().get(peripheral) if self.state.exists() else None
        msgs = {
            "needed": "check mode: the state check says the upgrade is needed; a real run would apply %s %s",
            "already_applied": "check mode: %s %s is already applied",
            "retry_later": "check mode: the state check asked to retry later (%s %s)",
            "failed": "check mode: the state check failed (precondition not met) for %s %s",
        }
        return {"changed": outcome == "needed", "failed": status == "failed", "status": status,
                "msg": msgs[status] % (self.manifest["name"], self.manifest["version"]),
                "phases": {"state_check": public_phase(phase, self.output_limit)},
                "payload": self._payload_info(), "peripheral": peripheral, "installed": installed,
                "installed_version": (installed or {}).get("version"), "job_id": None, "journal": None,
                "resumed": False}

    def _ensure_extracted(self, job, store_path):
        dest = self.state.job_payload_dir(job.job_dir)
        if os.path.isdir(dest):
            return True
        if not os.path.isfile(store_path):
            job.finish("failed", "the payload of job %s (%s) is no longer in the store; cannot resume it"
                       % (job.job_id, store_path), changed=False)
            return False
        if job.data.get("phase") in RESTART_PHASES:
            job.phase_started("extract")
        else:
            job.event("re-extract")
        try:
            self.pl.extract_archive(store_path, dest, legacy_state_check=self.p.get("legacy_state_check", "readme"))
        except self.pl.PayloadError as exc:
            self._end_step(job, "extract", 1)
            job.finish("failed", str(exc), changed=False, payload_error={"member": exc.member, "reason": exc.reason})
            return False
        self._end_step(job, "extract", 0)
        return True

    @staticmethod
    def _end_step(job, phase, rc):
        """Journal the end of a step that has no script (extract, backup) when it is the open phase:
        every "phase_started" event gets its "phase_finished"."""
        if job.data.get("phase") == phase and job.data.get("phase_state") == "started":
            job.data["phase_state"] = "finished"
            job.event("phase_finished", phase=phase, rc=rc)

    def _execute(self, job, store_path):
        jr.makedirs_private(self.state.job_logs_dir(job.job_dir))
        if not self._ensure_extracted(job, store_path):
            return
        outcome, sc = self._state_check(job)
        if outcome == "already_applied":
            self._record_installed(job)
            job.finish("already_applied", "%s %s is already applied (state check rc %s); nothing else ran"
                       % (job.data["name"], job.data["version"], sc["rc"]), changed=False)
            return
        if outcome == "retry_later":
            job.finish("retry_later", "the state check asked to retry later (rc %s); nothing else ran. Re-run the "
                       "task later." % sc["rc"], changed=False)
            return
        if outcome != "needed":
            job.finish("failed", "precondition failed: the state check %s after %d attempt(s); nothing else ran"
                       % (rc_text(sc), sc["attempts"]), changed=False)
            return
        job.phase_started("backup", paths=self.manifest.get("backup_paths", []))
        try:
            backup.snapshot(self.manifest.get("backup_paths") or [], self.state.job_backup_dir(job.job_dir))
        except (IOError, OSError) as exc:
            self._end_step(job, "backup", 1)
            job.finish("failed", "could not snapshot backup_paths before install (%s); nothing was installed" % exc,
                       changed=False)
            return
        job.phase_finished("backup", {"rc": 0})
        for phase in ("install", "verify"):
            res = self._run_phase(job, phase)
            if res["rc"] != 0:
                ok, status = self._rollback(job, phase)
                job.finish(status, self._rollback_msg(job, phase, status), changed=True)
                return
        self._succeed(job, "%s %s applied" % (job.data["name"], job.data["version"]))

    def _succeed(self, job, msg):
        self._record_installed(job)
        job.finish("applied", msg, changed=True)

    def _record_installed(self, job):
        self.state.set_installed(job.data["peripheral"], {
            "version": job.data["version"], "name": job.data["name"], "payload_sha256": job.data["payload_sha256"],
            "job_id": job.job_id, "time": jr.now_iso()})

    def _state_check(self, job):
        codes = self.manifest["state_check_codes"]

        def classify(res):
            if res.get("timed_out"):
                return None
            rc = res["rc"]
            if rc in codes.get("needed", [0]):
                return "needed"
            if rc in codes.get("already_applied", []):
                return "already_applied"
            if rc in codes.get("retry_later", []):
                return "retry_later"
            return None

        res = self._run_phase(job, "state_check", classify=classify)
        return res.get("outcome") or "failed", res

    def _env(self, job, phase, attempt):
        env = dict(os.environ)
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        for key in list(env):
            if key.startswith("HC_"):
                del env[key]
        env.update({
            "HC_NODE_ID": _read_first_line(self.p.get("node_id_file") or "/etc/waggle/node-id"),
            "HC_VSN": _read_first_line(self.p.get("vsn_file") or "/etc/waggle/vsn"),
            "HC_JOB_ID": job.job_id,
            "HC_PAYLOAD_DIR": self.state.job_payload_dir(job.job_dir),
            "HC_PHASE": phase,
            "HC_ATTEMPT": str(attempt),
            "HC_STATE_DIR": self.state.root,
            "HC_PAYLOAD_NAME": self.manifest["name"],
            "HC_PAYLOAD_VERSION": self.manifest["version"],
            "HC_PERIPHERAL": self.manifest["peripheral"],
            # a rollback job restores (and its script sees) the snapshot of the job it undoes
            "HC_BACKUP_DIR": self.state.job_backup_dir(
                self.state.job_dir(job.data["rollback_of"]) if job.data.get("rollback_of") else job.job_dir),
            "HC_RESUMED": "1" if job.data.get("resumed") else "0",
        })
        env.update(self.param_env)
        return env

    def _run_phase(self, job, phase, classify=None):
        """Run one phase with its retries. ``classify(res)`` returns a final outcome or None (retry);
        without it rc 0 is success. Returns the phase result (also stored in the journal)."""
        spec = self.manifest["phases"].get(phase)
        payload_dir = self.state.job_payload_dir(job.job_dir)
        script = os.path.join(payload_dir, spec["script"])
        attempts = int(spec.get("retries", 0)) + 1
        log_dir = self.state.job_logs_dir(job.job_dir)
        jr.makedirs_private(log_dir)
        total = 0.0
        res = {}
        first_start = time.time()
        for attempt in range(1, attempts + 1):
            # The log name's run number is journaled with "phase started": a power cut between the
            # script's start and the next journal write must not make the resumed run reuse (and
            # overwrite) the interrupted attempt's logs.
            job.data["runs"] = job.data.get("runs", 0) + 1
            job.phase_started(phase, attempt=attempt)

            def on_start(pid, _job=job):
                ident = jr.process_identity(pid)
                ident["pgid"] = pid
                _job.data["child"] = ident
                _job.save()

            res = self._run_one(spec.get("interpreter"), script, payload_dir, self._env(job, phase, attempt), spec,
                                log_dir, "%03d-%s-%d" % (job.data["runs"], phase, attempt), on_start)
            job.data["child"] = None
            total += res["duration"]
            res["attempts"] = attempt
            res["script"] = spec["script"]
            self._to_system_journal(job, phase, attempt, res)
            if classify is not None:
                outcome = classify(res)
                if outcome is not None:
                    res["outcome"] = outcome
                    if outcome in ("already_applied", "retry_later", "needed"):
                        break
            elif res["rc"] == 0 and not res["timed_out"]:
                break
            if attempt < attempts:
                job.event("retry", phase=phase, attempt=attempt, rc=res["rc"], timed_out=res["timed_out"], save=False)
        res["duration"] = round(total, 3)
        last_end = time.time()
        res.update(started=jr.iso_time(first_start), finished=jr.iso_time(last_end),
                   started_epoch=round(first_start, 3), finished_epoch=round(last_end, 3))
        if res.get("timed_out") and res["rc"] == 0:
            res["rc"] = -15
        job.phase_finished(phase, public_phase(res, self.journal_limit))
        return res

    def _run_one(self, interpreter, script, cwd, env, spec, log_dir, name, on_start):
        if interpreter:
            # The payload says how to run it (legacy scripts without exec bit or #! line).
            wrapper = [interpreter, script]
        else:
            wrapper = None
        return runner.run_script(script, cwd, env, int(spec.get("timeout", 3600)), int(self.p.get("kill_grace", 10)),
                                 log_dir, name, self.output_limit, on_start=on_start, argv=wrapper)

    def _to_system_journal(self, job, phase, attempt, res):
        if not os.path.exists(runner.JOURNAL_SOCKET):
            return
        lines = []
        extra = {"HC_JOB_ID": job.job_id, "HC_PHASE": phase, "HC_ATTEMPT": attempt}
        for stream in ("stdout", "stderr"):
            for line in (res.get("%s_tail" % stream) or "").splitlines():
                lines.append((dict(extra, HC_STREAM=stream), line))
        timed_out = " (timed out)" if res.get("timed_out") else ""
        lines.append((extra, "%s %s attempt %d: rc %s%s" % (job.job_id, phase, attempt, res["rc"], timed_out)))
        runner.send_to_system_journal("honeycomb", lines)
