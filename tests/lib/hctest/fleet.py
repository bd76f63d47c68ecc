"""Start a simulated fleet for a test and always take it down again (see docs/simfleet.md).

Usage in a test module or conftest.py::

    from hctest.fleet import fleet_fixture

    fleet = fleet_fixture(3, devices="none")   # module-scoped fixture named "fleet"

    def test_x(fleet):
        fleet.ansible_playbook("site.yml", "-e", "x=1")   # -i fleet.inventory is added
        fleet.power_cut("W002"); fleet.power_on("W002")

Every fleet gets its own short directory under /tmp and so its own namespace prefix and node IDs;
several fleets (parallel pytest workers, the demo) can run side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hctest.requires import SYSTEM_DEPS, require_path, require_system_tool, skip_unless_root

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent


def node_visible_dir(prefix: str) -> str:
    """A new directory that simulated nodes see at the same path as the test does.

    Nodes have their own /tmp, /run, /root and /etc/waggle, and the checkout may itself live under
    /tmp (CI clones anywhere), so neither is safe; /var/tmp is shared with the host. The caller
    removes it."""
    return tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")


def write_python_wrapper(dest: Path) -> str:
    """Write dest/python3, the nodes' /usr/bin/python3 with dest first on its module path; return its path."""
    wrapper = dest / "python3"
    wrapper.write_text('#!/bin/sh\nPYTHONPATH=%s exec /usr/bin/python3 "$@"\n' % dest)
    wrapper.chmod(0o755)
    return str(wrapper)


