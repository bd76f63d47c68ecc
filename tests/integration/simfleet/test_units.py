"""Compute units (`simfleet up --units nxagent,rpi`): an nxagent and a Raspberry Pi behind each node's nxcore,
upgraded and read by the shipped playbooks through the nxcore, the Pi's state on /media/plugin-data."""

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from hctest.fleet import VENV_BIN, fleet_fixture, recap
from hctest.payloads import build_script_payload, marker_scripts

pytestmark = pytest.mark.fleet
REPO = Path(__file__).parents[3]
VERSION = "3.1.0"
NAME = "unit-test"
MARK = f"/media/plugin-data/hc-test/{NAME}"

fleet = fleet_fixture(2, units="nxagent,rpi")


def build_payload(tmp: Path, mark: str) -> Path:
    """Installs VERSION into <mark>/version (a shell word) of the host it runs on."""
    install = f"set -eu\nmkdir -p {mark}\nhostname > {mark}/host\necho {VERSION} > {mark}/version\n"
    return build_script_payload(tmp / f"{NAME}.tar.gz", marker_scripts(mark, VERSION, install, rollback=None),
                                name=NAME, version=VERSION, description="compute unit test")


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    """Installs VERSION into /media/plugin-data/hc-test/<name>/version (namespaces mode: the unit's disk)."""
    return build_payload(tmp_path_factory.mktemp("unit-payload"), MARK)


def unit_dir(fleet, vsn: str, unit: str) -> Path:
    return fleet.dir / "nodes" / vsn / "units" / unit


def marker(fleet, vsn: str, unit: str | None) -> Path:
    """The payload's version file as seen from the host: on the unit's (or nxcore's) plugin-data disk."""
    base = unit_dir(fleet, vsn, unit) if unit else fleet.dir / "nodes" / vsn
    return base / "media-plugin-data" / "hc-test" / NAME / "version"


