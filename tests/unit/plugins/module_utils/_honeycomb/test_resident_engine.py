"""The node-resident engine's install and bootstrap (resident_engine.py), run with this Python as the node's.

The bootstrap is started as the action plugin starts it (``python -I -S -c BOOTSTRAP <dir> <version>``, the
task as JSON on stdin); a damaged install must be refused before any of its code runs.
"""

import hashlib
import json
import marshal
import subprocess
import sys

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import resident_engine as rn
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import StateLayout
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import resident


@pytest.fixture(scope="module")
def version():
    return rn.bundle_hash(rn.bundle())


def bootstrap(vdir, version, task):
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", rn.BOOTSTRAP, str(vdir), version],
                          input=json.dumps(task).encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.decode())


def test_bundle_is_the_import_closure_of_the_entry(version):
    names = [name for name, dummy in rn.bundle()]
    for needed in ("resident_engine", "engine", "info", "journal", "layout", "lock", "payload", "phases", "runner",
                   "store", "status", "admission", "resume", "rollback", "backup", "asyncjob"):
        assert needed in names
    assert "build" not in names  # the controller-side payload builder is not needed on the node
    assert len(version) == 64 and rn.bundle_hash(rn.bundle()) == version


def test_version_changes_with_any_source(version):
    sources = rn.bundle()
    changed = [(n, s + b"\n# changed\n" if n == "journal" else s) for n, s in sources]
    assert rn.bundle_hash(changed) != version


def test_imports_of():
    src = ("from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr, lock\n"
           "from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.admission import EngineFailure\n"
           "import os\n")
    assert rn.imports_of(src) == ["journal", "lock", "admission"]


def test_imports_of_parenthesised_lists_across_lines():
    src = ("from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.manifest import (  # noqa\n"
           "    PayloadError,\n    validate_manifest,\n)\n"
           "from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import (\n    archive, journal)\n")
    assert rn.imports_of(src) == ["manifest", "archive", "journal"]


def test_imports_of_indented_continued_and_commented_statements():
    src = ("try:\n"
           "    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import store, \\\n"
           "        runner\n"
           "except ImportError:  # from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import x\n"
           "    pass\n"
           "from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import (  # a comment (\n"
           "    lock,  # )\n"
           "    journal)\n"
           "x = 'from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import fake'\n")
    assert rn.imports_of(src) == ["store", "runner", "lock", "journal"]


def test_imports_of_reads_only_import_statements():
    """The scan parses the import statements, not the whole source (it runs in every task's worker)."""
    src = "def broken(:\n" + "from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import lock\n"
    assert rn.imports_of(src) == ["lock"]


def test_the_bundle_holds_every_module_the_engine_imports():
    """payload.py re-exports manifest.py and archive.py: both must be in the bundle, or the engine cannot start."""
    names = dict(rn.bundle())
    assert {"payload", "manifest", "archive", "engine", "info"} <= set(names)


def test_install_verify_and_run(tmp_path, version):
    state = tmp_path / "state"
    state.mkdir()
    first = rn.install(str(state), version)
    assert first["install"] == "installed"
    assert rn.install(str(state), version)["install"] == "present"
    vdir = StateLayout(str(state)).engine_version_dir(version)
    assert rn.verify(vdir, version) is None
    manifest = json.loads(open(vdir + "/manifest.json").read())
    assert manifest["python"] == sys.executable and manifest["magic"] == rn.python_magic()
    out = bootstrap(vdir, version, {"action": "upgrade_info", "params": {"state_dir": "$HCSTATE", "limit": 0},
                                    "path_keys": ["state_dir"]})
    assert out == {"resident_result": out["resident_result"]}
    # path options are expanded on the node: $HCSTATE is not set there, so it stays as given
    assert out["resident_result"]["state_dir_exists"] is False


def test_install_refuses_sources_of_another_version(tmp_path, version):
    with pytest.raises(ValueError, match="not"):
        rn.install(str(tmp_path), "0" * 64)
    assert not (tmp_path / "engine" / ("0" * 64)).exists()


def test_install_needs_the_state_dir(tmp_path, version):
    with pytest.raises(ValueError, match="does not exist"):
        rn.install(str(tmp_path / "missing"), version)


def damage_tampered(vdir, mark):
    code = compile("open(%r, 'w').write('ran')\ndef main(d):\n    pass\n" % str(mark), "evil", "exec")
    (vdir / "engine.bin").write_bytes(marshal.dumps({rn.PACKAGE + "." + rn.ENTRY: code}))


def damage_flip(vdir, mark):
    data = bytearray((vdir / "engine.bin").read_bytes())
    data[100] ^= 1
    (vdir / "engine.bin").write_bytes(bytes(data))


def damage_manifest(vdir, mark):
    (vdir / "manifest.json").write_text("{")


def damage_version(vdir, mark):
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["version"] = "1" * 64
    (vdir / "manifest.json").write_text(json.dumps(manifest))


def damage_magic(vdir, mark):
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["magic"] = "330d0d0a"  # bytecode of another Python (3.6)
    (vdir / "manifest.json").write_text(json.dumps(manifest))


def damage_missing(vdir, mark):
    (vdir / "engine.bin").unlink()


@pytest.mark.parametrize("damage", [damage_tampered, damage_flip, damage_manifest, damage_version, damage_magic,
                                    damage_missing])
