# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class EdgeSwitchError(Exception):
    """Base error; str() is a sentence that names the problem and what to do."""


class ConnectError(EdgeSwitchError):
    """The switch could not be reached (refused, timed out, no route, host key problem)."""


class AuthError(EdgeSwitchError):
    """Wrong username/password or enable password."""


class ConnectionLost(EdgeSwitchError):
    """The CLI connection closed in the middle of an operation."""


class CommandError(EdgeSwitchError):
    """The switch rejected a command (`% Invalid input ...` and similar)."""

    def __init__(self, message, output=""):
        EdgeSwitchError.__init__(self, message)
        self.output = output


class TransferError(EdgeSwitchError):
    """A copy to or from the switch did not report success."""

    def __init__(self, message, output=""):
        EdgeSwitchError.__init__(self, message)
        self.output = output


class ServerError(EdgeSwitchError):
    """The node-side FTP/TFTP server could not be started."""
