"""simfleet's ports mode (no root, no namespaces; docs/simfleet.md): forced as root (--isolation ports or
$SIMFLEET_ISOLATION), and once for real as a throwaway unprivileged user."""

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hctools.simfleet.fleet import fleet_prefix
from hctest.fleet import REPO, VENV_BIN, recap, simfleet, skip_unless_fleet_possible, start_fleet, stop_fleet
from hctest.requires import require_system_tool, skip_unless_root

pytestmark = pytest.mark.fleet


def _fleet_processes(d: Path, prefix: str, marker: str | None = None) -> list[str]:
    """Live processes of the fleet at d: its environment marker (or `marker`) or d in the command line."""
    want = (marker or f"HC_SIMFLEET={prefix}").encode()
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue  # dead, waiting to be reaped
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if want in env or (marker is None and str(d).encode() in cmd):
            found.append(f"{pid}: {cmd[:160]!r}")
    return found


def _ping(fleet, *hosts, env=None) -> subprocess.CompletedProcess:
    argv = [str(VENV_BIN / "ansible"), "-i", str(fleet.inventory), ",".join(hosts) or "nodes", "-m", "ansible.builtin.ping"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env or fleet.ansible_env(),
                          cwd=str(REPO), check=False)


def start_ports_fleet(nodes: int, devices: str):
    """hctest.fleet.start_fleet in ports mode, forced as root by $SIMFLEET_ISOLATION (set only meanwhile)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMFLEET_ISOLATION", "ports")
        return start_fleet(nodes, devices=devices, restart_delay=1.0)


@pytest.fixture(scope="module")
def pfleet():
    skip_unless_fleet_possible()
    f = start_ports_fleet(3, "switch,camera")
    try:
        yield f
    finally:
        stop_fleet(f)


def test_ports_mode_is_recorded_and_uses_no_namespaces(pfleet):
    st = pfleet.status()
    assert st["isolation"] == "ports"
    assert json.loads((pfleet.dir / "fleet.json").read_text())["isolation"] == "ports"
    assert all((n["power"], n["link"], n["tunnel"]) == ("on", "up", "up") for n in st["nodes"])
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    assert [n for n in netns if n.startswith(st["prefix"])] == []
    ports = [p for n in st["nodes"] for p in n["ports"].values()]
    assert len(ports) == len(set(ports)) == 18 and st["bastion_port"] not in ports
    # each node's sshd listens on its own loopback port only; the operator goes through the bastion
    for n in st["nodes"]:
        conf = (Path(n["dir"]) / "etc-ssh" / "sshd_config").read_text()
        assert f"ListenAddress 127.0.0.1:{n['ports']['ssh']}\n" in conf
    inv = simfleet("inventory", "--dir", str(pfleet.dir)).stdout
    assert "socat - UNIX-CONNECT:%s/bastion/home_dirs/node-" % pfleet.dir in inv
    r = pfleet.cli("wait-devices")
    assert "127.0.0.1 ports" in r.stdout


def test_ansible_reaches_each_node_through_the_bastion(pfleet):
    r = _ping(pfleet)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == 3
    for n in pfleet.nodes:
        out = pfleet.ssh(n["vsn"], 'cat "$SIMFLEET_ETC_WAGGLE/node-id"; echo "$HC_SIMFLEET_NODE"').stdout.split()
        assert out == [n["node_id"], f"{pfleet.status()['prefix']}-{n['vsn']}"]


def test_example_upgrade_reaches_each_nodes_own_state_dir(pfleet, tmp_path):
    pfleet.cli("wait-devices")  # the sanity gate checks the switch and camera simulators
    payload = tmp_path / "hv.tar.gz"
    subprocess.run([str(VENV_BIN / "honeycomb-build"), str(REPO / "examples" / "payloads" / "honeycomb-version"),
                    "-o", str(payload)], check=True, capture_output=True, text=True)
    extra = {"payload": str(payload), "rollout_poll_interval": 1, "rollout_batches": ["100%"],
             "upgrade_parameters": {"version_file": "{{ simfleet_etc_waggle }}/honeycomb/version"},
             "sanity_report_dir": str(tmp_path / "sanity")}
    env = pfleet.ansible_env()
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(tmp_path / "reports")
    r = pfleet.ansible_playbook(REPO / "playbooks" / "upgrade.yml", "-e", json.dumps(extra), env=env)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert "applied 3" in r.stdout, r.stdout[-3000:]
    # the sanity gate ran with the inventory's per-node settings and let every node through
    assert all(v["failed"] == 0 and v["unreachable"] == 0 for k, v in recap(r.stdout).items())
    for n in pfleet.nodes:
        nd = Path(n["dir"])
        assert (nd / "etc-waggle" / "honeycomb" / "version").read_text().strip() == "1.2.4"
        installed = json.loads((nd / "honeycomb" / "installed.json").read_text())
        assert "honeycomb-version" in json.dumps(installed)
    extra.update({"rollout_sanity_gate": False, "rollout_post_check": False})
    again = pfleet.ansible_playbook(REPO / "playbooks" / "upgrade.yml", "-e", json.dumps(extra), env=env)
    assert again.returncode == 0 and "already" in again.stdout.split("PLAY RECAP")[-1], again.stdout[-3000:]


IDENTITY_PAYLOAD = {
    "honeycomb.yml": "name: whoami\nversion: \"1.0.0\"\nperipheral: whoami\n"
                     "parameters:\n  type: object\n  properties:\n    out_file:\n      type: string\n",
    "hc_state_check.sh": '#!/bin/sh\n[ -e "$HC_PARAM_OUT_FILE" ] && exit 100\nexit 0\n',
    "hc_install_upgrade.sh": '#!/bin/sh\nprintf "%s %s\\n" "$HC_NODE_ID" "$HC_VSN" > "$HC_PARAM_OUT_FILE"\n',
    "hc_verify_upgrade.sh": '#!/bin/sh\ntest -s "$HC_PARAM_OUT_FILE"\n',
}


def test_payload_scripts_see_each_nodes_own_id_and_vsn(pfleet, tmp_path):
    """upgrade.yml hands the inventory's honeycomb_node_id_file / honeycomb_vsn_file to the engine:
    without namespaces the host's /etc/waggle is not the node's."""
    src = tmp_path / "whoami"
    src.mkdir()
    for name, text in IDENTITY_PAYLOAD.items():
        (src / name).write_text(text)
        (src / name).chmod(0o755)
    payload = tmp_path / "whoami.tar.gz"
    subprocess.run([str(VENV_BIN / "honeycomb-build"), str(src), "-o", str(payload)],
                   check=True, capture_output=True, text=True)
    extra = {"payload": str(payload), "rollout_poll_interval": 1, "rollout_batches": ["100%"],
             "rollout_sanity_gate": False, "rollout_post_check": False,
             "upgrade_parameters": {"out_file": "{{ honeycomb_state_dir }}/whoami.txt"}}
    env = pfleet.ansible_env()
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(tmp_path / "reports")
    r = pfleet.ansible_playbook(REPO / "playbooks" / "upgrade.yml", "-e", json.dumps(extra), env=env)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    for n in pfleet.nodes:
        assert (Path(n["dir"]) / "honeycomb" / "whoami.txt").read_text().split() == [n["node_id"], n["vsn"]]


def test_power_cut_kills_every_node_process_and_power_on_boots(pfleet):
    w1 = pfleet.nodes[0]
    prefix = pfleet.status()["prefix"]
    marker = f"HC_SIMFLEET_NODE={prefix}-W001"
    # a daemon that left the session (setsid, reparented) and files on the volatile and persistent disk
    pfleet.ssh("W001", 'setsid sleep 3600 </dev/null >/dev/null 2>&1 & touch "$TMPDIR/volatile" "$SIMFLEET_RUN/x"; '
                       'echo kept > "$SIMFLEET_ETC_WAGGLE/../honeycomb/disk"')
    nd = Path(w1["dir"])
    assert _fleet_processes(pfleet.dir, prefix, marker)
    sshd_conf = str(nd / "etc-ssh" / "sshd_config")
    pfleet.power_cut("W001")
    assert _fleet_processes(pfleet.dir, prefix, marker) == []
    assert not [p for p in _fleet_processes(pfleet.dir, prefix) if sshd_conf in p]
    st = {n["vsn"]: n for n in pfleet.status()["nodes"]}
    assert st["W001"]["power"] == "off" and st["W002"]["power"] == "on"
    assert _ping(pfleet, "W002").returncode == 0
    pfleet.power_on("W001")
    assert not (nd / "tmp" / "volatile").exists() and not (nd / "run" / "x").exists()
    assert (nd / "honeycomb" / "disk").read_text().strip() == "kept"
    assert (nd / "run" / "initramfs" / "fsck.log").exists()
    assert _ping(pfleet, "W001").returncode == 0


def test_dropped_tunnel_is_unreachable_until_restored(pfleet):
    pfleet.drop_tunnel("W002")
    try:
        r = _ping(pfleet, "W002")
        assert r.returncode != 0 and "UNREACHABLE" in r.stdout, r.stdout + r.stderr
        assert _ping(pfleet, "W003").returncode == 0
    finally:
        pfleet.restore_tunnel("W002")
    assert _ping(pfleet, "W002").returncode == 0


def test_faults_in_ports_mode(pfleet):
    # a running fleet keeps its mode: later commands need no --isolation nor $SIMFLEET_ISOLATION
    assert "SIMFLEET_ISOLATION" not in os.environ
    r = pfleet.cli("fault", "W003", "lan0-down", check=False)
    assert r.returncode == 2 and "needs namespaces mode" in r.stderr
    pfleet.cli("fault", "W003", "camera-down")
    try:
        assert pfleet.status()["nodes"][2]["devices"]["camera"] == "stopped"
        pfleet.cli("fault", "W003", "k3s-notready")
        out = pfleet.ssh("W003", '"$(dirname "$SIMFLEET_ETC_WAGGLE")/../../sim/bin/kubectl" get nodes').stdout
        assert "NotReady" in out
    finally:
        pfleet.cli("fault", "W003", "camera-down", "--off")
        pfleet.cli("fault", "W003", "k3s-notready", "--off")
    pfleet.cli("wait-devices")


def test_down_leaves_no_process_also_without_the_state_file():
    skip_unless_fleet_possible()
    for lose_state in (False, True):
        d = Path(tempfile.mkdtemp(prefix="hcf-", dir="/tmp"))
        try:
            simfleet("up", "--nodes", "2", "--dir", str(d), "--devices", "switch", "--isolation", "ports",
                     "--restart-delay", "1", "--no-remember")
            prefix = json.loads((d / "fleet.json").read_text())["prefix"]
            assert _fleet_processes(d, prefix)
            r = subprocess.run(["ssh", "-F", str(d / "ssh_config"), "-o", "BatchMode=yes", "W001",
                                "setsid sleep 3600 </dev/null >/dev/null 2>&1 & echo started"],
                               capture_output=True, text=True, timeout=60, check=False)
            assert "started" in r.stdout, r.stderr
            if lose_state:
                (d / "fleet.json").unlink()
            simfleet("down", "--dir", str(d))
            assert _fleet_processes(d, prefix) == []
        finally:
            stop_fleet(d)


# ---------------------------------------------------------------------------------------- without root

USER = "hcsimfleet"


def _kill_user_processes(uid: int) -> None:
    """Every process of the throwaway user (all started by this test), by pid."""
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@pytest.fixture
def unprivileged_user():
    """A throwaway user with a shell and a home in a temp dir; deleted with its files afterwards."""
    skip_unless_root("creating a throwaway user")
    for tool, package in (("useradd", "passwd"), ("userdel", "passwd"), ("setpriv", "util-linux"),
                          ("unshare", "util-linux")):
        require_system_tool(tool, package)
    skip_unless_fleet_possible()
    with pytest.raises(KeyError):
        pwd.getpwnam(USER)  # a leftover of a killed run would be reused silently otherwise
    base = Path(tempfile.mkdtemp(prefix="hcu-", dir="/tmp"))
    base.chmod(0o755)
    home = base / "home"
    r = subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh",
                        "--user-group", USER], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"useradd (as root) failed: {r.stderr.strip()}", pytrace=False)
    pw = pwd.getpwnam(USER)
    try:
        yield pw, base
    finally:
        _kill_user_processes(pw.pw_uid)
        time.sleep(0.2)
        subprocess.run(["userdel", "--remove", USER], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def _as_user(pw, base: Path, script: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run script with sh as the unprivileged user (no capabilities, no new privileges).

    The project's interpreter lives under /root (0700 here), which the user may not enter: a private
    mount namespace, made as root before dropping privileges, shows /root as an empty 0755 folder with
    only that interpreter bound back in. Nothing else changes; the user's processes run unprivileged."""
    real_python = Path(os.path.realpath(sys.executable))
    prefix = real_python.parents[1]
    view = ""
    if str(prefix).startswith("/root/"):
        keep = base / "pyview"
        keep.mkdir(exist_ok=True)
        view = (f"mount --bind {prefix} {keep} && mount -t tmpfs -o mode=0755,size=1m tmpfs /root && "
                f"mkdir -p {prefix} && mount --bind {keep} {prefix} && ")
    env = {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin:/usr/sbin", "HOME": pw.pw_dir, "USER": USER,
           "LOGNAME": USER, "LANG": "C.UTF-8", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections"),
           # no ControlPersist master outliving the test
           "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=no -o ServerAliveInterval=15"}
    drop = (f"exec setpriv --reuid={pw.pw_uid} --regid={pw.pw_gid} --init-groups --inh-caps=-all "
            f"--no-new-privs -- /bin/sh -c \"$0\"")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", view + drop, script],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=str(base), check=False)


