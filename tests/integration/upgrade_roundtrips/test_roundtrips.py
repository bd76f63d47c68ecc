"""How many connections one waggle.honeycomb.upgrade task opens per node (issue 2: at most one look-up,
one transfer when needed and one module run), read from ansible-playbook -vvv against a real sshd.

These are behaviour tests (what is sent, and what is left on the node), not timing tests: the speed
figures are in docs/benchmarks.md (`make bench`).
"""

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

from hctest.playbook import run_playbook
from hctest.upgrade import make_payload

pytestmark = pytest.mark.slow

EXEC_RE = re.compile(r"SSH: EXEC (ssh|sftp|scp) .*")


def playbook(task_args, check=False):
    task = {"name": "upgrade", "waggle.honeycomb.upgrade": task_args}
    if check:
        task["check_mode"] = True
    return json.dumps([{"name": "round trips", "hosts": "nodes", "gather_facts": False, "tasks": [task]}])


def connections(output):
    """Kinds of the connections ansible opened, in order, from a -vvv log."""
    kinds = []
    for match in EXEC_RE.finditer(output):
        line = match.group(0)
        if match.group(1) != "ssh":
            kinds.append("file-transfer")
        elif " -I -S -c " in line and "read -r p" in line:
            kinds.append("resident")
        elif " -I -S -c " in line:
            kinds.append("first-contact")  # the engine's sources with the task (resident_engine.FIRST_BOOTSTRAP)
        elif "test -f " in line:
            kinds.append("look-up")
        elif "exec(zlib" in line and " begin " in line:
            kinds.append("transfer-begin")  # the resumable transfer asks the node what it has
        elif "exec(zlib" in line and " put " in line:
            kinds.append("upload")  # one chunk of the payload
        elif "ansible-tmp-" in line and "mkdir" in line:
            kinds.append("make-tmp")
        elif "rm -f -r " in line:
            kinds.append("remove-tmp")
        elif "echo ~" in line:
            kinds.append("expand-home")
        elif re.search(r"python[0-9.]*'?$", line) or "AnsiballZ" in line:
            kinds.append("module")
        else:
            kinds.append("other: " + line[-120:])
    return kinds


@pytest.fixture
def node(tmp_path):
    state = tmp_path / "state"
    remote_tmp = tmp_path / "remote-tmp"
    remote_tmp.mkdir()
    scripts = {"state_check": "test -e %s/applied && exit 100; exit 0" % tmp_path,
               "install": "touch %s/applied" % tmp_path}
    payload = Path(make_payload(tmp_path, scripts=scripts))
    args = {"src": str(payload), "state_dir": str(state), "node_id_file": os.devnull, "vsn_file": os.devnull}
    return {"state": state, "payload": payload, "args": args, "remote_tmp": remote_tmp,
            "env": {"ANSIBLE_REMOTE_TMP": str(remote_tmp)}}


def store_files(state):
    payloads = Path(state) / "payloads"
    return sorted(os.listdir(str(payloads))) if payloads.is_dir() else []


def run(sshd, node, check=False, env=None, args=None):
    res = run_playbook(playbook(args or node["args"], check=check), {"node1": sshd.host_vars()},
                       env=dict(node["env"], **(env or {})), args=("-vvv",))
    assert res.rc == 0, res.output
    return res.result("upgrade"), connections(res.stdout)


def test_first_run_four_connections_rerun_two(sshd, node):
    """The module path (resident_engine: false, as before the node-resident engine)."""
    args = dict(node["args"], resident_engine=False)
    sha = hashlib.sha256(node["payload"].read_bytes()).hexdigest()
    r, conns = run(sshd, node, args=args)
    assert r["status"] == "applied" and r["payload_bytes_sent"] == node["payload"].stat().st_size, r
    # no remote tmp dir, no sftp: look-up, the transfer (what has the node? one chunk: the payload is
    # small) into the store dir, one module run
    assert conns == ["look-up", "transfer-begin", "upload", "module"], conns
    assert r["transfer"]["attempts"] == 1 and r["transfer"]["chunks"] == 1, r
    assert store_files(node["state"]) == [sha + ".tar.gz"]  # the upload was moved into the store

    r, conns = run(sshd, node, args=args)
    assert r["status"] == "already_applied" and r["payload_bytes_sent"] == 0 and not r["payload_transferred"], r
    assert conns == ["look-up", "module"], conns
    assert os.listdir(str(node["remote_tmp"])) == []


