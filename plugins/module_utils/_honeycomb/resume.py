# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resume rules of the upgrade engine (runs on nodes, Python 3.6+, stdlib only): interrupted jobs
are found, their orphaned scripts stopped, and each is resumed, restarted or closed by the table in
``docs/upgrade.md`` (keep both in step).

Part of :class:`engine.Engine` (a mixin over the run's state).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import bootslot
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import phases as ph


class ResumeMixin(object):
    """Interrupted jobs: this run's own one is resumed, other runs' ones are resolved first."""

    def _settle_interrupted(self):
        """Stop orphans of interrupted jobs; resolve those of other runs (another key) by the resume
        rules. Returns the interrupted job of this run's key (None when there is none), made
        ``inconsistent`` when it was interrupted too often."""
        same = None
        for job in self.state.list_jobs():
            if job.terminal:
                continue
            if job.owner_alive():
                self.notes.append("job %s is still owned by live process %s; left alone"
                                  % (job.job_id, job.data.get("owner", {}).get("pid")))
                continue
            self._stop_orphans(job)
            if self._slot_changed(job):
                self.resolved.append({"job_id": job.job_id, "status": job.status, "msg": job.data.get("msg"),
                                      "journal": job.path})
                continue
            if job.data.get("key") == self.key and same is None:
                same = job
                continue
            self.resolved.append(self._resolve_other(job))
        if same is not None and same.data.get("resumes", 0) + 1 > int(self.p.get("max_resumes", 3)):
            self._make_inconsistent(same)
        return same

    def _slot_changed(self, job):
        """An interrupted job that started on another boot slot than the node runs from now is ended
        ``inconsistent`` (the other slot has its own root file system: what the job changed there cannot be
        verified or rolled back from here). True when it was."""
        change = bootslot.slot_change(job.data.get("boot"), self.boot)
        if change is None:
            return False
        then, now = change
        recovery = self.boot.get("recovery_slot")
        started = job.data.get("boot") or {}
        job.event("slot_changed", slot_then=then, slot_now=now, boot_id_then=started.get("boot_id"),
                  boot_id_now=self.boot.get("boot_id"), save=False)
        job.finish("inconsistent",
                   "job %s started on boot %s and the node now runs from boot %s (it was switched, for example by "
                   "the network watchdog, while the job was in phase %s); what the job changed cannot be verified or "
                   "rolled back from this slot. Inspect %s, bring the node back to its normal slot and the peripheral "
                   "into a known state by hand, then re-run with clear_inconsistent: true." % (
                       job.job_id, bootslot.describe_slot(then, recovery), bootslot.describe_slot(now, recovery),
                       job.data.get("phase"), job.path), changed=False, slot_changed={"from": then, "to": now})
        return True

    def _stop_orphans(self, job):
        child = job.data.get("child")
        if child and jr.identity_alive(child):
            how = runner.kill_group(child.get("pgid") or child["pid"], int(self.p.get("kill_grace", 10)))
            job.event("orphan_killed", pid=child["pid"], signal=how)
            self.notes.append("job %s: stopped its orphaned %s script (pid %s, %s)"
                              % (job.job_id, job.data.get("phase"), child["pid"], how))
        job.data["child"] = None

    def _make_inconsistent(self, job):
        job.data["resumes"] = job.data.get("resumes", 0) + 1
        job.finish("inconsistent",
                   "job %s was interrupted %d times (max_resumes %s), last in phase %s; the node is in an unknown "
                   "state. Inspect %s and the logs in %s, bring the peripheral into a known state by hand, then "
                   "re-run with clear_inconsistent: true." % (
                       job.job_id, job.data["resumes"], self.p.get("max_resumes"), job.data.get("phase"),
                       job.path, self.state.job_logs_dir(job.job_dir)), changed=False)

    def _resolve_other(self, job):
        """An interrupted job of another payload (or parameters): bring it to a final state by the
        same rules, without starting it over."""
        if job.data.get("resumes", 0) + 1 > int(self.p.get("max_resumes", 3)):
            self._make_inconsistent(job)
        else:
            job.data["owner"] = jr.process_identity()
            job.save()
            saved = (self.payload, self.manifest)
            try:
                if self._use_payload_of(job):
                    self._resume(job, self.state.payload_path(job.data.get("payload_sha256", "")), restart=False)
            finally:
                self.payload, self.manifest = saved
        return {"job_id": job.job_id, "status": job.status, "msg": job.data.get("msg"), "journal": job.path}

    def _use_payload_of(self, job):
        """Make the manifest of ``job``'s own payload the current one (an interrupted job of another
        payload is resumed with its own scripts, timeouts and backup_paths). When its store entry is
        gone or refused, the job is closed (``failed`` when it had not changed anything yet, else
        ``inconsistent``) and False is returned."""
        sha = job.data.get("payload_sha256") or ""
        if sha == self.sha and self.manifest is not None:
            return True
        path = self.state.payload_path(sha)
        try:
            payload = self.pl.inspect_archive(path, legacy_state_check=self.p.get("legacy_state_check", "readme"))
        except (self.pl.PayloadError, IOError, OSError) as exc:
            phase = job.data.get("phase")
            why = "its payload %s (%s %s) is no longer usable in the store (%s)" % (
                sha, job.data.get("name"), job.data.get("version"), exc)
            if phase in ph.RESTART_PHASES:
                job.finish("failed", "interrupted in phase %s (before any change) and %s; nothing was changed"
                           % (phase, why), changed=False)
            else:
                job.finish("inconsistent", "job %s was interrupted in phase %s and %s, so it cannot be verified or "
                           "rolled back. Bring the peripheral into a known state by hand, then re-run with "
                           "clear_inconsistent: true." % (job.job_id, phase, why), changed=False)
            return False
        self.payload = payload
        self.manifest = dict(payload.manifest)
        self.manifest.setdefault("state_check_codes", pl.DEFAULT_STATE_CHECK_CODES)
        return True

    def _resume(self, job, store_path, restart):
        """Apply the resume table to an interrupted job (see docs/upgrade.md)."""
        phase = job.data.get("phase")
        job.data["resumes"] = job.data.get("resumes", 0) + 1
        job.data["resumed"] = True
        job.event("resumed", from_phase=phase, resumes=job.data["resumes"])
        if job.data.get("kind") == "rollback":
            if phase in (None, "extract") and not restart:
                job.finish("failed", "rollback interrupted in phase %s (before any change) and superseded by another "
                                     "run; nothing was changed" % phase, changed=False)
            else:
                self._execute_rollback(job, store_path)
            return
        if phase in ph.RESTART_PHASES:
            if restart:
                self._execute(job, store_path)
            else:
                job.finish("failed", "interrupted in phase %s (before any change) and superseded by another "
                                     "upgrade; nothing was changed" % phase, changed=False)
            return
        if phase in ("install", "verify"):
            if not self._ensure_extracted(job, store_path):
                return
            verify = self._run_phase(job, "verify")
            if verify["rc"] == 0:
                self._succeed(job, "interrupted in %s; verify passed on resume: %s %s is applied"
                              % (phase, job.data.get("name"), job.data.get("version")))
                return
            ok, status = self._rollback(job, "verify (after an interruption in %s)" % phase)
            if not ok:
                job.finish(status, self._rollback_msg(job, "verify after the interrupted %s" % phase, status),
                           changed=True)
                return
            if restart:
                job.event("start_over", reason="verify failed after interruption; rolled back")
                self._execute(job, store_path)
            else:
                job.finish(status, self._rollback_msg(job, "verify after the interrupted %s" % phase, status),
                           changed=True)
            return
        if phase == "rollback":
            if not self._ensure_extracted(job, store_path):
                return
            failed_phase = (job.data.get("rollback") or {}).get("failed_phase", "install")
            ok, status = self._rollback(job, failed_phase)
            job.finish(status, "interrupted during rollback; rollback re-run to completion: " +
                       self._rollback_msg(job, failed_phase, status), changed=True)
            return
        job.finish("failed", "journal names unknown phase %r; nothing was run" % phase, changed=False)
