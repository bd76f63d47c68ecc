"""The node-side TFTP server of edgeswitch_config against a TFTP client nobody here wrote (tftp-hpa),
on loopback: the switch fetches a pushed config from it (get) and uploads its config to it (put)."""

import os
import socket
import subprocess
import time

from hctest.requires import require_system_tool

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.servers import TftpServer

CONFIG = "hostname \"W001-sw\"\r\nnetwork parms 10.31.81.2 255.255.255.0 10.31.81.1\r\n" * 200  # > one 512-byte block


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tftp(port, command, cwd):
    client = require_system_tool("tftp", "tftp-hpa")
    return subprocess.run([client, "-m", "binary", "127.0.0.1", str(port), "-c"] + command, cwd=str(cwd),
                          capture_output=True, text=True, timeout=60, check=False)


def test_tftp_hpa_gets_the_file_the_server_offers(tmp_path):
    port = free_udp_port()
    with TftpServer("127.0.0.1", port) as srv:
        name = srv.new_name()
        with open(srv.path(name), "w", newline="") as handle:
            handle.write(CONFIG)
        assert srv.url(name) == "tftp://127.0.0.1:%d/%s" % (port, name)
        r = tftp(port, ["get", name, "fetched.cfg"], tmp_path)
        assert r.returncode == 0 and "rror" not in r.stdout + r.stderr, r.stdout + r.stderr  # tftp-hpa exits 0 on errors
        served = srv.dir
    assert (tmp_path / "fetched.cfg").read_bytes() == CONFIG.encode()
    assert served and not os.path.exists(served)  # the private directory goes with the server


def session_closed(srv, limit=30.0):
    """Wait until the server has ended its transfer sessions (the session closes the file)."""
    deadline = time.monotonic() + limit
    while srv.server.sessions and time.monotonic() < deadline:
        time.sleep(0.02)
    return not srv.server.sessions


def test_tftp_hpa_puts_a_file_the_server_stores(tmp_path):
    (tmp_path / "startup-config").write_bytes(CONFIG.encode())
    port = free_udp_port()
    with TftpServer("127.0.0.1", port) as srv:
        name = srv.new_name()
        r = tftp(port, ["put", "startup-config", name], tmp_path)
        assert r.returncode == 0 and "rror" not in r.stdout + r.stderr, r.stdout + r.stderr  # tftp-hpa exits 0 on errors
        assert session_closed(srv)
        with open(srv.path(name), "rb") as handle:
            assert handle.read() == CONFIG.encode()
        served = srv.dir
    assert served and not os.path.exists(served)


def test_an_upload_is_complete_when_the_client_is_done(tmp_path):
    (tmp_path / "startup-config").write_bytes(CONFIG.encode())
    port = free_udp_port()
    with TftpServer("127.0.0.1", port) as srv:
        for attempt in range(10):
            name = srv.new_name()
            r = tftp(port, ["put", "startup-config", name], tmp_path)
            assert "rror" not in r.stdout + r.stderr, r.stdout + r.stderr
            assert srv.settle()  # what engine.fetch does right after the copy, before reading
            with open(srv.path(name), "rb") as handle:
                assert handle.read() == CONFIG.encode(), "attempt %d read a partial upload" % attempt
