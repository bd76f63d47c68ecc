"""The EdgeSwitch firmware example payload (examples/payloads/edgeswitch-firmware) through the upgrade
engine: built by the collection's builder (collection_code: [_edgeswitch] adds hc-peripheral and the
handler), run by the engine against the switch simulator on a loopback port. Applied (state, install,
verify), then already applied; an image that does not boot fails install and the engine rolls back:
the switch runs its previous firmware."""

import json
import os
import shutil
import socket
import sys

import pytest
from hctest.edgeswitch import SWITCH_PASSWORD, LoopbackSwitch
from hctest.playbook import REPO
from hctest.upgrade import EngineEnv

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build
from hctools.switchsim.images import make_image

EXAMPLE = REPO / "examples" / "payloads" / "edgeswitch-firmware"
OLD = "1.9.2.5322630"


def free_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def sw(tmp_path, monkeypatch):
    # the payload's scripts run the node's python3 (first on PATH): here one with pexpect and tftpy, as the
    # waggle.honeycomb.node_prereqs role leaves a node
    bindir = tmp_path / "node-bin"
    bindir.mkdir()
    (bindir / "python3").write_text('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable)
    (bindir / "python3").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")))
    with LoopbackSwitch(tmp_path / "switch") as sw:
        yield sw


def payload(tmp_path, version, bootable=True):
    src = tmp_path / ("src-" + version)
    shutil.copytree(str(EXAMPLE), str(src))
    (src / "firmware" / ("ESWH.v%s.stk" % version)).write_bytes(make_image(version, bootable=bootable,
                                                                           size=100 * 1024))
    dest = tmp_path / ("edgeswitch-firmware-%s.tar.gz" % version)
    build.build_payload(str(src), str(dest), options={"version": version})
    return str(dest)


def params(sw, tmp_path):
    return {"parameters": {"host": "127.0.0.1", "port": sw.port, "server_address": "127.0.0.1",
                           "tftp_port": free_udp_port(), "host_key_checking": "off", "reload_timeout": 60,
                           "timeout": 20, "lock_dir": str(tmp_path / "locks")},
            "secret_parameters": {"password": SWITCH_PASSWORD}}


def images(sw):
    import json
    return json.loads((sw.state_dir / "images.json").read_text())


def test_example_payload_upgrades_then_is_already_applied(sw, tmp_path):
    (tmp_path / "node").mkdir()
    env = EngineEnv(tmp_path / "node")
    new = "1.9.3.5400001"
    built = payload(tmp_path, new)
    result = env.run(built, **params(sw, tmp_path))
    assert result["status"] == "applied" and result["changed"] is True, json.dumps(result, indent=1, default=str)[-6000:]
    assert images(sw)["active"]["version"] == new
    again = env.run(built, **params(sw, tmp_path))
    assert again["status"] == "already_applied" and again["changed"] is False, again


def test_image_that_does_not_boot_fails_and_rolls_back(sw, tmp_path):
    (tmp_path / "node").mkdir()
    env = EngineEnv(tmp_path / "node")
    bad = "1.9.4.5400002"
    result = env.run(payload(tmp_path, bad, bootable=False), **params(sw, tmp_path))
    assert result["status"] == "rolled_back", result   # install failed; rollback: the previous firmware runs
    assert "did not start firmware %s" % bad in str(result), result
    assert images(sw)["active"]["version"] == OLD
