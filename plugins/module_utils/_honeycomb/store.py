# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's content-addressed payload store (runs on nodes, Python 3.6+, stdlib only).

:class:`PayloadStore` finds a verified payload by SHA-256, moves an upload of the action plugin into the
store (never leaving a partial file), drops a payload the node refused and prunes what no job needs.
Paths come from :class:`layout.StateLayout`.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout as lo
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import receive
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.admission import EngineFailure

STORE_GRACE = 24 * 3600
"""A store entry no kept job refers to is removed once unused for this long (a run that uploaded it may
still be on its way to the lock); so are stale uploads and ``.partial`` files of dead runs."""


class PayloadStore(object):
    """The store of one run: payload ``sha`` (lower-case hex) in state dir ``state`` (a
    :class:`journal.StateDir`). In check mode nothing is written. Notes for the module result are
    appended to ``notes``."""

    def __init__(self, state, sha, check_mode=False, payload_module=None, notes=None):
        self.state = state
        self.sha = sha
        self.check_mode = check_mode
        self.pl = payload_module or pl
        self.notes = notes if notes is not None else []

    def lookup(self, upload=None):
        """Return (path of a verified payload, transferred now?) or (None, False) when missing.
        ``upload``: where the action plugin put the payload on the node, moved into the store here."""
        store = self.state.payload_path(self.sha)
        if os.path.isfile(store):
            actual = self.pl.sha256_file(store)
            if actual == self.sha:
                if not self.check_mode:
                    try:
                        os.utime(store, None)  # recently used: kept by the store pruning
                    except OSError:
                        pass
                if upload and os.path.isfile(upload):
                    os.unlink(upload)  # a concurrent run stored it first
                return store, False
            self.notes.append("store entry %s was corrupt (sha256 %s); it was removed and the payload re-sent"
                              % (store, actual))
            if not self.check_mode:
                os.unlink(store)
        if not upload:
            return None, False
        if not os.path.isfile(upload):
            raise EngineFailure("uploaded payload %s does not exist on the node; re-run the task" % upload)
        actual = self.pl.sha256_file(upload)
        if actual != self.sha:
            raise EngineFailure("uploaded payload %s has sha256 %s but the controller sent %s: the transfer was "
                                "corrupted; re-run the task" % (upload, actual, self.sha))
        if self.check_mode:
            return upload, True
        self.state.ensure()
        tmp = self.state.partial_path(self.sha)
        try:
            try:
                os.rename(upload, tmp)
            except OSError:
                shutil.copyfile(upload, tmp)  # another file system (e.g. a full or separate state dir)
                os.unlink(upload)
            os.chmod(tmp, 0o600)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, store)
        except BaseException:
            # e.g. ENOSPC half-way through the copy: leave no partial file in the store
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise
        jr.fsync_dir(self.state.payloads_dir)
        return store, True

    def drop_refused(self, path, sha=None):
        """A payload refused on the node does not stay in the store (nothing of a refused payload is
        kept outside a job dir), unless a job journal still refers to it. ``sha``: the payload refused
        (default: this run's)."""
        sha = sha or self.sha
        if self.check_mode or path != self.state.payload_path(sha) or not os.path.isfile(path):
            return
        if any(j.data.get("payload_sha256") == sha for j in self.state.list_jobs()):
            return
        try:
            os.unlink(path)
        except OSError:
            return
        jr.fsync_dir(self.state.payloads_dir)
        self.notes.append("the refused payload was removed from the node's store")

    def prune(self, referenced):
        """Remove store entries no job, waiting run or ``referenced`` SHA-256 needs once unused for
        STORE_GRACE; stale uploads (:meth:`prune_uploads`); and ``.partial`` files whose run is gone
        (kept while its pid lives, unless older than STORE_GRACE: the pid may have been reused)."""
        referenced = set(referenced) | set([self.sha])
        for job in self.state.list_jobs():
            referenced.add(job.data.get("payload_sha256"))
        names = self.state.store_files()
        if not names:
            return
        for path in self.state.waiting_files():
            referenced.add((jr.read_json(path) or {}).get("payload_sha256"))
        cutoff = time.time() - STORE_GRACE
        own_partial = self.state.partial_path(self.sha)
        for name in names:
            path = os.path.join(self.state.payloads_dir, name)
            try:
                sha = self.state.store_sha(name)
                owner = self.state.partial_owner(name)
                if sha is not None and sha not in referenced and os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                elif owner is not None and path != own_partial:
                    # a move into the store that a killed run (which holds no lock while storing) left
                    if jr.owner_gone(owner, path, STORE_GRACE):
                        os.unlink(path)
            except OSError:
                pass
        self.prune_uploads()

    def prune_uploads(self, keep=None):
        """Remove ``.upload-*`` files older than STORE_GRACE: left by transfers whose connection died
        before the module ran; and resumable transfers' partial files idle for ``receive.DEFAULT_IDLE``.
        A transfer still running, or a run on its way to the lock, keeps its file younger than that.
        ``keep``: this run's own upload, never removed. Returns the removed paths."""
        removed = []
        if self.check_mode:
            return removed
        for path in self.state.stale_uploads(STORE_GRACE):
            if path == keep:
                continue
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass  # removed meanwhile by its own run
        # partial files of resumable transfers (receive.py) idle for an hour, of any payload: a transfer that
        # is still wanted resumes within that time or sends again
        for name in receive.prune_idle(self.state.payloads_dir, lo.TRANSFER_PREFIX, lo.TRANSFER_PART_SUFFIX,
                                       lo.TRANSFER_STATE_SUFFIX, receive.DEFAULT_IDLE):
            removed.append(os.path.join(self.state.payloads_dir, name))
        return removed
