# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The schedule of the Waggle network watchdog on a Wild Sage node (waggle-network-watchdog v2.4.0, the
version of the NX image), and the rollout defaults derived from it (docs/upgrade.md, "The node's network
watchdog").

Defined once here: the wait options of waggle.honeycomb.upgrade (wait_options.py) take their defaults from
the derived figures below, and the simulated fleet's watchdog stand-in (tools/hctools/simfleet/watchdog.py)
runs this schedule. Python 3.6, stdlib.

What the watchdog does: every ``PERIOD`` seconds it checks for an established connection to the bastion
and keeps the last ``HISTORY / PERIOD`` results (all failed at service start). While at least
``HEALTHY_FRACTION`` of them passed the node is healthy: the outage clock is reset, the reset counters are
set to 0. Otherwise it fires at most one due action per check, each at most once per outage, at these
seconds on the outage clock: a restart of networking and the tunnels at ``NETWORK_RESTART_START`` and then
every ``NETWORK_RESTART_INTERVAL`` (while before the first reboot), a reboot at ``SOFT_REBOOT_START`` (the
first ``SOFT_REBOOT_MAX`` outages), and at ``HARD_REBOOT_START`` a power-off (the first ``HARD_REBOOT_MAX``
times; the Wagman restores power) or else a switch of the boot slot and a reboot.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# ---------------------------------------------------------------- the watchdog's own figures (v2.4.0)
PERIOD = 30
"""Seconds between two health checks (``[all] health_check_period``)."""
HISTORY = 900
"""Seconds of check results kept (``[all] health_check_history``): HISTORY / PERIOD samples."""
HEALTHY_FRACTION = 0.66
"""Share of passed checks in the history at or above which the node is healthy (``health_check_healthy_perc``)."""
NETWORK_RESTART_START = 900
"""Outage seconds of the first restart of networking and the tunnels (``[network-reboot] reset_start``)."""
NETWORK_RESTART_INTERVAL = 900
"""Outage seconds between two restarts of networking (``[network-reboot] reset_interval``)."""
SOFT_REBOOT_START = 3400
"""Outage seconds of the reboot (``[soft-reboot] reset_start``)."""
SOFT_REBOOT_MAX = 2
"""Outages in a row that end in a reboot before it is skipped (``[soft-reboot] max_resets``)."""
HARD_REBOOT_START = 3500
"""Outage seconds of the power-off or boot-slot switch (``[hard-reboot] reset_start``)."""
HARD_REBOOT_MAX = 2
"""Power-offs in a row before the next one becomes a boot-slot switch (``[hard-reboot] max_resets``)."""
TUNNEL_RESTART_DELAY = 30
"""Seconds systemd waits before it restarts the reverse tunnel (waggle-bk-reverse-tunnel ``RestartSec``)."""

# ---------------------------------------------------------------- unconfirmed figures (configurable in use)
BOOT_SECONDS = 300
"""Seconds from a reboot until the node's tunnel is up again. Not measured: an estimate."""
POWER_OFF_SECONDS = 300
"""Seconds a node stays off after the watchdog's power-off until the Wagman restores power. Not public: an
estimate (the simulated fleet's stand-in uses it, scaled)."""
LONGEST_INSTALL = 3600
"""Seconds the rollout's defaults allow one install to run (a planning figure of this collection, not of
the watchdog)."""


def samples(history=HISTORY, period=PERIOD):
    """The number of check results the watchdog keeps."""
    return max(1, int(round(float(history) / period)))


def failed_checks_to_outage(history=HISTORY, period=PERIOD, healthy_fraction=HEALTHY_FRACTION):
    """Failed checks in a row, after a fully healthy history, until the score falls below
    ``healthy_fraction`` (30 samples at 0.66: 11)."""
    n = samples(history, period)
    for k in range(n + 1):
        if float(n - k) / n < healthy_fraction:
            return k
    return n


def outage_lag(history=HISTORY, period=PERIOD, healthy_fraction=HEALTHY_FRACTION):
    """Seconds, at most, from the tunnel's loss until the watchdog's outage clock starts running (its last
    healthy check is the one before the failed check that tips the score)."""
    return failed_checks_to_outage(history, period, healthy_fraction) * period


def actions(network_start=NETWORK_RESTART_START, network_interval=NETWORK_RESTART_INTERVAL,
            soft_start=SOFT_REBOOT_START, hard_start=HARD_REBOOT_START):
    """The watchdog's actions in outage seconds, in order: ``[(seconds, kind), ...]`` with kind
    ``network_restart``, ``soft_reboot`` or ``hard_reboot`` (900, 1800, 2700, 3400, 3500 by default)."""
    out = []
    t = network_start
    while t < min(soft_start, hard_start):
        out.append((t, "network_restart"))
        if network_interval <= 0:
            break
        t += network_interval
    out.append((soft_start, "soft_reboot"))
    out.append((hard_start, "hard_reboot"))
    return sorted(out, key=lambda a: a[0])


def first_reboot_after_loss():
    """Seconds from the tunnel's loss until the watchdog reboots the node (or powers it off), at most."""
    return outage_lag() + min(SOFT_REBOOT_START, HARD_REBOOT_START)


def _whole_minutes(seconds):
    return int(-(-seconds // 60) * 60)


def reconnect_deadline():
    """Default ``reconnect_timeout``: long enough for a node whose tunnel broke to be rebooted by its
    watchdog, boot and bring its tunnel up again, so that the wait then finds the job the reboot cut and
    resumes it by the resume rules, instead of giving up on the node (whole minutes; 4080 s)."""
    return _whole_minutes(first_reboot_after_loss() + BOOT_SECONDS + TUNNEL_RESTART_DELAY)


def wait_limit():
    """Default ``wait_timeout`` (the job's async limit, resumes included): the reconnect deadline plus
    the longest install, so a job cut by the watchdog's reboot still has time to run again (7680 s)."""
    return reconnect_deadline() + LONGEST_INSTALL


def passes_to_health(history=HISTORY, period=PERIOD, healthy_fraction=HEALTHY_FRACTION):
    """Passed checks the history must hold for the node to be healthy (30 samples at 0.66: 20)."""
    n = samples(history, period)
    for p in range(n + 1):
        if float(p) / n >= healthy_fraction:
            return p
    return n


def quiet_tunnel_loss():
    """Seconds a payload may keep the tunnel down without the watchdog acting, on a node whose tunnel was up
    for the last HISTORY seconds (570 s). The outage clock starts after 10 failed checks but stops only
    once 20 of the last 30 checks passed again, so a loss of F checks keeps it running for F + 10 checks:
    more than 20 failed checks reach the first networking restart."""
    most_failed = NETWORK_RESTART_START // PERIOD + failed_checks_to_outage() - passes_to_health() - 1
    return int((most_failed - 1) * PERIOD)
