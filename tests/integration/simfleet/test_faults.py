"""Reaching nodes through the tunnels, and the faults the fleet provokes (power cut, tunnel drop)."""

import subprocess
from pathlib import Path

import pytest
from hctest.fleet import recap

pytestmark = pytest.mark.fleet
HERE = Path(__file__).parent


def test_ansible_reaches_every_node_through_its_tunnel(fleet3):
    r = fleet3.ansible_playbook(HERE / "playbooks" / "identity.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    rc = recap(r.stdout)
    assert sorted(rc) == ["W001", "W002", "W003"]
    assert all(v["ok"] == 4 and v["failed"] == 0 and v["unreachable"] == 0 for v in rc.values())


def test_node_sees_production_paths_and_hostname(fleet3):
    n = fleet3.node("W002")
    out = fleet3.ssh("W002", "cat /etc/waggle/node-id /etc/waggle/vsn; hostname; "
                             "stat -c %a /var/lib/honeycomb; findmnt -n -o FSTYPE /tmp; findmnt -n -o FSTYPE /run; "
                             "ps -o pid= -p 1").stdout.split()
    assert out[:3] == [n["node_id"], "W002", f"ws-nxcore-{n['node_id']}"]
    assert out[3:6] == ["700", "tmpfs", "tmpfs"]
    assert out[6] == "1"  # own pid namespace


def test_lan_addresses_exist_only_inside_the_node(fleet3):
    root = subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True, check=True).stdout
    assert "10.31.81." not in root
    n = fleet3.node("W001")
    node = subprocess.run(["ip", "-n", n["netns"], "-br", "addr"], capture_output=True, text=True, check=True).stdout
    assert "10.31.81.1/24" in node and "lan0" in node
    lan = subprocess.run(["ip", "-n", n["lan_netns"], "-br", "addr"], capture_output=True, text=True,
                         check=True).stdout
    assert "10.31.81.2/24" in lan and "10.31.81.10/24" in lan
    routes = subprocess.run(["ip", "-n", n["netns"], "route"], capture_output=True, text=True, check=True).stdout
    assert "default" not in routes  # no way out but the tunnel
    # from inside the node the camera address answers (connection refused = a host is there)
    probe = ("python3 -c 'import socket,sys\ns=socket.socket();s.settimeout(3)\n"
             "try:\n s.connect((\"10.31.81.10\",9))\nexcept ConnectionRefusedError:\n print(\"refused\")'")
    assert fleet3.ssh("W001", probe).stdout.strip() == "refused"


def test_power_cut_loses_tmp_keeps_disk_and_node_comes_back(fleet3):
    fleet3.ssh("W002", "echo volatile > /tmp/t; echo durable > /var/lib/honeycomb/d; echo run > /run/r")
    fleet3.power_cut("W002")
    st = {n["vsn"]: n for n in fleet3.status()["nodes"]}
    assert st["W002"]["power"] == "off" and st["W002"]["tunnel"] == "down"
    assert st["W001"]["tunnel"] == "up" and st["W003"]["tunnel"] == "up"  # nobody else disturbed
    assert fleet3.ssh("W002", "true", check=False, timeout=60).returncode == 255
    # every process of the node died with its init
    n = fleet3.node("W002")
    assert subprocess.run(["ip", "netns", "pids", n["netns"]], capture_output=True, text=True,
                          check=False).stdout.strip() == ""

    fleet3.power_on("W002")
    out = fleet3.ssh("W002", "ls /tmp; cat /var/lib/honeycomb/d; test -e /run/r && echo run-kept; "
                             "pgrep -x sshd >/dev/null && echo sshd; pgrep -f 'ssh -N' >/dev/null && echo tunnel")
    assert out.stdout.split() == ["durable", "sshd", "tunnel"]


def test_dropped_tunnel_is_unreachable_not_failed_and_comes_back(fleet3):
    fleet3.drop_tunnel("W003")
    assert {n["vsn"]: n["tunnel"] for n in fleet3.status()["nodes"]}["W003"] == "down"
    r = fleet3.ansible_playbook(HERE / "playbooks" / "identity.yml")
    rc = recap(r.stdout)
    assert r.returncode == 4, r.stdout + r.stderr  # 4: some hosts unreachable
    assert rc["W003"]["unreachable"] == 1 and rc["W003"]["failed"] == 0
    assert rc["W001"]["ok"] == 4 and rc["W002"]["ok"] == 4

    fleet3.restore_tunnel("W003")
    r = fleet3.ansible_playbook(HERE / "playbooks" / "identity.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert recap(r.stdout)["W003"]["ok"] == 4
