"""playbooks/upgrade.yml through the reverse tunnels of a simulated fleet (tools/hctools/simfleet):
the sanity gate leaves a broken node out; the upgrade task's wait (waggle.honeycomb.upgrade wait=true)
rides out a dropped tunnel and resumes an install cut by a power cut; and a node that does not upgrade -
its job lost more often than max_resumes, its post-check failed, its tunnel gone for good - is a failure
(or unreachable) everywhere: ansible-playbook's exit code and recap, the AWX summary, the JSON, JUnit
and HTML reports, while the other nodes apply."""

import json
import subprocess
import time

import pytest
from hctest.fleet import REPO, SANITY_SETTINGS, fleet_fixture
from hctest.playbook import CALLBACKS
from hctest.rollout import UPGRADE_TASK, UpgradeRun, build_payload

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

fleet = fleet_fixture(3, devices="switch,camera")


def rollout_env(fleet, reports, results=None):
    env = fleet.ansible_env()
    env["ANSIBLE_CALLBACKS_ENABLED"] = "waggle.honeycomb.fleet_report"
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(reports)
    if results is not None:  # every task result as a JSON line (hctest_results)
        env["ANSIBLE_CALLBACK_PLUGINS"] = str(CALLBACKS)
        env["ANSIBLE_CALLBACKS_ENABLED"] = "hctest_results,waggle.honeycomb.fleet_report"
        env["HCTEST_RESULTS_FILE"] = str(results)
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


def wait_for(fleet, vsn, path, proc, log_path, what, timeout=180):
    deadline = time.time() + timeout
    while fleet.ssh(vsn, "test -e %s" % path, check=False).returncode != 0:
        assert proc.poll() is None, log_path.read_text()[-6000:]
        assert time.time() < deadline, "%s did not happen" % what
        time.sleep(1)


def run_upgrade(fleet, tmp_path, extra, during=None):
    """Run upgrade.yml with the extra vars ``extra`` (sanity gate and post-check off unless given), call
    ``during(proc, log_path)`` while it runs, and return a Run."""
    reports, results, log_path = tmp_path / "reports", tmp_path / "results.jsonl", tmp_path / "run.log"
    ev = {"rollout_batches": ["100%"], "rollout_sanity_gate": False, "rollout_post_check": False,
          "rollout_poll_interval": 2, "rollout_reconnect_timeout": 120}
    ev.update(extra)
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(fleet.inventory),
            str(REPO / "playbooks" / "upgrade.yml"), "-e", json.dumps(ev)]
    with open(log_path, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=rollout_env(fleet, reports, results),
                                cwd=str(REPO))
        try:
            if during is not None:
                during(proc, log_path)
            rc = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return UpgradeRun(rc, log_path.read_text(), results, reports)


def slow_install(fleet, vsn, seconds):
    fleet.ssh(vsn, "mkdir -p /var/lib/honeycomb && echo %d > /var/lib/honeycomb/slow-install"
                   " && rm -f /var/lib/honeycomb/install-started" % seconds)


def fast_install(fleet, vsn):
    fleet.ssh(vsn, "rm -f /var/lib/honeycomb/slow-install /var/lib/honeycomb/install-started", check=False)


def marker(fleet, vsn):
    return fleet.ssh(vsn, "cat /var/lib/honeycomb/marker", check=False).stdout.strip()


def test_install_survives_a_dropped_tunnel(fleet, tmp_path):
    w1 = fleet.nodes[0]["vsn"]
    payload = build_payload(tmp_path / "p" / "rollout-test-3.0.0.tar.gz", version="3.0.0")
    slow_install(fleet, w1, 25)

    def drop(proc, log_path):
        wait_for(fleet, w1, "/var/lib/honeycomb/install-started", proc, log_path, "the install")
        fleet.drop_tunnel(w1)
        time.sleep(8)  # the controller's polls fail meanwhile: node unreachable
        fleet.restore_tunnel(w1)

    try:
        run = run_upgrade(fleet, tmp_path, {"payload": payload, "rollout_hosts": w1}, during=drop)
    finally:
        fast_install(fleet, w1)
    assert run.rc == 0, run.log[-8000:]
    res = run.result(UPGRADE_TASK, w1)
    # the wait lost the node, reconnected and collected the job, which lived on: nothing resumed
    events = [e["event"] for e in res["wait"]["events"]]
    assert events[0] == "started" and "unreachable" in events and "reconnected" in events, events
    assert events[-1] == "finished" and res["wait"]["losses"] == 0 and len(res["wait"]["jobs"]) == 1
    assert res["wait"]["reconnects"] >= 1 and res["wait"]["unreachable_seconds"] > 0
    assert run.nodes[w1]["status"] == "applied" and run.nodes[w1]["installed_version"] == "3.0.0"
    assert run.recap[w1]["failed"] == 0 and run.recap[w1]["unreachable"] == 0
    assert marker(fleet, w1) == "3.0.0"
    # rollout_sanity_gate false: the gate's play has no hosts, so none of its tasks runs (or costs) per node
    gate_tasks = {"Run the sanity pre-check", "Report the nodes the sanity gate leaves out"}
    assert not [r for r in run.records if r["task"] in gate_tasks], run.log[-3000:]
    assert "PLAY [Run the sanity gate]" in run.log and "skipping: no hosts matched" in run.log
    # one job only: the install was not restarted after the reconnect
    jobs = fleet.ssh(w1, "ls /var/lib/honeycomb/jobs").stdout.split()
    assert len([j for j in jobs if j.endswith(res["job_id"][-4:])]) == 1


