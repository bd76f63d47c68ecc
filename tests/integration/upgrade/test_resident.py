"""The node-resident engine (docs/resident-engine.md) through real ansible-playbook against a real sshd.

The node's interpreter is a wrapper that logs every module run (``module`` lines in ``modules.log``; not the
payload transfer's ``python -c`` helper) and execs the real Python: the resident engine is installed for the real Python (``sys.executable`` of the module run),
so its runs never pass through the wrapper. ``raw`` tasks (no Python) write marks between the tasks, so the
log says which task ran a module. Speed is measured by ``make bench``, not here.
"""

import hashlib
import json
import marshal
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from hctest.playbook import REPO, run_playbook
from hctest.requires import require_path
from hctest.upgrade import make_payload

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import detach

pytestmark = pytest.mark.slow

PY36 = Path("/root/.pyenv/versions/3.6.15/bin/python3")
CORE216 = REPO / ".venv-core216" / "bin" / "ansible-playbook"
VOLATILE = ("job_id", "journal", "phases", "duration", "created", "finished", "updated", "started",
            "traffic")  # the bytes and execs of a run differ by path, by design


def wrapper(node, python):
    log = node.root / "modules.log"
    path = node.root / "pywrap"
    # the payload transfer's helper (``python -c``) is not a module run; the first contact (``python -I -S -c``,
    # the engine's sources on stdin) is logged as ``first``
    path.write_text('#!/bin/sh\ncase "$1" in -c) ;; -I) echo first >> %s ;; *) echo module >> %s ;; esac\nexec %s "$@"\n'
                    % (log, log, python))
    path.chmod(0o755)
    return str(path), log


def mark(name, log):
    return {"name": "mark " + name, "ansible.builtin.raw": "echo 'mark %s' >> %s" % (name, log)}


def modules_between(log, kind="module"):
    """{mark: number of module runs (``kind``: or first contacts, ``first``) after that mark and before the next}."""
    out = {}
    current = None
    for line in log.read_text().splitlines():
        if line.startswith("mark "):
            current = line[5:]
            out[current] = 0
        elif line == kind and current is not None:
            out[current] += 1
    return out


def upgrade(name, src, node, **extra):
    args = dict(node.opts(), src=str(src))
    args.update(extra)
    task = {"name": name, "waggle.honeycomb.upgrade": args, "ignore_errors": True}
    if "check_mode" in extra:
        task["check_mode"] = args.pop("check_mode")
    return task


def info(name, node, **extra):
    return {"name": name, "waggle.honeycomb.upgrade_info": dict({"state_dir": str(node.state)}, **extra)}


def playbook(tasks):
    return json.dumps([{"name": "resident", "hosts": "nodes", "gather_facts": False, "tasks": tasks}])


def same(a, b):
    """Both results, without what differs between two runs (job ids, paths, times)."""
    def clean(res):
        out = dict((k, v) for k, v in res.items() if k not in VOLATILE and not k.startswith("_ansible"))
        if isinstance(out.get("installed"), dict):  # an already-applied run records itself in installed.json
            out["installed"] = dict((k, v) for k, v in out["installed"].items() if k not in ("job_id", "time"))
        return out
    return clean(a) == clean(b), clean(a), clean(b)


def engine_dirs(node):
    root = node.state / "engine"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def payload(node):
    marker = node.target / "version"
    return make_payload(node.root, name="res", scripts={
        "state_check": 'echo token=$HC_PARAM_TOKEN; [ -f %s ] && exit 100; exit 0' % marker,
        "install": "echo secret=$HC_PARAM_TOKEN; touch %s" % marker, "verify": "[ -f %s ]" % marker,
        "rollback": "rm -f %s" % marker},
        parameters={"properties": {"token": {"type": "string"}}})


