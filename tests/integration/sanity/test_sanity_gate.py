"""The sanity role end to end: real ansible-playbook, real sshd on loopback, several inventory hosts
pointing at different fixture nodes. Pre-check with gating, a stand-in upgrade play, a post-check."""

import json
from pathlib import Path

import pytest

from hctest.playbook import REPO, run_playbook
from hctest.requires import require_path
from hctest.sanity import gate_playbook
from hctest.sanity_node import make_node

pytestmark = pytest.mark.slow

FAIL_TASK = "waggle.honeycomb.sanity : Fail the nodes whose sanity status is not acceptable"

GATED_PLAYBOOK = gate_playbook('"{{ marker_dir }}/{{ inventory_hostname }}"', mode="0644", upgrade_tasks="""
    - name: The upgrade breaks lan0 of one node
      ansible.builtin.copy:
        content: "down\\n"
        dest: "{{ node_root }}/sys-class-net/lan0/operstate"
        mode: "0644"
      when: break_lan0_in_upgrade | default(false)
""", after="""
- name: Post-check
  hosts: nodes:!sanity_blocked
  gather_facts: false
  roles:
    - role: waggle.honeycomb.sanity
      vars:
        sanity_phase: post
        sanity_fail_on: [fatal]
""")

NODES = {
    # name: (node id, vsn, checks to break, extra Waggle tests)
    "node-pass": ("000048B02D0766C1", "W0A1", (), None),  # also gets the inventory var vsn
    "node-warn": ("000048B02D0766C2", "W0A2", ("cameras_http",),
                  {"warning/flaky_wan": "echo 'Error: wan0 connectivity not up'; exit 1",
                   "warning/hang": "echo hanging; sleep 60",
                   "fatal/lan0_status": "echo 'Lan0 Status Test: Begin'"}),
    "node-fatal": ("000048B02D0766C3", "W0A3", ("lan0_up",), None),
}


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory, sshd, switch_port, camera_port, dead_port):
    base = tmp_path_factory.mktemp("sanity-gate")
    markers = base / "markers"
    markers.mkdir()
    reports = base / "reports"
    hosts = {}
    for name, (node_id, vsn, broken, tests) in NODES.items():
        root = base / name
        host = make_node(root, node_id, vsn, switch_port, camera_port, dead_port, broken, tests)
        host.update(sshd.host_vars())
        host["node_root"] = str(root)
        host["sanity_expected_node_id"] = node_id
        hosts[name] = host
    hosts["node-warn"]["break_lan0_in_upgrade"] = True
    hosts["node-pass"]["vsn"] = "W0A1"  # the inventory's vsn is checked too
    # a node whose sshd does not answer
    hosts["node-down"] = dict(sshd.host_vars(), ansible_port=dead_port)
    # a node with a bad module argument: status "error", left out
    bad = make_node(base / "node-badcfg", "000048B02D0766C5", "W0A5", switch_port, camera_port, dead_port)
    bad["sanity_settings"]["lan0_up"]["interfce"] = "lan0"
    hosts["node-badcfg"] = dict(bad, **sshd.host_vars())

    res = run_playbook(GATED_PLAYBOOK, hosts, extra_vars={
        "marker_dir": str(markers), "sanity_report_dir": str(reports), "sanity_test_timeout": 2})
    pre = json.loads((reports / "sanity-pre.json").read_text())
    post = json.loads((reports / "sanity-post.json").read_text())
    return {"res": res, "pre": pre, "post": post, "reports": reports, "markers": markers, "base": base}


def test_node_statuses_aggregate_pass_warning_fatal(gated_run):
    pre = gated_run["pre"]
    statuses = dict((h, n["status"]) for h, n in pre["hosts"].items())
    assert statuses == {"node-pass": "pass", "node-warn": "warning", "node-fatal": "fatal",
                        "node-down": "unreachable", "node-badcfg": "error"}, gated_run["res"].output
    assert pre["totals"]["hosts"] == 5
    assert pre["totals"]["by_status"] == {"pass": 1, "warning": 1, "fatal": 1, "unreachable": 1, "error": 1,
                                          "not run": 0}
    warn = pre["hosts"]["node-warn"]
    assert warn["failed_checks"] == {"warning": ["flaky_wan", "hang", "cameras_http"], "fatal": []}
    assert pre["hosts"]["node-fatal"]["failed_checks"]["fatal"] == ["lan0_up"]
    assert pre["hosts"]["node-pass"]["node_id"] == "000048B02D0766C1"
    assert pre["hosts"]["node-pass"]["vsn"] == "W0A1"
    assert "interfce" in pre["hosts"]["node-badcfg"]["error"]


