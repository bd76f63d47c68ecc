"""Unit tests of the camera module_utils: reply parsing, challenge picking, PTZ planning with a fake camera."""

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import driver as drv
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import ptz, sunapi


# ---- reply parsing ----------------------------------------------------------------------------
def test_parse_text_crlf_and_dotted_keys():
    body = "Channel.0.Preset.1.Name=North\r\nChannel.0.Preset.12.Name=A=B\r\n"
    assert sunapi.parse_reply(body, "text/plain") == {"Channel.0.Preset.1.Name": "North",
                                                      "Channel.0.Preset.12.Name": "A=B"}


def test_parse_text_ng_error():
    with pytest.raises(drv.CameraDeviceError) as exc:
        sunapi.parse_reply("NG\r\nError Code: 609\r\nError Details:\r\nNot Authorized\r\n", "text/plain")
    assert exc.value.code == 609 and exc.value.details == "Not Authorized"


def test_parse_json_fail_error_and_success():
    with pytest.raises(drv.CameraDeviceError) as exc:
        sunapi.parse_reply('{"Response": "Fail", "Error": {"Code": 600, "Details": "Submenu Not Found"}}',
                           "application/json")
    assert exc.value.code == 600 and exc.value.details == "Submenu Not Found"
    assert sunapi.parse_reply('{"Response": "Success"}', "text/plain") == {"Response": "Success"}
    assert sunapi.parse_reply("OK", "text/plain") == {}


def test_parse_json_garbage_is_clear():
    with pytest.raises(drv.CameraError) as exc:
        sunapi.parse_reply("{not json", "application/json")
    assert "unreadable JSON" in str(exc.value)


@pytest.mark.parametrize("header,pref,alg", [
    ('Digest realm="iPolis_1", nonce="a,b", qop="auth", algorithm=SHA-256, '
     'Digest realm="iPolis_1", nonce="c", qop="auth", algorithm=MD5', ["SHA-256", "MD5"], "SHA-256"),
    ('Digest realm="iPolis_1", nonce="a", qop="auth", algorithm=SHA-256, '
     'Digest realm="iPolis_1", nonce="c", qop="auth", algorithm=MD5', ["MD5"], "MD5"),
    ('Digest realm="iPOLiS", nonce="n", qop="auth"', ["SHA-256", "MD5"], "MD5"),
    ('Basic realm="x", Digest realm="y", nonce="n", algorithm="SHA-256", qop="auth"', ["SHA-256"], "SHA-256"),
])
def test_pick_challenge(header, pref, alg):
    chosen, offered = sunapi.pick_challenge(header, pref)
    assert chosen.startswith("Digest ") and sunapi.challenge_algorithm(chosen) == alg
    assert chosen.count("Digest") == 1
    if 'nonce="a,b"' in header and alg == "SHA-256":
        assert 'nonce="a,b"' in chosen   # commas inside quotes do not split


def test_pick_challenge_none_matching():
    chosen, offered = sunapi.pick_challenge('Digest realm="r", nonce="n", algorithm=MD5', ["SHA-256"])
    assert chosen is None and offered == ["MD5"]


# ---- geometry and validation ------------------------------------------------------------------
TOL = {"pan": 0.5, "tilt": 0.5, "zoom": 0.1}


@pytest.mark.parametrize("a,b,close", [(359.9, 0.1, True), (0.0, 360.0, True), (359.0, 0.6, False),
                                       (180.0, 180.4, True), (10.0, 350.0, False)])
def test_pan_modulo(a, b, close):
    assert ptz.within({"pan": a, "tilt": 0, "zoom": 1}, {"pan": b}, TOL) is close


def test_normalise_position_ranges():
    limits, max_presets = ptz.resolve_limits("XNP-6400RW", None)
    assert max_presets == 300
    assert ptz.normalise_position({"pan": -10, "tilt": 90, "zoom": 40}, limits, "XNP-6400RW") == \
        {"pan": 350.0, "tilt": 90.0, "zoom": 40.0}
    assert ptz.normalise_position({"pan": 360}, limits, "XNP-6400RW") == {"pan": 0.0}
    for bad, text in (({"tilt": -21}, "position.tilt=-21.0 is outside the XNP-6400RW range -20.0..90.0"),
                      ({"zoom": 0.5}, "position.zoom=0.5 is outside"),
                      ({"tilt": "up"}, "position.tilt must be a number"),
                      ({"roll": 1}, "unknown key(s) roll"),
                      ({}, "position is empty")):
        with pytest.raises(ptz.CameraInputError) as exc:
            ptz.normalise_position(bad, limits, "XNP-6400RW")
        assert text in str(exc.value)