def adhoc(fleet, pattern: str, command: str) -> dict:
    """{host: stdout} of `ansible PATTERN -m shell -a COMMAND` through the fleet's inventory."""
    r = subprocess.run([str(VENV_BIN / "ansible"), "-i", str(fleet.inventory), pattern, "-m", "ansible.builtin.shell",
                        "-a", command, "-o"], capture_output=True, text=True, env=fleet.ansible_env(), cwd=str(REPO),
                       timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    for line in r.stdout.splitlines():
        host, _sep, rest = line.partition(" | ")
        out[host] = rest.split("(stdout) ", 1)[1].replace("\\n", "\n") if "(stdout) " in rest else ""
    return out


def rollout(fleet, payload, tmp_path, hosts: str, **settings) -> subprocess.CompletedProcess:
    extra = {"payload": str(payload), "rollout_hosts": hosts, "rollout_poll_interval": 1,
             "rollout_batches": ["100%"], "sanity_report_dir": str(tmp_path / "sanity"), **settings}
    env = fleet.ansible_env()
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(tmp_path / "reports")
    return fleet.ansible_playbook(REPO / "playbooks" / "upgrade.yml", "-e", json.dumps(extra), env=env)


def test_units_are_hosts_behind_their_nxcore(fleet):
    """Each unit is its own computer on its node's LAN; the operator's connection arrives from the nxcore."""
    out = adhoc(fleet, "W001*", 'hostname; echo "$SSH_CONNECTION" | cut -d" " -f1,3')
    assert out["W001"].split("\n")[0] == f"ws-nxcore-{fleet.node('W001')['node_id']}"
    assert out["W001-nxagent"].split("\n") == ["ws-nxagent", "10.31.81.1 10.31.81.3"]
    assert out["W001-rpi"].split("\n") == ["ws-rpi", "10.31.81.1 10.31.81.4"]


def test_a_unit_accepts_only_its_nxcore(fleet):
    """Like the real units' hosts.allow: from another address of the LAN (the switch's) the login is refused."""
    lan = fleet.node("W001")["lan_netns"]
    r = subprocess.run(["ip", "netns", "exec", lan, "ssh", "-b", "10.31.81.2", "-i", str(fleet.operator_key),
                        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "ConnectTimeout=10", "root@10.31.81.3", "true"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 255 and "Permission denied" in r.stderr, r.stderr


def test_upgrade_an_nxagent_through_its_nxcore(fleet, payload, tmp_path):
    """upgrade.yml limited to the nxagent group: the agents are upgraded (sanity gate included), nothing else."""
    r = rollout(fleet, payload, tmp_path, "nxagent")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    rc = recap(r.stdout)
    assert {h for h in rc if h != "localhost"} == {"W001-nxagent", "W002-nxagent"}
    assert all(v["failed"] == 0 and v["unreachable"] == 0 for v in rc.values()), rc
    report = json.loads((tmp_path / "sanity" / "sanity-pre.json").read_text())
    assert {h: v["status"] for h, v in report["hosts"].items()} == {"W001-nxagent": "pass", "W002-nxagent": "pass"}
    for vsn in ("W001", "W002"):
        assert marker(fleet, vsn, "nxagent").read_text().strip() == VERSION
        assert (marker(fleet, vsn, "nxagent").parent / "host").read_text().strip() == "ws-nxagent"
        installed = json.loads((unit_dir(fleet, vsn, "nxagent") / "honeycomb" / "installed.json").read_text())
        assert installed[NAME]["version"] == VERSION
        assert not marker(fleet, vsn, None).exists() and not marker(fleet, vsn, "rpi").exists()


def test_upgrade_a_whole_node_with_its_units(fleet, payload, tmp_path):
    """W002 and its units in one rollout (no sanity gate or post-check: this fleet has no switch for the nxcore's checks);
    its agent already has the version; the Pi's state goes to plugin-data."""
    r = rollout(fleet, payload, tmp_path, "W002*", rollout_sanity_gate=False,
                rollout_post_check=False)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    rc = recap(r.stdout)
    assert {h for h in rc if h != "localhost"} == {"W002", "W002-nxagent", "W002-rpi"}
    assert all(v["failed"] == 0 and v["unreachable"] == 0 for v in rc.values()), rc
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert {n["name"]: n["status"] for n in report["nodes"]} == {
        "W002": "applied", "W002-nxagent": "already_applied", "W002-rpi": "applied"}
    for unit in (None, "nxagent", "rpi"):
        assert marker(fleet, "W002", unit).read_text().strip() == VERSION
    pi_state = unit_dir(fleet, "W002", "rpi") / "media-plugin-data" / "honeycomb"
    assert json.loads((pi_state / "installed.json").read_text())[NAME]["version"] == VERSION
    assert not marker(fleet, "W001", None).exists() and not marker(fleet, "W001", "rpi").exists()


def test_status_on_a_pi_after_a_reboot(fleet, payload, tmp_path):
    """The Pi's root is volatile: after a power cycle its /var/lib/honeycomb is empty, and status.yml (the
    rpi group's state dir on /media/plugin-data) still reads the version the rollout installed."""
    if not marker(fleet, "W002", "rpi").exists():
        assert rollout(fleet, payload, tmp_path, "W002-rpi", rollout_sanity_gate=False,
                       rollout_post_check=False).returncode == 0
    adhoc(fleet, "W002-rpi", "echo written > /var/lib/honeycomb/volatile-probe")
    fleet.power_cut("W002")
    assert fleet.status()["nodes"][1]["units"] == {"nxagent": "off", "rpi": "off"}
    fleet.power_on("W002")
    assert fleet.status()["nodes"][1]["units"] == {"nxagent": "on", "rpi": "on"}
    assert adhoc(fleet, "W002-rpi", "ls -A /var/lib/honeycomb; echo end")["W002-rpi"].strip() == "end"

    r = fleet.ansible_playbook(REPO / "playbooks" / "status.yml", "-e", "rollout_hosts=rpi")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    # the table's rows (debug output of "Show which version of each peripheral runs on which node")
    rows = {m.group(1): m.group(2).split() for m in re.finditer(r'^\s*"(W00\d-rpi)\s+([^"]*)"', r.stdout, re.M)}
    assert rows == {"W001-rpi": ["-"], "W002-rpi": [VERSION]}, r.stdout[-3000:]


def _plugin_config(fleet, tmp_path, **extra) -> Path:
    """A waggle.honeycomb.beekeeper configuration for the fleet's Beekeeper JSON (its computes list the units)."""
    nodes = tmp_path / "nodes.json"
    nodes.write_text(fleet.cli("inventory", "--format", "beekeeper").stdout)
    conf = {"plugin": "waggle.honeycomb.beekeeper", "path": str(nodes), "bastion_host": "127.0.0.1",
            "bastion_port": fleet.bastion_port, "bastion_key": str(fleet.operator_key),
            "node_key": str(fleet.operator_key), "units": ["nxagent", "rpi"],
            "extra_ssh_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"}
    conf.update(extra)
    path = tmp_path / "units.beekeeper.yml"
    path.write_text(yaml.safe_dump(conf))
    return path


def test_plugin_units_agree_with_the_simulated_fleet(fleet, tmp_path):
    """The plugin (without shared bastion logins, as simfleet's inventory) gives the units the same hosts,
    groups, ProxyCommand chain and state dir as `simfleet inventory`."""
    env = fleet.ansible_env(control_dir=tmp_path / "cp")
    listing = {}
    plugin_inv = _plugin_config(fleet, tmp_path, bastion_multiplex=False)
    for inv in (plugin_inv, fleet.inventory):
        out = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(inv), "--list"], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
        listing[inv] = json.loads(out)
    plugin, sim = listing[plugin_inv], listing[fleet.inventory]
    for group in ("nxcore", "nxagent", "rpi"):
        assert sorted(plugin[group]["hosts"]) == sorted(sim[group]["hosts"]), group
    for host in ("W001-nxagent", "W002-rpi"):
        p, s = plugin["_meta"]["hostvars"][host], sim["_meta"]["hostvars"][host]
        for key in ("ansible_host", "ansible_ssh_common_args", "compute_unit", "node_host", "node_id"):
            assert unwrap(p.get(key)) == unwrap(s.get(key)), key
    for inv in (plugin, sim):  # the Pi's group variable (simfleet's `all` has the default for the others)
        assert unwrap(inv["_meta"]["hostvars"]["W002-rpi"]["honeycomb_state_dir"]) == "/media/plugin-data/honeycomb"


def unwrap(value):
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def test_plugin_reaches_the_units_through_shared_bastion_logins(fleet, tmp_path):
    """The plugin's default: the nxcore hop of every unit connection goes through the multiplexed bastion."""
    control_dir = Path(tempfile.mkdtemp(prefix="hcu-", dir="/tmp"))
    try:
        inv = _plugin_config(fleet, tmp_path, bastion_control_dir=str(control_dir / "bk"))
        r = subprocess.run([str(VENV_BIN / "ansible"), "-i", str(inv), "nxagent:rpi", "-m", "ansible.builtin.command",
                            "-a", "hostname", "-o"], env=fleet.ansible_env(control_dir=control_dir / "cp"),
                           capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        got = {line.split(" | ")[0]: line.split("(stdout) ")[-1].strip() for line in r.stdout.splitlines()}
        assert got == {"W001-nxagent": "ws-nxagent", "W002-nxagent": "ws-nxagent",
                       "W001-rpi": "ws-rpi", "W002-rpi": "ws-rpi"}
        assert list((control_dir / "bk").glob("bk-*-0")), "no shared bastion connection was opened"
    finally:
        for sock in list(control_dir.glob("*/*")):
            if sock.is_socket():
                subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True,
                               timeout=20, check=False)
        shutil.rmtree(control_dir, ignore_errors=True)


pfleet = fleet_fixture(1, units="nxagent,rpi", isolation="ports", name="pfleet")


def test_ports_mode_units_upgrade_and_status(pfleet, tmp_path):
    """Ports mode (no root): the units are sshds on 127.0.0.1 ports reached through the node's sshd; the Pi's
    state dir is its plugin-data folder, whose content survives a power cycle while its other folders do not."""
    payload = build_payload(tmp_path, '"$HC_STATE_DIR/hc-test"')
    r = rollout(pfleet, payload, tmp_path, "W001-rpi", rollout_post_check=False)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    report = json.loads((tmp_path / "sanity" / "sanity-pre.json").read_text())
    assert report["hosts"]["W001-rpi"]["status"] == "pass", report["hosts"]["W001-rpi"]
    pi = unit_dir(pfleet, "W001", "rpi")
    assert (pi / "media-plugin-data" / "honeycomb" / "hc-test" / "version").read_text().strip() == VERSION
    (pi / "honeycomb" / "volatile-probe").write_text("x")
    pfleet.power_cut("W001")
    pfleet.power_on("W001")
    assert not (pi / "honeycomb" / "volatile-probe").exists()
    r = pfleet.ansible_playbook(REPO / "playbooks" / "status.yml", "-e", "rollout_hosts=W001*")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    rows = {m.group(1): m.group(2).split() for m in re.finditer(r'^\s*"(W001\S*)\s+([^"]*)"', r.stdout, re.M)}
    assert rows == {"W001": ["-"], "W001-nxagent": ["-"], "W001-rpi": [VERSION]}, r.stdout[-3000:]
