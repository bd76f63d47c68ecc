# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-node lock of the upgrade engine (runs on nodes, Python 3.6+).

``fcntl.flock`` on ``<state_dir>/lock``: the kernel releases it when its holder dies (power cut,
SIGKILL), so a stale lock never blocks a node. ``<state_dir>/lock.json`` names the holder (job id,
payload, pid, start time) so a waiting run can say who it is waiting for.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import os
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr


class LockTimeout(Exception):
    def __init__(self, holder, waited):
        self.holder = holder or {}
        self.waited = waited
        super(LockTimeout, self).__init__(self.describe())

    def describe(self):
        holder = self.holder
        if holder.get("job_id"):
            who = "job %s (payload %s %s, sha256 %s, pid %s, started %s)" % (
                holder.get("job_id"), holder.get("name"), holder.get("version"),
                holder.get("payload_sha256"), holder.get("pid"), holder.get("started"))
        else:
            who = "another honeycomb run (its lock.json names no job yet)"
        return ("another upgrade is running on this node: %s; waited %.0f s (lock_timeout). Wait for it to "
                "finish (see waggle.honeycomb.upgrade_info) or raise lock_timeout." % (who, self.waited))


def _proc_locks_holds(st):
    """Whether /proc/locks lists a FLOCK on the file of ``st``; None when /proc/locks is unreadable."""
    try:
        with open("/proc/locks") as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return None
    want = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for line in lines:
        fields = line.split()
        if "FLOCK" in fields and "->" not in fields:
            for field in fields:
                if field.count(":") == 2 and field.lower() == want:
                    return True
    return False


class NodeLock(object):
    """Exclusive per-node lock. Use :meth:`acquire` then :meth:`release` (or a ``with`` block)."""

    def __init__(self, state_dir):
        self.state = state_dir
        self.fd = None

    def holder(self):
        """Who holds the lock now (contents of lock.json), or None when nobody does."""
        info = jr.read_json(self.state.lock_info_path)
        if not info or not self.is_held():
            return None
        return info

    def is_held(self):
        """True when some process (maybe this one) holds the lock. Does not take it: reads
        /proc/locks (falls back to a non-blocking try-lock where /proc/locks is unavailable)."""
        if self.fd is not None:
            return True
        try:
            st = os.stat(self.state.lock_path)
        except OSError:
            return False
        held = _proc_locks_holds(st)
        if held is not None:
            return held
        try:
            fd = os.open(self.state.lock_path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return True
            raise
        finally:
            os.close(fd)  # closing drops a lock we may have just taken
        return False

    def acquire(self, timeout, info, on_wait=None, poll=0.2):
        """Take the lock, waiting up to ``timeout`` seconds.

        ``on_wait(holder)`` is called each time the holder seen in lock.json changes while waiting.
        Returns the list of holders waited for (possibly empty). Raises :class:`LockTimeout`.
        """
        fd = os.open(self.state.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        started = time.time()
        waited_for = []
        last_job = object()
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except (IOError, OSError) as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                holder = jr.read_json(self.state.lock_info_path) or {}
                if holder.get("job_id") != last_job:
                    last_job = holder.get("job_id")
                    if holder.get("job_id"):
                        waited_for.append(holder)
                    if on_wait is not None:
                        on_wait(holder)
                waited = time.time() - started
                if waited >= timeout:
                    raise LockTimeout(holder, waited)
                time.sleep(min(poll, max(0.0, timeout - waited)))
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        try:
            self.update(info)
        except BaseException:
            # e.g. a full state dir: do not keep the lock of a run that cannot go on
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            self.fd = None
            raise
        return waited_for

    def update(self, info):
        """Rewrite lock.json (e.g. once the job id is known)."""
        data = dict(info)
        data.setdefault("pid", os.getpid())
        data.setdefault("started", jr.now_iso())
        data["owner"] = jr.process_identity()
        jr.atomic_write_json(self.state.lock_info_path, data)

    def release(self):
        if self.fd is None:
            return
        try:
            jr.atomic_write_json(self.state.lock_info_path, {"released": jr.now_iso()})
        except (IOError, OSError):
            pass
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False
