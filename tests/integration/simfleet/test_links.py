"""Link profiles on a running fleet, in both isolation modes (docs/simfleet.md, "Link profiles").

Every node's tunnel crosses its uplink relay; these tests check what an operator and a test see of it:
the mix assigned at `up`, `simfleet link` on a running node, byte counts against what an `ssh ... cat`
moved, a flap cutting the tunnel and the tunnel coming back, and drop/restore-tunnel with a shaped link.
Time is only checked as "at least" (the added latency), never as a speed threshold.
"""

import json
import os
import subprocess
import time

import pytest
from hctest.fleet import running_fleet, simfleet, skip_unless_fleet_possible

pytestmark = pytest.mark.fleet

N = 2_000_000
# the operator's session rides inside the tunnel's SSH connection: two layers of packet framing and MACs,
# plus key exchanges and keepalives, on top of the payload
OVERHEAD = 0.05


@pytest.fixture(scope="module", params=["namespaces", "ports"])
def fleet(request):
    skip_unless_fleet_possible()
    with running_fleet(2, devices="none", restart_delay=1.0, isolation=request.param, link="lte:50%,lan") as f:
        yield f


def _bytes(fleet, node, reset=False):
    return json.loads(fleet.cli("bytes", node, "--json", *(("--reset",) if reset else ())).stdout)


def _profile(fleet, node):
    return next(n["link_profile"] for n in fleet.status()["nodes"] if n["vsn"] == node)


