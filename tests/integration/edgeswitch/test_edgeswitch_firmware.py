"""edgeswitch_firmware against the simulator inside a node namespace: the upgrade through the backup slot,
idempotency, check mode, and every way it can fail (transfer, bad image, reload that never returns,
connection dropped mid-copy). The module's code runs directly in the node namespace; one flow goes
through real ansible-playbook."""

import json

from hctest.edgeswitch import PYTHON, SWITCH_PASSWORD, one_task

from hctools.switchsim.images import make_image

OLD = "1.9.2.5322630"
NEW = "1.9.3.5400001"
MOD = "waggle.honeycomb.edgeswitch_firmware"


def image(switch, version=NEW, bootable=True, name=None):
    path = switch.base / (name or "ESWH.v%s.stk" % version)
    path.write_bytes(make_image(version, bootable=bootable, size=200 * 1024))
    return str(path)


def args(switch, **extra):
    extra.setdefault("timeout", 30)
    return switch.module_args(**extra)


def run(switch, check=False, diff=False, **params):
    return switch.run_module("edgeswitch_firmware", args(switch, **params), check=check, diff=diff)


def test_upgrade_then_second_run_changes_nothing(switch):
    before = switch.status()["reloads"]
    res = switch.run_playbook(one_task(MOD, args(switch, image=image(switch))), args=("--diff",))
    assert res.rc == 0, res.output
    r = res.result("switch", "node")
    assert r["changed"] is True and r["firmware"] == "new" and r["reloaded"] is True, r
    assert r["previous_version"] == "1.9.2" and r["version"] == "1.9.3" and r["target_version"] == NEW
    assert switch.status()["reloads"] == before + 1
    assert switch.images()["active"]["version"] == NEW and switch.images()["backup"]["version"] == OLD
    assert r["bootvar"] == {"active": NEW, "backup": OLD, "next": "active"}
    # the config was saved before and is the same after
    with open(r["config_backup_path"]) as handle:
        saved = handle.read()
    assert "interface 0/8" in saved
    r2 = run(switch, image=image(switch))
    assert r2["_rc"] == 0 and r2["changed"] is False and r2["version"] == "1.9.3", r2
    assert switch.status()["reloads"] == before + 1


def test_same_version_is_unchanged_without_touching_the_switch(switch):
    r = run(switch, image=image(switch, OLD), diff=True)
    assert r["_rc"] == 0 and r["changed"] is False and r["firmware"] == "previous", r
    assert "config_backup_path" not in r and r["diff"]["before"] == r["diff"]["after"]
    assert switch.images()["backup"]["version"] == "1.9.1.5145127" and switch.images()["active"]["version"] == OLD


def test_check_mode_and_diff(switch):
    r = run(switch, image=image(switch), check=True, diff=True)
    assert r["_rc"] == 0 and r["changed"] is True, r
    assert r["diff"] == {"before": "firmware: 1.9.2\n", "after": "firmware: %s\n" % NEW}
    assert switch.images()["active"]["version"] == OLD and switch.images()["backup"]["version"] == "1.9.1.5145127"
    assert "config_backup_path" not in r


def test_bad_image_falls_back_to_the_previous_firmware(switch):
    before = switch.status()["reloads"]
    r = run(switch, image=image(switch, bootable=False), transfer="ftp")
    assert r["_rc"] != 0 and r["failed"], r
    assert r["firmware"] == "previous" and r["version"] == "1.9.2", r
    assert "did not start firmware %s" % NEW in r["msg"] and "previous firmware 1.9.2" in r["msg"]
    assert "keeps its config (verified)" in r["msg"]
    assert switch.status()["reloads"] == before + 1
    assert switch.images()["active"]["version"] == OLD


def test_transfer_failing_midway_activates_nothing(switch):
    switch.faults(transfer_fail="midway")
    reloads = switch.status()["reloads"]
    r = run(switch, image=image(switch))
    assert r["_rc"] != 0 and r["firmware"] == "previous", r
    assert "failed" in r["msg"] and "still runs 1.9.2 and boots it" in r["msg"], r["msg"]
    assert r["bootvar"]["next"] == "active"
    assert switch.images()["backup"]["version"] == "1.9.1.5145127" and switch.status()["reloads"] == reloads
    # the fault gone, a re-run upgrades
    switch.faults(transfer_fail=None)
    r = run(switch, image=image(switch))
    assert r["_rc"] == 0 and r["firmware"] == "new", r


