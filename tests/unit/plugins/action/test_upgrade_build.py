"""Unit tests of the upgrade_build action plugin: path resolution, check mode, refusals.

The plugin never talks to its host, so a real DataLoader and a stub task/connection are enough.
(The full playbook path is covered by tests/integration/upgrade_build/.)
"""

import os
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.waggle.honeycomb.plugins.action.upgrade_build import ActionModule

from hctest.action import make_action


def make_src(path):
    path.mkdir(parents=True)
    for name in ("hc_state_check.sh", "hc_install_upgrade.sh", "hc_verify_upgrade.sh"):
        (path / name).write_text("#!/bin/sh\nexit 0\n")
        os.chmod(str(path / name), 0o755)
    return path


def run_action(basedir, args, check_mode=False):
    action = make_action(ActionModule, basedir, "waggle.honeycomb.upgrade_build", args, check_mode=check_mode)
    with mock.patch.object(ActionModule, "_early_needs_tmp_path", return_value=False):
        return action.run(task_vars={})


@pytest.fixture()
def playbook_dir(tmp_path):
    make_src(tmp_path / "files" / "payload")
    (tmp_path / "build").mkdir()
    return tmp_path


def test_relative_src_found_in_files_dir_and_dest_relative_to_playbook(playbook_dir):
    r = run_action(playbook_dir, {"src": "payload", "dest": "build/p.tar.gz", "version": "1.0"})
    assert not r.get("failed"), r
    assert r["changed"] is True and r["dest"] == str(playbook_dir / "build" / "p.tar.gz")
    assert (playbook_dir / "build" / "p.tar.gz").is_file()
    assert r["manifest"]["name"] == "payload" and r["manifest"]["version"] == "1.0"
    again = run_action(playbook_dir, {"src": "payload", "dest": "build/p.tar.gz", "version": "1.0"})
    assert again["changed"] is False and again["sha256"] == r["sha256"]


def test_check_mode_writes_nothing(playbook_dir):
    r = run_action(playbook_dir, {"src": "payload", "dest": "build/p.tar.gz", "version": "1.0"}, check_mode=True)
    assert r["changed"] is True
    assert os.listdir(str(playbook_dir / "build")) == []


def test_refusal_and_missing_src(playbook_dir):
    os.chmod(str(playbook_dir / "files" / "payload" / "hc_verify_upgrade.sh"), 0o644)
    r = run_action(playbook_dir, {"src": "payload", "dest": "build/p.tar.gz", "version": "1.0"})
    assert r["failed"] is True and "hc_verify_upgrade.sh" in r["msg"] and "not executable" in r["msg"]
    assert r["payload_error"] == {"member": "hc_verify_upgrade.sh", "reason": "the verify script is not executable"}
    r = run_action(playbook_dir, {"src": "nothere", "dest": "build/p.tar.gz", "version": "1.0"})
    assert r["failed"] is True and "nothere" in r["msg"]
    assert os.listdir(str(playbook_dir / "build")) == []


def test_bad_option_type(playbook_dir):
    # validate_argument_spec raises; Ansible's task executor turns that into a failed task
    with pytest.raises(AnsibleActionFail, match="retries"):
        run_action(playbook_dir, {"src": "payload", "dest": "build/p.tar.gz", "version": "1.0", "retries": "many"})
    with pytest.raises(AnsibleActionFail, match="dest"):
        run_action(playbook_dir, {"src": "payload"})
