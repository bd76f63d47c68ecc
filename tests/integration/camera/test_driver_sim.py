"""The SUNAPI driver against the real simulator process (HTTP on 127.0.0.1): digest, errors, formats."""

import time

import pytest
import requests

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import driver as drv
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.sunapi import SunapiDriver
from hctest.camera import ADMIN, USER


def make(sim, user=ADMIN, **kw):
    return SunapiDriver("127.0.0.1", port=sim.port, username=user[0], password=user[1], timeout=5, **kw)


def settle(d, target, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pos = d.get_position()
        if all(abs(pos[k] - v) < 0.01 for k, v in target.items()):
            return pos
        time.sleep(0.05)
    raise AssertionError("did not settle at %r (last %r)" % (target, pos))


@pytest.mark.parametrize("offered,choice,expect", [
    ("MD5", "auto", "MD5"),
    ("SHA-256", "auto", "SHA-256"),
    ("MD5,SHA-256", "auto", "SHA-256"),
    ("SHA-256,MD5", "auto", "SHA-256"),
    ("SHA-256,MD5", "MD5", "MD5"),
    ("MD5,SHA-256", "SHA-256", "SHA-256"),
])
def test_digest_algorithms(camsim, offered, choice, expect):
    sim = camsim(digest_algorithms=offered)
    d = make(sim, digest_algorithm=choice)
    info = d.get_info()
    assert info["model"] == "XNP-6400RW"
    assert info["serial"] and info["firmware"] == "2.21.01_20220517_R276"
    # The Authorization header of the request that succeeded used the expected algorithm.
    assert d.auth._thread_local.chal["algorithm"].upper() == expect
    assert sorted(d.auth.offered) == sorted(offered.split(","))


def test_digest_algorithm_not_offered_is_clear(camsim):
    sim = camsim(digest_algorithms="MD5")
    with pytest.raises(drv.CameraAuthError) as exc:
        make(sim, digest_algorithm="SHA-256").get_info()
    assert "offers digest algorithm(s) MD5" in str(exc.value)


def test_wrong_password_is_one_attempt(camsim):
    sim = camsim(lockout_after=3)
    with pytest.raises(drv.CameraAuthError) as exc:
        make(sim, user=("admin", "wrong")).get_info()
    assert "HTTP 401" in str(exc.value) and "'admin'" in str(exc.value)
    # The camera saw exactly one failed digest attempt: the right password still works.
    assert make(sim).get_info()["model"] == "XNP-6400RW"


def test_lockout_490_is_not_retried(camsim):
    sim = camsim(lockout_after=2, lockout_seconds=300)
    for _attempt in range(2):
        with pytest.raises(drv.CameraError):
            make(sim, user=("admin", "wrong")).get_info()
    before = len(sim.requests_logged(490))
    d = make(sim)
    with pytest.raises(drv.CameraLockedOut) as exc:
        d.get_info()
    assert "HTTP 490" in str(exc.value) and "Nothing was retried" in str(exc.value)
    assert len(sim.requests_logged(490)) == before + 1
    assert d.requests_sent == 1


def test_609_for_account_without_ptz(camsim):
    sim = camsim()
    d = make(sim, user=USER)
    assert d.get_info()["model"] == "XNP-6400RW"  # deviceinfo is allowed
    with pytest.raises(drv.CameraNotAuthorized) as exc:
        d.get_position()
    assert "609" in str(exc.value) and "'waggle'" in str(exc.value)


@pytest.mark.parametrize("accept_json", [True, False])
def test_presets_and_motion_json_and_text(camsim, accept_json):
    sim = camsim(pan_offset=-0.05)
    d = make(sim, accept_json=accept_json)
    assert d.list_presets() == {}   # empty list comes back as error 612 "Configuration Not Found"
    d.move_absolute(pan=10, tilt=-5, zoom=3)
    settle(d, {"pan": 9.95, "tilt": -5, "zoom": 3})
    d.add_preset(4, "Four")
    d.move_absolute(pan=0)
    pos = settle(d, {"pan": 359.95})
    assert pos["pan"] == pytest.approx(359.95)
    d.add_preset(2, "Two")
    assert d.list_presets() == {2: "Two", 4: "Four"}
    d.rename_preset(2, "Deux")
    d.goto_preset(4)
    settle(d, {"pan": 9.95, "tilt": -5, "zoom": 3})
    d.remove_preset(4)
    assert d.list_presets() == {2: "Deux"}
    state = sim.state()
    assert state["presets"]["2"]["name"] == "Deux"
    assert state["presets"]["2"]["pan"] == pytest.approx(0, abs=0.01)


def test_text_variants_prefix_602_and_ok_body(camsim):
    sim = camsim(reply_format="text", query_key_prefix="Channel.0.", empty_presets_code=602,
                 text_success_body="")
    d = make(sim)
    assert d.list_presets() == {}
    d.move_absolute(tilt=30)
    assert settle(d, {"tilt": 30})["tilt"] == 30


def test_json_forced_and_fail_form(camsim):
    sim = camsim(reply_format="json")
    d = make(sim, accept_json=False)
    with pytest.raises(drv.CameraDeviceError) as exc:
        d.goto_preset(7)   # no such preset
    assert "error 602" in str(exc.value)
    # raw check that the simulator really answered in the JSON error form
    r = requests.get(sim.url + "/stw-cgi/ptzcontrol.cgi?msubmenu=preset&action=control&Preset=7",
                     auth=requests.auth.HTTPDigestAuth(*ADMIN), timeout=5)
    assert r.json()["Response"] == "Fail" and r.json()["Error"]["Code"] == 602


def test_ng_text_error_form(camsim):
    sim = camsim()
    r = requests.get(sim.url + "/stw-cgi/ptzcontrol.cgi?msubmenu=bogus&action=view",
                     auth=requests.auth.HTTPDigestAuth(*ADMIN), timeout=5)
    assert r.text.split("\r\n")[:4] == ["NG", "Error Code: 600", "Error Details:", "Submenu Not Found"]


def test_fixed_lens_refuses_ptz(camsim):
    sim = camsim(model="XNV-8082R")
    d = make(sim)
    assert d.get_info()["model"] == "XNV-8082R"
    with pytest.raises(drv.CameraNoPTZ) as exc:
        d.get_position()
    assert "does not support PTZ" in str(exc.value)


def test_add_existing_error_mode(camsim):
    sim = camsim(add_existing="error")
    d = make(sim)
    d.add_preset(1, "One")
    with pytest.raises(drv.CameraDeviceError):
        d.add_preset(1, "One")


def test_unreachable(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = SunapiDriver("127.0.0.1", port=port, username="admin", password="x", timeout=2)
    with pytest.raises(drv.CameraUnreachable) as exc:
        d.get_info()
    assert "cannot connect" in str(exc.value)


def test_state_persists_across_restart_and_sigterm(camsim):
    sim = camsim()
    d = make(sim)
    d.move_absolute(pan=123, tilt=45)
    settle(d, {"pan": 123, "tilt": 45})
    d.add_preset(9, "Nine")
    assert sim.restart() is sim
    assert sim.proc.returncode is None
    d = make(sim)
    assert d.list_presets() == {9: "Nine"}
    pos = d.get_position()
    assert pos["pan"] == pytest.approx(123) and pos["tilt"] == pytest.approx(45)
    assert sim.stop() == 0   # clean exit on SIGTERM


# ---- AXIS VAPIX -------------------------------------------------------------------------------
def make_vapix(sim, user=ADMIN):
    from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.vapix import VapixDriver
    return VapixDriver("127.0.0.1", port=sim.port, username=user[0], password=user[1], timeout=5)


def test_vapix_driver_against_simulator(camsim):
    sim = camsim(model="Q6135-LE")
    d = make_vapix(sim)
    info = d.get_info()
    assert info["model"] == "Q6135-LE" and info["firmware"] == "10.12.114" and info["serial"]
    assert d.get_limits() == {"pan": [-180.0, 180.0], "tilt": [-90.0, 20.0], "zoom": [1.0, 9999.0]}
    assert d.list_presets() == {}
    d.move_absolute(pan=350.0, tilt=-30, zoom=2000)     # 350 is sent as -10
    pos = settle(d, {"pan": -10.0, "tilt": -30, "zoom": 2000})
    assert pos["pan"] == -10.0
    d.add_preset(3, "Gate")
    assert d.list_presets() == {3: "Gate"}
    assert sim.state()["presets"]["3"]["pan"] == 350.0
    d.rename_preset(3, "Gate 2")
    assert d.list_presets() == {3: "Gate 2"}
    d.move_absolute(pan=0)
    settle(d, {"pan": 0.0})
    d.goto_preset(3)
    settle(d, {"pan": -10.0})
    d.remove_preset(3)
    assert d.list_presets() == {}
    with pytest.raises(drv.CameraDeviceError) as exc:
        d.goto_preset(9)
    assert "preset 9 not found" in str(exc.value)
    with pytest.raises(drv.CameraNotAuthorized):
        make_vapix(sim, user=USER).get_position()
    with pytest.raises(drv.CameraAuthError):
        make_vapix(sim, user=("admin", "bad")).get_info()


def test_vapix_fixed_lens(camsim):
    sim = camsim(model="M3106-L")
    with pytest.raises(drv.CameraNoPTZ):
        make_vapix(sim).get_position()


def test_lowercase_algorithm_names_on_the_command_line(camsim):
    sim = camsim(digest_algorithms="sha256")   # the simfleet contract spells them md5,sha256
    d = make(sim, digest_algorithm="SHA-256")
    assert d.get_info()["model"] == "XNP-6400RW" and d.auth.offered == ["SHA-256"]
