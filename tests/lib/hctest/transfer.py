"""Helpers of the payload-transfer tests (tests/integration/simfleet/test_transfer_link.py,
tests/faults/test_transfer_flap.py): a payload carrying incompressible bytes, and what a node's
store holds besides store entries."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hctest.payloads import build_script_payload, marker_scripts

MIB = 1024 * 1024


def blob_payload(tmp: Path, name: str, size: int, version: str = "1.0") -> Path:
    """A payload carrying ``size`` random bytes (``blob.bin``); its install records ``version`` in
    /etc/waggle/hc-test/<name>/version, its state check is satisfied by that file."""
    src = Path(tmp) / f"src-{name}"
    src.mkdir(parents=True)
    with open(src / "blob.bin", "wb") as handle:
        left = size
        while left > 0:
            handle.write(os.urandom(min(MIB, left)))
            left -= MIB
    d = f"/etc/waggle/hc-test/{name}"
    scripts = marker_scripts(d, version, install=f"set -eu\ntest -s blob.bin\nmkdir -p {d}\necho {version} > {d}/version\n")
    return build_script_payload(Path(tmp) / f"{name}.tar.gz", scripts, name=name, version=version,
                                description="transfer test",
                                timeouts={"state_check": 60, "install": 300, "verify": 60, "rollback": 60})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def store_leftovers(state_dir: Path) -> list[str]:
    """Names in the node's payload store that are not store entries (partial transfers, uploads)."""
    d = Path(state_dir) / "payloads"
    return sorted(n for n in os.listdir(d) if not n.endswith(".tar.gz")) if d.is_dir() else []
