"""playbooks/upgrade.yml under ansible-runner (what AWX runs jobs with): report and set_stats artifacts."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hctest.playbook import COLLECTIONS, REPO

pytestmark = pytest.mark.slow


def test_upgrade_playbook_under_ansible_runner(make_fleet, payload, tmp_path):
    runner = Path(sys.executable).parent / "ansible-runner"
    if not runner.exists():
        pytest.skip("ansible-runner is not installed in the venv")
    fleet = make_fleet(2)
    cp_dir = tempfile.mkdtemp(prefix="hc-cp-", dir="/tmp")  # unix socket paths are limited to 108 bytes
    pdd = tmp_path / "pdd"
    (pdd / "inventory").mkdir(parents=True)
    (pdd / "env").mkdir()
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": fleet.hosts}}))
    (pdd / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        # as in the AWX project's ansible.cfg: the report callback is enabled next to awx_display
        "ANSIBLE_CALLBACKS_ENABLED": "waggle.honeycomb.fleet_report",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": cp_dir,
    }))
    (pdd / "env" / "extravars").write_text(yaml.safe_dump({
        "payload": payload, "rollout_batches": [1, "100%"], "rollout_sanity_gate": False,
        "rollout_post_check": False, "rollout_poll_interval": 1,
    }))
    proc = subprocess.run([str(runner), "run", str(pdd), "-p", "upgrade.yml", "--project-dir",
                           str(REPO / "playbooks"), "--ident", "job1"],
                          capture_output=True, text=True, timeout=400,
                          env=dict(os.environ, PATH="%s:%s" % (runner.parent, os.environ.get("PATH", ""))), check=False)
    try:
        assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
        artifacts = pdd / "artifacts" / "job1"
        assert (artifacts / "rc").read_text().strip() == "0"
        assert (artifacts / "status").read_text().strip() == "successful"
        # the callback put its report among the job artifacts (AWX_ISOLATED_DATA_DIR)
        reports = glob.glob(str(artifacts / "fleet_report" / "2*" / "report.json"))
        assert len(reports) == 1, os.listdir(artifacts)
        report = json.loads(Path(reports[0]).read_text())
        assert {n["name"]: n["status"] for n in report["nodes"]} == {"n1": "applied", "n2": "applied"}
        assert report["summary"]["line"] == "fleet SUCCESS: 2 nodes, applied 2"
        for name in ("junit.xml", "report.html"):
            assert (Path(reports[0]).parent / name).exists()
        # set_stats data reaches the stats event as artifact_data (what AWX passes on in a workflow)
        stats = None
        for path in glob.glob(str(artifacts / "job_events" / "*.json")):
            event = json.loads(Path(path).read_text())
            if event.get("event") == "playbook_on_stats":
                stats = event["event_data"]
        assert stats is not None
        summary = stats["artifact_data"]["honeycomb_rollout"]
        assert summary["result"] == "success" and summary["by_status"] == {"applied": 2}
        assert summary["nodes"] == {"n1": "applied", "n2": "applied"}
        assert "[fleet] fleet SUCCESS: 2 nodes, applied 2" in (artifacts / "stdout").read_text()
        # one summary for AWX: the playbook's honeycomb_rollout, none from the callback
        assert "honeycomb_fleet_report" not in stats["artifact_data"]
    finally:
        subprocess.run(["sh", "-c", 'for s in "$0"/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x; done',
                        cp_dir], capture_output=True, timeout=60, check=False)
        shutil.rmtree(cp_dir, ignore_errors=True)
