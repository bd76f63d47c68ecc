# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of waggle.honeycomb.upgrade for maintenance windows (docs/rollout.md "Maintenance windows").

The action plugin evaluates them on the controller (plugins/plugin_utils/_honeycomb/windows.py) and never
sends them to the node; the module declares them only so that one argument spec documents the whole
task. Python 3.6, stdlib.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

WINDOW_OPTIONS = dict(
    maintenance_window=dict(type="raw"),
    ignore_windows=dict(type="bool", default=False),
)
