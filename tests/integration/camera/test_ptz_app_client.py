"""The simulator against an independent client: the SUNAPI calls Sage's PTZ app makes.

The PTZ app (waggle-sensor/ptz-app, through the Sage student SUNAPI library) talks to the camera
with plain ``requests.get(url, auth=HTTPDigestAuth(user, password), params={...})``: no Accept
header (so text replies), ``None`` values dropped by requests, the query reply read as the first
four whitespace-separated ``key=value`` tokens (Pan, Tilt, Zoom, ZoomPulse), snapshots written to a
``.jpg`` whenever the status is 200. These tests make the same calls, written here from the list of
URLs and parameters the app uses, and check that the simulator answers them as a camera would.
"""

import io
import time

import pytest
import requests
from requests.auth import HTTPDigestAuth

from hctest.camera import ADMIN
from hctest.requires import require_module

PIL = require_module("PIL.Image", "run `make venv` (Pillow is pinned in requirements-dev.txt)")

PRESETS = {"1": {"name": "North", "pan": 0.0, "tilt": 0.0, "zoom": 1.0},
           "2": {"name": "Field", "pan": 120.0, "tilt": 15.0, "zoom": 4.0}}


class App:
    """The PTZ app's way of calling the camera (one fresh request per call, digest auth)."""

    def __init__(self, sim):
        self.base = "http://127.0.0.1:%d/stw-cgi/" % sim.port
        self.auth = HTTPDigestAuth(*ADMIN)

    def cmd(self, cgi, payload):
        resp = requests.get(self.base + cgi, auth=self.auth, params=payload, timeout=10)
        return resp

    def ok(self, cgi, payload):
        resp = self.cmd(cgi, payload)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        assert not resp.text.startswith("NG"), resp.text
        return resp

    def position(self):
        resp = self.ok("ptzcontrol.cgi", {"msubmenu": "query", "action": "view", "Query": "Pan,Tilt,Zoom"})
        tokens = resp.text.split()
        values = [float(t.split("=")[1]) for t in tokens[:4]]
        assert [t.split("=")[0] for t in tokens[:4]] == ["Pan", "Tilt", "Zoom", "ZoomPulse"], resp.text
        return values

    def absolute(self, pan=None, tilt=None, zoom=None, zoom_pulse=None, channel=None):
        return self.ok("ptzcontrol.cgi", {"msubmenu": "absolute", "action": "control", "Pan": pan, "Tilt": tilt,
                                          "Zoom": zoom, "ZoomPulse": zoom_pulse, "Channel": channel})

    def relative(self, pan=None, tilt=None, zoom=None):
        return self.ok("ptzcontrol.cgi", {"msubmenu": "relative", "action": "control", "Pan": pan, "Tilt": tilt,
                                          "Zoom": zoom, "ZoomPulse": None, "Channel": None})

    def wait(self, pred, what, timeout=20):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.position()
            if pred(*last):
                return last
            time.sleep(0.05)
        raise AssertionError("camera never reached %s (last %r)" % (what, last))

    def snap(self, path):
        resp = self.cmd("video.cgi", {"msubmenu": "snapshot", "action": "view"})
        if resp.status_code == 200:      # as the app does: any 200 is saved as the picture
            path.write_bytes(resp.content)
        return resp


@pytest.fixture
def app_sim(camsim):
    return camsim(state={"model": "XNP-6400RW", "presets": PRESETS}, speed=600, zoom_speed=200)


def test_absolute_relative_and_zoom_pulse(app_sim):
    app = App(app_sim)
    app.absolute(80, 30, 20)
    app.wait(lambda p, t, z, zp: abs(p - 80) < 0.1 and abs(t - 30) < 0.1 and abs(z - 20) < 0.1, "80/30/20")
    # ZoomPulse only (the app's zoom_pulse argument): refused before, a zoom move now.
    app.absolute(zoom_pulse=0)
    pan, tilt, zoom, pulse = app.wait(lambda p, t, z, zp: zp == 0, "ZoomPulse 0")
    assert zoom == pytest.approx(1.0) and pan == pytest.approx(80, abs=0.1)
    app.absolute(zoom_pulse=300)
    app.wait(lambda p, t, z, zp: zp == 300 and z > 1.0, "ZoomPulse 300")
    # Relative moves, including a negative pan across 0 and a relative zoom.
    app.absolute(pan=10, tilt=0, zoom=2)
    app.wait(lambda p, t, z, zp: abs(p - 10) < 0.1 and abs(z - 2) < 0.1, "10/0/2")
    app.relative(pan=-30, tilt=5, zoom=-1)
    app.wait(lambda p, t, z, zp: abs(p - 340) < 0.1 and abs(t - 5) < 0.1 and abs(z - 1) < 0.1, "340/5/1")


