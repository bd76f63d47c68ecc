"""The network watchdog stand-in through a whole outage that never ends, on a fast clock (scale 0.003: a
check every 0.09 s, the reboot 10 s into an outage): reboot, reboot, power-off, power-off, then the boot-slot
switch, which calls the default action (simfleet's boot slots: slot 1 becomes the next boot) and reboots
the node, which comes up on its recovery slot (tools/hctools/simfleet/watchdog.py, bootslot.py,
docs/simfleet.md)."""

import json
import tempfile
import time
from pathlib import Path

import pytest
from hctest.fleet import simfleet, skip_unless_fleet_possible, stop_fleet

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

ACTIONS = ("network_restart", "reboot", "power_off", "slot_switch")


def test_a_lasting_outage_goes_through_the_whole_schedule_to_the_slot_switch():
    skip_unless_fleet_possible()
    d = Path(tempfile.mkdtemp(prefix="hcw-", dir="/tmp"))
    try:
        simfleet("up", "--nodes", "1", "--dir", str(d), "--devices", "none", "--restart-delay", "1",
                 "--no-remember", "--watchdog-scale", "0.003")
        vsn = "W001"
        node_dir = d / "nodes" / vsn
        log = node_dir / "var-log" / "simfleet" / "watchdog.log"

        def entries():
            return [line.split(" ", 2)[1:] for line in log.read_text().splitlines()] if log.exists() else []

        deadline = time.monotonic() + 60
        while "ok" not in [e for e, _t in entries()]:
            assert time.monotonic() < deadline, "the watchdog never saw the tunnel healthy"
            time.sleep(0.2)
        simfleet("drop-tunnel", vsn, "--dir", str(d))
        deadline = time.monotonic() + 400
        while "slot_switch" not in [e for e, _t in entries()]:
            assert time.monotonic() < deadline, "no slot switch:\n" + log.read_text()
            time.sleep(0.5)
        deadline = time.monotonic() + 30
        while not any(e == "done" and t.startswith("rebooted") for e, t in entries()[-3:]):
            assert time.monotonic() < deadline, "no reboot after the slot switch:\n" + log.read_text()
            time.sleep(0.2)

        events = entries()
        acted = [e for e, _t in events if e in ACTIONS]
        nr = ["network_restart"] * 3
        assert acted == nr + ["reboot"] + nr + ["reboot"] + nr + ["power_off"] + nr + ["power_off"] + nr + \
            ["slot_switch"], events
        done = [t for e, t in events if e == "done" and not t.startswith(("no tunnel", "tunnel"))]
        assert [t.split(" (")[0] for t in done] == [
            "rebooted", "rebooted", "powered off", "power restored", "powered off", "power restored",
            "boot slot switched by hctools.simfleet.bootslot:select_recovery", "rebooted"], done
        assert sum(1 for e, t in events if e == "skip" and "max reached" in t) == 3  # soft reboots at their max
        # the switch set every counter back to 0; the node booted 1 + 2 + 2 + 1 times
        assert {p.name: p.read_text().strip() for p in (node_dir / "etc-waggle" / "nw").iterdir()} == {
            "network_reset_count": "0", "soft_reset_count": "0", "hard_reset_count": "0"}
        status = json.loads(simfleet("status", "--json", "--dir", str(d)).stdout)
        assert status["nodes"][0]["boots"] == 6 and status["nodes"][0]["watchdog"] == "running"
        # the slot switch made the node boot from its recovery slot (recorded as the recovery fault)
        assert status["nodes"][0]["boot_slot"] == 1 and "recovery" in status["nodes"][0]["faults"]
    finally:
        stop_fleet(d)
