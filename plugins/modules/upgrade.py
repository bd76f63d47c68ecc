#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: upgrade
short_description: Run a three-phase Honeycomb upgrade payload (state check, install, verify) on a node
version_added: 0.1.0
description:
  - Validates a payload archive on the controller (and verifies its signature when asked) before any byte goes
    to the node, copies it into the node's content-addressed store C(<state_dir>/payloads/<sha256>.tar.gz) only
    when it is not there already (a re-run sends no payload bytes), then runs the payload's state check,
    install and verify scripts on the node under a per-node lock, with per-phase timeouts and retries.
  - When install or verify fails, restores the snapshot of the payload's C(backup_paths) and runs its
    C(hc_rollback_upgrade.sh). Every transition is journaled atomically in C(<state_dir>/jobs/<job_id>/journal.json);
    a job interrupted by a power cut or a killed connection is resolved by the next run according to the resume
    table in C(docs/upgrade.md).
  - Accepts payload format v2 and legacy 2021 Honeycomb payloads (see C(docs/payload-format.md)).
  - With O(state=rolled_back), undoes a B(succeeded) upgrade job instead (no payload of the older version
    needed) - the job given by O(job_id), or the newest applied job of O(peripheral). Under the node lock, its
    payload is re-extracted from the node's store, the snapshot of its C(backup_paths) taken before its install
    is restored, its C(hc_rollback_upgrade.sh) runs, and C(installed.json) is set back to the version the job
    recorded as installed before it. This is journaled as a new job of kind C(rollback) (status V(rolled_back)
    or V(rollback_failed); interrupted ones are resumed by the same rules as installs). Rolling back a job that
    was already rolled back is ok and unchanged.
  - The state check exit codes are C(0) needed, C(100) already applied (the task is ok and unchanged), C(21) retry
    later (the task is ok and unchanged with RV(status=retry_later), it does not fail), anything else a failed
    precondition.
author:
  - waggle.honeycomb developers (@waggle-sensor)
extends_documentation_fragment:
  - waggle.honeycomb._attributes
  - waggle.honeycomb._attributes.action_async
attributes:
  check_mode:
    support: full
    details:
      - Runs only the state check (read-only by contract) from a temporary job directory that is removed
        afterwards, and reports C(changed=true) when the upgrade would be applied.
      - With O(state=rolled_back), runs no script; checks everything the rollback needs (job, store entry,
        snapshot, recorded previous version) and reports what a real run would do.
      - A payload that is not in the node's store is copied to the remote temporary directory only.
  diff_mode:
    support: none
  action:
    support: full
  async:
    support: full
    details:
      - Only the real run is wrapped in C(async); the store look-up and the transfer happen before it.
      - O(wait=true) is the controller-side alternative (do not combine the two) - it also resumes a job the
        node lost with its power and reports a node that stays unreachable as unreachable.
