# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Camera driver interface, errors and the model table (node side, Python 3.6+, stdlib only)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class CameraError(Exception):
    """A camera problem with a message that says what is wrong and what to do."""

    kind = "error"

    def __init__(self, message, code=None, details=None):
        Exception.__init__(self, message)
        self.message = message
        self.code = code
        self.details = details

    def __str__(self):
        return self.message


class CameraUnreachable(CameraError):
    kind = "unreachable"


class CameraAuthError(CameraError):
    """HTTP 401 after the digest exchange: wrong user name or password. Never retried."""
    kind = "auth"


class CameraLockedOut(CameraError):
    """HTTP 490: too many failed logins. Never retried (retries lengthen the lockout)."""
    kind = "lockout"


class CameraNotAuthorized(CameraError):
    """SUNAPI error 609: the account lacks the permission for this CGI."""
    kind = "not_authorized"


class CameraNoPTZ(CameraError):
    """The camera (model) cannot pan, tilt or zoom."""
    kind = "no_ptz"


class CameraDeviceError(CameraError):
    """Any other error the camera reported (NG text or {"Response": "Fail"})."""
    kind = "device"


class CameraNotSettled(CameraError):
    kind = "not_settled"


# Known models. Ranges: docs/devices/camera.md (a Sage project's README for the XNP-6400RW).
# 'ptz': False marks fixed-lens models, refused before any PTZ request is sent.
MODELS = {
    "XNP-6400RW": {"ptz": True, "pan": [0.0, 360.0], "tilt": [-20.0, 90.0], "zoom": [1.0, 40.0],
                   "max_presets": 300},
    "XNV-8081Z": {"ptz": False},
    "XNV-8082R": {"ptz": False},
    "XNV-8080R": {"ptz": False},
    "XNF-8010RV": {"ptz": False},
}

PRESET_NAME_MAX = 12


class CameraDriver(object):
    """What camera_ptz and camera_info need from a camera. Positions are dicts with float
    'pan', 'tilt' and 'zoom' in the driver's native units (SUNAPI: degrees 0..360 pan)."""

    name = None
    pan_range = (0.0, 360.0)

    def get_info(self):
        """-> dict with at least model, serial, firmware (and 'raw': everything reported)."""
        raise NotImplementedError

    def get_limits(self):
        """-> {axis: [min, max]} reported by the camera, or None when it cannot tell."""
        return None

    def get_position(self):
        raise NotImplementedError

    def move_absolute(self, pan=None, tilt=None, zoom=None):
        raise NotImplementedError

    def goto_preset(self, number):
        raise NotImplementedError

    def list_presets(self):
        """-> {number (int): name (str)}"""
        raise NotImplementedError

    def add_preset(self, number, name):
        """Stores the camera's *current* position as preset number."""
        raise NotImplementedError

    def rename_preset(self, number, name):
        raise NotImplementedError

    def remove_preset(self, number):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError
