"""Shared fixtures of the sanity_check unit tests: fixture files and small real servers on 127.0.0.1."""

import http.server
import pathlib
import socket
import stat
import threading

import pytest
from hctest.sanity import write_proc

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures():
    return FIXTURES


@pytest.fixture
def make_exe(tmp_path):
    """Write an executable shell script and return its path."""

    def make(name, body, folder=None):
        folder = pathlib.Path(folder or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return str(path)

    return make


@pytest.fixture
def tcp_listener():
    """A listening TCP socket on 127.0.0.1; yields its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port():
    """A 127.0.0.1 port nothing listens on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def http_server():
    """Start HTTP servers on 127.0.0.1 answering every GET with a given status; returns start(status) -> port."""
    servers = []

    def start(status):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Digest realm="iPolis_E4302200AABB", nonce="abc", qop="auth"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server.server_address[1]

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def sysnet(tmp_path):
    """A fake /sys/class/net: make(iface, operstate) -> folder."""
    root = tmp_path / "sys-class-net"

    def make(iface, state):
        (root / iface).mkdir(parents=True, exist_ok=True)
        (root / iface / "operstate").write_text(state + "\n")
        return str(root)

    root.mkdir()
    return make


@pytest.fixture
def fake_proc(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()

    def add(pid, argv):
        return write_proc(root, pid, argv)

    add.root = str(root)
    return add


@pytest.fixture
def gpio_dir(tmp_path):
    root = tmp_path / "gpio"
    root.mkdir()

    def set_values(**values):
        for gpio, value in values.items():
            folder = root / gpio
            folder.mkdir(exist_ok=True)
            (folder / "value").write_text("%s\n" % value)
        return str(root)

    set_values.root = str(root)
    return set_values
