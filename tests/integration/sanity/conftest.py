"""Fixtures of the sanity integration tests: a real loopback sshd, a "switch" TCP listener and a
"camera" HTTP server answering 401 on 127.0.0.1, and a closed port for broken peers."""

import http.server
import socket
import threading

import pytest

from hctest.sshd import free_port, sshd_fixture


sshd = sshd_fixture()


@pytest.fixture(scope="module")
def switch_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


class _Camera(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Digest realm="iPolis_E43022000001", nonce="1", qop="auth"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def camera_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Camera)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def dead_port():
    return free_port()
