"""The sanity role's post-check compared with the pre-check (sanity_compare_with), end to end: real
ansible-playbook, real sshd on loopback, fixture nodes.

W001 passes the pre-check and the stand-in upgrade takes its lan0 down (a regression), W002 has an
unsynchronised clock (warning) that the upgrade fixes, W003 does not change, W009 is not in the
pre-check. The post-check runs per batch like playbooks/upgrade.yml (serial, report
sanity-post-<first host of the batch>), then a post-check whose earlier report does not exist."""

import json

import pytest

from hctest.playbook import run_playbook
from hctest.sanity_node import make_node

pytestmark = pytest.mark.slow

PLAYBOOK = """
- name: Pre-check
  hosts: nodes:!W009
  gather_facts: false
  roles:
    - role: waggle.honeycomb.sanity
      vars:
        sanity_phase: pre

- name: Upgrade (stand-in)
  hosts: nodes:!sanity_blocked:!W009
  gather_facts: false
  tasks:
    - name: The upgrade writes files of the node (breaks lan0 of one, fixes the clock of another)
      ansible.builtin.copy:
        content: "{{ item.value }}"
        dest: "{{ node_root }}/{{ item.key }}"
        mode: "0644"
      loop: "{{ upgrade_writes | default({}) | dict2items }}"

- name: Post-check per batch (as playbooks/upgrade.yml runs it)
  hosts: nodes
  gather_facts: false
  serial: [1, 3]
  tasks:
    - name: Run the sanity post-check on the upgraded node
      ansible.builtin.include_role:
        name: waggle.honeycomb.sanity
      vars:
        sanity_phase: post
        sanity_gate: false
        sanity_report_name: "sanity-post-{{ ansible_play_batch | first }}"

- name: Post-check without an earlier report
  hosts: W003
  gather_facts: false
  roles:
    - role: waggle.honeycomb.sanity
      vars:
        sanity_phase: post
        sanity_report_name: sanity-nobaseline
        sanity_compare_with: no-such-report.json
"""

NODES = {
    # name: (node id, vsn, checks broken before the upgrade)
    "W001": ("000048B02D0767A1", "W001", ()),
    "W002": ("000048B02D0767A2", "W002", ("clock_synchronized",)),
    "W003": ("000048B02D0767A3", "W003", ()),
    "W009": ("000048B02D0767A9", "W009", ()),
}


@pytest.fixture(scope="module")
def compared_run(tmp_path_factory, sshd, switch_port, camera_port, dead_port):
    base = tmp_path_factory.mktemp("sanity-compare")
    reports = base / "reports"
    hosts = {}
    for name, (node_id, vsn, broken) in NODES.items():
        root = base / name
        host = make_node(root, node_id, vsn, switch_port, camera_port, dead_port, broken)
        host.update(sshd.host_vars())
        host.update({"node_root": str(root), "sanity_expected_node_id": node_id})
        hosts[name] = host
    hosts["W001"]["upgrade_writes"] = {"sys-class-net/lan0/operstate": "down\n"}
    hosts["W002"]["upgrade_writes"] = {"timesync/synchronized": ""}
    res = run_playbook(PLAYBOOK, hosts, extra_vars={"sanity_report_dir": str(reports), "sanity_test_timeout": 2})

    def load(name):
        path = reports / (name + ".json")
        assert path.exists(), (sorted(p.name for p in reports.iterdir()), res.output)
        return json.loads(path.read_text())

    return {"res": res, "reports": reports, "pre": load("sanity-pre"), "batch1": load("sanity-post-W001"),
            "batch2": load("sanity-post-W002"), "nobase": load("sanity-nobaseline")}


def test_the_run_succeeds_and_the_pre_check_compares_nothing(compared_run):
    assert compared_run["res"].rc == 0, compared_run["res"].output
    pre = compared_run["pre"]
    assert {h: n["status"] for h, n in pre["hosts"].items()} == {"W001": "pass", "W002": "warning", "W003": "pass"}
    assert pre["comparison"] is None


def test_post_check_lists_exactly_the_regression(compared_run):
    cmp = compared_run["batch1"]["comparison"]
    assert cmp["found"] is True
    assert cmp["baseline"] == str(compared_run["reports"] / "sanity-pre.json")
    assert cmp["baseline_phase"] == "pre"
    assert list(cmp["hosts"]) == ["W001"]
    # the nodes of the later batch are not listed as "not run" (nor "left out") in batch 1's report
    assert list(compared_run["batch1"]["hosts"]) == ["W001"]
    assert compared_run["batch1"]["gate"]["blocked"] == ["W001"]  # fatal now; no "not run" node
    assert cmp["regressed_nodes"] == ["W001"]
    assert cmp["regressions"] == [
        {"node": "W001", "check": "lan0_up", "before": "pass", "after": "fatal", "severity": "fatal"}]
    assert cmp["status_changes"] == [{"node": "W001", "before": "pass", "after": "fatal"}]
    node = cmp["hosts"]["W001"]
    assert (node["fixed"], node["changed"], node["new_checks"], node["missing_checks"]) == ([], [], [], [])
    assert cmp["totals"]["regressions"] == 1
    out = compared_run["res"].stdout
    assert "1 regressed node(s) since sanity-pre.json: W001" in out


def test_markdown_puts_the_regressions_first(compared_run):
    md = (compared_run["reports"] / "sanity-post-W001.md").read_text()
    assert md.index("## Changes since sanity-pre.json") < md.index("### Regressions") < md.index("## Totals")
    assert "1 of 1 nodes regressed (W001)" in md
    assert "| W001 | lan0_up | pass | fatal |" in md
    assert "### Node status changes" in md
    assert "| W001 | pass | fatal |" in md


def test_second_batch_compares_only_its_nodes(compared_run):
    report = compared_run["batch2"]
    cmp = report["comparison"]
    # each batch's report lists its own nodes only: the batch-1 node is neither listed nor compared again
    assert list(report["hosts"]) == ["W002", "W003", "W009"]
    assert list(cmp["hosts"]) == ["W002", "W003", "W009"]
    assert cmp["regressed_nodes"] == [] and cmp["regressions"] == []
    assert cmp["hosts"]["W002"]["fixed"] == [
        {"check": "clock_synchronized", "before": "warning", "after": "pass", "severity": "warning"}]
    assert cmp["fixed_nodes"] == ["W002"]
    assert cmp["status_changes"] == [{"node": "W002", "before": "warning", "after": "pass"}]
    assert cmp["unchanged_nodes"] == ["W003"]
    assert cmp["new_nodes"] == ["W009"]
    assert cmp["hosts"]["W009"]["status_before"] is None
    md = (compared_run["reports"] / "sanity-post-W002.md").read_text()
    assert "0 of 3 nodes regressed," in md
    assert "### Regressions" not in md
    assert "- **W002**: `clock_synchronized` fixed (warning -> pass)" in md
    assert "Not in sanity-pre.json: W009." in md
    assert "Unchanged: W003." in md
    assert "0 regressed node(s) since sanity-pre.json;" in compared_run["res"].stdout


def test_a_missing_earlier_report_is_noted(compared_run):
    cmp = compared_run["nobase"]["comparison"]
    assert cmp == {"baseline": str(compared_run["reports"] / "no-such-report.json"), "found": False}
    md = (compared_run["reports"] / "sanity-nobaseline.md").read_text()
    assert "No earlier report %s to compare with." % cmp["baseline"] in md
    assert "no %s to compare with" % cmp["baseline"] in compared_run["res"].stdout
