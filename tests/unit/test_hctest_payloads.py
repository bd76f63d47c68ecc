"""The test-payload helper (hctest.payloads) builds what the tests expect: the scripts with their shebang and
mode, the manifest's name, version, peripheral, timeouts and extra lines, and marker scripts whose state check
and verify follow the marker file."""

import json
import subprocess
import tarfile

from hctest.payloads import TIMEOUTS, build_script_payload, marker_scripts


def test_a_marker_payload_builds_and_its_scripts_follow_the_marker(tmp_path):
    mark = tmp_path / "mark"
    scripts = marker_scripts(str(mark), "2.0", install=f"mkdir -p {mark}\necho 2.0 > {mark}/version\n")
    out = build_script_payload(tmp_path / "p1.tar.gz", scripts, name="p1", version="2.0", description="helper test",
                               timeouts=TIMEOUTS, manifest_extra=f"backup_paths: [{mark}]\n")
    with tarfile.open(out) as archive:
        assert sorted(archive.getnames()) == sorted(["manifest.json"] + list(scripts))
        assert all(archive.getmember(name).mode & 0o755 == 0o755 for name in scripts)
        manifest = json.loads(archive.extractfile("manifest.json").read())
    assert (manifest["name"], manifest["version"], manifest["peripheral"]) == ("p1", "2.0", "p1")
    assert manifest["backup_paths"] == [str(mark)]
    assert {phase: spec["timeout"] for phase, spec in manifest["phases"].items()} == TIMEOUTS
    src = tmp_path / "src-p1"
    assert (src / "hc_state_check.sh").read_text().startswith("#!/bin/sh\n")

    def phase(script):
        return subprocess.run([str(src / script)], check=False).returncode

    assert phase("hc_state_check.sh") == 0 and phase("hc_verify_upgrade.sh") != 0
    assert phase("hc_install_upgrade.sh") == 0
    assert phase("hc_state_check.sh") == 100 and phase("hc_verify_upgrade.sh") == 0


def test_no_rollback_script_and_no_timeouts_when_not_asked(tmp_path):
    scripts = marker_scripts(str(tmp_path / "m"), "1.0", install="exit 0\n", rollback=None)
    assert "hc_rollback_upgrade.sh" not in scripts
    out = build_script_payload(tmp_path / "p2-1.0.tar.gz", scripts, name="p2", version="1.0", description="d")
    assert (tmp_path / "src-p2-1.0" / "hc_install_upgrade.sh").is_file() and out.is_file()
