"""simfleet up / status / down, and that down leaves no process, mount or namespace behind."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from hctest.fleet import simfleet, skip_unless_fleet_possible, start_fleet, stop_fleet

pytestmark = pytest.mark.fleet


def _ns(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _footprint(d: Path) -> dict:
    """What a running fleet has in the system: its prefix, namespaces (by inode) and pids."""
    state = json.loads((d / "fleet.json").read_text())
    prefix = state["prefix"]
    names = [n for n in os.listdir("/run/netns") if n.startswith(prefix + "-")]
    netns = {_ns(f"/run/netns/{n}") for n in names}
    mntns = {tuple(state["bastion_mntns"])}
    for n in state["nodes"]:
        mntns.add(_ns(f"/proc/{n['init']['pid']}/ns/mnt"))
    return {"prefix": prefix, "netns_names": names, "netns": netns, "mntns": mntns, "dir": str(d)}


def _leftovers(fp: dict) -> list:
    found = []
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    found += [f"netns {line}" for line in r.stdout.splitlines() if line.startswith(fp["prefix"] + "-")]
    marker = f"HC_SIMFLEET={fp['prefix']}".encode()
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue  # already dead, waiting for the host's init to reap it
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            net, mnt = _ns(f"/proc/{pid}/ns/net"), _ns(f"/proc/{pid}/ns/mnt")
        except OSError:
            continue
        if marker in env or net in fp["netns"] or mnt in fp["mntns"]:
            found.append(f"process {pid}: {Path(f'/proc/{pid}/cmdline').read_bytes()[:200]!r}")
    for mi in ("/proc/self/mountinfo", "/proc/1/mountinfo"):
        for line in Path(mi).read_text().splitlines():
            if fp["dir"] in line or f"/run/netns/{fp['prefix']}-" in line:
                found.append(f"mount {line}")
    return found


@pytest.fixture
def fleet_dirs():
    dirs = []
    yield dirs
    for d in dirs:
        stop_fleet(d)


def test_up_status_down_leaves_nothing(fleet_dirs):
    skip_unless_fleet_possible()
    f = start_fleet(3)
    fleet_dirs.append(f.dir)
    st = f.status()
    assert st["running"] is True
    assert [n["vsn"] for n in st["nodes"]] == ["W001", "W002", "W003"]
    assert all(len(n["node_id"]) == 16 and int(n["node_id"], 16) for n in st["nodes"])
    assert len({n["node_id"] for n in st["nodes"]}) == 3
    assert all((n["power"], n["link"], n["tunnel"]) == ("on", "up", "up") for n in st["nodes"])
    fp = _footprint(f.dir)
    assert len(fp["netns_names"]) == 6  # node + LAN namespace per node
    assert _leftovers(fp), "the footprint check must see a running fleet"

    out = f.cli("down").stdout
    assert "down" in out
    assert _leftovers(fp) == []
    st = f.status()
    assert st["running"] is False
    assert all(n["power"] == "off" for n in st["nodes"])
    # the node disks survive a plain down; a second down is harmless
    assert (f.dir / "nodes" / "W001" / "etc-waggle" / "node-id").read_text().strip() == st["nodes"][0]["node_id"]
    f.cli("down")


def test_down_after_lost_state_file_cleans_by_scan(fleet_dirs):
    """A crashed test may leave a fleet whose state file is gone: down still finds everything by prefix."""
    skip_unless_fleet_possible()
    f = start_fleet(2)
    fleet_dirs.append(f.dir)
    fp = _footprint(f.dir)
    (f.dir / "fleet.json").unlink()
    f.cli("down")
    assert _leftovers(fp) == []


def test_up_again_keeps_identity_and_disk(fleet_dirs):
    skip_unless_fleet_possible()
    f = start_fleet(2)
    fleet_dirs.append(f.dir)
    f.ssh("W002", "echo kept > /var/lib/honeycomb/marker")
    ids = [n["node_id"] for n in f.status()["nodes"]]
    f.cli("down")
    simfleet("up", "--nodes", "2", "--dir", str(f.dir), "--devices", "none", "--no-remember")
    assert [n["node_id"] for n in f.status()["nodes"]] == ids
    assert f.ssh("W002", "cat /var/lib/honeycomb/marker").stdout.strip() == "kept"
    # up on a running fleet with the same size is a no-op that succeeds; another size is refused
    simfleet("up", "--nodes", "2", "--dir", str(f.dir), "--devices", "none", "--no-remember")
    r = simfleet("up", "--nodes", "3", "--dir", str(f.dir), "--no-remember", check=False)
    assert r.returncode == 2 and "is up with 2 nodes" in r.stderr


def test_bad_input_is_named(tmp_path):
    skip_unless_fleet_possible()
    r = simfleet("up", "--nodes", "0", "--dir", str(tmp_path / "f"), "--no-remember", check=False)
    assert r.returncode == 2 and "--nodes must be between" in r.stderr
    r = simfleet("up", "--nodes", "1", "--devices", "toaster", "--dir", str(tmp_path / "f"), "--no-remember",
                 check=False)
    assert r.returncode == 2 and "unknown device 'toaster'" in r.stderr
    r = simfleet("status", "--dir", str(tmp_path / "nothing"), check=False)
    assert r.returncode == 2 and "no fleet at" in r.stderr