def test_presets_by_number_and_name(app_sim):
    app = App(app_sim)
    app.ok("ptzcontrol.cgi", {"msubmenu": "preset", "action": "control", "Preset": 2, "PresetName": None})
    app.wait(lambda p, t, z, zp: abs(p - 120) < 0.1 and abs(t - 15) < 0.1 and abs(z - 4) < 0.1, "preset 2")
    app.ok("ptzcontrol.cgi", {"msubmenu": "preset", "action": "control", "Preset": None, "PresetName": "North"})
    app.wait(lambda p, t, z, zp: p < 0.1 and abs(t) < 0.1 and zp == 0, "preset North")
    resp = app.cmd("ptzcontrol.cgi", {"msubmenu": "preset", "action": "control", "PresetName": "Nowhere"})
    assert resp.status_code == 200 and resp.text.startswith("NG") and "Error Code: 602" in resp.text


def test_stop_home_continuous_move_areazoom_aux_modes(app_sim):
    app = App(app_sim)
    app.ok("ptzcontrol.cgi", {"msubmenu": "continuous", "action": "control", "NormalizedSpeed": True, "Pan": 50,
                              "Tilt": None, "Zoom": None, "Focus": None})
    first = app.position()
    app.wait(lambda p, t, z, zp: abs(p - first[0]) > 1, "a panning camera")
    app.ok("ptzcontrol.cgi", {"msubmenu": "stop", "action": "control", "OperationType": "All"})
    stopped = app.position()
    assert app.position()[:3] == stopped[:3]
    app.ok("ptzcontrol.cgi", {"msubmenu": "continuous", "action": "control", "Focus": "Near"})
    app.ok("ptzcontrol.cgi", {"msubmenu": "move", "action": "control", "Direction": "up", "MoveSpeed": 3})
    app.wait(lambda p, t, z, zp: t > stopped[1] + 1, "tilting up")
    app.ok("ptzcontrol.cgi", {"msubmenu": "stop", "action": "control", "OperationType": "All"})
    app.ok("ptzcontrol.cgi", {"msubmenu": "home", "action": "control", "Channel": None})
    app.wait(lambda p, t, z, zp: p < 0.1 and abs(t) < 0.1, "home")
    app.absolute(zoom=12)
    app.wait(lambda p, t, z, zp: abs(z - 12) < 0.1, "zoom 12")
    # zoom_out: area zoom 1x, then the app loops until ZoomPulse reads exactly 0.
    app.ok("ptzcontrol.cgi", {"msubmenu": "areazoom", "action": "control", "Type": "1x"})
    app.wait(lambda p, t, z, zp: zp == 0, "ZoomPulse 0 after areazoom 1x")
    app.ok("ptzcontrol.cgi", {"msubmenu": "aux", "action": "control", "Command": "WiperOn"})
    for sub, mode in (("swing", "Stop"), ("group", "Stop"), ("tour", "Stop"), ("trace", "Stop")):
        app.ok("ptzcontrol.cgi", {"msubmenu": sub, "action": "control", "Channel": None, sub.capitalize(): None,
                                  "Mode": mode})


def test_snapshot_is_a_jpeg_that_follows_the_camera(app_sim, tmp_path):
    app = App(app_sim)
    first = tmp_path / "a.jpg"
    assert app.snap(first).headers["Content-Type"] == "image/jpeg"
    img = PIL.open(io.BytesIO(first.read_bytes()))
    assert img.format == "JPEG" and img.size == (640, 360)
    app.absolute(180, 20, 8)
    app.wait(lambda p, t, z, zp: abs(p - 180) < 0.1 and abs(z - 8) < 0.1, "180/20/8")
    second = tmp_path / "b.jpg"
    app.snap(second)
    assert PIL.open(second).format == "JPEG"
    assert first.read_bytes() != second.read_bytes()


def test_attributes_and_init_status(app_sim):
    app = App(app_sim)
    resp = app.ok("attributes.cgi", {})        # the app sends digest auth; also fine without
    assert "<attributes>" in resp.text and 'name="Absolute.Pan"' in resp.text
    anon = requests.get(app.base + "attributes.cgi/cgis", timeout=10)
    assert anon.status_code == 200 and '<cgi name="ptzcontrol">' in anon.text
    init = requests.get("http://127.0.0.1:%d/init-cgi/pw_init.cgi" % app_sim.port,
                        params={"msubmenu": "statuscheck", "action": "view"}, timeout=10)
    assert init.status_code == 200 and init.json()["Initialized"] is True


def test_dual_challenge_sha256_first_and_plain_requests(app_sim):
    app = App(app_sim)
    resp = requests.get(app.base + "system.cgi", params={"msubmenu": "deviceinfo", "action": "view"}, timeout=10)
    assert resp.status_code == 401
    challenges = resp.raw.headers.getlist("WWW-Authenticate")
    assert [c.split("algorithm=")[1].split(",")[0] for c in challenges] == ["SHA-256", "MD5"]
    info = app.ok("system.cgi", {"msubmenu": "deviceinfo", "action": "view"})
    assert "Model=XNP-6400RW" in info.text
    # requests folds both challenges into one header; its parser keeps the last algorithm (MD5).
    assert 'algorithm="MD5"' in info.request.headers["Authorization"]
