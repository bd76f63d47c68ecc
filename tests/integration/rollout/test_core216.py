"""The fleet playbooks as operators must run them against real Wild Sage nodes: Python 3.6 on the
node, hence ansible-core 2.16 (the last core that drives Python 3.6) on the controller."""

import json
from pathlib import Path

import pytest
from hctest.playbook import REPO, run_playbook
from hctest.requires import require_path
from hctest.rollout import REPORT_CALLBACKS, build_payload

pytestmark = pytest.mark.slow

CORE216 = REPO / ".venv-core216" / "bin" / "ansible-playbook"
PY36 = Path("/root/.pyenv/versions/3.6.15/bin/python3")


def test_upgrade_and_rollback_playbooks_on_core_216_with_python36_nodes(make_fleet, payload, tmp_path):
    require_path(CORE216, "ansible-core 2.16", "run `make -C %s venv-core216`" % REPO)
    if not PY36.exists():
        pytest.skip("no Python 3.6 node interpreter at %s (pyenv install 3.6.15)" % PY36)
    fleet = make_fleet(2)
    for hv in fleet.hosts.values():
        hv["ansible_python_interpreter"] = str(PY36)
    reports = tmp_path / "reports"
    env = {"ANSIBLE_CALLBACKS_ENABLED": REPORT_CALLBACKS, "HONEYCOMB_FLEET_REPORT_DIR": str(reports)}
    common = {"rollout_sanity_gate": False, "rollout_post_check": False, "rollout_poll_interval": 1,
              "rollout_batches": [1, "100%"]}
    newer = build_payload(tmp_path / "p2" / "rollout-test-2.0.0.tar.gz", version="2.0.0")
    for p in (payload, newer):
        res = run_playbook(REPO / "playbooks" / "upgrade.yml", fleet.hosts, ansible_playbook=CORE216, env=env,
                           extra_vars=dict(common, payload=p), timeout=400)
        assert res.rc == 0, res.output
    assert fleet.marker("n1") == fleet.marker("n2") == "2.0.0"
    assert (reports / "latest" / "report.json").exists(), res.output
    report = json.loads((reports / "latest" / "report.json").read_text())
    assert {n["name"]: (n["status"], n["installed_version"]) for n in report["nodes"]} == \
        {"n1": ("applied", "2.0.0"), "n2": ("applied", "2.0.0")}
    assert all(n["phases"] for n in report["nodes"])

    res = run_playbook(REPO / "playbooks" / "rollback.yml", fleet.hosts, ansible_playbook=CORE216, env=env,
                       extra_vars=dict(common, rollback_peripheral="rollout-test", rollout_hosts="n2"), timeout=400)
    assert res.rc == 0, res.output
    assert fleet.marker("n1") == "2.0.0" and fleet.marker("n2") == "1.0.0"
    report = json.loads((reports / "latest" / "report.json").read_text())
    (n2,) = report["nodes"]
    assert (n2["name"], n2["status"], n2["installed_version"]) == ("n2", "rolled_back", "1.0.0")
