"""Pure parts of the firmware upgrade: versions from image names, version matching, show bootvar,
image checks, and the payload handler's parameters."""

import hashlib

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import firmware as fw
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import firmware_payload as fp
from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import HandlerError
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import parsers
from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import cli as entry

BOOTVAR = ("\r\nImage Descriptions\r\n\r\n active :\r\n backup :\r\n\r\n\r\n Images currently available on Flash\r\n"
           "\r\nCurrent boot image: backup\r\n\r\nactive   1.9.2.5322630\r\nbackup  *1.9.3.5400001\r\n\r\n")


def test_version_from_image_name():
    assert fw.version_from_image_name("/x/ESWH.v1.9.2.5322630.stk") == "1.9.2.5322630"
    assert fw.version_from_image_name("ES-eswh.v1.7.4.5075842.stk") == "1.7.4.5075842"
    assert fw.version_from_image_name("firmware.stk") is None
    assert fw.version_from_image_name(None) is None


@pytest.mark.parametrize("a,b,same", [
    ("1.9.2", "1.9.2.5322630", True), ("1.9.2.5322630", "1.9.2.5322630", True), ("1.9.2", "1.9.21", False),
    ("1.9.2", "1.9.3.5400001", False), (None, "1.9.2", False), ("1.8.1.5145168", "1.8.1", True)])
def test_same_version(a, b, same):
    assert fw.same_version(a, b) is same


def test_parse_bootvar():
    assert parsers.parse_bootvar(BOOTVAR) == {"active": "1.9.2.5322630", "backup": "1.9.3.5400001", "next": "backup"}
    # the row layout a field provisioning script relies on: two spaces + * / three spaces
    assert parsers.parse_bootvar("active  *1.7.4.5075842\nbackup   1.7.3.1\n")["next"] == "active"


def test_check_image(tmp_path):
    img = tmp_path / "ESWH.v1.9.3.1.stk"
    assert "does not exist" in fw.check_image(str(img))
    img.write_bytes(b"")
    assert "is empty" in fw.check_image(str(img))
    img.write_bytes(b"image")
    digest = hashlib.sha256(b"image").hexdigest()
    assert fw.check_image(str(img), "sha256:" + digest) is None
    assert fw.check_image(str(img), digest.upper()) is None
    assert "expected" in fw.check_image(str(img), "0" * 64)


def test_payload_parameters(tmp_path):
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "ESWH.v1.9.3.1.stk").write_bytes(b"x")
    p = fp.firmware_params({"payload_dir": str(tmp_path), "job_dir": "/job", "password": "pw",
                            "reload_timeout": "60", "transfer": "ftp"})
    assert p["image"] == str(tmp_path / "firmware" / "ESWH.v1.9.3.1.stk")
    assert p["reload_timeout"] == 60 and p["transfer"] == "ftp" and p["backup_dir"] == "/job"
    assert p["host"] == "10.31.81.2" and p["username"] == "ubnt" and p["transfer_timeout"] == 900
    with pytest.raises(HandlerError, match="not a whole number"):
        fp.firmware_params({"payload_dir": str(tmp_path), "password": "pw", "timeout": "soon"})
    with pytest.raises(HandlerError, match="no switch password"):
        fp.firmware_params({"payload_dir": str(tmp_path)})
    (tmp_path / "firmware" / "other.stk").write_bytes(b"y")
    with pytest.raises(HandlerError, match="exactly one firmware"):
        fp.firmware_params({"payload_dir": str(tmp_path), "password": "pw"})
    assert fp.handle("state", {"payload_dir": str(tmp_path), "password": "pw"}, print)["status"] == "failed"


def test_handler_is_registered_in_the_payload_entry_point():
    assert entry.load_handler("switch-firmware") is fp


def test_payload_lock_parameters_reach_the_upgrade(tmp_path):
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "ESWH.v1.9.3.1.stk").write_bytes(b"x")
    p = fp.firmware_params({"payload_dir": str(tmp_path), "password": "pw", "lock_timeout": "30",
                            "lock_dir": "/run/x"})
    assert (p["lock_timeout"], p["lock_dir"]) == (30, "/run/x")
    assert fp.firmware_params({"payload_dir": str(tmp_path), "password": "pw"})["lock_timeout"] == 600


@pytest.mark.parametrize("lacking, transfer, advice", [("pexpect", "tftp", ""), ("pyftpdlib", "ftp", "use transfer: tftp"),
                                                       ("tftpy", "tftp", "use transfer: ftp")])
def test_a_missing_library_is_named_with_what_to_do(monkeypatch, tmp_path, lacking, transfer, advice):
    from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import cli, requirements, servers
    flag = {"pexpect": (cli, "HAS_PEXPECT"), "pyftpdlib": (servers, "HAS_PYFTPDLIB"), "tftpy": (servers, "HAS_TFTPY")}
    monkeypatch.setattr(*flag[lacking], False)
    name, hint, dummy = requirements.missing_library(transfer)
    assert name == lacking and advice in hint
    assert requirements.missing_library("tftp" if lacking == "pyftpdlib" else "ftp" if lacking == "tftpy" else None) \
        == (None if lacking != "pexpect" else requirements.missing_library())
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "ESWH.v1.9.3.1.stk").write_bytes(b"x")
    r = fp.handle("state", {"payload_dir": str(tmp_path), "password": "pw", "transfer": transfer}, print)
    assert r["status"] == "failed" and lacking in r["msg"] and "node_prereqs" in r["msg"]
