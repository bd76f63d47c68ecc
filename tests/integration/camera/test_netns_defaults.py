"""Production defaults: the camera at 10.31.81.10:80 on the node's LAN, seen from the node (10.31.81.1).

A namespace pair made here (node side lan0 10.31.81.1/24, camera side 10.31.81.10/24), deleted in
teardown; camera_ptz runs inside the node namespace with no host/port options."""

import os
import subprocess
import uuid

import pytest

from hctest.camera import CameraSimProcess, run_playbook

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True, capture_output=True, text=True)


@pytest.fixture
def lan(tmp_path):
    tag = uuid.uuid4().hex[:6]
    node, cam = "hccam-n-" + tag, "hccam-c-" + tag
    made = []
    try:
        for ns in (node, cam):
            ip("netns", "add", ns)
            made.append(ns)
        ip("link", "add", "hcl" + tag, "type", "veth", "peer", "name", "hcc" + tag)
        ip("link", "set", "hcl" + tag, "netns", node)
        ip("link", "set", "hcc" + tag, "netns", cam)
        ip("-n", node, "link", "set", "hcl" + tag, "name", "lan0")
        ip("-n", node, "addr", "add", "10.31.81.1/24", "dev", "lan0")
        ip("-n", cam, "addr", "add", "10.31.81.10/24", "dev", "hcc" + tag)
        for ns, dev in ((node, "lan0"), (cam, "hcc" + tag)):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")
        sim = CameraSimProcess(tmp_path / "cam", bind="10.31.81.10", port=80, netns=cam, speed=400, zoom_speed=100)
        (tmp_path / "cam").mkdir()
        try:
            yield node, sim.start()
        finally:
            sim.stop()
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)


def test_defaults_reach_camera_on_node_lan(lan, tmp_path):
    node, sim = lan
    assert sim.port == 80
    task = {"name": "ptz", "waggle.honeycomb.camera_ptz": {
        "password": "honeycomb-sim-admin", "poll_interval": 0.1,
        "position": {"pan": 30, "tilt": 5, "zoom": 1},
        "presets": [{"number": 1, "name": "Home", "position": {"pan": 0, "tilt": 0, "zoom": 1}}]}}
    info = {"name": "info", "waggle.honeycomb.camera_info": {}}
    env_pw = {"WAGGLE_CAMERA_ADMIN_PASSWORD": "honeycomb-sim-admin"}
    rc, results, out = run_playbook([task, info], tmp_path, prefix=["ip", "netns", "exec", node, "env"] +
                                    ["%s=%s" % kv for kv in env_pw.items()])
    ptz, facts = results
    assert rc == 0, out
    assert ptz["changed"] is True and ptz["after"]["presets"] == {"1": "Home"}, ptz
    assert facts["info"]["model"] == "XNP-6400RW"     # password from WAGGLE_CAMERA_ADMIN_PASSWORD
    assert facts["position"]["pan"] == pytest.approx(30, abs=0.5)
    # the camera saw the node's LAN address
    assert any(line.startswith("10.31.81.1 ") for line in sim.requests_logged())
    rc, results, out = run_playbook([task], tmp_path, prefix=["ip", "netns", "exec", node])
    assert rc == 0 and results[0]["changed"] is False, results
