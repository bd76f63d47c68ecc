#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: upgrade_info
short_description: Read a node's Honeycomb upgrade history and installed versions
version_added: 0.1.0
description:
  - Reads the state directory written by M(waggle.honeycomb.upgrade) on a node - the job history (what ran,
    when, with what result), the version installed per peripheral, jobs that were interrupted or are
    C(inconsistent), and the job holding the per-node lock right now.
  - Reads only; never takes the lock and never changes anything.
author:
  - waggle.honeycomb developers (@waggle-sensor)
extends_documentation_fragment:
  - waggle.honeycomb._attributes.info_module
options:
  state_dir:
    description: Node-side state directory of M(waggle.honeycomb.upgrade).
    type: path
    default: /var/lib/honeycomb
  limit:
    description: Return at most this many jobs (the newest).
    type: int
    default: 20
  job_id:
    description: Return only this job, with its full journal (events, phase results).
    type: str
  peripheral:
    description: Return only jobs of this peripheral.
    type: str
  async_jid:
    description:
      - Also say whether the Ansible async job with this id (C(ansible_job_id) of a task run with C(async) and
        C(poll=0), such as M(waggle.honeycomb.upgrade) in C(playbooks/upgrade.yml)) is still alive on the node,
        finished, or lost (killed with the node's power, its status file saying "started" for ever).
      - ansible.builtin.async_status cannot tell a lost job from a running one.
    type: str
  async_dir:
    description: Directory of the async status files on the node (Ansible's C(async_dir) setting).
    type: str
    default: ~/.ansible_async
  boot_slot_command:
    description:
      - Command that prints the number of the boot slot the node runs from (RV(boot)). A node without it (or
        with an empty value) reports the slot as unknown; that is not an error.
      - The same option of M(waggle.honeycomb.upgrade); the playbooks set both from C(honeycomb_boot_slot_command).
    type: str
    default: nvbootctrl get-current-slot
  recovery_slot:
    description:
      - Number of the node's recovery boot slot (C(1) on Wild Sage nodes - the SD card copy the network watchdog
        switches to). C(recovery) in RV(boot) is true when the node runs from it.
      - Set from C(honeycomb_recovery_slot) by the playbooks.
    type: int
    default: 1
seealso:
  - module: waggle.honeycomb.upgrade
"""

EXAMPLES = r"""
- name: What ran on the nodes and what is installed
  waggle.honeycomb.upgrade_info:
  register: hc

- name: Show the installed switch configuration version
  ansible.builtin.debug:
    msg: "{{ hc.installed['Ubiquiti Edgeswitch'].version | default('none') }}"

- name: Full journal of one job
  waggle.honeycomb.upgrade_info:
    job_id: 20240101T120000Z-3f2a9c0d1e2b-1a2b

- name: Wait for an upgrade started with async/poll 0, stopping early if the node lost it
  waggle.honeycomb.upgrade_info:
    async_jid: "{{ started.ansible_job_id }}"
    limit: 0
  register: job
  until: job.async_job.finished or job.async_job.lost
  retries: 240
  delay: 15
"""

RETURN = r"""
boot:
  description:
    - The node's boot now - C(boot_id) (the kernel's, new at every boot), C(slot) (number of the boot slot it runs
      from, null when unknown), C(slot_known), C(recovery) (true on the recovery slot, where the upgrade refuses to
      run unless C(allow_recovery_slot); null when the slot is unknown), C(recovery_slot), C(slot_command) and
      C(slot_error) (why a present slot command gave no slot).
    - Each job also records the boot it started on (C(boot) in RV(jobs)).
  returned: always
  type: dict
  sample: {"boot_id": "0f4c8a4e-3b1d-4a7e-9a59-5d0c3f1e2b7a", "slot": 0, "slot_known": true, "recovery": false,
           "recovery_slot": 1, "slot_command": "nvbootctrl get-current-slot", "slot_error": null}
state_dir_exists:
  description: Whether the state directory exists (false on a node that never ran an upgrade).
  returned: always
  type: bool
installed:
  description: Per peripheral the installed C(version), C(name), C(payload_sha256), C(job_id) and C(time).
  returned: always
  type: dict
  sample: {"demo": {"version": "1.0", "name": "demo", "payload_sha256": "7fbf...", "job_id": "2024...", "time": "2024-01-01T12:00:00Z"}}