def test_damaged_install_is_refused_never_run_and_reinstalled(tmp_path, version, damage):
    state = tmp_path / "state"
    state.mkdir()
    rn.install(str(state), version)
    vdir = tmp_path / "state" / "engine" / version
    mark = tmp_path / "ran"
    damage(vdir, mark)
    out = bootstrap(vdir, version, {"action": "upgrade_info", "params": {"state_dir": str(state)}})
    assert set(out) == {"resident_unusable"}, out
    assert not mark.exists()
    assert rn.verify(str(vdir), version) is not None
    assert rn.install(str(state), version)["install"] == "installed"
    assert rn.verify(str(vdir), version) is None
    out = bootstrap(vdir, version, {"action": "upgrade_info", "params": {"state_dir": str(state)}})
    assert out["resident_result"]["state_dir_exists"] is True


def test_prune_keeps_the_newest_versions(tmp_path, version):
    state = tmp_path / "state"
    (state / "engine").mkdir(parents=True)
    for i in range(5):
        (state / "engine" / ("%d" % i * 64)).mkdir()
    (state / "engine" / ".install-x-999999999").mkdir()  # an install whose process is gone
    rn.install(str(state), version)
    left = sorted(p.name for p in (state / "engine").iterdir())
    assert version in left and len(left) == rn.KEEP_VERSIONS and not any(n.startswith(".") for n in left), left


def test_install_request_is_taken_out_of_the_params():
    params = {"resident_engine": True, "_honeycomb": {"payload_sha256": "ab", "resident": {"version": "v1"}}}
    assert rn.pop_install_request(params) == {"version": "v1"}
    assert params == {"_honeycomb": {"payload_sha256": "ab"}}
    assert rn.pop_install_request({"_honeycomb": {}}) is None


def test_install_after_run_only_after_a_run_that_did_not_fail(tmp_path, version):
    result = {"failed": True}
    rn.install_after_run(str(tmp_path), {"version": version}, result)
    assert "resident_install" not in result and not (tmp_path / "engine").exists()
    result = {"changed": False}
    rn.install_after_run(str(tmp_path), {"version": version}, result, check_mode=True)
    assert "resident_install" not in result
    rn.install_after_run(str(tmp_path), {"version": version}, result)
    assert result["resident_install"]["install"] == "installed"


class Exited(Exception):
    """exit_json or fail_json was called (the real ones end the process)."""


class Module:
    """What run_module uses of an AnsibleModule: check_mode, and exit_json/fail_json that end the run."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.ended = None

    def exit_json(self, **result):
        self.ended = ("exit_json", result)
        raise Exited()

    def fail_json(self, **result):
        self.ended = ("fail_json", result)
        raise Exited()


def run_module(module, params, result):
    seen = []

    def run(p):
        seen.append(dict(p))
        return dict(result)

    with pytest.raises(Exited):
        rn.run_module(module, params, run)
    return seen, module.ended


def test_run_module_runs_without_the_install_request_and_installs_after(tmp_path, version):
    params = {"state_dir": str(tmp_path), "resident_engine": True,
              "_honeycomb": {"payload_sha256": "ab", "resident": {"version": version}}}
    seen, ended = run_module(Module(), params, {"changed": True, "status": "applied"})
    assert seen == [{"state_dir": str(tmp_path), "_honeycomb": {"payload_sha256": "ab"}}]
    assert ended[0] == "exit_json"
    assert ended[1]["status"] == "applied" and ended[1]["resident_install"]["install"] == "installed"
    assert (tmp_path / "engine" / version).is_dir()


def test_run_module_fails_the_module_and_installs_nothing_after_a_failed_run(tmp_path, version):
    params = {"state_dir": str(tmp_path), "_honeycomb": {"resident": {"version": version}}}
    seen, ended = run_module(Module(), params, {"failed": True, "msg": "install exited 1"})
    assert ended == ("fail_json", {"msg": "install exited 1"})
    assert not (tmp_path / "engine").exists()


def test_run_module_installs_nothing_in_check_mode(tmp_path, version):
    params = {"state_dir": str(tmp_path), "_honeycomb": {"resident": {"version": version}}}
    seen, ended = run_module(Module(check_mode=True), params, {"changed": True})
    assert ended == ("exit_json", {"changed": True})
    assert not (tmp_path / "engine").exists()


def test_controller_command_and_output(tmp_path, version):
    """The shell command the action plugin runs: a node without the install answers without Python."""
    cmd = resident.command(str(tmp_path / "engine" / version), version)
    proc = subprocess.run(["/bin/sh", "-c", cmd], input=b"{}", stdout=subprocess.PIPE, timeout=60, check=False)
    assert resident.parse_output(proc.stdout) == {"resident_unusable": "not installed"}
    assert resident.parse_output(b"Welcome to the node\n{\"resident_result\": {}}") == {"resident_result": {}}
    assert resident.engine_version() == version
    spec, paths = resident.node_spec({"a": {"type": "path"}, "b": {"type": "int"}})
    assert spec["a"]["type"] == "str" and paths == ["a"]


def test_hash_of_installed_bytecode_is_in_the_manifest(tmp_path, version):
    rn.install(str(tmp_path), version)
    vdir = tmp_path / "engine" / version
    manifest = json.loads((vdir / "manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256((vdir / "engine.bin").read_bytes()).hexdigest()
    assert (vdir / "python").read_text().strip() == sys.executable
