"""The example payloads work end to end: built with upgrade_build, applied with waggle.honeycomb.upgrade
through a real sshd on loopback (the example's paths are redirected into a tmp dir by parameters)."""

import base64
import json
import tarfile

import pytest

from hctest.sshd import sshd_fixture
from hctest.playbook import REPO, run_playbook

pytestmark = pytest.mark.slow

EXAMPLES = REPO / "examples" / "payloads"


sshd = sshd_fixture(scope="function")


def test_examples_build_and_apply(sshd, tmp_path):
    node = tmp_path / "node"
    etc = node / "etc" / "honeycomb"
    etc.mkdir(parents=True)
    (etc / "version").write_text("1.2.3\n")
    (node / "node-id").write_text("000048B02D0766CD\n")
    (node / "vsn").write_text("W02F\n")
    legacy = tmp_path / "quickstart.tar.gz"
    with tarfile.open(str(legacy), "w:gz") as tf:  # as the 2021 build_upgrade.sh did: tar -czf ../x.tar.gz *
        for path in sorted((EXAMPLES / "legacy-quickstart").iterdir()):
            tf.add(str(path), arcname=path.name)
    common = {"state_dir": str(node / "state"), "node_id_file": str(node / "node-id"),
              "vsn_file": str(node / "vsn")}
    upgrade = dict(common, src=str(tmp_path / "hv.tar.gz"), parameters={"version_file": str(etc / "version")})
    tasks = [
        {"name": "build", "waggle.honeycomb.upgrade_build": {
            "src": str(EXAMPLES / "honeycomb-version"), "dest": str(tmp_path / "hv.tar.gz"),
            "backup_paths": [str(etc)]}, "delegate_to": "localhost", "run_once": True},
        {"name": "check", "waggle.honeycomb.upgrade": upgrade, "check_mode": True},
        {"name": "after check", "ansible.builtin.slurp": {"src": str(etc / "version")}},
        {"name": "apply", "waggle.honeycomb.upgrade": upgrade},
        {"name": "again", "waggle.honeycomb.upgrade": upgrade},
        {"name": "legacy", "waggle.honeycomb.upgrade": dict(common, src=str(legacy))},
    ]
    playbook = json.dumps([{"name": "examples", "hosts": "nodes", "gather_facts": False, "tasks": tasks}])
    res = run_playbook(playbook, {"node1": sshd.host_vars()})
    assert res.rc == 0, res.output
    assert res.result("build", "node1")["changed"] is True
    check = res.result("check", "node1")
    assert check["changed"] is True, check
    assert base64.b64decode(res.result("after check", "node1")["content"]) == b"1.2.3\n"  # check mode wrote nothing
    applied = res.result("apply", "node1")
    assert applied["status"] == "applied" and applied["changed"] is True, applied
    assert (etc / "version").read_text() == "1.2.4\n"
    again = res.result("again", "node1")
    assert again["status"] == "already_applied" and again["changed"] is False, again
    leg = res.result("legacy", "node1")
    assert leg["status"] == "applied", leg
