"""The simulated Wild Sage fleet: a bastion sshd and N nodes in Linux namespaces (see docs/simfleet.md)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import links, nodefiles, ports, procs

DEFAULT_DIR = "/tmp/hc-simfleet"
STATE_FILE = "fleet.json"
NODE_INIT = str(Path(__file__).with_name("node_init.sh"))
SSHD = "/usr/sbin/sshd"
# Mountpoints the namespaces bind onto; created on the host only if absent (documented).
HOST_MOUNTPOINTS = ("/etc/waggle", "/var/lib/honeycomb", "/home_dirs") + tuple(nodefiles.MEDIA_MOUNTS)
LAN_NODE_ADDR = "10.31.81.1/24"
DEVICES = {
    # name: (module, address on the node's LAN)
    "switch": ("hctools.switchsim", "10.31.81.2"),
    "camera": ("hctools.camerasim", "10.31.81.10"),
}
# the port `wait-devices` and the device faults probe
DEVICE_PORTS = {"switch": 22, "camera": 80}
LAN_ADDRS = ("10.31.81.2/24", "10.31.81.10/24")
STATE_DIR_ON_NODE = "/var/lib/honeycomb"
MAX_NODES = 999
SUN_PATH_MAX = 107
ISOLATIONS = ("namespaces", "ports")
# sshd settings of the bastion: production = what beekeeper's bk-sshd sets (MaxStartups, MaxSessions
# unset, i.e. OpenSSH's 10:30:100 and 10; no local unix-socket forwarding; ClientAliveInterval 60);
# permissive = generous limits for load tests that must not meet the bastion's throttling.
BASTION_PROFILES = {
    "production": "AllowStreamLocalForwarding remote\nClientAliveInterval 60\nLogLevel VERBOSE\n",
    "permissive": "AllowStreamLocalForwarding yes\nMaxStartups 200:30:400\nMaxSessions 100\n"
                  "ClientAliveInterval 10\nLogLevel INFO\n",
}


class FleetError(Exception):
    """A problem the user can act on; str() says what is wrong and what to do."""


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise FleetError(f"{' '.join(argv[:4])}... failed (rc={r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r


def remembered_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "hc-simfleet" / "current"


def resolve_dir(explicit: str | None) -> Path:
    """--dir, else $SIMFLEET_DIR, else the fleet `up` remembered last, else the default."""
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get("SIMFLEET_DIR"):
        return Path(os.environ["SIMFLEET_DIR"]).resolve()
    try:
        remembered = remembered_file().read_text().strip()
        if remembered:
            return Path(remembered)
    except OSError:
        pass
    return Path(DEFAULT_DIR)


def fleet_prefix(d: Path) -> str:
    """Name prefix of the fleet's namespaces, derived from its directory (several fleets side by side)."""
    return "hcf" + hashlib.sha256(str(d).encode()).hexdigest()[:6]


def fleet_tag(d: Path) -> int:
    """12 bits that make node IDs unique across fleets (ssh ControlPath hashes contain the node ID)."""
    if str(d) == DEFAULT_DIR:
        return 0
    return 1 + int(hashlib.sha256(str(d).encode()).hexdigest()[6:12], 16) % 4095


def node_identity(d: Path, index: int) -> tuple[str, str]:
    """(vsn, node_id) of node number index (1-based): W001 / 000048B02D<tag:3><index:3>."""
    return f"W{index:03d}", f"000048B02D{fleet_tag(d):03X}{index:03X}"