options:
  src:
    description:
      - Path of the payload archive (C(.tar.gz), format v2 or legacy 2021) on the controller.
      - Required with O(state=applied). With O(state=rolled_back), optional - the payload of the job to undo,
        sent to the node only when its store entry is gone.
    type: path
  state:
    description:
      - V(applied) runs the payload O(src) (state check, install, verify).
      - V(rolled_back) undoes a succeeded upgrade job selected by O(job_id) or O(peripheral) (see the description).
    type: str
    choices: [applied, rolled_back]
    default: applied
  job_id:
    description:
      - With O(state=rolled_back), the id of the succeeded (V(applied)) upgrade job to undo (see
        M(waggle.honeycomb.upgrade_info)). It must be the job whose version is installed now.
      - Mutually exclusive with O(peripheral).
    type: str
  peripheral:
    description:
      - With O(state=rolled_back), undo the newest applied upgrade job of this peripheral. When that job was already
        rolled back, the task is ok and unchanged.
    type: str
  version:
    description:
      - With O(state=rolled_back), a guard - roll back only when the selected job installed this version; fail
        otherwise, without changing anything.
    type: str
  allowed_signers:
    description:
      - OpenSSH allowed-signers file on the controller. When set, the payload must carry a valid
        C(manifest.json.sig) made by one of these keys (namespace C(waggle-honeycomb)).
    type: path
  require_signature:
    description:
      - Refuse payloads without a valid signature. Needs O(allowed_signers).
    type: bool
    default: false
  parameters:
    description:
      - Values for the parameters declared in the payload's manifest; checked against its schema on the
        controller and again on the node. Scripts see them as C(HC_PARAM_<NAME>) environment variables.
    type: dict
    default: {}
  secret_parameters:
    description:
      - Like O(parameters), for values that must not be logged.
    type: dict
    default: {}
  state_dir:
    description:
      - Node-side state directory (payload store, jobs, journal, lock). Created with mode C(0700).
    type: path
    default: /var/lib/honeycomb
  node_id_file:
    description: File holding the node ID, passed to scripts as C(HC_NODE_ID).
    type: path
    default: /etc/waggle/node-id
  vsn_file:
    description: File holding the node's VSN, passed to scripts as C(HC_VSN).
    type: path
    default: /etc/waggle/vsn
  lock_timeout:
    description:
      - Seconds to wait for another upgrade running on the same node. When it expires the task fails with a
        message naming the running job. A run that finds the same payload with the same parameters running
        waits for it and reports that job's result instead of starting a second one.
    type: int
    default: 600
  max_resumes:
    description:
      - How many times an interrupted job may be resumed. One more interruption turns it C(inconsistent),
        which blocks further upgrades of its peripheral until cleared with O(clear_inconsistent).
      - With O(wait=true) also how many times the task itself starts a job again that the node lost (power cut
        or reboot while it ran); the loss after that ends the task with RV(status=lost), a failure.
    type: int
    default: 3
  wait:
    description:
      - Start the job detached on the node (by the node-resident engine, see O(resident_engine), else under
        Ansible's C(async_wrapper), so a dropped connection does not kill it) and wait for it on the controller,
        in this one task - poll it every O(poll_interval) seconds,
        ride out a dropped connection (reset and reconnect with backoff for up to O(reconnect_timeout) seconds),
        start a job the node lost with its power again (the engine resumes it by the resume rules) up to
        O(max_resumes) times, and return its final result with RV(wait).
      - A node that stays unreachable for O(reconnect_timeout) makes the task result unreachable (never a success);
        a job lost more than O(max_resumes) times fails it with RV(status=lost).
      - V(false) (the default) runs the job in the connection, as before; the rollout playbooks set V(true).
      - Not together with the task keywords C(async)/C(poll). In check mode the run is direct (it only runs the
        state check).
    type: bool
    default: false
  wait_timeout:
    description:
      - With O(wait=true), seconds the job may run on the node, resumes included (the job's C(async) time limit;
        a job that reaches it is killed and the task fails; the next run resumes it).
      - The default is O(reconnect_timeout)'s plus an hour for the install, so that a job cut by the node's network
        watchdog rebooting the node still has time to run again.
    type: int
    default: 7680
  poll_interval:
    description:
      - With O(wait=true), the longest pause between two looks at the job, seconds (the first looks come sooner,
        after 1, 2, 4 ... seconds).
    type: int
    default: 15
  reconnect_timeout:
    description:
      - With O(wait=true), seconds to keep trying to reach a node whose connection dropped (a reverse tunnel that
        went down, a node that rebooted) before the task result is unreachable.
      - The default follows the network watchdog of a Wild Sage node (see the collection's docs/upgrade.md);
        a node whose tunnel stays broken is rebooted by its watchdog after about 62 minutes; 4080 s (68 min)
        covers that reboot, the boot and the tunnel's restart, so the wait finds the job the reboot cut and
        resumes it instead of giving up on the node.
    type: int
    default: 4080
  maintenance_window:
    description:
      - The node's maintenance window(s), evaluated on the controller when the task starts - one mapping or a list of
        them, each with C(days) (the days it starts on, V(mon) ... V(sun), or V(daily); default every day), C(start)
        and C(end) (wall-clock C(HH:MM) in C(timezone); an end not after the start crosses midnight) and C(timezone)
        (an IANA name, default V(UTC)). The rollout playbooks pass the host variable C(honeycomb_maintenance_window).
      - Outside every window nothing is installed - the payload is put into the node's store (sent when missing, its
        SHA-256 verified on the node) and the task is ok with RV(status=deferred), a pending outcome; a later run
        inside a window installs it without sending it again. A window that cannot be read fails the task, naming the
        bad field. Not set - no window, the job runs at once.
    type: raw
  ignore_windows:
    description:
      - Run the job even outside O(maintenance_window) (an emergency); a bad window still fails the task. The rollout
        playbooks pass the variable C(honeycomb_ignore_windows).
    type: bool
    default: false
  transfer_rate_limit:
    description:
      - Highest average rate, bytes per second, at which the payload is sent to this node (for example on a metered
        or shared cellular link). Unset (the default) sends as fast as the link allows.
      - A host variable C(honeycomb_transfer_rate_limit) sets it per node when the task does not.
      - The cap is kept on average over each chunk (chunks are made small enough to last a few seconds at this rate).
    type: int
  transfer_stall_timeout:
    description:
      - Seconds without progress (no chunk of the payload finished) after which the connection is reset and the
        transfer resumed from what the node has verified. Default 60.
      - A host variable C(honeycomb_transfer_stall_timeout) sets it per node when the task does not.
      - The transfer gives up when it made no progress for O(reconnect_timeout) seconds; the partial file stays on
        the node and the next run resumes it.
    type: int
  keep_jobs:
    description: Number of finished jobs kept in the history on the node.
    type: int
    default: 20
  output_limit:
    description: Bytes of each script's stdout and stderr kept in the result (the last ones). Complete logs stay in
      the job's C(logs/) directory.
    type: int
    default: 65536
  kill_grace:
    description: Seconds between SIGTERM and SIGKILL when a script's process group is stopped.
    type: int
    default: 10
  already_applied_rc:
    description: Overrides the manifest's state-check exit codes meaning "already applied".
    type: list
    elements: int
  retry_later_rc:
    description: Overrides the manifest's state-check exit codes meaning "retry later".
    type: list
    elements: int
  legacy_state_check:
    description:
      - How to read the state check exit code of legacy 2021 payloads. V(readme) follows the 2021 README
        (rc C(1) = already in the target state); V(strict) follows the 2021 code (every non-zero rc is a
        failure, retried).
    type: str
    choices: [readme, strict]
    default: readme
  resident_engine:
    description:
      - Run the task with the node-resident engine when the node has the one of this collection version
        (one exec, no module sent; installed under O(state_dir) by the first module run or the
        C(node_prereqs) role; see C(docs/resident-engine.md)).
      - V(false) always runs the module.
    type: bool
    default: true
  _honeycomb:
    description:
      - Internal, set by the action plugin (payload SHA-256, path of the uploaded copy, look-up mode, the
        resident engine to install). Do not set it.
    type: dict
    default: {}
  clear_inconsistent:
    description:
      - Clear C(inconsistent) jobs of the payload's peripheral (after the operator brought it into a known
        state by hand) so the upgrade (or the rollback) can run.
    type: bool
    default: false
  boot_slot_command:
    description:
      - Command that prints the number of the boot slot the node runs from (NVIDIA L4T - C(nvbootctrl
        get-current-slot)). Its answer and the node's boot id are recorded in each job's journal and returned as
        RV(boot).
      - When the command is not on the node (or the value is empty) the slot is unknown - not an error; nothing is
        refused and no slots are compared.
      - The playbooks set it from the variable C(honeycomb_boot_slot_command).
    type: str
    default: nvbootctrl get-current-slot
  recovery_slot:
    description:
      - Number of the node's recovery boot slot - C(1) on Wild Sage nodes, the SD card copy with factory-old
        software and a volatile C(/var) that the network watchdog switches to after repeated failures (see
        C(docs/devices/node.md)). The playbooks set it from C(honeycomb_recovery_slot).
    type: int
    default: 1
  allow_recovery_slot:
    description:
      - A node running from O(recovery_slot) is refused (RV(status=recovery_slot), a failure; nothing runs, no
        payload is sent) unless this is V(true). The playbooks set it from C(upgrade_allow_recovery_slot).
      - An interrupted job that started on another boot slot than the node runs from now is ended
        V(inconsistent) by the next run, with a message naming both slots, whatever this says.
    type: bool
    default: false
