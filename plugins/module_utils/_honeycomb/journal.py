# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash-safe job journal and state directory of the upgrade engine (runs on nodes, Python 3.6+).

The layout of the state dir (mode 0700) is :class:`layout.StateLayout`'s; :class:`StateDir` adds what
the engine reads and writes there (installed versions, the job history and its pruning).

Every write goes through :func:`atomic_write_json`: temp file, fsync, rename, fsync of the directory,
so a power cut leaves either the old or the new content, never a torn file.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os
import random
import shutil
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout as lo
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as hs

TERMINAL = frozenset(hs.TERMINAL_STATUSES)
"""Final job statuses (owned by status.py). ``running`` and ``interrupted`` are the only non-terminal ones."""

MAX_EVENTS = 200
STALE_AGE = 24 * 3600
"""A temp file or dir whose owner cannot be told is removed once older than this."""


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def iso_time(epoch):
    """UTC ISO 8601 with milliseconds of an epoch time, e.g. ``2024-01-01T12:00:00.250Z``."""
    millis = int(round(epoch * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + ".%03dZ" % (millis % 1000)


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_prefix(path):
    """Name prefix of the temp files :func:`atomic_write_bytes` writes next to ``path``."""
    return ".%s.tmp." % os.path.basename(path)


def atomic_write_bytes(path, data, mode=0o600):
    """Write ``data`` to ``path`` atomically and durably."""
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, "%s%d.%d" % (temp_prefix(path), os.getpid(), random.randint(0, 1 << 30)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    os.rename(tmp, path)
    fsync_dir(directory)


def atomic_write_json(path, obj, mode=0o600):
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("utf-8"), mode)


def read_json(path, default=None):
    """Read a JSON file; a missing or unreadable/garbled file gives ``default``."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError, ValueError):
        return default


# --- process identity ----------------------------------------------------------------------

def boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return ""


def proc_start_time(pid):
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/<pid>/stat), or None."""
    try:
        with open("/proc/%d/stat" % int(pid), "rb") as handle:
            data = handle.read().decode("utf-8", "replace")
    except (IOError, OSError, ValueError, TypeError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_identity(pid=None):
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "boot_id": boot_id(), "start_time": proc_start_time(pid)}


def identity_alive(ident):
    """True when the process described by ``ident`` (pid, boot_id, start_time) still exists.

    A pid from another boot is dead; so is a pid whose current start time differs (pid reuse, or a
    simulated node whose pid namespace was killed and re-created).
    """
    if not ident or not ident.get("pid"):
        return False
    if ident.get("boot_id") and ident.get("boot_id") != boot_id():
        return False
    start = proc_start_time(ident["pid"])
    if start is None:
        return False
    if ident.get("start_time") is not None and ident.get("start_time") != start:
        return False
    return True


def owner_gone(fields, path, max_age):
    """For a temp file or dir named after its owner (``fields``: pid [, start time]): True when that
    process is gone; when the name holds no start time (a live pid may be a reused one) or no pid,
    also when ``path`` is older than ``max_age`` seconds."""
    try:
        pid = int(fields[0])
    except (IndexError, ValueError):
        pid = None
    if pid is not None:
        start = proc_start_time(pid)
        if start is None:
            return True
        if len(fields) > 1 and fields[1].isdigit():
            return int(fields[1]) != start  # a different start time: the pid was reused
    try:
        return os.lstat(path).st_mtime < time.time() - max_age
    except OSError:
        return False


def by_creation(jobs):
    """Jobs oldest first by creation time (job ids sort by the second only; journals of older
    versions without ``created_epoch`` come first, in id order)."""
    return sorted(jobs, key=lambda j: (j.data.get("created_epoch") or 0, j.job_id))


# --- state dir -------------------------------------------------------------------------------

def makedirs_private(path, mode=0o700):
    try:
        os.makedirs(path, mode)
    except OSError as exc:
        if exc.errno != errno.EEXIST or not os.path.isdir(path):
            raise


def remove_tree(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


class StateDir(lo.StateLayout):
    """The node's honeycomb state directory: its layout plus the installed versions and the job history."""

    def exists(self):
        return os.path.isdir(self.root)

    def ensure(self):
        """Create the state dir (0700) and its sub-directories; tighten the mode of an existing one."""
        makedirs_private(self.root)
        os.chmod(self.root, 0o700)
        makedirs_private(self.jobs_dir)
        makedirs_private(self.payloads_dir)

    # installed versions
    def installed(self):
        data = read_json(self.installed_path, {})
        return data if isinstance(data, dict) else {}

    def set_installed(self, peripheral, record):
        """Set (or, with ``record`` None, remove) the installed record of ``peripheral``."""
        data = self.installed()
        if record is None:
            data.pop(peripheral, None)
        else:
            data[peripheral] = record
        atomic_write_json(self.installed_path, data)
        return data

    # jobs
    def list_jobs(self):
        """Every job journal, oldest first by creation time (:func:`by_creation`: two jobs of the same
        second have ids that sort by their random suffix, not by age)."""
        jobs = []
        for job_dir in self.job_dirs():
            journal = Journal.load(job_dir)
            if journal is not None:
                jobs.append(journal)
        return by_creation(jobs)

    def rollback_bases(self, jobs=None):
        """Per peripheral the newest succeeded (``applied``) upgrade job that was not rolled back: the
        job an explicit rollback undoes. Its ``backup/`` snapshot and its journal are kept by
        :meth:`prune`."""
        bases = {}
        for journal in by_creation(self.list_jobs() if jobs is None else jobs):
            data = journal.data
            if data.get("kind", "upgrade") == "upgrade" and data.get("status") == "applied":
                bases[data.get("peripheral")] = journal
        return dict((k, v) for k, v in bases.items() if not v.data.get("rolled_back_by"))

    def prune(self, keep_jobs, keep=()):
        """Bound the history: drop the payload/ and backup/ dirs of finished jobs (except
        ``inconsistent`` and ``rollback_failed`` ones, which an operator needs, and the backup of each
        peripheral's newest applied job, which an explicit rollback restores) and delete the oldest
        finished jobs beyond ``keep_jobs``. Jobs in ``keep`` and each peripheral's newest applied job
        count but are never deleted."""
        removed = []
        finished = []
        jobs = self.list_jobs()
        bases = set(j.job_id for j in self.rollback_bases(jobs).values())
        keep = set(keep) | bases
        for journal in jobs:
            if not journal.terminal:
                continue
            status = journal.data.get("status")
            if status != "inconsistent" or journal.data.get("cleared"):
                finished.append(journal)
            if status not in ("inconsistent", "rollback_failed"):
                remove_tree(self.job_payload_dir(journal.job_dir))
                if journal.job_id not in bases:
                    remove_tree(self.job_backup_dir(journal.job_dir))
            self._remove_stale_temps(journal.job_dir, temp_prefix(journal.path))
        self._remove_dead_check_dirs()
        self._remove_stale_temps(self.root, temp_prefix(self.installed_path), temp_prefix(self.lock_info_path))
        excess = len(finished) - max(0, keep_jobs)
        for journal in finished:
            if excess <= 0:
                break
            if journal.job_id in keep:
                continue
            remove_tree(journal.job_dir)
            removed.append(journal.job_id)
            excess -= 1
        if removed:
            fsync_dir(self.jobs_dir)
        return removed

    def check_dir_prefix(self):
        """Prefix of this process's check-mode job dir, named after it (pid and start time) so that
        :meth:`_remove_dead_check_dirs` can tell a live run's dir from one a killed run left."""
        return self.check_dir_prefix_of(os.getpid(), proc_start_time(os.getpid()))

    def _remove_dead_check_dirs(self, max_age=STALE_AGE):
        """Remove the check-mode dirs of check-mode runs that were killed (check mode takes no lock, so
        a dir is removed only when its owner process is gone, or, for a name without an owner, when it
        is older than ``max_age`` seconds)."""
        removed = []
        for path in self.check_dirs():
            if owner_gone(self.check_dir_owner(path), path, max_age):
                remove_tree(path)
                removed.append(os.path.basename(path))
        return removed

    @staticmethod
    def _remove_stale_temps(directory, *prefixes):
        """Temp files of atomic writes that a power cut interrupted (``.<name>.tmp.<pid>.<n>``). Only
        the lock holder writes these files and prune runs under the lock, so none is in use."""
        try:
            names = os.listdir(directory)
        except OSError:
            return
        for name in names:
            if name.startswith(prefixes):
                try:
                    os.unlink(os.path.join(directory, name))
                except OSError:
                    pass


class Journal(object):
    """One job's journal: ``<job_dir>/journal.json``; every change is saved atomically."""

    def __init__(self, job_dir, data):
        self.job_dir = job_dir
        self.path = lo.StateLayout.journal_path(job_dir)
        self.data = data

    @classmethod
    def create(cls, job_dir, **fields):
        makedirs_private(job_dir)
        data = {
            "journal_version": 1,
            "job_id": os.path.basename(job_dir),
            "created": now_iso(),
            "created_epoch": time.time(),
            "status": "running",
            "phase": None,
            "phase_state": None,
            "resumes": 0,
            "phases": {},
            "events": [],
        }
        data.update(fields)
        journal = cls(job_dir, data)
        journal.event("created")
        return journal

    @classmethod
    def load(cls, job_dir):
        data = read_json(lo.StateLayout.journal_path(job_dir))
        if not isinstance(data, dict) or "job_id" not in data:
            return None
        return cls(job_dir, data)

    @property
    def job_id(self):
        return self.data["job_id"]

    @property
    def status(self):
        return self.data.get("status")

    @property
    def terminal(self):
        return self.data.get("status") in TERMINAL

    def owner_alive(self):
        return identity_alive(self.data.get("owner"))

    def save(self):
        self.data["updated"] = now_iso()
        atomic_write_json(self.path, self.data)

    def event(self, name, save=True, **details):
        entry = {"time": now_iso(), "event": name}
        entry.update(details)
        events = self.data.setdefault("events", [])
        events.append(entry)
        if len(events) > MAX_EVENTS:
            del events[1:len(events) - MAX_EVENTS + 1]
        if save:
            self.save()

    def phase_started(self, phase, **details):
        """Persist "phase X started" before X runs."""
        self.data["phase"] = phase
        self.data["phase_state"] = "started"
        self.event("phase_started", phase=phase, **details)

    def phase_finished(self, phase, result, **details):
        self.data["phase_state"] = "finished"
        self.data.setdefault("phases", {})[phase] = result
        self.event("phase_finished", phase=phase, rc=result.get("rc"), **details)

    def finish(self, status, msg, **fields):
        self.data["status"] = status
        self.data["msg"] = msg
        self.data["finished"] = now_iso()
        self.data["child"] = None
        self.data.update(fields)
        self.event("finished", status=status)
