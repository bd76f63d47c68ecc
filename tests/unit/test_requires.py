"""The test guards of hctest.requires: missing installable things fail with the command to run,
only missing root skips; and every package a guard names is one tools/system-deps.sh installs."""

import re
import subprocess
from pathlib import Path

import pytest
from hctest import requires

REPO = Path(__file__).resolve().parents[2]


def test_missing_tool_fails_naming_the_command(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception) as exc:
        requires.require_system_tool("netcat", "netcat-openbsd", "nc")
    msg = str(exc.value)
    assert "netcat / nc" in msg and "tools/system-deps.sh" in msg and "netcat-openbsd" in msg


def test_present_tool_returns_its_path(tmp_path, monkeypatch):
    tool = tmp_path / "second"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert requires.require_tool("first", "how", "second") == str(tool)


def test_missing_path_and_venv_tool_fail(tmp_path, monkeypatch):
    with pytest.raises(pytest.fail.Exception, match=r"ansible-core 2.16 .* run `make venv-core216`"):
        requires.require_path(tmp_path / "nope", "ansible-core 2.16", "run `make venv-core216`")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="make venv"):
        requires.require_venv_tool("no-such-console-script")


def test_require_module(tmp_path, monkeypatch):
    with pytest.raises(pytest.fail.Exception, match="no_such_module_hc is missing: run `make venv`"):
        requires.require_module("no_such_module_hc")
    # a module that is there but broken is an error of its own, not "not installed"
    (tmp_path / "hc_broken_mod.py").write_text("import no_such_dependency_hc\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        requires.require_module("hc_broken_mod")
    assert requires.require_module("json").dumps([]) == "[]"


def test_only_missing_root_skips(monkeypatch):
    monkeypatch.setattr(requires.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="needs root: namespaces"):
        requires.skip_unless_root("namespaces")
    monkeypatch.setattr(requires.os, "geteuid", lambda: 0)
    requires.skip_unless_root("namespaces")


def test_every_package_a_guard_names_is_installed_by_system_deps():
    listed = set(subprocess.run([str(REPO / "tools" / "system-deps.sh"), "--list"], capture_output=True,
                                text=True, check=True).stdout.split())
    named = set()
    call = re.compile(r"require_system_tool\(\s*['\"][^'\"]+['\"]\s*,\s*['\"]([^'\"]+)['\"]")
    loops = re.compile(r"for tool, package in \((.*?)\):\s*require_system_tool\(tool, package\)", re.S)
    pair = re.compile(r"\(\s*['\"][\w.-]+['\"]\s*,\s*['\"]([\w.+-]+)['\"]\s*\)")
    for path in (REPO / "tests").rglob("*.py"):
        text = path.read_text()
        named.update(call.findall(text))
        for loop in loops.findall(text):  # for tool, package in ((tool, package), ...): require_system_tool(tool, package)
            named.update(pair.findall(loop))
    assert named >= {"shellcheck", "openssh-client", "netcat-openbsd", "chromium", "iproute2", "passwd"}, named
    assert named <= listed, "named by a test guard but not installed by tools/system-deps.sh: %s" % (named - listed)
