# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one payload script (runs on nodes, Python 3.6+).

Each attempt runs in its own process group (``start_new_session``) with cwd = the extracted payload
dir; stdout/stderr go to files in the job's ``logs/`` dir. On timeout the whole group gets SIGTERM,
then SIGKILL after ``kill_grace`` seconds. The module's SIGTERM handler raises :class:`Interrupted`,
which also kills the group before propagating.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import signal
import socket
import struct
import subprocess
import time

# systemd-journald's native protocol socket (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/). Read at call
# time, so tests point it at a socket of their own.
JOURNAL_SOCKET = "/run/systemd/journal/socket"
JOURNAL_MAX_LINES = 200
# A longer MESSAGE is cut to this many bytes (journald's own LineMax default for stream lines is 48K; the
# job's log files keep the whole output). A datagram must stay below the socket's send buffer.
JOURNAL_MAX_MESSAGE = 48 * 1024
JOURNAL_TRUNCATED = u" [truncated by honeycomb]"
# At most this many seconds per batch waiting for room in journald's queue; then the rest is dropped.
JOURNAL_SEND_BUDGET = 1.0


class Interrupted(Exception):
    """The module received SIGTERM (or SIGINT) while a job was running."""

    def __init__(self, signum):
        self.signum = signum
        super(Interrupted, self).__init__("interrupted by signal %d" % signum)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def install_signal_handlers():
    """A dropped tunnel must not kill a running job: ignore SIGHUP and SIGPIPE; turn SIGTERM and
    SIGINT into :class:`Interrupted` so the engine can stop the phase and journal it."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)


def _child_setup():
    # Scripts get default signal dispositions back (the module ignores SIGHUP/SIGPIPE).
    for sig in (signal.SIGHUP, signal.SIGPIPE, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def group_members(pgid):
    """Pids of live (non-zombie) processes in process group ``pgid``, from /proc."""
    members = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return members
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as handle:
                data = handle.read().decode("utf-8", "replace")
        except (IOError, OSError):
            continue
        fields = data[data.rfind(")") + 2:].split()
        # fields[0] = state, fields[2] = pgrp
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            members.append(int(name))
    return members


def group_alive(pgid):
    """True while a live member of the group exists (zombies waiting for a reaper do not count)."""
    try:
        os.killpg(pgid, 0)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            return False
    return bool(group_members(pgid))


def kill_group(pgid, grace, proc=None):
    """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it.
    Returns the signal that ended it last ("SIGTERM"/"SIGKILL") or None when it was already gone."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except OSError:
        return None
    used = "SIGTERM"
    deadline = time.time() + grace
    while time.time() < deadline:
        if proc is not None:
            proc.poll()
        if not group_alive(pgid):
            break
        time.sleep(0.05)
    else:
        used = "SIGKILL"
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    if proc is not None:
        try:
            proc.wait()
        except OSError:
            pass
    return used


