"""The simulated Wild Sage fleet: a bastion sshd and N nodes, isolated by namespaces or by ports (see
docs/simfleet.md). The lifecycle: `up`, `down`, power and tunnel switches, links and status; what
differs between the isolation modes is asked of Fleet.iso."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import shutil
import time
from pathlib import Path

from . import bastion, bootslot, links, nodefiles, procs
from . import nodes as nodes_
from . import units as units_
from .configs import BASTION_PROFILES, DEFAULT_BASTION_PROFILE
from .hostutil import FleetError, check_tools, ip_batch, tcp_in_netns, wait_banner, write
from .isolation import ISOLATIONS, Isolation, check_root, default_isolation
from .isolation import get as get_isolation
from .topology import (DEFAULT_DIR, DEVICES, INVENTORY_FILE, MAX_NODES, SSH_CONFIG_FILE, STATE_FILE, SUN_PATH_MAX,
                       fleet_prefix, fleet_tag, node_identity, remember, remembered_file, resolve_dir)

# the names the tests take from here (their owners are topology, hostutil, configs and isolation)
__all__ = ["BASTION_PROFILES", "DEFAULT_DIR", "Fleet", "FleetError", "default_isolation", "fleet_prefix", "fleet_tag",
           "node_identity", "remember", "resolve_dir"]


class Fleet:
    def __init__(self, d: Path):
        self.dir = Path(d)
        self.state_path = self.dir / STATE_FILE
        self.prefix = fleet_prefix(self.dir)
        self.state: dict = {}
        self._load()

    def _load(self) -> None:
        if self.state_path.exists():
            try:
                self.state = json.loads(self.state_path.read_text())
            except (OSError, ValueError) as e:
                raise FleetError(f"{self.state_path} is unreadable ({e}); run `simfleet down --dir {self.dir}` "
                                 "to clean up by namespace scan") from e

    # ------------------------------------------------------------------ helpers
    @contextlib.contextmanager
    def locked(self):
        """Hold the fleet's lock; the state is read again once it is held: another command (e.g. a power-on
        of another node, run in parallel) may have saved it since this object read it, and saving the
        older copy would undo that command's change."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._load()
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
    def iso(self) -> Isolation:
        """The fleet's isolation mode: where and how its nodes run."""
        return get_isolation(self.isolation)

    def env(self, **extra) -> dict[str, str]:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "HOME": self.iso.home(), procs.MARKER: self.prefix}
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
           isolation: str | None = None, link: str | None = None, publish=None,
           bastion_profile: str | None = None, watchdog: dict | None = None,
           units: list[str] | None = None) -> None:
        """Start a fleet of count nodes, or start what is missing of a running one. publish(fleet) writes
        what the operator uses (the inventory) before the wait for the tunnels. bastion_profile names the
        bastion sshd's settings (configs.BASTION_PROFILES; default production). watchdog: {"scale",
        "slot_switch"} runs a network watchdog stand-in per node (watchdog.py); None: none. units: the compute
        units every node has besides its nxcore (units.py; namespaces mode only)."""
        bastion.check_profile(bastion_profile)
        mode = isolation
        if mode is None:
            mode = self.isolation if self.up_running() else default_isolation()
        if mode not in ISOLATIONS:
            raise FleetError(f"--isolation must be one of {', '.join(ISOLATIONS)}, got {mode!r}")
        iso = get_isolation(mode)
        iso.check_host()
        check_tools()
        if not 1 <= count <= MAX_NODES:
            raise FleetError(f"--nodes must be between 1 and {MAX_NODES}, got {count}")
        for dev in devices:
            if dev not in DEVICES:
                raise FleetError(f"unknown device {dev!r} in --devices; use a comma list of {', '.join(DEVICES)} or none")
        unit_names = units_.check(list(units or []), mode)
        link_text = link if link is not None else (os.environ.get("SIMFLEET_LINK") or "lan").strip()
        try:
            assigned = links.assign(link_text, count)
        except links.LinkError as e:
            raise FleetError(f"--link: {e}") from None
        if self.up_running():
            if len(self.nodes) != count:
                raise FleetError(f"the fleet at {self.dir} is up with {len(self.nodes)} nodes, not {count}; "
                                 f"run `simfleet down --dir {self.dir}` first or use another --dir")
            if mode != self.isolation:
                raise FleetError(f"the fleet at {self.dir} is up in {self.isolation} mode, not {mode}; "
                                 f"run `simfleet down --dir {self.dir}` first or use another --dir")
            if bastion_profile not in (None, bastion.profile(self)):
                raise FleetError(f"the fleet at {self.dir} is up with the {bastion.profile(self)} bastion, not "
                                 f"{bastion_profile}; run `simfleet down --dir {self.dir}` first")
            if watchdog is not None and watchdog != self.state.get("watchdog"):
                raise FleetError(f"the fleet at {self.dir} is up with watchdog {self.state.get('watchdog') or 'off'}, "
                                 f"not {watchdog}; run `simfleet down --dir {self.dir}` first")
            if units is not None and unit_names != self.state.get("units", []):
                raise FleetError(f"the fleet at {self.dir} is up with the units {self.state.get('units') or 'none'}, "
                                 f"not {unit_names or 'none'}; run `simfleet down --dir {self.dir}` first")
            if link is not None:  # an explicit --link re-assigns the running fleet's links
                self.state["link"] = link_text
                for n, spec in zip(self.nodes, assigned):
                    nodes_.apply_link(self, n, spec)
            self._ensure_running(publish)
            return
        # a previous run may have crashed: clear whatever is left of it first
        self.down(purge=False, quiet=True)
        iso.prepare_host()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        nodes = [iso.node_record(self, i, *node_identity(self.dir, i)) for i in range(1, count + 1)]
        for n, spec in zip(nodes, assigned):
            n["link"] = spec
            n["units"] = {u: None for u in unit_names}  # their processes, once booted
        iso.allocate(self, nodes)
        for sock in (self.dir / "nodes" / nodes[-1]["vsn"] / "uplink" / "bastion.sock", self.rtun_path(nodes[-1])):
            if len(str(sock)) > SUN_PATH_MAX:
                raise FleetError(f"--dir {self.dir} is too long for unix socket paths ({sock} has {len(str(sock))} "
                                 f"characters, at most {SUN_PATH_MAX}); use a shorter directory")
        self.state = {"version": 1, "dir": str(self.dir), "prefix": self.prefix, "nodes": nodes,
                      "devices": devices, "restart_delay": restart_delay, "created": time.time(),
                      "isolation": mode, "user": getpass.getuser(), "link": link_text,
                      "bastion_profile": bastion_profile or DEFAULT_BASTION_PROFILE, "watchdog": watchdog,
                      "units": unit_names}
        bastion.make_keys(self)
        nodefiles.write_sim_dir(self.dir / "sim", write)
        port = bastion.start(self)
        self.state["bastion_port"] = port
        self.save()
        iso.make_network(self, nodes)
        for n in nodes:
            nodes_.prepare(self, n, port)
            nodefiles.write_node_inputs(self.node_dir(n), n, nodefiles.beekeeper_record(n, unit_names), write)
            links.write_link(self.node_dir(n), n["link"])
        self.save()
        for n in nodes:
            nodes_.start_relay(self, n)
        nodes_.wait_relays(self, nodes)
        for n in nodes:
            nodes_.boot(self, n)
        self.save()
        for n in nodes:
            nodes_.start_devices(self, n)
            nodes_.start_watchdog(self, n)
        self.save()
        if publish:
            publish(self)
        self.wait_tunnels(timeout if timeout is not None else 30 + count)

    def _ensure_running(self, publish=None) -> None:
        """`up` on a running fleet: start whatever is missing (relays, powered-off nodes, devices)."""
        for n in self.nodes:
            if not procs.alive(n.get("relay")):
                nodes_.start_relay(self, n)
        nodes_.wait_relays(self, self.nodes)
        for n in self.nodes:
            if not procs.alive(n.get("init")):
                nodes_.boot(self, n)
            nodes_.start_devices(self, n)
            nodes_.start_watchdog(self, n)
        self.save()
        if publish:
            publish(self)
        self.wait_tunnels(30 + len(self.nodes))

    def start_devices(self, n: dict) -> None:
        """Start node n's device simulators that are not running (and not stopped by a fault)."""
        nodes_.start_devices(self, n)

    def wait_tunnels(self, timeout: float, nodes: list[dict] | None = None) -> None:
        pending = list(nodes if nodes is not None else self.nodes)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            pending = [n for n in pending if not wait_banner(str(self.rtun_path(n)), 1.0, once=True)]
            if pending:
                time.sleep(0.2)
        if pending:
            names = ", ".join(n["vsn"] for n in pending)
            raise FleetError(f"tunnels of {names} did not come up within {timeout:.0f} s; see "
                             f"{self.dir}/nodes/<VSN>/var-log/simfleet/tunnel.log and {self.dir}/bastion/sshd.log")

    def wait_devices(self, nodes: list[dict] | None = None, devices: list[str] | None = None,
                     timeout: float = 60) -> None:
        """Wait until every running device simulator accepts TCP connections on its LAN address."""
        deadline = time.monotonic() + timeout
        late = []
        for n in nodes if nodes is not None else self.nodes:
            for dev in devices if devices is not None else self.state.get("devices", []):
                if not procs.alive((n.get("devices") or {}).get(dev)):
                    continue  # absent (module not importable) or stopped by a fault
                left = max(0.5, deadline - time.monotonic())
                if not tcp_in_netns(n["lan_netns"], *self.iso.device_endpoint(n, dev), True, left):
                    late.append(f"{n['vsn']} {dev}")
        if late:
            raise FleetError(f"device simulators not listening after {timeout:.0f} s: {', '.join(late)}; see "
                             f"{self.dir}/nodes/<VSN>/<device>.log")

    def power_cut(self, name: str) -> dict:
        n = self.find(name)
        if not procs.alive(n.get("init")):
            raise FleetError(f"node {n['vsn']} is already off; `simfleet power-on {n['vsn']}` boots it")
        self.iso.power_cut(self, n)
        units_.power_cut(n)  # the units share the node's power
        n["init"] = None
        self.save()
        return n

    def power_on(self, name: str, wait: bool = True) -> dict:
        n = self.find(name)
        if procs.alive(n.get("init")):
            raise FleetError(f"node {n['vsn']} is already on")
        nodes_.boot(self, n)
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
            nodes_.uplink_path(self, n).unlink()
        n["relay"] = None
        self.save()
        # the bastion notices the end of the tunnel at once (TCP closed); wait until it is really gone
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and wait_banner(str(self.rtun_path(n)), 0.5, once=True):
            time.sleep(0.1)
        return n

    def restore_tunnel(self, name: str, wait: bool = True) -> dict:
        n = self.find(name)
        if procs.alive(n.get("relay")):
            raise FleetError(f"the tunnel link of {n['vsn']} is already up")
        nodes_.start_relay(self, n)
        nodes_.wait_relays(self, [n])
        self.save()
        if wait and procs.alive(n.get("init")):
            self.wait_tunnels(30 + float(self.state.get("restart_delay", 2)), [n])
        return n

    # ------------------------------------------------------------------ links
    def set_link(self, name: str, spec: str) -> dict:
        """Give a node another link profile; a running relay applies it at once (open connections too)."""
        n = self.find(name)
        try:
            links.parse_profile(spec)
        except links.LinkError as e:
            raise FleetError(str(e)) from None
        nodes_.apply_link(self, n, spec.strip())
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
            tunnel = wait_banner(str(self.rtun_path(n)), 2.0, once=True) if power and link else False
            devs = {}
            for dev in self.state.get("devices", []):
                p = n.get("devices", {}).get(dev)
                devs[dev] = "absent" if p is None else ("running" if procs.alive(p) else "stopped")
            nodes.append({"vsn": n["vsn"], "node_id": n["node_id"], "power": "on" if power else "off",
                          "link": "up" if link else "down", "link_profile": n.get("link", "lan"),
                          "tunnel": "up" if tunnel else "down", "boot_slot": bootslot.current_slot(self, n),
                          "devices": devs, "faults": dict(n.get("faults") or {}),
                          "watchdog": ("running" if procs.alive(n.get("watchdog")) else "stopped")
                          if (self.state.get("watchdog") or {}).get("scale") else "off",
                          "boots": n.get("boots", 0),
                          "units": {u: "on" if procs.alive((n.get("units") or {}).get(u)) else "off"
                                    for u in self.state.get("units", [])},
                          "netns": n["netns"], "lan_netns": n["lan_netns"], "ports": n.get("ports"),
                          "dir": str(self.node_dir(n))})
        return {"dir": str(self.dir), "prefix": self.prefix, "running": self.up_running(), "isolation": self.isolation,
                "bastion_port": self.state.get("bastion_port"), "operator_key": str(self.operator_key),
                "bastion_profile": bastion.profile(self), "units": self.state.get("units", []),
                "inventory": str(self.dir / INVENTORY_FILE), "ssh_config": str(self.dir / SSH_CONFIG_FILE),
                "nodes": nodes}

    # ------------------------------------------------------------------ down
    def down(self, purge: bool = False, quiet: bool = False) -> list[str]:
        """Stop everything of this fleet: from the state file, then by scanning for its prefix."""
        names = procs.netns_names(self.prefix)
        if os.geteuid() != 0 and (names or (self.state and self.iso.stop_needs_root(self))):
            check_root()  # namespaces to delete, or a namespaces-mode fleet: that needs root
        report = []
        known = [self.state.get("bastion")]
        for n in self.nodes:
            known += ([n.get("watchdog"), n.get("init"), n.get("relay")] + list((n.get("devices") or {}).values())
                      + units_.processes(n))
        # A mount namespace is the fleet's only while one of the fleet's processes holds it: a freed one's
        # inode is soon reused by another namespace (every `ip netns exec` makes one), so an inode kept in
        # fleet.json could name a stranger's. Mount namespaces are therefore read from live processes
        # only, and what lives in them is collected before those processes are killed.
        self_mnt = procs.ns_inode("/proc/self/ns/mnt")
        held = procs.mount_namespaces([self.state.get("bastion")], exclude=self_mnt)
        in_held = procs.scan(self.prefix, set(), held) if held else []
        for p in known:  # process groups: relays carry forked children, device loops their simulator
            if procs.kill(p, group=True):
                report.append(f"killed {p['pid']}")
        for p in in_held:  # the bastion's sessions (they live in its mount namespace)
            if procs.kill(p):
                report.append(f"killed {p['pid']} (bastion namespace)")
        netns_ids = {i for i in (procs.ns_inode(os.path.join(procs.NETNS_DIR, x)) for x in names) if i}
        cmd_marks = (f"{self.dir}/bastion/sshd_config".encode(), f"UNIX-LISTEN:{self.dir}/nodes/".encode(),
                     f"hctools.simfleet.relay\0--listen\0{self.dir}/nodes/".encode())
        # ports mode: the node sshds (their title, like the bastion's, names their config)
        cmd_marks += tuple(f"{nd}/etc-ssh/sshd_config".encode() for nd in sorted(self.dir.glob("nodes/*")))
        for _ in range(50):
            found = procs.scan(self.prefix, netns_ids, set(), cmd_marks)
            # sshd session processes carry neither marker nor config: they are below a found process
            for pid in procs.descendants({p["pid"] for p in found}):
                st = procs.starttime(pid)
                if st is not None:
                    found.append({"pid": pid, "start": st})
            # a bastion whose state file was lost: its mount namespace (held by it, alive now) leads to
            # its session children
            held = procs.mount_namespaces(found, exclude=self_mnt)
            if held:
                seen = {p["pid"] for p in found}
                found += [p for p in procs.scan(self.prefix, set(), held) if p["pid"] not in seen]
            if not found:
                break
            for p in found:
                if procs.kill(p):
                    report.append(f"killed {p['pid']} (scan)")
            procs.wait_gone(found, 2)
        else:
            raise FleetError(f"processes of fleet {self.prefix} keep coming back; see `simfleet status`")
        if names:
            ip_batch(None, [f"netns delete {x}" for x in names])
            report.append(f"deleted {len(names)} network namespaces")
        if self.state:
            for n in self.nodes:
                n["init"] = n["relay"] = n["watchdog"] = None
                n["devices"] = {}
                n["units"] = {}
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
