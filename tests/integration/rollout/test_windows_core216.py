"""Maintenance windows as operators run them against real Wild Sage nodes: ansible-core 2.16 on the controller,
Python 3.6 on the node (loopback sshd). Outside the window the node's store receives the payload (lookup-only
module run, Python 3.6) and the node is deferred; inside it, the install runs from the store."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from hctest.playbook import REPO, run_playbook
from hctest.requires import require_path
from hctest.rollout import REPORT_CALLBACKS

pytestmark = pytest.mark.slow

CORE216 = REPO / ".venv-core216" / "bin" / "ansible-playbook"
PY36 = Path("/root/.pyenv/versions/3.6.15/bin/python3")
UPGRADE_TASK = "Upgrade the node (detached job, waited for through dropped tunnels and power cuts)"


def _window(hours_from_now):
    start = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours_from_now)
    end = start + dt.timedelta(hours=2)
    return {"days": "daily", "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timezone": "Etc/UTC"}


def test_deferred_then_installed_on_core_216_with_a_python36_node(make_fleet, payload, tmp_path):
    require_path(CORE216, "ansible-core 2.16", "run `make -C %s venv-core216`" % REPO)
    if not PY36.exists():
        pytest.skip("no Python 3.6 node interpreter at %s (pyenv install 3.6.15)" % PY36)
    fleet = make_fleet(1)
    fleet.hosts["n1"]["ansible_python_interpreter"] = str(PY36)
    reports = tmp_path / "reports"
    env = {"ANSIBLE_CALLBACKS_ENABLED": REPORT_CALLBACKS, "HONEYCOMB_FLEET_REPORT_DIR": str(reports)}
    common = {"payload": payload, "rollout_sanity_gate": False, "rollout_post_check": False,
              "rollout_poll_interval": 1, "rollout_batches": ["100%"]}

    fleet.hosts["n1"]["honeycomb_maintenance_window"] = _window(5)
    res = run_playbook(REPO / "playbooks" / "upgrade.yml", fleet.hosts, ansible_playbook=CORE216, env=env,
                       extra_vars=common, timeout=400)
    assert res.rc == 0, res.output
    r = res.result(UPGRADE_TASK, "n1")
    assert r["status"] == "deferred" and r["staged"] and r["payload_transferred"], r
    assert fleet.marker("n1") is None and fleet.jobs("n1") == []
    sha = hashlib.sha256(Path(payload).read_bytes()).hexdigest()
    assert sorted(p.name for p in (fleet.state_dir("n1") / "payloads").iterdir()) == [sha + ".tar.gz"]
    report = json.loads((reports / "latest" / "report.json").read_text())
    assert [(n["status"], n["outcome"]) for n in report["nodes"]] == [("deferred", "pending")]

    fleet.hosts["n1"]["honeycomb_maintenance_window"] = _window(-1)
    res = run_playbook(REPO / "playbooks" / "upgrade.yml", fleet.hosts, ansible_playbook=CORE216, env=env,
                       extra_vars=common, timeout=400)
    assert res.rc == 0, res.output
    r = res.result(UPGRADE_TASK, "n1")
    assert r["status"] == "applied" and not r["payload_transferred"], r
    assert fleet.marker("n1") == "1.0.0"