def test_resident_path_fallback_and_same_results(sshd, make_node):
    """First contact: the engine's sources go with the task (no module run; it installs the engine); then
    upgrade, check mode and upgrade_info run resident (no module run) with the results of the module path;
    resident_engine: false runs the module."""
    node = make_node("res")
    py, log = wrapper(node, sshd.python)
    p = payload(node)
    secret = {"secret_parameters": {"token": "s3cr3t-value"}}
    tasks = [mark("first", log), upgrade("first", p, node, **secret),
             mark("second", log), upgrade("second", p, node, **secret),
             mark("second module", log), upgrade("second module", p, node, resident_engine=False, **secret),
             mark("check", log), upgrade("check", p, node, check_mode=True),
             mark("check module", log), upgrade("check module", p, node, check_mode=True, resident_engine=False),
             mark("bad", log), upgrade("bad", p, node, parameters={"token": 5}, lock_timeout="soon"),
             mark("bad module", log), upgrade("bad module", p, node, parameters={"token": 5}, lock_timeout="soon",
                                              resident_engine=False),
             mark("info", log), info("info", node),
             mark("info module", log), info("info module", node, resident_engine=False),
             mark("job", log), info("job", node, job_id="nope"),
             mark("job module", log), dict(info("job module", node, job_id="nope", resident_engine=False)),
             mark("end", log)]
    for task in tasks:
        if task["name"].startswith("job"):
            task["ignore_errors"] = True
    res = run_playbook(playbook(tasks), {"node1": sshd.host_vars(python=py)})
    assert res.rc == 0, res.output
    runs = modules_between(log)
    assert runs == {"first": 0, "second": 0, "second module": 1, "check": 0, "check module": 1, "bad": 0,
                    "bad module": 0, "info": 0, "info module": 1, "job": 0, "job module": 1, "end": 0}, runs
    firsts = modules_between(log, "first")
    assert firsts["first"] == 1 and sum(firsts.values()) == 1, firsts

    first = res.result("first")
    assert first["status"] == "applied" and first["changed"], first
    assert "s3cr3t-value" not in json.dumps(first) and "secret=********" in first["phases"]["install"]["stdout_tail"]
    assert len(engine_dirs(node)) == 1, engine_dirs(node)

    for name in ("second", "check", "info", "job"):
        ok, resident, module = same(res.result(name), res.result(name + " module"))
        assert ok, (name, dict((k, (resident.get(k), module.get(k))) for k in set(resident) | set(module)
                               if resident.get(k) != module.get(k)))
    second = res.result("second")
    assert second["status"] == "already_applied"
    assert "s3cr3t-value" not in json.dumps(second), second  # no_log values masked as the module masks them
    assert "token=********" in second["phases"]["state_check"]["stdout_tail"], second
    assert res.result("check")["status"] == "already_applied"
    assert res.status("job") == res.status("job module") == "failed"
    assert res.result("info")["installed"]["res"]["version"] == "1.0"
    assert res.status("bad") == "failed" and res.result("bad")["msg"] == res.result("bad module")["msg"]


