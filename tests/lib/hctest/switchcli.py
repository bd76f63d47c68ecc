"""An in-process simulator CLI session over a socketpair, for unit tests of the switch simulator.

    h = Harness(tmp_path, kind="ssh", **settings)   # settings go to switch.json, then a boot
    h.prompt(">"); h.send("enable\r"); out = h.prompt("#"); h.close()
"""

import json
import re
import socket
import threading
import time

from hctools.switchsim.cli import CliSession
from hctools.switchsim.state import SwitchState
from hctools.switchsim.terminal import Terminal


class FakeServer:
    def __init__(self):
        self.reloads = 0

    def reload(self):
        self.reloads += 1


class Harness:
    def __init__(self, tmp_path, kind="ssh", **settings):
        self.state = SwitchState(str(tmp_path))
        if settings:
            data = json.loads((tmp_path / "switch.json").read_text())
            data.update(settings)
            (tmp_path / "switch.json").write_text(json.dumps(data))
            self.state.boot()
        a, self.sock = socket.socketpair()
        self.sock.settimeout(10)
        self.server = FakeServer()
        self.session = CliSession(self.state, Terminal(a, telnet=(kind == "telnet")), self.server, kind=kind)
        self.thread = threading.Thread(target=self.session.run, daemon=True)
        self.thread.start()
        self.buf = b""

    def send(self, text):
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def until(self, pattern):
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.time() + 10
        while True:
            m = regex.search(self.buf)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out.decode("latin-1")
            if time.time() > deadline:
                raise AssertionError("no %r in %r" % (pattern, self.buf))
            data = self.sock.recv(4096)
            if not data:
                raise EOFError(self.buf.decode())
            self.buf += data

    def prompt(self, suffix=r"[>#]"):
        return self.until(r"\r\n\([^()]+\) " + suffix)

    def close(self):
        self.sock.close()
        self.thread.join(5)
