"""Unit tests of the firmware and snapshot module_utils: image identity, version matching, the streamed
multipart body, the status stream, JPEG headers, and the hc-peripheral entry point's contract."""

import email.parser
import email.policy
import io
import json
import types

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import firmware as fw
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import snapshot
from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import HandlerError, cli
from hctest.requires import require_module


def test_image_identity_from_name_and_overrides(tmp_path):
    img = tmp_path / "XNP-6400RW_2.22.00_20230801_R300.img"
    img.write_bytes(b"x")
    assert fw.image_identity(str(img)) == ("XNP-6400RW", "2.22.00_20230801_R300")
    lower = tmp_path / "xnv-8081z_v2.10.03.img"
    lower.write_bytes(b"x")
    assert fw.image_identity(str(lower)) == ("XNV-8081Z", "2.10.03")
    odd = tmp_path / "camera.bin"
    odd.write_bytes(b"x")
    with pytest.raises(fw.FirmwareInputError, match="set image_model and image_version"):
        fw.image_identity(str(odd))
    assert fw.image_identity(str(odd), "XNF-8010RV", "1.42.00") == ("XNF-8010RV", "1.42.00")
    assert fw.image_identity(str(odd), version="9.9", name_pattern=r"(?P<model>camera)") == ("CAMERA", "9.9")
    with pytest.raises(fw.FirmwareInputError, match="does not exist"):
        fw.image_identity(str(tmp_path / "missing.img"), "A", "1")


@pytest.mark.parametrize("current,target,match", [
    ("2.22.00_20230801_R300", "2.22.00", True),
    ("2.22.00_20230801_R300", "2.22.00_20230801_R300", True),
    ("2.22.00_20230801_R300", "v2.22.00", True),
    ("2.22.001_20230801", "2.22.00", False),
    ("2.21.01_20220517_R276", "2.22.00", False),
    ("", "2.22.00", False),
    (None, "2.22.00", False),
])
def test_version_matches(current, target, match):
    assert fw.version_matches(current, target) is match


def test_multipart_body_streams_and_rewinds(tmp_path):
    img = tmp_path / "a.img"
    img.write_bytes(bytes(range(256)) * 300)
    body = fw.MultipartFile(str(img), "FirmwareFile", "a.img")
    first = b"".join(iter(lambda: body.read(777), b""))
    assert len(first) == len(body) == body.total
    body.seek(0)
    assert b"".join(body) == first          # the digest retry rewinds and sends the same bytes
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        b"Content-Type: " + body.content_type.encode() + b"\r\n\r\n" + first)
    part = next(msg.iter_parts())
    assert part.get_filename() == "a.img" and part.get_param("name", header="content-disposition") == "FirmwareFile"
    assert part.get_payload(decode=True) == img.read_bytes()
    body.close()


def test_status_stream():
    lines = ["Status=Uploading", "Progress=40", "Status=DownloadOK", "junk", "Status=Skip", "FirmwareModule=Kernel",
             "Status=Skip", "FirmwareModule=App", "Status=End"]
    events = fw.parse_status_lines(lines)
    assert events[0] == {"Status": "Uploading", "Progress": "40"} and events[-1] == {"Status": "End"}
    assert fw.module_skips(events)
    assert not fw.module_skips(fw.parse_status_lines(["Status=OK", "FirmwareModule=Kernel", "Status=Skip",
                                                      "FirmwareModule=App"]))
    assert not fw.module_skips([{"Status": "End"}])


def test_jpeg_size_and_save(tmp_path):
    Image = require_module("PIL.Image", "run `make venv` (Pillow is pinned in requirements-dev.txt)")
    out = io.BytesIO()
    Image.new("RGB", (123, 45), (10, 200, 30)).save(out, "JPEG")
    data = out.getvalue()
    assert snapshot.jpeg_size(data) == (123, 45)
    assert snapshot.jpeg_size(b"NG\r\n") is None
    dest = tmp_path / "a.jpg"
    assert snapshot.save(data, str(dest)) is True
    assert snapshot.save(data, str(dest)) is False
    assert dest.read_bytes() == data and list(tmp_path.glob(".snapshot.*")) == []


# ---- hc-peripheral ------------------------------------------------------------------------------
def run_cli(monkeypatch, handle, argv, environ=None):
    mod = types.ModuleType("fake_handler")
    mod.handle = handle
    monkeypatch.setitem(cli.HANDLERS, "fake", "fake_handler")
    monkeypatch.setitem(__import__("sys").modules, "fake_handler", mod)
    out, err = io.StringIO(), io.StringIO()
    rc = cli.run(argv, environ if environ is not None else {"HC_PARAM_HOST": "h", "HC_PAYLOAD_DIR": "/j/payload"},
                 out, err)
    result = None
    for line in out.getvalue().splitlines():
        if line.startswith("HC-RESULT "):
            result = json.loads(line[len("HC-RESULT "):])
    return rc, result, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("phase,status,rc", [
    ("state", "needed", 0), ("state", "already_applied", 100), ("state", "retry_later", 21), ("state", "failed", 1),
    ("install", "ok", 0), ("install", "failed", 1), ("verify", "ok", 0), ("rollback", "ok", 0),
])
def test_cli_exit_codes(monkeypatch, phase, status, rc):
    seen = {}

    def handle(ph, params, log):
        seen.update(params, phase=ph)
        log("working")
        return {"status": status, "msg": "m", "version": "1.0"}
    code, result, out, _err = run_cli(monkeypatch, handle, ["fake", phase])
    assert code == rc and result["status"] == status and result["handler"] == "fake" and result["version"] == "1.0"
    assert seen["host"] == "h" and seen["payload_dir"] == "/j/payload" and seen["job_dir"] == "/j"
    assert out.startswith("working\n")


def test_cli_errors(monkeypatch):
    def boom(phase, params, log):
        raise HandlerError("no password: pass it")
    code, result, _out, err = run_cli(monkeypatch, boom, ["fake", "state"])
    assert code == 1 and result["status"] == "failed" and "no password: pass it" in err

    def crash(phase, params, log):
        raise RuntimeError("bug")
    code, _result, _out, err = run_cli(monkeypatch, crash, ["fake", "install"])
    assert code == 3 and "RuntimeError: bug" in err

    code, _result, _out, err = run_cli(monkeypatch, lambda *a: {"status": "needed"}, ["fake", "install"])
    assert code == 3 and "returned status 'needed' for phase install" in err
    assert run_cli(monkeypatch, crash, ["nosuch", "state"])[0] == 2
    assert run_cli(monkeypatch, crash, ["fake", "dance"])[0] == 2
    assert run_cli(monkeypatch, crash, ["fake"])[0] == 2


def test_registry_points_at_importable_handlers():
    for name in cli.HANDLERS:
        assert callable(cli.load_handler(name).handle), name