notes:
  - Scripts run as the connection user (use C(become) for root) with cwd = the extracted payload, in their own
    process group, with C(HC_NODE_ID), C(HC_VSN), C(HC_JOB_ID), C(HC_PAYLOAD_DIR), C(HC_PHASE), C(HC_ATTEMPT),
    C(HC_STATE_DIR), C(HC_PAYLOAD_NAME), C(HC_PAYLOAD_VERSION), C(HC_PERIPHERAL), C(HC_BACKUP_DIR), C(HC_RESUMED)
    and C(HC_PARAM_*) in the environment.
  - The node-side code runs on Python 3.6 and newer (ansible-core 2.16 for Python 3.6 nodes).
seealso:
  - module: waggle.honeycomb.upgrade_info
"""

EXAMPLES = r"""
- name: Apply a payload to every node
  waggle.honeycomb.upgrade:
    src: payloads/switch-config-1.2.0.tar.gz
    parameters:
      switch_address: 10.31.81.2

- name: Long install over a fragile tunnel, signed payloads only
  waggle.honeycomb.upgrade:
    src: payloads/camera-firmware-2.0.tar.gz
    allowed_signers: keys/allowed_signers
    require_signature: true
  async: 3600
  poll: 15
  register: upgrade

- name: Long install over a fragile tunnel, waited for on the controller (resumes a job lost with the power)
  waggle.honeycomb.upgrade:
    src: payloads/camera-firmware-2.0.tar.gz
    wait: true
    poll_interval: 15
    reconnect_timeout: 600
    max_resumes: 1
  register: upgrade