def test_resident_engine_rerun_is_one_exec(sshd, node):
    """First contact: the resident engine is not there (answered by the shell, which also says the payload is
    not in the store), then one exec sends the engine's sources, the task and the (small) payload: it runs
    the task and installs the engine; no module. Then a re-run is one exec, and a new (small) payload two: the
    engine's look-up, then the engine again with the payload on its stdin (inline.py)."""
    r, conns = run(sshd, node)
    assert r["status"] == "applied" and r["transfer"]["inline"], r
    assert conns == ["resident", "first-contact"], conns
    assert len(os.listdir(str(node["state"] / "engine"))) == 1  # installed
    assert r["traffic"]["by_category"]["modules"]["sent"] == 0 and r["traffic"]["sent"] < 100000, r["traffic"]
    r, conns = run(sshd, node)
    assert r["status"] == "already_applied" and r["payload_bytes_sent"] == 0, r
    assert conns == ["resident"], conns
    (node["payload"].parent / "v2").mkdir()
    p2 = make_payload(node["payload"].parent / "v2", version="2.0")
    r, conns = run(sshd, node, args=dict(node["args"], src=p2))
    assert r["status"] == "applied" and r["payload_transferred"], r
    assert conns == ["resident", "resident"], conns
    assert r["transfer"]["inline"] and r["payload_bytes_sent"] == os.path.getsize(p2), r
    # the exec that carried the payload counts as payload traffic, once (not again from the transfer figures)
    pay = r["traffic"]["by_category"]["payload"]
    assert pay["execs"] == 1 and os.path.getsize(p2) <= pay["sent"] <= os.path.getsize(p2) + 8192, r["traffic"]
    assert r["traffic"]["execs"] == 2, r["traffic"]
    assert store_files(node["state"]) == sorted(hashlib.sha256(Path(p).read_bytes()).hexdigest() + ".tar.gz"
                                                for p in (node["payload"], p2))  # nothing else left
    assert os.listdir(str(node["remote_tmp"])) == []


def test_wait_start_with_a_small_payload_is_look_up_then_start(sshd, node):
    """wait: true on a node with the engine and without the payload: the start is the engine's look-up, then
    the detached start with the payload on its stdin; no transfer exec, no module."""
    run(sshd, node)  # installs the engine
    (node["payload"].parent / "v2").mkdir()
    p2 = make_payload(node["payload"].parent / "v2", version="2.0")
    async_dir = node["remote_tmp"].parent / "async"
    r, conns = run(sshd, node, args=dict(node["args"], src=p2, wait=True, poll_interval=1),
                   env={"ANSIBLE_ASYNC_DIR": str(async_dir)})
    assert r["status"] == "applied" and r["payload_transferred"] and r["transfer"]["inline"], r
    assert "upload" not in conns and "transfer-begin" not in conns and "module" not in conns, conns
    # look-up (with the versions before), start with the payload, then the polls, the last one with the result:
    # nothing but resident execs (no upgrade_info look of its own, no cat or rm of the status file)
    assert conns[:2] == ["resident"] * 2 and set(conns) == {"resident"}, conns
    assert r["traffic"]["by_category"]["payload"]["execs"] == 1, r["traffic"]
    assert "versions_before" in r, r
    left = sorted(os.listdir(str(async_dir)))  # the status file was collected: renamed, kept a day
    assert len(left) == 1 and left[0].endswith(".collected"), left