def test_install_cut_by_a_power_cut_is_resumed_in_the_same_task(fleet, tmp_path):
    """The node loses power mid-install and boots again: the async job's status file still says
    "started", but nothing of the job lives; the upgrade task resumes it (resume rules) instead of
    polling a dead job until its time limit, and the node ends applied in the same run."""
    w2 = fleet.nodes[1]["vsn"]
    payload = build_payload(tmp_path / "p" / "rollout-test-3.0.0.tar.gz", version="3.0.0")
    slow_install(fleet, w2, 25)

    def power_cut(proc, log_path):
        wait_for(fleet, w2, "/var/lib/honeycomb/install-started", proc, log_path, "the install")
        fleet.power_cut(w2)
        fleet.power_on(w2)
        fast_install(fleet, w2)  # the resumed install need not be slow

    try:
        run = run_upgrade(fleet, tmp_path, {"payload": payload, "rollout_hosts": w2}, during=power_cut)
    finally:
        fast_install(fleet, w2)
    assert run.rc == 0, run.log[-8000:]
    res = run.result(UPGRADE_TASK, w2)
    assert res["status"] == "applied" and res["wait"]["losses"] == 1 and res["wait"]["resumes"] == 1, res["wait"]
    assert [e["event"] for e in res["wait"]["events"]].count("resumed") == 1
    # started and resumed by the node-resident engine (async_wrapper's job ids begin with "j")
    assert all(not jid.startswith("j") for jid in res["wait"]["jobs"]), res["wait"]["jobs"]
    assert run.nodes[w2]["status"] == "applied" and run.nodes[w2]["installed_version"] == "3.0.0"
    assert marker(fleet, w2) == "3.0.0"
    job = json.loads(fleet.ssh(w2, "cat /var/lib/honeycomb/jobs/%s/journal.json" % res["job_id"]).stdout)
    assert job["status"] == "applied" and job["resumes"] == 1, job
    # the lost job's status file (it says "started" for ever) is removed by the poll that collected the resumed
    # job; that one's is renamed .collected: nothing is left under a job id
    lost, resumed = res["wait"]["jobs"]
    left = fleet.ssh(w2, "ls -A ~/.ansible_async").stdout.split()
    assert lost not in left and resumed not in left and resumed + ".collected" in left, left


def assert_only_node_failed(run, bad, status, outcome="failure"):
    """``bad`` ended with ``status`` everywhere; the other nodes applied."""
    others = [n["vsn"] for n in run_nodes(run) if n["vsn"] != bad]
    assert run.rc != 0, run.log[-6000:]
    # the fleet report (JSON, JUnit, HTML)
    assert run.nodes[bad]["status"] == status and run.nodes[bad]["outcome"] == outcome, run.nodes[bad]
    for name in others:
        assert run.nodes[name]["status"] == "applied" and run.nodes[name]["outcome"] == "success", run.nodes[name]
    assert run.report["result"] in ("failed", "stopped")
    junit = run.junit()
    assert junit[bad] == (["failure"] if outcome == "failure" else ["error"]), junit
    assert all(junit[name] == [] for name in others), junit
    assert 'data-node="%s" data-status="%s"' % (bad, status) in run.html()
    # the playbook's summary, published for AWX
    summary = run.summary
    assert summary["nodes"][bad] == status and summary["result"] != "success"
    assert summary["failed_nodes" if outcome == "failure" else "unreachable_nodes"] == [bad]
    assert all(summary["nodes"][name] == "applied" for name in others)
    # ... which is what the step publishes as the custom stat AWX reads (set_stats data, see test_runner.py)
    published = run.result("Publish the fleet summary", "localhost")["ansible_stats"]
    assert published["data"]["honeycomb_rollout"] == summary and published["per_host"] is False
    assert "fleet FAILED" in run.log or "fleet STOPPED" in run.log


