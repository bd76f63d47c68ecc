"""camera_snapshot through ansible-playbook, and the role's pictures + contact sheet (rendered by headless Chromium)."""

import io
import json

import pytest

from hctest.browser import screenshot
from hctest.camera import ADMIN, PYTHON, REPO, run_ansible_playbook, run_playbook
from hctest.requires import require_module

Image = require_module("PIL.Image", "run `make venv` (Pillow is pinned in requirements-dev.txt)")


def snap_task(sim, dest, **args):
    task = {"host": "127.0.0.1", "port": sim.port, "username": ADMIN[0], "password": ADMIN[1], "dest": str(dest)}
    task.update(args)
    return {"name": "snap", "waggle.honeycomb.camera_snapshot": task}


def test_snapshot_saved_and_check_mode(camsim, tmp_path):
    sim = camsim(state={"position": {"pan": 90.0, "tilt": 5.0, "zoom": 2.0}}, snapshot_size="320x180")
    dest = tmp_path / "cam.jpg"
    rc, results, _out = run_playbook([snap_task(sim, dest)], tmp_path, check=True)
    assert results[0]["changed"] is True and not dest.exists(), results[0]
    rc, results, _out = run_playbook([snap_task(sim, dest)], tmp_path)
    res = results[0]
    assert res["changed"] is True and res["width"] == 320 and res["height"] == 180, res
    assert res["position"] == {"pan": 90.0, "tilt": 5.0, "zoom": 2.0} and res["info"]["model"] == "XNP-6400RW"
    img = Image.open(io.BytesIO(dest.read_bytes()))
    assert img.format == "JPEG" and img.size == (320, 180)
    assert dest.stat().st_size == res["size"]


@pytest.mark.parametrize("error,needle", [("ng", "error 600 Submenu Not Found instead of a JPEG"),
                                          ("json", "error 600 Submenu Not Found instead of a JPEG"),
                                          ("http500", "HTTP 500")])
def test_error_body_never_saved_as_jpeg(camsim, tmp_path, error, needle):
    sim = camsim(snapshot_error=error)
    dest = tmp_path / "cam.jpg"
    rc, results, _out = run_playbook([snap_task(sim, dest, accept_json=(error == "json"))], tmp_path)
    res = results[0]
    assert res["failed"] and res["error_kind"] == "device", res
    assert needle in res["msg"] and "nothing was saved" in res["msg"], res["msg"]
    assert not dest.exists() and list(tmp_path.glob(".snapshot.*")) == []


def test_fixed_lens_snapshot_has_no_position(camsim, tmp_path):
    sim = camsim(model="XNV-8081Z")
    rc, results, _out = run_playbook([snap_task(sim, tmp_path / "fixed.jpg")], tmp_path)
    assert results[0]["position"] is None and results[0]["info"]["model"] == "XNV-8081Z", results[0]


def inventory(tmp_path, sims, snapshot="changed"):
    common = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON, "camera_host": "127.0.0.1",
              "camera_password": ADMIN[1], "camera_poll_interval": 0.1, "camera_snapshot": snapshot,
              "camera_snapshot_dir": str(tmp_path / "report"),
              "camera_snapshot_node_path": str(tmp_path) + "/node-{{ inventory_hostname }}.jpg",
              "camera_presets": [{"number": 1, "name": "North", "position": {"pan": 0, "tilt": 0, "zoom": 1}},
                                 {"number": 2, "name": "Field", "position": {"pan": 200, "tilt": 20, "zoom": 6}}]}
    hosts = {"node-a": {"camera_port": sims[0].port, "camera_position": {"pan": 60, "tilt": -5, "zoom": 3}},
             "node-b": {"camera_port": sims[1].port, "camera_goto_preset": 2},
             "node-c": {"camera_port": sims[2].port}}
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps({"all": {"vars": common, "hosts": hosts}}))
    return str(path)


def test_role_pictures_and_contact_sheet(camsim, tmp_path):
    sims = [camsim("a"), camsim("b"), camsim("c", model="XNV-8082R")]
    inv = inventory(tmp_path, sims)
    playbook = str(REPO / "playbooks" / "camera.yml")
    proc = run_ansible_playbook([playbook, "-i", inv])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    report = tmp_path / "report"
    for node in ("node-a", "node-b"):
        pic = report / node / "127.0.0.1.jpg"
        assert Image.open(pic).format == "JPEG"
    assert not (report / "node-c").exists()            # fixed lens, nothing changed: no picture
    assert list(tmp_path.glob("node-*.jpg")) == []    # removed from the "node"
    assert (report / "node-a" / "127.0.0.1.jpg").read_bytes() != (report / "node-b" / "127.0.0.1.jpg").read_bytes()
    html = (report / "index.html").read_text()
    assert 'src="node-a/127.0.0.1.jpg"' in html and 'src="node-b/127.0.0.1.jpg"' in html
    assert "pan 60.0&deg; tilt -5.0&deg; zoom 3.0x" in html
    assert '<span class="preset">preset 2 Field</span>' in html and "pan 200.0&deg;" in html
    assert "node-c" in html and "no snapshot" in html
    screenshot_shows_pictures(report / "index.html", tmp_path / "sheet.png")

    # Nothing changed on a second run: no new picture, the sheet is left as it was, nothing reported changed.
    before = (report / "index.html").stat().st_mtime_ns
    proc = run_ansible_playbook([playbook, "-i", inv])
    assert proc.returncode == 0 and "changed=0" in proc.stdout and "changed=1" not in proc.stdout, proc.stdout[-3000:]
    assert (report / "index.html").stat().st_mtime_ns == before


def screenshot_shows_pictures(html, png):
    screenshot(html, png)
    img = Image.open(png).convert("RGB")
    colors = img.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 500, "the sheet rendered few colours: pictures missing?"
    # The thumbnails show sky (node-a looks up) and field (node-b looks down): rendered pictures, not
    # broken-image icons.
    sky = sum(n for n, (r, g, b) in colors if b > 150 and r < 160 and b > r + 30)
    field = sum(n for n, (r, g, b) in colors if g > 90 and r < 110 and b < 80 and g > r + 20)
    assert sky > 2000 and field > 2000, "thumbnails missing: %d sky and %d field pixels" % (sky, field)
