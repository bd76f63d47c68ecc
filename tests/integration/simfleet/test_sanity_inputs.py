"""The simulated nodes provide what waggle.honeycomb.sanity_check reads, and `simfleet fault` breaks
exactly the check it names (docs/simfleet.md "What the sanity checks read", docs/sanity.md).

One three-node fleet with switch and camera simulators. The shipped playbooks/sanity.yml runs through
the reverse tunnels: first with the role's and the module's default settings (production paths and
addresses) where every check must pass and none may be skipped; then in rounds with one fault per
node, where the node's failed checks must be exactly the fault's; then with every fault off again.
"""

import json

import pytest
from hctest.fleet import REPO, recap, running_fleet, simfleet, skip_unless_fleet_possible

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

BUILTIN = ["free_space_root", "free_space_state", "mounts", "fsck_clean", "clock_synchronized", "node_identity",
           "reverse_tunnel", "k3s_node_ready", "switch_reachable", "cameras_http", "lan0_up", "psu_gpio"]
WAGGLE_TESTS = ["current_media", "node_id_set", "node_manifest"]

# (test id, fault, CLI options, {check that must fail: its rc}, node status); nothing else may fail
CASES = [
    ("fsck", "fsck", [], {"fsck_clean": 3}, "fatal"),
    ("clock", "clock", [], {"clock_synchronized": 1}, "warning"),
    ("mount-ro", "mount-ro", [], {"mounts": 2}, "fatal"),
    ("psu-pg1", "psu", [], {"psu_gpio": 5}, "fatal"),
    ("psu-acok", "psu", ["--line", "acok"], {"psu_gpio": 4}, "fatal"),
    ("sanity-fail-fatal", "sanity-fail", ["--severity", "fatal"], {"simfleet_fail": 3}, "fatal"),
    ("sanity-hang", "sanity-hang", [], {"simfleet_hang": 127}, "warning"),
    ("k3s-notready", "k3s-notready", [], {"k3s_node_ready": 1}, "fatal"),
    ("vsn", "vsn", [], {"node_identity": 4}, "fatal"),
    ("switch-down", "switch-down", [], {"switch_reachable": 1}, "fatal"),
    ("camera-down", "camera-down", [], {"cameras_http": 1}, "warning"),
    ("lan0-down", "lan0-down", [], {"lan0_up": 1, "switch_reachable": 1, "cameras_http": 1}, "fatal"),
    ("recovery", "recovery", [], {"current_media": 1}, "warning"),
]

# Fault rounds only: a short Waggle test timeout (the hanging test), short network timeouts (lan0-down
# makes the switch and camera time out instead of refusing), and /etc/hostname checked as well.
ROUND_VARS = {
    "sanity_test_timeout": 3,
    "sanity_settings": {"node_identity": {"hostname_file": "/etc/hostname"},
                        "switch_reachable": {"connect_timeout": 1.0},
                        "cameras_http": {"request_timeout": 2.0}},
}


@pytest.fixture(scope="module")
def fleet():
    skip_unless_fleet_possible()
    with running_fleet(3, devices="switch,camera", restart_delay=1.0) as f:
        f.cli("wait-devices")
        yield f


def sanity_run(fleet, report_dir, name, extra=None):
    """playbooks/sanity.yml on the whole fleet; returns the JSON report's hosts."""
    extra_vars = {"sanity_report_dir": str(report_dir), "sanity_report_name": name, **(extra or {})}
    run = fleet.ansible_playbook(REPO / "playbooks" / "sanity.yml", "-e", json.dumps(extra_vars))
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-3000:]
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap(run.stdout).values()), run.stdout[-4000:]
    return json.loads((report_dir / f"{name}.json").read_text())["hosts"]


@pytest.fixture(scope="module")
def healthy(fleet, tmp_path_factory):
    """Default settings everywhere: only where the report goes is given."""
    return sanity_run(fleet, tmp_path_factory.mktemp("healthy"), "healthy")