def tail(path, limit):
    """Last ``limit`` bytes of ``path`` as text (a leading partial line is kept)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            data = handle.read(limit)
    except (IOError, OSError):
        return ""
    return data.decode("utf-8", "replace")


def journal_field(key, value):
    """One field of a native-protocol entry as bytes: ``KEY=value\\n``, or, when the value contains a
    newline, ``KEY\\n`` + its length (64-bit little endian) + the value + ``\\n``."""
    if not isinstance(value, bytes):
        value = (u"%s" % (value,)).encode("utf-8", "replace")
    key = key.encode("ascii")
    if b"\n" in value:
        return key + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return key + b"=" + value + b"\n"


def _cut_message(line, limit):
    data = (u"%s" % (line,)).encode("utf-8", "replace")
    if len(data) <= limit:
        return data
    # cut on a character boundary
    return data[:limit].decode("utf-8", "ignore").encode("utf-8") + JOURNAL_TRUNCATED.encode("utf-8")


def send_to_system_journal(identifier, fields_lines, priority=6, socket_path=None):
    """Send lines to systemd-journald with its native protocol (one entry per line; values with a newline
    use the protocol's length-prefixed form). ``fields_lines`` is a list of (extra_fields dict, line)
    tuples; only the last JOURNAL_MAX_LINES are sent and a MESSAGE longer than JOURNAL_MAX_MESSAGE bytes is
    cut. ``socket_path`` defaults to JOURNAL_SOCKET.

    Never fails and never holds the upgrade up for long: returns False when there is no journal socket or
    nobody listens on it; waits at most JOURNAL_SEND_BUDGET seconds in all for room in a full queue, then
    drops the rest (the job's log files keep everything); an entry the socket refuses as too large is
    skipped. Returns True when every entry was sent."""
    socket_path = socket_path or JOURNAL_SOCKET
    if not os.path.exists(socket_path):
        return False
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    except (OSError, AttributeError):
        return False
    complete = True
    deadline = time.time() + JOURNAL_SEND_BUDGET
    try:
        # connected, so that a timeout waits for room in the receiver's queue
        sock.settimeout(JOURNAL_SEND_BUDGET)
        sock.connect(socket_path)
        for extra, line in fields_lines[-JOURNAL_MAX_LINES:]:
            entry = [journal_field("SYSLOG_IDENTIFIER", identifier), journal_field("PRIORITY", int(priority))]
            for key, value in sorted(extra.items()):
                entry.append(journal_field(key, value))
            entry.append(journal_field("MESSAGE", _cut_message(line, JOURNAL_MAX_MESSAGE)))
            sock.settimeout(max(0.0, deadline - time.time()))
            try:
                sock.send(b"".join(entry))
            except (OSError, socket.error) as exc:
                if getattr(exc, "errno", None) in (errno.EMSGSIZE, errno.ENOBUFS):
                    complete = False  # this entry is too large for the socket: skip it
                    continue
                raise  # timed out waiting for room (queue full), socket gone: drop the rest
    except (OSError, socket.error):
        return False  # no listener (ECONNREFUSED), not a socket, queue full, ...
    finally:
        sock.close()
    return complete


def run_script(script, cwd, env, timeout, kill_grace, log_dir, log_name, output_limit, on_start=None, argv=None):
    """Run one attempt of a payload script. Returns a dict:
    ``rc`` (negative = killed by that signal), ``timed_out``, ``duration``, ``stdout_tail``,
    ``stderr_tail``, ``stdout_path``, ``stderr_path``, ``killed_with``.

    ``argv`` overrides the command (default: the script itself, or ``/bin/sh script`` when it is not
    executable). ``on_start(pid)`` is called right after the process exists (the engine journals it so a later
    run can find and stop orphaned scripts)."""
    out_path = os.path.join(log_dir, "%s.stdout" % log_name)
    err_path = os.path.join(log_dir, "%s.stderr" % log_name)
    if argv is None:
        argv = [script] if os.access(script, os.X_OK) else ["/bin/sh", script]
    started = time.time()
    with open(out_path, "wb") as out, open(err_path, "wb") as err, open(os.devnull, "rb") as devnull:
        # Not AnsibleModule.run_command: scripts need their own session, files as stdout/stderr and a
        # group kill on timeout.
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=devnull, stdout=out, stderr=err,  # pylint: disable=ansible-bad-function
                                close_fds=True, start_new_session=True, preexec_fn=_child_setup)
    pgid = proc.pid
    result = {"timed_out": False, "killed_with": None, "stdout_path": out_path, "stderr_path": err_path}
    try:
        if on_start is not None:
            on_start(proc.pid)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            result["timed_out"] = True
            result["killed_with"] = kill_group(pgid, kill_grace, proc)
            rc = proc.returncode
    except BaseException:
        # Interrupted (SIGTERM) or any other error: never leave the script running.
        kill_group(pgid, kill_grace, proc)
        raise
    result["rc"] = rc
    result["duration"] = round(time.time() - started, 3)
    result["stdout_tail"] = tail(out_path, output_limit)
    result["stderr_tail"] = tail(err_path, output_limit)
    return result
