"""Small helpers shared by the simulator's modules."""

import os
import tempfile


def atomic_write(path, data, mode=0o600):
    """Write bytes/str to path via a temp file and rename."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
