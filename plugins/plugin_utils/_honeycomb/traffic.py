# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bytes a task moves over its connection to the node, for the ``traffic`` key of
``waggle.honeycomb.upgrade`` results and the fleet report (docs/upgrade.md, "Bytes per node").

:func:`counted` wraps an action plugin's ``run``: for the duration of the task it wraps the connection's
``exec_command``, ``put_file`` and ``fetch_file`` (every byte any code of the task sends or receives
goes through one of them) and counts, per direction and category,

- sent: the command line of every exec, its standard input (module code and arguments when pipelining,
  a payload sent through ``cat``, a transfer's chunks), the size of every file put;
- received: the standard output and error of every exec, the size of every file fetched.

The category is that of the outermost action method running at the time: ``payload`` inside the
plugin's ``_upload`` (and ``_send_inline``: the resident engine's exec that carries a small payload with its
task), ``modules`` inside ``_execute_module`` (the module's code, its arguments and its
JSON result, and a non-pipelined run's tmp dir commands) and ``_execute_first_contact`` (the node-resident
engine's sources sent with the task on a first contact), ``commands`` for everything else (the store
look-up, reading a job's result, clean-ups).

These are the bytes the collection handed to its connection and got back, exactly. The node's link
carries them inside SSH (encrypted, framed, compressed when the connection uses ``-C``; on a Waggle
node, inside the reverse tunnel's own SSH connection as well) plus what only SSH sends (key exchange,
channel set-up, window adjustments, keepalives). :func:`wire_estimate` turns the counts into an
estimate of that; the figures behind it are measured against simfleet's link relay (docs/upgrade.md).
Whether the task's connection logs in anew is asked once at its start (:func:`login_needed`).
Not counted at all: a connection attempt that fails before the task gets a result (the task is then
unreachable and has no result to carry the count), and traffic of other tasks (sanity checks, facts).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import os
import shlex
import socket
import subprocess
import threading
import zlib

CATEGORIES = ("payload", "modules", "commands")
"""Categories of the counts; every count has all three."""
CATEGORY_OF_METHOD = (("_upload", "payload"), ("_send_inline", "payload"), ("_execute_module", "modules"),
                      ("_execute_first_contact", "modules"))
"""Action plugin methods whose connection traffic is counted under a category (outermost call wins)."""
DEFAULT_CATEGORY = "commands"


def _size(data):
    if data is None:
        return 0
    if isinstance(data, str):
        return len(data.encode("utf-8", "surrogateescape"))
    try:
        return len(data)
    except TypeError:  # a file-like stdout (never from the ssh connection): not measurable here
        return 0


class Meter(object):
    """Counts one task's traffic on ``action._connection`` while it is :meth:`attached`."""

    def __init__(self, compression=False):
        self.compression = compression
        self.counts = dict((c, {"sent": 0, "received": 0, "execs": 0, "files": 0}) for c in CATEGORIES)
        self.compressed = dict((c, {"sent": 0, "received": 0}) for c in CATEGORIES)
        self.failed_execs = 0
        self.logins = 0  # new SSH logins the task's execs will have made (see login_needed)
        self._sampled = {}  # (category, direction): (bytes sampled, their compressed size)
        self._stack = []
        self._lock = threading.Lock()

    # -- counting ------------------------------------------------------------------------------
    def _category(self):
        return self._stack[0] if self._stack else DEFAULT_CATEGORY

    def add(self, direction, nbytes, category=None, execs=0, files=0, sample=None):
        category = category or self._category()
        with self._lock:
            entry = self.counts[category]
            entry[direction] += int(nbytes)
            entry["execs"] += execs
            entry["files"] += files
        if self.compression:
            key = (category, direction)
            seen, squeezed = self._sampled.get(key, (0, 0.0))
            if sample is None or not nbytes:
                ratio = 1.0
            elif seen >= SAMPLE_BUDGET:  # enough of this kind of data compressed: its ratio so far
                ratio = squeezed / seen
            else:
                ratio = _compressed_ratio(sample)
                self._sampled[key] = (seen + nbytes, squeezed + nbytes * ratio)
            with self._lock:
                self.compressed[category][direction] += int(round(nbytes * ratio))

    # -- wrapping ------------------------------------------------------------------------------
    def _wrap_exec(self, exec_command):
        @functools.wraps(exec_command)
        def wrapper(cmd, in_data=None, sudoable=True):
            sent = _size(cmd) + _size(in_data)
            try:
                rc, stdout, stderr = exec_command(cmd, in_data=in_data, sudoable=sudoable)
            except Exception:
                # what of it reached the node is unknown: counted as sent (an upper bound for a budget)
                self.failed_execs += 1
                self.add("sent", sent, execs=1, sample=in_data)
                raise
            self.add("sent", sent, execs=1, sample=in_data)
            self.add("received", _size(stdout) + _size(stderr), sample=stdout)
            return rc, stdout, stderr
        return wrapper

    def _wrap_put(self, put_file):
        @functools.wraps(put_file)
        def wrapper(in_path, out_path):
            try:
                size = os.path.getsize(in_path)
            except (OSError, TypeError):
                size = 0
            try:
                return put_file(in_path, out_path)
            finally:
                self.add("sent", size + _size(out_path), files=1, sample=_FileSample(in_path))
        return wrapper

    def _wrap_fetch(self, fetch_file):
        @functools.wraps(fetch_file)
        def wrapper(in_path, out_path):
            try:
                return fetch_file(in_path, out_path)
            finally:
                try:
                    size = os.path.getsize(out_path)
                except (OSError, TypeError):
                    size = 0
                self.add("received", size, files=1, sample=_FileSample(out_path))
                self.add("sent", _size(in_path))
        return wrapper

    def _wrap_reset(self, reset):
        @functools.wraps(reset)
        def wrapper(*args, **kwargs):
            try:
                return reset(*args, **kwargs)
            finally:
                self.logins += 1  # the next exec logs in again
        return wrapper

    def _wrap_method(self, method, category):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            self._stack.append(category)
            try:
                return method(*args, **kwargs)
            finally:
                self._stack.pop()
        return wrapper

    def attached(self, action):
        """A context manager counting ``action``'s connection traffic inside it."""
        return _Attached(self, action)

    # -- results -------------------------------------------------------------------------------
    def total(self, direction):
        return sum(self.counts[c][direction] for c in CATEGORIES)

    def report(self):
        """The ``traffic`` dict of a task result (docs/upgrade.md, "Bytes per node")."""
        by_category = dict((c, dict(self.counts[c])) for c in CATEGORIES)
        out = {
            "sent": self.total("sent"),
            "received": self.total("received"),
            "execs": sum(self.counts[c]["execs"] for c in CATEGORIES),
            "files": sum(self.counts[c]["files"] for c in CATEGORIES),
            "failed_execs": self.failed_execs,
            "by_category": by_category,
        }
        out["wire_estimate"] = wire_estimate(self)
        return out

    def merge_transfer(self, transfer):
        """A ``transfer`` dict of the result (the payload transfer's own account of what it sent, e.g.
        ``bytes_sent``): when the transfer moved bytes outside this task's connection, they are added
        to ``payload``; what went through the connection was counted already and is not counted twice."""
        if not isinstance(transfer, dict):
            return
        # only bytes_sent: the transfer's bytes_received are the payload bytes that reached the node (the same
        # direction), not bytes coming back to the controller
        value = transfer.get("bytes_sent")
        if isinstance(value, bool) or not isinstance(value, int):
            return
        missing = value - self.counts["payload"]["sent"]
        if missing > 0:
            self.add("sent", missing, category="payload")


class _Attached(object):
    def __init__(self, meter, action):
        self.meter, self.action = meter, action
        self.saved = []

    def _swap(self, obj, name, make):
        if obj is None or not hasattr(obj, name):
            return
        old = getattr(obj, name)
        # an attribute of the class (a method) is uncovered again at the end; anything else (an instance
        # attribute, a mock's child) is put back as it was
        had = name in getattr(obj, "__dict__", {}) or not hasattr(type(obj), name)
        self.saved.append((obj, name, had, obj.__dict__[name] if name in getattr(obj, "__dict__", {}) else old))
        setattr(obj, name, make(getattr(obj, name)))

    def __enter__(self):
        conn = getattr(self.action, "_connection", None)
        m = self.meter
        self._swap(conn, "exec_command", m._wrap_exec)
        self._swap(conn, "put_file", m._wrap_put)
        self._swap(conn, "fetch_file", m._wrap_fetch)
        self._swap(conn, "reset", m._wrap_reset)
        m.logins = 1 if login_needed(conn) else 0
        for name, category in CATEGORY_OF_METHOD:
            self._swap(self.action, name, functools.partial(m._wrap_method, category=category))
        return m

    def __exit__(self, *exc):
        for obj, name, had, old in reversed(self.saved):
            if had:
                setattr(obj, name, old)
            else:
                try:
                    delattr(obj, name)
                except AttributeError:
                    pass
        self.saved = []
        return False


class _FileSample(object):
    """A file whose compressibility is sampled when the estimate is made."""

    def __init__(self, path):
        self.path = path


SSH_FLAGS = frozenset("46AaCfGgKkMNnqsTtVvXxYy")
"""OpenSSH client options that take no argument (they may be grouped, as in ``-qC``)."""


def connection_compresses(connection):
    """Whether the connection's ssh compresses (``-C`` or ``-o Compression=yes`` in its arguments, the
    last one given wins); False for other connection types and when it cannot be told."""
    words = []
    for option in ("ssh_args", "ssh_common_args", "ssh_extra_args"):
        try:
            value = connection.get_option(option)
        except Exception:  # not an ssh connection, or an option it does not have
            continue
        if isinstance(value, str):
            try:
                words.extend(shlex.split(value))
            except ValueError:
                words.extend(value.split())
    compress = False
    for name, value in ssh_options(words):
        if name == "-":
            compress = compress or "C" in value
        elif name == "compression":
            compress = value.lower() in ("yes", "true")
    return compress


def ssh_options(words):
    """(name, value) of each option in OpenSSH client argument ``words``, in order: ``-o Name=value``,
    ``-o "Name value"`` and ``-oName=value`` as (name in lower case, value); a group of flags that take no
    argument (``-qC``) as ("-", its letters)."""
    i = 0
    while i < len(words):
        word = words[i]
        option = None
        if word == "-o" and i + 1 < len(words):
            option = words[i + 1]
            i += 1
        elif word.startswith("-o"):
            option = word[2:]
        elif word.startswith("-") and len(word) > 1 and all(ch in SSH_FLAGS for ch in word[1:]):
            yield "-", word[1:]
        if option is not None:
            key, _sep, value = option.replace("=", " ", 1).partition(" ")
            yield key.strip().lower(), value.strip()
        i += 1


def control_path(command):
    """The ControlPath a built ssh command names (``-o ControlPath=...``, quoted or not), or None when it
    names none or one with ``%`` tokens that only ssh expands."""
    words = [w.decode("utf-8", "replace") if isinstance(w, bytes) else str(w) for w in command]
    for name, value in ssh_options(words):
        if name == "controlpath":
            value = value.strip('"').strip("'")
            return value if value and "%" not in value and value.lower() != "none" else None
    return None


def master_listening(path):
    """True when a process listens on the unix socket ``path`` (a running ControlMaster), False when there is
    no socket or a stale one; a local connect, no ssh process started."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(2)
        sock.connect(path)
        return True
    except (OSError, socket.error):
        return False
    finally:
        sock.close()


def login_needed(connection):
    """True when the task's first exec will log in anew: an ssh connection with ControlPersist whose
    ControlMaster is not running. Told by a connect to the master's socket when the ControlPath is a plain
    path (Ansible's own), else by ``ssh -O check`` (a local question to the master, as the ssh connection's
    own ``reset`` asks it; it costs an ssh process). False when a master is up, and for other connections
    or when it cannot be told (no login is estimated then)."""
    if connection is None or str(getattr(connection, "_load_name", "") or "").rsplit(".", 1)[-1] != "ssh":
        return False
    try:
        host = connection.get_option("host") or connection._play_context.remote_addr
        cmd = connection._build_command(connection.get_option("ssh_executable"), "ssh", "-O", "check", host)
        if not getattr(connection, "_persistent", False):
            return True  # no ControlPersist: every exec logs in (counted once: a lower bound)
        path = control_path(cmd)
        if path is not None:
            return not master_listening(path)
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=30, check=False)
    except Exception:  # an option the connection lacks, no ssh binary, a timeout: cannot be told
        return False
    return proc.returncode != 0


def counted(run):
    """Decorator of an action plugin's ``run``: its result gets a ``traffic`` dict."""
    @functools.wraps(run)
    def wrapper(action, tmp=None, task_vars=None):
        meter = Meter(compression=connection_compresses(getattr(action, "_connection", None)))
        with meter.attached(action):
            result = run(action, tmp, task_vars)
        if isinstance(result, dict):
            meter.merge_transfer(result.get("transfer"))
            result["traffic"] = meter.report()
        return result
    return wrapper


# ---------------------------------------------------------------------------------------- estimate
SAMPLE_LIMIT = 1024 * 1024
"""Data larger than this is not compressed whole for the estimate: evenly spaced slices of it are."""
SAMPLE_BUDGET = 8 * 1024 * 1024
"""Bytes of one category and direction after which their compression ratio so far is used for the
rest (a payload of many chunks costs the controller at most ~0.2 s of zlib, not one pass over it)."""


def _compressed_ratio(sample):
    """compressed / original size of a sample (bytes or a _FileSample) with zlib's default level, as
    OpenSSH's compression; 1.0 when it cannot be read."""
    if isinstance(sample, _FileSample):
        try:
            size = os.path.getsize(sample.path)
            with open(sample.path, "rb") as handle:
                if size <= SAMPLE_LIMIT:
                    data = handle.read()
                else:
                    parts = []
                    step = size // 8
                    for i in range(8):
                        handle.seek(i * step)
                        parts.append(handle.read(SAMPLE_LIMIT // 8))
                    data = b"".join(parts)
        except (OSError, TypeError):
            return 1.0
    else:
        data = sample if isinstance(sample, (bytes, bytearray)) else (sample or b"")
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if len(data) > SAMPLE_LIMIT:
            step = len(data) // 8
            data = b"".join(data[i * step:i * step + SAMPLE_LIMIT // 8] for i in range(8))
    if not data:
        return 1.0
    return min(1.0, len(zlib.compress(bytes(data), 6)) / float(len(data)))


# The wire model: what the node's link carries for the counted bytes, measured with OpenSSH 9 against
# simfleet's link relay (docs/upgrade.md, "Bytes per node"), where the operator's connection rides
# inside the node's reverse tunnel as on Waggle nodes: two layers of SSH packets.
WIRE_FRAMING = 0.005
"""SSH packet framing and MACs of both layers, per byte of (compressed) data."""
WIRE_PER_EXEC = (200, 400)
"""Bytes towards the node and back per exec or file transfer: channel open and confirmation, requests,
exit status, end of file, close."""
WIRE_WINDOW = 0.0024
"""Window adjustments, per byte received by the other side (sent back in the opposite direction)."""
WIRE_LOGIN = (3000, 2500)
"""Bytes towards the node and back of one new SSH login (key exchange, host key, authentication)."""


def wire_estimate(meter):
    """Estimated bytes on the node's link for the meter's counts: ``{"sent", "received", "compression",
    "logins"}``. With the connection's compression the data is what zlib makes of it (sampled for large
    data); ``logins`` is the new SSH logins counted in (one when the task started without a running
    ControlMaster, one after each connection reset)."""
    execs = sum(meter.counts[c]["execs"] + meter.counts[c]["files"] for c in CATEGORIES)
    src = meter.compressed if meter.compression else meter.counts
    data_sent = sum(src[c]["sent"] for c in CATEGORIES)
    data_received = sum(src[c]["received"] for c in CATEGORIES)
    logins = meter.logins if execs else 0
    return {
        "sent": int(round(data_sent * (1 + WIRE_FRAMING) + execs * WIRE_PER_EXEC[0] + data_received * WIRE_WINDOW
                          + logins * WIRE_LOGIN[0])),
        "received": int(round(data_received * (1 + WIRE_FRAMING) + execs * WIRE_PER_EXEC[1] + data_sent * WIRE_WINDOW
                              + logins * WIRE_LOGIN[1])),
        "compression": bool(meter.compression),
        "logins": logins,
    }
