"""playbooks/camera.yml through the simulated fleet's reverse tunnels, against each node's camera simulator
at 10.31.81.10 on the node's LAN (started by simfleet with the production defaults)."""

import json
from pathlib import Path

import pytest

from hctest.camera import REPO
from hctest.fleet import fleet_fixture, node_python_with, node_visible_dir, recap, write_python_wrapper

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

SETTINGS = {
    "camera_password": "honeycomb-sim-admin",
    "camera_poll_interval": 0.2,
    "camera_models": ["XNP-6400RW"],
    "camera_position": {"pan": 30, "tilt": 5},
    "camera_presets": [{"number": n, "name": "P%d" % n, "position": {"pan": 90 * (n - 1), "tilt": 0, "zoom": 1}}
                       for n in (1, 2, 3, 4)],
}


fleet = fleet_fixture(2, devices="camera")


@pytest.fixture(scope="module")
def node_requests():
    """A node Python with requests: the nodes' own /usr/bin/python3 when it has it (CI installs
    python3-requests, as the node_prereqs role does on real nodes), else a copy of the test venv's
    pure-Python requests in a folder the nodes see at the same path (/var/tmp is shared; /tmp and
    /root are private to each node)."""
    import subprocess
    if subprocess.run(["/usr/bin/python3", "-c", "import requests"], check=False).returncode == 0:
        yield "/usr/bin/python3"
        return
    with node_python_with(("requests", "urllib3", "idna", "certifi", "charset_normalizer"),
                          "camera-node-pylib-") as python:
        yield python


@pytest.fixture(scope="module")
def node_without_requests():
    """A node Python on which `import requests` fails, as on a node the node_prereqs role never ran on."""
    import shutil
    dest = Path(node_visible_dir("camera-node-norequests-"))
    try:
        (dest / "requests").mkdir()
        (dest / "requests" / "__init__.py").write_text('raise ImportError("No module named \'requests\'")\n')
        yield write_python_wrapper(dest)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def run(fleet, tmp_path, settings, *args):
    vars_file = tmp_path / "camera-vars.json"
    vars_file.write_text(json.dumps(dict({"camera_snapshot_dir": str(tmp_path / "snapshots")}, **settings)))
    return fleet.ansible_playbook(str(REPO / "playbooks" / "camera.yml"), "-e", "@%s" % vars_file, *args)


def camera_state(fleet, node):
    return json.loads((Path(node["dir"]) / "camera" / "state.json").read_text())


def test_camera_fleet_wide_through_tunnels(fleet, node_requests, node_without_requests, tmp_path):
    # A node Python without requests: the module says so instead of a traceback.
    proc = run(fleet, tmp_path, SETTINGS, "-e", "ansible_python_interpreter=%s" % node_without_requests)
    assert proc.returncode != 0
    assert "requests" in proc.stdout and "Traceback" not in proc.stdout, proc.stdout[-3000:]

    # With a node Python that has requests (what the node_prereqs role provides):
    py = ["-e", "ansible_python_interpreter=%s" % node_requests]
    proc = run(fleet, tmp_path, SETTINGS, *py)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    r = recap(proc.stdout)
    assert len(r) == 2 and all(v["changed"] == 1 and v["failed"] == 0 for v in r.values()), r
    for node in fleet.nodes:
        st = camera_state(fleet, node)
        assert {n: p["name"] for n, p in st["presets"].items()} == {"1": "P1", "2": "P2", "3": "P3", "4": "P4"}
        assert st["presets"]["3"]["pan"] == 180.0
        assert st["position"]["pan"] == 30.0 and st["position"]["tilt"] == 5.0
        # The picture taken after the change came back through the tunnel, onto the contact sheet.
        assert (tmp_path / "snapshots" / node["vsn"] / "10.31.81.10.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    sheet = (tmp_path / "snapshots" / "index.html").read_text()
    assert all('src="%s/10.31.81.10.jpg"' % node["vsn"] in sheet for node in fleet.nodes), sheet

    proc = run(fleet, tmp_path, SETTINGS, *py)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert all(v["changed"] == 0 for v in recap(proc.stdout).values()), proc.stdout[-3000:]

    # Check mode with a new position: reported, not applied.
    moved = dict(SETTINGS, camera_position={"pan": 200, "tilt": 5})
    proc = run(fleet, tmp_path, moved, *py, "--check", "--diff")
    assert proc.returncode == 0 and all(v["changed"] == 1 for v in recap(proc.stdout).values())
    assert all(camera_state(fleet, n)["position"]["pan"] == 30.0 for n in fleet.nodes)

    # Wrong password: one clear failure per node, no lockout afterwards.
    proc = run(fleet, tmp_path, dict(SETTINGS, camera_password="wrong"), *py)
    assert proc.returncode != 0 and proc.stdout.count("HTTP 401 after digest authentication") >= 2
    proc = run(fleet, tmp_path, SETTINGS, *py)
    assert proc.returncode == 0 and all(v["changed"] == 0 for v in recap(proc.stdout).values())
