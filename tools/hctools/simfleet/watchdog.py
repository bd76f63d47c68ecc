"""The network watchdog of a simulated node: a stand-in of waggle-network-watchdog (v2.4.0) running the real
schedule (plugins/module_utils/_honeycomb/watchdog_schedule.py) on a time scale (docs/simfleet.md).

`simfleet up --watchdog-scale 0.01` starts one per node (`python -m hctools.simfleet.watchdog`); 0.01 makes
the 30 s check period 0.3 s and the first networking restart (900 s) 9 s. Off unless asked for.

What it does, as the real one does on nxcore:

* **check**: every period, whether the node's reverse tunnel is up: the bastion end of the node's tunnel
  (its socket in the bastion's home_dirs) is connected to and answers with the node's SSH banner, as
  `simfleet status` sees it. (The real watchdog looks for an established TCP connection to the bastion;
  in the fleet the node reaches the bastion only through its tunnel.) The last HISTORY/PERIOD results are
  kept, all failed when the service starts (at every boot of the node).
* **healthy** (at least HEALTHY_FRACTION passed): the outage clock restarts and the reset counters
  (``/etc/waggle/nw/*_reset_count`` on the node's disk) are set to 0.
* **outage**: at most one due action per check, each once per outage (watchdog_schedule.actions):
  ``network_restart`` (the node's tunnel ssh is killed, its init restarts it; the node's uplink relay, if
  it runs, is restarted, cutting its connections; an uplink that is down stays down),
  ``soft_reboot`` (while the soft counter is below its maximum: the node is power-cut and booted at once,
  with simfleet's power-cut machinery), ``hard_reboot`` (while the hard counter is below its maximum: a
  power-off, and after POWER_OFF_SECONDS a boot, as the Wagman restores power; else the boot-slot switch:
  the slot-switch action, counters to 0 and a reboot).

The slot-switch action is resolved by name (``MODULE:FUNCTION``, default :data:`SLOT_SWITCH`) when that
stage is reached and called as ``action(fleet, node)`` under the fleet lock; it makes the other boot slot
the node's next one. A missing action stops the watchdog with an error naming it (logged).

:class:`NetworkWatchdog` is the schedule logic alone, on a clock in watchdog seconds (unit-tested with a
fake clock and fake counters); :func:`run` is the process that drives it for one node.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import os
import sys
import time
from pathlib import Path

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import watchdog_schedule as ws

from . import nodes as nodes_
from . import procs
from .fleet import Fleet
from .hostutil import FleetError, wait_banner

SLOT_SWITCH = "hctools.simfleet.bootslot:select_recovery"
"""The default slot-switch action (the fleet's boot-slot stand-in)."""
MIN_SCALE = 0.001
"""Below this a check period (30 s) would be shorter than 30 ms, less than one look through a tunnel."""
LOG = "watchdog.log"
"""The watchdog's log in the node's /var/log/simfleet: ``<UTC time> <event> <text>`` per line."""
COUNTERS = ("network_reset_count", "soft_reset_count", "hard_reset_count")

NETWORK_RESTART, REBOOT, POWER_OFF, SLOT_SWITCH_REBOOT = "network_restart", "reboot", "power_off", "slot_switch"


class WatchdogError(Exception):
    pass


class Counters:
    """The reset counters in a folder (the node's /etc/waggle/nw): one integer per file, 0 when absent."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def get(self, name: str) -> int:
        try:
            return int((self.folder / name).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def set(self, name: str, value: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(f"{value}\n")
        os.replace(tmp, self.folder / name)


class NetworkWatchdog:
    """The schedule logic of one node's watchdog. ``start(now)`` at service start, then ``check(now, ok)``
    every period; ``check`` returns the action to carry out (or None) and records what it did in
    ``events`` (``(now, event, text)``). ``now`` is in watchdog seconds."""

    def __init__(self, counters: Counters, history: float = ws.HISTORY, period: float = ws.PERIOD,
                 healthy_fraction: float = ws.HEALTHY_FRACTION, schedule: list | None = None,
                 soft_max: int = ws.SOFT_REBOOT_MAX, hard_max: int = ws.HARD_REBOOT_MAX):
        self.counters = counters
        self.samples = ws.samples(history, period)
        self.healthy_fraction = healthy_fraction
        self.schedule = schedule if schedule is not None else ws.actions()
        self.soft_max, self.hard_max = soft_max, hard_max
        self.events: list[tuple[float, str, str]] = []
        self.history: collections.deque = collections.deque(maxlen=self.samples)
        self.outage_since = 0.0
        self.fired: set = set()
        self.was_healthy = False

    def _event(self, now: float, event: str, text: str) -> None:
        self.events.append((now, event, text))

    def start(self, now: float) -> None:
        """The service (re)starts: history all failed, the outage clock from now, nothing fired."""
        self.history.clear()
        self.history.extend([False] * self.samples)
        self.outage_since = now
        self.fired = set()
        self.was_healthy = False
        self._event(now, "start", "scoreboard: " + ", ".join(f"{c} {self.counters.get(c)}" for c in COUNTERS))

    def healthy(self) -> bool:
        return sum(self.history) / float(self.samples) >= self.healthy_fraction

    def check(self, now: float, ok: bool) -> str | None:
        self.history.append(bool(ok))
        if self.healthy():
            if not self.was_healthy:
                self._event(now, "ok", "connection ok (healthy again)")
            self.was_healthy = True
            self.outage_since = now
            self.fired = set()
            for c in COUNTERS:
                if self.counters.get(c):
                    self.counters.set(c, 0)
            return None
        if self.was_healthy:
            self._event(now, "unhealthy", "connection health check failed")
        self.was_healthy = False
        elapsed = now - self.outage_since
        self._event(now, "outage", f"no connection for {elapsed:.0f}s")
        for at, kind in self.schedule:
            if elapsed >= at and (at, kind) not in self.fired:
                self.fired.add((at, kind))
                return self._fire(now, kind)
        return None

    def _fire(self, now: float, kind: str) -> str | None:
        if kind == "network_restart":
            count = self.counters.get("network_reset_count") + 1
            self.counters.set("network_reset_count", count)
            self._event(now, NETWORK_RESTART, f"restarting networking and tunnels (network reset {count})")
            return NETWORK_RESTART
        if kind == "soft_reboot":
            count = self.counters.get("soft_reset_count")
            if count >= self.soft_max:
                self._event(now, "skip", "skipping soft reboot, max reached")
                return None
            self.counters.set("soft_reset_count", count + 1)
            self._event(now, REBOOT, f"soft reboot (soft reset {count + 1})")
            return REBOOT
        count = self.counters.get("hard_reset_count")
        self.counters.set("hard_reset_count", count + 1)
        if count < self.hard_max:
            self._event(now, POWER_OFF, f"hard reboot: power off (hard reset {count + 1})")
            return POWER_OFF
        for c in COUNTERS:
            self.counters.set(c, 0)
        self._event(now, SLOT_SWITCH_REBOOT, "media switch: switching the boot slot and rebooting")
        return SLOT_SWITCH_REBOOT


def resolve_action(spec: str):
    """The callable named by ``MODULE:FUNCTION``; a WatchdogError naming it when it is not there."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise WatchdogError(f"slot-switch action {spec!r} is not MODULE:FUNCTION")
    try:
        func = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise WatchdogError(f"the watchdog reached its boot-slot switch but the slot-switch action {spec} is not "
                            f"available ({e}); give one with `simfleet up --watchdog-slot-switch MODULE:FUNCTION`"
                            ) from None
    if not callable(func):
        raise WatchdogError(f"slot-switch action {spec} is not callable")
    return func


# ---------------------------------------------------------------------- the process driving one node

def _tunnel_ssh_pids(n: dict) -> list[int]:
    """The node's reverse-tunnel ssh processes (below its init: `ssh ... -R ...`)."""
    out = []
    for pid in procs.descendants({n["init"]["pid"]}):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if argv and os.path.basename(argv[0]) == b"ssh" and b"-R" in argv:
                out.append(pid)
    return out


class Runner:
    """Drive the NetworkWatchdog of node `vsn` of the fleet at `fleet_dir` in real time."""

    def __init__(self, fleet_dir: Path, vsn: str, scale: float, slot_switch: str = SLOT_SWITCH,
                 power_off_seconds: float = ws.POWER_OFF_SECONDS):
        self.dir, self.vsn, self.scale = Path(fleet_dir), vsn, scale
        self.slot_switch, self.power_off_seconds = slot_switch, power_off_seconds
        fleet = Fleet(self.dir)
        n = fleet.find(vsn)
        self.node_dir = fleet.node_dir(n)
        self.wd = NetworkWatchdog(Counters(self.node_dir / "etc-waggle" / "nw"))
        self.log_path = self.node_dir / "var-log" / "simfleet" / LOG
        self.booted = None

    def now(self) -> float:
        return time.monotonic() / self.scale

    def log(self, event: str, text: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {event} {text}\n")

    def _flush(self) -> None:
        for _t, event, text in self.wd.events:
            if event != "outage":  # one line per check in an outage would drown the log; the actions say it
                self.log(event, text)
        self.wd.events.clear()

    def step(self) -> bool:
        """One check; False when this watchdog should end (fleet down, node gone, replaced)."""
        fleet = Fleet(self.dir)
        if not fleet.state or not fleet.up_running():
            return False
        n = fleet.find(self.vsn)
        mine = n.get("watchdog") or {}
        if mine.get("pid") not in (None, os.getpid()):
            return False  # another watchdog took over this node
        if not procs.alive(n.get("init")):
            self.booted = None  # off: the watchdog does not run
            return True
        if self.booted != n["init"]:
            self.booted = n["init"]
            self.wd.start(self.now())
        timeout = min(5.0, max(1.0, ws.PERIOD * self.scale))
        ok = wait_banner(str(fleet.rtun_path(n)), timeout, once=True)
        action = self.wd.check(self.now(), ok)
        self._flush()
        if action:
            self.carry_out(action)
        return True

    def carry_out(self, action: str) -> None:
        with Fleet(self.dir).locked():
            fleet = Fleet(self.dir)
            n = fleet.find(self.vsn)
            if not procs.alive(n.get("init")):
                self.log("skip", f"{action}: the node is off")
                return
            if action == NETWORK_RESTART:
                self.log("done", self._restart_network(fleet, n))
                return
            if action == SLOT_SWITCH_REBOOT:
                resolve_action(self.slot_switch)(fleet, n)
                self.log("done", f"boot slot switched by {self.slot_switch}")
            fleet.iso.power_cut(fleet, n)
            n["init"] = None
            if action == POWER_OFF:
                fleet.save()
                self.log("done", "powered off")
            else:
                nodes_.boot(fleet, n)
                fleet.save()
                self.log("done", f"rebooted (boot {n['boots']})")
                return
        time.sleep(self.power_off_seconds * self.scale)
        with Fleet(self.dir).locked():
            fleet = Fleet(self.dir)
            n = fleet.find(self.vsn)
            if fleet.up_running() and not procs.alive(n.get("init")):
                nodes_.boot(fleet, n)
                fleet.save()
                self.log("done", f"power restored (boot {n['boots']})")

    @staticmethod
    def _restart_network(fleet: Fleet, n: dict) -> str:
        killed = _tunnel_ssh_pids(n)
        for pid in killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        done = [f"tunnel ssh killed ({', '.join(map(str, killed))})" if killed else "no tunnel ssh running"]
        if procs.alive(n.get("relay")):
            procs.kill(n["relay"], group=True)
            procs.wait_gone([n["relay"]], 5)
            nodes_.start_relay(fleet, n)
            fleet.save()
            nodes_.wait_relays(fleet, [n])
            done.append("uplink restarted")
        else:
            done.append("uplink down (left down)")
        return "; ".join(done)

    def run(self) -> int:
        self.log("begin", f"simfleet network watchdog, scale {self.scale:g} (check every "
                          f"{ws.PERIOD * self.scale:g} s)")
        while True:
            try:
                if not self.step():
                    self.log("end", "fleet down or watchdog replaced")
                    return 0
            except WatchdogError as e:
                self.log("error", str(e))
                print(f"simfleet watchdog {self.vsn}: {e}", file=sys.stderr)
                return 2
            except FleetError as e:  # the node left the fleet
                self.log("end", str(e))
                return 0
            time.sleep(ws.PERIOD * self.scale)


def check_scale(scale: float) -> None:
    if not MIN_SCALE <= scale <= 1:
        raise FleetError(f"--watchdog-scale must be between {MIN_SCALE} and 1 (1: real time; 0.01: 15 min "
                         f"become 9 s), got {scale:g}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hctools.simfleet.watchdog", description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", required=True, help="the fleet directory")
    p.add_argument("--node", required=True, help="VSN of the node")
    p.add_argument("--scale", type=float, required=True, help="real seconds per watchdog second")
    p.add_argument("--slot-switch", default=SLOT_SWITCH, help=f"MODULE:FUNCTION (default {SLOT_SWITCH})")
    args = p.parse_args(argv)
    check_scale(args.scale)
    return Runner(Path(args.dir), args.node, args.scale, args.slot_switch).run()


if __name__ == "__main__":
    sys.exit(main())