- name: Undo the newest succeeded upgrade of the camera firmware (restore its snapshot, run its rollback script)
  waggle.honeycomb.upgrade:
    state: rolled_back
    peripheral: camera
    version: "2.0"        # optional guard: only if 2.0 is what the newest applied job installed

- name: Undo one job; send its payload again should the node's store have lost it
  waggle.honeycomb.upgrade:
    state: rolled_back
    job_id: 20240101T120000Z-3f2a9c0d1e2b-1a2b
    src: payloads/camera-firmware-2.0.tar.gz

- name: Clear an inconsistent job after fixing the peripheral by hand
  waggle.honeycomb.upgrade:
    src: payloads/camera-firmware-2.0.tar.gz
    clear_inconsistent: true
"""

RETURN = r"""
boot:
  description:
    - The node's boot when the module ran - C(boot_id), C(slot) (null when unknown), C(slot_known), C(recovery),
      C(recovery_slot), C(slot_command), C(slot_error). The job's journal records the same as C(boot).
  returned: always (not with O(wait=true) when the node was unreachable)
  type: dict
  sample: {"boot_id": "0f4c8a4e-3b1d-4a7e-9a59-5d0c3f1e2b7a", "slot": 0, "slot_known": true, "recovery": false,
           "recovery_slot": 1, "slot_command": "nvbootctrl get-current-slot", "slot_error": null}
