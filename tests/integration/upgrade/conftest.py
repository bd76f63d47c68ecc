"""Fixtures of the upgrade integration tests: one real loopback sshd per test module, and per-test
"nodes" (state dir, node-id and vsn files in a tmp dir, passed to the module as options)."""

import json
from pathlib import Path

import pytest

from hctest.sshd import sshd_fixture


sshd = sshd_fixture()


class Node:
    """A simulated node's files inside a tmp dir; ``opts()`` are the module options pointing at them."""

    def __init__(self, root, name="node"):
        self.root = Path(root)
        self.name = name
        self.state = self.root / "state"
        self.target = self.root / "target"
        self.target.mkdir(parents=True, exist_ok=True)
        self.node_id = self.root / "node-id"
        self.node_id.write_text("000048B02D0766CD\n")
        self.vsn = self.root / "vsn"
        self.vsn.write_text("W02F\n")

    def opts(self, **extra):
        data = {"state_dir": str(self.state), "node_id_file": str(self.node_id), "vsn_file": str(self.vsn),
                "kill_grace": 1}
        data.update(extra)
        return data

    def jobs(self):
        jobs_dir = self.state / "jobs"
        if not jobs_dir.is_dir():
            return []
        return [json.loads((d / "journal.json").read_text()) for d in sorted(jobs_dir.iterdir())
                if (d / "journal.json").exists()]

    def files_outside_jobs(self):
        """Everything under the state dir except inside jobs/<id>/ (what a refusal must not create)."""
        if not self.state.exists():
            return []
        return sorted(str(p.relative_to(self.state)) for p in self.state.rglob("*")
                      if not str(p.relative_to(self.state)).startswith("jobs/"))


@pytest.fixture
def make_node(tmp_path):
    def make(name="node"):
        return Node(tmp_path / name, name)
    return make