@pytest.fixture(scope="module")
def fault_results(fleet, healthy, tmp_path_factory):
    """{case id: the node's report entry}, several faults per playbook run (one per node), and the
    report of a last run after every fault was switched off ("after-off")."""
    reports = tmp_path_factory.mktemp("faults")
    vsns = [n["vsn"] for n in fleet.nodes]
    results = {}
    for start in range(0, len(CASES), len(vsns)):
        batch = list(zip(vsns, CASES[start:start + len(vsns)]))
        for vsn, (_cid, fault, opts, _expect, _status) in batch:
            fleet.cli("fault", vsn, fault, *opts)
        hosts = sanity_run(fleet, reports, f"round{start}", ROUND_VARS)
        for vsn, (cid, fault, _opts, _expect, _status) in batch:
            results[cid] = hosts[vsn]
            fleet.cli("fault", vsn, fault, "--off")
    results["after-off"] = sanity_run(fleet, reports, "after-off", ROUND_VARS)
    return results


def by_name(entry):
    return {c["name"]: c for c in entry["checks"]}


def test_healthy_nodes_pass_every_check_with_default_settings(fleet, healthy):
    assert sorted(healthy) == ["W001", "W002", "W003"]
    for node in fleet.nodes:
        entry = healthy[node["vsn"]]
        checks = by_name(entry)
        assert entry["status"] == "pass", entry["failed_checks"]
        assert sorted(checks) == sorted(BUILTIN + WAGGLE_TESTS)
        not_passed = {n: (c["result"], c["reason"]) for n, c in checks.items() if c["result"] != "pass"}
        assert not_passed == {}  # in particular nothing is skipped: every input exists
        assert entry["test_timeout"] == 150  # from the node's /etc/waggle/sanity/config.ini
        assert (entry["node_id"], entry["vsn"]) == (node["node_id"], node["vsn"])
    out = {n: c["output"] for n, c in by_name(healthy["W002"]).items()}
    node_id = fleet.node("W002")["node_id"]
    assert f"node {node_id.lower()}.ws-nxcore Ready=True" in out["k3s_node_ready"]
    assert "EP supply present: testing PG2" in out["psu_gpio"] and "PG4 (gpio496) = 1" in out["psu_gpio"]
    assert "/media/root-ro: " in out["mounts"] and " ro ok" in out["mounts"]
    assert out["fsck_clean"] == "/run/initramfs/fsck.log: /dev/mmcblk0p1 clean"
    assert "timesync_file: /run/systemd/timesync/synchronized exists" in out["clock_synchronized"]
    assert "10.31.81.10: HTTP 401 alive" in out["cameras_http"]
    assert out["node_id_set"] == f"hostname ws-nxcore-{node_id}"


def test_the_hosts_kubectl_does_not_answer_for_a_node(fleet):
    node_id = fleet.node("W001")["node_id"]
    out = fleet.ssh("W001", "command -v kubectl; cat /etc/hostname; "
                            f"kubectl get node {node_id.lower()}.ws-nxcore -o json").stdout.splitlines()
    assert out[:2] == ["/usr/local/bin/kubectl", f"ws-nxcore-{node_id}"]
    node = json.loads("\n".join(out[2:]))
    assert node["metadata"]["name"] == f"{node_id.lower()}.ws-nxcore"
    wrong = fleet.ssh("W001", "kubectl get node other.ws-nxcore -o json", check=False)
    assert wrong.returncode == 1 and 'nodes "other.ws-nxcore" not found' in wrong.stderr


@pytest.mark.parametrize("cid,fault,opts,expect,status", CASES, ids=[c[0] for c in CASES])
def test_fault_fails_exactly_its_check(fault_results, cid, fault, opts, expect, status):
    entry = fault_results[cid]
    checks = by_name(entry)
    failed = {n: c["rc"] for n, c in checks.items() if c["result"] == "fail"}
    assert failed == expect, {n: checks[n]["reason"] for n in failed}
    assert entry["status"] == status
    others = {n: c["result"] for n, c in checks.items() if n not in expect}
    assert set(others.values()) == {"pass"}, others
    if fault == "sanity-hang":
        assert checks["simfleet_hang"]["timed_out"] is True
    if fault == "vsn":
        assert "which does not match" in checks["node_identity"]["reason"]


