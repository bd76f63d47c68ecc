"""Boot slots through the simulated fleet (docs/upgrade.md "Boot slots", docs/simfleet.md "Boot slots"):
upgrade and upgrade_info report the node's boot slot and boot id; a node already on its recovery slot is
refused (and accepted with allow_recovery_slot); a node the watchdog's last stage switches to its recovery
slot while the job runs is reported inconsistent, naming both slots, and the job is resolved by the resume
rules once the node is back on slot 0."""

import json
import subprocess
import time
from pathlib import Path

import pytest
from hctest.fleet import VENV_BIN, fleet_fixture
from hctest.payloads import TIMEOUTS, build_script_payload, marker_scripts

from hctools.simfleet import bootslot
from hctools.simfleet.fleet import Fleet

pytestmark = pytest.mark.fleet
HERE = Path(__file__).parent
REPO = HERE.parents[2]
VERSION = "3.0.0"

fleet = fleet_fixture(2)


def build_payload(tmp: Path, name: str) -> Path:
    """Install writes /etc/waggle/hc-test/<name>/version; it first sleeps 60 s when .../slow exists."""
    d = f"/etc/waggle/hc-test/{name}"
    install = (f"set -eu\nmkdir -p {d}\ntouch {d}/install-started\n"
               f"if [ -f {d}/slow ]; then rm -f {d}/slow; sleep 60; fi\n"
               f"echo {VERSION} > {d}/version\n")
    return build_script_payload(tmp / f"{name}.tar.gz", marker_scripts(d, VERSION, install), name=name,
                                version=VERSION, description="boot slot test", timeouts=TIMEOUTS)


def node_file(fleet, vsn: str, name: str, fname: str) -> Path:
    return fleet.dir / "nodes" / vsn / "etc-waggle" / "hc-test" / name / fname


def start(fleet, payload: Path, report_dir: Path, target: str, *extra: str) -> subprocess.Popen:
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(fleet.inventory), str(HERE / "playbooks" / "boot_slots.yml"),
            "-e", f"payload={payload}", "-e", f"report_dir={report_dir}", "-e", f"target={target}", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=fleet.ansible_env(), cwd=str(REPO))


def run(fleet, payload: Path, tmp: Path, target: str, *extra: str) -> dict:
    report_dir = Path(tmp) / f"report-{time.monotonic_ns()}"
    report_dir.mkdir()
    proc = start(fleet, payload, report_dir, target, *extra)
    out, _err = proc.communicate(timeout=600)
    path = report_dir / f"{target}.json"
    assert path.exists(), out
    return json.loads(path.read_text())


def node_boot_id(fleet, vsn: str) -> str:
    return fleet.ssh(vsn, "cat /proc/sys/kernel/random/boot_id").stdout.strip()


def switch(fleet, vsn: str, to_recovery: bool) -> None:
    """What h-watchdog's stand-in does at its last stage, through the Python API (with the fleet's lock)."""
    f = Fleet(fleet.dir)
    with f.locked():
        f = Fleet(fleet.dir)  # re-read under the lock
        (bootslot.switch_to_recovery if to_recovery else bootslot.switch_to_normal)(f, vsn)


def test_upgrade_and_upgrade_info_report_the_boot_slot_and_boot_id(fleet, tmp_path):
    payload = build_payload(tmp_path, "plain")
    res = run(fleet, payload, tmp_path, "W001")
    up, info = res["upgrade"], res["info"]
    assert up["status"] == "applied", up
    boot_id = node_boot_id(fleet, "W001")
    assert up["boot"]["slot"] == 0 and up["boot"]["recovery"] is False and up["boot"]["boot_id"] == boot_id
    assert info["boot"] == dict(info["boot"], slot=0, slot_known=True, recovery=False, recovery_slot=1,
                                boot_id=boot_id, slot_command="nvbootctrl get-current-slot", slot_error=None)
    job = info["jobs"][0]
    assert job["job_id"] == up["job_id"] and job["boot"]["slot"] == 0 and job["boot"]["boot_id"] == boot_id
    assert up["wait"]["boot_slots"] == [{"slot": 0, "boot_id": boot_id}]