def test_limits_override_and_unknown_model():
    limits, n = ptz.resolve_limits("XYZ-1", {"tilt": [-90, 90], "max_presets": 8})
    assert limits["tilt"] == (-90.0, 90.0) and limits["zoom"] is None and n == 8
    with pytest.raises(ptz.CameraInputError):
        ptz.resolve_limits("XYZ-1", {"tilt": [90, -90]})


# ---- planning with a fake camera --------------------------------------------------------------
class FakeCamera(drv.CameraDriver):
    """Instant-ish camera: a move arrives after `lag` position reads."""

    def __init__(self, model="XNP-6400RW", position=None, presets=None, lag=1, hunting=False):
        self.model = model
        self.pos = dict(position or {"pan": 0.0, "tilt": 0.0, "zoom": 1.0})
        self.target = dict(self.pos)
        self.presets = dict(presets or {})   # n -> (name, pos)
        self.lag = lag
        self.pending = 0
        self.hunting = hunting
        self.calls = []

    def where(self):
        return "fake camera"

    def get_info(self):
        return {"model": self.model, "serial": "S1", "firmware": "F1"}

    def get_position(self):
        if self.pending > 0:
            self.pending -= 1
        else:
            self.pos = dict(self.target)
        if self.hunting:   # always moving, always 2 to 3 degrees off
            self.hunting += 1
            self.pos["pan"] = (self.pos["pan"] + 2.0 + self.hunting % 2) % 360
        return dict(self.pos)

    def _go(self, target):
        self.target.update(target)
        self.pending = self.lag

    def move_absolute(self, pan=None, tilt=None, zoom=None):
        self.calls.append(("move", pan, tilt, zoom))
        self._go(dict((k, v) for k, v in (("pan", pan), ("tilt", tilt), ("zoom", zoom)) if v is not None))

    def goto_preset(self, number):
        self.calls.append(("goto", number))
        self._go(self.presets[number][1])

    def list_presets(self):
        return dict((n, p[0]) for n, p in self.presets.items())

    def add_preset(self, number, name):
        self.calls.append(("add", number, name))
        self.presets[number] = (name, dict(self.target))

    def rename_preset(self, number, name):
        self.calls.append(("rename", number, name))
        self.presets[number] = (name, self.presets[number][1])

    def remove_preset(self, number):
        self.calls.append(("remove", number))
        del self.presets[number]


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def manager(cam, **kw):
    clock = Clock()
    return ptz.PtzManager(cam, TOL, settle_timeout=kw.pop("settle_timeout", 10), poll_interval=0.5,
                          sleep=clock.sleep, clock=clock, **kw)


def pos(pan, tilt=0.0, zoom=1.0):
    return {"pan": pan, "tilt": tilt, "zoom": zoom}


def test_check_mode_plans_without_control_calls():
    cam = FakeCamera(presets={1: ("Old", pos(5)), 9: ("Nine", pos(9))})
    wanted = [{"number": 1, "name": "North"}, {"number": 2, "name": "East", "position": pos(90)}]
    res = manager(cam).run(position=pos(45, 10, 2), presets=wanted, purge_presets=True, check_mode=True)
    assert cam.calls == []
    assert res["changed"] is True
    assert res["before"]["presets"] == {"1": "Old", "9": "Nine"}
    assert res["after"]["presets"] == {"1": "North", "2": "East"}
    assert res["after"]["position"] == pos(45, 10, 2)
    assert res["actions"][0] == "remove preset 9"


def test_apply_then_idempotent():
    cam = FakeCamera(position=pos(200))
    wanted = dict(position=pos(0.2, 10, 2), presets=[{"number": 2, "name": "East", "position": pos(90)}])
    res = manager(cam).run(**wanted)
    assert res["changed"] is True
    assert cam.presets[2] == ("East", pos(90))
    assert [c[0] for c in cam.calls] == ["move", "add", "move"]
    cam.calls = []
    cam.pos = cam.target = pos(359.8, 10.3, 2.05)   # read back slightly off, across 0
    res = manager(cam).run(**wanted)
    assert res["changed"] is False and cam.calls == [] and res["actions"] == []