status:
  description:
    - Final status of the job. One of V(applied), V(already_applied), V(retry_later), V(failed), V(rolled_back),
      V(rollback_failed), V(inconsistent); V(interrupted) when the module itself got SIGTERM; in check mode
      V(needed), V(already_applied), V(retry_later) or V(failed).
    - V(recovery_slot) when the node runs from its recovery boot slot and O(allow_recovery_slot) is false (nothing
      ran; the task fails).
    - With O(wait=true), V(inconsistent) also when the node came back on another boot slot than the job started on
      (C(boot_slots) in RV(wait) names both).
    - With O(wait=true) also V(lost) (the node lost the job more than O(max_resumes) times; the task fails) and
      V(unreachable) (the node stayed unreachable for O(reconnect_timeout); the task result is unreachable).
    - With O(state=rolled_back) - V(rolled_back) (the task is ok; unchanged when it had been rolled back already),
      V(rollback_failed), V(failed) (nothing changed), V(inconsistent); in check mode V(needed) or V(rolled_back).
    - V(deferred) outside the node's O(maintenance_window) - nothing was installed (the task is ok; see RV(staged)).
  returned: when the payload was in the node's store
  type: str
  sample: applied
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
job_id:
  description: Id of the job (directory name under C(<state_dir>/jobs)).
  returned: when a job ran
  type: str
  sample: 20240101T120000Z-3f2a9c0d1e2b-1a2b
journal:
  description: Path of the job's journal on the node.
  returned: when a job ran
  type: str
resumed:
  description: Whether this result comes from resuming an interrupted job.
  returned: when a job ran
  type: bool
resumes:
  description: How many times the job was resumed.
  returned: when a job ran
  type: int
kind:
  description: V(upgrade), or V(rollback) for O(state=rolled_back).
  returned: when a job ran
  type: str
rollback_of:
  description: The upgrade job that a rollback job undid.
  returned: with O(state=rolled_back)
  type: str
restored_version:
  description: The version a rollback set the peripheral back to (null - the peripheral had no recorded version).
  returned: with O(state=rolled_back)
  type: str
missing:
  description: The store entry or snapshot path a rollback needed and did not find.
  returned: when a rollback failed for that reason
  type: str
phases:
  description:
    - Per phase (C(state_check), C(install), C(verify), C(rollback)) the last attempt's C(rc) (negative = killed
      by that signal), C(attempts), total C(duration) in seconds, C(started) and C(finished) (UTC ISO 8601 with
      milliseconds, first attempt's start and last attempt's end), C(started_epoch) and C(finished_epoch) (the same
      as seconds since the epoch), C(timed_out), C(stdout_tail), C(stderr_tail) and the paths of the complete logs
      on the node.
  returned: when a job ran
  type: dict
rollback:
  description:
    - Rollback details; C(performed), C(ok), C(failed_phase), C(holders) (processes that held files under
      C(backup_paths)), C(units_stopped), C(restore) (C(restored), C(removed), C(errors)), C(script), C(units_started).
  returned: when install or verify failed
  type: dict
peripheral:
  description: Peripheral the payload is for.
  returned: when a job ran
  type: str
installed_version:
  description: Version now installed for the peripheral according to C(<state_dir>/installed.json).
  returned: when a job ran
  type: str
installed:
  description: The C(installed.json) record of the peripheral (version, name, payload_sha256, job_id, time).
  returned: when a job ran
  type: dict
payload:
  description: Name, version, peripheral, format and sha256 of the payload.
  returned: when the payload was in the node's store
  type: dict
staged:
  description: With RV(status=deferred), whether the payload is now in the node's store (not in check mode).
  returned: with RV(status=deferred)
  type: bool
maintenance_window:
  description:
    - With RV(status=deferred), the window evaluation - C(open) (false), C(windows) (each as text), C(next_open) (UTC
      time the next window opens, or null), C(ignored) and C(msg).
  returned: with RV(status=deferred)
  type: dict
payload_transferred:
  description: Whether the payload archive was copied to the node by this task.
  returned: always
  type: bool
payload_bytes_sent:
  description: Payload bytes sent to the node by this task (0 on a re-run).
  returned: always
  type: int
