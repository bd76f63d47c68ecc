"""A small payload on the resident engine's stdin with its task (inline.py): the framing, the store it goes
into, and that nothing is left behind when it does not verify. The engine is run as the action plugin runs
it (its bootstrap, ``python -I -S -c``, the framed stdin) for the end-to-end cases."""

import hashlib
import io
import json
import marshal
import os
import subprocess
import sys

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import inline
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import resident_engine as rn
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import StateLayout
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import resident
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import transfer

DATA = b"\x1f\x8b payload bytes \n with newlines \x00\xff" * 100
SHA = hashlib.sha256(DATA).hexdigest()


def store_entries(state):
    payloads = state / "payloads"
    return sorted(os.listdir(str(payloads))) if payloads.is_dir() else []


@pytest.fixture
def state(tmp_path):
    path = tmp_path / "state"
    path.mkdir()
    return path


def test_frame_is_a_json_line_then_the_bytes():
    framed = inline.frame({"action": "upgrade", "params": {"x": "a\nb"}}, DATA)
    stream = io.BytesIO(framed)
    task = inline.read_task(stream)
    assert task["payload"] == {"size": len(DATA), "sha256": SHA}
    assert task["params"]["x"] == "a\nb"  # a newline inside the task never ends its line
    assert stream.read() == DATA
    plain = inline.frame({"action": "upgrade_info"}, None)
    assert plain.endswith(b"\n") and plain.count(b"\n") == 1 and "payload" not in json.loads(plain)


def test_the_bound_is_the_transfers_first_chunk():
    """A drop mid-exec costs no more than the resumable transfer's first chunk would."""
    assert inline.INLINE_MAX == transfer.CHUNK_FIRST


def test_good_payload_becomes_an_upload_next_to_the_store(state):
    """(the engine's run moves it into the store as any upload: test_engine_stores_the_payload_then_runs_the_task)"""
    stream = io.BytesIO(inline.frame({"action": "upgrade"}, DATA))
    task = inline.read_task(stream)
    size, sha = inline.header(task, SHA.upper())
    path = inline.receive(stream, size, sha, str(state))
    layout = StateLayout(str(state))
    assert path == layout.partial_path(SHA)  # pruned by the store once this process is gone
    assert layout.is_temporary(os.path.basename(path)) and layout.partial_owner(path) == [str(os.getpid())]
    assert open(path, "rb").read() == DATA and os.stat(path).st_mode & 0o777 == 0o600
    inline.discard(path)
    assert store_entries(state) == []


def test_wrong_hash_leaves_nothing(state):
    with pytest.raises(inline.InlineError, match="corrupted on the way; nothing was stored"):
        inline.receive(io.BytesIO(DATA[:-1] + b"X"), len(DATA), SHA, str(state))
    assert store_entries(state) == []


def test_short_read_leaves_nothing(state):
    with pytest.raises(inline.InlineError, match=r"ended after %d of %d bytes" % (len(DATA) - 7, len(DATA))):
        inline.receive(io.BytesIO(DATA[:-7]), len(DATA), SHA, str(state))
    assert store_entries(state) == []


def test_missing_state_dir_is_made_private_as_the_transfer_makes_it(tmp_path):
    state = tmp_path / "new" / "state"
    inline.receive(io.BytesIO(DATA), len(DATA), SHA, str(state))
    assert len(store_entries(state)) == 1
    for path in (state, state / "payloads"):
        assert os.stat(str(path)).st_mode & 0o777 == 0o700, path


@pytest.mark.parametrize("head, match", [
    ({"size": -1, "sha256": SHA}, "malformed"), ({"size": True, "sha256": SHA}, "malformed"),
    ({"size": 3}, "malformed"), ("x", "malformed"), ({"size": 3, "sha256": "0" * 64}, "task is about payload")])
def test_bad_headers(head, match):
    with pytest.raises(inline.InlineError, match=match):
        inline.header({"payload": head}, SHA)


def test_no_header_is_no_payload():
    assert inline.header({"action": "upgrade"}, SHA) is None


