# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small payload on the node-resident engine's standard input, in the same exec as its task (runs on
nodes, Python 3.6+, stdlib only; the controller frames with :func:`frame`, the engine reads with
:func:`read_task` and :func:`receive`).

Framing of the engine's stdin::

    {"action": ..., "params": ..., "payload": {"size": N, "sha256": "<hex>"}}\\n   one JSON line (the task)
    <N bytes>                                                                     the payload archive

A task without ``"payload"`` is the JSON line alone (the plain resident run). JSON never holds a raw
newline, so the first line is the whole task.

The bytes are written next to the store under the name the store gives an upload it is moving in
(``payloads/.<sha256>.partial.<pid>``, mode 0600), their SHA-256 computed while they are read, and fsynced.
A short read (the connection dropped) or a wrong SHA-256 removes the file and raises :class:`InlineError`:
nothing is left behind. The engine's run then takes the file into the store as it takes any upload
(``store.PayloadStore.lookup``: checked again, renamed into place) once the run is admitted; a run refused
before that (a recovery boot slot, bad options) leaves no payload on the node: the engine removes the file
(``resident_engine.run_task``). The file of an engine killed mid-read (a power cut) is removed by the next
run's store pruning, since its process is gone.

Payloads larger than :data:`INLINE_MAX` go by the resumable chunked transfer
(``plugins/plugin_utils/_honeycomb/transfer.py``): an inline payload is not resumable.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout as lo

INLINE_MAX = 256 * 1024
"""Largest payload (bytes) sent on the resident engine's stdin with its task. The same as the first chunk
of the resumable transfer (``transfer.CHUNK_FIRST``): a connection dropped mid-exec costs no more than
that transfer's first chunk would; larger payloads keep the chunked, resumable transfer."""
HEADER_KEY = "payload"
"""Key of the task that announces the payload bytes after the JSON line: ``{"size", "sha256"}``."""
READ_SIZE = 65536
"""Bytes read from stdin at a time (what the engine holds in memory)."""


class InlineError(Exception):
    """The payload on stdin could not be stored (short read, wrong SHA-256, bad header, disk error)."""


def frame(task, data):
    """The engine's stdin for ``task`` (a dict) and payload ``data`` (bytes, or None for no payload)."""
    task = dict(task)
    if data is not None:
        task[HEADER_KEY] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    line = json.dumps(task).encode("utf-8") + b"\n"
    return line if data is None else line + data


def read_task(stream):
    """The task (dict) on the first line of ``stream`` (a binary file); the payload bytes, if any, stay
    in ``stream`` for :func:`receive`."""
    line = stream.readline()
    task = json.loads(line.decode("utf-8"))
    if not isinstance(task, dict):
        raise ValueError("the task on stdin is not a JSON object")
    return task


def header(task, expected_sha256):
    """``(size, sha256)`` of the payload ``task`` announces, checked against the payload the task is
    about (``expected_sha256``); None when it announces none. Raises InlineError when it is malformed."""
    head = task.get(HEADER_KEY)
    if head is None:
        return None
    if not isinstance(head, dict) or isinstance(head.get("size"), bool) or not isinstance(head.get("size"), int) \
            or head["size"] < 0 or not isinstance(head.get("sha256"), str) or len(head["sha256"]) != 64:
        raise InlineError("the payload header on stdin is malformed (%r): expected {\"size\": bytes, \"sha256\": "
                          "hex}" % (head,))
    sha = head["sha256"].lower()
    if not expected_sha256 or sha != expected_sha256.lower():
        raise InlineError("the payload on stdin has sha256 %s, but the task is about payload %s"
                          % (sha, expected_sha256))
    return head["size"], sha


def receive(stream, size, sha256, state_dir):
    """Read ``size`` bytes from ``stream`` into a file next to the store of ``state_dir`` for payload
    ``sha256``; returns its path (the engine's run moves it into the store as an upload). Raises
    InlineError (nothing left behind) on a short read or a wrong SHA-256."""
    layout = lo.StateLayout(state_dir)
    if not os.path.isdir(layout.payloads_dir):  # made as the resumable transfer makes it (receive.py): private
        mask = os.umask(0o077)
        try:
            os.makedirs(layout.payloads_dir, 0o700)
        finally:
            os.umask(mask)
    path = layout.partial_path(sha256)  # this process's: the store's look-up moves it in under this name
    digest = hashlib.sha256()
    received = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            while received < size:
                data = stream.read(min(READ_SIZE, size - received))
                if not data:
                    break
                digest.update(data)
                _write_all(fd, data)
                received += len(data)
            if received < size:
                raise InlineError("the payload on stdin ended after %d of %d bytes (the connection dropped?); "
                                  "nothing was stored, run the task again" % (received, size))
            actual = digest.hexdigest()
            if actual != sha256:
                raise InlineError("the payload on stdin has sha256 %s, not %s as the controller sent: it was "
                                  "corrupted on the way; nothing was stored, run the task again" % (actual, sha256))
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        discard(path)
        raise
    return path


def discard(path):
    """Remove an upload :func:`receive` wrote that the run did not take into the store (if it is still there)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
