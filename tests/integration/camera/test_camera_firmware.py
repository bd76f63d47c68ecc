"""camera_firmware through real ansible-playbook against the simulator: every flow and fault."""

import pytest

from hctest.camera import ADMIN, run_playbook
from hctools.camerasim import make_image

OLD = "2.21.01_20220517_R276"
NEW = "2.22.00_20240101_R300"
PRESETS = {"1": {"name": "North", "pan": 0.0, "tilt": 0.0, "zoom": 1.0},
           "3": {"name": "Field", "pan": 120.0, "tilt": 10.0, "zoom": 4.0}}


@pytest.fixture
def fwsim(camsim):
    def start(**knobs):
        knobs.setdefault("reboot_seconds", 0.5)
        knobs.setdefault("firmware_step_seconds", 0.01)
        return camsim(state={"model": "XNP-6400RW", "firmware": OLD, "presets": PRESETS}, **knobs)
    return start


def image(tmp_path, model="XNP-6400RW", version=NEW, name=None, data=None):
    path = tmp_path / (name or "%s_%s.img" % (model, version))
    path.write_bytes(make_image(model, version) if data is None else data)
    return str(path)


def fw_task(sim, img, **args):
    task = {"host": "127.0.0.1", "port": sim.port, "username": ADMIN[0], "password": ADMIN[1], "image": img,
            "poll_interval": 0.1, "reboot_timeout": 15}
    task.update(args)
    return {"name": "fw", "waggle.honeycomb.camera_firmware": task}


def events(sim):
    return [e["event"] for e in sim.state()["history"]]


def posts(sim):
    return [line for line in sim.log.read_text().splitlines() if '"POST ' in line]


def test_check_apply_second_run(fwsim, tmp_path):
    sim = fwsim()
    img = image(tmp_path)
    backup = tmp_path / "backup" / "cam.bin"
    task = fw_task(sim, img, backup_path=str(backup))
    rc, results, _out = run_playbook([task], tmp_path, check=True)
    res = results[0]
    assert res["changed"] is True and res["diff"] == {"before": {"firmware": OLD}, "after": {"firmware": NEW}}, res
    assert sim.state()["firmware"] == OLD and posts(sim) == [] and not backup.exists()

    rc, results, _out = run_playbook([task, task], tmp_path)
    first, second = results
    assert first["changed"] is True and not first.get("failed"), first
    assert first["before"]["firmware"] == OLD and first["after"]["firmware"] == NEW
    assert first["actions"] == ["configbackup", "firmwareupdate"] and first["config_restored"] is False
    assert first["statuses"][0] == "Uploading" and first["statuses"][-1] == "End"
    assert first["presets"] == {"1": "North", "3": "Field"}
    assert second["changed"] is False and second["actions"] == [], second
    state = sim.state()
    assert state["firmware"] == NEW and state["presets"] == PRESETS
    assert events(sim).count("reboot") == 1
    assert backup.stat().st_mode & 0o777 == 0o600 and backup.read_bytes().startswith(b"HCSIMCFG")
    assert len(posts(sim)) == 1


def test_wrong_model_refused_before_sending(fwsim, tmp_path):
    sim = fwsim()
    rc, results, _out = run_playbook([fw_task(sim, image(tmp_path, model="XNV-8081Z"))], tmp_path)
    res = results[0]
    assert res["failed"] and res["error_kind"] == "firmware_refused", res
    assert "is for XNV-8081Z but" in res["msg"] and "refused before sending anything" in res["msg"]
    assert posts(sim) == [] and "configbackup" not in sim.log.read_text()


def test_unparsable_name_needs_model_and_version(fwsim, tmp_path):
    sim = fwsim()
    img = image(tmp_path, name="camera.img")
    tasks = [fw_task(sim, img), fw_task(sim, img, image_model="XNP-6400RW", image_version=NEW)]
    rc, results, _out = run_playbook(tasks, tmp_path)
    bad, good = results
    assert bad["failed"] and bad["error_kind"] == "input" and "set image_model and image_version" in bad["msg"]
    assert good["changed"] is True and sim.state()["firmware"] == NEW, good