def test_a_hanging_test_counts_127(gated_run):
    checks = gated_run["pre"]["hosts"]["node-warn"]["checks"]
    hang = [c for c in checks if c["name"] == "hang"][0]
    assert (hang["rc"], hang["result"], hang["timed_out"], hang["source"]) == (127, "fail", True, "waggle")
    assert "hanging" in hang["output"]
    assert gated_run["pre"]["hosts"]["node-warn"]["test_timeout"] == 2
    assert gated_run["pre"]["per_check"]["hang"]["timed_out"] == 1
    assert gated_run["pre"]["totals"]["checks"]["timed_out"] == 1


def test_non_applicable_check_is_skipped_not_failed(gated_run):
    pre = gated_run["pre"]
    for host in ("node-pass", "node-warn", "node-fatal"):
        k3s = [c for c in pre["hosts"][host]["checks"] if c["name"] == "k3s_node_ready"][0]
        assert (k3s["result"], k3s["rc"]) == ("skipped", None)
        assert "not found" in k3s["reason"]
    assert pre["per_check"]["k3s_node_ready"]["skipped"] == 3
    assert pre["per_check"]["k3s_node_ready"]["fail"] == 0


def test_per_check_totals_and_markdown(gated_run):
    pre = gated_run["pre"]
    lan0 = pre["per_check"]["lan0_up"]
    assert (lan0["pass"], lan0["fail"], lan0["skipped"], lan0["failed_hosts"]) == (2, 1, 0, ["node-fatal"])
    assert pre["per_check"]["cameras_http"]["failed_hosts"] == ["node-warn"]
    assert pre["per_check"]["node_identity"]["pass"] == 3  # expected_node_id matched on every node
    checks = pre["totals"]["checks"]
    assert checks["total"] == sum(len(n["checks"]) for n in pre["hosts"].values())
    assert checks["total"] == checks["pass"] + checks["fail"] + checks["skipped"]
    assert (checks["fatal_failed"], checks["warning_failed"]) == (1, 3)
    md = (gated_run["reports"] / "sanity-pre.md").read_text()
    assert "# Sanity report: pre" in md
    assert "| node-fatal | 000048B02D0766C3 | W0A3 | fatal |" in md
    assert "| lan0_up | builtin | fatal | 2 | 1 | 0 | 0 | node-fatal |" in md
    assert "- **node-fatal**: fatal (lan0_up)" in md
    assert "`hang` fail (warning, rc 127, timed out)" in md
    assert "| unreachable | 1 |" in md


def test_fatal_nodes_are_left_out_of_the_upgrade_and_listed(gated_run):
    pre = gated_run["pre"]
    assert pre["gate"]["blocked"] == ["node-badcfg", "node-down", "node-fatal"]
    assert pre["gate"]["allowed"] == ["node-pass", "node-warn"]
    upgraded = sorted(p.name for p in gated_run["markers"].iterdir())
    assert upgraded == ["node-pass", "node-warn"]
    assert "left out: node-badcfg, node-down, node-fatal" in gated_run["res"].stdout
    assert "pass=1, warning=1, fatal=1, unreachable=1, error=1" in gated_run["res"].stdout


def test_post_check_fails_the_node_the_upgrade_broke(gated_run):
    res = gated_run["res"]
    post = gated_run["post"]
    assert sorted(post["hosts"]) == ["node-pass", "node-warn"]
    assert post["hosts"]["node-pass"]["status"] == "pass"
    assert post["hosts"]["node-warn"]["status"] == "fatal"
    assert post["hosts"]["node-warn"]["failed_checks"]["fatal"] == ["lan0_up"]
    assert res.rc == 2, res.output
    assert res.status(FAIL_TASK, "node-warn") == "failed"
    assert "failed fatal checks: lan0_up" in res.result(
        FAIL_TASK, "node-warn")["msg"]
    assert res.status(FAIL_TASK, "node-pass") == "skipped"
    # compared with sanity-pre.json by default: the upgrade's breakage is the one regression
    cmp = post["comparison"]
    assert cmp["regressed_nodes"] == ["node-warn"]
    assert [(c["node"], c["check"], c["before"], c["after"]) for c in cmp["regressions"]] == [
        ("node-warn", "lan0_up", "pass", "fatal")]
    assert cmp["unchanged_nodes"] == ["node-pass"]
    assert "1 regressed node(s) since sanity-pre.json: node-warn" in res.stdout


