"""camera_ptz and camera_info through real ansible-playbook (connection local) against the simulator."""

import pytest

from hctest.camera import ADMIN, USER, run_playbook

PRESETS = [
    {"number": 1, "name": "North", "position": {"pan": 0, "tilt": 0, "zoom": 1}},
    {"number": 2, "name": "East", "position": {"pan": 90, "tilt": 0, "zoom": 1}},
]


def conn(sim, user=ADMIN, **extra):
    args = {"host": "127.0.0.1", "port": sim.port, "username": user[0], "password": user[1],
            "poll_interval": 0.1}
    args.update(extra)
    return args


def info_conn(sim, user=ADMIN):
    return {"host": "127.0.0.1", "port": sim.port, "username": user[0], "password": user[1]}


def ptz_task(sim, user=ADMIN, **args):
    return {"name": "ptz", "waggle.honeycomb.camera_ptz": dict(conn(sim, user), **args), "register": "r",
            "ignore_errors": True}


def one(tasks, tmp_path, **kw):
    rc, results, _out = run_playbook(tasks, tmp_path, **kw)
    return rc, results[0]


def preset_positions(sim):
    return {int(n): (p["name"], p["pan"], p["tilt"], p["zoom"]) for n, p in sim.state()["presets"].items()}


def test_position_and_presets_check_apply_idempotent(camsim, tmp_path):
    sim = camsim(pan_offset=-0.05)   # a pan of 0 reads back as 359.95
    task = ptz_task(sim, position={"pan": 359.9, "tilt": 10, "zoom": 2}, presets=PRESETS)

    rc, res = one([task], tmp_path, check=True)
    assert rc == 0 and res["changed"] is True, res
    assert res["diff"]["before"]["presets"] == {}
    assert res["diff"]["after"]["presets"] == {"1": "North", "2": "East"}
    assert res["diff"]["after"]["position"]["tilt"] == 10
    assert sim.state()["presets"] == {}          # check mode sent no change
    assert sim.requests_logged(needle="action=control") == []
    assert sim.requests_logged(needle="action=add") == []

    rc, res = one([task], tmp_path)
    assert rc == 0 and res["changed"] is True, res
    assert res["info"]["model"] == "XNP-6400RW" and res["info"]["serial"] and res["info"]["firmware"]
    assert res["after"]["presets"] == {"1": "North", "2": "East"}
    after = res["after"]["position"]
    assert after["tilt"] == pytest.approx(10, abs=0.5) and after["zoom"] == pytest.approx(2, abs=0.1)
    assert min(after["pan"], 360 - after["pan"]) < 0.5
    stored = preset_positions(sim)
    assert stored[1][0] == "North" and stored[1][1] == pytest.approx(0, abs=0.01)
    assert stored[2][0] == "East" and stored[2][1] == pytest.approx(90, abs=0.01)

    # Second run: pan 359.9 vs reading 359.95 / 0.0 and everything else equal -> no change, no control.
    controls = len(sim.requests_logged(needle="action=control"))
    rc, res = one([task], tmp_path)
    assert rc == 0 and res["changed"] is False, res
    assert res["actions"] == []
    assert len(sim.requests_logged(needle="action=control")) == controls
    # and the same desired position given as 0.1 is still "there" (pan modulo 360 within tolerance)
    rc, res = one([ptz_task(sim, position={"pan": 0.1})], tmp_path)
    assert rc == 0 and res["changed"] is False, res


def test_presets_rename_absent_purge(camsim, tmp_path):
    state = {"presets": {str(n): {"name": name, "pan": n * 10.0, "tilt": 0.0, "zoom": 1.0}
                         for n, name in ((1, "A"), (2, "B"), (3, "C"), (5, "E"))}}
    sim = camsim(state=state)
    rc, res = one([ptz_task(sim, presets=[{"number": 1, "name": "Alpha"}, {"number": 2, "state": "absent"}])],
                  tmp_path)
    assert rc == 0 and res["changed"] is True, res
    assert res["after"]["presets"] == {"1": "Alpha", "3": "C", "5": "E"}   # unlisted presets kept
    assert preset_positions(sim)[1] == ("Alpha", 10.0, 0.0, 1.0)          # rename keeps the position

    task = ptz_task(sim, presets=[{"number": 1, "name": "Alpha"}], purge_presets=True)
    rc, res = one([task], tmp_path, check=True)
    assert res["changed"] is True and res["diff"]["after"]["presets"] == {"1": "Alpha"}
    assert sorted(sim.state()["presets"]) == ["1", "3", "5"]
    rc, res = one([task], tmp_path)
    assert rc == 0 and res["changed"] is True and res["after"]["presets"] == {"1": "Alpha"}
    assert sorted(sim.state()["presets"]) == ["1"]
    rc, res = one([task], tmp_path)
    assert rc == 0 and res["changed"] is False, res


