"""Switch faults through the simulated fleet (issue item 4): the switch ends with the new or the previous
configuration, never a torn one, and a re-run converges and says so.

tests/integration/edgeswitch/test_edgeswitch_config.py already proves, against the simulator inside a
node namespace: the management connection dropped mid-push (switch keeps the previous config, or the
backup is restored when the switch had committed), a failed transfer and a rejected config (previous),
and a reload that never returns (result ``new (unverified: the switch is unreachable)``). What it cannot
do is take the *node* away in the middle of a push; this file adds that, through the tunnels:

* the node loses power mid-push (its FTP server and the module die with it; the switch has its own
  supply): the switch holds exactly the previous or the new startup-config; the re-run deploys or finds
  it done, and a further run changes nothing;
* the node's tunnel drops mid-push: the module finishes on the node without its controller; the re-run
  reports no change;
* a reload that never returns, then the switch comes back: the re-run confirms the new configuration
  without pushing or reloading again;
* a firmware upgrade (edgeswitch_firmware) whose node loses power, or whose tunnel drops, while the switch
  copies the image: the switch keeps running and booting its firmware (power cut) or the module finishes
  the upgrade on its own (tunnel drop); the re-run upgrades or finds it done, and a further run changes
  nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hctest import faults as hf
from hctest.fleet import node_python_with, running_fleet, skip_unless_fleet_possible
from hctest.requires import require_module

pytestmark = [pytest.mark.fleet, pytest.mark.slow, pytest.mark.faults_full]
REPO = Path(__file__).resolve().parents[2]
VSN = "W001"
BACKUPS = "/var/lib/honeycomb/edgeswitch-faults"


@pytest.fixture(scope="module")
def switch_fleet():
    skip_unless_fleet_possible()
    require_module("hctools.switchsim", "run `make venv` (installs tools/ as hctools)")
    with running_fleet(1, devices="switch", restart_delay=1.0) as f:
        yield f


@pytest.fixture(scope="module")
def node_python():
    """pexpect/ptyprocess/pyftpdlib/tftpy for the node's /usr/bin/python3 in a folder the node sees at the
    same path (/var/tmp is shared): stands in for the node_prereqs role."""
    with node_python_with(("pexpect", "ptyprocess", "pyftpdlib", "tftpy"), "switch-faults-pylib-") as python:
        yield python


class Lab:
    def __init__(self, fleet, python, tmp):
        self.f, self.python, self.tmp = fleet, python, tmp
        self.node = fleet.node(VSN)
        self.sw = Path(self.node["dir"]) / "switch"
        self.n = 0

    def faults(self, **values):
        (self.sw / "faults.json").write_text(json.dumps(values))

    def startup(self) -> str:
        return (self.sw / "startup-config").read_text()

    def wait_up(self, timeout=120):
        hf.wait_until(lambda: json.loads((self.sw / "status.json").read_text()).get("status") == "up",
                      "the switch to be up", timeout=timeout, interval=0.3)

    def backups(self) -> list[Path]:
        d = Path(self.node["dir"]) / "honeycomb" / Path(BACKUPS).name
        return sorted(d.glob("*.cfg")) if d.is_dir() else []

    def images(self) -> dict:
        return json.loads((self.sw / "images.json").read_text())

    def start(self, content: str, apply: str = "none", reload_timeout: int = 60) -> tuple[subprocess.Popen, Path]:
        args = {"state": "deployed", "content": content, "password": "ubnt", "apply": apply,
                "reload_timeout": reload_timeout, "backup_dir": BACKUPS, "timeout": 20}
        return self.start_task("waggle.honeycomb.edgeswitch_config", args)

    def start_task(self, module: str, args: dict) -> tuple[subprocess.Popen, Path]:
        self.n += 1
        report = self.tmp / f"switch-{self.n}.json"
        play = [{"name": "switch", "hosts": VSN, "gather_facts": False,
                 "vars": {"ansible_python_interpreter": self.python},
                 "tasks": [{"name": "deploy", module: args, "register": "sw",
                            "ignore_errors": True},
                           {"name": "report", "delegate_to": "localhost",
                            "vars": {"ansible_python_interpreter": sys.executable, "ansible_connection": "local"},
                            "ansible.builtin.copy": {"dest": str(report), "mode": "0644",
                                                     "content": "{{ sw | to_json }}"}}]}]
        pb = self.tmp / f"switch-{self.n}.yml"
        pb.write_text(json.dumps(play))
        proc = subprocess.Popen([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.f.inventory),
                                 str(pb)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.f.ansible_env(), cwd=str(REPO))
        return proc, report

    def deploy(self, content: str, **kw) -> dict:
        return self.finish(*self.start(content, **kw))

    def finish(self, proc: subprocess.Popen, report: Path) -> dict:
        out = proc.communicate(timeout=600)[0]
        assert report.exists(), out[-5000:]
        return json.loads(report.read_text())

    def firmware_image(self, version: str) -> str:
        """A simulated image in the node's /var/lib/honeycomb/firmware-faults; returns its path on the node."""
        from hctools.switchsim.images import make_image
        d = Path(self.node["dir"]) / "honeycomb" / "firmware-faults"
        d.mkdir(parents=True, exist_ok=True)
        name = f"ESWH.v{version}.stk"
        (d / name).write_bytes(make_image(version, size=256 * 1024))
        return f"/var/lib/honeycomb/firmware-faults/{name}"

    def start_firmware(self, image: str) -> tuple[subprocess.Popen, Path]:
        return self.start_task("waggle.honeycomb.edgeswitch_firmware", {
            "image": image, "password": "ubnt", "backup_dir": BACKUPS, "timeout": 20, "reload_timeout": 120,
            "transfer_timeout": 120})