transfer:
  description:
    - When the payload was sent by the resumable transfer, what it took - C(size), C(bytes_sent) (payload bytes put on
      the connection, re-sent ones included), C(bytes_received) (payload bytes the node received and wrote, which is
      less than C(bytes_sent) when a drop lost bytes in flight), C(bytes_resumed) (bytes the node already had from an earlier run),
      C(bytes_resent) (bytes sent more than once in this task), C(attempts) (connections used), C(reconnects),
      C(stalls), C(chunks), C(max_chunk), C(chunk_mismatches), C(discarded) (complete files that had the wrong
      SHA-256 and were sent again), C(duration) (seconds) and C(stored).
    - Also returned with the failure of a transfer that could not finish.
  returned: when the payload was transferred
  type: dict
waited_for_job:
  description: Id of the identical job this run waited for and whose result it reports.
  returned: when the same upgrade was already running
  type: str
wait:
  description:
    - With O(wait=true), what the wait saw - C(started) and C(finished) (UTC ISO 8601), C(duration) (seconds),
      C(jobs) (the async job ids started, the first and each resume), C(polls), C(losses) (jobs the node lost),
      C(resumes), C(reconnects), C(unreachable_seconds) (time spent reconnecting) and C(events) (each with
      C(event) - C(started), C(unreachable), C(reconnected), C(lost), C(resumed), C(finished), C(gave_up),
      C(timed_out), C(boot_changed), C(slot_changed) - and C(at)), and C(boot_slots) (each boot seen, C(slot) and
      C(boot_id), first the one the job started on). The job's own phases and their times are in RV(phases).
  returned: with O(wait=true)
  type: dict
interrupted:
  description: With RV(status=lost), the node's interrupted jobs (see M(waggle.honeycomb.upgrade_info)).
  returned: with RV(status=lost)
  type: list
  elements: dict
resolved_jobs:
  description: Interrupted jobs of other payloads that this run resolved first (job_id, status, msg, journal).
  returned: when there were any
  type: list
  elements: dict
traffic:
  description:
    - Bytes this task moved over its connection to the node, counted by the action plugin on the controller
      (every exec's command line, standard input, output and error, every file put or fetched), to budget
      cellular data. See the C(Bytes per node) section of C(docs/upgrade.md) for what is and is not counted.
  returned: always (set by the action plugin)
  type: dict
  contains:
    sent:
      description: Bytes handed to the connection towards the node (command lines, module code and arguments, payload).
      type: int
    received:
      description: Bytes the connection returned (standard output and error, fetched files).
      type: int
    execs:
      description: Commands run on the node (each one SSH channel).
      type: int
    files:
      description: Files put on or fetched from the node.
      type: int
    failed_execs:
      description: Execs whose connection failed; what they were handed is counted as sent.
      type: int
    by_category:
      description:
        - C(sent), C(received), C(execs) and C(files) of C(payload) (the payload transfer), C(modules) (module runs -
          code, arguments and results) and C(commands) (the store look-up, reading a job's result, clean-ups).
      type: dict
    wire_estimate:
      description:
        - Estimate of the bytes on the node's link, C(sent) (towards the node) and C(received), with C(compression)
          (whether the ssh connection compresses, C(-C)) - the data as ssh compresses it, SSH framing of the
          connection and of the node's reverse tunnel, channel set-up per exec, window adjustments, and C(logins),
          the new SSH logins counted in (one when the task started without a running ControlMaster, one per
          connection reset).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import controller_options
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import resident_engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner


def main():
    # the wait, window and transfer options and resident_engine are the action plugin's
    spec = dict(engine.argument_spec(), **dict(controller_options.CONTROLLER_OPTIONS, **resident_engine.RESIDENT_OPTIONS))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **engine.ARGUMENT_CONSTRAINTS)
    runner.install_signal_handlers()
    resident_engine.run_module(module, controller_options.without_controller_options(module.params),
                               lambda params: resident_engine.run_upgrade(params, module.check_mode))


if __name__ == "__main__":
    main()