def test_record_position_and_goto_preset(camsim, tmp_path):
    state = {"position": {"pan": 200.0, "tilt": 5.0, "zoom": 1.0},
             "presets": {"1": {"name": "North", "pan": 10.0, "tilt": 0.0, "zoom": 1.0},
                         "3": {"name": "Tree", "pan": 100.0, "tilt": 20.0, "zoom": 4.0}}}
    sim = camsim(state=state)
    # Without record_position an existing preset's stored position is never touched.
    rc, res = one([ptz_task(sim, presets=[{"number": 1, "name": "North", "position": {"pan": 20}}])], tmp_path)
    assert rc == 0 and res["changed"] is False, res
    assert preset_positions(sim)[1][1] == 10.0

    task = ptz_task(sim, presets=[{"number": 1, "name": "North", "position": {"pan": 20, "tilt": 0, "zoom": 1},
                                   "record_position": True}])
    rc, res = one([task], tmp_path)
    assert rc == 0 and res["changed"] is True, res
    assert any(a.startswith("re-record preset 1") for a in res["actions"])
    assert preset_positions(sim)[1][1:] == (20.0, 0.0, 1.0)
    # the camera went back to where it was before the recording
    assert res["after"]["position"]["pan"] == pytest.approx(200, abs=0.5)
    rc, res = one([task], tmp_path)
    assert rc == 0 and res["changed"] is False, res

    goto = ptz_task(sim, goto_preset=3)
    rc, res = one([goto], tmp_path)
    assert rc == 0 and res["changed"] is True, res
    assert res["after"]["position"] == pytest.approx({"pan": 100, "tilt": 20, "zoom": 4}, abs=0.1)
    rc, res = one([goto], tmp_path)
    assert rc == 0 and res["changed"] is False, res


def test_camera_info_and_text_replies(camsim, tmp_path):
    sim = camsim(reply_format="text", query_key_prefix="Channel.0.", empty_presets_code=602,
                 state={"presets": {"7": {"name": "Seven", "pan": 1.0, "tilt": 2.0, "zoom": 3.0}},
                        "position": {"pan": 45.0, "tilt": 10.0, "zoom": 1.0}})
    tasks = [{"name": "info", "waggle.honeycomb.camera_info": dict(info_conn(sim), accept_json=False)},
             ptz_task(sim, accept_json=False, presets=[{"number": 7, "state": "absent"}],
                      position={"pan": 46})]
    rc, results, _out = run_playbook(tasks, tmp_path)
    info, ptz = results
    assert rc == 0, results
    assert info["changed"] is False and info["ptz"] is True
    assert info["info"]["model"] == "XNP-6400RW" and info["info"]["firmware"] == "2.21.01_20220517_R276"
    assert info["position"] == {"pan": 45.0, "tilt": 10.0, "zoom": 1.0}
    assert info["presets"] == [{"number": 7, "name": "Seven"}]
    assert ptz["changed"] is True and ptz["after"]["presets"] == {}   # empty list (602) read as "no presets"
    assert ptz["after"]["position"]["pan"] == pytest.approx(46, abs=0.5)


def test_sha256_only_camera(camsim, tmp_path):
    sim = camsim(digest_algorithms="SHA-256")
    rc, res = one([ptz_task(sim, position={"tilt": 15})], tmp_path)
    assert rc == 0 and res["changed"] is True, res