def test_version_mismatch_and_corrupted_installs(sshd, make_node, tmp_path):
    """An engine of another version (old resident engine, new collection), a manifest claiming another
    version, a tampered engine.bin (its code would leave a mark if it ran), a broken manifest and a missing
    interpreter: each is detected, never run, the module runs instead and installs the engine again (for
    the old engine, where this version is simply not installed, the first contact sends the engine's
    sources instead); the same bytes each time."""
    node = make_node("mis")
    py, log = wrapper(node, sshd.python)
    p = payload(node)
    host = {"node1": sshd.host_vars(python=py)}
    res = run_playbook(playbook([upgrade("install", p, node)]), host)
    assert res.rc == 0 and res.result("install")["status"] == "applied", res.output
    (version,) = engine_dirs(node)
    vdir = node.state / "engine" / version
    good = dict((f.name, f.read_bytes()) for f in vdir.iterdir())

    ran = tmp_path / "tampered-code-ran"
    old = "0" * 64

    def old_engine():  # the install of an older collection: another version dir, its own manifest
        shutil.move(str(vdir), str(node.state / "engine" / old))
        manifest = json.loads((node.state / "engine" / old / "manifest.json").read_text())
        manifest["version"] = old
        (node.state / "engine" / old / "manifest.json").write_text(json.dumps(manifest))

    def claims_other_version():
        manifest = json.loads((vdir / "manifest.json").read_text())
        manifest["version"] = old
        (vdir / "manifest.json").write_text(json.dumps(manifest))

    def tampered_code():  # valid bytecode that would leave a mark; the manifest's SHA-256 is the old one
        pkg = "ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb"
        code = compile("open(%r, 'w').write('ran')\ndef main(d):\n    pass\n" % str(ran), "evil", "exec")
        (vdir / "engine.bin").write_bytes(marshal.dumps({pkg + ".resident_engine": code}))

    def flipped_byte():
        data = bytearray((vdir / "engine.bin").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (vdir / "engine.bin").write_bytes(bytes(data))

    def broken_manifest():
        (vdir / "manifest.json").write_text("{not json")

    def missing_interpreter():
        (vdir / "python").write_text("/nonexistent/python3\n")

    cases = [("old engine", old_engine), ("other version", claims_other_version), ("tampered", tampered_code),
             ("flipped", flipped_byte), ("manifest", broken_manifest), ("interpreter", missing_interpreter)]
    for name, damage in cases:
        damage()
        log.write_text("")
        tasks = [mark("damaged", log), upgrade(name, p, node), mark("again", log), upgrade(name + " again", p, node),
                 mark("end", log)]
        res = run_playbook(playbook(tasks), host)
        assert res.rc == 0, (name, res.output)
        assert res.result(name)["status"] == "already_applied", (name, res.result(name))
        first = name == "old engine"  # "not installed" (answered by the shell): a first contact, not the module
        assert modules_between(log) == {"damaged": 0 if first else 1, "again": 0, "end": 0}, (name, log.read_text())
        assert modules_between(log, "first") == {"damaged": 1 if first else 0, "again": 0, "end": 0}, name
        assert not ran.exists(), name
        assert dict((f.name, f.read_bytes()) for f in vdir.iterdir() if f.name != "manifest.json") == dict(
            (k, v) for k, v in good.items() if k != "manifest.json"), name
        manifest = json.loads((vdir / "manifest.json").read_text())
        assert manifest["version"] == version
        assert manifest["sha256"] == hashlib.sha256((vdir / "engine.bin").read_bytes()).hexdigest()
    assert engine_dirs(node) == sorted([version, old])  # the older version is kept (KEEP_VERSIONS)


def test_node_prereqs_installs_the_engine(sshd, make_node):
    """The node_prereqs role installs the engine: the first upgrade already runs resident."""
    node = make_node("role")
    py, log = wrapper(node, sshd.python)
    p = payload(node)
    tasks = [{"name": "prereqs", "ansible.builtin.include_role": {"name": "waggle.honeycomb.node_prereqs"},
              "vars": {"node_prereqs_state_dir": str(node.state), "node_prereqs_install_packages": False}},
             mark("first", log), upgrade("first", p, node), mark("end", log)]
    res = run_playbook(playbook(tasks), {"node1": sshd.host_vars(python=py)})
    assert res.rc == 0, res.output
    assert res.result("first")["status"] == "applied"
    assert modules_between(log) == {"first": 0, "end": 0}, log.read_text()


def test_python36_node_with_core216(sshd, make_node):
    """ansible-core 2.16 and a Python 3.6 node: installed by the first contact (the engine's sources sent with
    the task, compiled by 3.6), then resident (the detached start of wait: true too)."""
    require_path(CORE216, "ansible-core 2.16", "run `make -C %s venv-core216`" % REPO)
    if not PY36.exists():
        pytest.skip("no Python 3.6 node interpreter at %s (pyenv install 3.6.15)" % PY36)
    node = make_node("py36")
    py, log = wrapper(node, str(PY36))
    p = payload(node)
    tasks = [mark("first", log), upgrade("first", p, node), mark("second", log), upgrade("second", p, node),
             mark("info", log), info("info", node), mark("rollback", log),
             {"name": "rollback", "waggle.honeycomb.upgrade": dict(node.opts(), state="rolled_back", peripheral="res")},
             mark("wait", log), upgrade("wait", p, node, wait=True, poll_interval=1), mark("end", log)]
    res = run_playbook(playbook(tasks), {"node1": wait_vars(sshd, node, py)}, ansible_playbook=CORE216)
    assert res.rc == 0, res.output
    assert modules_between(log) == {"first": 0, "second": 0, "info": 0, "rollback": 1, "wait": 0, "end": 0}, \
        log.read_text()
    assert modules_between(log, "first")["first"] == 1, log.read_text()
    assert res.result("wait")["status"] == "applied", res.result("wait")  # started detached by the 3.6 engine
    assert res.result("first")["status"] == "applied"
    assert res.result("second")["status"] == "already_applied"
    assert res.result("info")["installed"]["res"]["version"] == "1.0"
    assert res.result("rollback")["status"] == "rolled_back"
    (version,) = engine_dirs(node)
    manifest = json.loads((node.state / "engine" / version / "manifest.json").read_text())
    assert manifest["python"] == str(PY36) and manifest["magic"] == "330d0d0a", manifest  # 3.6 bytecode


def test_status_playbook_reads_with_the_resident_engine(sshd, make_node):
    """The catch-up check (playbooks/status.yml) on a node that has the engine: no module run."""
    node = make_node("status")
    py, log = wrapper(node, sshd.python)
    p = payload(node)
    host = {"node1": dict(sshd.host_vars(python=py), honeycomb_state_dir=str(node.state))}
    res = run_playbook(playbook([upgrade("install", p, node)]), host)
    assert res.rc == 0 and res.result("install")["status"] == "applied", res.output
    log.write_text("")
    res = run_playbook(str(REPO / "playbooks" / "status.yml"), host)
    assert res.rc == 0, res.output
    assert log.read_text() == "", log.read_text()  # no module started on the node
    info_result = res.result("Read the node's upgrade state")
    assert info_result["installed"]["res"]["version"] == "1.0" and info_result["state_dir_exists"]


def wait_vars(sshd, node, python):
    return dict(sshd.host_vars(python=python), ansible_async_dir=str(node.root / "async"))


def test_wait_mode_starts_and_polls_with_the_resident_engine(sshd, make_node):
    """upgrade with wait: true on a node that has the engine: the job starts detached by the resident engine (no
    module, no async_wrapper) and is polled with upgrade_info through it too; same final result as the
    async_wrapper path (resident_engine: false), which still works."""
    node = make_node("wait")
    py, log = wrapper(node, sshd.python)
    p1 = payload(node)
    p2 = make_payload(node.root / "v2", name="res", version="2.0", scripts={"install": "sleep 3"})
    p3 = make_payload(node.root / "v3", name="res", version="3.0", scripts={"install": "sleep 1"})
    tasks = [upgrade("install", p1, node), mark("wait", log), upgrade("wait", p2, node, wait=True, poll_interval=1),
             mark("module", log), upgrade("module", p3, node, wait=True, poll_interval=1, resident_engine=False),
             mark("end", log)]
    res = run_playbook(playbook(tasks), {"node1": wait_vars(sshd, node, py)})
    assert res.rc == 0, res.output
    r = res.result("wait")
    assert r["status"] == "applied" and r["installed_version"] == "2.0", r
    assert r["versions_before"] == {"res": "1.0"}, r
    runs = modules_between(log)
    assert runs["wait"] == 0, log.read_text()  # start, payload look-up and polls: all resident
    assert runs["module"] >= 2, log.read_text()  # the fallback: look-up and async_wrapper's start
    m = res.result("module")
    assert m["status"] == "applied" and m["installed_version"] == "3.0", m
    assert set(r) == set(m) and (r["changed"], r["status"]) == (m["changed"], m["status"]), (r, m)
    # both results came back with the poll that found the job finished: the status files are renamed (kept a day,
    # so that a poll whose answer was lost finds the result again), none is left under its job id
    names = sorted(p.name for p in (node.root / "async").iterdir())
    assert len(names) == 2 and all(n.endswith(".collected") for n in names), names


def _descendants(pid):
    """Pids of the live processes below ``pid`` (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def test_wait_mode_job_lost_with_the_power_is_resumed_resident(sshd, make_node):
    """A power cut kills the resident engine's detached job (its watchdog, the engine and the install script at
    once) mid-install: the status file still says started, the poll finds its watchdog gone and calls the job
    lost, and the task resumes it - resident again - and ends applied."""
    node = make_node("lost")
    py, log = wrapper(node, sshd.python)
    started, cut, marker = node.root / "install-started", node.root / "cut", node.target / "v"
    p = make_payload(node.root / "p", name="res", version="2.0", scripts={
        "state_check": "[ -f %s ] && exit 100; exit 0" % marker, "verify": "[ -f %s ]" % marker,
        "rollback": "rm -f %s" % marker,
        "install": "[ -f %s ] || { touch %s; sleep 60; }; touch %s" % (cut, started, marker)})
    killed, seen = [], []

    def power_cut():
        for dummy in range(1200):  # a bound for a hung test, not a timing assertion
            if started.exists():
                break
            time.sleep(0.1)
        else:
            return
        files = [json.loads(f.read_text()) for f in (node.root / "async").iterdir() if not f.name.endswith(".tmp")]
        seen.extend(files)
        watchdog = [f[detach.OWNER_KEY]["pid"] for f in files if detach.OWNER_KEY in f][0]
        victims = [watchdog] + _descendants(watchdog)
        for pid in victims:  # the processes this test's playbook started, all at once
            os.kill(pid, signal.SIGSTOP)
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        killed.extend(victims)
        cut.write_text("")

    thread = threading.Thread(target=power_cut, daemon=True)
    thread.start()
    tasks = [upgrade("first contact", payload(node), node), mark("wait", log),
             upgrade("wait", p, node, wait=True, poll_interval=1), mark("end", log)]
    res = run_playbook(playbook(tasks), {"node1": wait_vars(sshd, node, py)})
    thread.join(5)
    assert res.rc == 0, res.output
    assert killed, ("the install never started", seen, res.output[-3000:])
    r = res.result("wait")
    assert r["status"] == "applied" and r["wait"]["losses"] == 1 and r["wait"]["resumes"] == 1, r
    assert len(r["wait"]["jobs"]) == 2 and marker.exists()
    assert modules_between(log)["wait"] == 0, log.read_text()  # started and resumed by the resident engine


def test_first_contact_that_cannot_run_falls_back_to_the_module(sshd, make_node):
    """The interpreter Ansible names refuses ``-I`` as a Python 2 does (a stand-in that exits as Python 2.7
    exits): the first contact is refused before anything ran, the module runs (and installs the engine); the
    next task is resident."""
    node = make_node("py2")
    py, log = wrapper(node, sshd.python)
    refuse = node.root / "py2wrap"
    refuse.write_text('#!/bin/sh\n[ "$1" = -I ] && { echo "Unknown option: -I" >&2; exit 2; }\nexec %s "$@"\n' % py)
    refuse.chmod(0o755)
    p = payload(node)
    tasks = [mark("first", log), upgrade("first", p, node), mark("second", log), upgrade("second", p, node),
             mark("end", log)]
    res = run_playbook(playbook(tasks), {"node1": sshd.host_vars(python=str(refuse))}, args=("-vv",))
    assert res.rc == 0, res.output
    assert res.result("first")["status"] == "applied" and res.result("second")["status"] == "already_applied"
    assert modules_between(log) == {"first": 1, "second": 0, "end": 0}, log.read_text()
    assert "first contact: its interpreter cannot be run (rc 2)" in res.stdout, res.stdout[-3000:]
    assert len(engine_dirs(node)) == 1
