# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an Ansible async job (``async:`` / ``poll: 0``) still lives on this node.

ansible.builtin.async_status only reads the job's status file. A power cut kills the job together with
its async_wrapper, and the file, on persistent disk, keeps saying "started, not finished": polling it
waits until the async timeout for a job that no longer exists. The wrapper's processes carry the job
id's first part as their first argument (``async_wrapper.py <jid prefix> <time limit> ...``), which
tells a running job from a lost one. A job the node-resident engine started (``detach.py``) has no
async_wrapper: its status file names its watchdog process (pid, start time, boot id) instead. Runs on
nodes: Python 3.6, stdlib only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import detach

WRAPPER = "async_wrapper"


def _wrapper_alive(prefix, proc="/proc"):
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return False
    for pid in pids:
        try:
            with open(os.path.join(proc, pid, "cmdline"), "rb") as f:
                argv = f.read().split(b"\0")
        except (IOError, OSError):
            continue
        for i, arg in enumerate(argv[:-1]):
            if WRAPPER.encode() in os.path.basename(arg) and argv[i + 1].decode("utf-8", "replace") == prefix:
                return True
    return False


JID_RE = re.compile(r"^[0-9]+\.[0-9]+$")
"""The job ids the node-resident engine gives (``detach.start``); async_wrapper's begin with ``j``."""
COLLECTED_SUFFIX = ".collected"
"""A finished job's status file after a poll collected its result (``collect``): renamed, not removed, so
that a poll whose answer was lost with the connection finds the result again."""
COLLECTED_KEEP = 24 * 3600
"""Seconds a collected status file is kept; older ones are removed by the next collecting poll."""


def _prune(async_dir, keep, proc="/proc", now=None):
    """Remove, from ``async_dir``, collected status files older than ``keep`` seconds, and the status files of
    jobs the node-resident engine started (job ids ``<digits>.<digits>``; async_wrapper's begin with ``j`` and
    are left alone) that are older than that and no longer run: lost with the power while their task had given
    up on the node, or finished while it was unreachable, so that no task will read them."""
    now = time.time() if now is None else now
    try:
        names = os.listdir(async_dir)
    except OSError:
        return
    for name in names:
        if not (name.endswith(COLLECTED_SUFFIX) or JID_RE.match(name)):
            continue
        path = os.path.join(async_dir, name)
        try:
            if now - os.stat(path).st_mtime <= keep:
                continue
            if name.endswith(COLLECTED_SUFFIX) or not job_state(name, async_dir, proc)["alive"]:
                os.remove(path)
        except OSError:
            pass


def job_state(jid, async_dir="~/.ansible_async", proc="/proc", collect=False):
    """{jid, results_file, exists, finished, alive, lost} of async job ``jid`` (``<prefix>.<pid>``).

    ``lost``: not finished and no process of the job's async_wrapper (or of the resident engine's
    watchdog named in the file) alive: killed with the node's power, or its status file is gone.

    ``collect``: a finished job's result comes back as ``result`` (the status file's JSON object) and the
    file is renamed to ``<jid>.collected`` (:data:`COLLECTED_SUFFIX`), which later polls of the same job
    still read (the answer of this one may be lost with the connection; without ``collect`` such a job is
    reported finished, with ``collected: true``); collected files older than
    :data:`COLLECTED_KEEP` are removed, and so are the resident engine's uncollected status files of that age
    whose job no longer runs (:func:`_prune`). This saves the controller reading and removing the file with two
    more execs."""
    async_dir = os.path.expanduser(async_dir)
    results_file = os.path.join(async_dir, jid)
    collected = results_file + COLLECTED_SUFFIX
    if not os.path.isfile(results_file) and os.path.isfile(collected):  # a wait collected it already
        data = _read(collected)
        if data:
            state = {"jid": jid, "results_file": collected, "exists": True, "finished": True, "alive": False,
                     "lost": False, "collected": True}
            if collect:
                state["result"] = data
            return state
    state = {"jid": jid, "results_file": results_file, "exists": os.path.isfile(results_file),
             "finished": False, "alive": _wrapper_alive(jid.rsplit(".", 1)[0], proc)}
    data = {}
    if state["exists"]:
        data = _read(results_file)  # {} while being rewritten by the wrapper right now: not finished yet
        # the wrapper writes {"started": ..., "finished": false} first and the module's result last
        state["finished"] = bool(data) and not (data.get("started") and not data.get("finished"))
        if not state["alive"] and not state["finished"] and isinstance(data.get(detach.OWNER_KEY), dict):
            state["alive"] = detach.owner_alive(data[detach.OWNER_KEY], proc)
    state["lost"] = not state["finished"] and not state["alive"]
    if collect and state["finished"]:
        state["result"] = data
        try:
            os.rename(results_file, collected)
        except OSError:
            pass  # the controller gets the result anyway; the file stays as async_wrapper left it
        else:
            state["results_file"] = collected
            state["collected"] = True
        _prune(async_dir, COLLECTED_KEEP, proc)
    return state


def _read(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def forget(jids, async_dir="~/.ansible_async", proc="/proc"):
    """Remove the status files of jobs ``jids`` that are lost (a power cut killed them; a waiting upgrade task
    resumed each as a new job, so nothing will read them again). A job that is alive or finished, a name
    that is not a job id, or a missing file is left alone. Returns the job ids whose file was removed."""
    removed = []
    for jid in jids or ():
        if not isinstance(jid, str) or not JID_RE.match(jid):
            continue
        state = job_state(jid, async_dir, proc)
        if state["exists"] and state["lost"] and not state.get("collected"):
            try:
                os.remove(state["results_file"])
            except OSError:
                continue
            removed.append(jid)
    return removed
