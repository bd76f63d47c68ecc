"""Fixtures for the waggle.honeycomb.upgrade_build playbook tests (controller only, no sshd needed)."""

import os
import sys

import pytest


@pytest.fixture()
def local_host():
    """Inventory host vars for a connection-less run: upgrade_build never contacts its host."""
    return {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}


@pytest.fixture()
def payload_src(tmp_path):
    """A playbook dir with files/mypayload/ (scripts + honeycomb.yml) and a place for outputs."""
    src = tmp_path / "files" / "mypayload"
    src.mkdir(parents=True)
    for name in ("hc_state_check.sh", "hc_install_upgrade.sh", "hc_verify_upgrade.sh"):
        (src / name).write_text("#!/bin/sh\nexit 0\n")
        os.chmod(str(src / name), 0o755)
    (src / "honeycomb.yml").write_text("version: \"1.0.0\"\n")
    (tmp_path / "out").mkdir()
    return tmp_path
