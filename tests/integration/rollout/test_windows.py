"""Maintenance windows through the simulated fleet (tools/hctools/simfleet): playbooks/upgrade.yml outside a
node's window stages the payload in the node's store, installs nothing and reports the node ``deferred`` -
pending, not failed - everywhere (exit code, recap, AWX summary, JSON, JUnit, HTML); a later run inside the
window installs it from the store without sending it again. The windows are computed from the current time
(nothing sleeps)."""

import datetime as dt
import hashlib
import json
import subprocess

import pytest
import yaml
from hctest.fleet import REPO, fleet_fixture
from hctest.playbook import CALLBACKS
from hctest.rollout import UPGRADE_TASK, UpgradeRun, build_payload

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

fleet = fleet_fixture(2, name="fleet")


def marker(fleet, vsn):
    return fleet.ssh(vsn, "cat /var/lib/honeycomb/marker", check=False).stdout.strip()


def window_around(now, start_hours, end_hours):
    """A daily UTC window from now+start_hours to now+end_hours (it may cross midnight)."""
    def hhmm(hours):
        t = now + dt.timedelta(hours=hours)
        return "%02d:%02d" % (t.hour, t.minute)
    return {"days": "daily", "start": hhmm(start_hours), "end": hhmm(end_hours), "timezone": "UTC"}


def run_with_windows(fleet, tmp_path, name, extra, host_vars):
    """upgrade.yml with per-node variables from a second inventory file."""
    work = tmp_path / name
    work.mkdir()
    extra_inv = work / "windows.yml"
    extra_inv.write_text(yaml.safe_dump({"all": {"hosts": host_vars}}))
    reports, results, log_path = work / "reports", work / "results.jsonl", work / "run.log"
    ev = {"rollout_batches": ["100%"], "rollout_sanity_gate": False, "rollout_post_check": False,
          "rollout_poll_interval": 2}
    ev.update(extra)
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(fleet.inventory), "-i", str(extra_inv),
            str(REPO / "playbooks" / "upgrade.yml"), "-e", json.dumps(ev)]
    env = fleet.ansible_env()
    env["ANSIBLE_CALLBACK_PLUGINS"] = str(CALLBACKS)
    env["ANSIBLE_CALLBACKS_ENABLED"] = "hctest_results,waggle.honeycomb.fleet_report"
    env["HCTEST_RESULTS_FILE"] = str(results)
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(reports)
    with open(log_path, "w") as out:
        rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(REPO), timeout=600,
                            check=False).returncode
    return UpgradeRun(rc, log_path.read_text(), results, reports)


def test_a_window_defers_and_a_later_run_inside_it_installs(fleet, tmp_path):
    w1, w2 = (n["vsn"] for n in fleet.nodes)
    payload = build_payload(tmp_path / "p" / "rollout-test-7.0.0.tar.gz", version="7.0.0")
    sha = hashlib.sha256(open(payload, "rb").read()).hexdigest()
    stored = "/var/lib/honeycomb/payloads/%s.tar.gz" % sha
    now = dt.datetime.now(dt.timezone.utc)

    # 1. W1's window opens in 3 hours: staged, not installed, deferred; W2 has no window and applies
    closed = window_around(now, 3, 4)
    run = run_with_windows(fleet, tmp_path, "closed", {"payload": payload},
                           {w1: {"honeycomb_maintenance_window": [closed]}})
    assert run.rc == 0, run.log[-8000:]  # deferred is not a failure
    res = run.result(UPGRADE_TASK, w1)
    assert res["status"] == "deferred" and res["staged"] is True and res["payload_transferred"] is True, res
    assert res["payload_bytes_sent"] > 0 and not res.get("failed")
    assert res["maintenance_window"]["open"] is False and res["maintenance_window"]["next_open"], res
    assert "outside the maintenance window" in res["msg"]
    assert fleet.ssh(w1, "sha256sum %s" % stored).stdout.split()[0] == sha  # staged and whole
    assert fleet.ssh(w1, "ls -A /var/lib/honeycomb/payloads").stdout.split() == [sha + ".tar.gz"]  # no upload left
    assert marker(fleet, w1) == ""  # nothing installed
    assert fleet.ssh(w1, "ls -A /var/lib/honeycomb/jobs 2>/dev/null", check=False).stdout.strip() == ""  # no job
    assert marker(fleet, w2) == "7.0.0"
    # the recap: W1 ok, not failed; the fleet report and the AWX summary: deferred, pending
    assert run.recap[w1]["failed"] == 0 and run.recap[w1]["unreachable"] == 0, run.recap
    assert run.nodes[w1]["status"] == "deferred" and run.nodes[w1]["outcome"] == "pending", run.nodes[w1]
    assert run.nodes[w2]["status"] == "applied"
    assert run.junit()[w1] == ["skipped"] and run.junit()[w2] == []
    assert 'data-node="%s" data-status="deferred"' % w1 in run.html()
    summary = run.summary
    assert summary["nodes"] == {w1: "deferred", w2: "applied"}, summary
    assert summary["pending_nodes"] == [w1] and summary["failed_nodes"] == [] and summary["result"] == "success"
    assert "deferred 1" in summary["line"]

    # 2. a later run inside W1's window (the window now around the current time) installs from the store
    now = dt.datetime.now(dt.timezone.utc)
    run = run_with_windows(fleet, tmp_path, "open", {"payload": payload},
                           {w1: {"honeycomb_maintenance_window": [closed, window_around(now, -1, 1)]}})
    assert run.rc == 0, run.log[-8000:]
    res = run.result(UPGRADE_TASK, w1)
    assert res["status"] == "applied" and res["installed_version"] == "7.0.0", res
    assert res["payload_transferred"] is False and res["payload_bytes_sent"] == 0  # staged in run 1
    assert marker(fleet, w1) == "7.0.0"
    assert run.result(UPGRADE_TASK, w2)["status"] == "already_applied"
    assert run.summary["nodes"] == {w1: "applied", w2: "already_applied"} and run.summary["result"] == "success"


def test_the_override_installs_outside_the_window_and_a_bad_window_fails_the_node(fleet, tmp_path):
    w1, w2 = (n["vsn"] for n in fleet.nodes)
    payload = build_payload(tmp_path / "p" / "rollout-test-8.0.0.tar.gz", version="8.0.0")
    closed = window_around(dt.datetime.now(dt.timezone.utc), 3, 4)
    run = run_with_windows(fleet, tmp_path, "override", {"payload": payload, "max_fail_percentage": 50}, {
        w1: {"honeycomb_maintenance_window": closed, "honeycomb_ignore_windows": True},
        w2: {"honeycomb_maintenance_window": dict(closed, timezone="Mars/Olympus_Mons")}})
    res1, res2 = run.result(UPGRADE_TASK, w1), run.result(UPGRADE_TASK, w2)
    assert res1["status"] == "applied" and marker(fleet, w1) == "8.0.0", res1
    assert "ignored by honeycomb_ignore_windows" in run.log
    # a typo in the window is a failure naming the field, never a silent install or deferral
    assert run.state(UPGRADE_TASK, w2) == "failed" and "timezone" in res2["msg"] and "Mars/Olympus_Mons" in res2["msg"], res2
    assert marker(fleet, w2) != "8.0.0"
    assert run.rc != 0 and run.nodes[w2]["outcome"] == "failure", run.nodes[w2]