def _wait_tunnel(fleet, node, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if next(n["tunnel"] for n in fleet.status()["nodes"] if n["vsn"] == node) == "up":
            return
        time.sleep(0.5)
    raise AssertionError(f"the tunnel of {node} did not come back within {timeout} s")


def test_up_assigns_the_mix_by_node_index(fleet):
    assert [n["link_profile"] for n in fleet.status()["nodes"]] == ["lte", "lan"]
    link = json.loads((fleet.dir / "nodes" / "W001" / "link.json").read_text())
    assert link["name"] == "lte" and link["down_kbit"] > 0


def test_bytes_match_what_an_ssh_cat_moved(fleet):
    for node in ("W001", "W002"):
        _bytes(fleet, node, reset=True)
        out = subprocess.run(fleet.ssh_argv(node, f"head -c {N} /dev/urandom"), capture_output=True,
                             timeout=300, check=True).stdout
        assert len(out) == N
        c = _bytes(fleet, node)
        # node -> bastion carried the N bytes and the protocol around them, not much more
        assert N <= c["up"] <= N * (1 + OVERHEAD) + 64 * 1024, c
        assert c["down"] < 64 * 1024, c
        _bytes(fleet, node, reset=True)
        subprocess.run(fleet.ssh_argv(node, "cat > /dev/null"), input=os.urandom(N), capture_output=True,
                       timeout=300, check=True)
        c = _bytes(fleet, node)
        assert N <= c["down"] <= N * (1 + OVERHEAD) + 64 * 1024, c


def test_link_changes_on_a_running_node(fleet):
    fleet.cli("link", "W002", "lan/latency_ms=250")
    try:
        assert _profile(fleet, "W002") == "lan/latency_ms=250"
        shown = fleet.cli("link", "W002", "--json").stdout
        assert json.loads(shown)["latency_ms"] == 250
        t0 = time.monotonic()
        fleet.ssh("W002", "true", timeout=120)
        # an SSH login through the tunnel takes several round trips; one alone is 2 x 250 ms
        assert time.monotonic() - t0 >= 0.5
    finally:
        fleet.cli("link", "W002", "lan")
    assert _profile(fleet, "W002") == "lan"
    fleet.ssh("W002", "true")


def test_a_flap_drops_the_tunnel_and_it_comes_back(fleet):
    before = _bytes(fleet, "W001")
    session = subprocess.Popen(fleet.ssh_argv("W001", "sleep 300"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # the session is up inside the tunnel
        assert session.poll() is None
        fleet.cli("link", "W001", "lte/flap_every=4/flap_jitter=1/flap_down=2/flap_silent=0")
        deadline = time.monotonic() + 60
        while _bytes(fleet, "W001")["flaps"] <= before["flaps"]:
            assert time.monotonic() < deadline, "no flap within 60 s"
            time.sleep(0.3)
        fleet.cli("link", "W001", "lte")  # no more flaps
        # the operator's session inside the tunnel is gone with it
        assert session.wait(timeout=60) != 0
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    _wait_tunnel(fleet, "W001")
    fleet.ssh("W001", "true")
    assert _bytes(fleet, "W001")["connections"] > before["connections"]


def test_a_silent_flap_is_found_by_the_keepalives_and_the_tunnel_comes_back(fleet):
    """The profiles' default: open connections are black-holed (an LTE re-attach), the node's tunnel ssh
    gives up after its keepalives fail, its restart loop builds a new tunnel that replaces the old socket."""
    before = _bytes(fleet, "W002")
    fleet.cli("link", "W002", "lan/flap_every=3/flap_jitter=1/flap_down=1/flap_silent=1")
    try:
        deadline = time.monotonic() + 60
        while _bytes(fleet, "W002")["flaps"] <= before["flaps"]:
            assert time.monotonic() < deadline, "no flap within 60 s"
            time.sleep(0.3)
    finally:
        fleet.cli("link", "W002", "lan")
    # the node's ssh notices by its keepalives and reconnects: a new connection through the relay
    deadline = time.monotonic() + 90
    while _bytes(fleet, "W002")["connections"] <= before["connections"]:
        assert time.monotonic() < deadline, "the node never reconnected after the silent flap"
        time.sleep(0.5)
    _wait_tunnel(fleet, "W002")
    fleet.ssh("W002", "true", timeout=120)


def test_up_with_link_reassigns_a_running_fleet(fleet):
    fleet.cli("up", "--nodes", "2", "--devices", "none", "--no-remember", "--link", "lte-poor:50%,lte")
    try:
        assert [n["link_profile"] for n in fleet.status()["nodes"]] == ["lte-poor", "lte"]
        assert json.loads(fleet.cli("link", "W002", "--json").stdout)["name"] == "lte"
        # without --link the running fleet keeps its links
        fleet.cli("up", "--nodes", "2", "--devices", "none", "--no-remember")
        assert [n["link_profile"] for n in fleet.status()["nodes"]] == ["lte-poor", "lte"]
    finally:
        fleet.cli("up", "--nodes", "2", "--devices", "none", "--no-remember", "--link", "lte:50%,lan")
    assert [n["link_profile"] for n in fleet.status()["nodes"]] == ["lte", "lan"]


def test_drop_and_restore_tunnel_work_with_a_shaped_link_and_the_counts_survive(fleet):
    before = _bytes(fleet, "W001")
    fleet.drop_tunnel("W001")
    st = next(n for n in fleet.status()["nodes"] if n["vsn"] == "W001")
    assert st["link"] == "down" and st["tunnel"] == "down" and st["link_profile"] == "lte"
    r = fleet.ssh("W001", "true", check=False)
    assert r.returncode != 0
    fleet.restore_tunnel("W001")
    fleet.ssh("W001", "true")
    after = _bytes(fleet, "W001")
    assert after["up"] > before["up"] and after["connections"] > before["connections"]


def test_bad_link_requests_are_refused_with_the_reason(fleet):
    r = fleet.cli("link", "W001", "wifi", check=False)
    assert r.returncode == 2 and "unknown link profile 'wifi'" in r.stderr
    r = fleet.cli("link", "W001", "lte/latency_ms=x", check=False)
    assert r.returncode == 2 and "a number is needed" in r.stderr
    r = fleet.cli("bytes", "W009", check=False)
    assert r.returncode == 2 and "no node 'W009'" in r.stderr
    assert _profile(fleet, "W001") == "lte"


def test_up_refuses_a_bad_mix_before_starting_anything(tmp_path):
    r = simfleet("up", "--nodes", "2", "--dir", str(tmp_path / "f"), "--devices", "none", "--no-remember",
                 "--isolation", "ports", "--link", "lte:70%,lan:50%", check=False)
    assert r.returncode == 2 and "add up to 120%" in r.stderr
    assert not (tmp_path / "f" / "fleet.json").exists()
