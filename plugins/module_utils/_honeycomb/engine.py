# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three-phase upgrade engine (runs on nodes, Python 3.6+, stdlib only).

``Engine(params, check_mode).run()`` returns the module result. :meth:`Engine.run` coordinates the
parts, one job per file:

* ``layout.py``: where everything lives in the state dir (``journal.StateDir`` adds the job history);
* ``store.py``: the payload store (look-up, moving an upload in, pruning);
* ``admission.py``: options, the node's own payload inspection, the lock, blocking inconsistent jobs;
* ``resume.py``: the resume rules of interrupted jobs (the table in ``docs/upgrade.md``; keep both in step);
* ``phases.py``: extract, state check, backup, install, verify, and the check-mode run;
* ``rollback.py``: undoing a failed job, and the explicit rollback of a succeeded one.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import admission
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import bootslot
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout as lo
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import phases as ph
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import resume
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import rollback as rb
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.admission import EngineFailure
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import store as st

CHANGED_STATUSES = ("applied", "rolled_back", "rollback_failed")


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
        state_dir=dict(type="path", default=lo.DEFAULT_STATE_DIR),
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
        boot_slot_command=dict(type="str", default=bootslot.DEFAULT_SLOT_COMMAND),
        recovery_slot=dict(type="int", default=bootslot.DEFAULT_RECOVERY_SLOT),
        allow_recovery_slot=dict(type="bool", default=False),
        # Internal, set by the action plugin: payload_sha256, payload_upload, payload_bytes_sent,
        # payload_transferred (its resumable transfer put the payload into the store), lookup_only.
        _honeycomb=dict(type="dict", default={}),
    )


ARGUMENT_CONSTRAINTS = dict(
    required_if=[("state", "applied", ("src",)), ("state", "rolled_back", ("job_id", "peripheral"), True)],
    mutually_exclusive=[("job_id", "peripheral")],
)
"""``required_if``/``mutually_exclusive`` of :func:`argument_spec` (module and action plugin)."""

INTERNAL_KEYS = ("payload_sha256", "payload_upload", "payload_bytes_sent", "payload_transferred", "lookup_only")


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


class Engine(admission.AdmissionMixin, resume.ResumeMixin, ph.PhasesMixin, rb.RollbackMixin):
    """One run of the upgrade module. The state of the run (options ``p``, payload ``sha``, its
    ``payload``/``manifest``/``param_env``/``key`` once inspected, the ``current_job``, ``notes`` and
    ``resolved`` jobs for the result) is shared by the parts mixed in from admission.py, resume.py,
    phases.py and rollback.py; the payload store is :attr:`store`."""

    def __init__(self, params, check_mode=False, payload_module=None):
        self.p = params
        self.check_mode = check_mode
        self.pl = payload_module or pl
        self.state = jr.StateDir(params["state_dir"])
        self.sha = (params.get("_payload_sha256") or "").lower()
        self.output_limit = max(256, int(params.get("output_limit") or 65536))
        self.journal_limit = min(self.output_limit, ph.JOURNAL_TAIL_LIMIT)
        self.payload = None
        self.manifest = None
        self.param_env = {}
        self.key = None
        self.current_job = None
        self.boot = None
        self.resolved = []
        self.notes = []
        self.store = st.PayloadStore(self.state, self.sha, check_mode=check_mode, payload_module=self.pl,
                                     notes=self.notes)

    def run(self):
        """Admit the run (options, payload in the store, its inspection, the lock), then check, upgrade
        (resuming or resolving interrupted jobs first) or roll back; prune the history. Returns the
        module result."""
        base = {"changed": False, "payload_transferred": False, "payload_bytes_sent": 0}
        try:
            rollback = self.p.get("state") == "rolled_back"
            self._check_options(need_payload=not rollback)
            self._admit_boot()
            self.store.prune_uploads(keep=self.p.get("_payload_upload"))
            store_path = None
            if self.sha or not rollback:
                store_path, transferred = self.store.lookup(self.p.get("_payload_upload"))
                if store_path is None:
                    base.update(payload_missing=True, msg="payload %s is not in the node's store %s; the action "
                                "plugin transfers it and runs the module again" % (self.sha, self.state.payloads_dir))
                    if self.notes:
                        base["notes"] = self.notes
                    return base
                if self.p.get("_lookup_only"):
                    base.update(payload_missing=False, msg="payload %s is in the node's store" % self.sha)
                    return base
                transferred = transferred or bool(self.p.get("_payload_transferred"))
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
        if self.boot is not None:
            base["boot"] = self.boot
        if self.notes:
            base["notes"] = self.notes
        return base

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
                                    kind="upgrade", previous_installed=self.state.installed().get(peripheral),
                                    boot=self.boot)
            self._own(job, lock, info)
            self._execute(job, store_path)
        return self._result(job)

    def _own(self, job, lock, info):
        """Make ``job`` this run's current job: owned by this process, running, named in the lock."""
        job.data["owner"] = jr.process_identity()
        job.data["status"] = "running"
        job.save()
        info = dict(info, job_id=job.job_id)
        lock.update(info)
        self.current_job = job

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
        """Bound the job history and the payload store (under the lock, after the run's job)."""
        keep = set([self.current_job.job_id]) if self.current_job else set()
        self.state.prune(int(self.p.get("keep_jobs", 20)), keep=keep)
        self.store.prune(referenced=[self.sha])
