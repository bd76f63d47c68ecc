# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network watchdog's schedule and the wait defaults derived from it (one owner: watchdog_schedule)."""

import yaml

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import wait_options
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import watchdog_schedule as ws
from ansible_collections.waggle.honeycomb.plugins.modules import upgrade


def test_the_v2_4_0_schedule():
    assert ws.samples() == 30
    assert ws.actions() == [(900, "network_restart"), (1800, "network_restart"), (2700, "network_restart"),
                            (3400, "soft_reboot"), (3500, "hard_reboot")]


def test_the_outage_clock_starts_after_eleven_failed_checks():
    # 20 of 30 passed is 0.667 >= 0.66 (healthy); 19 of 30 is not
    assert ws.failed_checks_to_outage() == 11
    assert ws.outage_lag() == 330
    assert ws.failed_checks_to_outage(history=600, period=15, healthy_fraction=0.7) == 13  # code defaults
    assert ws.passes_to_health() == 20
    assert ws.quiet_tunnel_loss() == 570


def test_network_restarts_stop_before_the_first_reboot():
    assert ws.actions(network_start=600, network_interval=300, soft_start=1800, hard_start=3600) == [
        (600, "network_restart"), (900, "network_restart"), (1200, "network_restart"), (1500, "network_restart"),
        (1800, "soft_reboot"), (3600, "hard_reboot")]
    assert [k for _t, k in ws.actions(network_interval=0)] == ["network_restart", "soft_reboot", "hard_reboot"]


def test_the_reconnect_deadline_outlasts_the_watchdogs_reboot_and_the_boot():
    back = ws.first_reboot_after_loss() + ws.BOOT_SECONDS + ws.TUNNEL_RESTART_DELAY
    assert ws.first_reboot_after_loss() == 330 + 3400
    assert back <= ws.reconnect_deadline() < back + 60 and ws.reconnect_deadline() % 60 == 0
    assert ws.wait_limit() == ws.reconnect_deadline() + ws.LONGEST_INSTALL


def test_the_wait_defaults_are_the_derived_figures_and_documented_as_such():
    assert wait_options.WAIT_OPTIONS["reconnect_timeout"]["default"] == ws.reconnect_deadline() == 4080
    assert wait_options.WAIT_OPTIONS["wait_timeout"]["default"] == ws.wait_limit() == 7680
    doc = yaml.safe_load(upgrade.DOCUMENTATION)["options"]
    for name, spec in wait_options.WAIT_OPTIONS.items():
        assert doc[name]["default"] == spec["default"], name
