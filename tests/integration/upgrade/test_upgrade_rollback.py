"""waggle.honeycomb.upgrade state=rolled_back (undo a succeeded upgrade without an older payload) through
real ansible-playbook against a real sshd on loopback: backup_paths restored, rollback script run,
installed.json reset, idempotent re-run, check mode, upgrade_info, and a lost store entry shipped again
from src by the action plugin."""

import hashlib
import json

import pytest

from hctest.playbook import run_playbook
from hctest.upgrade import count, make_payload

pytestmark = pytest.mark.slow


def test_rollback_of_a_succeeded_upgrade(sshd, make_node):
    node = make_node("rb")
    conf = node.target / "conf"
    conf.mkdir()
    (conf / "app.cfg").write_text("factory\n")
    version = node.target / "version"

    def payload(v):
        return make_payload(node.root, name="app", version=v, backup_paths=[str(conf)], scripts={
            "state_check": '[ "$(cat %s 2>/dev/null)" = "$HC_PAYLOAD_VERSION" ] && exit 100; exit 0' % version,
            "install": 'echo "$HC_PAYLOAD_VERSION" > %s/app.cfg; echo "$HC_PAYLOAD_VERSION" > %s' % (conf, version),
            "verify": '[ "$(cat %s)" = "$HC_PAYLOAD_VERSION" ]' % version,
            # the files are already restored from the snapshot when the rollback script runs
            "rollback": 'cat %s/app.cfg > %s' % (conf, version),
        })
    p1, p2 = payload("1.0"), payload("2.0")
    store_entry = node.state / "payloads" / (hashlib.sha256(open(p2, "rb").read()).hexdigest() + ".tar.gz")

    def up(name, src, **extra):
        args = dict(node.opts(), src=str(src))
        args.update(extra)
        return {"name": name, "waggle.honeycomb.upgrade": args, "ignore_errors": True}

    def rollback(name, check_mode=False, **extra):
        args = dict(node.opts(), state="rolled_back", peripheral="app")
        args.update(extra)
        return {"name": name, "waggle.honeycomb.upgrade": args, "ignore_errors": True, "check_mode": check_mode}

    tasks = [
        up("apply 1.0", p1), up("apply 2.0", p2),
        rollback("rollback check", check_mode=True),
        rollback("rollback", version="2.0"),
        rollback("rollback again"),
        {"name": "info", "waggle.honeycomb.upgrade_info": {"state_dir": str(node.state)}},
        # once more, then the node's store loses the payload
        up("apply 2.0 again", p2),
        {"name": "lose the store entry", "ansible.builtin.file": {"path": str(store_entry), "state": "absent"}},
        rollback("rollback without store entry"),
        rollback("rollback with src", src=str(p2)),
    ]
    play = [{"name": "rollback tests", "hosts": "nodes", "gather_facts": False, "tasks": tasks}]
    res = run_playbook(json.dumps(play), {"node1": sshd.host_vars()})

    r = res.result("apply 2.0")
    assert r["status"] == "applied" and r["installed_version"] == "2.0", r
    job2 = r["job_id"]
    for phase in ("state_check", "install", "verify"):
        p = r["phases"][phase]
        assert p["started"].endswith("Z") and p["started_epoch"] <= p["finished_epoch"], p
    assert r["phases"]["install"]["started_epoch"] >= r["phases"]["state_check"]["finished_epoch"]

    r = res.result("rollback check")
    assert res.status("rollback check") == "ok" and r["changed"] and r["status"] == "needed", r
    assert r["rollback_of"] == job2 and r["restored_version"] == "1.0"

    r = res.result("rollback")
    assert res.status("rollback") == "ok" and r["changed"] and r["status"] == "rolled_back", r
    assert r["kind"] == "rollback" and r["rollback_of"] == job2 and r["installed_version"] == "1.0"
    assert r["phases"]["rollback"]["rc"] == 0 and r["rollback"]["restore"]["restored"] == [str(conf)]

    r = res.result("rollback again")
    assert res.status("rollback again") == "ok" and not r["changed"] and "already rolled back" in r["msg"], r

    info = res.result("info")
    assert info["installed"]["app"]["version"] == "1.0"
    kinds = [(j["kind"], j["status"], j.get("rollback_of"), j.get("rolled_back_by")) for j in info["jobs"]]
    assert kinds[0] == ("rollback", "rolled_back", job2, None), kinds
    assert ("upgrade", "applied", None, info["jobs"][0]["job_id"]) in kinds

    assert res.result("apply 2.0 again")["status"] == "applied"
    r = res.result("rollback without store entry")
    assert res.status("rollback without store entry") == "failed"
    assert str(store_entry) in r["msg"] and "src" in r["msg"] and r["missing"] == str(store_entry), r
    r = res.result("rollback with src")
    assert r["status"] == "rolled_back" and r["payload_transferred"] is True and r["changed"], r

    # what is on the node: the 1.0 files and records
    assert (conf / "app.cfg").read_text() == "1.0\n" and version.read_text() == "1.0\n"
    installed = json.loads((node.state / "installed.json").read_text())
    assert installed["app"]["version"] == "1.0"
    assert count(node.root, "rollback") == 2 and count(node.root, "install") == 3
