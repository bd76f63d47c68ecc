"""Fixture "nodes" for the sanity_check integration tests: a directory per node holding everything
the built-in checks read (identity files, /proc/mounts copy, fsck log, timesync flag, a fake /proc
with the reverse-tunnel ssh cmdline, /sys/class/net/lan0, GPIO values, Waggle test folders), and
the module settings pointing at it. ``break_checks`` makes single checks fail.

The switch and camera checks need real listeners: pass ``switch_port`` (a listening TCP port on
127.0.0.1) and ``camera_port`` (an HTTP server on 127.0.0.1); a broken switch/camera points at
``dead_port`` instead.
"""

import json
import os
import stat
from pathlib import Path

from hctest.sanity import write_proc

TUNNEL = ["ssh", "-o", "ServerAliveInterval 60", "-N", "-R",
          "/home_dirs/node-{id}/rtun.sock:localhost:22", "node-{id}@beekeeper", "-p", "49190"]

GPIOS = {"acok": 492, "pg1": 493, "pg2": 494, "pg3": 495, "pg4": 496}


def _exe(path, body):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def make_node(root, node_id, vsn, switch_port, camera_port, dead_port, break_checks=(), tests=None):
    """Create the node directory ``root`` and return its host vars (sanity_settings, sanity_test_dirs).

    ``tests`` maps "warning/name" or "fatal/name" to a shell body (default: one passing test each).
    """
    root = Path(root)
    broken = set(break_checks)
    etc = root / "etc" / "waggle"
    etc.mkdir(parents=True)
    if "node_identity" in broken:
        (etc / "node-id").write_text(node_id.lower() + "\n")
    else:
        (etc / "node-id").write_text(node_id + "\n")
    (etc / "vsn").write_text(vsn + "\n")

    mounts = ["/dev/mmcblk0p1 /media/root-ro ext4 ro,relatime 0 0",
              "/dev/nvme0n1p3 /media/root-rw ext4 rw,relatime 0 0",
              "/dev/nvme0n1p4 /media/plugin-data ext4 %s,relatime 0 0" % ("ro" if "mounts" in broken else "rw")]
    (root / "mounts").write_text("\n".join(mounts) + "\n")

    (root / "initramfs").mkdir()
    (root / "initramfs" / "fsck.log").write_text(
        "fsck from util-linux 2.31.1\n/dev/mmcblk0p1: %s\n"
        % ("UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY." if "fsck_clean" in broken else "clean, 1/2 files, 3/4 blocks"))

    timesync = root / "timesync"
    timesync.mkdir()
    if "clock_synchronized" not in broken:
        (timesync / "synchronized").write_text("")

    proc = root / "proc"
    proc.mkdir()
    write_proc(proc, 1, ["/sbin/init"])
    write_proc(proc, 80, ["/usr/sbin/sshd", "-D"])
    if "reverse_tunnel" not in broken:
        write_proc(proc, 81, [part.format(id=node_id) for part in TUNNEL])

    net = root / "sys-class-net"
    (net / "lan0").mkdir(parents=True)
    (net / "lan0" / "operstate").write_text("%s\n" % ("down" if "lan0_up" in broken else "up"))

    gpio = root / "gpio"
    for name, number in GPIOS.items():
        (gpio / ("gpio%d" % number)).mkdir(parents=True)
        value = 0 if (name == "acok" and "psu_gpio" in broken) else 1
        (gpio / ("gpio%d" % number) / "value").write_text("%d\n" % value)
    (etc / "node-manifest-v2.json").write_text(json.dumps(
        {"vsn": vsn, "name": node_id, "resources": [{"hardware": {"hardware": "psu-bbbd"}}]}))

    state = root / "var-lib-honeycomb"
    state.mkdir()

    tests = tests if tests is not None else {"warning/node_id_set": "echo 'Node-ID Test: PASS'",
                                             "fatal/lan0_status": "echo 'Lan0 Status Test: Begin'"}
    sanity = root / "sanity"
    (sanity / "warning").mkdir(parents=True)
    (sanity / "fatal").mkdir(parents=True)
    for key, body in tests.items():
        _exe(sanity / (key + ".test"), body)

    settings = {
        "free_space_root": {"path": str(root), "min_free_mb": 1, "min_free_percent": 0},
        "free_space_state": {"path": str(state), "min_free_mb": 1},
        "mounts": {"mounts_file": str(root / "mounts")},
        "fsck_clean": {"log": str(root / "initramfs" / "fsck.log")},
        "clock_synchronized": {"sources": ["timesync_file"], "timesync_file": str(timesync / "synchronized")},
        "node_identity": {"node_id_file": str(etc / "node-id"), "vsn_file": str(etc / "vsn")},
        "reverse_tunnel": {"method": "process", "proc_dir": str(proc)},
        "k3s_node_ready": {"kubectl": str(root / "no-kubectl-on-this-node"), "node_id_file": str(etc / "node-id")},
        "switch_reachable": {"address": "127.0.0.1",
                             "ports": [dead_port if "switch_reachable" in broken else switch_port],
                             "connect_timeout": 2},
        "cameras_http": {"addresses": ["127.0.0.1"],
                         "port": dead_port if "cameras_http" in broken else camera_port,
                         "request_timeout": 2},
        "lan0_up": {"sys_class_net": str(net)},
        "psu_gpio": {"lines": GPIOS, "gpio_dir": str(gpio), "manifest": str(etc / "node-manifest-v2.json"),
                     "config_ini": str(etc / "config.ini")},
    }
    return {
        "sanity_settings": settings,
        "sanity_test_dirs": [{"path": str(sanity / "warning"), "severity": "warning"},
                             {"path": str(sanity / "fatal"), "severity": "fatal"}],
    }


def set_operstate(root, state):
    (Path(root) / "sys-class-net" / "lan0" / "operstate").write_text(state + "\n")


def node_files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))


def exists(path):
    return os.path.exists(path)