def run_nodes(run):
    return [{"vsn": name} for name in run.nodes]


def test_a_job_lost_more_often_than_max_resumes_fails_the_node_everywhere(fleet, tmp_path):
    """W2 loses power during the install and again during the resumed job (max_resumes 1): lost."""
    w1, w2, w3 = (n["vsn"] for n in fleet.nodes)
    payload = build_payload(tmp_path / "p" / "rollout-test-4.0.0.tar.gz", version="4.0.0")
    slow_install(fleet, w2, 25)

    def two_power_cuts(proc, log_path):
        for n in (1, 2):
            wait_for(fleet, w2, "/var/lib/honeycomb/install-started", proc, log_path, "install %d" % n)
            fleet.power_cut(w2)
            # removed while the node is off (its state dir on the host's disk): once it is on again, the
            # wait may resume the job and re-create the marker before an ssh could remove it
            (fleet.dir / "nodes" / w2 / "honeycomb" / "install-started").unlink()
            fleet.power_on(w2)

    try:
        run = run_upgrade(fleet, tmp_path, {"payload": payload, "rollout_max_resumes": 1, "max_fail_percentage": 50},
                          during=two_power_cuts)
    finally:
        fast_install(fleet, w2)
    res = run.result(UPGRADE_TASK, w2)
    assert res["status"] == "lost" and run.state(UPGRADE_TASK, w2) == "failed", res
    assert res["wait"]["losses"] == 2 and res["wait"]["resumes"] == 1, res["wait"]
    assert "max_resumes 1" in res["msg"]
    assert run.recap[w2]["failed"] >= 1, run.recap
    assert run.recap[w1]["failed"] == run.recap[w3]["failed"] == 0, run.recap
    assert_only_node_failed(run, w2, "lost")
    assert marker(fleet, w1) == marker(fleet, w3) == "4.0.0"


def test_a_failed_post_check_fails_the_node_everywhere(fleet, tmp_path):
    w1, w2, w3 = (n["vsn"] for n in fleet.nodes)
    payload = build_payload(tmp_path / "p" / "rollout-test-5.0.0.tar.gz", version="5.0.0")
    fleet.ssh(w3, "ip link set lan0 down")  # its switch and camera vanish: the post-check is fatal
    try:
        run = run_upgrade(fleet, tmp_path, {
            "payload": payload, "rollout_post_check": True, "max_fail_percentage": 50,
            "sanity_report_dir": str(tmp_path / "sanity"), "sanity_settings": SANITY_SETTINGS,
            "sanity_test_timeout": 5, "rollout_post_check_fail_on": ["fatal"]})
    finally:
        fleet.ssh(w3, "ip link set lan0 up", check=False)
    assert run.result(UPGRADE_TASK, w3)["status"] == "applied"  # the upgrade itself went through
    assert run.recap[w3]["failed"] >= 1 and run.recap[w1]["failed"] == run.recap[w2]["failed"] == 0, run.recap
    assert_only_node_failed(run, w3, "post_check_failed")
    assert run.nodes[w3]["annotations"]["reason"].startswith("sanity post-check: fatal")
    assert marker(fleet, w1) == marker(fleet, w2) == marker(fleet, w3) == "5.0.0"


def test_a_node_whose_tunnel_is_gone_for_good_is_unreachable_everywhere(fleet, tmp_path):
    w1, w2, w3 = (n["vsn"] for n in fleet.nodes)
    payload = build_payload(tmp_path / "p" / "rollout-test-6.0.0.tar.gz", version="6.0.0")
    slow_install(fleet, w1, 15)

    def drop_for_good(proc, log_path):
        wait_for(fleet, w1, "/var/lib/honeycomb/install-started", proc, log_path, "the install")
        fleet.drop_tunnel(w1)

    try:
        run = run_upgrade(fleet, tmp_path, {"payload": payload, "rollout_reconnect_timeout": 15,
                                            "max_unreachable_percentage": 50}, during=drop_for_good)
    finally:
        fleet.restore_tunnel(w1)
        time.sleep(3)
        fast_install(fleet, w1)
    res = run.result(UPGRADE_TASK, w1)
    assert res["status"] == "unreachable" and "reconnect_timeout (15s)" in res["msg"], res
    assert run.state(UPGRADE_TASK, w1) == "unreachable"
    assert run.recap[w1]["unreachable"] >= 1 and run.recap[w1]["ok"] >= 0, run.recap
    assert run.recap[w2]["failed"] == run.recap[w3]["failed"] == 0, run.recap
    assert run.rc == 4, run.log[-6000:]  # ansible-playbook's exit code for unreachable hosts
    assert_only_node_failed(run, w1, "unreachable", outcome="unreachable")
    assert run.nodes[w1]["unreachable"] is True
