# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resumable, verified payload transfer of ``waggle.honeycomb.upgrade`` (controller only).

:class:`Transfer` sends a payload file into the node's store through plain execs on the task's
connection (ssh through the bastion: no sftp, no scp, no remote tmp dir):

* The payload is read from disk one chunk at a time (never held whole in memory) and each chunk is the
  stdin of one exec of the node-side helper (``plugins/module_utils/_honeycomb/receive.py``, its source
  sent with the command), which appends it to the payload's partial file next to the store and checks
  the chunk's SHA-256 before it counts it as verified.
* The chunk size follows the measured throughput (about ``TARGET_SECONDS`` of transfer per chunk,
  between ``CHUNK_MIN`` and ``CHUNK_MAX``), so a drop costs little on a slow link and a fast link needs
  few execs.
* A dropped connection (``AnsibleConnectionFailure``) or a stall (no chunk finished for
  ``stall_timeout`` seconds: the connection is reset, which ends the hanging exec) starts a new attempt
  after a backoff: the node says how much it has verified and how much of the next chunk it already
  received, and the transfer continues from there. It gives up after ``reconnect_timeout`` seconds
  without progress (:class:`TransferError`, with what is kept on the node for the next run).
* The SHA-256 of the whole file is checked on the node before it enters the store; a partial file that
  does not match is discarded and the payload sent again (at most ``MAX_DISCARDS`` times).
* ``rate_limit`` (bytes/s) caps the average rate: chunks get smaller and the sender pauses between them.

