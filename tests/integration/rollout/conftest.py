"""Fixtures for the rollout tests: a loopback sshd serving several inventory nodes, a test payload.

Every inventory node is the same loopback sshd with its own ``honeycomb_state_dir``, so the upgrade
engine keeps one journal, lock and installed.json per node. A node whose ``ansible_port`` has no
listener is unreachable. A ``fail-install`` file in a node's state dir makes the payload's install
script exit 3 (the engine then rolls back).
"""

import os
from pathlib import Path

import pytest
from hctest import sshd as sshd_mod
from hctest.playbook import REPO, run_playbook
from hctest.rollout import REPORT_CALLBACKS, build_payload


@pytest.fixture(scope="session")
def payload(tmp_path_factory):
    return build_payload(tmp_path_factory.mktemp("payload") / "rollout-test-1.0.0.tar.gz")


sshd = sshd_mod.sshd_fixture()


class Fleet:
    """Inventory nodes n1..nN on one loopback sshd, each with its own state dir under ``base``."""

    def __init__(self, sshd, base, count, unreachable=(), failing=()):
        self.base = Path(base)
        self.hosts = {}
        for i in range(1, count + 1):
            name = "n%d" % i
            hv = sshd.host_vars()
            hv["honeycomb_state_dir"] = str(self.base / "state" / name)
            if name in unreachable:
                hv["ansible_port"] = sshd_mod.free_port()  # nothing listens there
            self.hosts[name] = hv
            if name in failing:
                self.state_dir(name).mkdir(parents=True)
                (self.state_dir(name) / "fail-install").write_text("")

    def state_dir(self, name):
        return self.base / "state" / name

    def jobs(self, name):
        d = self.state_dir(name) / "jobs"
        return sorted(os.listdir(d)) if d.is_dir() else []

    def marker(self, name):
        p = self.state_dir(name) / "marker"
        return p.read_text().strip() if p.exists() else None


@pytest.fixture
def make_fleet(sshd, tmp_path):
    made = []

    def make(count, unreachable=(), failing=()):
        made.append(Fleet(sshd, tmp_path / ("fleet%d" % len(made)), count, unreachable=unreachable,
                          failing=failing))
        return made[-1]
    return make


@pytest.fixture
def rollout(tmp_path, payload):
    """Run playbooks/upgrade.yml with the fleet_report callback; returns (result, report dir)."""
    def run(fleet, **extra_vars):
        ev = {"payload": payload, "rollout_sanity_gate": False, "rollout_post_check": False,
              "rollout_poll_interval": 1}
        ev.update(extra_vars)
        reports = tmp_path / "reports"
        res = run_playbook(REPO / "playbooks" / "upgrade.yml", fleet.hosts, extra_vars=ev, env={
            "ANSIBLE_CALLBACKS_ENABLED": REPORT_CALLBACKS,
            "HONEYCOMB_FLEET_REPORT_DIR": str(reports),
        }, timeout=400)
        runs = sorted(p for p in reports.iterdir() if p.name != "latest") if reports.exists() else []
        return res, (runs[-1] if runs else None)
    return run