def test_really_without_root(unprivileged_user):
    pw, base = unprivileged_user
    probe = _as_user(pw, base, f"id -u; {VENV_BIN}/python -c 'import hctools.simfleet, ansible; print(\"importable\")'")
    if "importable" not in probe.stdout:
        pytest.fail(f"the project's venv is not usable by an unprivileged user: {probe.stderr.strip()[-300:]} "
                    "(put the checkout where other users may read it)", pytrace=False)
    assert probe.stdout.split()[0] == str(pw.pw_uid)
    d = Path(pw.pw_dir) / "f"
    prefix = fleet_prefix(d)
    up = _as_user(pw, base, f"simfleet up --nodes 2 --devices none --restart-delay 1 --dir {d}")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "(ports mode" in up.stdout
        state = json.loads((d / "fleet.json").read_text())
        assert state["isolation"] == "ports" and state["user"] == USER
        # every process of the fleet runs as the user
        procs = _fleet_processes(d, prefix)
        assert procs
        assert all(os.stat(f"/proc/{p.split(':')[0]}").st_uid == pw.pw_uid for p in procs)
        ping = _as_user(pw, base, f"ansible -i {d}/inventory.yml nodes -m ansible.builtin.ping "
                                  "&& simfleet status --dir " + str(d))
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert ping.stdout.count("SUCCESS") == 2 and "ports mode" in ping.stdout
        who = _as_user(pw, base, f"ssh -F {d}/ssh_config -o BatchMode=yes W002 id -un")
        assert who.stdout.strip() == USER, who.stderr
    finally:
        down = _as_user(pw, base, f"simfleet down --dir {d}")
    assert down.returncode == 0, down.stdout + down.stderr
    assert _fleet_processes(d, prefix) == []
