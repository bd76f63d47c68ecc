"""What a test needs from the machine, and what happens when it is missing.

The rule (docs/development.md, "Skips"): a test may **skip** only for something the project cannot
install, and then says why (``pytest -ra`` lists the reasons). Whatever ``make venv``,
``make venv-core216`` or ``tools/system-deps.sh`` installs is a **failure** when missing, with a
message naming the command that installs it, so a broken set-up never passes as "skipped".
"""

import importlib
import os
import shutil
import sys
from pathlib import Path

import pytest

SYSTEM_DEPS = "tools/system-deps.sh"  # also run by make test / make demo / .ci/run
VENV_BIN = Path(sys.executable).parent


def _fail(what: str, how: str) -> None:
    pytest.fail(f"{what} is missing: {how}", pytrace=False)


def require_tool(name: str, how: str, *alternatives: str) -> str:
    """Path of the first of ``name`` and ``alternatives`` on PATH; fail naming ``how`` to install it."""
    for candidate in (name,) + alternatives:
        path = shutil.which(candidate)
        if path:
            return path
    _fail(f"the command {' / '.join((name,) + alternatives)}", how)
    raise AssertionError("unreachable")  # pytest.fail raises


def require_system_tool(name: str, package: str, *alternatives: str) -> str:
    """A command from a Debian package that tools/system-deps.sh installs."""
    return require_tool(name, f"run `sudo {SYSTEM_DEPS}` (installs the Debian package {package})", *alternatives)


def require_path(path, what: str, how: str) -> Path:
    """An installed file (interpreter, daemon binary) at a fixed path."""
    path = Path(path)
    if not path.exists():
        _fail(f"{what} ({path})", how)
    return path


def require_venv_tool(name: str) -> str:
    """A console script of the test venv (requirements-dev.txt or tools/), installed by `make venv`."""
    for candidate in (VENV_BIN / name, shutil.which(name)):
        if candidate and os.path.exists(str(candidate)):
            return str(candidate)
    _fail(f"the venv's {name} command", "run `make venv` (requirements-dev.txt and tools/ are installed there)")
    raise AssertionError("unreachable")


def require_module(name: str, how: str = "run `make venv`"):
    """Import ``name``; fail naming ``how`` when it is not installed (an import error inside it is raised as is)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            _fail(f"the Python module {name}", how)
        raise


def skip_unless_root(why: str) -> None:
    """Skip (the one legitimate machine reason besides uninstallable tools): the test needs root."""
    if os.geteuid() != 0:
        pytest.skip(f"needs root: {why}")