def test_resident_engine_larger_payload_keeps_the_chunked_transfer(sshd, node):
    """A payload larger than inline.INLINE_MAX is not sent with the task: the resumable transfer's question and
    chunks, then the engine."""
    run(sshd, node)  # installs the engine
    (node["payload"].parent / "big").mkdir()
    noise = os.urandom(300 * 1024)  # incompressible: the archive stays above the 256 KiB bound
    p2 = make_payload(node["payload"].parent / "big", version="2.0", extra_files={"noise.txt": noise.hex()[:600000]})
    assert os.path.getsize(p2) > 256 * 1024
    r, conns = run(sshd, node, args=dict(node["args"], src=p2))
    assert r["status"] == "applied" and r["payload_transferred"] and not r["transfer"].get("inline"), r
    assert conns[0] == "resident" and conns[-1] == "resident" and "upload" in conns, conns


def test_without_pipelining_the_payload_still_goes_by_the_transfer(sshd, node):
    """The first contact is plain execs, pipelining or not. On the module path the module goes through the
    remote tmp dir; the payload by plain execs, as with pipelining."""
    env = {"ANSIBLE_PIPELINING": "False"}
    r, conns = run(sshd, node, env=env)
    assert r["status"] == "applied" and conns == ["resident", "first-contact"], (r, conns)
    (node["payload"].parent / "v2").mkdir()
    p2 = make_payload(node["payload"].parent / "v2", version="2.0")
    r, conns = run(sshd, node, env=env, args=dict(node["args"], src=p2, resident_engine=False))
    assert r["status"] == "applied" and r["payload_transferred"] is True, r
    assert "upload" in conns and "file-transfer" in conns, conns
    assert conns[0] == "look-up" and "remove-tmp" in conns, conns
    assert len(store_files(node["state"])) == 2
    assert os.listdir(str(node["remote_tmp"])) == []  # the remote tmp dir was removed


def test_check_mode_leaves_the_store_alone(sshd, node):
    """First contact in check mode: the payload to the remote tmp dir (the store is not written), then the
    engine's sources with the task; nothing installed (a check-mode run leaves nothing new behind)."""
    r, conns = run(sshd, node, check=True)
    assert r["status"] == "needed" and r["changed"] is True, r
    assert conns[0] == "resident" and "first-contact" in conns and "module" not in conns, conns
    assert "upload" not in conns and "file-transfer" in conns, conns
    assert not (node["state"] / "engine").exists()
    assert store_files(node["state"]) == []  # check mode sent the payload to the remote tmp dir only
    assert os.listdir(str(node["remote_tmp"])) == []


def test_state_dir_the_node_expands_uses_a_module_look_up(sshd, node):
    """``~`` in state_dir is the node user's home: only the module can resolve it, so the look-up is a
    module run and the transfer goes through the remote tmp dir, as before."""
    name = ".hc-roundtrips-%s" % uuid.uuid4().hex[:12]
    home = Path(os.path.expanduser("~root"))  # the test sshd logs in as root on this machine
    try:
        r, conns = run(sshd, node, args=dict(node["args"], state_dir="~/" + name))
        assert r["status"] == "applied", r
        assert "look-up" not in conns and "upload" not in conns and conns.count("module") == 2, conns
        assert len(store_files(home / name)) == 1
    finally:
        shutil.rmtree(str(home / name), ignore_errors=True)


def test_payload_is_inspected_once_per_run_not_per_host(sshd, tmp_path, node):
    """Two hosts (the same sshd, two state dirs) in one run: one inspection on the controller."""
    hosts = {}
    for name in ("node1", "node2"):
        hosts[name] = dict(sshd.host_vars(), hc_state=str(tmp_path / ("state-" + name)))
    args = dict(node["args"], state_dir="{{ hc_state }}")
    res = run_playbook(playbook(args), hosts, env=node["env"], args=("-vvv",))
    assert res.rc == 0, res.output
    # both hosts run the payload on this one machine: the second may find it applied by the first
    statuses = {res.result("upgrade", host)["status"] for host in hosts}
    assert statuses <= {"applied", "already_applied"}, statuses
    assert res.stdout.count("honeycomb: payload %s inspected" % node["payload"]) == 1, res.output
    assert res.stdout.count("honeycomb: payload %s: inspection of this run reused" % node["payload"]) == 1