def test_every_fault_off_passes_again(fault_results):
    for vsn, entry in fault_results["after-off"].items():
        assert entry["status"] == "pass", (vsn, entry["failed_checks"])
        assert {c["result"] for c in entry["checks"]} == {"pass"}, vsn
        assert "hostname ws-nxcore-" in by_name(entry)["node_identity"]["output"]


def test_fault_list_matches_the_cases():
    listed = {f["name"]: f for f in json.loads(simfleet("fault", "--list", "--json").stdout)}
    assert sorted(listed) == sorted({c[1] for c in CASES})
    for _cid, fault, _opts, expect, _status in CASES:
        if fault.startswith("sanity-"):
            assert listed[fault]["checks"] == ["simfleet_" + fault.split("-")[1]]
        else:
            assert set(listed[fault]["checks"]) == set(expect)
    assert {n for n, f in listed.items() if not f["persistent"]} == {"mount-ro", "k3s-notready"}


def test_bad_fault_requests_are_refused_with_a_reason(fleet):
    r = fleet.cli("fault", "W001", "power-supply", check=False)
    assert r.returncode == 2 and "unknown fault 'power-supply'" in r.stderr and "psu" in r.stderr
    r = fleet.cli("fault", "W001", "clock", "--line", "pg1", check=False)
    assert r.returncode == 2 and "--line does not apply to the clock fault" in r.stderr
    r = fleet.cli("fault", "W001", "psu", "--line", "pg7", check=False)
    assert r.returncode == 2 and "--line must be one of acok, pg1" in r.stderr
    r = fleet.cli("fault", "W009", "fsck", check=False)
    assert r.returncode == 2 and "no node 'W009'" in r.stderr
    assert fleet.cli("fault", "W001", "--json").stdout.strip() == "{}"  # nothing switched on by mistake


def test_persistent_faults_survive_a_power_cut_volatile_ones_do_not(fleet):
    vsn = "W002"
    for args in (["fsck"], ["psu", "--line", "pg2"], ["k3s-notready"], ["mount-ro"]):
        fleet.cli("fault", vsn, *args)
    probe = ("grep -c 'UNEXPECTED INCONSISTENCY' /run/initramfs/fsck.log; "
             "test -e /run/systemd/timesync/synchronized && echo synchronized || echo unsynchronized; "
             "cat /sys/class/gpio/gpio494/value; kubectl get nodes | awk 'NR==2 {print $2}'; "
             "awk '$2 == \"/media/root-rw\" {split($4, o, \",\"); print o[1]}' /proc/mounts")
    assert fleet.ssh(vsn, probe).stdout.split() == ["1", "synchronized", "0", "NotReady", "ro"]

    fleet.power_cut(vsn)
    r = fleet.cli("fault", vsn, "k3s-notready", check=False)  # volatile: would be gone at boot
    assert r.returncode == 2 and "is off" in r.stderr
    fleet.cli("fault", vsn, "clock")  # persistent: recorded now, re-created by the boot
    fleet.power_on(vsn)
    assert json.loads(fleet.cli("fault", vsn, "--json").stdout) == {"clock": {}, "fsck": {}, "psu": {"line": "pg2"}}
    assert fleet.ssh(vsn, probe).stdout.split() == ["1", "unsynchronized", "0", "Ready", "rw"]

    for fault in ("fsck", "psu", "clock"):
        fleet.cli("fault", vsn, fault, "--off")
    assert fleet.ssh(vsn, probe).stdout.split() == ["0", "synchronized", "1", "Ready", "rw"]
    fleet.power_cut(vsn)
    fleet.power_on(vsn)  # a healthy boot writes a clean fsck log and the timesync flag again
    assert fleet.ssh(vsn, probe + "; grep -c '/dev/mmcblk0p1: clean' /run/initramfs/fsck.log").stdout.split() == [
        "0", "synchronized", "1", "Ready", "rw", "1"]