@pytest.fixture
def lab(switch_fleet, node_python, tmp_path):
    lab = Lab(switch_fleet, node_python, tmp_path)
    lab.faults()
    lab.wait_up()
    return lab


def variant(text: str, tag: str) -> str:
    lines = text.splitlines(True)
    for i, line in enumerate(lines):
        if line.strip().startswith("description "):
            lines[i] = line.rstrip("\n").rstrip("'") + f" {tag}'\n"
            return "".join(lines)
    raise AssertionError("no description line in the switch config")


@pytest.mark.parametrize("fault", ["power_cut", "tunnel_drop"])
def test_node_lost_mid_push(lab, fault, rng):
    previous = lab.startup()
    new = variant(previous, f"{fault}-{uuid.uuid4().hex[:6]}")
    before = len(lab.backups())
    # the push lasts ~4 s: each CLI command takes 0.5 s and the switch starts fetching the file 2 s after
    # "transfer starting..."; the node goes away at a random moment of it (before the fetch: the switch keeps
    # the previous config; after it: the new one)
    lab.faults(slow=0.5, transfer_delay=2.0)
    proc, report = lab.start(new)
    try:
        hf.wait_until(lambda: len(lab.backups()) > before, "the module to back up and start the push", timeout=300)
        time.sleep(rng.uniform(0.0, 3.0))
        if fault == "power_cut":
            lab.f.power_cut(VSN)
        else:
            lab.f.drop_tunnel(VSN)
        out = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # the node went away before the module could answer (with every host unreachable, ansible-playbook
    # stops before the report play)
    assert "UNREACHABLE!" in out and not report.exists(), out[-3000:]
    lab.faults()
    if fault == "power_cut":
        lab.f.power_on(VSN)
        held = lab.startup()
        assert held in (previous, new), "the switch holds a configuration that is neither the previous nor the new one"
    else:
        lab.f.restore_tunnel(VSN)
        # the module goes on without its controller and finishes the push
        hf.wait_until(lambda: lab.startup() == new, "the module to finish the push on its own", timeout=300)
        held = new
    # the re-run starts while the first run is still verifying and setting the banner on the node: it waits
    # for the switch's lock (it used to find the first run's FTP server on port 21 and fail)
    second = lab.deploy(new)
    assert not second.get("failed"), second
    assert second["changed"] is (held == previous), (held == previous, second)
    assert lab.startup() == new
    third = lab.deploy(new)
    assert not third.get("failed") and third["changed"] is False, third


def test_reload_that_never_returns_then_comes_back(lab):
    previous = lab.startup()
    new = variant(previous, f"reload-{uuid.uuid4().hex[:6]}")
    lab.faults(reload_never_returns=True)
    first = lab.deploy(new, apply="reload", reload_timeout=8)
    assert first.get("failed") and "did not come back" in first["msg"], first
    assert first["switch_config"] == "new (unverified: the switch is unreachable)", first
    lab.faults()
    lab.wait_up()
    assert lab.startup() == new
    reloads = json.loads((lab.sw / "status.json").read_text()).get("reloads")
    second = lab.deploy(new, apply="reload", reload_timeout=60)
    assert not second.get("failed") and second["changed"] is False, second
    assert json.loads((lab.sw / "status.json").read_text()).get("reloads") == reloads  # no second reload
    assert lab.startup() == new


@pytest.mark.parametrize("fault", ["power_cut", "tunnel_drop"])
def test_node_lost_mid_firmware_copy(lab, fault, rng):
    running = lab.images()["active"]["version"]
    target = "1.9.%d.%d" % (rng.randint(10, 99), rng.randint(1000000, 9999999))
    image = lab.firmware_image(target)
    backups = len(lab.backups())
    # the copy lasts ~5 s: each CLI command takes 0.5 s and the switch starts fetching the image 3 s after
    # "transfer starting..."; the node goes away at a random moment of it
    lab.faults(slow=0.5, transfer_delay=3.0)
    proc, report = lab.start_firmware(image)
    try:
        hf.wait_until(lambda: len(lab.backups()) > backups, "the module to save the config and start the copy",
                      timeout=300)
        time.sleep(rng.uniform(0.5, 3.5))
        if fault == "power_cut":
            lab.f.power_cut(VSN)
        else:
            lab.f.drop_tunnel(VSN)
        out = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "UNREACHABLE!" in out and not report.exists(), out[-3000:]
    if fault == "power_cut":
        # the node's TFTP server died with it: the switch's copy fails, nothing is activated
        hf.wait_until(lambda: json.loads((lab.sw / "status.json").read_text()).get("status") == "up",
                      "the switch to be up", timeout=60, interval=0.3)
        lab.faults()
        lab.f.power_on(VSN)
        images = lab.images()
        # still on its firmware; the new image is selected only if the cut came after `boot system backup`
        assert images["active"]["version"] == running, images
        assert images["next"] == "active" or images["backup"]["version"] == target, images
    else:
        lab.faults()
        lab.f.restore_tunnel(VSN)
        # the module goes on without its controller: copy, boot system backup, reload
        hf.wait_until(lambda: lab.images()["active"]["version"] == target, "the module to finish the upgrade on "
                      "its own", timeout=300, interval=0.5)
        lab.wait_up()
    second = lab.finish(*lab.start_firmware(image))
    assert not second.get("failed"), second
    assert second["changed"] is (fault == "power_cut"), second
    assert lab.images()["active"]["version"] == target
    third = lab.finish(*lab.start_firmware(image))
    assert not third.get("failed") and third["changed"] is False, third
