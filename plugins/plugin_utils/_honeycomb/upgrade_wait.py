# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller-side wait of ``waggle.honeycomb.upgrade`` with ``wait: true`` (controller only).

:class:`JobWaiter` starts the upgrade job detached on the node, polls it and returns its final result;
it rides out a dropped tunnel and resumes a job the node lost, all within one task:

* **start**: the job runs detached on the node (started by the node-resident engine, else under Ansible's
  ``async_wrapper``; the same status file), so a connection that drops does not kill it. Its time limit is what is left of ``wait_timeout``.
* **poll** (``waggle.honeycomb.upgrade_info`` with ``async_jid``) every ``poll_interval`` seconds (the
  first polls sooner: 1, 2, 4 ... seconds) says whether the job is alive, finished or **lost**: a power cut
  kills the job with its wrapper, and its status file keeps saying "started" for ever.
* **dropped connection** (any operation raises ``AnsibleConnectionFailure``): the connection is reset
  and tried again with exponential backoff (1, 2, 4 ... 12 s plus up to 1 s of jitter, as
  ``ansible.builtin.reboot`` does) until ``reconnect_timeout`` after the drop; then the result is
  **unreachable** (``unreachable: true``, status ``unreachable``), never a success.
* **lost job**: started again, which resumes it by the engine's resume rules, at most ``max_resumes``
  times in the task; the loss after that ends the task with status ``lost`` (a failure).
* **finished**: the job's result is collected and returned, with ``wait`` (what the wait saw, below).
* **boot slot changed**: every poll reports the node's boot (``upgrade_info``'s ``boot``); a node that comes back
  on another boot slot than the first one seen (the network watchdog switched it to its recovery slot) ends the
  wait with status ``inconsistent``, naming both slots: the job's journal is on the other slot's file system.

