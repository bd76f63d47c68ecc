# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Short-lived FTP (pyftpdlib) and TFTP (tftpy) servers on the node, for the switch to copy to/from.

Each server binds only one address (the node's address on the switch LAN), serves a fresh private
directory (mode 0700) and, for FTP, accepts only one-time random credentials. Both stop on exit of
the `with` block, whatever happened inside it."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import errno
import logging
import os
import shutil
import socket
import tempfile
import threading
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import ServerError

try:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer
    HAS_PYFTPDLIB = True
    PYFTPDLIB_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported through missing_required_lib
    HAS_PYFTPDLIB = False
    PYFTPDLIB_IMPORT_ERROR = exc

try:
    import tftpy
    HAS_TFTPY = True
    TFTPY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover
    HAS_TFTPY = False
    TFTPY_IMPORT_ERROR = exc


def _quiet(name):
    logger = logging.getLogger(name)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    logger.setLevel(logging.CRITICAL)


def local_address_for(host):
    """The node's own address on the route to `host` (no packet is sent)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((host, 9))
        return sock.getsockname()[0]
    except (socket.error, OSError) as exc:
        raise ServerError("cannot find the node's address towards the switch %s: %s; set server_address"
                          % (host, exc))
    finally:
        sock.close()


def _random(n):
    return binascii.hexlify(os.urandom(n)).decode("ascii")


class _BaseServer(object):
    scheme = None

    def __init__(self, bind, port):
        self.bind = bind
        self.port = port
        self.dir = None
        self.thread = None
        self.stop_event = threading.Event()
        self.error = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def new_name(self, suffix=".cfg"):
        return "hc-%s%s" % (_random(6), suffix)

    def _host(self):
        return self.bind if self.port == self.default_port else "%s:%d" % (self.bind, self.port)

    def _mkdir(self):
        self.dir = tempfile.mkdtemp(prefix="hc-%s-" % self.scheme)
        os.chmod(self.dir, 0o700)

    def _cleanup(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def settle(self, timeout=10.0):
        """Wait until a file the switch uploaded is complete on disk (no-op where the server writes it
        before the switch hears of success, as FTP's 226 does)."""
        return True

    def _in_use(self, exc):
        code = getattr(exc, "errno", None)
        if code is None:
            text = str(exc)
            for name in ("EADDRINUSE", "EADDRNOTAVAIL", "EACCES"):
                if "[Errno %d]" % getattr(errno, name) in text:
                    code = getattr(errno, name)
        if code == errno.EADDRINUSE:
            return ServerError("%s port %d on %s is in use (another FTP/TFTP server, or a transfer still "
                               "running?): stop it or choose another port with %s_port"
                               % (self.scheme.upper(), self.port, self.bind, self.scheme))
        if code == errno.EADDRNOTAVAIL:
            return ServerError("cannot bind the %s server to %s: the node has no such address; set "
                               "server_address to the node's address on the switch LAN"
                               % (self.scheme.upper(), self.bind))
        if code == errno.EACCES:
            return ServerError("no permission to bind %s port %d on %s: run the module as root "
                               "(become: true) or use a port above 1023"
                               % (self.scheme.upper(), self.port, self.bind))
        return ServerError("cannot start the %s server on %s:%d: %s" % (self.scheme.upper(), self.bind,
                                                                        self.port, exc))


class FtpServer(_BaseServer):
    """`with FtpServer(bind) as srv:` srv.url(name) -> ftp://user@addr/name, srv.password."""
    scheme = "ftp"
    default_port = 21

    def __init__(self, bind, port=21):
        _BaseServer.__init__(self, bind, port)
        self.user = "hc" + _random(4)
        self.password = _random(16)
        self.server = None

    def url(self, name):
        return "ftp://%s@%s/%s" % (self.user, self._host(), name)

    def __enter__(self):
        if not HAS_PYFTPDLIB:
            raise ServerError("pyftpdlib is not installed on the node (the waggle.honeycomb.node_prereqs role installs it)")
        _quiet("pyftpdlib")
        self._mkdir()
        try:
            authorizer = DummyAuthorizer()
            authorizer.add_user(self.user, self.password, self.dir, perm="elrw")
            handler = type("HoneycombFTPHandler", (FTPHandler,), {})
            handler.authorizer = authorizer
            handler.banner = "honeycomb transfer server ready."
            handler.permit_foreign_addresses = False
            handler.timeout = 60
            try:
                self.server = FTPServer((self.bind, self.port), handler)
            except (socket.error, OSError) as exc:
                raise self._in_use(exc)
            self.server.max_cons = 4
            self.thread = threading.Thread(target=self._loop, name="hc-ftp")
            self.thread.daemon = True
            self.thread.start()
        except Exception:
            self._cleanup()
            raise
        return self

    def _loop(self):
        try:
            while not self.stop_event.is_set():
                self.server.serve_forever(timeout=0.2, blocking=False, handle_exit=False)
        except Exception as exc:  # pragma: no cover
            self.error = exc
        finally:
            try:
                self.server.close_all()
            except Exception:
                pass

    def __exit__(self, *exc_info):
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(10)
        self._cleanup()
        return False


class TftpServer(_BaseServer):
    """`with TftpServer(bind) as srv:` srv.url(name) -> tftp://addr/name (TFTP has no credentials:
    the file names are random and the directory is private and short-lived)."""
    scheme = "tftp"
    default_port = 69
    password = None

    def __init__(self, bind, port=69):
        _BaseServer.__init__(self, bind, port)
        self.server = None

    def url(self, name):
        return "tftp://%s/%s" % (self._host(), name)

    def __enter__(self):
        if not HAS_TFTPY:
            raise ServerError("tftpy is not installed on the node (the waggle.honeycomb.node_prereqs role installs it)")
        _quiet("tftpy")
        self._mkdir()
        self.server = tftpy.TftpServer(tftproot=self.dir)
        self.thread = threading.Thread(target=self._loop, name="hc-tftp")
        self.thread.daemon = True
        self.thread.start()
        running = getattr(self.server, "is_running", None)
        for dummy in range(100):
            if self.error is not None or not self.thread.is_alive():
                break
            if running is not None and running.is_set():
                break
            if running is None and getattr(self.server, "sock", None) is not None:
                break
            self.stop_event.wait(0.05)
        if self.error is not None:
            exc = self.error
            self._cleanup()
            raise self._in_use(exc)
        return self

    def settle(self, timeout=10.0):
        """tftpy acknowledges the last DATA block before it writes it and closes the file only when it
        ends the session, so the switch can report success while the upload is still incomplete: wait
        until the server holds no session. False when one is still open after ``timeout`` seconds."""
        deadline = time.time() + timeout
        while getattr(self.server, "sessions", None):
            if time.time() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _loop(self):
        try:
            self.server.listen(self.bind, self.port, timeout=1)
        except Exception as exc:
            self.error = exc

    def __exit__(self, *exc_info):
        try:
            if self.thread is not None and self.thread.is_alive():
                self.server.stop(now=True)
                self.thread.join(10)
        finally:
            self._cleanup()
        return False


def make_server(transfer, bind, ftp_port=21, tftp_port=69):
    if transfer == "tftp":
        return TftpServer(bind, tftp_port)
    return FtpServer(bind, ftp_port)
