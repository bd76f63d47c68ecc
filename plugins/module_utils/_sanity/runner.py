# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs Waggle-style sanity test executables (node side, Python 3.6+, stdlib only).

Behaviour of the Waggle runner (waggle-sanity-check ``waggle_sanity_check.py``) kept here:
every ``*.test`` of a folder in sorted order, warning folders before fatal ones, one timeout per
test, rc 0 = pass, any other rc = fail, and a timeout or an exception while starting or waiting
for the test counts as rc 127. Differences: each test runs in its own session (process group)
and the whole group is killed on timeout, so a test's children cannot outlive it; stdout and
stderr are captured (to a temporary file, so a chatty test cannot block on a full pipe) and the
tail is returned.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import signal
import subprocess
import tempfile
import time

TIMEOUT_RC = 127
SEVERITIES = ("warning", "fatal")
# The Waggle runner runs warning tests first, then fatal ones.
SEVERITY_ORDER = {"warning": 0, "fatal": 1}


def tail(text, lines=20, max_chars=4000):
    """Last ``lines`` lines of ``text``, at most ``max_chars`` characters."""
    if not text:
        return ""
    text = text.rstrip("\n")
    parts = text.split("\n")
    if lines is not None and lines >= 0:
        parts = parts[-lines:] if lines else []
    out = "\n".join(parts)
    if len(out) > max_chars:
        out = out[-max_chars:]
    return out


def _kill_group(proc):
    """SIGKILL the process group led by ``proc`` (it was started in a new session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.kill()
    except OSError:
        pass


def run_command(argv, timeout, cwd="/", env=None):
    """Run ``argv`` with a timeout; return (rc, output, timed_out, error).

    rc is 127 when the command timed out, could not be started or was killed by a signal
    (``error`` then says why).
    The command runs in a new session; on timeout its whole process group is killed.
    """
    with tempfile.TemporaryFile() as out:
        try:
            # AnsibleModule.run_command has no timeout and cannot kill a process group, which the
            # Waggle-compatible per-test timeout needs; hence Popen here.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,  # pylint: disable=ansible-bad-function
                                    stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                    start_new_session=True, close_fds=True)
        except (OSError, ValueError) as exc:
            return TIMEOUT_RC, "", False, "could not start %s: %s" % (argv[0], exc)
        timed_out = False
        error = None
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            error = "timed out after %s s; process group %d killed" % (timeout, proc.pid)
            _kill_group(proc)
            proc.wait()
            rc = TIMEOUT_RC
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        if rc < 0 and not timed_out:
            # The test crashed (killed by a signal). Counted as 127 like a timeout; the Waggle
            # runner would publish the negative number subprocess.call returns.
            error = "crashed: terminated by signal %d" % -rc
            rc = TIMEOUT_RC
        out.seek(0)
        data = out.read()
    return rc, data.decode("utf-8", "replace"), timed_out, error


def discover_tests(test_dirs):
    """List the tests of ``test_dirs`` ([{"path", "severity"}]) in Waggle order.

    Returns (tests, folders): tests is a list of dicts {name, path, severity}; folders describes
    every folder (path, severity, present, count) so that a missing suite is visible in the result.
    """
    tests = []
    folders = []
    ordered = sorted(enumerate(test_dirs), key=lambda item: (SEVERITY_ORDER[item[1]["severity"]], item[0]))
    for _index, folder in ordered:
        path = folder["path"]
        info = {"path": path, "severity": folder["severity"], "present": os.path.isdir(path), "count": 0}
        folders.append(info)
        if not info["present"]:
            continue
        for filename in sorted(os.listdir(path)):
            if not filename.endswith(".test"):
                continue
            full = os.path.join(path, filename)
            if os.path.isdir(full):
                continue
            tests.append({"name": filename[:-len(".test")], "path": full, "severity": folder["severity"]})
            info["count"] += 1
    return tests, folders


def run_test(test, timeout, output_lines=20):
    """Run one Waggle test executable and return its result dict."""
    started = time.time()
    rc, output, timed_out, error = run_command([test["path"]], timeout)
    duration = round(time.time() - started, 3)
    text = output
    if error:
        text = (text.rstrip("\n") + "\n" if text else "") + "[sanity_check] " + error
    return {
        "name": test["name"],
        "source": "waggle",
        "path": test["path"],
        "severity": test["severity"],
        "result": "pass" if rc == 0 else "fail",
        "rc": rc,
        "duration": duration,
        "timed_out": timed_out,
        "reason": error or ("" if rc == 0 else "exited with %d" % rc),
        "output": tail(text, output_lines),
    }