The connection is reached through callables (``execute``, ``reset``) so the loop is tested without a
node (tests/unit/plugins/plugin_utils/test_transfer.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import json
import os
import secrets
import shlex
import threading
import time
import zlib

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout as lo
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import receive

CHUNK_MIN = 64 * 1024
CHUNK_MAX = 4 * 1024 * 1024
CHUNK_FIRST = 256 * 1024
TARGET_SECONDS = 3.0
"""Seconds of transfer one chunk should take at the measured rate (what a drop costs at most)."""
READ_SIZE = 1024 * 1024
"""Bytes read from the payload file at a time while hashing a range."""
MAX_BACKOFF = 4
"""Longest pause between two reconnect attempts of the transfer, seconds (plus up to 1 s of jitter): a
flapping link has short windows, and an attempt costs little."""
MAX_DISCARDS = 2
MAX_MISMATCHES = 5
"""Chunks in a row that may arrive with a wrong SHA-256 before the transfer gives up."""
DEFAULT_STALL_TIMEOUT = 60
DEFAULT_RECONNECT_TIMEOUT = 300
STALL_JOIN = 30
"""Seconds to wait for a stalled exec to end after the connection was reset (then it is left behind)."""


def new_stats(size):
    """The figures of a payload transfer of ``size`` bytes before it starts: the upgrade result's ``transfer``
    (docs/upgrade.md), also for a payload sent with the task (``inline: true``)."""
    return {"size": size, "bytes_sent": 0, "bytes_received": 0, "bytes_resumed": 0, "bytes_resent": 0, "attempts": 0,
            "chunks": 0, "chunk_mismatches": 0, "discarded": 0, "stalls": 0, "reconnects": 0,
            "max_chunk": 0, "duration": 0.0, "stored": False}


class TransferError(Exception):
    """The transfer could not finish; ``stats`` says how far it came."""

    def __init__(self, msg, stats):
        super(TransferError, self).__init__(msg)
        self.msg = msg
        self.stats = stats


class _Stalled(Exception):
    pass


def helper_command():
    """The shell words that run receive.py's source (compressed) with the node's Python."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "module_utils", "_honeycomb", "receive.py")
    with open(path, "rb") as handle:
        source = handle.read()
    packed = base64.b64encode(zlib.compress(source, 9)).decode("ascii")
    return "import base64,zlib;exec(zlib.decompress(base64.b64decode('%s')))" % packed


def _json_answer(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def _round_chunk(n):
    n = int(max(CHUNK_MIN, min(CHUNK_MAX, n)))
    return n - n % CHUNK_MIN


def hash_range(handle, start, end):
    """SHA-256 of bytes ``[start, end)`` of the open file ``handle`` (read in READ_SIZE pieces)."""
    digest = hashlib.sha256()
    handle.seek(start)
    pos = start
    while pos < end:
        data = handle.read(min(READ_SIZE, end - pos))
        if not data:
            raise IOError("the payload file ended at byte %d, before %d: was it changed during the run?" % (pos, end))
        digest.update(data)
        pos += len(data)
    return digest.hexdigest()


class Transfer(object):
    """Send ``src`` (``size`` bytes, SHA-256 ``sha256``) into the store of the node behind ``execute``.

    * ``execute(cmd, in_data)``: run the shell command ``cmd`` on the node with ``in_data`` (bytes) on
      its stdin; returns ``{"rc", "stdout", "stderr"}``; raises ``AnsibleConnectionFailure`` on a drop.
    * ``reset()``: drop the connection, so a hanging exec ends and the next one reconnects.
    * ``layout``: the node's :class:`layout.StateLayout`; ``python``: the node's interpreter.
    """

    def __init__(self, execute, reset, src, size, sha256, layout, python="python3", rate_limit=None,
                 stall_timeout=None, reconnect_timeout=None, clock=None, sleep=None, jitter=None, log=None,
                 opener=None, idle=receive.DEFAULT_IDLE):
        for name, value in (("transfer_rate_limit", rate_limit), ("transfer_stall_timeout", stall_timeout)):
            if value is not None and value <= 0:
                raise ValueError("%s must be a positive number (%s), got %r" % (
                    name, "bytes per second" if name == "transfer_rate_limit" else "seconds", value))
        self.execute, self.reset = execute, reset
        self.src, self.size, self.sha = src, int(size), sha256.lower()
        self.python = python or "python3"
        self.rate_limit = rate_limit
        self.stall_timeout = stall_timeout or DEFAULT_STALL_TIMEOUT
        self.reconnect_timeout = DEFAULT_RECONNECT_TIMEOUT if reconnect_timeout is None else reconnect_timeout
        self.clock, self.sleep = clock or time.monotonic, sleep or time.sleep
        self.jitter = jitter or (lambda: secrets.randbelow(1000) / 1000.0)
        self.log = log or (lambda msg: None)
        self.opener = opener or (lambda path: open(path, "rb"))
        self.request = {"part": layout.transfer_path(self.sha), "state": layout.transfer_state_path(self.sha),
                        "store": layout.payload_path(self.sha), "sha256": self.sha, "size": self.size,
                        "prefix": lo.TRANSFER_PREFIX, "part_suffix": lo.TRANSFER_PART_SUFFIX,
                        "state_suffix": lo.TRANSFER_STATE_SUFFIX, "idle": idle}
        self._helper = helper_command()
        self.chunk = CHUNK_FIRST
        if rate_limit:
            self.chunk = _round_chunk(min(self.chunk, rate_limit * TARGET_SECONDS))
        self.stats = new_stats(self.size)
        self._first_begin = True
        self._pending = None  # (start, end) of a put whose answer was lost with its connection
        self._mismatches_in_row = 0

    # -- one exec ------------------------------------------------------------------------------------
    def _command(self, op, request):
        return "%s -c %s %s %s" % (shlex.quote(self.python), shlex.quote(self._helper), op,
                                   shlex.quote(json.dumps(request, sort_keys=True)))

    def _call(self, op, request, in_data=None):
        """One helper exec, watched for a stall; returns its JSON answer. Raises AnsibleConnectionFailure
        on a drop or a stall (after resetting the connection) and TransferError when the helper fails."""
        cmd = self._command(op, request)
        box = {}

        def work():
            try:
                box["res"] = self.execute(cmd, in_data)
            except BaseException as exc:  # handed to the caller's thread
                box["exc"] = exc

        worker = threading.Thread(target=work, name="honeycomb-transfer")
        worker.daemon = True
        worker.start()
        worker.join(self.stall_timeout)
        stalled = worker.is_alive()
        if stalled:
            self.stats["stalls"] += 1
            self.log("no progress for %ss: resetting the connection" % self.stall_timeout)
            try:
                self.reset()
            except AnsibleConnectionFailure:
                pass
            worker.join(STALL_JOIN)
            if worker.is_alive():
                # e.g. an ssh still waiting for its connect timeout: left to end on its own (a daemon
                # thread). Should it still deliver its chunk, the node refuses it as out of step.
                self.log("the stalled command did not end %ss after the reset; going on without it" % STALL_JOIN)
                raise AnsibleConnectionFailure("no progress for transfer_stall_timeout (%ss)" % self.stall_timeout)
            if "exc" in box and isinstance(box["exc"], AnsibleConnectionFailure):
                raise AnsibleConnectionFailure("no progress for transfer_stall_timeout (%ss)" % self.stall_timeout)
            # it ended by itself meanwhile (a connection that was still being set up came through): its
            # answer counts
        if "exc" in box:
            raise box["exc"]
        res = box["res"]
        answer = _json_answer(to_text(res.get("stdout") or ""))
        if stalled and (answer is None or res.get("rc") not in (0, None)):  # ended by the reset
            raise AnsibleConnectionFailure("no progress for transfer_stall_timeout (%ss)" % self.stall_timeout)
        if answer is None or answer.get("error") or res.get("rc") not in (0, None):
            detail = (answer or {}).get("error") or to_text(res.get("stderr") or res.get("stdout") or "").strip()[-500:]
            raise TransferError("the node could not receive the payload (%s, rc %s): %s; check that the state_dir "
                                "%s is writable by the connection user and has room for %d bytes"
                                % (op, res.get("rc"), detail, os.path.dirname(self.request["store"]),
                                   self.size), self._final())
        return answer

    # -- the loop ------------------------------------------------------------------------------------
    def _final(self):
        self.stats["duration"] = round(self.clock() - self._t0, 3)
        return dict(self.stats)

    def _begin(self):
        answer = self._call("begin", self.request)
        if self._pending is not None:  # what the node kept of the put the connection took with it
            start, end = self._pending
            self._pending = None
            got = end - start if answer.get("stored") else int(answer.get("have") or 0) - start
            self.stats["bytes_received"] += min(max(got, 0), end - start)
        if answer.get("busy"):
            raise AnsibleConnectionFailure("an earlier attempt still holds the partial file on the node")
        if self._first_begin:
            self._first_begin = False
            self.stats["bytes_resumed"] = 0 if answer.get("stored") else int(answer.get("have") or 0)
            if self.stats["bytes_resumed"]:
                self.log("resuming: the node has %d of %d bytes" % (self.stats["bytes_resumed"], self.size))
        for name in answer.get("pruned") or []:
            self.log("removed the idle partial transfer %s" % name)
        if answer.get("discarded"):
            self._discarded(answer)
        return answer

    def _discarded(self, answer):
        self.stats["discarded"] += 1
        self.log("the complete partial file had sha256 %s, not %s: discarded, sending again"
                 % (answer.get("actual"), self.sha))
        if self.stats["discarded"] > MAX_DISCARDS:
            raise TransferError("the payload arrived %d times with a wrong SHA-256 (%s, expected %s); the partial "
                                "file was removed. Check the node's disk and memory, then run the task again"
                                % (self.stats["discarded"], answer.get("actual"), self.sha), self._final())

    def _put(self, handle, verified, have):
        """Send the rest of the chunk that starts at ``verified`` (the node has up to ``have``)."""
        end = min(verified + max(self.chunk, have - verified + CHUNK_MIN), self.size)
        # the node already has [verified, have) of this chunk: the hash covers the whole chunk
        chunk_sha = hash_range(handle, verified, end) if have > verified else None
        handle.seek(have)
        data = handle.read(end - have)
        if len(data) != end - have:
            raise IOError("the payload file %s is shorter than %d bytes: was it changed during the run?"
                          % (self.src, end))
        if chunk_sha is None:
            chunk_sha = hashlib.sha256(data).hexdigest()
        self.stats["max_chunk"] = max(self.stats["max_chunk"], len(data))
        request = dict(self.request, start=have, base=verified, end=end, chunk_sha256=chunk_sha)
        self.stats["bytes_sent"] += len(data)
        t0 = self.clock()
        self._pending = (have, end)
        answer = self._call("put", request, in_data=data)
        self._pending = None
        self.stats["bytes_received"] += int(answer.get("received") or 0)
        del data
        elapsed = max(self.clock() - t0, 1e-3)
        self.stats["chunks"] += 1
        if answer.get("mismatch"):
            self.stats["chunk_mismatches"] += 1
            self._mismatches_in_row += 1
            if self._mismatches_in_row > MAX_MISMATCHES:
                raise TransferError("%d chunks in a row arrived with a wrong SHA-256 on the node; check the node's "
                                    "disk and memory, then run the task again" % self._mismatches_in_row, self._final())
            self.log("chunk %d-%d arrived with a wrong SHA-256: sending it again" % (verified, end))
        elif not answer.get("out_of_step") and not answer.get("short"):
            self._mismatches_in_row = 0
            rate = (end - have) / elapsed
            target = rate * TARGET_SECONDS
            if self.rate_limit:
                target = min(target, self.rate_limit * TARGET_SECONDS)
            self.chunk = _round_chunk(min(target, self.chunk * 4))
        if answer.get("discarded"):
            self._discarded(answer)
        return answer

    def _pace(self, sent_at_start, t_start):
        if not self.rate_limit:
            return
        due = t_start + (self.stats["bytes_sent"] - sent_at_start) / float(self.rate_limit)
        pause = due - self.clock()
        if pause > 0:
            self.sleep(pause)

    def run(self):
        """Send the payload; returns the stats (``bytes_sent``, ``bytes_resumed``, ``bytes_resent``,
        ``attempts``, ...). Raises TransferError when it cannot finish."""
        self._t0 = self.clock()
        progress_at = self.clock()
        best = -1
        fails = 0
        t_rate, sent_rate = self.clock(), 0
        with self.opener(self.src) as handle:
            while True:
                self.stats["attempts"] += 1
                try:
                    answer = self._begin()
                    while not answer.get("stored"):
                        verified, have = int(answer["verified"]), int(answer["have"])
                        if verified > best:
                            best, progress_at, fails = verified, self.clock(), 0
                        answer = self._put(handle, verified, have)
                        if answer.get("short"):
                            raise AnsibleConnectionFailure("the node received %s of the chunk's bytes"
                                                           % answer.get("received"))
                        self._pace(sent_rate, t_rate)
                    break
                except AnsibleConnectionFailure as exc:
                    error = to_text(exc).strip().splitlines()[-1][:300] if to_text(exc).strip() else "dropped"
                    now = self.clock()
                    if now - progress_at >= self.reconnect_timeout:
                        raise TransferError(
                            "the payload transfer made no progress for reconnect_timeout (%ss): %s. The node keeps "
                            "the %d verified bytes in %s; the next run of the task resumes from there (a partial "
                            "transfer idle for %ss is removed by the next transfer or upgrade run)"
                            % (self.reconnect_timeout, error, max(best, 0), self.request["part"],
                               int(self.request["idle"])), self._final())
                    self.log("connection lost during the transfer (%s); reconnecting" % error)
                    try:
                        self.reset()
                    except AnsibleConnectionFailure:
                        pass
                    pause = min(2 ** fails, MAX_BACKOFF) + self.jitter()
                    pause = min(pause, max(progress_at + self.reconnect_timeout - now, 0))
                    if pause > 0:
                        self.sleep(pause)
                    fails += 1
                    self.stats["reconnects"] += 1
                    t_rate, sent_rate = self.clock(), self.stats["bytes_sent"]
        self.stats["stored"] = True
        needed = self.size - self.stats["bytes_resumed"]
        self.stats["bytes_resent"] = max(self.stats["bytes_sent"] - needed, 0)
        return self._final()


HOST_VARS = {"transfer_rate_limit": "honeycomb_transfer_rate_limit",
             "transfer_stall_timeout": "honeycomb_transfer_stall_timeout"}
"""Host variables that set a transfer option for one node when the task does not."""


def _positive(name, value):
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a whole number > 0, got %r" % (name, value))
    if number <= 0:
        raise ValueError("%s must be a whole number > 0, got %r" % (name, value))
    return number


def options(args, task_vars, templar=None):
    """``{"rate_limit", "stall_timeout"}``: the task's options, else the host variables of HOST_VARS."""
    out = {}
    for option, var in HOST_VARS.items():
        value = args.get(option)
        source = option
        if value is None and var in task_vars:
            value = task_vars[var]
            if templar is not None:
                value = templar.template(value)
            source = "host variable %s" % var
        out[option.replace("transfer_", "")] = _positive(source, value)
    return out


def node_python(task_vars, templar=None):
    """The node's Python for the helper: ``ansible_python_interpreter``, else the discovered one, else python3."""
    value = task_vars.get("ansible_python_interpreter")
    if value and templar is not None:
        value = templar.template(value)
    if not value or value.startswith("auto"):
        value = (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
    return value if isinstance(value, str) and value.startswith("/") else "python3"


def send(action, src, sha256, layout, args, task_vars, log=None):
    """Send ``src`` through the action plugin's connection into ``layout``'s store; the stats dict.
    Raises TransferError (stats attached) when it cannot finish."""
    try:
        opts = options(args, task_vars, getattr(action, "_templar", None))
        if args.get("reconnect_timeout") is not None and args["reconnect_timeout"] < 0:
            raise ValueError("reconnect_timeout must be >= 0, got %r" % args["reconnect_timeout"])
    except ValueError as exc:
        raise TransferError(to_text(exc), {"bytes_sent": 0, "attempts": 0})

    def execute(cmd, in_data):
        return action._low_level_execute_command(cmd, in_data=in_data)

    def reset():
        action._connection.reset()

    sender = Transfer(execute, reset, src, os.path.getsize(src), sha256, layout,
                      python=node_python(task_vars, getattr(action, "_templar", None)),
                      rate_limit=opts["rate_limit"], stall_timeout=opts["stall_timeout"],
                      reconnect_timeout=args.get("reconnect_timeout"), log=log)
    # The ssh connection's own retries would send a dropped chunk again from its start, over what the
    # node kept of it; the transfer resumes from the node's answer instead.
    saved = _swap_option(action._connection, RETRIES_OPTION, 0)
    try:
        return sender.run()
    finally:
        if saved is not _MISSING:
            _swap_option(action._connection, RETRIES_OPTION, saved)


RETRIES_OPTION = "reconnection_retries"
_MISSING = object()


def _swap_option(connection, name, value):
    """Set the connection plugin's option ``name``; its old value, or _MISSING when it has none."""
    try:
        old = connection.get_option(name)
        connection.set_option(name, value)
    except (KeyError, AttributeError, AnsibleError):
        return _MISSING
    return old
