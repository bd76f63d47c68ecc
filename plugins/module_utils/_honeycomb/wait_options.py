# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of waggle.honeycomb.upgrade's controller-side waiting mode (``wait: true``).

The action plugin uses them (plugins/plugin_utils/_honeycomb/upgrade_wait.py) and never sends them to the node;
the module declares them only so that one argument spec documents the whole task. Python 3.6, stdlib.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import watchdog_schedule

# wait_timeout and reconnect_timeout follow the node's network watchdog (watchdog_schedule.py): a node whose
# tunnel broke is waited for until its watchdog has rebooted it and it is back, so the job the reboot cut is
# resumed by the resume rules rather than given up
WAIT_OPTIONS = dict(
    wait=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=watchdog_schedule.wait_limit()),
    poll_interval=dict(type="int", default=15),
    reconnect_timeout=dict(type="int", default=watchdog_schedule.reconnect_deadline()),
)
