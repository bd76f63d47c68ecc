"""Deterministic builder, example payloads and the honeycomb-build CLI."""

import hashlib
import json
import os
import stat
import subprocess
import tarfile

import pytest
from hctest.requires import require_system_tool, require_venv_tool

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build as B
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as P

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
EXAMPLES = os.path.join(REPO, "examples", "payloads")
SCRIPT = "#!/bin/sh\nexit 0\n"


def make_src(root, order=None, mode=0o755, extra_files=None):
    files = {"hc_state_check.sh": SCRIPT, "hc_install_upgrade.sh": SCRIPT, "hc_verify_upgrade.sh": SCRIPT,
             "lib/a.txt": "a\n", "lib/b.txt": "b\n", "z.txt": "z\n", "honeycomb.yml": 'version: "1.0"\nname: t\n'}
    files.update(extra_files or {})
    names = order or sorted(files)
    os.makedirs(root)
    for name in names:
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(files[name])
        os.chmod(path, mode if name.endswith(".sh") else 0o644)
    return root


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_build_is_byte_identical_and_independent_of_metadata(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = make_src(str(tmp_path / "a" / "src"))
    order = ["z.txt", "lib/b.txt", "hc_verify_upgrade.sh", "honeycomb.yml", "lib/a.txt", "hc_install_upgrade.sh",
             "hc_state_check.sh"]
    b = make_src(str(tmp_path / "b" / "src"), order=order, mode=0o775)
    for root, _dirs, files in os.walk(b):
        for name in files:
            path = os.path.join(root, name)
            os.utime(path, (1234567890, 1234567890))
            os.chown(path, 4242, 4343)
    r1 = B.build_payload(a, str(tmp_path / "a.tar.gz"))
    r2 = B.build_payload(b, str(tmp_path / "b.tar.gz"))
    r3 = B.build_payload(a, str(tmp_path / "a.tar.gz"))
    assert r1["changed"] and r2["changed"] and not r3["changed"]
    assert digest(str(tmp_path / "a.tar.gz")) == digest(str(tmp_path / "b.tar.gz")) == r1["sha256"] == r2["sha256"]
    with tarfile.open(str(tmp_path / "a.tar.gz")) as tf:
        members = tf.getmembers()
    assert [m.name for m in members] == ["manifest.json", "hc_install_upgrade.sh", "hc_state_check.sh",
                                         "hc_verify_upgrade.sh", "lib", "lib/a.txt", "lib/b.txt", "z.txt"]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" for m in members)
    assert {m.name: m.mode for m in members}["hc_state_check.sh"] == 0o755
    assert {m.name: m.mode for m in members}["z.txt"] == 0o644
    raw = open(str(tmp_path / "a.tar.gz"), "rb").read()
    assert raw[4:8] == b"\x00\x00\x00\x00" and not raw[3] & 0x08  # gzip: mtime 0, no file name
    assert "honeycomb.yml" not in r1["files"]


def test_source_date_epoch(tmp_path, monkeypatch):
    src = make_src(str(tmp_path / "src"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    r1 = B.build_payload(src, str(tmp_path / "e.tar.gz"))
    with tarfile.open(r1["dest"]) as tf:
        assert {m.mtime for m in tf.getmembers()} == {1600000000}
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    r2 = B.build_payload(src, str(tmp_path / "e.tar.gz"), source_date_epoch=0)
    assert r2["changed"] and r2["sha256"] != r1["sha256"]
    with pytest.raises(P.PayloadError, match="SOURCE_DATE_EPOCH"):
        B.build_payload(src, str(tmp_path / "e.tar.gz"), source_date_epoch="yesterday")


def test_check_mode_does_not_write(tmp_path):
    src = make_src(str(tmp_path / "src"))
    dest = tmp_path / "out.tar.gz"
    r = B.build_payload(src, str(dest), check_mode=True)
    assert r["changed"] and not dest.exists()
    assert os.listdir(str(tmp_path)) == ["src"]
    B.build_payload(src, str(dest))
    before = dest.stat()
    r = B.build_payload(src, str(dest), options={"version": "2.0"}, check_mode=True)
    assert r["changed"] and dest.stat().st_mtime_ns == before.st_mtime_ns
    assert B.build_payload(src, str(dest), check_mode=True)["changed"] is False


def test_options_override_config_and_manifest_is_explicit(tmp_path):
    src = make_src(str(tmp_path / "src"), extra_files={"hc_rollback_upgrade.sh": SCRIPT})
    r = B.build_payload(src, str(tmp_path / "o.tar.gz"), options={
        "version": "3.1", "peripheral": "switch", "timeouts": {"install": 42}, "retries": {"verify": 2},
        "state_check_codes": {"needed": [0], "already_applied": [100, 101], "retry_later": [21]},
        "backup_paths": ["/etc/waggle/switch"], "restart_units": ["x.service"],
        "parameters": {"type": "object", "properties": {"target": {"type": "string", "default": "a"}}},
        "exclude": ["z.txt"]})
    m = r["manifest"]
    assert m["name"] == "t" and m["version"] == "3.1" and m["peripheral"] == "switch"
    assert m["phases"]["install"] == {"script": "hc_install_upgrade.sh", "timeout": 42, "retries": 0}
    assert m["phases"]["verify"]["retries"] == 2 and m["phases"]["rollback"]["timeout"] == 3600
    assert "z.txt" not in m["files"]
    pl = P.inspect_archive(r["dest"])
    assert pl.manifest["state_check_codes"]["already_applied"] == [100, 101]
    assert pl.manifest["parameters"]["properties"]["target"]["default"] == "a"
    assert json.loads(pl.manifest_bytes.decode()) == m


def _refused(tmp_path, match, member=None, options=None, setup=None):
    src = make_src(str(tmp_path / "src"))
    if setup:
        setup(src)
    with pytest.raises(P.PayloadError, match=match) as err:
        B.build_payload(src, str(tmp_path / "out.tar.gz"), options=options)
    if member is not None:
        assert err.value.member == member
    assert not (tmp_path / "out.tar.gz").exists()
    assert sorted(os.listdir(str(tmp_path))) == ["src"]


def test_refuses_missing_script(tmp_path):
    _refused(tmp_path, "verify script is missing", "hc_verify_upgrade.sh",
             setup=lambda s: os.unlink(os.path.join(s, "hc_verify_upgrade.sh")))


def test_refuses_non_executable_script(tmp_path):
    _refused(tmp_path, "not executable", "hc_install_upgrade.sh",
             setup=lambda s: os.chmod(os.path.join(s, "hc_install_upgrade.sh"), 0o644))


def test_refuses_script_without_shebang(tmp_path):
    def setup(s):
        with open(os.path.join(s, "hc_state_check.sh"), "w") as handle:
            handle.write("exit 0\n")
    _refused(tmp_path, "'#!'", "hc_state_check.sh", setup=setup)


def test_refuses_symlink(tmp_path):
    _refused(tmp_path, "symbolic link", "lib/passwd", setup=lambda s: os.symlink("/etc/passwd", os.path.join(s, "lib", "passwd")))


def test_refuses_symlinked_dir(tmp_path):
    _refused(tmp_path, "symbolic link", "etc", setup=lambda s: os.symlink("/etc", os.path.join(s, "etc")))


def test_refuses_fifo(tmp_path):
    _refused(tmp_path, "not a regular file", "lib/pipe", setup=lambda s: os.mkfifo(os.path.join(s, "lib", "pipe")))


def test_refuses_setuid(tmp_path):
    _refused(tmp_path, "setuid", "hc_install_upgrade.sh",
             setup=lambda s: os.chmod(os.path.join(s, "hc_install_upgrade.sh"), 0o4755))


def test_refuses_manifest_in_src(tmp_path):
    _refused(tmp_path, "builder writes it", "manifest.json",
             setup=lambda s: open(os.path.join(s, "manifest.json"), "w").close())


def test_refuses_missing_version(tmp_path):
    def setup(s):
        with open(os.path.join(s, "honeycomb.yml"), "w") as handle:
            handle.write("name: t\n")
    _refused(tmp_path, "no version given", setup=setup)


def test_refuses_float_version(tmp_path):
    def setup(s):
        with open(os.path.join(s, "honeycomb.yml"), "w") as handle:
            handle.write("version: 1.10\n")
    _refused(tmp_path, "quote it", setup=setup)


def test_refuses_bad_config(tmp_path):
    def setup(s):
        with open(os.path.join(s, "honeycomb.yml"), "w") as handle:
            handle.write("version: '1'\nbackup_path: [/etc]\n")
    _refused(tmp_path, "unknown key.*backup_path", setup=setup)


def test_refuses_two_configs(tmp_path):
    _refused(tmp_path, "more than one build config", setup=lambda s: open(os.path.join(s, "honeycomb.json"), "w").close())


def test_refuses_invalid_manifest_values(tmp_path):
    _refused(tmp_path, "timeout", options={"timeouts": {"install": 0}})
    _refused_again = pytest.raises(P.PayloadError, match="unknown phase")
    with _refused_again:
        B.build_payload(str(tmp_path / "src"), str(tmp_path / "out.tar.gz"), options={"retries": {"cleanup": 1}})


def test_refuses_missing_dest_dir(tmp_path):
    src = make_src(str(tmp_path / "src"))
    with pytest.raises(P.PayloadError, match="destination directory"):
        B.build_payload(src, str(tmp_path / "nope" / "x.tar.gz"))


def test_json_config_and_legacy_metadata_defaults(tmp_path):
    src = make_src(str(tmp_path / "src"))
    os.unlink(os.path.join(src, "honeycomb.yml"))
    with open(os.path.join(src, "metadata.json"), "w") as handle:
        json.dump({"peripheral_name": "cam", "config_version": "0.9", "retry_state_check": 1, "retry_install": 2,
                   "retry_verify": 3}, handle)
    r = B.build_payload(src, str(tmp_path / "l.tar.gz"))
    m = r["manifest"]
    assert (m["name"], m["version"], m["peripheral"]) == ("cam-0.9", "0.9", "cam")
    assert [m["phases"][p]["retries"] for p in ("state_check", "install", "verify")] == [1, 2, 3]
    with open(os.path.join(src, "honeycomb.json"), "w") as handle:
        json.dump({"version": "1.0", "name": "cam-config"}, handle)
    m = B.build_payload(src, str(tmp_path / "l.tar.gz"))["manifest"]
    assert (m["name"], m["version"], m["peripheral"]) == ("cam-config", "1.0", "cam")


# ---------------------------------------------------------------------------------------------
# example payloads


def _run(script, cwd, env, interpreter=None):
    args = [interpreter, script] if interpreter else [os.path.join(cwd, script)]
    proc = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
                          check=False)
    return proc.returncode, proc.stdout.decode()


def test_example_honeycomb_version_full_cycle(tmp_path):
    r = B.build_payload(os.path.join(EXAMPLES, "honeycomb-version"), str(tmp_path / "hv.tar.gz"))
    m = r["manifest"]
    assert m["name"] == "honeycomb-version" and m["backup_paths"] == ["/etc/waggle/honeycomb"]
    assert m["phases"]["rollback"]["script"] == "hc_rollback_upgrade.sh"
    job = tmp_path / "job"
    job.mkdir()
    pl = P.extract_archive(r["dest"], str(job / "payload"))
    version_file = tmp_path / "etc" / "version"
    params = P.validate_parameters(pl.manifest["parameters"], {"version_file": str(version_file)})
    assert params == {"HC_PARAM_VERSION_FILE": str(version_file)}
    env = dict(os.environ, HC_PAYLOAD_DIR=str(job / "payload"), HC_PAYLOAD_VERSION="1.2.4", **params)
    cwd = str(job / "payload")
    assert _run("hc_state_check.sh", cwd, env)[0] == 0            # missing file: needed
    version_file.parent.mkdir()
    version_file.write_text("1.2.3\n")
    assert _run("hc_state_check.sh", cwd, env)[0] == 0            # older: needed
    assert _run("hc_verify_upgrade.sh", cwd, env)[0] == 1
    assert _run("hc_install_upgrade.sh", cwd, env)[0] == 0
    assert version_file.read_text() == "1.2.4\n"
    assert _run("hc_install_upgrade.sh", cwd, env)[0] == 0       # re-run keeps the first saved state
    assert _run("hc_verify_upgrade.sh", cwd, env)[0] == 0
    assert _run("hc_state_check.sh", cwd, env)[0] == 100          # already applied
    assert _run("hc_rollback_upgrade.sh", cwd, env)[0] == 0
    assert version_file.read_text() == "1.2.3\n"
    newer = dict(env, HC_PARAM_TARGET_VERSION="1.2.0")
    assert _run("hc_state_check.sh", cwd, newer)[0] == 100        # installed is newer than the target
    no_target = {k: v for k, v in env.items() if k != "HC_PAYLOAD_VERSION"}
    assert _run("hc_state_check.sh", cwd, no_target)[0] == 2


def test_example_rollback_removes_file_that_did_not_exist(tmp_path):
    r = B.build_payload(os.path.join(EXAMPLES, "honeycomb-version"), str(tmp_path / "hv.tar.gz"))
    (tmp_path / "job").mkdir()
    P.extract_archive(r["dest"], str(tmp_path / "job" / "payload"))
    version_file = tmp_path / "v" / "version"
    env = dict(os.environ, HC_PAYLOAD_DIR=str(tmp_path / "job" / "payload"), HC_PAYLOAD_VERSION="2.0",
               HC_PARAM_VERSION_FILE=str(version_file))
    cwd = str(tmp_path / "job" / "payload")
    assert _run("hc_install_upgrade.sh", cwd, env)[0] == 0 and version_file.exists()
    assert _run("hc_rollback_upgrade.sh", cwd, env)[0] == 0 and not version_file.exists()


def test_example_scripts_are_shellcheck_clean():
    shellcheck = require_system_tool("shellcheck", "shellcheck")
    scripts = [os.path.join(EXAMPLES, d, f) for d in ("honeycomb-version", "legacy-quickstart")
               for f in sorted(os.listdir(os.path.join(EXAMPLES, d))) if f.endswith(".sh")]
    assert len(scripts) == 7
    proc = subprocess.run([shellcheck, "-s", "sh"] + scripts, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    assert proc.returncode == 0, proc.stdout.decode()


def test_example_legacy_quickstart_as_build_upgrade_sh_packed_it(tmp_path):
    src = os.path.join(EXAMPLES, "legacy-quickstart")
    arc = str(tmp_path / "quickstart.tar.gz")
    with tarfile.open(arc, "w:gz") as tf:       # `tar -czf ../quickstart.tar.gz *`: no ./ prefix
        for name in sorted(os.listdir(src)):
            tf.add(os.path.join(src, name), arcname=name)
    pl = P.extract_archive(arc, str(tmp_path / "payload"))
    m = pl.manifest
    assert pl.format == "legacy" and m["name"] == "quickstart" and m["version"] == "1.0.0"
    assert m["state_check_codes"]["already_applied"] == [1]
    for phase in ("state_check", "install", "verify"):
        entry = m["phases"][phase]
        assert entry["retries"] == 5 and entry["interpreter"] == "/bin/sh"
        rc, out = _run(entry["script"], str(tmp_path / "payload"), dict(os.environ), entry["interpreter"])
        assert rc == 0 and "passed" in out
    assert not os.stat(str(tmp_path / "payload" / "hc_install_upgrade.sh")).st_mode & stat.S_IXUSR


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_builds_and_reports(tmp_path, capsys):
    from hctools import build_cli
    src = make_src(str(tmp_path / "src"))
    out = str(tmp_path / "cli.tar.gz")
    assert build_cli.main([src, "-o", out, "--version", "9", "--timeout", "install=99", "--retries", "verify=1",
                           "--already-applied-codes", "100,101", "--backup-path", "/etc/x", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] and result["manifest"]["version"] == "9"
    assert result["manifest"]["phases"]["install"]["timeout"] == 99
    assert result["manifest"]["state_check_codes"] == {"needed": [0], "already_applied": [100, 101],
                                                       "retry_later": [21]}
    assert build_cli.main([src, "-o", out, "--version", "9", "--timeout", "install=99", "--retries", "verify=1",
                           "--already-applied-codes", "100,101", "--backup-path", "/etc/x"]) == 0
    assert "unchanged" in capsys.readouterr().out
    os.chmod(os.path.join(src, "hc_verify_upgrade.sh"), 0o644)
    assert build_cli.main([src, "-o", out]) == 1
    err = capsys.readouterr().err
    assert "hc_verify_upgrade.sh" in err and "not executable" in err


def test_cli_console_script(tmp_path):
    exe = require_venv_tool("honeycomb-build")
    src = make_src(str(tmp_path / "src"))
    proc = subprocess.run([exe, src, "-o", str(tmp_path / "x.tar.gz")], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert b"written" in proc.stdout
    assert P.inspect_archive(str(tmp_path / "x.tar.gz")).manifest["version"] == "1.0"


PY36 = "/root/.pyenv/versions/3.6.15/bin/python3"


def _json_src(root):
    src = make_src(root)
    os.unlink(os.path.join(src, "honeycomb.yml"))
    with open(os.path.join(src, "honeycomb.json"), "w") as handle:
        json.dump({"version": "1.0", "name": "t"}, handle)
    deep = os.path.join(src, "deep", "n" * 60, "m" * 60)
    os.makedirs(deep)
    with open(os.path.join(deep, "f\u00fcr-\u00e9t\u00e9.txt"), "w") as handle:
        handle.write("long, non-ASCII name: needs PAX headers\n")
    return src


def test_long_and_non_ascii_names_readable_by_gnu_tar(tmp_path):
    src = _json_src(str(tmp_path / "src"))
    r = B.build_payload(src, str(tmp_path / "u.tar.gz"))
    name = "deep/%s/%s/f\u00fcr-\u00e9t\u00e9.txt" % ("n" * 60, "m" * 60)
    assert name in r["files"]
    assert name in P.inspect_archive(r["dest"]).manifest["files"]
    tar = require_system_tool("tar", "tar")
    listing = subprocess.run([tar, "-tzf", r["dest"]], stdout=subprocess.PIPE, check=True).stdout.decode("utf-8")
    assert name in listing.splitlines()


@pytest.mark.skipif(not os.path.exists(PY36), reason="Python 3.6 (pyenv 3.6.15) not installed")
def test_identical_output_on_python36(tmp_path):
    """The module side (Python 3.6 on nodes) and the controller side build the same bytes."""
    src = _json_src(str(tmp_path / "src"))
    here = B.build_payload(src, str(tmp_path / "here.tar.gz"))
    code = ("import sys; from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build; "
            "print(build.build_payload(sys.argv[1], sys.argv[2])['sha256'])")
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".build", "collections"))
    proc = subprocess.run([PY36, "-c", code, src, str(tmp_path / "py36.tar.gz")], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip() == here["sha256"]


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    from hctools import build_cli
    src = make_src(str(tmp_path / "src"))
    for bad in (["--timeout", "reboot=3"], ["--retries", "verify=x"], ["--needed-codes", "a"],
                ["--parameters", "{not json"]):
        with pytest.raises(SystemExit) as exc:
            code = build_cli.main([src, "-o", str(tmp_path / "x.tar.gz")] + bad)
            raise SystemExit(code)
        assert exc.value.code == 2, bad
        assert "honeycomb-build:" in capsys.readouterr().err
    assert not (tmp_path / "x.tar.gz").exists()
