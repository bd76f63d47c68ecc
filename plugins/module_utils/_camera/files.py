# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the camera code writes on the node (node side, Python 3.6+, stdlib only)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile


def replace_file(path, data, mode, prefix, suffix=""):
    """Writes data to path atomically: a temp file named prefix...suffix in path's directory (which must
    exist) gets the bytes and mode, then is renamed over path. On any failure the temp file is removed,
    so no partial file is left and an existing path keeps its old content."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
