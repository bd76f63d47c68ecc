"""A long tunnel outage during an install, on a simulated node that runs the network watchdog stand-in on a
time scale of 0.01 (tools/hctools/simfleet/watchdog.py; 15 min become 9 s): the watchdog restarts
networking three times and then reboots the node, which cuts the install; once the link is back,
playbooks/upgrade.yml's wait (with its default reconnect_timeout, derived from the watchdog's schedule)
reconnects, finds the job lost and resumes it by the resume rules, and the node ends applied in the same run.
A networking restart on a node whose uplink runs but carries nothing restarts that uplink.
"""

import json
import subprocess
import time

import pytest
from hctest.fleet import REPO, fleet_fixture, simfleet
from hctest.rollout import build_payload

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

SCALE = 0.01
UPGRADE_TASK = "Upgrade the node (detached job, waited for through dropped tunnels and power cuts)"

fleet = fleet_fixture(1, devices="none", watchdog_scale=SCALE)


def _watchdog_log(fleet, vsn):
    path = fleet.dir / "nodes" / vsn / "var-log" / "simfleet" / "watchdog.log"
    return [line.split(" ", 2)[1:] for line in path.read_text().splitlines()] if path.exists() else []


def _events(fleet, vsn):
    return [e for e, _text in _watchdog_log(fleet, vsn)]


def _until(predicate, what, timeout, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None:
            assert proc.poll() is None, "the rollout ended early:\n" + log.read_text()[-6000:]
        assert time.monotonic() < deadline, what + " did not happen"
        time.sleep(0.2)


def test_the_stand_in_runs_on_every_node_and_goes_with_the_fleet(fleet):
    (node,) = fleet.status()["nodes"]
    assert node["watchdog"] == "running"
    _until(lambda: "ok" in _events(fleet, node["vsn"]), "the watchdog to see the tunnel healthy", 60)
    r = simfleet("up", "--nodes", "1", "--devices", "none", "--dir", str(fleet.dir), "--no-remember",
                 "--watchdog-scale", "0.5", check=False)
    assert r.returncode == 2 and "watchdog" in r.stderr and "down" in r.stderr, r.stderr


def test_a_long_outage_during_install_is_resolved_by_the_resume_rules(fleet, tmp_path):
    vsn = fleet.nodes[0]["vsn"]
    state = fleet.dir / "nodes" / vsn / "honeycomb"  # the node's /var/lib/honeycomb, seen from the host
    payload = build_payload(tmp_path / "p" / "rollout-test-5.0.0.tar.gz", version="5.0.0")
    (state / "slow-install").write_text("600\n")  # longer than the watchdog's way to its reboot
    (state / "install-started").unlink(missing_ok=True)
    boots = fleet.status()["nodes"][0]["boots"]
    seen_before = len(_watchdog_log(fleet, vsn))

    reports, log = tmp_path / "reports", tmp_path / "run.log"
    extra = {"payload": payload, "rollout_batches": ["100%"], "rollout_sanity_gate": False,
             "rollout_post_check": False, "rollout_poll_interval": 2}  # reconnect and wait: the defaults
    env = fleet.ansible_env()
    env["ANSIBLE_CALLBACKS_ENABLED"] = "waggle.honeycomb.fleet_report"
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(reports)
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(fleet.inventory),
            str(REPO / "playbooks" / "upgrade.yml"), "-e", json.dumps(extra), "-v"]
    dropped = False
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        try:
            _until((state / "install-started").exists, "the install", 300, proc, log)
            fleet.drop_tunnel(vsn)  # the node's link is gone (and stays gone through networking restarts)
            dropped = True
            _until(lambda: "reboot" in _events(fleet, vsn)[seen_before:], "the watchdog's reboot", 180, proc, log)
            _until(lambda: fleet.status()["nodes"][0]["boots"] > boots, "the reboot", 30, proc, log)
            (state / "slow-install").unlink()  # the resumed install need not be slow
            fleet.restore_tunnel(vsn)
            dropped = False
            rc = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            (state / "slow-install").unlink(missing_ok=True)
            if dropped:
                fleet.restore_tunnel(vsn)
    text = log.read_text()
    assert rc == 0, text[-8000:]

    # the watchdog: outage, three networking restarts at 15, 30, 45 min (scaled), then the reboot
    events = _events(fleet, vsn)[seen_before:]
    acted = [e for e in events if e in ("network_restart", "reboot", "power_off", "slot_switch")]
    assert acted[:4] == ["network_restart"] * 3 + ["reboot"], events
    assert events.index("unhealthy") < events.index("network_restart"), events

    # the rollout: the wait lost the node, the reboot lost the job, the job was resumed and applied
    report = json.loads((reports / "latest" / "report.json").read_text())
    (node,) = report["nodes"]
    assert node["status"] == "applied" and node["installed_version"] == "5.0.0", node
    jid = node["job_id"]
    journal = json.loads((state / "jobs" / jid / "journal.json").read_text())
    assert journal["status"] == "applied" and journal["resumes"] == 1, journal
    assert "resumed" in [e["event"] for e in journal["events"]], journal["events"]
    assert (state / "marker").read_text().strip() == "5.0.0"


def test_a_networking_restart_restarts_a_running_uplink(fleet):
    """The link stays up as a process but carries nothing (a flap that never ends): the watchdog's
    networking restart restarts the node's uplink relay; the link repaired, the watchdog sees it healthy."""
    vsn = fleet.nodes[0]["vsn"]
    _until(lambda: fleet.status()["nodes"][0]["tunnel"] == "up", "the tunnel", 60)
    seen = len(_watchdog_log(fleet, vsn))
    relay = json.loads((fleet.dir / "fleet.json").read_text())["nodes"][0]["relay"]
    fleet.cli("link", vsn, "lan/flap_every=1/flap_jitter=0/flap_down=100000/flap_silent=0")
    try:
        _until(lambda: "network_restart" in _events(fleet, vsn)[seen:], "a networking restart", 120)
        _until(lambda: "done" in _events(fleet, vsn)[seen:], "the restart", 60)
    finally:
        fleet.cli("link", vsn, "lan")
    done = [text for e, text in _watchdog_log(fleet, vsn)[seen:] if e == "done"]
    assert "uplink restarted" in done[0], done
    assert json.loads((fleet.dir / "fleet.json").read_text())["nodes"][0]["relay"] != relay
    _until(lambda: "ok" in _events(fleet, vsn)[seen:], "the watchdog to see the tunnel healthy again", 120)
