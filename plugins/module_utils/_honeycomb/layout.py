# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where everything lives in a node's honeycomb state directory (runs on nodes, Python 3.6+, and on the
controller). This is the one place that knows the names; the engine, the journal, the lock, the action
plugin and ``upgrade_info`` ask :class:`StateLayout` for paths instead of joining names themselves.

Layout of the state dir (mode 0700)::

    payloads/<sha256>.tar.gz               content-addressed payload store
    payloads/.upload-<sha256>-<token>      payload written by the action plugin, moved into the store by the module
    payloads/.<sha256>.partial.<pid>       a move into the store in progress (rename, fsync, rename)
    payloads/.transfer-<sha256>.part       a resumable transfer of the action plugin (receive.py)
    payloads/.transfer-<sha256>.json       its state: size, SHA-256 and the verified length
    jobs/<job_id>/journal.json             one journal per job, next to payload/, backup/ and logs/
    jobs/.check-<pid>-<start time>-<rnd>   temporary job dir of a check-mode run
    waiting/<pid>.json                     a run waiting for the lock announces itself here
    installed.json                         {peripheral: {version, name, payload_sha256, job_id, time}}
    lock, lock.json                        per-node lock and its holder (see lock.py)
    engine/<version>/                      node-resident engine (resident_engine.py): manifest.json,
                                           engine.bin (bytecode), python (its interpreter)
    engine/.install-<version>-<pid>        an install of the resident engine in progress

Only names are decided here; listing helpers (:meth:`StateLayout.stale_uploads`, :meth:`StateLayout.leftovers`
(every temporary name, for tests and checks after a run), ...) read directory
entries and modification times but never change anything.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import random
import time

DEFAULT_STATE_DIR = "/var/lib/honeycomb"
"""Default ``state_dir`` of the upgrade modules."""
PLUGIN_DATA_STATE_DIR = "/media/plugin-data/honeycomb"
"""``state_dir`` on a compute unit whose root file system is volatile (a Wild Sage node's Raspberry Pi:
read-only root with a tmpfs overlay, only ``/media/plugin-data`` persists); the Beekeeper inventory plugin
sets it for the ``rpi`` group (plugins/plugin_utils/_honeycomb/units.py)."""

STORE_SUFFIX = ".tar.gz"
UPLOAD_PREFIX = ".upload-"
PARTIAL_INFIX = ".partial."
CHECK_PREFIX = ".check-"
TRANSFER_PREFIX = ".transfer-"
TRANSFER_PART_SUFFIX = ".part"
TRANSFER_STATE_SUFFIX = ".json"
WAITING_SUFFIX = ".json"
TEMP_INFIX = ".tmp."
"""In ``.<name>.tmp.<pid>.<n>``: the temp file of an atomic write (journal, installed.json, lock.json)."""
STAGING_INFIX = ".staging-"
"""In ``.<job dir>.staging-<random>``: a payload being extracted into a job dir."""
RESTORE_SUFFIX = ".hc-restore"
"""A backup being restored next to its target."""
ENGINE_INSTALL_PREFIX = ".install-"


