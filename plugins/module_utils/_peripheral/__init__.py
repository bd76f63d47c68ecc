# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node-side entry point for peripheral upgrades run by payload scripts (Python 3.6+, stdlib only)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class HandlerError(Exception):
    """A handler failure with a message that says what is wrong and what to do (status "failed").

    Defined here, not in cli.py, so handlers and the entry point see the same class when cli.py runs
    as ``__main__`` (``python3 -m ...cli``)."""