def test_shipped_playbook_in_check_mode(tmp_path, sshd, switch_port, camera_port, dead_port):
    host = make_node(tmp_path / "n1", "000048B02D0766D1", "W0B1", switch_port, camera_port, dead_port)
    host.update(sshd.host_vars())
    reports = tmp_path / "reports"
    res = run_playbook(str(REPO / "playbooks" / "sanity.yml"), {"n1": host},
                       extra_vars={"sanity_report_dir": str(reports)}, check=True)
    assert res.rc == 0, res.output
    result = res.result("waggle.honeycomb.sanity : Run the sanity checks on the node", "n1")
    assert result["changed"] is False
    assert result["status"] == "pass"
    assert [c["name"] for c in result["checks"]][:2] == ["node_id_set", "lan0_status"]
    report = json.loads((reports / "sanity-check.json").read_text())
    assert report["hosts"]["n1"]["status"] == "pass"
    assert report["gate"]["blocked"] == []
    assert Path(reports / "sanity-check.md").read_text().count("No node left out.") == 1


CORE216 = REPO / ".venv-core216" / "bin" / "ansible-playbook"
PY36 = Path("/root/.pyenv/versions/3.6.15/bin/python3")


def test_role_on_ansible_core_216_with_a_python36_node(tmp_path, sshd, switch_port, camera_port, dead_port):
    """Wild Sage nodes run Python 3.6, which only ansible-core <= 2.16 drives."""
    require_path(CORE216, "ansible-core 2.16", "run `make -C %s venv-core216`" % REPO)
    if not PY36.exists():
        pytest.skip("no Python 3.6 node interpreter at %s (pyenv install 3.6.15)" % PY36)
    host = make_node(tmp_path / "n36", "000048B02D0766E1", "W0E1", switch_port, camera_port, dead_port,
                     break_checks=("clock_synchronized",),
                     tests={"warning/hang": "sleep 60", "fatal/lan0_status": "exit 0"})
    host.update(sshd.host_vars(python=str(PY36)))
    reports = tmp_path / "reports"
    res = run_playbook(str(REPO / "playbooks" / "sanity.yml"), {"n36": host}, ansible_playbook=CORE216,
                       extra_vars={"sanity_report_dir": str(reports), "sanity_test_timeout": 1})
    assert res.rc == 0, res.output
    result = res.result("waggle.honeycomb.sanity : Run the sanity checks on the node", "n36")
    assert result["python"].startswith("3.6."), result
    assert result["status"] == "warning"
    assert result["failed_checks"] == {"warning": ["hang", "clock_synchronized"], "fatal": []}
    hang = [c for c in result["checks"] if c["name"] == "hang"][0]
    assert (hang["rc"], hang["timed_out"]) == (127, True)
    report = json.loads((reports / "sanity-check.json").read_text())
    assert report["hosts"]["n36"]["status"] == "warning"
    assert report["gate"]["allowed"] == ["n36"]


def test_role_reads_the_test_folders_from_the_nodes_waggle_config(tmp_path, sshd, switch_port, camera_port,
                                                                  dead_port):
    """sanity_waggle_config: the folders and the per-test timeout come from the node's config.ini."""
    host = make_node(tmp_path / "n1", "000048B02D0766D2", "W0B2", switch_port, camera_port, dead_port)
    host.update(sshd.host_vars())
    del host["sanity_test_dirs"]
    fatal = tmp_path / "n1" / "from-config-ini"
    fatal.mkdir()
    (fatal / "uplink.test").write_text("#!/bin/sh\necho 'uplink down'\nexit 1\n")
    (fatal / "uplink.test").chmod(0o755)
    config = tmp_path / "n1" / "config.ini"
    config.write_text("[all]\nwarning_tests = \nfatal_tests = %s\ntimeout_secs = 7\n" % fatal)
    host["sanity_waggle_config"] = str(config)
    reports = tmp_path / "reports"
    res = run_playbook(str(REPO / "playbooks" / "sanity.yml"), {"n1": host},
                       extra_vars={"sanity_report_dir": str(reports)})
    report = json.loads((reports / "sanity-check.json").read_text())
    node = report["hosts"]["n1"]
    assert node["status"] == "fatal", res.output
    assert node["failed_checks"]["fatal"] == ["uplink"]
    assert node["test_timeout"] == 7
    assert report["gate"]["blocked"] == ["n1"]
