"""Test payloads built with the collection's own builder (honeycomb-build), from phase scripts.

    scripts = marker_scripts("/etc/waggle/hc-test/p1", "2.0.0", install="...")
    build_script_payload(tmp / "p1.tar.gz", scripts, name="p1", version="2.0.0", description="my test")
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from hctest.requires import require_venv_tool

SHEBANG = "#!/bin/sh\n"
TIMEOUTS = {"state_check": 30, "install": 120, "verify": 30, "rollback": 30}


def marker_scripts(mark: str, version: str, install: str, rollback: str | None = "exit 0\n") -> dict:
    """Phase scripts (bodies without the shebang) of a payload whose state is the file ``<mark>/version``:
    the state check answers "already applied" (exit 100) when it holds ``version``, verify requires it,
    ``install`` is the test's own; no rollback script when ``rollback`` is None."""
    scripts = {
        "hc_state_check.sh": f'[ "$(cat {mark}/version 2>/dev/null)" = "{version}" ] && exit 100\nexit 0\n',
        "hc_install_upgrade.sh": install,
        "hc_verify_upgrade.sh": f'[ "$(cat {mark}/version 2>/dev/null)" = "{version}" ]\n',
    }
    if rollback is not None:
        scripts["hc_rollback_upgrade.sh"] = rollback
    return scripts


def build_script_payload(out: Path, scripts: dict, *, name: str, version: str, description: str,
                         timeouts: dict | None = None, manifest_extra: str = "", shebang: str = SHEBANG) -> Path:
    """Build ``out`` (``<something>.tar.gz``) from ``scripts`` ({file name: body}; each is written with
    ``shebang`` in front, mode 0755, into ``src-<something>`` beside ``out``) and a honeycomb.yml naming
    ``name`` (also the peripheral), ``version``, ``description``, the phase ``timeouts`` (None: no
    timeouts section) and ``manifest_extra`` (more manifest lines)."""
    out = Path(out)
    src = out.parent / ("src-" + out.name[:-len(".tar.gz")])
    src.mkdir(parents=True, exist_ok=True)
    for fname, body in scripts.items():
        (src / fname).write_text(shebang + body)
        (src / fname).chmod(0o755)
    manifest = f'name: {name}\nversion: "{version}"\nperipheral: {name}\ndescription: {description}\n' + manifest_extra
    if timeouts:
        manifest += "timeouts:\n" + "".join(f"  {phase}: {seconds}\n" for phase, seconds in timeouts.items())
    (src / "honeycomb.yml").write_text(manifest)
    subprocess.run([require_venv_tool("honeycomb-build"), str(src), "-o", str(out)], check=True, capture_output=True,
                   text=True)
    return out