def test_same_version_is_unchanged_and_camera_skip(fwsim, tmp_path):
    sim = fwsim()
    same = image(tmp_path, version=OLD)
    # The image says OLD, the task claims another version: the camera answers Skip for every module.
    claimed = fw_task(sim, same, image_version="2.21.02")
    rc, results, _out = run_playbook([fw_task(sim, same), claimed], tmp_path)
    unchanged, skipped = results
    assert unchanged["changed"] is False and unchanged["actions"] == [], unchanged
    assert skipped["changed"] is False and not skipped.get("failed"), skipped
    assert skipped["statuses"].count("Skip") == 4 and "End" in skipped["statuses"]
    assert any("skipped every module" in w for w in skipped.get("warnings", [])), skipped
    assert sim.state()["firmware"] == OLD and "reboot" not in events(sim)


def test_damaged_image_download_fail(fwsim, tmp_path):
    sim = fwsim()
    img = image(tmp_path, data=b"not a firmware image" * 100)
    rc, results, _out = run_playbook([fw_task(sim, img)], tmp_path)
    res = results[0]
    assert res["failed"] and res["error_kind"] == "firmware_refused" and "DownloadFail" in res["msg"], res
    assert sim.state()["firmware"] == OLD and "reboot" not in events(sim)


@pytest.mark.parametrize("fault,kind,restored", [
    ("upload_drop", "firmware_failed", True),
    ("flash_fail", "firmware_failed", True),
    ("old_version", "wrong_version", True),
])
def test_failures_restore_the_configuration(fwsim, tmp_path, fault, kind, restored):
    sim = fwsim(firmware_fault=fault)
    rc, results, _out = run_playbook([fw_task(sim, image(tmp_path))], tmp_path)
    res = results[0]
    assert res["failed"] and res["error_kind"] == kind, res
    assert "configuration backed up before the update was restored" in res["msg"], res["msg"]
    assert res["actions"][-1] == "configrestore"
    state = sim.state()
    assert state["firmware"] == OLD and state["presets"] == PRESETS
    restore = [e for e in state["history"] if e["event"] == "config_restore"]
    assert restore and restore[0]["exclude"] == ["Network"]
    if fault == "upload_drop":
        assert "broke off after" in res["msg"]


def test_camera_never_returns(fwsim, tmp_path):
    sim = fwsim(firmware_fault="never_return")
    backup = tmp_path / "cam.bin"
    task = fw_task(sim, image(tmp_path), reboot_timeout=2, backup_path=str(backup))
    rc, results, _out = run_playbook([task], tmp_path)
    res = results[0]
    assert res["failed"] and res["error_kind"] == "not_returned", res
    assert "did not come back within 2.0 s" in res["msg"] and str(backup) in res["msg"]
    assert backup.exists()


def test_presets_lost_by_the_update_are_restored(fwsim, tmp_path):
    sim = fwsim(firmware_fault="reset_config")
    rc, results, _out = run_playbook([fw_task(sim, image(tmp_path))], tmp_path)
    res = results[0]
    assert res["changed"] is True and not res.get("failed"), res
    assert res["config_restored"] is True and res["actions"] == ["configbackup", "firmwareupdate", "configrestore"]
    state = sim.state()
    assert state["firmware"] == NEW and state["presets"] == PRESETS


def test_upload_resent_after_a_stale_nonce(camsim, tmp_path):
    """The multipart body is rewound and sent again when the camera answers the POST with a stale-nonce 401."""
    import time

    from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import firmware as fw
    from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.sunapi import SunapiDriver

    sim = camsim(nonce_lifetime=0.1, reboot_seconds=0.3, firmware_step_seconds=0)
    (tmp_path / "big.img").write_bytes(make_image("XNP-6400RW", NEW, size=3 * 1024 * 1024))
    drv = SunapiDriver("127.0.0.1", port=sim.port, username=ADMIN[0], password=ADMIN[1], timeout=5)
    drv.get_info()
    time.sleep(0.3)   # the nonce the session holds expires
    events, _dropped = fw.FirmwareClient(drv).upload(str(tmp_path / "big.img"))
    assert events[-1]["Status"] == "End"
    assert [line.split('" ')[1].split()[0] for line in posts(sim)] == ["401", "200"]
