"""simfleet link profiles and the shaping relay, without a fleet (docs/simfleet.md, "Link profiles").

The relay runs as the fleet runs it (`python -m hctools.simfleet.relay`) between a unix socket and a
TCP echo server on 127.0.0.1. Timing is checked only as behaviour: the relay holds bytes back *at
least* the configured latency, and a capped transfer takes *at least* bytes/rate (minus one bucket
burst); how fast the machine is never decides a pass.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hctools.simfleet import links


# ---------------------------------------------------------------------- profiles and mixes
def test_profiles_have_every_field_and_lan_is_unshaped():
    for name, prof in links.PROFILES.items():
        assert set(prof) == set(links.FIELDS), name
    lan = links.parse_profile("lan")
    assert lan["name"] == "lan"
    assert all(lan[k] == 0 for k in ("latency_ms", "jitter_ms", "down_kbit", "up_kbit", "stall_every", "flap_every"))
    lte = links.parse_profile("lte")
    assert lte["down_kbit"] > lte["up_kbit"] > 0 and lte["latency_ms"] > 0


def test_overrides_replace_fields_and_keep_the_spec_as_name():
    p = links.parse_profile("lte/flap_every=60/flap_jitter=10")
    assert p["flap_every"] == 60 and p["flap_jitter"] == 10 and p["name"] == "lte/flap_every=60/flap_jitter=10"
    assert p["down_kbit"] == links.PROFILES["lte"]["down_kbit"]


@pytest.mark.parametrize("spec, words", [
    ("3g", ["unknown link profile", "lte"]),
    ("lte/speed=3", ["bad override", "latency_ms"]),
    ("lte/latency_ms=fast", ["a number is needed"]),
    ("lte/latency_ms=-1", [">= 0"]),
    ("lte/stall_min=5/stall_max=1", ["stall_max"]),
    ("lte/flap_every=10/flap_jitter=10", ["flap_jitter"]),
])
def test_bad_profiles_are_refused_with_the_reason(spec, words):
    with pytest.raises(links.LinkError) as e:
        links.parse_profile(spec)
    for w in words:
        assert w in str(e.value)


def test_mix_assignment_follows_the_shares_and_is_deterministic():
    got = links.assign("lte:60%,lte-poor:20%,lan", 10)
    assert Counter(got) == {"lte": 6, "lte-poor": 2, "lan": 2}
    assert got == links.assign("lte:60%,lte-poor:20%,lan", 10)
    # spread over the fleet, not in blocks: the first half already has every profile
    assert set(got[:5]) == {"lte", "lte-poor", "lan"}
    assert links.assign("lte", 3) == ["lte"] * 3
    assert links.assign("lte:50%,lan", 4) == ["lte", "lan", "lte", "lan"]
    # entries without a share split the rest; a share of one node rounds to the larger remainder
    assert Counter(links.assign("lte:50%,lan,lte-poor", 4)) == {"lte": 2, "lan": 1, "lte-poor": 1}
    assert Counter(links.assign("lte-poor:10%,lan", 3)) == {"lan": 3}
    assert Counter(links.assign("lte/flap_every=60:50%,lan", 2)) == {"lte/flap_every=60": 1, "lan": 1}


@pytest.mark.parametrize("text, words", [
    ("lte:60%,lan:60%", ["add up to 120%"]),
    ("lte:60%,lte-poor:20%", ["add up to 80%", "without a share"]),
    ("lte:x%", ["bad share"]),
    ("lte:150%,lan", ["between 0% and 100%"]),
    ("lte,,lan", ["empty entry"]),
    ("wifi:50%,lan", ["unknown link profile"]),
])
def test_bad_mixes_are_refused_with_the_reason(text, words):
    with pytest.raises(links.LinkError) as e:
        links.assign(text, 10)
    for w in words:
        assert w in str(e.value)


def test_counters_reset_moves_the_base_not_the_totals(tmp_path):
    mm = links.open_counters(tmp_path)
    mm[0:8] = (1000).to_bytes(8, "little")
    mm[8:16] = (50).to_bytes(8, "little")
    assert links.counters(tmp_path)["up"] == 1000 and links.counters(tmp_path)["down"] == 50
    links.reset_counters(tmp_path)
    assert links.counters(tmp_path)["up"] == 0
    mm[0:8] = (1234).to_bytes(8, "little")
    assert links.counters(tmp_path)["up"] == 234
    mm.close()


# ---------------------------------------------------------------------- the relay
class EchoServer:
    """TCP echo server on 127.0.0.1 (stands in for the bastion); counts what it received."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c = self.sock.accept()[0]
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    def _echo(self, c):
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    c.shutdown(socket.SHUT_WR)
                    return
                self.received += len(data)
                c.sendall(data)
        except OSError:
            return

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def relay(tmp_path):
    """start(spec) -> (socket path, node dir) of a relay in front of an echo server; stopped afterwards."""
    started = []
    echo = EchoServer()

    def start(spec):
        links.write_link(tmp_path, spec)
        sock = tmp_path / "uplink.sock"
        p = subprocess.Popen([sys.executable, "-m", "hctools.simfleet.relay", "--listen", str(sock),
                              "--connect", f"127.0.0.1:{echo.port}", "--node-dir", str(tmp_path), "--seed", "7"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(p)
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert p.poll() is None, p.stdout.read().decode()
            assert time.monotonic() < deadline, "relay did not listen"
            time.sleep(0.02)
        return p, sock
    yield start
    for p in started:
        p.kill()
        p.wait()
    echo.close()


def _connect(sock: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(str(sock))
    return s


def _roundtrip(s: socket.socket, n: int) -> float:
    """Send n bytes and read them back; the seconds it took."""
    data = os.urandom(n)
    t0 = time.monotonic()
    threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(65536)
        assert chunk, f"connection closed after {len(got)} of {n} bytes"
        got += chunk
    assert bytes(got) == data
    return time.monotonic() - t0


def test_relay_carries_bytes_unchanged_and_counts_them_exactly(relay, tmp_path):
    sock = relay("lan")[1]
    s = _connect(sock)
    _roundtrip(s, 1)
    _roundtrip(s, 3_000_000)
    s.shutdown(socket.SHUT_WR)
    assert s.recv(10) == b""  # the end of stream travels both ways (half-close)
    s.close()
    c = links.counters(tmp_path)
    assert c["up"] == 3_000_001 and c["down"] == 3_000_001 and c["connections"] == 1
    assert c["flaps"] == 0 and c["dropped_up"] == 0 and c["dropped_down"] == 0


def test_relay_delays_at_least_the_configured_latency_each_way(relay):
    sock = relay("lan/latency_ms=150/jitter_ms=20")[1]
    s = _connect(sock)
    for dummy in range(3):
        # one byte there and back: two one-way delays of at least 150 - 20 ms each
        assert _roundtrip(s, 1) >= 2 * 0.130
    s.close()


def test_relay_caps_bandwidth_per_direction(relay, tmp_path):
    sock = relay("lan/down_kbit=4000/up_kbit=0")[1]  # 500 kB/s towards the node, uplink unlimited
    s = _connect(sock)
    n = 1_500_000
    elapsed = _roundtrip(s, n)
    rate = 4000 * 1000 / 8
    burst = max(16384, rate * 0.02)
    # the echo goes through the capped direction once: it cannot be faster than the cap allows
    assert elapsed >= (n - burst - 512 * 1024) / rate  # minus one burst and the link's buffer head start
    s.close()
    c = links.counters(tmp_path)
    assert c["up"] == n and c["down"] == n


def test_sighup_applies_a_new_profile_to_an_open_connection(relay, tmp_path):
    p, sock = relay("lan")
    s = _connect(sock)
    _roundtrip(s, 10)
    links.write_link(tmp_path, "lan/latency_ms=200")
    p.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while _roundtrip(s, 1) < 0.4:  # the reload is asynchronous: the next round trips pick it up
        assert time.monotonic() < deadline, "the new latency never applied"
    assert _roundtrip(s, 1) >= 0.4
    s.close()


def test_a_flap_closes_the_connection_and_refuses_new_ones_while_down(relay, tmp_path):
    sock = relay("lan/flap_every=1/flap_jitter=0.2/flap_down=3/flap_silent=0")[1]
    s = _connect(sock)
    _roundtrip(s, 100)
    s.settimeout(30)
    while True:  # closed by the relay at the flap: EOF (or a reset) while waiting for data
        try:
            if s.recv(100) == b"":
                break
        except ConnectionResetError:
            break
    s.close()
    # during flap_down a new connection is accepted and closed at once, before reaching the bastion
    c0 = links.counters(tmp_path)["connections"]
    s2 = _connect(sock)
    assert s2.recv(10) == b""
    s2.close()
    assert links.counters(tmp_path)["connections"] == c0
    assert links.counters(tmp_path)["flaps"] >= 1


def test_a_silent_flap_black_holes_the_connection(relay, tmp_path):
    sock = relay("lan/flap_every=1/flap_jitter=0.2/flap_down=0/flap_silent=1")[1]
    s = _connect(sock)
    _roundtrip(s, 100)
    deadline = time.monotonic() + 30
    while links.counters(tmp_path)["flaps"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # the connection stays open, but nothing gets through any more
    s.sendall(b"x" * 1000)
    s.settimeout(1.5)
    with pytest.raises(socket.timeout):
        s.recv(10)
    assert links.counters(tmp_path)["dropped_up"] >= 1000
    s.close()
    # a new connection works again (the link is back at once with flap_down=0)
    s2 = _connect(sock)
    _roundtrip(s2, 10)
    s2.close()


def test_stalls_are_counted(relay, tmp_path):
    sock = relay("lan/stall_every=0.2/stall_min=0.05/stall_max=0.1")[1]
    s = _connect(sock)
    deadline = time.monotonic() + 30
    while links.counters(tmp_path)["stalls"] < 3:
        _roundtrip(s, 1000)  # data still gets through, only later
        assert time.monotonic() < deadline
    s.close()


def test_link_file_is_json_with_the_profile(tmp_path):
    links.write_link(tmp_path, "lte-poor")
    data = json.loads((tmp_path / "link.json").read_text())
    assert data["name"] == "lte-poor" and data == links.read_link(tmp_path)
