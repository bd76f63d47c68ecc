"""Camera firmware as a three-phase payload: examples/payloads/camera-firmware built with upgrade_build
(collection_code ships the node-side handler), run by waggle.honeycomb.upgrade through a real sshd on loopback
against the camera simulator; upgrade_info shows the camera's firmware version under its peripheral."""

import json
import shutil
import subprocess
import sys
import tarfile

import pytest

from hctest.camera import ADMIN
from hctest.playbook import REPO, run_playbook
from hctest.sshd import sshd_fixture
from hctools.camerasim import make_image

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "payloads" / "camera-firmware"
OLD = "2.21.01_20220517_R276"
NEW = "2.22.00_20240101_R300"
PRESETS = {"1": {"name": "North", "pan": 0.0, "tilt": 0.0, "zoom": 1.0}}

sshd = sshd_fixture(scope="function")


def payload_src(tmp_path, model="XNP-6400RW", version=NEW):
    src = tmp_path / "camera-firmware"
    shutil.copytree(str(EXAMPLE), str(src))
    (src / "firmware" / ("%s_%s.img" % (model, version))).write_bytes(make_image(model, version))
    return src


def node_dirs(tmp_path):
    node = tmp_path / "node"
    node.mkdir()
    (node / "node-id").write_text("000048B02D0766CD\n")
    (node / "vsn").write_text("W02F\n")
    return {"state_dir": str(node / "state"), "node_id_file": str(node / "node-id"),
            "vsn_file": str(node / "vsn")}


def tasks_for(src, dest, common, sim, **params):
    upgrade = dict(common, src=str(dest),
                   parameters=dict({"host": "127.0.0.1", "port": sim.port, "poll_interval": 0.1,
                                    "reboot_timeout": 20}, **params),
                   secret_parameters={"password": ADMIN[1]})
    build = {"name": "build", "waggle.honeycomb.upgrade_build": {"src": str(src), "dest": str(dest)},
             "delegate_to": "localhost", "run_once": True}
    return build, upgrade


def test_payload_check_apply_again_and_upgrade_info(sshd, camsim, tmp_path):
    sim = camsim(state={"model": "XNP-6400RW", "firmware": OLD, "presets": PRESETS}, reboot_seconds=0.5,
                 firmware_step_seconds=0.01)
    src = payload_src(tmp_path)
    dest = tmp_path / "camfw.tar.gz"
    common = node_dirs(tmp_path)
    build, upgrade = tasks_for(src, dest, common, sim)
    tasks = [build,
             {"name": "check", "waggle.honeycomb.upgrade": upgrade, "check_mode": True},
             {"name": "apply", "waggle.honeycomb.upgrade": upgrade},
             {"name": "again", "waggle.honeycomb.upgrade": upgrade},
             {"name": "info", "waggle.honeycomb.upgrade_info": {"state_dir": common["state_dir"]}}]
    playbook = json.dumps([{"name": "camera firmware", "hosts": "nodes", "gather_facts": False, "tasks": tasks}])
    res = run_playbook(playbook, {"node1": sshd.host_vars()})
    assert res.rc == 0, res.output
    with tarfile.open(str(dest)) as tf:
        names = tf.getnames()
    assert "hc-peripheral" in names
    assert "hc_lib/ansible_collections/waggle/honeycomb/plugins/module_utils/_camera/firmware.py" in names
    assert "hc_lib/ansible_collections/waggle/honeycomb/plugins/module_utils/_peripheral/cli.py" in names
    check = res.result("check", "node1")
    assert check["changed"] is True, check
    applied = res.result("apply", "node1")
    assert applied["status"] == "applied" and applied["changed"] is True, applied
    again = res.result("again", "node1")
    assert again["status"] == "already_applied" and again["changed"] is False, again
    info = res.result("info", "node1")
    assert info["installed"]["camera-10.31.81.10"]["version"] == NEW, info["installed"]
    state = sim.state()
    assert state["firmware"] == NEW and state["presets"] == PRESETS
    assert [e["event"] for e in state["history"]].count("firmware_update") == 1
    assert ADMIN[1] not in res.output


def test_payload_wrong_model_fails_state_check(sshd, camsim, tmp_path):
    sim = camsim(state={"model": "XNV-8081Z"})
    src = payload_src(tmp_path)
    dest = tmp_path / "camfw.tar.gz"
    common = node_dirs(tmp_path)
    build, upgrade = tasks_for(src, dest, common, sim)
    tasks = [build, {"name": "apply", "waggle.honeycomb.upgrade": upgrade, "ignore_errors": True}]
    playbook = json.dumps([{"name": "camera firmware", "hosts": "nodes", "gather_facts": False, "tasks": tasks}])
    res = run_playbook(playbook, {"node1": sshd.host_vars()})
    applied = res.result("apply", "node1")
    assert res.status("apply", "node1") == "failed", applied
    assert "precondition failed" in applied["msg"], applied
    assert "is for XNP-6400RW but" in json.dumps(applied), applied
    assert sim.state()["firmware"] == "2.10.02_20220308_R251"
    assert '"POST ' not in sim.log.read_text()


def test_hc_peripheral_cli_directly(camsim, tmp_path):
    """The entry point's contract (exit codes, HC-RESULT line) without the engine, via the built payload."""
    sim = camsim(state={"model": "XNP-6400RW", "firmware": OLD}, reboot_seconds=0.3, firmware_step_seconds=0.01)
    src = payload_src(tmp_path)
    dest = tmp_path / "camfw.tar.gz"
    build = subprocess.run([str(REPO / ".venv" / "bin" / "honeycomb-build"), str(src), "-o", str(dest)],
                           capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    job = tmp_path / "job"
    payload = job / "payload"
    payload.mkdir(parents=True)
    with tarfile.open(str(dest)) as tf:
        tf.extractall(str(payload), filter="data")
    env = {"PATH": "/usr/bin:/bin", "HC_PAYLOAD_DIR": str(payload), "HC_PAYLOAD_VERSION": NEW,
           "HC_PARAM_HOST": "127.0.0.1", "HC_PARAM_PORT": str(sim.port), "HC_PARAM_PASSWORD": ADMIN[1],
           "HC_PARAM_POLL_INTERVAL": "0.1", "HC_PARAM_REBOOT_TIMEOUT": "20", "HC_PYTHON": sys.executable}

    def run(*args, **extra):
        return subprocess.run([str(payload / "hc-peripheral")] + list(args), env=dict(env, **extra),
                              capture_output=True, text=True, cwd=str(payload), check=False, timeout=120)

    state = run("camera-firmware", "state")
    assert state.returncode == 0, state.stdout + state.stderr
    result = json.loads(state.stdout.split("HC-RESULT ", 1)[1])
    assert result["status"] == "needed" and result["version"] == OLD and result["target_version"] == NEW
    assert run("camera-firmware", "install").returncode == 0
    assert run("camera-firmware", "verify").returncode == 0
    assert run("camera-firmware", "state").returncode == 100
    down = run("camera-firmware", "state", HC_PARAM_PORT="1")
    assert down.returncode == 21, down.stdout + down.stderr
    assert run("nosuch", "state").returncode == 2
    assert run("camera-firmware", "dance").returncode == 2
    nopw = run("camera-firmware", "state", HC_PARAM_PASSWORD="")
    assert nopw.returncode == 1 and "no camera password" in nopw.stderr
    assert (job / "camera-config.bin").exists() and (job / "camera-presets.json").exists()
