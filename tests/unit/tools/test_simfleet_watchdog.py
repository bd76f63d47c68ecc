"""simfleet's network watchdog stand-in: the schedule logic on a fake clock (watchdog seconds), its counters
and the pluggable boot-slot switch (tools/hctools/simfleet/watchdog.py, docs/simfleet.md)."""

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import watchdog_schedule as ws
from hctools.simfleet import watchdog as wdm
from hctools.simfleet.hostutil import FleetError

PERIOD = ws.PERIOD


class FakeCounters(wdm.Counters):
    def __init__(self):  # pylint: disable=super-init-not-called
        self.values = {}

    def get(self, name):
        return self.values.get(name, 0)

    def set(self, name, value):
        self.values[name] = value


class Node:
    """A node whose tunnel is up while `up(t)`; the watchdog is checked every PERIOD on a fake clock and
    its actions are carried out the way the runner does (a reboot restarts the service after `boot` s,
    a power-off after `off` + `boot` s; the slot switch calls `switch`)."""

    def __init__(self, up, boot=300, off=ws.POWER_OFF_SECONDS, switch=None):
        self.up, self.boot, self.off, self.switch = up, boot, off, switch
        self.wd = wdm.NetworkWatchdog(FakeCounters())
        self.actions = []
        self.starts = []

    def run(self, until):
        t = 0
        self.wd.start(t)
        self.starts.append(t)
        while t < until:
            action = self.wd.check(t, self.up(t))
            if action:
                self.actions.append((t, action))
                if action == wdm.SLOT_SWITCH_REBOOT:
                    self.switch(t)
                t += (self.off if action == wdm.POWER_OFF else 0) + (self.boot if action != wdm.NETWORK_RESTART
                                                                     else 0)
                if action != wdm.NETWORK_RESTART:
                    self.wd.start(t)
                    self.starts.append(t)
            t += PERIOD
        return self


def test_a_node_whose_tunnel_is_up_is_left_alone():
    node = Node(lambda t: True).run(8 * 3600)
    assert node.actions == [] and node.wd.healthy()
    assert [e for e in node.wd.events if e[1] == "ok"] == [(19 * PERIOD, "ok", "connection ok (healthy again)")]


def test_a_short_tunnel_loss_is_only_logged():
    drop = 905
    node = Node(lambda t: not drop < t < drop + ws.quiet_tunnel_loss()).run(4 * 3600)
    assert node.actions == []
    assert [e[1] for e in node.wd.events if e[1] in ("ok", "unhealthy")] == ["ok", "unhealthy", "ok"]
    # a minute longer and the outage clock (which runs until 20 of 30 checks passed again) reaches 900 s
    node = Node(lambda t: not drop < t < drop + ws.quiet_tunnel_loss() + 60).run(4 * 3600)
    assert [a for _t, a in node.actions] == [wdm.NETWORK_RESTART]


def test_a_lasting_outage_runs_the_whole_schedule_then_switches_the_slot():
    drop = 905  # the tunnel was up for a full history (31 checks), then never again
    switched = []
    node = Node(lambda t: t < drop, switch=switched.append).run(8 * 3600)
    node.actions = node.actions[:20]  # then it starts over on the other slot (counters at 0)
    kinds = [a for _t, a in node.actions]
    nr = [wdm.NETWORK_RESTART] * 3
    assert kinds == nr + [wdm.REBOOT] + nr + [wdm.REBOOT] + nr + [wdm.POWER_OFF] + nr + [wdm.POWER_OFF] + nr + \
        [wdm.SLOT_SWITCH_REBOOT]
    # the outage clock starts at the last healthy check: 10 failed checks after the drop
    last_ok = 900 + 10 * PERIOD
    due = [at for at, _kind in ws.actions()]

    def on_time(actions, origin, due):  # each at the first check at or past its due time
        return all(0 <= t - origin - at < PERIOD for (t, _a), at in zip(actions, due))
    assert on_time(node.actions[:4], last_ok, due[:4])
    assert node.actions[3][0] - drop <= ws.first_reboot_after_loss()
    # after each boot the service starts with an empty history: the clock runs from the start
    assert on_time(node.actions[4:8], node.starts[1], due[:4])
    assert on_time(node.actions[8:12], node.starts[2], due[:3] + due[4:])  # soft reboot skipped: the hard one
    assert any(e[1] == "skip" and "max reached" in e[2] for e in node.wd.events)
    assert switched == [node.actions[19][0]]
    assert node.starts[5] - drop < 6 * ws.first_reboot_after_loss()  # soft, soft, off, off, switch: ~5 h


def test_each_action_fires_once_per_outage_and_one_per_check():
    node = Node(lambda t: False).run(3000)  # never up: the clock runs from the service start
    assert node.actions == [(900, wdm.NETWORK_RESTART), (1800, wdm.NETWORK_RESTART), (2700, wdm.NETWORK_RESTART)]
    late = wdm.NetworkWatchdog(FakeCounters())
    late.start(0)
    # first check only at 3450: three restarts and the reboot are due; one per check, in order
    got = [late.check(3450 + i, False) for i in range(5)]
    assert got == [wdm.NETWORK_RESTART] * 3 + [wdm.REBOOT, None]


def test_health_back_resets_the_counters_and_the_clock():
    drop, back = 905, 905 + 1300  # past the first networking restart, back before the second
    node = Node(lambda t: not drop < t < back).run(4 * 3600)
    assert [a for _t, a in node.actions] == [wdm.NETWORK_RESTART]
    assert node.wd.counters.values["network_reset_count"] == 0  # reset once healthy again (20 of 30 passed)


def test_counters_live_in_files(tmp_path):
    c = wdm.Counters(tmp_path / "nw")
    assert c.get("soft_reset_count") == 0
    c.set("soft_reset_count", 2)
    assert (tmp_path / "nw" / "soft_reset_count").read_text() == "2\n" and c.get("soft_reset_count") == 2
    (tmp_path / "nw" / "hard_reset_count").write_text("garbage")
    assert c.get("hard_reset_count") == 0


def test_the_slot_switch_action_is_resolved_by_name_and_fails_loudly_when_absent():
    assert wdm.resolve_action("hctools.simfleet.watchdog:check_scale") is wdm.check_scale
    with pytest.raises(wdm.WatchdogError, match=r"hctools\.simfleet\.nosuch:switch .*not available.*"
                                                r"--watchdog-slot-switch"):
        wdm.resolve_action("hctools.simfleet.nosuch:switch")
    with pytest.raises(wdm.WatchdogError, match="not available"):
        wdm.resolve_action("hctools.simfleet.watchdog:no_such_function")
    with pytest.raises(wdm.WatchdogError, match="MODULE:FUNCTION"):
        wdm.resolve_action("just_a_name")


def test_the_scale_is_checked():
    wdm.check_scale(0.01)
    wdm.check_scale(1)
    for bad in (0, 0.0001, 2):
        with pytest.raises(FleetError, match="--watchdog-scale"):
            wdm.check_scale(bad)
