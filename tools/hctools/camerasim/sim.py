"""The simulated camera: the parts assembled into one class, plus the entry point.

The files mirror ``plugins/module_utils/_camera/``: driver.py (models, knobs, errors, state),
digest.py (HTTP digest auth, lockout), sunapi.py (SUNAPI dispatch, attributes, init status),
ptz.py (motion, ptzcontrol/ptzconfig), snapshot.py (JPEGs), firmware.py (firmware update, config
backup/restore, restart), vapix.py (AXIS), server.py (HTTP server, command line).
"""

import threading

from .digest import DigestMixin
from .driver import ERRORS, KNOBS, MODELS, SimCore, SunapiError  # noqa: F401
from .firmware import FirmwareMixin, make_image  # noqa: F401
from .ptz import PtzMixin
from .server import main  # noqa: F401
from .snapshot import SnapshotMixin
from .sunapi import SunapiMixin
from .vapix import VapixMixin


class CameraSim(SunapiMixin, PtzMixin, SnapshotMixin, FirmwareMixin, VapixMixin, DigestMixin, SimCore):
    """Camera state and behaviour: model, users, position and motion, presets, firmware, login failures."""

    def __init__(self, state_dir, overrides=None, **kw):
        self.firmware_lock = threading.Lock()   # one firmware update at a time
        SimCore.__init__(self, state_dir, overrides, **kw)
