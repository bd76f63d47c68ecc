# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Admission of an upgrade run (runs on nodes, Python 3.6+, stdlib only): the options, the payload's
own inspection on the node and its job key, the per-node lock (with the ``waiting/`` announcement and
joining an identical run), and the inconsistent jobs that block a peripheral.

Part of :class:`engine.Engine` (a mixin over the run's state: ``p``, ``state``, ``sha``, ``payload``,
``manifest``, ``param_env``, ``key``, ``notes``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import re

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import bootslot
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock as lk
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class EngineFailure(Exception):
    """A failure before or outside a job (bad options, bad payload, lock timeout)."""

    def __init__(self, msg, **fields):
        super(EngineFailure, self).__init__(msg)
        self.msg = msg
        self.fields = fields


class AdmissionMixin(object):
    """What a run must pass before it may start (or join) a job."""

    def _check_options(self, need_payload=True):
        if (need_payload or self.sha) and not SHA256_RE.match(self.sha):
            raise EngineFailure("the payload SHA-256 must be 64 hex digits of the payload (the action "
                                "plugin sets it); got %r. Run the task through waggle.honeycomb.upgrade, not the "
                                "bare module." % self.p.get("_payload_sha256"))
        for name in ("lock_timeout", "keep_jobs", "kill_grace", "max_resumes"):
            if self.p.get(name) is not None and self.p[name] < 0:
                raise EngineFailure("%s must be >= 0, got %s" % (name, self.p[name]))
        overlap = set(self.p.get("parameters") or {}) & set(self.p.get("secret_parameters") or {})
        if overlap:
            raise EngineFailure("parameter(s) %s given in both parameters and secret_parameters; give each once"
                                % ", ".join(sorted(overlap)))

    def _admit_boot(self):
        """Read the node's boot (boot id and slot, :mod:`bootslot`) into ``self.boot``; refuse a node that
        runs from its recovery slot (factory-old software, a state dir that is gone at every boot) unless
        ``allow_recovery_slot``. An unknown slot (no slot command on the node) is never refused."""
        recovery_slot = self.p.get("recovery_slot", bootslot.DEFAULT_RECOVERY_SLOT)
        command = self.p.get("boot_slot_command", bootslot.DEFAULT_SLOT_COMMAND)
        self.boot = bootslot.probe(command, recovery_slot)
        if self.boot.get("slot_error"):
            self.notes.append("boot slot unknown: %s" % self.boot["slot_error"])
        if not self.boot.get("recovery"):
            return
        if self.p.get("allow_recovery_slot"):
            self.notes.append("the node runs from its recovery boot slot %s; allowed by allow_recovery_slot: true "
                              "(the state dir may be volatile there)" % self.boot["slot"])
            return
        raise EngineFailure(
            "the node runs from its recovery boot slot %s (%s said so): the software there is the factory copy and "
            "the state dir %s may be volatile (journals and installed versions of the normal slot are not visible), "
            "so nothing was run. Bring the node back to its normal slot (see docs/devices/node.md, Boot slots), or "
            "re-run with allow_recovery_slot: true to upgrade it as it is."
            % (self.boot["slot"], self.boot.get("slot_command"), self.state.root),
            status="recovery_slot", changed=False)

    def _inspect(self, path):
        """Inspect payload ``path`` on the node (a refused one leaves the store), apply the state check
        code overrides, check the parameters and set the run's job key (payload and parameters)."""
        try:
            self.payload = self.pl.inspect_archive(path, legacy_state_check=self.p.get("legacy_state_check", "readme"))
        except self.pl.PayloadError as exc:
            self.store.drop_refused(path, self.sha)
            raise EngineFailure(str(exc), status="failed", payload_error={"member": exc.member, "reason": exc.reason})
        self.manifest = dict(self.payload.manifest)
        codes = dict(self.manifest.get("state_check_codes") or pl.DEFAULT_STATE_CHECK_CODES)
        if self.p.get("already_applied_rc") is not None:
            codes["already_applied"] = list(self.p["already_applied_rc"])
        if self.p.get("retry_later_rc") is not None:
            codes["retry_later"] = list(self.p["retry_later_rc"])
        clash = set(codes.get("needed", [])) & (set(codes.get("already_applied", [])) | set(codes.get("retry_later", [])))
        clash |= set(codes.get("already_applied", [])) & set(codes.get("retry_later", []))
        if clash:
            raise EngineFailure("state check exit code(s) %s have two meanings (needed %s, already_applied %s, "
                                "retry_later %s); fix already_applied_rc / retry_later_rc"
                                % (sorted(clash), codes.get("needed"), codes.get("already_applied"),
                                   codes.get("retry_later")))
        self.manifest["state_check_codes"] = codes
        params = dict(self.p.get("parameters") or {})
        params.update(self.p.get("secret_parameters") or {})
        try:
            self.param_env = self.pl.validate_parameters(self.manifest.get("parameters"), params)
        except self.pl.PayloadError as exc:
            raise EngineFailure(str(exc), status="failed", payload_error={"member": exc.member, "reason": exc.reason})
        digest = hashlib.sha256(json.dumps(sorted(self.param_env.items())).encode("utf-8")).hexdigest()
        self.key = "%s:%s" % (self.sha, digest[:32])

    def _payload_info(self):
        m = self.manifest
        return {"name": m["name"], "version": m["version"], "peripheral": m["peripheral"],
                "format": self.payload.format, "sha256": self.sha, "legacy": bool(m.get("legacy"))}

    def _lock_info(self):
        return {"job_id": None, "key": self.key, "payload_sha256": self.sha, "name": self.manifest["name"],
                "version": self.manifest["version"], "peripheral": self.manifest["peripheral"]}

    def _locked_run(self, info, body):
        """Take the node lock (announcing ourselves while waiting), report the result of an identical
        run we waited for, else ``body(lock, info)``; prune the history; release the lock."""
        self.state.ensure()
        lock = lk.NodeLock(self.state)
        waiting_file = self.state.waiting_path()

        def on_wait(holder):
            # Announce ourselves once, for upgrade_info (and tests): who waits for the lock.
            if not os.path.exists(waiting_file):
                jr.makedirs_private(os.path.dirname(waiting_file))
                record = dict(info, since=jr.now_iso(), pid=os.getpid(), owner=jr.process_identity())
                jr.atomic_write_json(waiting_file, record)
        try:
            waited_for = lock.acquire(float(self.p.get("lock_timeout", 600)), info, on_wait=on_wait)
        except lk.LockTimeout as exc:
            raise EngineFailure(str(exc), status="failed", lock_holder=exc.holder)
        finally:
            if os.path.exists(waiting_file):
                os.unlink(waiting_file)
        try:
            joined = self._joined_result(waited_for)
            if joined is not None:
                return joined
            result = body(lock, info)
            self._prune()
            return result
        finally:
            lock.release()

    def _joined_result(self, waited_for):
        """Same payload and parameters were running when we arrived: report that job's result."""
        for holder in reversed(waited_for):
            if holder.get("key") != self.key or not holder.get("job_id"):
                continue
            job = jr.Journal.load(self.state.job_dir(holder["job_id"]))
            if job is not None and job.terminal:
                result = self._result(job)
                result["waited_for_job"] = job.job_id
                result["msg"] = "the same upgrade was already running as job %s; waited for it: %s" % (
                    job.job_id, result.get("msg"))
                return result
        return None

    def _blocking_jobs(self, peripheral):
        return [j for j in self.state.list_jobs() if j.status == "inconsistent" and not j.data.get("cleared")
                and j.data.get("peripheral") == peripheral]

    def _blocked_result(self, blocking):
        job = blocking[-1]
        return {"failed": True, "changed": False, "status": "inconsistent", "job_id": job.job_id,
                "journal": job.path, "peripheral": job.data.get("peripheral"), "resumed": False, "phases": {},
                "payload": self._payload_info() if self.manifest else None,
                "msg": "peripheral %r is blocked by inconsistent job %s (%s). Inspect %s and the logs next to it, "
                       "bring the peripheral into a known state by hand, then re-run with clear_inconsistent: true."
                       % (job.data.get("peripheral"), job.job_id, job.data.get("msg"), job.path)}

    def _check_blocking(self, peripheral):
        """The blocked result when ``peripheral`` has an uncleared inconsistent job (they are cleared
        instead with clear_inconsistent), else None."""
        blocking = self._blocking_jobs(peripheral)
        if blocking:
            if not self.p.get("clear_inconsistent"):
                return self._blocked_result(blocking)
            for job in blocking:
                job.data["cleared"] = jr.now_iso()
                job.event("cleared", by="clear_inconsistent")
                self.notes.append("inconsistent job %s was cleared (clear_inconsistent: true)" % job.job_id)
        return None