class StateLayout(object):
    """Paths of one state dir. Building it touches nothing on disk."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.jobs_dir = os.path.join(self.root, "jobs")
        self.payloads_dir = os.path.join(self.root, "payloads")
        self.waiting_dir = os.path.join(self.root, "waiting")
        self.installed_path = os.path.join(self.root, "installed.json")
        self.lock_path = os.path.join(self.root, "lock")
        self.lock_info_path = os.path.join(self.root, "lock.json")
        self.engine_dir = os.path.join(self.root, "engine")

    @classmethod
    def plain(cls, state_dir):
        """The layout of ``state_dir`` when the controller can name its paths itself (a plain absolute
        path, nothing for the node's shell or Python to expand), else None."""
        state_dir = state_dir or DEFAULT_STATE_DIR
        if not isinstance(state_dir, str) or not state_dir.startswith("/") or any(c in state_dir for c in "~$`\n"):
            return None
        return cls(state_dir)

    # ------------------------------------------------------------------ payload store
    def payload_path(self, sha256):
        """The store entry of payload ``sha256``."""
        return os.path.join(self.payloads_dir, sha256 + STORE_SUFFIX)

    @staticmethod
    def store_sha(name):
        """The SHA-256 a store entry's file name (or path) stands for, or None for any other name."""
        name = os.path.basename(name)
        if not name.endswith(STORE_SUFFIX):
            return None
        return name[:-len(STORE_SUFFIX)]

    def upload_path(self, sha256, token):
        """Where the action plugin writes payload ``sha256`` next to the store (``token``: random hex,
        so concurrent transfers never share a file)."""
        return os.path.join(self.payloads_dir, "%s%s-%s" % (UPLOAD_PREFIX, sha256, token))

    def transfer_path(self, sha256):
        """The partial file of a resumable transfer of payload ``sha256`` (one per payload: the next
        attempt, in the same task or a later run, continues it)."""
        return os.path.join(self.payloads_dir, "%s%s%s" % (TRANSFER_PREFIX, sha256, TRANSFER_PART_SUFFIX))

    def transfer_state_path(self, sha256):
        """The state file of that transfer (size, SHA-256, verified length)."""
        return os.path.join(self.payloads_dir, "%s%s%s" % (TRANSFER_PREFIX, sha256, TRANSFER_STATE_SUFFIX))

    @staticmethod
    def transfer_sha(name):
        """The SHA-256 of a transfer's partial or state file name (or path), or None for any other name."""
        name = os.path.basename(name)
        if not name.startswith(TRANSFER_PREFIX):
            return None
        for suffix in (TRANSFER_PART_SUFFIX, TRANSFER_STATE_SUFFIX):
            if name.endswith(suffix):
                return name[len(TRANSFER_PREFIX):-len(suffix)] or None
        return None

    def transfers(self):
        """Paths of every transfer's partial and state files in the store directory."""
        return [os.path.join(self.payloads_dir, n) for n in self.store_files() if self.transfer_sha(n)]

    def partial_path(self, sha256, pid=None):
        """Temporary name of an upload being moved into the store by process ``pid`` (default: this one)."""
        return os.path.join(self.payloads_dir, ".%s%s%d" % (sha256, PARTIAL_INFIX, os.getpid() if pid is None else pid))

    @staticmethod
    def partial_owner(name):
        """The owner fields (``[pid]``) of a ``.partial`` store file's name, or None for any other name."""
        name = os.path.basename(name)
        if not name.startswith(".") or PARTIAL_INFIX not in name:
            return None
        return [name.rsplit(".", 1)[-1]]

    def store_files(self):
        """Names of every file in the store directory ([] when there is none)."""
        try:
            return sorted(os.listdir(self.payloads_dir))
        except OSError:
            return []

    def uploads(self):
        """Paths of the ``.upload-*`` files in the store directory."""
        return [os.path.join(self.payloads_dir, n) for n in self.store_files() if n.startswith(UPLOAD_PREFIX)]

    def stale_uploads(self, older_than, now=None):
        """Paths of ``.upload-*`` files not modified for ``older_than`` seconds: transfers whose connection
        died before the module ran. A transfer still running (or a module on its way to the lock) keeps
        its file fresh enough to be left alone."""
        cutoff = (time.time() if now is None else now) - older_than
        stale = []
        for path in self.uploads():
            try:
                if os.stat(path).st_mtime < cutoff:
                    stale.append(path)
            except OSError:
                pass  # removed meanwhile by its own run
        return stale

    # ------------------------------------------------------------------ jobs
    def job_dir(self, job_id):
        return os.path.join(self.jobs_dir, job_id)

    @staticmethod
    def new_job_id(sha256):
        """``<UTC time>-<first 12 hex digits of the payload>-<4 random hex digits>``: ids sort by time."""
        return "%s-%s-%04x" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), sha256[:12], random.randint(0, 0xffff))

    @staticmethod
    def journal_path(job_dir):
        return os.path.join(job_dir, "journal.json")

    @staticmethod
    def job_payload_dir(job_dir):
        """The payload extracted for a job (its scripts run here)."""
        return os.path.join(job_dir, "payload")

    @staticmethod
    def job_backup_dir(job_dir):
        """The job's snapshot of the payload's backup_paths (format: backup.py)."""
        return os.path.join(job_dir, "backup")

    @staticmethod
    def job_logs_dir(job_dir):
        """stdout/stderr files of the job's script runs."""
        return os.path.join(job_dir, "logs")

    @staticmethod
    def check_dir_prefix_of(pid, start_time):
        """Prefix of a check-mode run's temporary job dir under jobs/, named after its owner process."""
        return "%s%d-%s-" % (CHECK_PREFIX, pid, start_time)

    @staticmethod
    def check_dir_owner(name):
        """The owner fields (``[pid, start time, ...]``) of a check-mode dir's name, or None for any other
        name (an older version's ``.check-<random>`` gives fields that are not a pid)."""
        name = os.path.basename(name)
        if not name.startswith(CHECK_PREFIX):
            return None
        return name[len(CHECK_PREFIX):].split("-")

    def check_dirs(self):
        """Paths of the check-mode dirs under jobs/."""
        try:
            names = sorted(os.listdir(self.jobs_dir))
        except OSError:
            return []
        return [os.path.join(self.jobs_dir, n) for n in names if n.startswith(CHECK_PREFIX)]

    def job_dirs(self):
        """Paths of the job dirs under jobs/, in name (= creation time) order."""
        try:
            names = sorted(os.listdir(self.jobs_dir))
        except OSError:
            return []
        return [os.path.join(self.jobs_dir, n) for n in names]

    # ------------------------------------------------------------------ leftovers
    @staticmethod
    def is_temporary(name):
        """Whether ``name`` (a file or directory name anywhere in the state dir) is one of the temporary
        names a run makes and removes again: an upload, a resumable transfer's partial file and its state
        (resumed by the next run or pruned when idle), a move into the store, a check-mode job dir, an atomic
        write's temp file, an extraction's staging dir, a restore in progress, a resident engine install."""
        return (name.startswith(UPLOAD_PREFIX) or name.startswith(CHECK_PREFIX) or name.startswith(TRANSFER_PREFIX) or
                name.startswith(ENGINE_INSTALL_PREFIX) or
                (name.startswith(".") and (PARTIAL_INFIX in name or TEMP_INFIX in name or STAGING_INFIX in name)) or
                name.endswith(RESTORE_SUFFIX))

    def leftovers(self):
        """Paths (relative to the state dir, sorted) of every temporary name (:meth:`is_temporary`) in the
        state dir, in ``payloads/``, in ``jobs/`` and in each job dir (not inside a job's extracted payload,
        snapshot or logs: those hold the payload's own files), and of every file in ``waiting/``. While
        no run is going on, each one is something a run left behind (an interrupted transfer, a power cut
        during a write). Read only."""
        found = list(self.waiting_files())
        dirs = [self.root, self.payloads_dir, self.jobs_dir, self.engine_dir] + [
            path for path in self.job_dirs() if not self.is_temporary(os.path.basename(path))]
        for directory in dirs:
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            found.extend(os.path.join(directory, name) for name in names if self.is_temporary(name))
        return sorted(os.path.relpath(path, self.root) for path in found)

    # ------------------------------------------------------------------ runs waiting for the lock
    def waiting_path(self, pid=None):
        """The file a run waiting for the lock writes (one per process)."""
        return os.path.join(self.waiting_dir, "%d%s" % (os.getpid() if pid is None else pid, WAITING_SUFFIX))

    def waiting_files(self):
        """Paths of every waiting run's file, by name."""
        try:
            names = sorted(os.listdir(self.waiting_dir))
        except OSError:
            return []
        return [os.path.join(self.waiting_dir, n) for n in names]

    # ------------------------------------------------------------------ node-resident engine
    def engine_version_dir(self, version):
        """Where the node-resident engine of ``version`` (the hash of its code) is installed."""
        return os.path.join(self.engine_dir, version)

    @staticmethod
    def engine_manifest_path(version_dir):
        return os.path.join(version_dir, "manifest.json")

    @staticmethod
    def engine_code_path(version_dir):
        """The engine's bytecode (one marshal file, compiled for the node's Python)."""
        return os.path.join(version_dir, "engine.bin")

    @staticmethod
    def engine_python_path(version_dir):
        """The interpreter the bytecode was compiled for (one line)."""
        return os.path.join(version_dir, "python")

    def engine_install_dir(self, version, pid=None):
        """Temporary dir of an install in progress (renamed to :meth:`engine_version_dir` when complete)."""
        return os.path.join(self.engine_dir, "%s%s-%d" % (ENGINE_INSTALL_PREFIX, version,
                                                          os.getpid() if pid is None else pid))

    def engine_entries(self):
        """Names of every entry in the engine dir ([] when there is none)."""
        try:
            return sorted(os.listdir(self.engine_dir))
        except OSError:
            return []