def test_presets_never_deleted_unless_asked():
    cam = FakeCamera(presets={1: ("A", pos(1)), 2: ("B", pos(2))})
    res = manager(cam).run(presets=[{"number": 3, "name": "C"}])
    assert sorted(cam.presets) == [1, 2, 3] and res["changed"] is True
    assert any("current position" in w for w in res["warnings"])


def test_record_position_verifies_by_moving():
    cam = FakeCamera(position=pos(100), presets={1: ("North", pos(10))})
    p = [{"number": 1, "name": "North", "position": pos(20), "record_position": True}]
    res = manager(cam).run(presets=p)
    assert res["changed"] is True and cam.presets[1] == ("North", pos(20))
    assert cam.target == pos(100)   # returned to the start position
    cam.calls = []
    res = manager(cam).run(presets=p)
    assert res["changed"] is False and ("add", 1, "North") not in cam.calls


def test_goto_preset_changed_only_when_moved():
    cam = FakeCamera(position=pos(0), presets={4: ("Tree", pos(100, 20, 4))})
    assert manager(cam).run(goto_preset=4)["changed"] is True
    assert manager(cam).run(goto_preset=4)["changed"] is False
    with pytest.raises(ptz.CameraInputError) as exc:
        manager(cam).run(goto_preset=5)
    assert "no preset 5 (it has 4)" in str(exc.value)


def test_fixed_lens_refused_before_any_request():
    cam = FakeCamera(model="XNV-8082R")
    with pytest.raises(drv.CameraNoPTZ) as exc:
        manager(cam).run(position=pos(1))
    assert "fixed-lens" in str(exc.value) and cam.calls == []
    facts = manager(cam).facts()
    assert facts["ptz"] is False and facts["position"] is None


def test_bad_input_before_any_change():
    cam = FakeCamera(presets={1: ("A", pos(1))})
    for kwargs, text in (
            (dict(presets=[{"number": 2, "name": "ok"}, {"number": 2, "name": "dup"}]), "listed twice"),
            (dict(presets=[{"number": 301, "name": "x"}]), "outside 1..300"),
            (dict(presets=[{"number": 3, "name": "bad name!"}]), "needs a name of 1 to 12"),
            (dict(presets=[{"number": 3, "name": "x", "record_position": True}]), "record_position needs"),
            (dict(presets=[{"number": 1, "state": "absent"}], goto_preset=1), "no preset 1"),
            (dict(position=pos(0, 95)), "outside the XNP-6400RW range")):
        with pytest.raises(ptz.CameraInputError) as exc:
            manager(cam).run(**kwargs)
        assert text in str(exc.value)
    assert cam.calls == [] and cam.presets == {1: ("A", pos(1))}


def test_never_settles_times_out_with_last_position():
    cam = FakeCamera(hunting=True)
    with pytest.raises(drv.CameraNotSettled) as exc:
        manager(cam, settle_timeout=3).run(position=pos(90))
    assert "did not settle at pan 90.00" in str(exc.value) and "still moving" in str(exc.value)


def test_passing_through_target_is_not_settled():
    class Overshoot(FakeCamera):
        seq = [pos(80), pos(90), pos(97), pos(91), pos(90), pos(90)]

        def get_position(self):
            return dict(self.seq.pop(0)) if self.seq else dict(pos(90))
    cam = Overshoot()
    m = manager(cam)
    assert m.mover.move_to(pos(90)) == pos(90)
    assert m.mover.polls == 6   # 90 alone (then 97) and 91 do not count; two readings of 90 in a row do


# ---- VAPIX parsing ----------------------------------------------------------------------------
def test_vapix_parsing():
    from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import vapix
    fixture = "pan=51.2891 tilt=46.1914 zoom=1 iris=6427 focus=8265 brightness=4999 autofocus=off autoiris=on"
    assert vapix.parse_pairs(fixture)["pan"] == "51.2891"
    assert vapix.parse_pairs("pan=-10.5\ntilt=2\nzoom=300\n") == {"pan": "-10.5", "tilt": "2", "zoom": "300"}
    assert vapix.parse_presets("Preset Positions for camera 1\r\npresetposno1=Home\r\npresetposno12=Gate 2\r\n") \
        == {1: "Home", 12: "Gate 2"}
    assert vapix.vapix_error("Error: preset not found\r\n") == "preset not found"
    assert vapix.vapix_error("pan=1") is None
