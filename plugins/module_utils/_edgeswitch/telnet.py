# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A minimal telnet client for pexpect: a relay thread between the TCP socket and one end of a
socketpair, answering option negotiation (accepts the server's ECHO and SGA, refuses the rest) and
(un)escaping 0xFF. pexpect drives the other end with fdpexpect (nodes may have no telnet binary)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import select
import socket
import threading

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
ECHO, SGA = 1, 3


class TelnetRelay(object):
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.settimeout(None)
        self.local, self.remote = socket.socketpair()
        self.state = None
        self.thread = threading.Thread(target=self._run, name="hc-telnet")
        self.thread.daemon = True
        self.thread.start()

    def fileno(self):
        return self.remote.fileno()

    def _negotiate(self, verb, option):
        if verb == WILL:
            reply = DO if option in (ECHO, SGA) else DONT
        elif verb == DO:
            reply = WILL if option == SGA else WONT
        else:
            return
        self.sock.sendall(bytes(bytearray([IAC, reply, option])))

    def _filter(self, data):
        out = bytearray()
        for b in bytearray(data):
            state = self.state
            if state is None:
                if b == IAC:
                    self.state = "iac"
                else:
                    out.append(b)
            elif state == "iac":
                if b == IAC:
                    out.append(IAC)
                    self.state = None
                elif b in (DO, DONT, WILL, WONT):
                    self.state = b
                elif b == SB:
                    self.state = "sb"
                else:
                    self.state = None
            elif state == "sb":
                if b == IAC:
                    self.state = "sbiac"
            elif state == "sbiac":
                self.state = None if b == SE else "sb"
            else:
                self._negotiate(state, b)
                self.state = None
        return bytes(out)

    def _run(self):
        try:
            while True:
                ready = select.select([self.sock, self.local], [], [])[0]
                if self.sock in ready:
                    data = self.sock.recv(4096)
                    if not data:
                        break
                    data = self._filter(data)
                    if data:
                        self.local.sendall(data)
                if self.local in ready:
                    data = self.local.recv(4096)
                    if not data:
                        break
                    self.sock.sendall(data.replace(b"\xff", b"\xff\xff"))
        except (socket.error, OSError, ValueError):
            pass
        finally:
            for s in (self.sock, self.local):
                try:
                    s.close()
                except Exception:
                    pass

    def close(self):
        for s in (self.remote, self.sock):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except Exception:
                pass
            try:
                s.close()
            except Exception:
                pass
