"""playbooks/upgrade.yml through the reverse tunnels of a simulated fleet (tools/hctools/simfleet):
the sanity gate leaves a broken node out, and an install survives its tunnel dropping mid-way."""

import json
import subprocess
import time

import pytest
from hctest.fleet import REPO, SANITY_SETTINGS, fleet_fixture
from hctest.rollout import build_payload

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

fleet = fleet_fixture(3, devices="switch,camera")


def rollout_env(fleet, reports):
    env = fleet.ansible_env()
    env["ANSIBLE_CALLBACKS_ENABLED"] = "waggle.honeycomb.fleet_report"
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(reports)
    return env


def test_sanity_gate_leaves_a_fatal_node_out(fleet, payload, tmp_path):
    w1, w2, w3 = (n["vsn"] for n in fleet.nodes)
    fleet.ssh(w3, "ip link set lan0 down")
    try:
        reports = tmp_path / "reports"
        extra = {"payload": payload, "rollout_batches": [1, "100%"], "rollout_poll_interval": 2,
                 "sanity_report_dir": str(tmp_path / "sanity"), "sanity_settings": SANITY_SETTINGS,
                 "sanity_test_timeout": 5, "rollout_post_check_fail_on": ["fatal"]}
        run = fleet.ansible_playbook(REPO / "playbooks" / "upgrade.yml", "-e", json.dumps(extra),
                                     env=rollout_env(fleet, reports))
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]
    finally:
        fleet.ssh(w3, "ip link set lan0 up", check=False)
    report = json.loads((reports / "latest" / "report.json").read_text())
    nodes = {n["name"]: n for n in report["nodes"]}
    assert {h: n["status"] for h, n in nodes.items()} == {w1: "applied", w2: "applied", w3: "sanity_blocked"}
    assert nodes[w3]["annotations"]["reason"].startswith("sanity pre-check: fatal")
    assert [b["hosts"] for b in report["batches"]] == [[w1], [w2]]
    assert (tmp_path / "sanity" / "sanity-pre.json").exists()
    assert (tmp_path / "sanity" / ("sanity-post-%s.json" % w1)).exists()
    assert fleet.ssh(w3, "test -e /var/lib/honeycomb/marker", check=False).returncode != 0


def upgrade_with_a_fault_mid_install(fleet, vsn, version, tmp_path, fault):
    """Run upgrade.yml on node `vsn` with a 25 s install of `version`, call fault() once the install
    has started, and return (playbook rc, its output, the node's entry in the fleet report)."""
    new_payload = build_payload(tmp_path / "p" / ("rollout-test-%s.tar.gz" % version), version=version)
    fleet.ssh(vsn, "mkdir -p /var/lib/honeycomb && echo 25 > /var/lib/honeycomb/slow-install"
                   " && rm -f /var/lib/honeycomb/install-started")
    reports = tmp_path / "reports"
    extra = {"payload": new_payload, "rollout_hosts": vsn, "rollout_batches": [1], "rollout_sanity_gate": False,
             "rollout_post_check": False, "rollout_poll_interval": 2, "rollout_reconnect_timeout": 120}
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(fleet.inventory),
            str(REPO / "playbooks" / "upgrade.yml"), "-e", json.dumps(extra)]
    out = open(tmp_path / "run.log", "w")  # pylint: disable=consider-using-with  # closed in finally
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=rollout_env(fleet, reports),
                            cwd=str(REPO))
    try:
        deadline = time.time() + 180
        while fleet.ssh(vsn, "test -e /var/lib/honeycomb/install-started", check=False).returncode != 0:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-6000:]
            assert time.time() < deadline, "the install did not start"
            time.sleep(1)
        fault()
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
        fleet.ssh(vsn, "rm -f /var/lib/honeycomb/slow-install", check=False)
    report = json.loads((reports / "latest" / "report.json").read_text())
    (node,) = [n for n in report["nodes"] if n["name"] == vsn]
    return rc, (tmp_path / "run.log").read_text(), node


def test_install_survives_a_dropped_tunnel(fleet, payload, tmp_path):
    w1 = fleet.nodes[0]["vsn"]

    def drop():
        fleet.drop_tunnel(w1)
        time.sleep(8)  # the controller's polls fail meanwhile: node unreachable
        fleet.restore_tunnel(w1)

    rc, log, node = upgrade_with_a_fault_mid_install(fleet, w1, "3.0.0", tmp_path, drop)
    assert rc == 0, log[-8000:]
    # the job lived on through the drop: nothing to resume
    resume = log.split("TASK [Resume the job the node lost (power cut or reboot while it ran)]")[1].split("TASK [")[0]
    assert "skipping: [%s]" % w1 in resume, resume
    # the poll found the node unreachable, the playbook waited for the tunnel and collected the job
    assert "UNREACHABLE!" in log
    assert "TASK [Wait for the tunnel to come back] ****" in log
    assert log.split("TASK [Wait for the tunnel to come back]")[1].split("TASK [")[0].strip().endswith("ok: [%s]" % w1)
    assert node["status"] == "applied" and node["installed_version"] == "3.0.0"
    assert fleet.ssh(w1, "cat /var/lib/honeycomb/marker").stdout.strip() == "3.0.0"
    # one job only: the install was not restarted after the reconnect
    jobs = fleet.ssh(w1, "ls /var/lib/honeycomb/jobs").stdout.split()
    assert len([j for j in jobs if j.endswith(node["job_id"][-4:])]) == 1


def test_install_cut_by_a_power_cut_is_resumed_in_the_same_run(fleet, payload, tmp_path):
    """The node loses power mid-install and boots again: the async job's status file still says
    "started", but nothing of the job lives; the playbook resumes it (resume rules) instead of polling
    a dead job until the async timeout, and the node ends applied in the same run."""
    w2 = fleet.nodes[1]["vsn"]

    def power_cut():
        fleet.power_cut(w2)
        fleet.power_on(w2)
        fleet.ssh(w2, "rm -f /var/lib/honeycomb/slow-install")  # the resumed install need not be slow

    rc, log, node = upgrade_with_a_fault_mid_install(fleet, w2, "3.0.0", tmp_path, power_cut)
    assert rc == 0, log[-8000:]
    resume = log.split("TASK [Resume the job the node lost (power cut or reboot while it ran)]")[1].split("TASK [")[0]
    assert "[%s]" % w2 in resume and "skipping" not in resume, log[-8000:]
    assert node["status"] == "applied" and node["installed_version"] == "3.0.0", node
    assert fleet.ssh(w2, "cat /var/lib/honeycomb/marker").stdout.strip() == "3.0.0"
    job = json.loads(fleet.ssh(w2, "cat /var/lib/honeycomb/jobs/%s/journal.json" % node["job_id"]).stdout)
    assert job["status"] == "applied" and job["resumes"] == 1, job
