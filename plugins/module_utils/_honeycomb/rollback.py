# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollback in the upgrade engine (runs on nodes, Python 3.6+, stdlib only): undoing a failed install or
verify (snapshot restore, hc_rollback_upgrade.sh, restart_units), and the explicit rollback of a
succeeded job (``state: rolled_back``), journaled as a job of kind ``rollback``.

Part of :class:`engine.Engine` (a mixin over the run's state).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import backup
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import phases as ph
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.admission import EngineFailure


class RollbackMixin(object):
    """Undoing what a job did."""

    def _rollback(self, job, failed_phase, backup_dir=None):
        """Roll back after ``failed_phase`` failed (None: an explicit rollback of a succeeded job whose
        snapshot is ``backup_dir``). Returns (ok, status)."""
        paths = self.manifest.get("backup_paths") or []
        units = self.manifest.get("restart_units") or []
        has_script = bool(self.manifest["phases"].get("rollback"))
        backup_dir = backup_dir or self.state.job_backup_dir(job.job_dir)
        has_backup = bool(paths) and os.path.isfile(backup.index_path(backup_dir))
        details = {"failed_phase": failed_phase, "performed": has_script or has_backup, "backup_paths": paths,
                   "holders": [], "units_stopped": None, "restore": None, "script": None, "units_started": None}
        job.data["rollback"] = details
        if not details["performed"]:
            details["ok"] = False
            details["note"] = ("the payload has no hc_rollback_upgrade.sh and no backup_paths (or no snapshot was "
                               "taken): nothing was rolled back")
            job.event("rollback_skipped", failed_phase=failed_phase)
            return False, "failed"
        job.phase_started("rollback", failed_phase=failed_phase)
        ok = True
        if has_backup:
            details["holders"] = backup.find_holders(paths, exclude_pids=(os.getpid(),))
        details["units_stopped"] = backup.units("stop", units)
        if has_backup:
            details["restore"] = backup.restore(backup_dir)
            ok = ok and not details["restore"]["errors"]
        if has_script:
            res = self._run_phase(job, "rollback")
            details["script"] = ph.public_phase(res, self.output_limit)
            ok = ok and res["rc"] == 0
        details["units_started"] = backup.units("start", units)
        started = details["units_started"]
        if started and not started.get("skipped") and started.get("rc") != 0:
            ok = False
        details["ok"] = ok
        job.data["phase_state"] = "finished"
        job.data.setdefault("rollbacks", []).append({"failed_phase": failed_phase, "ok": ok, "time": jr.now_iso()})
        job.event("rollback_finished", ok=ok)
        return ok, ("rolled_back" if ok else "rollback_failed")

    def _rollback_msg(self, job, failed_phase, status):
        phases = job.data.get("phases", {})
        res = phases.get(failed_phase.split(" ")[0]) or {}
        what = "%s %s" % (failed_phase, ph.rc_text(res)) if res else failed_phase
        details = job.data.get("rollback") or {}
        if status == "failed":
            return "%s failed: %s" % (what, details.get("note", "nothing was rolled back"))
        word = "rolled back" if status == "rolled_back" else "ROLLBACK FAILED"
        return "%s failed; %s: %s" % (what, word, self._rollback_details(details))

    def _rollback_details(self, details):
        """What a rollback did, in one line (restore counts, script rc, holders)."""
        parts = []
        if details.get("restore"):
            r = details["restore"]
            parts.append("restored %d path(s), removed %d, %d error(s)%s" % (
                len(r["restored"]), len(r["removed"]), len(r["errors"]),
                (": " + "; ".join(r["errors"])) if r["errors"] else ""))
        if details.get("script"):
            parts.append("hc_rollback_upgrade.sh %s" % ph.rc_text(details["script"]))
        if details.get("holders"):
            parts.append("processes holding backup_paths: %s" % ", ".join(
                "%s[%s]" % (h["comm"], h["pid"]) for h in details["holders"]))
        for key in ("units_stopped", "units_started"):
            u = details.get(key)
            if u and not u.get("skipped") and u.get("rc") != 0:
                out = (u.get("output") or "").strip().splitlines()
                parts.append("systemctl %s %s failed (%s)%s" % (
                    u["action"], " ".join(u["units"]), "rc %s" % u["rc"] if u["rc"] is not None else "not run",
                    (": " + out[-1]) if out else ""))
        return "; ".join(parts) or "nothing to report"

    def _rollback_request(self, store_path):
        """``state: rolled_back``: undo a succeeded upgrade job (``job_id``, or the newest applied job of
        ``peripheral``, optionally only when it installed ``version``) with its own payload from the
        store, its backup_paths snapshot and its hc_rollback_upgrade.sh; journaled as a job of kind
        ``rollback``."""
        what = self.p.get("job_id") or "%s@%s" % (self.p.get("peripheral"), self.p.get("version") or "newest")
        self.key = "rollback:%s" % what
        if not self.state.exists():
            raise EngineFailure("nothing to roll back: the state dir %s does not exist on this node (no upgrade ran "
                                "here)" % self.state.root, status="failed")
        if self.check_mode:
            return self._rollback_check(store_path)
        info = {"job_id": None, "key": self.key, "payload_sha256": self.sha or None, "name": "rollback",
                "version": what, "peripheral": self.p.get("peripheral")}
        return self._locked_run(info, lambda lock, info_: self._rollback_locked(store_path, lock, info_))

    def _rollback_target(self):
        """The applied upgrade job to undo; EngineFailure naming what is wrong when there is none."""
        jobs = self.state.list_jobs()
        where = "the job history in %s (waggle.honeycomb.upgrade_info lists it)" % self.state.jobs_dir
        if self.p.get("job_id"):
            found = [j for j in jobs if j.job_id == self.p["job_id"]]
            if not found:
                raise EngineFailure("job %s is not in %s; it may have been pruned (keep_jobs)" % (self.p["job_id"], where),
                                    status="failed")
            job = found[0]
            if job.data.get("kind") == "rollback":
                raise EngineFailure("job %s is itself a rollback; give the job_id of the upgrade to undo" % job.job_id,
                                    status="failed")
            if job.status != "applied":
                raise EngineFailure("job %s has status %s; only a succeeded (applied) upgrade can be rolled back (a "
                                    "failed install or verify was rolled back when it failed)" % (job.job_id, job.status),
                                    status="failed")
        else:
            found = [j for j in jr.by_creation(jobs) if j.data.get("peripheral") == self.p["peripheral"]
                     and j.status == "applied" and j.data.get("kind", "upgrade") == "upgrade"]
            if not found:
                raise EngineFailure("no succeeded upgrade of peripheral %r in %s: nothing to roll back"
                                    % (self.p["peripheral"], where), status="failed")
            job = found[-1]
        version = self.p.get("version")
        if version is not None and job.data.get("version") != version:
            raise EngineFailure("job %s installed %s %s, not version %s: nothing was rolled back. Check the version "
                                "(or give job_id)" % (job.job_id, job.data.get("name"), job.data.get("version"),
                                                      version), status="failed")
        return job

    def _already_rolled_back(self, target):
        by = target.data.get("rolled_back_by")
        installed = self.state.installed().get(target.data.get("peripheral"))
        return {"changed": False, "status": "rolled_back", "kind": "rollback", "job_id": by, "rollback_of": target.job_id,
                "journal": self.state.journal_path(self.state.job_dir(by)), "peripheral": target.data.get("peripheral"),
                "installed": installed, "installed_version": (installed or {}).get("version"), "resumed": False,
                # no phase ran; the key marks this as the engine's result (the fleet_report callback needs it)
                "phases": {},
                "msg": "job %s (%s %s) was already rolled back by job %s; nothing to do" % (
                    target.job_id, target.data.get("name"), target.data.get("version"), by)}

    def _rollback_preconditions(self, target, store_path):
        """Everything the rollback needs, checked before anything changes. Loads the job's payload
        (self.payload/manifest/param_env) and returns the store path."""
        d = target.data
        name = "%s %s" % (d.get("name"), d.get("version"))
        sha = d.get("payload_sha256") or ""
        older = ("Roll back by applying the payload of the older version instead (playbooks/rollback.yml "
                 "-e rollback_payload=...)")
        if "previous_installed" not in d:
            raise EngineFailure("job %s (%s) was recorded by an older version of this collection that did not keep the "
                                "version installed before it, so installed.json cannot be reset; nothing was changed. "
                                "%s" % (target.job_id, name, older), status="failed")
        installed = self.state.installed().get(d.get("peripheral")) or {}
        if installed.get("version") != d.get("version") or installed.get("payload_sha256") != sha:
            raise EngineFailure("peripheral %r now has %s %s installed (job %s), not %s of job %s: a newer upgrade ran "
                                "since. Roll that one back first; nothing was changed"
                                % (d.get("peripheral"), installed.get("name"), installed.get("version"),
                                   installed.get("job_id"), name, target.job_id), status="failed")
        if self.sha and self.sha != sha:
            raise EngineFailure("src is payload %s but job %s ran payload %s (%s): give the payload file of that job, "
                                "or no src; nothing was changed" % (self.sha, target.job_id, sha, name), status="failed")
        # with src, store_path is the verified store entry (or, in check mode, the verified upload)
        path = store_path if store_path and self.sha == sha else self.state.payload_path(sha)
        if not os.path.isfile(path) or (store_path is None and self.pl.sha256_file(path) != sha):
            raise EngineFailure("the payload of job %s (%s, sha256 %s) is %s the node's store %s, and the rollback "
                                "needs its hc_rollback_upgrade.sh and manifest; nothing was changed. Re-run the "
                                "rollback with src: <that payload file> so the controller sends it again"
                                % (target.job_id, name, sha, "corrupt in" if os.path.isfile(path) else "no longer in",
                                   path), status="failed", missing=path)
        self._inspect_job_payload(path)
        paths = self.manifest.get("backup_paths") or []
        has_script = bool(self.manifest["phases"].get("rollback"))
        index = backup.index_path(self.state.job_backup_dir(target.job_dir))
        if paths and not os.path.isfile(index):
            raise EngineFailure("the backup_paths snapshot of job %s (%s) is missing (%s); the files cannot be "
                                "restored, nothing was changed. %s" % (target.job_id, name, index,
                                                                       older),
                                status="failed", missing=index)
        if not paths and not has_script:
            raise EngineFailure("payload %s has neither hc_rollback_upgrade.sh nor backup_paths, so the engine cannot "
                                "undo job %s; nothing was changed. %s" % (name, target.job_id, older),
                                status="failed")
        return path

    def _inspect_job_payload(self, path):
        """Like :meth:`_inspect` for the payload a job ran (and this task's ``parameters``)."""
        sha, self.sha = self.sha, self.sha or self.state.store_sha(path)
        key = self.key
        try:
            self._inspect(path)
        except EngineFailure as exc:
            if "parameter" in exc.msg:
                exc.msg += " (the rollback runs the job's payload with this task's parameters: give the ones it ran with)"
            raise
        finally:
            self.key = key
        self.sha = sha or self.sha

    def _rollback_plan(self, target):
        paths = self.manifest.get("backup_paths") or []
        previous = (target.data.get("previous_installed") or {}).get("version")
        steps = []
        if paths:
            steps.append("restore the snapshot of %d backup_path(s)" % len(paths))
        if self.manifest["phases"].get("rollback"):
            steps.append("run %s" % self.manifest["phases"]["rollback"]["script"])
        back_to = "version %s" % previous if previous else "not installed"
        steps.append("set peripheral %r back to %s" % (target.data.get("peripheral"), back_to))
        return "roll back job %s (%s %s): %s" % (target.job_id, target.data.get("name"), target.data.get("version"),
                                                 ", ".join(steps)), previous

    def _rollback_check(self, store_path):
        target = self._rollback_target()
        if target.data.get("rolled_back_by"):
            result = self._already_rolled_back(target)
            result["msg"] = "check mode: " + result["msg"]
            return result
        blocked = self._blocking_jobs(target.data.get("peripheral"))
        if blocked and not self.p.get("clear_inconsistent"):
            return self._blocked_result(blocked)
        self._rollback_preconditions(target, store_path)
        plan, previous = self._rollback_plan(target)
        installed = self.state.installed().get(target.data.get("peripheral"))
        return {"changed": True, "status": "needed", "kind": "rollback", "rollback_of": target.job_id, "job_id": None,
                "journal": None, "resumed": False, "peripheral": target.data.get("peripheral"),
                "installed": installed, "installed_version": (installed or {}).get("version"),
                "restored_version": previous, "payload": self._payload_info(),
                "msg": "check mode: nothing was run; a real run would %s" % plan}

    def _rollback_locked(self, store_path, lock, info):
        same = self._settle_interrupted()
        if same is not None and same.terminal:
            same = None
        if same is not None:
            blocked = self._check_blocking(same.data.get("peripheral"))
            if blocked is not None:
                return blocked
            self._own(same, lock, info)
            self._resume(same, store_path, restart=True)
            return self._result(same)
        target = self._rollback_target()
        if target.data.get("rolled_back_by"):
            return self._already_rolled_back(target)
        blocked = self._check_blocking(target.data.get("peripheral"))
        if blocked is not None:
            return blocked
        self._rollback_preconditions(target, store_path)
        d = target.data
        job = jr.Journal.create(self.state.job_dir(self.state.new_job_id(d["payload_sha256"])), kind="rollback",
                                key=self.key, rollback_of=target.job_id, payload_sha256=d["payload_sha256"],
                                name=d.get("name"), version=d.get("version"), peripheral=d.get("peripheral"),
                                format=self.payload.format, owner=jr.process_identity(),
                                parameters=sorted(self.param_env), previous_installed=d.get("previous_installed"),
                                boot=self.boot)
        self._own(job, lock, dict(info, name=d.get("name"), version=d.get("version"), peripheral=d.get("peripheral")))
        self._execute_rollback(job, self.state.payload_path(d["payload_sha256"]))
        return self._result(job)

    def _execute_rollback(self, job, store_path):
        """Run (or, after an interruption, run again to completion) rollback job ``job``: extract the
        payload, restore the undone job's snapshot, run hc_rollback_upgrade.sh, reset installed.json,
        mark the undone job. Restore and script are re-run whole on resume (idempotent by contract)."""
        target = jr.Journal.load(self.state.job_dir(job.data.get("rollback_of") or ""))
        if target is None:
            job.finish("inconsistent", "rollback job %s cannot continue: the journal of the job it undoes (%s) is gone. "
                       "Bring peripheral %r into a known state by hand, then re-run with clear_inconsistent: true."
                       % (job.job_id, job.data.get("rollback_of"), job.data.get("peripheral")), changed=False)
            return
        if self.manifest is None or job.data.get("payload_sha256") != self.sha:
            if not self._use_payload_of(job):
                return
        jr.makedirs_private(self.state.job_logs_dir(job.job_dir))
        if not self._ensure_extracted(job, store_path):
            return
        ok, status = self._rollback(job, None, backup_dir=self.state.job_backup_dir(target.job_dir))
        previous = job.data.get("previous_installed")
        what = "job %s (%s %s)" % (target.job_id, job.data.get("name"), job.data.get("version"))
        details = self._rollback_details(job.data.get("rollback") or {})
        if not ok:
            job.finish(status, "ROLLBACK FAILED for %s: %s. The snapshot and the logs are kept in %s; fix the "
                       "peripheral by hand or re-run the rollback" % (what, details, job.job_dir), changed=True)
            return
        self.state.set_installed(job.data.get("peripheral"), previous)
        target.data["rolled_back_by"] = job.job_id
        target.event("rolled_back", by=job.job_id)
        job.finish("rolled_back", "%s rolled back (%s); peripheral %r is now at %s" % (
            what, details, job.data.get("peripheral"), "version %s" % previous["version"] if previous else
            "no recorded version"), changed=True)
