# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run at a time per switch (runs on nodes, Python 3.6+).

Every edgeswitch_config, edgeswitch_firmware and switch-firmware payload run holds an exclusive
``fcntl.flock`` on ``<lock_dir>/switch-<host>.lock`` from its first CLI session to its end, reloads
included. A second run waits for it (``lock_timeout``) instead of driving the same CLI and the same
FTP/TFTP port at the same time; the usual case is a re-run while the run whose controller lost the
node's tunnel is still finishing on the node. The kernel drops the lock when its holder dies, so a
power cut leaves nothing to clean up. The lock file holds the holder's pid, module and start time,
for the waiting run's message.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import json
import os
import re
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import EdgeSwitchError

DEFAULT_LOCK_DIR = "/run/lock/honeycomb"
DEFAULT_LOCK_TIMEOUT = 600
POLL = 0.5


def lock_argument_spec():
    """The lock options of edgeswitch_config and edgeswitch_firmware (doc fragment ``_edgeswitch.lock``)."""
    return dict(
        lock_dir=dict(type="path", default=DEFAULT_LOCK_DIR),
        lock_timeout=dict(type="int", default=DEFAULT_LOCK_TIMEOUT),
    )


class SwitchBusy(EdgeSwitchError):
    """Another run held the switch's lock for all of lock_timeout."""


def lock_path(lock_dir, host):
    return os.path.join(lock_dir, "switch-%s.lock" % re.sub(r"[^A-Za-z0-9._-]", "_", host))


def _describe(holder):
    if not holder.get("pid"):
        return "another run (its lock file names no holder yet)"
    return "pid %s (%s, started %s)" % (holder.get("pid"), holder.get("what") or "a honeycomb run",
                                        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("started", 0))))


class SwitchLock(object):
    """``acquire()`` waits up to ``timeout`` seconds (0: one try) and does nothing when this object already
    holds the lock; ``release()`` lets go. One object per run."""

    def __init__(self, host, lock_dir=None, timeout=None, what=None):
        self.host = host
        self.path = lock_path(lock_dir or DEFAULT_LOCK_DIR, host)
        self.timeout = DEFAULT_LOCK_TIMEOUT if timeout is None else timeout
        self.what = what
        self.fd = None
        self.waited = 0.0

    @property
    def held(self):
        return self.fd is not None

    def _open(self):
        directory = os.path.dirname(self.path)
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o700)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except (IOError, OSError) as exc:
            raise EdgeSwitchError("cannot open the switch lock %s: %s; set lock_dir to a directory the module "
                                  "can write" % (self.path, exc))

    def holder(self):
        try:
            with open(self.path) as handle:
                return json.loads(handle.read() or "{}")
        except (IOError, OSError, ValueError):
            return {}

    def acquire(self):
        if self.fd is not None:
            return self
        fd = self._open()
        start = time.time()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise EdgeSwitchError("cannot lock %s: %s" % (self.path, exc))
            if time.time() - start >= self.timeout:
                os.close(fd)
                raise SwitchBusy("another run is using the switch %s: %s; waited %.0f s (lock_timeout). Wait for "
                                 "it to finish, or raise lock_timeout" % (self.host, _describe(self.holder()),
                                                                          time.time() - start))
            time.sleep(POLL)
        self.waited = time.time() - start
        self.fd = fd
        data = json.dumps({"pid": os.getpid(), "what": self.what, "started": time.time()}).encode("utf-8")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        return self

    def release(self):
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.ftruncate(fd, 0)   # the next holder writes its own name; a reader meanwhile sees "no holder yet"
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
