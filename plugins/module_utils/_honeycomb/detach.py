# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A detached job started by the node-resident engine (``wait: true`` without async_wrapper).

The job's status file is the one Ansible's async_wrapper writes, at the same place
(``<async_dir>/<jid>``, jid ``<random>.<pid>``) and in the same format: ``{"started": true, "finished":
false, "ansible_job_id": jid}`` first, the task's result last, each written to ``<file>.tmp`` and renamed.
So ``asyncjob.job_state`` (the polls) and the action plugin's collect read it unchanged. One key is added
to the first write, :data:`OWNER_KEY`: the pid of the job's watchdog, its start time (clock ticks since
boot) and the kernel's boot id, which tell a running job from one lost with the node's power (see
``asyncjob.job_state``).

Processes: the engine run that was asked (``start``) forks; the child calls ``setsid`` and forks the
watchdog, which writes the "started" file, tells the engine run it may answer (a pipe), and forks the job
itself in its own process group. The watchdog waits for the job, kills its group after ``time_limit``
seconds ("Timeout exceeded", as async_wrapper says), and writes a failed result when the job died
without one. Standard streams of the detached processes are /dev/null. Runs on nodes: Python 3.6, stdlib.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import random
import signal
import time

OWNER_KEY = "honeycomb_job"
TIMEOUT_MSG = "Timeout exceeded"
STEP = 1.0


def boot_id(proc="/proc"):
    try:
        with open(os.path.join(proc, "sys/kernel/random/boot_id")) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def start_ticks(pid, proc="/proc"):
    """Start time of process ``pid`` (clock ticks after boot, /proc/<pid>/stat field 22), or None."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), "rb") as handle:
            stat = handle.read().decode("utf-8", "replace")
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IOError, OSError, IndexError, ValueError):
        return None


def owner(pid=None, proc="/proc"):
    """The :data:`OWNER_KEY` record of process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "start": start_ticks(pid, proc), "boot_id": boot_id(proc)}


def owner_alive(record, proc="/proc"):
    """Whether the process of an :data:`OWNER_KEY` record still runs: same boot, same pid, same start time
    (a pid reused after a reboot or by another process does not count)."""
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return False
    if record.get("boot_id") != boot_id(proc):
        return False
    start = start_ticks(record["pid"], proc)
    return start is not None and start == record.get("start")


def write_status(path, info):
    """Write ``info`` as async_wrapper does: ``<path>.tmp``, then renamed over ``path``."""
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(json.dumps(info, default=str))
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, path)


def mask(value, secrets):
    """``value`` with every occurrence of a ``secrets`` string replaced by ``********`` (the result of a
    detached job is read from its file, not masked by the controller)."""
    if not secrets:
        return value
    if isinstance(value, dict):
        return dict((mask(k, secrets), mask(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [mask(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, "********")
        return value
    return value


def _devnull():
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def _watch(path, jid, job_pid, time_limit):
    """The watchdog's loop: the job's end, or its kill after ``time_limit`` seconds."""
    deadline = time.time() + time_limit if time_limit else None
    while True:
        done, status = os.waitpid(job_pid, os.WNOHANG)
        if done:
            break
        if deadline is not None and time.time() >= deadline:
            try:
                os.killpg(job_pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(job_pid, 0)
            write_status(path, {"failed": True, "msg": TIMEOUT_MSG, "child_pid": job_pid, "ansible_job_id": jid})
            return
        time.sleep(STEP)
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        data = {}
    if data.get("started") and not data.get("finished"):  # killed, out of memory: no result written
        write_status(path, {"failed": True, "ansible_job_id": jid,
                            "msg": "the detached upgrade job ended without a result (wait status %d)" % status})


def start(work, async_dir, time_limit, secrets=()):
    """Start ``work()`` (returns the task result) detached; return at once with the start result
    ``{"started", "finished", "ansible_job_id", "results_file"}`` (async_wrapper's), or a failure."""
    async_dir = os.path.expanduser(os.path.expandvars(async_dir))
    try:
        if not os.path.isdir(async_dir):
            os.makedirs(async_dir, 0o700)
    except OSError as exc:
        return {"failed": True, "msg": "could not create the async dir %s: %s" % (async_dir, exc)}
    jid = "%d.%d" % (random.randint(0, 999999999999), os.getpid())
    path = os.path.join(async_dir, jid)
    read_end, write_end = os.pipe()
    first = os.fork()
    if first == 0:  # pragma: no cover (runs in the forked processes; tested through real runs)
        code = 1
        try:
            os.close(read_end)
            _devnull()
            os.setsid()
            if os.fork() != 0:
                code = 0
            else:
                os.umask(0o022)
                write_status(path, {"started": True, "finished": False, "ansible_job_id": jid,
                                    OWNER_KEY: owner()})
                os.write(write_end, b"ok")
                os.close(write_end)
                job = os.fork()
                if job == 0:
                    os.setpgid(0, 0)
                    try:
                        result = work()
                    except Exception as exc:  # pylint: disable=broad-except
                        result = {"failed": True, "msg": "the detached upgrade job failed: %s" % exc}
                    result = mask(dict(result, ansible_job_id=jid), list(secrets))
                    write_status(path, result)
                    os._exit(0)
                try:
                    os.setpgid(job, job)
                except OSError:
                    pass
                _watch(path, jid, job, time_limit)
                code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as handle:
        answer = handle.read()
    os.waitpid(first, 0)
    if answer != b"ok":
        return {"failed": True, "msg": "the detached upgrade job could not be started (its status file %s)" % path}
    return {"failed": False, "started": True, "finished": False, "ansible_job_id": jid, "results_file": path}
