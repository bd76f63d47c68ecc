"""Helpers for the rollout tests (tests/integration/rollout): a test payload and the report callbacks.

The payload's scripts keep their state in ``$HC_STATE_DIR/marker`` (the version applied); the install
touches ``install-started``, sleeps the seconds written in a ``slow-install`` file if there is one, and
exits 3 when there is a ``fail-install`` file, so the engine rolls back; it keeps the marker it replaces
as ``marker.before-<version>``, which the rollback script puts back (no such file: the marker is removed).
"""

import subprocess
import sys
from pathlib import Path

PAYLOAD_SCRIPTS = {
    "hc_state_check.sh": (
        "#!/bin/sh\n"
        "# already applied when the marker holds this version\n"
        "if [ \"$(cat \"$HC_STATE_DIR/marker\" 2>/dev/null)\" = \"$HC_PAYLOAD_VERSION\" ]; then exit 100; fi\n"
        "exit 0\n"),
    "hc_install_upgrade.sh": (
        "#!/bin/sh\n"
        "touch \"$HC_STATE_DIR/install-started\"\n"
        "if [ -e \"$HC_STATE_DIR/slow-install\" ]; then sleep \"$(cat \"$HC_STATE_DIR/slow-install\")\"; fi\n"
        "if [ -e \"$HC_STATE_DIR/fail-install\" ]; then echo 'install refused: fail-install marker' >&2; exit 3; fi\n"
        "# keep the version this install replaces, for hc_rollback_upgrade.sh\n"
        "if [ -e \"$HC_STATE_DIR/marker\" ]; then cp \"$HC_STATE_DIR/marker\" \"$HC_STATE_DIR/marker.before-$HC_PAYLOAD_VERSION\"; fi\n"
        "echo \"$HC_PAYLOAD_VERSION\" > \"$HC_STATE_DIR/marker\"\n"),
    "hc_verify_upgrade.sh": (
        "#!/bin/sh\n"
        "[ \"$(cat \"$HC_STATE_DIR/marker\" 2>/dev/null)\" = \"$HC_PAYLOAD_VERSION\" ]\n"),
    "hc_rollback_upgrade.sh": (
        "#!/bin/sh\n"
        "# put back the version the install replaced (none: remove the marker)\n"
        "before=\"$HC_STATE_DIR/marker.before-$HC_PAYLOAD_VERSION\"\n"
        "if [ -e \"$before\" ]; then mv \"$before\" \"$HC_STATE_DIR/marker\"; else rm -f \"$HC_STATE_DIR/marker\"; fi\n"),
}

REPORT_CALLBACKS = "hctest_results,waggle.honeycomb.fleet_report"


def build_payload(dest, version="1.0.0"):
    src = Path(dest).parent / ("src-" + version)
    src.mkdir(parents=True, exist_ok=True)
    for name, text in PAYLOAD_SCRIPTS.items():
        (src / name).write_text(text)
        (src / name).chmod(0o755)
    build = Path(sys.executable).parent / "honeycomb-build"
    subprocess.run([str(build), str(src), "-o", str(dest), "--name", "rollout-test", "--version", version,
                    "--peripheral", "rollout-test", "--retries", "install=0"], check=True,
                   capture_output=True, text=True)
    return str(dest)


UPGRADE_TASK = "Upgrade the node (detached job, waited for through dropped tunnels and power cuts)"
"""The name of playbooks/upgrade.yml's upgrade task."""


class UpgradeRun:
    """One playbooks/upgrade.yml run on a simulated fleet: rc, output, every task result (hctest_results)
    and the fleet report (JSON, and the run's report directory)."""

    def __init__(self, rc, log, results, reports):
        import json
        from hctest.fleet import recap
        self.rc, self.log, self.recap = rc, log, recap(log)
        self.records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()] \
            if results.exists() else []
        self.run_dir = (reports / "latest").resolve()
        self.report = json.loads((self.run_dir / "report.json").read_text())
        self.nodes = {n["name"]: n for n in self.report["nodes"]}

    def result(self, task, host):
        found = [r["result"] for r in self.records if r["task"] == task and r["host"] == host]
        assert found, "no result of %r on %s:\n%s" % (task, host, self.log[-6000:])
        return found[-1]

    @property
    def summary(self):
        """The playbook's fleet summary (custom stat honeycomb_rollout for AWX)."""
        return self.result("Publish the fleet summary", "localhost")["summary"]

    def html(self):
        return (self.run_dir / "report.html").read_text()

    def state(self, task, host):
        """ok / failed / unreachable ... of the task on the host, as the callbacks saw it."""
        found = [r["status"] for r in self.records if r["task"] == task and r["host"] == host]
        assert found, "no result of %r on %s" % (task, host)
        return found[-1]

    def junit(self):
        """{test case: its verdict elements (failure, error, skipped; none for a pass)}."""
        import xml.etree.ElementTree as ET
        suite = ET.parse(self.run_dir / "junit.xml").getroot().find("testsuite")
        return {case.get("name"): [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
                for case in suite.iter("testcase")}


def run_upgrade_yml(fleet, work, extra, timeout=900):
    """playbooks/upgrade.yml on a simulated fleet (hctest.fleet) with the extra vars ``extra`` (sanity gate
    and post-check off unless given), the fleet report and every task result written under ``work``."""
    import json
    from hctest.fleet import REPO
    from hctest.playbook import CALLBACKS
    work.mkdir(parents=True, exist_ok=True)
    reports, results = work / "reports", work / "results.jsonl"
    env = fleet.ansible_env()
    env["ANSIBLE_CALLBACK_PLUGINS"] = str(CALLBACKS)
    env["ANSIBLE_CALLBACKS_ENABLED"] = REPORT_CALLBACKS
    env["HCTEST_RESULTS_FILE"] = str(results)
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(reports)
    ev = {"rollout_batches": ["100%"], "rollout_sanity_gate": False, "rollout_post_check": False,
          "rollout_poll_interval": 2, "rollout_reconnect_timeout": 120}
    ev.update(extra)
    run = fleet.ansible_playbook(REPO / "playbooks" / "upgrade.yml", "-e", json.dumps(ev), timeout=timeout, env=env)
    return UpgradeRun(run.returncode, run.stdout + run.stderr, results, reports)
