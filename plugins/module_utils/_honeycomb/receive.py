# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node side of the resumable payload transfer (runs on nodes, Python 3.6+, stdlib only).

The controller (plugins/plugin_utils/_honeycomb/transfer.py) sends this file's source with every exec
(``python3 -c <source> OP '<json request>'``, the chunk's bytes on stdin): no module, no sftp, no file
installed on the node. It imports nothing of the collection, so it runs on its own; the paths come in
the request (the controller takes them from :class:`layout.StateLayout`).

One payload's transfer is two files next to the store: the partial file (bytes received so far) and its
state file (``{"v", "sha256", "size", "verified"}``). Bytes up to ``verified`` were checked chunk by
chunk against the SHA-256 the controller sent for the chunk; bytes after it are the unverified tail of
a chunk whose connection dropped (kept: the next attempt completes the chunk and checks it whole).

Operations (each answers one JSON object on stdout):

``begin``  lock the partial, prune other payloads' idle transfers (``idle`` seconds unmodified and not
           being written), drop a partial that belongs to another size/hash, answer
           ``{"stored", "verified", "have"}``.
``put``    append stdin at ``start`` (``verified <= start <= have``), then check the SHA-256 of
           ``[base, end)`` (``base`` = verified); answer ``{"verified", "have", "mismatch"}``. When the
           file is complete its whole SHA-256 is checked: a match is moved into the store (fsync,
           rename: ``"stored": true``), a mismatch is discarded (``"discarded": true``).
``abort``  remove the partial and its state.

Each operation holds an exclusive ``flock`` on the partial file, so an old writer of a dropped
connection never interleaves with the next attempt (the next one waits for it, up to ``lock_wait``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import hashlib
import json
import os
import sys
import time

STATE_VERSION = 1
READ_SIZE = 65536
"""Bytes read from stdin or the disk at a time (what the helper holds in memory)."""
DEFAULT_LOCK_WAIT = 60
DEFAULT_IDLE = 3600
"""A transfer of another payload whose partial was not modified for this long (and that no writer holds)
is removed by the next transfer; the module's store pruning removes it as well (docs/upgrade.md)."""

TRANSFER_OPTIONS = dict(
    transfer_rate_limit=dict(type="int"),
    transfer_stall_timeout=dict(type="int"),
)
"""Options of the action plugin's payload transfer (never sent to the node's module)."""


class ReceiveError(Exception):
    pass


def _read_state(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("v") == STATE_VERSION else None


def _write_state(path, sha, size, verified):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump({"v": STATE_VERSION, "sha256": sha, "size": size, "verified": verified}, handle)
    os.rename(tmp, path)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash_range(fd, start, end):
    digest = hashlib.sha256()
    pos = start
    while pos < end:
        data = os.pread(fd, min(READ_SIZE, end - pos), pos)
        if not data:
            break
        digest.update(data)
        pos += len(data)
    return digest.hexdigest()


def _lock(path, wait, nonblocking=False):
    """Open ``path`` (created, mode 0600) and hold an exclusive flock on it; the fd, or None when
    another process holds it past ``wait`` seconds. Re-opens when the path was renamed meanwhile (a
    finished transfer moved into the store), so the lock is always on the file at ``path``."""
    deadline = time.time() + wait
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
                if nonblocking or time.time() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.2)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)


def prune_idle(folder, prefix, part_suffix, state_suffix, idle, keep=None):
    """Remove the transfers in ``folder`` (partial ``<prefix>*<part_suffix>`` and its state file) whose
    partial was not modified for ``idle`` seconds and that no writer holds; never ``keep`` (a partial
    path). Returns the removed partials' names."""
    cutoff = time.time() - float(idle)
    removed = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return removed
    for name in names:
        path = os.path.join(folder, name)
        if not name.startswith(prefix) or not name.endswith(part_suffix) or path == keep:
            continue
        try:
            if os.stat(path).st_mtime >= cutoff:
                continue
        except OSError:
            continue
        fd = _lock(path, 0, nonblocking=True)
        if fd is None:
            continue  # being written right now
        try:
            _unlink(path)
            _unlink(path[:-len(part_suffix)] + state_suffix)
            removed.append(name)
        finally:
            os.close(fd)
    return removed


def _prune_others(req):
    """Remove other payloads' transfers idle for ``idle`` seconds that no writer holds."""
    return prune_idle(os.path.dirname(req["part"]), req["prefix"], req["part_suffix"], req["state_suffix"],
                      req.get("idle", DEFAULT_IDLE), keep=req["part"])