def test_controller_sends_only_small_payloads_outside_check_mode(tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(DATA)
    large.write_bytes(b"x" * (inline.INLINE_MAX + 1))
    assert resident.inline_payload(str(small)) == DATA
    assert resident.inline_payload(str(large)) is None  # the chunked, resumable transfer
    assert resident.inline_payload(str(small), check_mode=True) is None  # check mode stores nothing


# -- through the engine, as the action plugin runs it ---------------------------------------------------
@pytest.fixture(scope="module")
def version():
    return rn.bundle_hash(rn.bundle())


def lookup_task(state, sha=SHA, check_mode=False):
    spec, path_keys = resident.node_spec(engine.argument_spec())
    params = ArgumentSpecValidator(spec).validate({
        "src": "/nowhere.tar.gz", "state_dir": str(state), "node_id_file": os.devnull, "vsn_file": os.devnull,
        "_honeycomb": {"payload_sha256": sha, "lookup_only": True}}).validated_parameters
    return {"action": "upgrade", "params": params, "check_mode": check_mode, "path_keys": path_keys}


def engine_run(state, version, stdin):
    rn.install(str(state), version)
    vdir = StateLayout(str(state)).engine_version_dir(version)
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", rn.BOOTSTRAP, vdir, version], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.decode())["resident_result"]


def test_engine_stores_the_payload_then_runs_the_task(state, version):
    res = engine_run(state, version, inline.frame(lookup_task(state), DATA))
    assert res["payload_missing"] is False and "is in the node's store" in res["msg"], res
    assert res[rn.INLINE_KEY] == {"stored": True, "size": len(DATA)}
    assert store_entries(state) == [SHA + ".tar.gz"]


def test_engine_run_refused_before_the_store_leaves_no_payload(state, version):
    """A run refused before its store look-up (here: bad options) never takes the payload: nothing stays."""
    task = lookup_task(state)
    task["params"]["lock_timeout"] = -1
    res = engine_run(state, version, inline.frame(task, DATA))
    assert res["failed"] and res.get(rn.INLINE_KEY, {}).get("stored"), res
    assert store_entries(state) == []


def test_engine_refuses_a_corrupted_payload_and_leaves_nothing(state, version):
    framed = inline.frame(lookup_task(state), DATA)
    res = engine_run(state, version, framed[:-1] + b"X")
    assert res["failed"] and "could not be stored on the node" in res["msg"] and "corrupted" in res["msg"], res
    assert res[rn.INLINE_KEY]["stored"] is False and res["payload_transferred"] is False
    assert store_entries(state) == []


def test_engine_refuses_a_short_payload_and_leaves_nothing(state, version):
    framed = inline.frame(lookup_task(state), DATA)
    res = engine_run(state, version, framed[:-100])
    assert res["failed"] and "ended after %d of %d bytes" % (len(DATA) - 100, len(DATA)) in res["msg"], res
    assert store_entries(state) == []


def test_engine_takes_no_payload_in_check_mode(state, version):
    res = engine_run(state, version, inline.frame(lookup_task(state, check_mode=True), DATA))
    assert res["failed"] and "outside check mode" in res["msg"], res
    assert store_entries(state) == []


def test_engine_without_payload_reads_the_task_line_alone(state, version):
    res = engine_run(state, version, inline.frame(lookup_task(state), None))
    assert res["payload_missing"] is True and rn.INLINE_KEY not in res, res


# -- first contact: the engine's sources on stdin (resident_engine.FIRST_BOOTSTRAP) ---------------------
PY36 = "/root/.pyenv/versions/3.6.15/bin/python3"
PYTHONS = [sys.executable] + ([PY36] if os.path.exists(PY36) else [])


def first_contact(state, version, stdin, python=sys.executable):
    vdir = StateLayout(str(state)).engine_version_dir(version)
    proc = subprocess.run([python, "-I", "-S", "-c", rn.FIRST_BOOTSTRAP, vdir, version], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.decode()), vdir


@pytest.mark.parametrize("python", PYTHONS)
def test_first_contact_runs_the_task_and_installs_as_a_module_run_would(state, version, python):
    stdin = resident.first_contact_stdin() + inline.frame(lookup_task(state), DATA)
    out, vdir = first_contact(state, version, stdin, python)
    res = out["resident_result"]
    assert res["payload_missing"] is False and res[rn.INLINE_KEY]["stored"], res
    assert res[resident.INSTALL_KEY] == {"install": "installed", "version": version, "path": vdir}
    manifest = json.loads(open(os.path.join(vdir, "manifest.json")).read())
    assert manifest["modules"] == [name for name, dummy in rn.bundle()] and manifest["python"] == python
    if python == sys.executable:
        assert rn.verify(vdir, version) is None  # the same checks the bootstrap makes
        # byte for byte what a module run installs (compiled alike, marshal without back-references)
        blob = open(os.path.join(vdir, "engine.bin"), "rb").read()
        assert blob == marshal.dumps(rn.compile_sources(rn.bundle(), vdir), rn.MARSHAL_VERSION)
    else:
        assert manifest["magic"] == "330d0d0a", manifest  # compiled by the node's 3.6
    # and the installed engine now runs the next task (the resident bootstrap, one exec)
    proc = subprocess.run([python, "-I", "-S", "-c", rn.BOOTSTRAP, vdir, version],
                          input=inline.frame(lookup_task(state), None), stdout=subprocess.PIPE, timeout=120, check=False)
    assert json.loads(proc.stdout.decode())["resident_result"]["payload_missing"] is False


def test_first_contact_check_mode_installs_nothing(state, version):
    out, vdir = first_contact(state, version, resident.first_contact_stdin() + inline.frame(
        lookup_task(state, check_mode=True), None))
    assert out["resident_result"]["payload_missing"] is True and resident.INSTALL_KEY not in out["resident_result"]
    assert not os.path.exists(vdir)


def test_first_contact_refuses_damaged_sources_before_running_anything(state, version):
    stdin = bytearray(resident.first_contact_stdin())
    stdin[len(stdin) // 2] ^= 0xFF
    out, vdir = first_contact(state, version, bytes(stdin) + inline.frame(lookup_task(state), DATA))
    assert out == {"resident_unusable": out["resident_unusable"]} and "altered" in out["resident_unusable"], out
    assert store_entries(state) == [] and not os.path.exists(vdir)


def test_first_contact_with_sources_of_another_version_runs_but_installs_nothing(state):
    """The install checks the sources' hash against the version it is asked for, as after a module run."""
    out, vdir = first_contact(state, "0" * 64, resident.first_contact_stdin() + inline.frame(lookup_task(state), None))
    report = out["resident_result"][resident.INSTALL_KEY]
    assert report["install"] == "failed" and "not " + "0" * 64 in report["msg"], report
    assert not os.path.exists(vdir)


PY27 = "/root/.pyenv/versions/2.7.18/bin/python"


@pytest.mark.skipif(not os.path.exists(PY27), reason="no Python 2.7 at %s" % PY27)
def test_first_contact_under_python2_is_refused_before_anything_runs(tmp_path, version):
    """A node whose python is a Python 2 refuses ``-I`` (rc 2): the controller takes that as "cannot be
    used" (tests/unit/plugins/action/test_upgrade_resident.py) and runs the module."""
    cmd = resident.first_command(str(tmp_path / "engine" / version), version, PY27)
    proc = subprocess.run(["/bin/sh", "-c", cmd], input=resident.first_contact_stdin(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, check=False)
    assert proc.returncode == 2 and b"Unknown option: -I" in proc.stderr and proc.stdout == b""
    assert not (tmp_path / "engine").exists()


def test_a_partial_left_by_a_killed_engine_is_pruned_by_the_store(state):
    """An engine killed mid-read (a power cut) leaves its file; the next run's store pruning removes it."""
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import store as st
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead = StateLayout(str(state)).partial_path(SHA, pid=proc.pid)
    finally:
        proc.kill()
        proc.wait()
    os.makedirs(os.path.dirname(dead))
    open(dead, "wb").write(DATA[:100])
    st.PayloadStore(jr.StateDir(str(state)), "0" * 64).prune([])
    assert store_entries(state) == []