def test_a_node_on_its_recovery_slot_is_refused_and_accepted_with_the_override(fleet, tmp_path):
    payload = build_payload(tmp_path, "refused")
    fleet.cli("fault", "W002", "recovery")
    try:
        assert fleet.ssh("W002", "nvbootctrl get-current-slot").stdout.strip() == "1"
        res = run(fleet, payload, tmp_path, "W002")
        up, info = res["upgrade"], res["info"]
        assert up["failed"] and up["status"] == "recovery_slot", up
        assert "recovery boot slot 1" in up["msg"] and "allow_recovery_slot: true" in up["msg"]
        assert info["boot"]["recovery"] is True and info["boot"]["slot"] == 1
        assert not node_file(fleet, "W002", "refused", "install-started").exists()  # nothing ran
        # nothing was sent either: the refusal answered the store look-up (upgrade_info may have installed the
        # node-resident engine there; the payload store is empty)
        assert fleet.ssh("W002", "ls -A /var/lib/honeycomb/payloads 2>/dev/null || true").stdout.strip() == ""
        # playbooks/status.yml flags the node (and only it)
        st = fleet.ansible_playbook(REPO / "playbooks" / "status.yml")
        assert st.returncode == 0, st.stdout
        flagged = [line for line in st.stdout.splitlines() if "RECOVERY SLOT" in line]
        assert len(flagged) == 1 and "W002" in flagged[0] and "RECOVERY SLOT 1 (upgrades refused)" in flagged[0], \
            st.stdout

        res = run(fleet, payload, tmp_path, "W002", "-e", "upgrade_allow_recovery_slot=true")
        up = res["upgrade"]
        assert up["status"] == "applied" and up["boot"]["slot"] == 1, up
        assert res["info"]["jobs"][0]["boot"]["slot"] == 1
    finally:
        fleet.cli("fault", "W002", "recovery", "--off")
    # back on slot 0: the recovery slot's journal went with its tmpfs; the node's own state dir never saw it
    info = run(fleet, payload, tmp_path, "W002")["info"]
    assert info["boot"]["slot"] == 0
    assert [j["boot"]["slot"] for j in info["jobs"] if j["name"] == "refused"] == [0]


def test_a_node_switched_to_recovery_mid_job_is_inconsistent_naming_both_slots(fleet, tmp_path):
    payload = build_payload(tmp_path, "switched")
    slow = node_file(fleet, "W001", "switched", "slow")
    slow.parent.mkdir(parents=True, exist_ok=True)
    slow.write_text("")
    report_dir = tmp_path / "mid"
    report_dir.mkdir()
    proc = start(fleet, payload, report_dir, "W001")
    started = node_file(fleet, "W001", "switched", "install-started")
    deadline = time.monotonic() + 120
    while not started.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else "timeout"
        time.sleep(0.1)
    switch(fleet, "W001", to_recovery=True)
    try:
        out, _err = proc.communicate(timeout=600)
        res = json.loads((report_dir / "W001.json").read_text())
        up = res["upgrade"]
        assert up["status"] == "inconsistent" and up["failed"], (up, out)
        assert "from boot slot 0 to boot slot 1 (recovery)" in up["msg"]
        assert [b["slot"] for b in up["wait"]["boot_slots"]] == [0, 1]
        assert res["info"]["boot"]["slot"] == 1 and res["info"]["jobs"] == []  # a fresh state dir there
    finally:
        switch(fleet, "W001", to_recovery=False)
    # back on slot 0 the interrupted job is in the node's own journal and resolved by the resume rules
    res = run(fleet, payload, tmp_path, "W001")
    up = res["upgrade"]
    assert up["status"] == "applied" and up["resumed"] is True, up
    assert node_file(fleet, "W001", "switched", "version").read_text().strip() == VERSION
