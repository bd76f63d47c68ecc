# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``waggle.honeycomb.upgrade_info`` reports (runs on nodes, Python 3.6+, stdlib only).

:func:`collect` is the whole module behind its argument parsing, so that the module and the node-resident
engine (``resident_engine.py``) give the same result for the same parameters.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import asyncjob
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import bootslot
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock as lk
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import DEFAULT_STATE_DIR
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as hs

SUMMARY_KEYS = ("job_id", "name", "version", "peripheral", "payload_sha256", "format", "status", "msg", "created",
                "finished", "updated", "phase", "phase_state", "resumes", "resumed", "cleared", "rollback_of",
                "rolled_back_by", "boot")


def argument_spec():
    """Options of ``waggle.honeycomb.upgrade_info`` (module and action plugin)."""
    return dict(
        state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
        limit=dict(type="int", default=20),
        job_id=dict(type="str"),
        peripheral=dict(type="str"),
        async_jid=dict(type="str"),
        async_dir=dict(type="str", default="~/.ansible_async"),
        boot_slot_command=dict(type="str", default=bootslot.DEFAULT_SLOT_COMMAND),
        recovery_slot=dict(type="int", default=bootslot.DEFAULT_RECOVERY_SLOT),
        resident_engine=dict(type="bool", default=True),
        # Internal, set by the action plugin: the node-resident engine to install (resident_engine.py).
        _honeycomb=dict(type="dict", default={}),
    )


def job_outcome(job, interrupted=False):
    """The job's outcome by the status model (an interrupted job is a failure); None for a status it does
    not know (a journal of another version), which is never a success."""
    kind = job.data.get("kind", hs.UPGRADE)
    try:
        return hs.outcome(hs.INTERRUPTED if interrupted else job.data.get("status"),
                          kind if kind in hs.KINDS else hs.UPGRADE)
    except ValueError:
        return None


def summarise(job, interrupted=False):
    data = job.data
    out = dict((k, data.get(k)) for k in SUMMARY_KEYS)
    out["kind"] = data.get("kind", "upgrade")
    out["outcome"] = job_outcome(job, interrupted)
    out["previous_version"] = (data.get("previous_installed") or {}).get("version")
    out["journal"] = job.path
    keys = ("rc", "attempts", "duration", "started", "finished", "timed_out")
    out["phases"] = dict((name, dict((k, res.get(k)) for k in keys))
                         for name, res in (data.get("phases") or {}).items() if res)
    if data.get("rollback"):
        out["rollback_ok"] = data["rollback"].get("ok")
    return out


def last_jobs(jobs, interrupted):
    """{peripheral: its newest job's job_id, kind, version, status, outcome, finished}."""
    out = {}
    for job in jr.by_creation(jobs):
        out[job.data.get("peripheral")] = {
            "job_id": job.job_id, "kind": job.data.get("kind", "upgrade"), "version": job.data.get("version"),
            "status": job.status, "outcome": job_outcome(job, job.job_id in interrupted),
            "finished": job.data.get("finished")}
    return out


def collect(params):
    """The module result for validated ``params``; ``failed: true`` with ``msg`` when it cannot be read."""
    state = jr.StateDir(params["state_dir"])
    result = {"changed": False, "state_dir_exists": state.exists(), "installed": {}, "jobs": [], "last_jobs": {},
              "interrupted": [], "inconsistent": [], "running": None, "waiting": [],
              "boot": bootslot.probe(params.get("boot_slot_command", bootslot.DEFAULT_SLOT_COMMAND),
                                     params.get("recovery_slot", bootslot.DEFAULT_RECOVERY_SLOT))}
    if params.get("async_jid"):
        internal = params.get("_honeycomb") or {}
        result["async_job"] = asyncjob.job_state(params["async_jid"], params["async_dir"],
                                                 collect=bool(internal.get("collect")))
        if internal.get("forget"):  # the task's earlier jobs, lost and resumed: their status files go
            result["async_job"]["forgotten"] = asyncjob.forget(internal["forget"], params["async_dir"])
    if not state.exists():
        return result
    if not os.access(state.root, os.R_OK | os.X_OK):
        result.update(failed=True, msg="cannot read the state directory %s (mode 0700, owned by the user that runs "
                                       "upgrades): use become" % state.root)
        return result
    result["installed"] = state.installed()
    lock = lk.NodeLock(state)
    holder = lock.holder() if os.path.exists(state.lock_path) else None
    if holder:
        keys = ("job_id", "name", "version", "peripheral", "payload_sha256", "pid", "started")
        result["running"] = dict((k, holder.get(k)) for k in keys)
    for path in state.waiting_files():
        waiter = jr.read_json(path)
        if waiter and jr.identity_alive(waiter.get("owner")):
            keys = ("name", "version", "peripheral", "payload_sha256", "since", "pid")
            result["waiting"].append(dict((k, waiter.get(k)) for k in keys))
    jobs = state.list_jobs()
    running_id = (holder or {}).get("job_id")
    interrupted = set()
    for job in jobs:
        if not job.terminal and job.job_id != running_id and not job.owner_alive():
            interrupted.add(job.job_id)
            result["interrupted"].append(summarise(job, interrupted=True))
        if job.status == "inconsistent" and not job.data.get("cleared"):
            result["inconsistent"].append(summarise(job))
    result["last_jobs"] = last_jobs(jobs, interrupted)
    if params.get("peripheral") is not None:
        jobs = [j for j in jobs if j.data.get("peripheral") == params["peripheral"]]
    if params.get("job_id") is not None:
        found = [j for j in jobs if j.job_id == params["job_id"]]
        if not found:
            result.update(failed=True, msg="no job %s in %s (it may have been pruned: keep_jobs)" % (
                params["job_id"], state.jobs_dir))
            return result
        full = dict(found[0].data)
        full["journal"] = found[0].path
        full["outcome"] = job_outcome(found[0], found[0].job_id in interrupted)
        result["jobs"] = [full]
    else:
        limit = max(0, params.get("limit") if params.get("limit") is not None else 20)
        result["jobs"] = [summarise(j, j.job_id in interrupted) for j in reversed(jobs)][:limit]
    return result
