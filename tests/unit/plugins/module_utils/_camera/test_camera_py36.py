"""The node-side camera code runs on the Python 3.6 of Ubuntu 18.04 nodes: plan and parse there."""

import glob
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[5]
PY36 = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3")))

SNIPPET = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import driver, ptz, sunapi
    assert sunapi.requests is None or sunapi.requests.__version__
    assert sunapi.parse_reply("Pan=1.5\\r\\nTilt=2\\r\\n", "text/plain") == {"Pan": "1.5", "Tilt": "2"}
    try:
        sunapi.parse_reply("NG\\r\\nError Code: 609\\r\\nError Details:\\r\\nNot Authorized\\r\\n")
    except driver.CameraDeviceError as exc:
        assert exc.code == 609
    chosen, offered = sunapi.pick_challenge('Digest realm="r", nonce="1", algorithm=SHA-256, '
                                            'Digest realm="r", nonce="2", algorithm=MD5', ["MD5"])
    assert offered == ["SHA-256", "MD5"] and 'nonce="2"' in chosen

    class Cam(driver.CameraDriver):
        def __init__(self):
            self.pos = {"pan": 359.9, "tilt": 0.0, "zoom": 1.0}
            self.presets = {}
        def where(self): return "cam"
        def get_info(self): return {"model": "XNP-6400RW", "serial": "s", "firmware": "f"}
        def get_position(self): return dict(self.pos)
        def move_absolute(self, pan=None, tilt=None, zoom=None):
            for k, v in (("pan", pan), ("tilt", tilt), ("zoom", zoom)):
                if v is not None: self.pos[k] = v
        def list_presets(self): return dict(self.presets)
        def add_preset(self, n, name): self.presets[n] = name
    cam = Cam()
    tol = {"pan": 0.5, "tilt": 0.5, "zoom": 0.1}
    m = ptz.PtzManager(cam, tol, sleep=lambda s: None)
    res = m.run(position={"pan": 0.1, "tilt": 10}, presets=[{"number": 1, "name": "A", "position": {"pan": 5}}])
    assert res["changed"] and cam.presets == {1: "A"} and cam.pos["tilt"] == 10, res
    res = ptz.PtzManager(cam, tol, sleep=lambda s: None).run(position={"pan": 0.1, "tilt": 10},
                                                             presets=[{"number": 1, "name": "A"}])
    assert not res["changed"], res
    print("ok")
''')


def run_on_python36(snippet):
    """Runs snippet with the collection on sys.path under Python 3.6; it prints "ok" when all its asserts hold."""
    coll = REPO / ".build" / "collections"
    r = subprocess.run([PY36[-1], "-c", snippet, str(coll)], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


@pytest.mark.skipif(not PY36, reason="no Python 3.6 (pyenv install 3.6.15)")
def test_camera_module_utils_on_python36():
    run_on_python36(SNIPPET)


FIRMWARE_SNIPPET = textwrap.dedent('''
    import io, os, sys, tempfile
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import files, firmware, snapshot
    from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import cli
    d = tempfile.mkdtemp()
    img = os.path.join(d, "XNP-6400RW_2.22.00_20230801_R300.img")
    with open(img, "wb") as fh:
        fh.write(b"\\x01" * 1000)
    assert firmware.image_identity(img) == ("XNP-6400RW", "2.22.00_20230801_R300")
    files.replace_file(os.path.join(d, "backup.bin"), b"cfg", 0o600, prefix=".camera-config.")
    with open(os.path.join(d, "backup.bin"), "rb") as fh:
        assert fh.read() == b"cfg"
    assert firmware.version_matches("2.22.00_20230801_R300", "2.22.00")
    body = firmware.MultipartFile(img, "FirmwareFile", "a.img")
    data = body.read()
    assert len(data) == len(body) and data.count(b"\\x01") == 1000   # the random boundary may hold an "x"
    body.close()
    assert firmware.module_skips(firmware.parse_status_lines(["Status=Skip", "FirmwareModule=App"]))
    assert snapshot.jpeg_size(b"NG") is None
    out, err = io.StringIO(), io.StringIO()
    assert cli.run(["nosuch", "state"], {}, out, err) == 2
    assert cli.params_from_env({"HC_PARAM_HOST": "h", "HC_PAYLOAD_DIR": "/j/p"})["job_dir"] == "/j"
    print("ok")
''')


@pytest.mark.skipif(not PY36, reason="no Python 3.6 (pyenv install 3.6.15)")
def test_firmware_and_entry_point_on_python36():
    run_on_python36(FIRMWARE_SNIPPET)
