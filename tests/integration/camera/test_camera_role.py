"""Role waggle.honeycomb.camera via playbooks/camera.yml: settings per group/host, applied fleet-wide."""

import json

from hctest.camera import ADMIN, PYTHON, REPO, run_ansible_playbook

PRESETS = [{"number": n, "name": name, "position": {"pan": pan, "tilt": 0, "zoom": 1}}
           for n, name, pan in ((1, "North", 0), (2, "East", 90), (3, "South", 180), (4, "West", 270))]


def inventory(tmp_path, ptz, ptz2, fixed, **extra):
    common = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON, "camera_host": "127.0.0.1",
              "camera_password": ADMIN[1], "camera_poll_interval": 0.1,
              "camera_snapshot_dir": str(tmp_path / "snapshots"),
              "camera_snapshot_node_path": str(tmp_path) + "/node-{{ inventory_hostname }}.jpg"}
    common.update(extra)
    inv = {"all": {"vars": common, "children": {
        "project_ptz": {
            "vars": {"camera_models": ["XNP-6400RW"], "camera_presets": PRESETS, "camera_purge_presets": True},
            "hosts": {"node-a": {"camera_port": ptz.port, "camera_position": {"pan": 45, "tilt": 10}},
                      "node-b": {"camera_port": ptz2.port, "camera_goto_preset": 3},
                      "node-c": {"camera_port": fixed.port}}}}}}
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inv))
    return str(path)


def recap(stdout):
    lines = [ln for ln in stdout.splitlines() if "ok=" in ln and "changed=" in ln]
    return dict((ln.split()[0], dict(kv.split("=") for kv in ln.split()[2:])) for ln in lines)


def test_role_fleet_wide_and_idempotent(camsim, tmp_path):
    a = camsim("a")
    b = camsim("b", state={"presets": {"9": {"name": "Old", "pan": 9.0, "tilt": 0.0, "zoom": 1.0}}})
    c = camsim("c", model="XNV-8082R")
    inv = inventory(tmp_path, a, b, c)
    playbook = str(REPO / "playbooks" / "camera.yml")

    proc = run_ansible_playbook([playbook, "-i", inv, "--check", "--diff"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert a.state()["presets"] == {} and list(b.state()["presets"]) == ["9"]   # check mode changed nothing

    proc = run_ansible_playbook([playbook, "-i", inv])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    r = recap(proc.stdout)
    assert r["node-a"]["changed"] == "1" and r["node-b"]["changed"] == "1" and r["node-c"]["changed"] == "0", r
    assert "XNV-8082R at 127.0.0.1 left alone: no PTZ (fixed lens)" in proc.stdout
    for sim in (a, b):
        stored = sim.state()["presets"]
        assert {n: p["name"] for n, p in stored.items()} == {"1": "North", "2": "East", "3": "South", "4": "West"}
        assert stored["2"]["pan"] == 90.0
    assert a.state()["position"]["pan"] == 45.0 and a.state()["position"]["tilt"] == 10.0
    assert b.state()["position"]["pan"] == 180.0          # goto_preset 3
    assert c.requests_logged(needle="ptzcontrol") == []

    proc = run_ansible_playbook([playbook, "-i", inv])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert all(v["changed"] == "0" and v["failed"] == "0" for v in recap(proc.stdout).values()), proc.stdout[-3000:]


def test_role_refuses_missing_password(camsim, tmp_path):
    a = camsim("a")
    inv = {"all": {"hosts": {"node-a": {"ansible_connection": "local", "ansible_python_interpreter": PYTHON,
                                        "camera_host": "127.0.0.1", "camera_port": a.port}}}}
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(inv))
    proc = run_ansible_playbook([str(REPO / "playbooks" / "camera.yml"), "-i", str(path)])
    assert proc.returncode != 0
    assert "set camera_password" in proc.stdout
    assert a.requests_logged() == []