class Fleet:
    def __init__(self, d: Path):
        self.dir = Path(d)
        self.state_path = self.dir / STATE_FILE
        self.prefix = fleet_prefix(self.dir)
        self.state: dict = {}
        if self.state_path.exists():
            try:
                self.state = json.loads(self.state_path.read_text())
            except (OSError, ValueError) as e:
                raise FleetError(f"{self.state_path} is unreadable ({e}); run `simfleet down --dir {self.dir}` "
                                 "to clean up by namespace scan") from e

    # ------------------------------------------------------------------ helpers
    @contextlib.contextmanager
    def locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(tmp, self.state_path)

    @property
    def isolation(self) -> str:
        """namespaces (root: each node in its own namespaces) or ports (no root: per-node folders and ports)."""
        return self.state.get("isolation", "namespaces")

    @property
    def ports_mode(self) -> bool:
        return self.isolation == "ports"

    def env(self, **extra) -> dict[str, str]:
        home = os.path.expanduser("~") if self.ports_mode else "/root"
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "HOME": home, procs.MARKER: self.prefix}
        env.update(extra)
        return env

    @property
    def nodes(self) -> list[dict]:
        return self.state.get("nodes", [])

    def find(self, name: str) -> dict:
        for n in self.nodes:
            if name.upper() in (n["vsn"], n["node_id"]) or (n.get("netns") and name == n["netns"]):
                return n
        known = ", ".join(n["vsn"] for n in self.nodes) or "none (is the fleet up?)"
        raise FleetError(f"no node {name!r} in the fleet at {self.dir}; give a VSN or node ID, known: {known}")

    def node_dir(self, n: dict) -> Path:
        return self.dir / "nodes" / n["vsn"]

    def rtun_path(self, n: dict) -> Path:
        return self.dir / "bastion" / "home_dirs" / f"node-{n['node_id']}" / "rtun.sock"

    @property
    def operator_key(self) -> Path:
        return self.dir / "operator" / "id_ed25519"

    def up_running(self) -> bool:
        return procs.alive(self.state.get("bastion"))

    # ------------------------------------------------------------------ up
    def up(self, count: int, devices: list[str], restart_delay: float = 2.0, timeout: float | None = None,
           isolation: str | None = None, link: str | None = None,
           bastion: str | None = None) -> None:
        if bastion is not None and bastion not in BASTION_PROFILES:
            raise FleetError(f"--bastion must be one of {', '.join(BASTION_PROFILES)}, got {bastion!r}")
        if isolation is None:
            isolation = self.isolation if self.up_running() else default_isolation()
        if isolation not in ISOLATIONS:
            raise FleetError(f"--isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}")
        if isolation == "namespaces":
            check_root()
        check_tools()
        if not 1 <= count <= MAX_NODES:
            raise FleetError(f"--nodes must be between 1 and {MAX_NODES}, got {count}")
        for dev in devices:
            if dev not in DEVICES:
                raise FleetError(f"unknown device {dev!r} in --devices; use a comma list of {', '.join(DEVICES)} or none")
        link_text = link if link is not None else (os.environ.get("SIMFLEET_LINK") or "lan").strip()
        try:
            assigned = links.assign(link_text, count)
        except links.LinkError as e:
            raise FleetError(f"--link: {e}") from None
        if self.up_running():
            if len(self.nodes) != count:
                raise FleetError(f"the fleet at {self.dir} is up with {len(self.nodes)} nodes, not {count}; "
                                 f"run `simfleet down --dir {self.dir}` first or use another --dir")
            if isolation != self.isolation:
                raise FleetError(f"the fleet at {self.dir} is up in {self.isolation} mode, not {isolation}; "
                                 f"run `simfleet down --dir {self.dir}` first or use another --dir")
            if link is not None:  # an explicit --link re-assigns the running fleet's links
                self.state["link"] = link_text
                for n, spec in zip(self.nodes, assigned):
                    self._apply_link(n, spec)
            if bastion not in (None, self.state.get("bastion_profile", "production")):
                raise FleetError(f"the fleet at {self.dir} is up with the {self.state.get('bastion_profile')} "
                                 f"bastion, not {bastion}; run `simfleet down --dir {self.dir}` first")
            self._ensure_running()
            return
        # a previous run may have crashed: clear whatever is left of it first
        self.down(purge=False, quiet=True)
        if isolation == "namespaces":
            for mp in HOST_MOUNTPOINTS:
                if not os.path.isdir(mp):
                    os.makedirs(mp, mode=0o755, exist_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        nodes = [self._node_record(i, isolation) for i in range(1, count + 1)]
        for n, spec in zip(nodes, assigned):
            n["link"] = spec
        if isolation == "ports":  # all at once, so that no two nodes get the same port
            free = iter(_free_ports(count * len(ports.PORT_KEYS)))
            for n in nodes:
                n["ports"] = {k: next(free) for k in ports.PORT_KEYS}
        for sock in (self.dir / "nodes" / nodes[-1]["vsn"] / "uplink" / "bastion.sock", self.rtun_path(nodes[-1])):
            if len(str(sock)) > SUN_PATH_MAX:
                raise FleetError(f"--dir {self.dir} is too long for unix socket paths ({sock} has {len(str(sock))} "
                                 f"characters, at most {SUN_PATH_MAX}); use a shorter directory")
        self.state = {"version": 1, "dir": str(self.dir), "prefix": self.prefix, "nodes": nodes,
                      "devices": devices, "restart_delay": restart_delay, "created": time.time(),
                      "isolation": isolation, "user": ports.user(), "link": link_text,
                      "bastion_profile": bastion or "production"}
        self._keys()
        nodefiles.write_sim_dir(self.dir / "sim", _write)
        port = self._start_bastion()
        self.state["bastion_port"] = port
        self.save()
        if isolation == "namespaces":
            self._make_netns(nodes)
        from .inventory import beekeeper_nodes
        manifests = {m["vsn"]: m for m in beekeeper_nodes(self)}
        for n in nodes:
            self._prepare_node(n, port)
            nodefiles.write_node_inputs(self.node_dir(n), n, manifests[n["vsn"]], _write)
            links.write_link(self.node_dir(n), n["link"])
        self.save()
        for n in nodes:
            self._start_relay(n)
        self._wait_relays(nodes)
        for n in nodes:
            self._boot(n)
        self.save()
        for n in nodes:
            self._start_devices(n)
        self.save()
        self.write_inventory()
        self.wait_tunnels(timeout if timeout is not None else 30 + count)

    def _node_record(self, i: int, isolation: str = "namespaces") -> dict:
        vsn, node_id = node_identity(self.dir, i)
        if isolation == "ports":  # no namespaces: free loopback ports instead of production addresses
            return {"index": i, "vsn": vsn, "node_id": node_id, "netns": None, "lan_netns": None,
                    "ports": {}, "init": None, "relay": None, "devices": {},
                    "faults": {}}
        return {"index": i, "vsn": vsn, "node_id": node_id, "netns": f"{self.prefix}-{vsn}",
                "lan_netns": f"{self.prefix}-{vsn}-lan", "init": None, "relay": None, "devices": {}, "faults": {}}

    def _keys(self) -> None:
        op = self.dir / "operator"
        op.mkdir(mode=0o700, exist_ok=True)
        if not self.operator_key.exists():
            _keygen(self.operator_key, "simfleet-operator")
        b = self.dir / "bastion"
        for sub in ("", "home_dirs", "root", "root/.ssh"):
            (b / sub).mkdir(mode=0o700, exist_ok=True)
        os.chmod(b / "home_dirs", 0o755)
        if not (b / "ssh_host_ed25519_key").exists():
            _keygen(b / "ssh_host_ed25519_key", "simfleet-bastion")

    def _start_bastion(self) -> int:
        b = self.dir / "bastion"
        lines = [self.operator_key.with_suffix(".pub").read_text().strip()]
        for n in self.nodes:
            nd = self.node_dir(n)
            key_path = nd / "etc-waggle" / "bk_key.pem"
            nd.joinpath("etc-waggle").mkdir(parents=True, exist_ok=True)
            if not key_path.exists():
                _keygen(key_path, f"node-{n['node_id']}")
            pub = key_path.with_name("bk_key.pem.pub").read_text().strip()
            # Node keys may only open their reverse tunnel. OpenSSH has no per-key limit for -R unix
            # sockets (permitlisten covers TCP only), so: no shell, no pty/agent/X11, no -L to anywhere.
            lines.append(f'restrict,port-forwarding,from="127.0.0.1",permitopen="127.0.0.1:9",'
                         f'command="/bin/false" {pub}')
            (b / "home_dirs" / f"node-{n['node_id']}").mkdir(mode=0o755, exist_ok=True)
        _write(b / "root" / ".ssh" / "authorized_keys", "\n".join(lines) + "\n", 0o600)
        last_err = ""
        taken = {p for n in self.nodes for p in (n.get("ports") or {}).values()}
        for _ in range(5):
            port = _free_port()
            while port in taken:
                port = _free_port()
            config = BASTION_SSHD_CONFIG.format(port=port, dir=b) + \
                BASTION_PROFILES[self.state.get("bastion_profile", "production")]
            script = ("set -e; mount --make-rprivate /; mount --bind \"$B/home_dirs\" /home_dirs; "
                      "mount --bind \"$B/root\" /root; mount -t tmpfs -o mode=0755,size=16m tmpfs /run; "
                      "mkdir -p /run/sshd; ")
            if self.ports_mode:
                config = ports.bastion_extra(self) + config
                script = "set -e; "
            _write(b / "sshd_config", config, 0o600)
            script += SSHD + " -t -f \"$B/sshd_config\"; exec " + SSHD + " -D -e -f \"$B/sshd_config\""
            proc = procs.spawn(["/bin/sh", "-c", script], self.env(B=str(b)), str(b / "sshd.log"),
                               new_ns=0 if self.ports_mode else os.CLONE_NEWNS)
            if _wait_banner(("127.0.0.1", port), 10):
                self.state["bastion"] = proc
                if not self.ports_mode:
                    self.state["bastion_mntns"] = list(procs.ns_inode(f"/proc/{proc['pid']}/ns/mnt") or ())
                return port
            procs.kill(proc)
            last_err = (b / "sshd.log").read_text()[-500:]
        raise FleetError(f"the bastion sshd did not start; its log says: {last_err}")

    def _make_netns(self, nodes: list[dict]) -> None:
        batch = []
        for n in nodes:
            batch += [f"netns add {n['netns']}", f"netns add {n['lan_netns']}",
                      f"link add lan0 netns {n['netns']} type veth peer name eth0 netns {n['lan_netns']}"]
        _ip_batch(None, batch)
        for n in nodes:
            _ip_batch(n["netns"], ["link set lo up", f"addr add {LAN_NODE_ADDR} dev lan0", "link set lan0 up"])
            _ip_batch(n["lan_netns"], ["link set lo up"] + [f"addr add {a} dev eth0" for a in LAN_ADDRS]
                      + ["link set eth0 up"])

    def _prepare_node(self, n: dict, port: int) -> None:
        nd = self.node_dir(n)
        for sub, mode in (("etc-waggle", 0o755), ("honeycomb", 0o700), ("root", 0o700), ("root/.ssh", 0o700),
                          ("etc-ssh", 0o755), ("var-log", 0o755), ("uplink", 0o700)):
            (nd / sub).mkdir(mode=mode, parents=True, exist_ok=True)
        ew = nd / "etc-waggle"
        _write(ew / "node-id", n["node_id"] + "\n")
        _write(ew / "vsn", n["vsn"] + "\n")
        key = f"{ew}/bk_key.pem" if self.ports_mode else "/etc/waggle/bk_key.pem"
        _write(ew / "config.ini", NODE_CONFIG_INI.format(port=port, key=key) + "\n" + nodefiles.wagman_ini())
        host_pub = (self.dir / "bastion" / "ssh_host_ed25519_key.pub").read_text().split()
        _write(ew / "bk_known_hosts", f"bastion {host_pub[0]} {host_pub[1]}\n")
        _write(nd / "root" / ".ssh" / "authorized_keys", self.operator_key.with_suffix(".pub").read_text(), 0o600)
        es = nd / "etc-ssh"
        if not (es / "ssh_host_ed25519_key").exists():
            _keygen(es / "ssh_host_ed25519_key", f"root@ws-nxcore-{n['node_id']}")
        _write(es / "sshd_config", ports.node_sshd_config(self, n) if self.ports_mode else NODE_SSHD_CONFIG)
        _write(es / "ssh_config", "# simulated node: defaults only\n")
        _write(nd / "etc-hosts", NODE_HOSTS.format(node_id=n["node_id"]))

    def uplink_path(self, n: dict) -> Path:
        return self.node_dir(n) / "uplink" / "bastion.sock"

    def _start_relay(self, n: dict) -> None:
        """The node's uplink: the shaping relay of its link profile (relay.py) in front of the bastion."""
        nd = self.node_dir(n)
        if not (nd / links.LINK_FILE).exists():  # a fleet made before link profiles: an unshaped link
            links.write_link(nd, n.setdefault("link", "lan"))
        with contextlib.suppress(FileNotFoundError):  # stale: _wait_relays waits for the new one's
            self.uplink_path(n).unlink()
        argv = [sys.executable, "-m", "hctools.simfleet.relay", "--listen", str(self.uplink_path(n)),
                "--connect", f"127.0.0.1:{self.state['bastion_port']}", "--node-dir", str(nd),
                "--seed", str(n["index"])]
        n["relay"] = procs.spawn(argv, self.env(), str(nd / "relay.log"))

    def _wait_relays(self, nodes: list[dict], timeout: float = 30) -> None:
        """Wait until the relays accept (their socket appears only then), so no boot waits a restart delay."""
        deadline = time.monotonic() + timeout
        for n in nodes:
            while not self.uplink_path(n).exists() and procs.alive(n.get("relay")) and time.monotonic() < deadline:
                time.sleep(0.02)

    def _apply_link(self, n: dict, spec: str) -> None:
        links.write_link(self.node_dir(n), spec)
        n["link"] = spec
        if procs.alive(n.get("relay")):
            procs.kill(n["relay"], sig=signal.SIGHUP)  # the relay re-reads link.json, open connections too

    def _boot(self, n: dict) -> None:
        nd = self.node_dir(n)
        from .faults import FAULTS
        # volatile faults end with the power; the persistent ones node_init.sh re-creates are passed on
        faults = {k: v for k, v in (n.get("faults") or {}).items() if FAULTS[k].persistent}
        n["faults"] = faults
        env = self.env(SIMFLEET_NODE_DIR=str(nd), SIMFLEET_RESTART_DELAY=str(self.state.get("restart_delay", 2)),
                       SIMFLEET_SSHD=SSHD, SIMFLEET_SIM_DIR=str(self.dir / "sim"),
                       SIMFLEET_FAULTS=" ".join(sorted(faults)))
        if self.ports_mode:
            marker, value = ports.node_marker(self, n).split("=", 1)
            env.update({marker: value, "SIMFLEET_ISOLATION": "ports", "SIMFLEET_SSH_PORT": str(n["ports"]["ssh"]),
                        "SIMFLEET_RTUN": str(self.rtun_path(n)), "SIMFLEET_BK_USER": self.state["user"]})
            n["init"] = procs.spawn(["/bin/sh", NODE_INIT], env, str(nd / "console.log"))
            n["boots"] = n.get("boots", 0) + 1
            return
        n["init"] = procs.spawn(["/bin/sh", NODE_INIT], env, str(nd / "console.log"), netns=n["netns"],
                                new_ns=os.CLONE_NEWNS | os.CLONE_NEWPID | os.CLONE_NEWUTS,
                                hostname=f"ws-nxcore-{n['node_id']}")
        n["boots"] = n.get("boots", 0) + 1

    def _start_devices(self, n: dict) -> None:
        n.setdefault("devices", {})
        for dev in self.state.get("devices", []):
            module, addr = DEVICES[dev]
            if not _importable(module):
                n["devices"][dev] = None
                continue
            if procs.alive(n["devices"].get(dev)) or f"{dev}-down" in (n.get("faults") or {}):
                continue
            nd = self.node_dir(n)
            (nd / dev).mkdir(exist_ok=True)
            extra = ""
            if self.ports_mode:
                addr, extra = ports.LOOPBACK, ports.device_args(dev, n["ports"])
            loop = ('while :; do "$PY" -m "$MOD" --bind "$ADDR" --state-dir "$SD" $EXTRA; '
                    'echo "$(date -u +%FT%TZ) exited rc=$?"; sleep 1; done')
            n["devices"][dev] = procs.spawn(
                ["/bin/sh", "-c", loop],
                self.env(PY=sys.executable, MOD=module, ADDR=addr, SD=str(nd / dev), EXTRA=extra),
                str(nd / f"{dev}.log"), netns=n["lan_netns"], cwd=str(nd / dev))

    def _ensure_running(self) -> None:
        """`up` on a running fleet: start whatever is missing (relays, powered-off nodes, devices)."""
        for n in self.nodes:
            if not procs.alive(n.get("relay")):
                self._start_relay(n)
        self._wait_relays(self.nodes)
        for n in self.nodes:
            if not procs.alive(n.get("init")):
                self._boot(n)
            self._start_devices(n)
        self.save()
        self.write_inventory()
        self.wait_tunnels(30 + len(self.nodes))

    def wait_tunnels(self, timeout: float, nodes: list[dict] | None = None) -> None:
        pending = list(nodes if nodes is not None else self.nodes)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            pending = [n for n in pending if not _wait_banner(str(self.rtun_path(n)), 1.0, once=True)]
            if pending:
                time.sleep(0.2)
        if pending:
            names = ", ".join(n["vsn"] for n in pending)
            raise FleetError(f"tunnels of {names} did not come up within {timeout:.0f} s; see "
                             f"{self.dir}/nodes/<VSN>/var-log/simfleet/tunnel.log and {self.dir}/bastion/sshd.log")

    def wait_devices(self, nodes: list[dict] | None = None, devices: list[str] | None = None,
                     timeout: float = 60) -> None:
        """Wait until every running device simulator accepts TCP connections on its LAN address."""
        from .faults import device_endpoint, tcp_in_netns
        deadline = time.monotonic() + timeout
        late = []
        for n in nodes if nodes is not None else self.nodes:
            for dev in devices if devices is not None else self.state.get("devices", []):
                if not procs.alive((n.get("devices") or {}).get(dev)):
                    continue  # absent (module not importable) or stopped by a fault
                left = max(0.5, deadline - time.monotonic())
                if not tcp_in_netns(n["lan_netns"], *device_endpoint(self, n, dev), True, left):
                    late.append(f"{n['vsn']} {dev}")
        if late:
            raise FleetError(f"device simulators not listening after {timeout:.0f} s: {', '.join(late)}; see "
                             f"{self.dir}/nodes/<VSN>/<device>.log")

    # ------------------------------------------------------------------ faults
    def fault(self, name: str, fault: str, on: bool = True, line: str | None = None,
              severity: str | None = None) -> dict:
        from . import faults
        n = self.find(name)
        return faults.switch(self, n, fault, on, line=line, severity=severity)

    def power_cut(self, name: str) -> dict:
        n = self.find(name)
        if not procs.alive(n.get("init")):
            raise FleetError(f"node {n['vsn']} is already off; `simfleet power-on {n['vsn']}` boots it")
        if self.ports_mode:  # no pid namespace: stop the node's process tree and marked processes at once
            procs.freeze_and_kill(n["init"], ports.node_marker(self, n))
            n["init"] = None
            self.save()
            return n
        procs.kill(n["init"])
        procs.wait_gone([n["init"]])
        # everything in the pid namespace dies with its init; wait until the kernel is done
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._ns_members(n):
            time.sleep(0.02)
        n["init"] = None
        self.save()
        return n

    def power_on(self, name: str, wait: bool = True) -> dict:
        n = self.find(name)
        if procs.alive(n.get("init")):
            raise FleetError(f"node {n['vsn']} is already on")
        self._boot(n)
        self.save()
        if wait and procs.alive(n.get("relay")):
            self.wait_tunnels(30, [n])
        return n

    def drop_tunnel(self, name: str) -> dict:
        n = self.find(name)
        if not procs.alive(n.get("relay")):
            raise FleetError(f"the tunnel link of {n['vsn']} is already down; `simfleet restore-tunnel {n['vsn']}`")
        procs.kill(n["relay"], group=True)  # the listener and every connection it carries
        procs.wait_gone([n["relay"]], 5)
        with contextlib.suppress(FileNotFoundError):
            (self.node_dir(n) / "uplink" / "bastion.sock").unlink()
        n["relay"] = None
        self.save()
        # the bastion notices the end of the tunnel at once (TCP closed); wait until it is really gone
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _wait_banner(str(self.rtun_path(n)), 0.5, once=True):
            time.sleep(0.1)
        return n

    def restore_tunnel(self, name: str, wait: bool = True) -> dict:
        n = self.find(name)
        if procs.alive(n.get("relay")):
            raise FleetError(f"the tunnel link of {n['vsn']} is already up")
        self._start_relay(n)
        self._wait_relays([n])
        self.save()
        if wait and procs.alive(n.get("init")):
            self.wait_tunnels(30 + float(self.state.get("restart_delay", 2)), [n])
        return n

    def _ns_members(self, n: dict) -> list[int]:
        ino = procs.ns_inode(os.path.join(procs.NETNS_DIR, n["netns"]))
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit() and procs.ns_inode(f"/proc/{name}/ns/net") == ino:
                out.append(int(name))
        return out

    # ------------------------------------------------------------------ links
    def set_link(self, name: str, spec: str) -> dict:
        """Give a node another link profile; a running relay applies it at once (open connections too)."""
        n = self.find(name)
        try:
            links.parse_profile(spec)
        except links.LinkError as e:
            raise FleetError(str(e)) from None
        self._apply_link(n, spec.strip())
        self.save()
        return n

    def link_bytes(self, name: str | None = None, reset: bool = False) -> list[dict]:
        """Bytes the relays carried per node and direction (and connections, flaps, stalls) since the last
        reset; reset=True starts counting afresh after reading."""
        out = []
        for n in [self.find(name)] if name else self.nodes:
            nd = self.node_dir(n)
            out.append(dict(vsn=n["vsn"], node_id=n["node_id"], link=n.get("link", "lan"), **links.counters(nd)))
            if reset:
                links.reset_counters(nd)
        return out

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        nodes = []
        for n in self.nodes:
            power = procs.alive(n.get("init"))
            link = procs.alive(n.get("relay"))
            # 2 s: the banner crosses the node's link (latency, a stall)
            tunnel = _wait_banner(str(self.rtun_path(n)), 2.0, once=True) if power and link else False
            devs = {}
            for dev in self.state.get("devices", []):
                p = n.get("devices", {}).get(dev)
                devs[dev] = "absent" if p is None else ("running" if procs.alive(p) else "stopped")
            nodes.append({"vsn": n["vsn"], "node_id": n["node_id"], "power": "on" if power else "off",
                          "link": "up" if link else "down", "link_profile": n.get("link", "lan"),
                          "tunnel": "up" if tunnel else "down",
                          "devices": devs, "faults": dict(n.get("faults") or {}),
                          "netns": n["netns"], "lan_netns": n["lan_netns"], "ports": n.get("ports"),
                          "dir": str(self.node_dir(n))})
        return {"dir": str(self.dir), "prefix": self.prefix, "running": self.up_running(), "isolation": self.isolation,
                "bastion_port": self.state.get("bastion_port"), "operator_key": str(self.operator_key),
                "bastion_profile": self.state.get("bastion_profile", "production"),
                "inventory": str(self.dir / "inventory.yml"), "ssh_config": str(self.dir / "ssh_config"),
                "nodes": nodes}

    # ------------------------------------------------------------------ inventory
    def write_inventory(self) -> None:
        from .inventory import render_ssh_config, render_yaml
        _write(self.dir / "inventory.yml", render_yaml(self))
        _write(self.dir / "ssh_config", render_ssh_config(self))

    # ------------------------------------------------------------------ down
    def down(self, purge: bool = False, quiet: bool = False) -> list[str]:
        """Stop everything of this fleet: from the state file, then by scanning for its prefix."""
        names = procs.netns_names(self.prefix)
        if os.geteuid() != 0 and (names or (self.state and not self.ports_mode)):
            check_root()  # namespaces to delete, or a namespaces-mode fleet: that needs root
        report = []
        known = [self.state.get("bastion")]
        for n in self.nodes:
            known += [n.get("init"), n.get("relay")] + list((n.get("devices") or {}).values())
        for p in known:  # process groups: relays carry forked children, device loops their simulator
            if procs.kill(p, group=True):
                report.append(f"killed {p['pid']}")
        netns_ids = {i for i in (procs.ns_inode(os.path.join(procs.NETNS_DIR, x)) for x in names) if i}
        mntns_ids = {tuple(self.state["bastion_mntns"])} if self.state.get("bastion_mntns") else set()
        cmd_marks = (f"{self.dir}/bastion/sshd_config".encode(), f"UNIX-LISTEN:{self.dir}/nodes/".encode(),
                     f"hctools.simfleet.relay\0--listen\0{self.dir}/nodes/".encode())
        # ports mode: the node sshds (their title, like the bastion's, names their config)
        cmd_marks += tuple(f"{nd}/etc-ssh/sshd_config".encode() for nd in sorted(self.dir.glob("nodes/*")))
        for _ in range(50):
            found = procs.scan(self.prefix, netns_ids, mntns_ids, cmd_marks)
            # sshd session processes carry neither marker nor config: they are below a found process
            for pid in procs.descendants({p["pid"] for p in found}):
                st = procs.starttime(pid)
                if st is not None:
                    found.append({"pid": pid, "start": st})
            # a bastion whose state file was lost: its mount namespace leads to its session children
            for p in found:
                ino = procs.ns_inode(f"/proc/{p['pid']}/ns/mnt")
                if ino and ino != procs.ns_inode("/proc/self/ns/mnt"):
                    mntns_ids.add(ino)
            if not found:
                break
            for p in found:
                if procs.kill(p):
                    report.append(f"killed {p['pid']} (scan)")
            procs.wait_gone(found, 2)
        else:
            raise FleetError(f"processes of fleet {self.prefix} keep coming back; see `simfleet status`")
        if names:
            _ip_batch(None, [f"netns delete {x}" for x in names])
            report.append(f"deleted {len(names)} network namespaces")
        if self.state:
            for n in self.nodes:
                n["init"] = n["relay"] = None
                n["devices"] = {}
            self.state["bastion"] = None
            self.state["bastion_mntns"] = None
            self.save()
        rf = remembered_file()
        with contextlib.suppress(OSError):
            if rf.read_text().strip() == str(self.dir):
                rf.unlink()
        if purge and self.dir.exists():
            shutil.rmtree(self.dir)
            report.append(f"removed {self.dir}")
        return report


def check_root() -> None:
    if os.geteuid() != 0:
        raise FleetError("simfleet's namespaces mode needs root: each node is a set of Linux network, mount and "
                         "pid namespaces. Run it as root (e.g. `sudo .venv/bin/simfleet up`), or use "
                         "`simfleet up --isolation ports` (per-node ports and folders, no root; see docs/simfleet.md "
                         "for what it does not simulate).")


def default_isolation() -> str:
    """$SIMFLEET_ISOLATION, else namespaces as root and ports otherwise."""
    forced = os.environ.get("SIMFLEET_ISOLATION", "").strip()
    if forced:
        if forced not in ISOLATIONS:
            raise FleetError(f"SIMFLEET_ISOLATION must be one of {', '.join(ISOLATIONS)}, got {forced!r}")
        return forced
    return "namespaces" if os.geteuid() == 0 else "ports"


def check_tools() -> None:
    missing = [t for t in ("ssh", "ssh-keygen", "socat") if not shutil.which(t)]
    if not os.access(SSHD, os.X_OK):
        missing.append(SSHD)
    if missing:
        raise FleetError(f"simfleet needs {', '.join(missing)}: install openssh-client, openssh-server and socat "
                         "(apt-get install openssh-client openssh-server socat)")


def remember(d: Path) -> None:
    rf = remembered_file()
    rf.parent.mkdir(parents=True, exist_ok=True)
    rf.write_text(str(d) + "\n")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _keygen(path: Path, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _ip_batch(netns: str | None, lines: list[str]) -> None:
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    _run(argv, input="\n".join(lines) + "\n")


def _free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(count: int) -> list[int]:
    """count distinct free 127.0.0.1 ports (held open together so that none is handed out twice)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait_banner(addr, timeout: float, once: bool = False) -> bool:
    """True when an SSH server answers on addr (a (host, port) or a unix socket path)."""
    deadline = time.monotonic() + timeout
    while True:
        family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                s.connect(addr)
                if s.recv(8).startswith(b"SSH-2.0"):
                    return True
        except OSError:
            pass
        if once or time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


BASTION_SSHD_CONFIG = """\
# simfleet bastion (stands in for beekeeper's bk-sshd); runs in its own mount namespace where
# {dir}/home_dirs is /home_dirs and {dir}/root is /root.
ListenAddress 127.0.0.1:{port}
HostKey {dir}/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
StreamLocalBindUnlink yes
StreamLocalBindMask 0177
AllowTcpForwarding yes
GatewayPorts no
X11Forwarding no
PermitTunnel no
ClientAliveCountMax 3
"""

NODE_SSHD_CONFIG = """\
# simulated Wild Sage node: production nodes accept ssh only on 127.0.0.1, i.e. through the tunnel
ListenAddress 127.0.0.1:22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
LogLevel INFO
"""

NODE_CONFIG_INI = """\
[system]
# simulated node (simfleet)

[reverse-tunnel]
host = bastion
port = {port}
key = {key}
"""

NODE_HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
10.31.81.1\tws-nxcore-{node_id}
10.31.81.2\tswitch
"""