jobs:
  description:
    - Newest first. Each has C(job_id), C(kind) (C(upgrade), or C(rollback) for an explicit rollback of a
      succeeded upgrade made by M(waggle.honeycomb.upgrade) with C(state=rolled_back)), C(name), C(version),
      C(peripheral), C(payload_sha256), C(status), C(msg), C(created), C(finished), C(phase) (last phase entered),
      C(resumes), C(cleared), C(previous_version) (installed before the job), C(rollback_of) (for rollback jobs, the
      job undone), C(rolled_back_by) (upgrade jobs undone by a rollback job), C(boot) (the boot id and boot slot the
      job started on, as in RV(boot); null for jobs of older versions), C(journal) and, per phase run, C(rc),
      C(attempts), C(duration), C(started), C(finished) (UTC ISO 8601), C(timed_out). With O(job_id), the full
      journal.
    - Each also has C(outcome), what its status means by the collection's status model (docs/rollout.md,
      Statuses and outcomes) for the job's kind - C(success), C(failure), C(pending) (for example still running)
      - an interrupted job (a phase was running and no live process owns it) is a C(failure).
  returned: always
  type: list
  elements: dict
last_jobs:
  description:
    - Per peripheral, its newest job (whatever O(limit) and O(peripheral) say) - C(job_id), C(kind), C(version),
      C(status), C(outcome) (by the status model, as in RV(jobs)) and C(finished).
  returned: always
  type: dict
  sample: {"demo": {"job_id": "2024...", "kind": "upgrade", "version": "1.0", "status": "rolled_back",
                    "outcome": "failure", "finished": "2024-01-01T12:00:00Z"}}
interrupted:
  description: Jobs whose journal says a phase was running and no live process owns them; the next upgrade run
    resolves them by the resume rules.
  returned: always
  type: list
  elements: dict
inconsistent:
  description: Inconsistent jobs not cleared yet; each blocks upgrades of its peripheral until an upgrade runs with
    C(clear_inconsistent=true).
  returned: always
  type: list
  elements: dict
waiting:
  description: Upgrade runs waiting for the per-node lock (job key, name, version, since, owner pid).
  returned: always
  type: list
  elements: dict
running:
  description: The holder of the per-node lock (job_id, name, version, pid, started), or null when none.
  returned: always
  type: dict
async_job:
  description:
    - The async job O(async_jid) - C(jid), C(results_file), C(exists) (its status file), C(finished), C(alive)
      (a process of its async_wrapper runs) and C(lost) (not finished and nothing of it alive; run the upgrade
      again to resume what it left, by the resume rules).
  returned: when O(async_jid) is given
  type: dict
  sample: {"jid": "j815917136440.4084", "results_file": "/root/.ansible_async/j815917136440.4084", "exists": true,
           "finished": false, "alive": false, "lost": true}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import asyncjob
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import bootslot
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock as lk
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import DEFAULT_STATE_DIR
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as hs

SUMMARY_KEYS = ("job_id", "name", "version", "peripheral", "payload_sha256", "format", "status", "msg", "created",
                "finished", "updated", "phase", "phase_state", "resumes", "resumed", "cleared", "rollback_of",
                "rolled_back_by", "boot")


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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
            limit=dict(type="int", default=20),
            job_id=dict(type="str"),
            peripheral=dict(type="str"),
            async_jid=dict(type="str"),
            async_dir=dict(type="str", default="~/.ansible_async"),
            boot_slot_command=dict(type="str", default=bootslot.DEFAULT_SLOT_COMMAND),
            recovery_slot=dict(type="int", default=bootslot.DEFAULT_RECOVERY_SLOT),
        ),
        supports_check_mode=True,
    )
    state = jr.StateDir(module.params["state_dir"])
    result = {"changed": False, "state_dir_exists": state.exists(), "installed": {}, "jobs": [], "last_jobs": {},
              "interrupted": [], "inconsistent": [], "running": None, "waiting": [],
              "boot": bootslot.probe(module.params["boot_slot_command"], module.params["recovery_slot"])}
    if module.params["async_jid"]:
        result["async_job"] = asyncjob.job_state(module.params["async_jid"], module.params["async_dir"])
    if not state.exists():
        module.exit_json(**result)
    if not os.access(state.root, os.R_OK | os.X_OK):
        module.fail_json(msg="cannot read the state directory %s (mode 0700, owned by the user that runs "
                             "upgrades): use become" % state.root, **result)
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
    if module.params["peripheral"] is not None:
        jobs = [j for j in jobs if j.data.get("peripheral") == module.params["peripheral"]]
    if module.params["job_id"] is not None:
        found = [j for j in jobs if j.job_id == module.params["job_id"]]
        if not found:
            module.fail_json(msg="no job %s in %s (it may have been pruned: keep_jobs)" % (
                module.params["job_id"], state.jobs_dir), **result)
        full = dict(found[0].data)
        full["journal"] = found[0].path
        full["outcome"] = job_outcome(found[0], found[0].job_id in interrupted)
        result["jobs"] = [full]
    else:
        limit = max(0, module.params["limit"])
        result["jobs"] = [summarise(j, j.job_id in interrupted) for j in reversed(jobs)][:limit]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