@contextlib.contextmanager
def node_python_with(packages, prefix: str):
    """Yield a node interpreter: the nodes' /usr/bin/python3 with the test venv's copies of the
    pure-Python ``packages`` on its path, in a folder the nodes see (node_visible_dir). Stands in for
    the node_prereqs role where the machine's own Python lacks them; fails when the venv lacks one."""
    import site
    src = Path(site.getsitepackages()[0])
    missing = [pkg for pkg in packages if not (src / pkg).exists()]
    if missing:
        pytest.fail("not in the test venv: %s: run `make venv` (requirements.txt)" % ", ".join(missing), pytrace=False)
    dest = Path(node_visible_dir(prefix))
    try:
        for pkg in packages:
            shutil.copytree(src / pkg, dest / pkg, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
        yield write_python_wrapper(dest)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def skip_unless_fleet_possible() -> None:
    """Skip (with the reason) without root, which no make target can give; fail, naming the command
    that installs them, when the fleet's system tools are missing (tools/system-deps.sh installs them)."""
    skip_unless_root("the simulated fleet uses network, mount and pid namespaces")
    for tool, package in (("ip", "iproute2"), ("socat", "socat"), ("ssh", "openssh-client"),
                          ("ssh-keygen", "openssh-client")):
        require_system_tool(tool, package)
    require_path("/usr/sbin/sshd", "OpenSSH's sshd", "run `sudo %s` (installs openssh-server)" % SYSTEM_DEPS)


def simfleet(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the simfleet CLI (the same Python as pytest) and return the completed process."""
    r = subprocess.run([sys.executable, "-m", "hctools.simfleet", *args], capture_output=True, text=True,
                       check=False, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"simfleet {' '.join(args)} failed rc={r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


@dataclass
class FleetHandle:
    dir: Path
    inventory: Path
    operator_key: Path
    bastion_port: int
    nodes: list[dict] = field(default_factory=list)  # {"vsn", "node_id", "netns", "lan_netns", "dir", ...}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return simfleet(*args, "--dir", str(self.dir), check=check)

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json").stdout)

    def node(self, name: str) -> dict:
        for n in self.nodes:
            if name in (n["vsn"], n["node_id"]):
                return n
        raise KeyError(name)

    def power_cut(self, node: str) -> None:
        self.cli("power-cut", node)

    def power_on(self, node: str) -> None:
        self.cli("power-on", node)

    def drop_tunnel(self, node: str) -> None:
        self.cli("drop-tunnel", node)

    def restore_tunnel(self, node: str) -> None:
        self.cli("restore-tunnel", node)

    def ssh_argv(self, node: str, command: str) -> list[str]:
        """argv for running command on a node through the bastion, as the operator does."""
        return ["ssh", "-F", str(self.dir / "ssh_config"), "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
                node, command]

    def ssh(self, node: str, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        r = subprocess.run(self.ssh_argv(node, command), capture_output=True, text=True, check=False,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"ssh {node} {command!r} rc={r.returncode}: {r.stderr}")
        return r

    def ansible_env(self, control_dir: Path | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
        env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".build" / "collections"))
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
        env["ANSIBLE_FORCE_COLOR"] = "0"
        env["ANSIBLE_NOCOLOR"] = "1"
        # ssh ControlPersist masters of this fleet in their own directory
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir or (self.dir / "cp"))
        return env

    def ansible_playbook(self, playbook: str | Path, *args: str, timeout: float = 600,
                         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ansible-playbook with this fleet's inventory; does not check the return code."""
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                              env=env or self.ansible_env(), cwd=str(REPO))


def recap(stdout: str) -> dict:
    """{host: {"ok": int, "unreachable": int, "failed": int, ...}} from ansible-playbook's PLAY RECAP."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", stdout, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def start_fleet(nodes: int, devices: str = "none", restart_delay: float = 1.0,
                base: str = "/tmp", isolation: str | None = None, link: str | None = None,
                watchdog_scale: float | None = None, units: str | None = None) -> FleetHandle:
    """Start a fleet in a fresh short directory; the caller must call stop_fleet (or use running_fleet).

    isolation: "namespaces" or "ports" (docs/simfleet.md); None lets simfleet choose.
    link: a --link value (a profile such as lte, or a mix); None: simfleet's default (lan).
    watchdog_scale: run the network watchdog stand-in on this time scale (--watchdog-scale); None: none.
    units: a --units value (compute units besides nxcore, e.g. "nxagent,rpi"); None: none."""
    d = Path(tempfile.mkdtemp(prefix="hcf-", dir=base))
    try:
        simfleet("up", "--nodes", str(nodes), "--dir", str(d), "--devices", devices,
                 "--restart-delay", str(restart_delay), "--no-remember",
                 *(("--isolation", isolation) if isolation else ()), *(("--link", link) if link else ()),
                 *(("--watchdog-scale", str(watchdog_scale)) if watchdog_scale else ()),
                 *(("--units", units) if units else ()))
        st = json.loads(simfleet("status", "--json", "--dir", str(d)).stdout)
    except BaseException:
        stop_fleet(d)
        raise
    return FleetHandle(dir=d, inventory=Path(st["inventory"]), operator_key=Path(st["operator_key"]),
                       bastion_port=st["bastion_port"], nodes=st["nodes"])


def stop_fleet(d: Path | FleetHandle) -> None:
    d = d.dir if isinstance(d, FleetHandle) else d
    simfleet("down", "--dir", str(d), "--purge", check=False)
    shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def running_fleet(nodes: int, devices: str = "none", restart_delay: float = 1.0, isolation: str | None = None,
                  link: str | None = None, watchdog_scale: float | None = None, units: str | None = None):
    """A fleet of `nodes` nodes for the duration of the with-block; always taken down afterwards."""
    f = start_fleet(nodes, devices=devices, restart_delay=restart_delay, isolation=isolation, link=link,
                    watchdog_scale=watchdog_scale, units=units)
    try:
        yield f
    finally:
        stop_fleet(f)


def fleet_fixture(nodes: int, devices: str = "none", restart_delay: float = 1.0, name: str = "fleet",
                  isolation: str | None = None, link: str | None = None, watchdog_scale: float | None = None,
                  units: str | None = None):
    """A module-scoped pytest fixture (called `name`) yielding a running fleet; skips where none can run.

    Assign it at module level: ``fleet = fleet_fixture(2, devices="camera")``."""
    @pytest.fixture(scope="module", name=name)
    def _fleet():
        skip_unless_fleet_possible()
        with running_fleet(nodes, devices=devices, restart_delay=restart_delay, isolation=isolation,
                           link=link, watchdog_scale=watchdog_scale, units=units) as f:
            yield f
    return _fleet


# sanity_settings for the simulated nodes: what they do not have (no eMMC/NVMe layout, no initramfs
# fsck log, no timesyncd, no wagman, no k3s) is configured away or skipped; everything else is the default.
SANITY_SETTINGS = {
    "mounts": {"expected": {"/etc/waggle": "rw", "/var/lib/honeycomb": "rw", "/run": "rw"}},
    "fsck_clean": {"missing_log": "skip"},
    "clock_synchronized": {"sources": ["timesync_file"]},
    "k3s_node_ready": {"kubectl": "/nonexistent/kubectl"},
    "free_space_root": {"min_free_mb": 1},
    "free_space_state": {"min_free_mb": 1},
}
