"""Helpers of the payload-transfer tests (tests/integration/simfleet/test_transfer_link.py,
tests/faults/test_transfer_flap.py): a payload carrying incompressible bytes, and what a node's
store holds besides store entries."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

MIB = 1024 * 1024


def blob_payload(tmp: Path, name: str, size: int, version: str = "1.0") -> Path:
    """A payload carrying ``size`` random bytes (``blob.bin``); its install records ``version`` in
    /etc/waggle/hc-test/<name>/version, its state check is satisfied by that file."""
    d = f"/etc/waggle/hc-test/{name}"
    src = Path(tmp) / f"src-{name}"
    src.mkdir(parents=True)
    scripts = {
        "hc_state_check.sh": f'[ "$(cat {d}/version 2>/dev/null)" = "{version}" ] && exit 100\nexit 0\n',
        "hc_install_upgrade.sh": f"set -eu\ntest -s blob.bin\nmkdir -p {d}\necho {version} > {d}/version\n",
        "hc_verify_upgrade.sh": f'[ "$(cat {d}/version 2>/dev/null)" = "{version}" ]\n',
        "hc_rollback_upgrade.sh": "exit 0\n",
    }
    for fname, body in scripts.items():
        (src / fname).write_text("#!/bin/sh\n" + body)
        (src / fname).chmod(0o755)
    with open(src / "blob.bin", "wb") as handle:
        left = size
        while left > 0:
            handle.write(os.urandom(min(MIB, left)))
            left -= MIB
    (src / "honeycomb.yml").write_text(
        f'name: {name}\nversion: "{version}"\nperipheral: {name}\ndescription: transfer test\n'
        "timeouts:\n  state_check: 60\n  install: 300\n  verify: 60\n  rollback: 60\n")
    out = Path(tmp) / f"{name}.tar.gz"
    subprocess.run([str(Path(sys.executable).parent / "honeycomb-build"), str(src), "-o", str(out)], check=True,
                   capture_output=True, text=True)
    return out


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