The operations are callables so that the loop is tested without a node (tests/unit/plugins/action/test_upgrade_wait.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import secrets
import time
from datetime import datetime, timezone

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st

MAX_BACKOFF = 12
"""Longest pause between two reconnect attempts, seconds (plus up to 1 s of jitter)."""
FINISH_GRACE = 120
"""Seconds past ``wait_timeout`` the job's own time limit (async_wrapper kills it) gets to show up
before the wait gives up on a job that still claims to run."""
# the statuses the wait itself gives a node, from the status model (their outcomes are defined there)
STATUS_UNREACHABLE = st.UNREACHABLE
STATUS_LOST = st.LOST
STATUS_FAILED = st.FAILED
STATUS_INCONSISTENT = st.INCONSISTENT


def _iso(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")


class JobWaiter:
    """Run one upgrade job to its end through a connection that may drop (see the module docstring).

    Operations (each may raise ``AnsibleConnectionFailure``):

    * ``start(time_limit)``: start the job detached; returns the start result, which carries
      ``ansible_job_id`` (anything else, e.g. a refused payload, is returned as the task result).
    * ``poll(jid)``: ``upgrade_info``'s result for the job (its ``async_job``: finished/alive/lost, and
      the node's ``interrupted`` jobs).
    * ``collect(async_job)``: the job's result (the module result the node wrote).
    * ``reset()``: drop the connection so the next operation opens a new one.
    * ``probe()``: a cheap command that raises while the node cannot be reached.
    """

    def __init__(self, start, poll, collect, reset, probe, wait_timeout, poll_interval, reconnect_timeout, max_resumes,
                 clock=None, wall=None, sleep=None, jitter=None, log=None):
        for name, value in (("wait_timeout", wait_timeout), ("poll_interval", poll_interval),
                            ("reconnect_timeout", reconnect_timeout), ("max_resumes", max_resumes)):
            if value is None or value < 0 or (value == 0 and name in ("wait_timeout", "poll_interval")):
                raise ValueError("%s must be %s, got %r" % (
                    name, "a number of seconds > 0" if name in ("wait_timeout", "poll_interval") else ">= 0", value))
        self.start, self.poll, self.collect, self.reset, self.probe = start, poll, collect, reset, probe
        self.wait_timeout, self.poll_interval = wait_timeout, poll_interval
        self.reconnect_timeout, self.max_resumes = reconnect_timeout, max_resumes
        self.clock, self.wall, self.sleep = clock or time.monotonic, wall or time.time, sleep or time.sleep
        self.jitter = jitter or (lambda: secrets.randbelow(1000) / 1000.0)
        self.log = log or (lambda msg: None)
        self.info = {"jobs": [], "polls": 0, "reconnects": 0, "unreachable_seconds": 0.0, "losses": 0,
                     "resumes": 0, "events": [], "boot_slots": []}
        self._first_boot = None
        self._deadline = None
        self._last_poll = None

    # -- helpers -------------------------------------------------------------------------------------
    def _event(self, event, **fields):
        entry = {"event": event, "at": _iso(self.wall())}
        entry.update(fields)
        self.info["events"].append(entry)
        self.log("%s %s" % (event, " ".join("%s=%s" % kv for kv in sorted(fields.items()))))

    def _left(self):
        return self._deadline - self.clock()

    def _pause(self, seconds):
        if seconds > 0:
            self.sleep(seconds)

    def _through_drops(self, what, operation):
        """``operation()``, retried after a reset with backoff while the connection fails, until
        ``reconnect_timeout`` after the first failure (and not past the wait's deadline). Returns
        (True, value) or (False, last error message) when the node stayed unreachable."""
        try:
            return True, operation()
        except AnsibleConnectionFailure as exc:
            error = to_text(exc)
        dropped = self.clock()
        until = min(dropped + self.reconnect_timeout, self._deadline + FINISH_GRACE)
        self._event("unreachable", during=what, error=error.strip().splitlines()[-1][:300] if error.strip() else "")
        fails = 0
        while True:
            try:
                self.reset()
            except AnsibleConnectionFailure:
                pass
            pause = min(2 ** fails, MAX_BACKOFF) + self.jitter()
            if self.clock() + pause > until:
                pause = until - self.clock()
            self._pause(pause)
            fails += 1
            try:
                self.probe()
                value = operation()
            except AnsibleConnectionFailure as exc:
                error = to_text(exc)
                if self.clock() >= until:
                    self.info["unreachable_seconds"] += self.clock() - dropped
                    return False, error
                continue
            self.info["reconnects"] += 1
            self.info["unreachable_seconds"] += self.clock() - dropped
            self._event("reconnected", after_attempts=fails)
            return True, value

    def note_boot(self, boot):
        """Record the node's boot (``upgrade_info``'s ``boot``: ``slot``, ``boot_id``, ``recovery_slot``).
        Returns (slot first seen, slot now) when the node now runs from another known slot than the first
        known one, else None."""
        if not isinstance(boot, dict) or boot.get("slot") is None:
            return None
        entry = {"slot": boot.get("slot"), "boot_id": boot.get("boot_id")}
        if entry not in self.info["boot_slots"]:
            self.info["boot_slots"].append(entry)
            if self._first_boot is not None:
                self._event("boot_changed", slot=entry["slot"], boot_id=entry["boot_id"])
        if self._first_boot is None:
            self._first_boot = dict(boot)
            return None
        if boot["slot"] != self._first_boot["slot"]:
            return self._first_boot["slot"], boot["slot"]
        return None

    def _slot_changed(self, jid, change, boot):
        then, now = change
        recovery = boot.get("recovery_slot")

        def name(slot):
            return "slot %s%s" % (slot, " (recovery)" if recovery is not None and slot == recovery else "")

        self._event("slot_changed", jid=jid, slot_then=then, slot_now=now)
        return self._result({
            "failed": True, "changed": True, "status": STATUS_INCONSISTENT, "boot": boot,
            "msg": "the node was switched from boot %s to boot %s while the upgrade job ran (the network watchdog "
                   "does this after repeated reboots without a tunnel); the job's journal stays on the file system "
                   "of %s, and what it changed cannot be verified from here. Bring the node back to %s, then run "
                   "the upgrade again: the engine resolves the interrupted job by the resume rules (docs/upgrade.md)."
                   % (name(then), name(now), name(then), name(then))})

    def _result(self, base):
        self.info["finished"] = _iso(self.wall())
        self.info["duration"] = round(self.clock() - self._t0, 3)
        self.info["unreachable_seconds"] = round(self.info["unreachable_seconds"], 3)
        base["wait"] = self.info
        return base

    def _unreachable(self, what, error):
        self._event("gave_up", during=what)
        return self._result({
            "unreachable": True, "changed": False, "status": STATUS_UNREACHABLE,
            "msg": "the node stayed unreachable for reconnect_timeout (%ss) while %s: %s. The upgrade job may still "
                   "run or have finished on the node; the next run of the upgrade reports or resumes it."
                   % (self.reconnect_timeout, what, (error or "").strip().splitlines()[-1] if (error or "").strip()
                      else "no answer")})

    def _lost(self, info):
        interrupted = (info or {}).get("interrupted") or []
        newest = interrupted[0] if interrupted else {}
        result = {
            "failed": True, "changed": True, "status": STATUS_LOST,
            "msg": "the node lost the upgrade job %d times (power cut or reboot while it ran), more than max_resumes %d "
                   "allows in one task; run the upgrade again to resume it by the resume rules (docs/upgrade.md)%s"
                   % (self.info["losses"], self.max_resumes,
                      ": its journal says %s in phase %s" % (newest.get("job_id"), newest.get("phase"))
                      if newest.get("job_id") else ""),
            "interrupted": interrupted}
        for key in ("job_id", "phases", "peripheral", "version", "resumes"):
            if newest.get(key) is not None:
                result[key] = newest[key]
        return self._result(result)

    def _start(self, first):
        """Start (or resume) the job; (result, None) when it was not started, (None, jid) when it was."""
        limit = max(1, int(self._left()))
        if first:
            try:
                started = self.start(limit)
            except AnsibleConnectionFailure as exc:
                return self._unreachable("starting the upgrade job", to_text(exc)), None
        else:
            ok, started = self._through_drops("resuming the upgrade job", lambda: self.start(limit))
            if not ok:
                return self._unreachable("resuming the upgrade job", started), None
        jid = started.get("ansible_job_id")
        if not jid or started.get("failed"):
            return self._result(dict(started)), None
        self.info["jobs"].append(jid)
        self._event("started" if first else "resumed", jid=jid, time_limit=limit)
        return None, jid

    # -- the loop -----------------------------------------------------------------------------------
    def run(self):
        self._t0 = self.clock()
        self._deadline = self._t0 + self.wait_timeout
        self.info["started"] = _iso(self.wall())
        done, jid = self._start(first=True)
        if done is not None:
            return done
        interval = min(1, self.poll_interval)
        while True:
            self._pause(min(interval, max(self._left() + FINISH_GRACE, 0)))
            interval = min(interval * 2, self.poll_interval)
            self.info["polls"] += 1
            ok, info = self._through_drops("waiting for the upgrade job", lambda: self.poll(jid))
            if not ok:
                return self._unreachable("waiting for the upgrade job", info)
            if info.get("failed"):
                result = dict(info)
                result.setdefault("status", STATUS_FAILED)
                result["msg"] = "could not look at the upgrade job %s on the node: %s" % (jid, info.get("msg"))
                return self._result(result)
            change = self.note_boot(info.get("boot"))
            if change is not None:
                return self._slot_changed(jid, change, info.get("boot"))
            job = info.get("async_job") or {}
            if job.get("finished"):
                ok, result = self._through_drops("collecting the job's result", lambda: self.collect(job))
                if not ok:
                    return self._unreachable("collecting the job's result", result)
                self._event("finished", jid=jid, status=result.get("status"))
                if not result.get("status"):
                    # the job died before the engine gave a status (async_wrapper's time limit, a crash)
                    result["failed"] = True
                    result["status"] = STATUS_FAILED
                    if "Timeout exceeded" in to_text(result.get("msg")):
                        result["msg"] = ("the upgrade job did not finish within wait_timeout (%ss) and was killed; "
                                         "the next run of the upgrade resumes it by the resume rules"
                                         % self.wait_timeout)
                return self._result(result)
            if job.get("lost"):
                self.info["losses"] += 1
                self._event("lost", jid=jid)
                if self.info["losses"] > self.max_resumes or self._left() <= 0:
                    return self._lost(info)
                self.info["resumes"] += 1
                done, jid = self._start(first=False)
                if done is not None:
                    return done
                interval = min(1, self.poll_interval)
                continue
            if self._left() + FINISH_GRACE <= 0:
                self._event("timed_out", jid=jid)
                return self._result({
                    "failed": True, "changed": True, "status": STATUS_FAILED,
                    "msg": "the upgrade job %s still runs on the node %ss after wait_timeout (%ss); it was left running "
                           "(see waggle.honeycomb.upgrade_info)" % (jid, FINISH_GRACE, self.wait_timeout)})
