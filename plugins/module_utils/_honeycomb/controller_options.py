# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of waggle.honeycomb.upgrade that only the controller uses, in one place.

The waiting mode (wait_options.py), the maintenance windows (window_options.py) and the payload transfer
(receive.py) each define their options; the action plugin acts on them and never sends them to the node;
the module declares them only so that one argument spec documents the whole task. Python 3.6, stdlib.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.receive import TRANSFER_OPTIONS
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.wait_options import WAIT_OPTIONS
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.window_options import WINDOW_OPTIONS

CONTROLLER_OPTIONS = dict(WAIT_OPTIONS)
CONTROLLER_OPTIONS.update(WINDOW_OPTIONS)
CONTROLLER_OPTIONS.update(TRANSFER_OPTIONS)


def without_controller_options(params):
    """``params`` without the controller-side options (what the node-side engine gets)."""
    return dict((k, v) for k, v in params.items() if k not in CONTROLLER_OPTIONS)