def test_faults_fail_clearly_without_changes(camsim, tmp_path):
    sim = camsim(lockout_after=2, lockout_seconds=600)
    before = sim.state()
    tasks = [
        ptz_task(sim, position={"tilt": 95}),                                   # out of range
        ptz_task(sim, presets=[{"number": 1, "name": "way too long name"}]),    # bad name
        ptz_task(sim, presets=[{"number": 1, "name": "A"}, {"number": 1, "name": "B"}]),
        ptz_task(sim, goto_preset=9),                                           # no such preset
        ptz_task(sim, presets=[{"number": 2, "name": "X", "record_position": True}]),
        ptz_task(sim, user=USER, position={"tilt": 10}),                        # 609
    ]
    rc, results, _out = run_playbook(tasks, tmp_path)
    msgs = [r.get("msg", "") for r in results]
    assert all(r.get("failed") for r in results), results
    assert "position.tilt=95.0 is outside the XNP-6400RW range -20.0..90.0" in msgs[0]
    assert "presets[0].name='way too long name'" in msgs[1]
    assert "listed twice" in msgs[2]
    assert "no preset 9" in msgs[3]
    assert "record_position needs a position" in msgs[4]
    assert "609" in msgs[5] and results[5]["error_kind"] == "not_authorized"
    assert sim.requests_logged(needle="action=control") == []
    assert sim.state()["presets"] == before["presets"] and sim.state()["position"] == before["position"]

    # Wrong password: one attempt, then the lockout: 490, no retry, even with the right password.
    attempts = [ptz_task(sim, user=("admin", "nope"), position={"tilt": 10}),
                ptz_task(sim, user=("admin", "nope"), position={"tilt": 10}),
                ptz_task(sim, position={"tilt": 10})]
    rc, results, _out = run_playbook(attempts, tmp_path)
    wrong, locked, right = results
    assert wrong["error_kind"] == "auth" and "HTTP 401" in wrong["msg"], wrong
    assert locked["error_kind"] == "lockout" and "HTTP 490" in locked["msg"], locked
    assert right["error_kind"] == "lockout", right
    assert len(sim.requests_logged(490)) == 2   # one request each, never retried


def test_fixed_lens_model(camsim, tmp_path):
    sim = camsim(model="XNV-8082R")
    rc, results, _out = run_playbook(
        [ptz_task(sim, position={"pan": 10}),
         {"name": "info", "waggle.honeycomb.camera_info": info_conn(sim), "register": "i"}], tmp_path)
    ptz, info = results
    assert ptz["failed"] and ptz["error_kind"] == "no_ptz", ptz
    assert "XNV-8082R, a fixed-lens model" in ptz["msg"]
    assert sim.requests_logged(needle="ptzcontrol") == []   # refused before any PTZ request
    assert info["ptz"] is False and info["position"] is None and info["info"]["model"] == "XNV-8082R"


def test_never_settles_and_unreachable(camsim, tmp_path):
    sim = camsim(never_settle=True)
    free = camsim(name="gone")
    free_port = free.port
    free.stop()
    tasks = [ptz_task(sim, position={"pan": 90}, settle_timeout=1.5),
             {"name": "down", "waggle.honeycomb.camera_info": dict(info_conn(free), port=free_port, timeout=2),
              "ignore_errors": True}]
    rc, results, _out = run_playbook(tasks, tmp_path)
    hunting, down = results
    assert hunting.get("error_kind") == "not_settled" and "did not settle at pan 90.00" in hunting["msg"], hunting
    assert down["error_kind"] == "unreachable" and "cannot connect" in down["msg"], down


def test_vapix_driver_idempotent(camsim, tmp_path):
    sim = camsim(model="Q6135-LE")
    task = ptz_task(sim, driver="vapix", position={"pan": 300, "tilt": -20, "zoom": 500},
                    presets=[{"number": 1, "name": "Gate", "position": {"pan": 10, "tilt": -45, "zoom": 1}}])
    bad = ptz_task(sim, driver="vapix", position={"tilt": 45})      # above the camera's MaxTilt 20
    rc, results, _out = run_playbook([task, task, bad], tmp_path)
    first, second, refused = results
    assert first["changed"] is True and first["info"]["model"] == "Q6135-LE", first
    assert first["after"]["presets"] == {"1": "Gate"}
    assert first["after"]["position"]["pan"] == pytest.approx(-60, abs=0.5)   # VAPIX reports -180..180
    assert second["changed"] is False, second
    assert refused["error_kind"] == "input" and "position.tilt=45.0 is outside the Q6135-LE range -90.0..20.0" \
        in refused["msg"], refused
    assert sim.state()["presets"]["1"]["pan"] == 10.0
