"""tools/system-deps.sh: the one system-dependency step of make demo, make test and .ci/run."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "tools" / "system-deps.sh"


def _fake_bin(tmp_path, installed, uid):
    """A PATH with a stand-in dpkg-query (knows `installed`), id (prints `uid`) and apt-get (records calls)."""
    b = tmp_path / "bin"
    b.mkdir()
    (b / "dpkg-query").write_text(
        '#!/bin/sh\nfor p in %s; do [ "$p" = "$3" ] && { printf installed; exit 0; }; done\nexit 1\n'
        % " ".join(installed))
    (b / "id").write_text("#!/bin/sh\necho %d\n" % uid)
    (b / "apt-get").write_text('#!/bin/sh\necho "$@" >> %s/apt-calls\n' % tmp_path)
    for f in b.iterdir():
        f.chmod(0o755)
    return "%s:%s" % (b, os.environ["PATH"])


def _run(tmp_path, installed, uid, *args):
    env = dict(os.environ, PATH=_fake_bin(tmp_path, installed, uid))
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def _packages():
    out = subprocess.run(["bash", str(SCRIPT), "--list"], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_list_names_every_tool_the_tests_use():
    pkgs = _packages()
    for pkg in ("openssh-server", "openssh-client", "socat", "netcat-openbsd", "iproute2", "tftp-hpa",
                "shellcheck", "chromium", "python3-requests", "python3-pexpect", "python3-pyftpdlib", "tzdata"):
        assert pkg in pkgs


def test_nothing_to_do_when_everything_is_installed(tmp_path):
    r = _run(tmp_path, _packages(), 0)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    assert not (tmp_path / "apt-calls").exists()


def test_without_root_names_exactly_what_to_install(tmp_path):
    installed = [p for p in _packages() if p not in ("netcat-openbsd", "socat")]
    r = _run(tmp_path, installed, 1000)
    assert r.returncode == 1
    assert "apt-get install -y --no-install-recommends socat netcat-openbsd" in r.stderr
    assert not (tmp_path / "apt-calls").exists()


def test_as_root_installs_only_the_missing_packages(tmp_path):
    installed = [p for p in _packages() if p != "netcat-openbsd"]
    r = _run(tmp_path, installed, 0)
    # the stand-in apt-get installs nothing, so the script must notice the package is still missing
    assert r.returncode == 1
    assert "still missing after apt-get install: netcat-openbsd" in r.stderr
    calls = (tmp_path / "apt-calls").read_text().splitlines()
    assert calls[0].startswith("update")
    assert calls[1].split()[-1] == "netcat-openbsd" and "install" in calls[1]


def test_check_mode_reports_and_fails(tmp_path):
    r = _run(tmp_path, [], 0, "--check")
    assert r.returncode == 1
    assert "missing packages:" in r.stderr and "netcat-openbsd" in r.stderr
    assert not (tmp_path / "apt-calls").exists()