def _state_of(fd, req):
    """(verified, have) of the partial open at ``fd``; a state of another payload, or none, starts over."""
    have = os.fstat(fd).st_size
    state = _read_state(req["state"])
    if not state or state.get("sha256") != req["sha256"] or state.get("size") != req["size"]:
        os.ftruncate(fd, 0)
        _write_state(req["state"], req["sha256"], req["size"], 0)
        return 0, 0
    verified = int(state.get("verified") or 0)
    if verified > have or verified > req["size"]:  # the partial lost bytes the state counts: start over
        os.ftruncate(fd, 0)
        _write_state(req["state"], req["sha256"], req["size"], 0)
        return 0, 0
    if have > req["size"]:
        os.ftruncate(fd, req["size"])
        have = req["size"]
    return verified, have


def _finish(fd, req, answer):
    """The complete file: into the store when its SHA-256 matches, else discarded."""
    actual = _hash_range(fd, 0, req["size"])
    if actual != req["sha256"]:
        _unlink(req["part"])
        _unlink(req["state"])
        answer.update(discarded=True, actual=actual, verified=0, have=0)
        return answer
    os.fchmod(fd, 0o600)
    os.fsync(fd)
    os.rename(req["part"], req["store"])
    _unlink(req["state"])
    _fsync_dir(os.path.dirname(req["store"]))
    answer.update(stored=True)
    return answer


def op_begin(req):
    folder = os.path.dirname(req["part"])
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o700)
    answer = {"pruned": _prune_others(req)}
    if os.path.isfile(req["store"]) and os.path.getsize(req["store"]) == req["size"]:
        _unlink(req["part"])
        _unlink(req["state"])
        answer.update(stored=True, verified=req["size"], have=req["size"])
        return answer
    fd = _lock(req["part"], float(req.get("lock_wait", DEFAULT_LOCK_WAIT)))
    if fd is None:
        answer.update(busy=True)
        return answer
    try:
        verified, have = _state_of(fd, req)
        answer.update(stored=False, verified=verified, have=have)
        if verified == req["size"] and have == req["size"]:
            return _finish(fd, req, answer)
        return answer
    finally:
        os.close(fd)


def op_put(req, stream):
    fd = _lock(req["part"], float(req.get("lock_wait", DEFAULT_LOCK_WAIT)))
    if fd is None:
        return {"busy": True}
    try:
        verified, have = _state_of(fd, req)
        start, base, end = req["start"], req["base"], req["end"]
        if base != verified or not verified <= start <= have or not (start <= end <= req["size"] and base < end):
            return {"verified": verified, "have": have, "out_of_step": True}
        os.ftruncate(fd, start)
        pos = start
        while pos < end:
            data = stream.read(min(READ_SIZE, end - pos))
            if not data:
                break
            os.pwrite(fd, data, pos)
            pos += len(data)
        answer = {"received": pos - start}
        if pos < end:  # the sender stopped early: keep the tail for the next attempt
            answer.update(verified=verified, have=pos, short=True)
            return answer
        if _hash_range(fd, base, end) != req["chunk_sha256"]:
            os.ftruncate(fd, base)
            answer.update(verified=verified, have=base, mismatch=True)
            return answer
        _write_state(req["state"], req["sha256"], req["size"], end)
        answer.update(verified=end, have=end, stored=False)
        if end == req["size"]:
            return _finish(fd, req, answer)
        return answer
    finally:
        os.close(fd)


def op_abort(req):
    _unlink(req["part"])
    _unlink(req["state"])
    return {"aborted": True}


def main(argv, stdin):
    if len(argv) != 3:
        raise ReceiveError("usage: receive OP JSON")
    op, req = argv[1], json.loads(argv[2])
    os.umask(0o077)  # the partial and its state file are private, like the store
    if op == "begin":
        return op_begin(req)
    if op == "put":
        return op_put(req, stdin)
    if op == "abort":
        return op_abort(req)
    raise ReceiveError("unknown operation %r" % op)


if __name__ == "__main__":
    try:
        result = main(sys.argv, getattr(sys.stdin, "buffer", sys.stdin))
        rc = 0
    except (ReceiveError, IOError, OSError, ValueError, KeyError) as exc:
        result = {"error": "%s: %s" % (type(exc).__name__, exc)}
        rc = 1
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    raise SystemExit(rc)  # a helper run as a script, not a module: no exit_json
