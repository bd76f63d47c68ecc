# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three-phase upgrade engine (runs on nodes, Python 3.6+, stdlib only).

``Engine(params, check_mode).run()`` returns the module result. The resume rules implemented by
:meth:`Engine._resume` are the table in ``docs/upgrade.md``; keep both in step.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import backup
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock as lk
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

JOURNAL_TAIL_LIMIT = 8 * 1024
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
RESTART_PHASES = (None, "extract", "state_check", "backup")
CHANGED_STATUSES = ("applied", "rolled_back", "rollback_failed")
STORE_GRACE = 24 * 3600
"""A store entry no kept job refers to is removed once unused for this long (a run that uploaded it may
still be on its way to the lock)."""


def argument_spec():
    """Options of the node-side ``waggle.honeycomb.upgrade`` module (the action plugin adds nothing
    the module does not also accept, so one spec serves both)."""
    return dict(
        src=dict(type="path"),
        state=dict(type="str", default="applied", choices=["applied", "rolled_back"]),
        job_id=dict(type="str"),
        peripheral=dict(type="str"),
        version=dict(type="str"),
        allowed_signers=dict(type="path"),
        require_signature=dict(type="bool", default=False),
        parameters=dict(type="dict", default={}),
        secret_parameters=dict(type="dict", default={}, no_log=True),
        state_dir=dict(type="path", default="/var/lib/honeycomb"),
        node_id_file=dict(type="path", default="/etc/waggle/node-id"),
        vsn_file=dict(type="path", default="/etc/waggle/vsn"),
        lock_timeout=dict(type="int", default=600),
        max_resumes=dict(type="int", default=3),
        keep_jobs=dict(type="int", default=20),
        output_limit=dict(type="int", default=65536),
        kill_grace=dict(type="int", default=10),
        already_applied_rc=dict(type="list", elements="int"),
        retry_later_rc=dict(type="list", elements="int"),
        legacy_state_check=dict(type="str", default="readme", choices=["readme", "strict"]),
        clear_inconsistent=dict(type="bool", default=False),
        # Internal, set by the action plugin: payload_sha256, payload_upload, payload_bytes_sent, lookup_only.
        _honeycomb=dict(type="dict", default={}),
    )


ARGUMENT_CONSTRAINTS = dict(
    required_if=[("state", "applied", ("src",)), ("state", "rolled_back", ("job_id", "peripheral"), True)],
    mutually_exclusive=[("job_id", "peripheral")],
)
"""``required_if``/``mutually_exclusive`` of :func:`argument_spec` (module and action plugin)."""

INTERNAL_KEYS = ("payload_sha256", "payload_upload", "payload_bytes_sent", "lookup_only")


def engine_params(module_params):
    """Flatten the module's internal ``_honeycomb`` option into ``_payload_sha256``-style keys."""
    params = dict(module_params)
    internal = params.pop("_honeycomb", None) or {}
    unknown = sorted(set(internal) - set(INTERNAL_KEYS))
    if unknown:
        raise ValueError("unknown key(s) %s in _honeycomb (internal option of the action plugin)" % ", ".join(unknown))
    for key in INTERNAL_KEYS:
        params["_" + key] = internal.get(key)
    return params


class EngineFailure(Exception):
    """A failure before or outside a job (bad options, bad payload, lock timeout)."""

    def __init__(self, msg, **fields):
        super(EngineFailure, self).__init__(msg)
        self.msg = msg
        self.fields = fields


def _read_first_line(path):
    try:
        with open(path) as handle:
            return handle.readline().strip()
    except (IOError, OSError, UnicodeDecodeError):
        return ""


def _public_phase(result, limit):
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