def test_connection_dropped_mid_copy(switch):
    switch.faults(drop_mid_transfer="download", once=True)
    r = run(switch, image=image(switch))
    assert r["_rc"] != 0 and r["firmware"] == "previous", r
    assert "dropped during the transfer" in r["msg"] and "still runs 1.9.2" in r["msg"], r["msg"]
    assert switch.images()["next"] == "active"


def test_not_an_image_is_refused(switch):
    path = switch.base / "ESWH.v1.9.9.1.stk"
    path.write_bytes(b"not a firmware image\n" * 100)
    r = run(switch, image=str(path))
    assert r["_rc"] != 0 and "File contents are not valid" in r["msg"], r
    assert switch.images()["backup"]["version"] == "1.9.1.5145127"


def test_wrong_checksum_and_missing_image(switch):
    r = run(switch, image=image(switch), checksum="sha256:" + "0" * 64)
    assert r["_rc"] != 0 and "expected 000" in r["msg"], r
    r = run(switch, image=str(switch.base / "absent.v1.9.9.stk"))
    assert r["_rc"] != 0 and "does not exist on the node" in r["msg"], r
    r = run(switch, image=str(switch.base / "noversion.bin"))
    assert r["_rc"] != 0 and "set version" in r["msg"], r


def test_reload_that_never_returns(switch):
    switch.faults(reload_never_returns=True)
    r = run(switch, image=image(switch), reload_timeout=8)
    assert r["_rc"] != 0 and r["firmware"] == "unknown (the switch is unreachable)", r
    assert "did not come back" in r["msg"] and "falls back to 1.9.2" in r["msg"], r["msg"]
    switch.faults(reload_never_returns=False)
    switch.wait_up()
    r = run(switch, image=image(switch))
    assert r["_rc"] == 0 and r["changed"] is False and r["version"] == "1.9.3", json.dumps(r)


HANDLER = """
import json, sys
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import firmware_payload
params = json.loads(sys.argv[2])
print(json.dumps(firmware_payload.handle(sys.argv[1], params, lambda text: None)))
"""


def phase(switch, name, **params):
    proc = switch.in_node(PYTHON, "-c", HANDLER, name, json.dumps(params), check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_payload_handler_phases(switch):
    """The switch-firmware handler of the payload entry point, phase by phase (state, install, verify,
    state again, rollback to the firmware kept in the backup slot)."""
    payload = switch.base / "payload"
    (payload / "firmware").mkdir(parents=True, exist_ok=True)
    (payload / "firmware" / ("ESWH.v%s.stk" % NEW)).write_bytes(make_image(NEW, size=100 * 1024))
    job = switch.base / "job"
    job.mkdir(exist_ok=True)
    params = {"payload_dir": str(payload), "job_dir": str(job), "password": SWITCH_PASSWORD,
              "known_hosts_file": str(switch.known_hosts), "reload_timeout": "60", "timeout": "30"}
    unreachable = dict(params)
    unreachable.update(host="10.31.81.99", timeout="3")
    assert phase(switch, "state", **unreachable)["status"] == "retry_later"
    r = phase(switch, "state", **params)
    assert r["status"] == "needed" and r["version"] == "1.9.2", r
    r = phase(switch, "install", **params)
    assert r["status"] == "ok" and r["version"] == "1.9.3" and r["firmware"] == "new", r
    assert phase(switch, "verify", **params)["status"] == "ok"
    assert phase(switch, "state", **params)["status"] == "already_applied"
    r = phase(switch, "rollback", **params)
    assert r["status"] == "ok" and r["version"] == "1.9.2", r
    assert switch.images()["active"]["version"] == OLD and switch.images()["backup"]["version"] == NEW
    r = phase(switch, "verify", **params)
    assert r["status"] == "failed" and "expected %s" % NEW in r["msg"], r


def test_config_changed_by_the_new_firmware_is_restored(switch):
    switch.faults(upgrade_drops_lines_regex="description 'lidar'")
    before = switch.status()["reloads"]
    r = run(switch, image=image(switch))
    assert r["_rc"] == 0 and r["firmware"] == "new" and r["config_restored"] is True, r
    assert "description 'lidar'" in switch.startup_config()
    assert switch.status()["reloads"] == before + 2      # the upgrade, then the restored config applied
    assert "changed across the upgrade" in json.dumps(r.get("warnings")), sorted(r)