class Engine(object):
    def __init__(self, params, check_mode=False, payload_module=None):
        self.p = params
        self.check_mode = check_mode
        self.pl = payload_module or pl
        self.state = jr.StateDir(params["state_dir"])
        self.sha = (params.get("_payload_sha256") or "").lower()
        self.output_limit = max(256, int(params.get("output_limit") or 65536))
        self.journal_limit = min(self.output_limit, JOURNAL_TAIL_LIMIT)
        self.payload = None
        self.manifest = None
        self.param_env = {}
        self.key = None
        self.current_job = None
        self.resolved = []
        self.notes = []

    # ------------------------------------------------------------------ entry point
    def run(self):
        base = {"changed": False, "payload_transferred": False, "payload_bytes_sent": 0}
        try:
            rollback = self.p.get("state") == "rolled_back"
            self._check_options(need_payload=not rollback)
            store_path = None
            if self.sha or not rollback:
                store_path, transferred = self._payload_in_store()
                if store_path is None:
                    base.update(payload_missing=True, msg="payload %s is not in the node's store %s; the action "
                                "plugin transfers it and runs the module again" % (self.sha, self.state.payloads_dir))
                    if self.notes:
                        base["notes"] = self.notes
                    return base
                if self.p.get("_lookup_only"):
                    base.update(payload_missing=False, msg="payload %s is in the node's store" % self.sha)
                    return base
                base["payload_transferred"] = transferred
                base["payload_bytes_sent"] = int(self.p.get("_payload_bytes_sent") or 0) if transferred else 0
            if rollback:
                result = self._rollback_request(store_path)
            else:
                self._inspect(store_path)
                if self.check_mode:
                    result = self._check_run(store_path)
                else:
                    result = self._locked_run(self._lock_info(), lambda lock, info: self._run_jobs(store_path, lock, info))
        except EngineFailure as exc:
            result = {"failed": True, "msg": exc.msg}
            result.update(exc.fields)
        except runner.Interrupted as exc:
            result = self._interrupted(exc)
        except (IOError, OSError) as exc:
            result = self._state_dir_error(exc)
        base.update(result)
        if self.notes:
            base["notes"] = self.notes
        return base

    # ------------------------------------------------------------------ options, payload
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

    def _payload_in_store(self):
        """Return (path of a verified payload, transferred now?) or (None, False) when missing."""
        store = self.state.payload_path(self.sha)
        if os.path.isfile(store):
            actual = self.pl.sha256_file(store)
            if actual == self.sha:
                if not self.check_mode:
                    try:
                        os.utime(store, None)  # recently used: kept by the store pruning
                    except OSError:
                        pass
                upload = self.p.get("_payload_upload")
                if upload and os.path.isfile(upload):
                    os.unlink(upload)  # a concurrent run stored it first
                return store, False
            self.notes.append("store entry %s was corrupt (sha256 %s); it was removed and the payload re-sent"
                              % (store, actual))
            if not self.check_mode:
                os.unlink(store)
        upload = self.p.get("_payload_upload")
        if not upload:
            return None, False
        if not os.path.isfile(upload):
            raise EngineFailure("uploaded payload %s does not exist on the node; re-run the task" % upload)
        actual = self.pl.sha256_file(upload)
        if actual != self.sha:
            raise EngineFailure("uploaded payload %s has sha256 %s but the controller sent %s: the transfer was "
                                "corrupted; re-run the task" % (upload, actual, self.sha))
        if self.check_mode:
            return upload, True
        self.state.ensure()
        tmp = self._partial_path()
        try:
            try:
                os.rename(upload, tmp)
            except OSError:
                shutil.copyfile(upload, tmp)  # another file system (e.g. a full or separate state dir)
                os.unlink(upload)
            os.chmod(tmp, 0o600)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, store)
        except BaseException:
            # e.g. ENOSPC half-way through the copy: leave no partial file in the store
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise
        jr.fsync_dir(self.state.payloads_dir)
        return store, True

    def _partial_path(self):
        return os.path.join(self.state.payloads_dir, ".%s.partial.%d" % (self.sha, os.getpid()))

    def _drop_refused_from_store(self, path):
        """A payload refused on the node does not stay in the store (nothing of a refused payload is
        kept outside a job dir), unless a job journal still refers to it."""
        if self.check_mode or path != self.state.payload_path(self.sha) or not os.path.isfile(path):
            return
        if any(j.data.get("payload_sha256") == self.sha for j in self.state.list_jobs()):
            return
        try:
            os.unlink(path)
        except OSError:
            return
        jr.fsync_dir(self.state.payloads_dir)
        self.notes.append("the refused payload was removed from the node's store")

    def _inspect(self, path):
        try:
            self.payload = self.pl.inspect_archive(path, legacy_state_check=self.p.get("legacy_state_check", "readme"))
        except self.pl.PayloadError as exc:
            self._drop_refused_from_store(path)
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

    # ------------------------------------------------------------------ check mode
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
            os.mkdir(os.path.join(tmp, "logs"), 0o700)
            try:
                self.pl.extract_archive(store_path, os.path.join(tmp, "payload"),
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
                "phases": {"state_check": _public_phase(phase, self.output_limit)},
                "payload": self._payload_info(), "peripheral": peripheral, "installed": installed,
                "installed_version": (installed or {}).get("version"), "job_id": None, "journal": None,
                "resumed": False}

    # ------------------------------------------------------------------ locked run
    def _lock_info(self):
        return {"job_id": None, "key": self.key, "payload_sha256": self.sha, "name": self.manifest["name"],
                "version": self.manifest["version"], "peripheral": self.manifest["peripheral"]}

    def _locked_run(self, info, body):
        """Take the node lock (announcing ourselves while waiting), report the result of an identical
        run we waited for, else ``body(lock, info)``; prune the history; release the lock."""
        self.state.ensure()
        lock = lk.NodeLock(self.state)
        waiting_file = os.path.join(self.state.root, "waiting", "%d.json" % os.getpid())

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

    def _run_jobs(self, store_path, lock, info):
        peripheral = self.manifest["peripheral"]
        same = self._settle_interrupted()
        blocked = self._check_blocking(peripheral)
        if blocked is not None:
            return blocked
        if same is not None and same.terminal:
            same = None
        if same is not None:
            job = same
            self._own(job, lock, info)
            self._resume(job, store_path, restart=True)
        else:
            job_id = self.state.new_job_id(self.sha)
            job = jr.Journal.create(self.state.job_dir(job_id), key=self.key, payload_sha256=self.sha,
                                    name=self.manifest["name"], version=self.manifest["version"],
                                    peripheral=peripheral, format=self.payload.format,
                                    owner=jr.process_identity(), parameters=sorted(self.param_env),
                                    kind="upgrade", previous_installed=self.state.installed().get(peripheral))
            self._own(job, lock, info)
            self._execute(job, store_path)
        return self._result(job)

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
            if job.data.get("key") == self.key and same is None:
                same = job
                continue
            self.resolved.append(self._resolve_other(job))
        if same is not None and same.data.get("resumes", 0) + 1 > int(self.p.get("max_resumes", 3)):
            self._make_inconsistent(same)
        return same

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

    def _own(self, job, lock, info):
        """Make ``job`` this run's current job: owned by this process, running, named in the lock."""
        job.data["owner"] = jr.process_identity()
        job.data["status"] = "running"
        job.save()
        info = dict(info, job_id=job.job_id)
        lock.update(info)
        self.current_job = job

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
                       job.path, os.path.join(job.job_dir, "logs")), changed=False)

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

    # ------------------------------------------------------------------ resume rules
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
            if phase in RESTART_PHASES:
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
        if phase in RESTART_PHASES:
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

    # ------------------------------------------------------------------ normal path
    def _ensure_extracted(self, job, store_path):
        dest = os.path.join(job.job_dir, "payload")
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
        jr.makedirs_private(os.path.join(job.job_dir, "logs"))
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
                       % (self._rc_text(sc), sc["attempts"]), changed=False)
            return
        job.phase_started("backup", paths=self.manifest.get("backup_paths", []))
        try:
            backup.snapshot(self.manifest.get("backup_paths") or [], os.path.join(job.job_dir, "backup"))
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

    @staticmethod
    def _rc_text(res):
        if res.get("timed_out"):
            return "timed out (killed with %s)" % res.get("killed_with")
        return "exited %s" % res.get("rc")

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
            "HC_PAYLOAD_DIR": os.path.join(job.job_dir, "payload"),
            "HC_PHASE": phase,
            "HC_ATTEMPT": str(attempt),
            "HC_STATE_DIR": self.state.root,
            "HC_PAYLOAD_NAME": self.manifest["name"],
            "HC_PAYLOAD_VERSION": self.manifest["version"],
            "HC_PERIPHERAL": self.manifest["peripheral"],
            # a rollback job restores (and its script sees) the snapshot of the job it undoes
            "HC_BACKUP_DIR": os.path.join(self.state.job_dir(job.data["rollback_of"]) if job.data.get("rollback_of")
                                          else job.job_dir, "backup"),
            "HC_RESUMED": "1" if job.data.get("resumed") else "0",
        })
        env.update(self.param_env)
        return env

    def _run_phase(self, job, phase, classify=None):
        """Run one phase with its retries. ``classify(res)`` returns a final outcome or None (retry);
        without it rc 0 is success. Returns the phase result (also stored in the journal)."""
        spec = self.manifest["phases"].get(phase)
        payload_dir = os.path.join(job.job_dir, "payload")
        script = os.path.join(payload_dir, spec["script"])
        attempts = int(spec.get("retries", 0)) + 1
        log_dir = os.path.join(job.job_dir, "logs")
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
        job.phase_finished(phase, _public_phase(res, self.journal_limit))
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

    # ------------------------------------------------------------------ rollback
    def _rollback(self, job, failed_phase, backup_dir=None):
        """Roll back after ``failed_phase`` failed (None: an explicit rollback of a succeeded job whose
        snapshot is ``backup_dir``). Returns (ok, status)."""
        paths = self.manifest.get("backup_paths") or []
        units = self.manifest.get("restart_units") or []
        has_script = bool(self.manifest["phases"].get("rollback"))
        backup_dir = backup_dir or os.path.join(job.job_dir, "backup")
        has_backup = bool(paths) and os.path.isfile(os.path.join(backup_dir, "index.json"))
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
            details["script"] = _public_phase(res, self.output_limit)
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
        what = "%s %s" % (failed_phase, self._rc_text(res)) if res else failed_phase
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
            parts.append("hc_rollback_upgrade.sh %s" % self._rc_text(details["script"]))
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

    # ------------------------------------------------------------------ explicit rollback of a succeeded job
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
                "journal": os.path.join(self.state.job_dir(by), "journal.json"), "peripheral": target.data.get("peripheral"),
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
        index = os.path.join(target.job_dir, "backup", "index.json")
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
        sha, self.sha = self.sha, self.sha or os.path.basename(path)[:-len(".tar.gz")]
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
                                parameters=sorted(self.param_env), previous_installed=d.get("previous_installed"))
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
        jr.makedirs_private(os.path.join(job.job_dir, "logs"))
        if not self._ensure_extracted(job, store_path):
            return
        ok, status = self._rollback(job, None, backup_dir=os.path.join(target.job_dir, "backup"))
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

    # ------------------------------------------------------------------ results, housekeeping
    def _interrupted(self, exc):
        job = self.current_job
        msg = "the module was interrupted by signal %d" % exc.signum
        if job is not None:
            job.data["status"] = "interrupted"
            job.data["child"] = None
            job.event("interrupted", signal=exc.signum, phase=job.data.get("phase"))
            msg += " in phase %s of job %s; the next run resumes it by the rules in docs/upgrade.md" % (
                job.data.get("phase"), job.job_id)
        return {"failed": True, "status": "interrupted", "msg": msg,
                "job_id": job.job_id if job else None, "journal": job.path if job else None}

    def _state_dir_error(self, exc):
        """A file-system error (typically ENOSPC: the state dir is full) while the engine had to write:
        stop at once without writing anything more. The journal keeps its last complete state (every
        write is atomic), so the job is exactly as interrupted as after a power cut and the next run
        resolves it by the resume rules."""
        what = "%s%s" % (exc.strerror or exc, (" (%s)" % exc.filename) if getattr(exc, "filename", None) else "")
        full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
        advice = ("free space in the state dir %s" % self.state.root) if full else (
            "fix the state dir %s (permissions, read-only or failing file system)" % self.state.root)
        job = self.current_job
        result = {"failed": True, "state_dir_error": {"errno": getattr(exc, "errno", None), "error": what}}
        if job is None:
            result.update(status="failed", job_id=None, journal=None,
                          msg="could not write to the node's state dir: %s. Nothing was run; %s and re-run the "
                              "task." % (what, advice))
            return result
        job.data["child"] = None
        result.update(status="interrupted", job_id=job.job_id, journal=job.path,
                      msg="could not write to the node's state dir during phase %s of job %s: %s. The job stopped "
                          "there; its journal keeps the last recorded step and the next run resumes it by the rules "
                          "in docs/upgrade.md: %s, then re-run the task." % (
                              job.data.get("phase"), job.job_id, what, advice))
        return result

    def _result(self, job):
        d = job.data
        status = d.get("status")
        peripheral = d.get("peripheral")
        installed = self.state.installed().get(peripheral)
        phases = {}
        for name, res in (d.get("phases") or {}).items():
            if name == "backup":
                continue
            phases[name] = res
        # Fresh tails (up to output_limit) for phases run by this process.
        for name, res in phases.items():
            if not res:
                continue
            for stream in ("stdout", "stderr"):
                path = res.get("%s_path" % stream)
                if path and os.path.isfile(path):
                    res["%s_tail" % stream] = runner.tail(path, self.output_limit)
        rollback_job = d.get("kind") == "rollback"
        ok_statuses = ("rolled_back",) if rollback_job else ("applied", "already_applied", "retry_later")
        result = {
            "status": status,
            "kind": d.get("kind", "upgrade"),
            "changed": bool(d.get("changed")) if "changed" in d else status in CHANGED_STATUSES,
            "failed": status not in ok_statuses,
            "msg": d.get("msg"),
            "job_id": job.job_id,
            "journal": job.path,
            "resumed": bool(d.get("resumed")),
            "resumes": d.get("resumes", 0),
            "phases": phases,
            "rollback": d.get("rollback"),
            "peripheral": peripheral,
            "installed": installed,
            "installed_version": (installed or {}).get("version"),
            "payload": self._payload_info() if self.manifest else None,
        }
        if rollback_job:
            result["rollback_of"] = d.get("rollback_of")
            result["restored_version"] = (d.get("previous_installed") or {}).get("version")
        if self.resolved:
            result["resolved_jobs"] = self.resolved
        return result

    def _prune(self):
        keep = set([self.current_job.job_id]) if self.current_job else set()
        self.state.prune(int(self.p.get("keep_jobs", 20)), keep=keep)
        referenced = set([self.sha])
        for job in self.state.list_jobs():
            referenced.add(job.data.get("payload_sha256"))
        try:
            names = os.listdir(self.state.payloads_dir)
        except OSError:
            return
        waiting_dir = os.path.join(self.state.root, "waiting")
        for name in os.listdir(waiting_dir) if os.path.isdir(waiting_dir) else []:
            referenced.add((jr.read_json(os.path.join(waiting_dir, name)) or {}).get("payload_sha256"))
        cutoff = time.time() - STORE_GRACE
        for name in names:
            path = os.path.join(self.state.payloads_dir, name)
            try:
                if name.endswith(".tar.gz") and name[:-7] not in referenced and os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                elif name.startswith(".upload-") and os.stat(path).st_mtime < cutoff:
                    os.unlink(path)  # left by a transfer whose connection died before the module ran
                elif name.startswith(".") and ".partial." in name and name != os.path.basename(self._partial_path()):
                    # ".<sha256>.partial.<pid>": a move into the store that a killed run (which holds no
                    # lock while storing) left; kept while its pid lives, unless older than STORE_GRACE.
                    if jr.owner_gone([name.rsplit(".", 1)[-1]], path, STORE_GRACE):
                        os.unlink(path)
            except OSError:
                pass
