"""waggle.honeycomb.upgrade through real ansible-playbook against a real sshd on loopback.

To keep the run short, independent scenarios share one playbook run: one task per scenario, each
with its own node (state dir, node-id file) and payload, ``ignore_errors`` so every task runs.
Payload scripts append to a per-scenario ``runs.log`` so tests prove what ran and how often.
"""

import hashlib
import json
import os
import shutil
import tarfile
import threading
import time
from pathlib import Path

import pytest

from hctest.playbook import REPO, run_playbook
from hctest.requires import require_path
from hctest.upgrade import count, make_legacy_payload, make_payload, runs

pytestmark = pytest.mark.slow

CORPUS = REPO / "tests" / "data" / "hostile"
EXAMPLES = REPO / "examples" / "payloads"


def playbook(tasks, hosts="nodes"):
    return json.dumps([{"name": "upgrade tests", "hosts": hosts, "gather_facts": False, "tasks": tasks}], indent=1)


def upgrade_task(name, src, node, ignore_errors=True, **extra):
    args = {"src": str(src)}
    args.update(node.opts())
    task = {"name": name, "waggle.honeycomb.upgrade": args, "ignore_errors": ignore_errors}
    for key in ("async", "poll", "check_mode"):
        if key in extra:
            task[key] = extra.pop(key)
    args.update(extra)
    return task


def pid_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_scenarios(sshd, make_node, tmp_path):
    """Fresh apply + re-run, retry later, failed precondition, install failure with rollback script,
    verify failure with backup_paths restored, timeout, check mode, legacy 2021 payload, async, info."""
    tasks = []
    nodes = {}
    pay = {}

    # fresh apply, then the same payload again: already applied, 0 bytes sent
    n = nodes["fresh"] = make_node("fresh")
    marker = n.target / "version"
    pay["fresh"] = make_payload(n.root, name="fresh", scripts={
        "state_check": '[ "$(cat %s 2>/dev/null)" = "$HC_PAYLOAD_VERSION" ] && exit 100; exit 0' % marker,
        "install": 'echo "$HC_PAYLOAD_VERSION" > %s; echo "id=$HC_NODE_ID vsn=$HC_VSN p=$HC_PARAM_MODE"' % marker,
        "verify": '[ "$(cat %s)" = "$HC_PAYLOAD_VERSION" ]' % marker,
    }, parameters={"properties": {"mode": {"type": "string", "enum": ["fast", "safe"]}}})
    tasks.append(upgrade_task("fresh 1", pay["fresh"], n, parameters={"mode": "safe"}))
    tasks.append(upgrade_task("fresh 2", pay["fresh"], n, parameters={"mode": "safe"}))
    tasks.append(upgrade_task("fresh bad parameter", pay["fresh"], n, parameters={"mode": "reckless"}))
    tasks.append({"name": "fresh info", "waggle.honeycomb.upgrade_info": {"state_dir": str(n.state)}})

    n = nodes["retry"] = make_node("retry")
    pay["retry"] = make_payload(n.root, name="retry", scripts={"state_check": "exit 21"})
    tasks.append(upgrade_task("retry later", pay["retry"], n))

    n = nodes["precondition"] = make_node("precondition")
    pay["precondition"] = make_payload(n.root, name="pre", scripts={"state_check": "echo no disk >&2; exit 3"},
                                       retries={"state_check": 1})
    tasks.append(upgrade_task("failed precondition", pay["precondition"], n))

    n = nodes["install_rb"] = make_node("install_rb")
    pay["install_rb"] = make_payload(n.root, name="irb", scripts={
        "install": "echo half > %s/half; exit 1" % n.target, "rollback": "rm -f %s/half" % n.target},
        retries={"install": 1})
    tasks.append(upgrade_task("install fails with rollback", pay["install_rb"], n))

    n = nodes["verify_bk"] = make_node("verify_bk")
    conf = n.target / "etc"
    conf.mkdir()
    (conf / "switch.cfg").write_text("version 1\n")
    os.chmod(str(conf / "switch.cfg"), 0o600)
    pay["verify_bk"] = make_payload(n.root, name="vbk", scripts={
        "install": "echo 'version 2' > %s/switch.cfg; touch %s/new.cfg; touch %s/created" % (conf, conf, n.target),
        "verify": "echo 'switch does not answer' >&2; exit 2"},
        backup_paths=[str(conf), str(n.target / "created")])
    tasks.append(upgrade_task("verify fails with backup", pay["verify_bk"], n))

    n = nodes["timeout"] = make_node("timeout")
    pidfile = n.target / "child.pid"
    pay["timeout"] = make_payload(n.root, name="slow", scripts={
        "install": "sleep 300 & echo $! > %s; echo started; wait" % pidfile}, timeouts={"install": 2})
    tasks.append(upgrade_task("timeout", pay["timeout"], n))

    n = nodes["check"] = make_node("check")
    pay["check"] = make_payload(n.root, name="check")
    tasks.append(upgrade_task("check mode", pay["check"], n, check_mode=True))

    n = nodes["legacy"] = make_node("legacy")
    pay["legacy"] = make_legacy_payload(n.root, scripts={"install": "echo legacy install ran"})
    tasks.append(upgrade_task("legacy 1", pay["legacy"], n))
    legacy_again = make_legacy_payload(n.root / "again", version="1.0.0",
                                       scripts={"state_check": "exit 1"}, runs_log=str(n.root / "runs.log"))
    tasks.append(upgrade_task("legacy readme rc 1", legacy_again, n))
    tasks.append(upgrade_task("legacy strict rc 1", legacy_again, n, legacy_state_check="strict"))

    n = nodes["quickstart"] = make_node("quickstart")
    quickstart = n.root / "quickstart.tar.gz"
    with tarfile.open(str(quickstart), "w:gz") as tar:  # as the 2021 build_upgrade.sh made it: names at the root
        for member in sorted(os.listdir(str(EXAMPLES / "legacy-quickstart"))):
            tar.add(str(EXAMPLES / "legacy-quickstart" / member), arcname=member)
    tasks.append(upgrade_task("legacy quickstart example", quickstart, n))

    n = nodes["async"] = make_node("async")
    pay["async"] = make_payload(n.root, name="async")
    tasks.append(upgrade_task("async", pay["async"], n, **{"async": 120, "poll": 1}))
    tasks.append(upgrade_task("async again", pay["async"], n, **{"async": 120, "poll": 1}))

    res = run_playbook(playbook(tasks), {"node1": sshd.host_vars()})
    assert res.rc == 0, res.output  # every failing task is ignore_errors

    # --- fresh apply / already applied
    r1, r2 = res.result("fresh 1"), res.result("fresh 2")
    assert r1["status"] == "applied" and r1["changed"] and not r1.get("failed"), r1
    assert r1["payload_transferred"] and r1["payload_bytes_sent"] == os.path.getsize(pay["fresh"])
    assert "id=000048B02D0766CD vsn=W02F p=safe" in r1["phases"]["install"]["stdout_tail"]
    assert r1["installed_version"] == "1.0"
    assert r2["status"] == "already_applied" and not r2["changed"] and res.status("fresh 2") == "ok"
    assert r2["payload_transferred"] is False and r2["payload_bytes_sent"] == 0
    assert count(nodes["fresh"].root, "install") == 1
    bad = res.result("fresh bad parameter")
    assert res.status("fresh bad parameter") == "failed" and "'mode'" in bad["msg"] and "reckless" in bad["msg"]
    assert count(nodes["fresh"].root, "state_check") == 2  # the refused run executed nothing
    info = res.result("fresh info")
    assert info["installed"]["fresh"]["version"] == "1.0"
    assert [j["status"] for j in info["jobs"]] == ["already_applied", "applied"]
    assert oct(nodes["fresh"].state.stat().st_mode & 0o777) == oct(0o700)

    # --- retry later: ok, unchanged, nothing else ran
    r = res.result("retry later")
    assert res.status("retry later") == "ok" and r["status"] == "retry_later" and not r["changed"]
    assert [p for p, dummy in runs(nodes["retry"].root)] == ["state_check"]

    # --- failed precondition: retried, then failed; nothing else ran
    r = res.result("failed precondition")
    assert res.status("failed precondition") == "failed" and r["status"] == "failed" and not r["changed"]
    assert r["phases"]["state_check"]["attempts"] == 2 and "no disk" in r["phases"]["state_check"]["stderr_tail"]
    assert [p for p, dummy in runs(nodes["precondition"].root)] == ["state_check", "state_check"]

    # --- install fails: retried, rollback script ran once, verify never ran
    r = res.result("install fails with rollback")
    assert r["status"] == "rolled_back" and res.status("install fails with rollback") == "failed"
    assert r["phases"]["install"]["attempts"] == 2 and r["rollback"]["script"]["rc"] == 0
    assert [p for p, dummy in runs(nodes["install_rb"].root)] == ["state_check", "install", "install", "rollback"]
    assert not (nodes["install_rb"].target / "half").exists()

    # --- verify fails: backup_paths restored
    r = res.result("verify fails with backup")
    node = nodes["verify_bk"]
    assert r["status"] == "rolled_back" and r["rollback"]["ok"], r
    assert (node.target / "etc" / "switch.cfg").read_text() == "version 1\n"
    assert (node.target / "etc" / "switch.cfg").stat().st_mode & 0o777 == 0o600
    assert not (node.target / "etc" / "new.cfg").exists() and not (node.target / "created").exists()
    assert "switch does not answer" in r["phases"]["verify"]["stderr_tail"]
    assert "verify exited 2" in r["msg"] and "rolled back" in r["msg"]

    # --- timeout: killed with its children
    r = res.result("timeout")
    assert r["phases"]["install"]["timed_out"] is True and r["status"] == "failed"
    assert "timed out" in r["msg"]
    assert pid_gone(int((nodes["timeout"].target / "child.pid").read_text()))

    # --- check mode: only the state check, nothing stored
    r = res.result("check mode")
    assert r["changed"] is True and r["status"] == "needed" and res.status("check mode") == "ok"
    assert [p for p, dummy in runs(nodes["check"].root)] == ["state_check"]
    assert not nodes["check"].state.exists()

    # --- legacy 2021 payload
    r = res.result("legacy 1")
    assert r["status"] == "applied" and r["payload"]["format"] == "legacy", r
    assert "legacy install ran" in r["phases"]["install"]["stdout_tail"]
    assert res.result("legacy readme rc 1")["status"] == "already_applied"
    strict = res.result("legacy strict rc 1")
    assert strict["status"] == "failed" and "precondition" in strict["msg"]

    r = res.result("legacy quickstart example")
    assert r["status"] == "applied" and r["payload"]["name"] == "quickstart", r
    assert "quickstart verification passed" in r["phases"]["verify"]["stdout_tail"]

    # --- async
    r = res.result("async")
    assert r["status"] == "applied" and r.get("finished") == 1 and r["payload_transferred"] is True, r
    r = res.result("async again")
    assert r["payload_transferred"] is False and r["payload_bytes_sent"] == 0
    assert count(nodes["async"].root, "install") == 2  # its state check always says "needed"


REPRESENTATIVE = ["traversal", "absolute-path", "symlink-escape", "hardlink-escape", "char-device", "setuid-file",
                  "unlisted-file", "checksum-mismatch", "missing-script", "script-not-executable", "truncated-half",
                  "manifest-huge", "manifest-malformed", "schema-version-3", "bad-signature"]


def test_bad_inputs_are_refused_before_anything_runs(sshd, make_node, tmp_path):
    """A representative set of the hostile corpus (tests/data/hostile) through the playbook; the whole
    corpus is covered at unit level by test_payload.py."""
    cases = json.loads((CORPUS / "cases.json").read_text())["cases"]
    names = [n for n in REPRESENTATIVE if n in cases]
    assert len(names) == len(REPRESENTATIVE), sorted(set(REPRESENTATIVE) - set(cases))
    node = make_node("bad")
    tasks = []
    for name in names:
        extra = {}
        if cases[name]["stage"] == "signature":
            extra = {"allowed_signers": str(CORPUS / "allowed_signers"), "require_signature": True}
        tasks.append(upgrade_task("bad " + name, CORPUS / cases[name]["file"], node, **extra))
    unsigned = make_payload(node.root, name="unsigned")
    tasks.append(upgrade_task("bad unsigned", unsigned, node, require_signature=True,
                              allowed_signers=str(CORPUS / "allowed_signers")))
    res = run_playbook(playbook(tasks), {"node1": sshd.host_vars()})
    assert res.rc == 0, res.output
    for name in names:
        r = res.result("bad " + name)
        case = cases[name]
        assert res.status("bad " + name) == "failed", (name, r)
        assert case["match"] in r["msg"], (name, r["msg"])
        named = case["member"] if case["member"] is not None else case["file"]
        assert repr(named) in r["msg"], (name, r["msg"])
        assert r["payload_bytes_sent"] == 0 and not r["changed"]
    r = res.result("bad unsigned")
    assert "not signed" in r["msg"] and res.status("bad unsigned") == "failed"
    assert not node.state.exists()  # nothing reached the node
    assert runs(node.root) == []


def test_corrupt_store_entry_is_replaced(sshd, make_node):
    """A store entry whose content does not match its name (here a hostile archive planted under the
    payload's sha) is never used: the node drops it and the controller sends the real payload."""
    node = make_node("planted")
    good = make_payload(node.root, name="good", scripts={"install": "touch %s/ran" % node.target})
    sha = hashlib.sha256(open(good, "rb").read()).hexdigest()
    (node.state / "payloads").mkdir(parents=True)
    shutil.copyfile(str(CORPUS / "traversal.tar.gz"), str(node.state / "payloads" / (sha + ".tar.gz")))
    res = run_playbook(playbook([upgrade_task("planted", good, node)]), {"node1": sshd.host_vars()})
    r = res.result("planted")
    # the store entry does not match its name: the node throws it away and takes the real one
    assert any("corrupt" in n for n in r.get("notes", [])), r
    assert r["status"] == "applied" and r["payload_transferred"] is True


def test_sigkill_mid_install_is_resolved_by_the_next_run(sshd, make_node):
    """The install script SIGKILLs the module (its parent) once, like a power cut of the module; the
    next run finds the job interrupted in install, runs verify (passes) and records success without
    running install again."""
    node = make_node("sigkill")
    flag = node.target / "killed-once"
    done = node.target / "installed"
    p = make_payload(node.root, name="kill", scripts={
        "install": "if [ ! -f %s ]; then touch %s; kill -9 $PPID; fi; touch %s" % (flag, flag, done),
        "verify": "[ -f %s ]" % done,
    })
    first = run_playbook(playbook([upgrade_task("kill 1", p, node)]), {"node1": sshd.host_vars()})
    r = first.result("kill 1")
    assert first.status("kill 1") == "failed", r
    jobs = node.jobs()
    assert len(jobs) == 1 and jobs[0]["status"] == "running" and jobs[0]["phase"] == "install"
    info_and_rerun = [
        {"name": "info", "waggle.honeycomb.upgrade_info": {"state_dir": str(node.state)}},
        upgrade_task("kill 2", p, node),
    ]
    second = run_playbook(playbook(info_and_rerun), {"node1": sshd.host_vars()})
    info = second.result("info")
    assert [j["job_id"] for j in info["interrupted"]] == [jobs[0]["job_id"]]
    r = second.result("kill 2")
    assert r["status"] == "applied" and r["resumed"] is True and r["job_id"] == jobs[0]["job_id"], r
    assert r["payload_bytes_sent"] == 0
    assert count(node.root, "install") == 1 and count(node.root, "verify") == 1


def test_two_runs_on_one_node(sshd, make_node, tmp_path):
    """A holds the node (its install waits for a release file); B (other payload) waits and then runs;
    C (same payload as A) waits and reports A's result; D (lock_timeout 1) fails naming A's job."""
    node = make_node("concurrent")
    release = node.target / "release"
    a = make_payload(node.root, name="a", scripts={
        "install": "while [ ! -f %s ]; do sleep 0.1; done" % release})
    b = make_payload(node.root, name="b")
    hosts = {"node1": sshd.host_vars()}
    outcomes = {}

    def run(key, src, **extra):
        outcomes[key] = run_playbook(playbook([upgrade_task(key, src, node, **extra)]), hosts)

    threads = [threading.Thread(target=run, args=("A", a))]
    threads[0].start()
    try:
        _wait_for(lambda: count(node.root, "install") == 1, "A's install to start")
        for key, src in (("B", b), ("C", a)):
            threads.append(threading.Thread(target=run, args=(key, src), kwargs={"lock_timeout": 300}))
            threads[-1].start()
        waiting = node.state / "waiting"
        _wait_for(lambda: waiting.is_dir() and len(os.listdir(str(waiting))) == 2, "B and C to wait for the lock")
        run("D", b, lock_timeout=1)
    finally:
        release.touch()
        for thread in threads:
            thread.join(300)
    a_job = outcomes["A"].result("A")["job_id"]
    assert outcomes["A"].result("A")["status"] == "applied"
    d = outcomes["D"].result("D")
    assert outcomes["D"].status("D") == "failed" and a_job in d["msg"] and "lock_timeout" in d["msg"], d
    c = outcomes["C"].result("C")
    assert c["waited_for_job"] == a_job and c["job_id"] == a_job and c["status"] == "applied", c
    bres = outcomes["B"].result("B")
    assert bres["status"] == "applied" and bres["job_id"] != a_job, bres
    assert count(node.root, "install") == 2  # A and B, never C
    log = [p for p, dummy in runs(node.root)]
    second_install = [i for i, p in enumerate(log) if p == "install"][1]
    assert log.index("verify") < second_install  # A finished before B installed: one job at a time


def _wait_for(predicate, what, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


CORE216 = REPO / ".venv-core216" / "bin" / "ansible-playbook"
PY36 = Path("/root/.pyenv/versions/3.6.15/bin/python3")


def test_node_compatibility_core216_python36(sshd, make_node):
    require_path(CORE216, "ansible-core 2.16", "run `make -C %s venv-core216`" % REPO)
    if not PY36.exists():
        pytest.skip("no Python 3.6 node interpreter at %s (pyenv install 3.6.15)" % PY36)
    node = make_node("py36")
    marker = node.target / "version"
    p = make_payload(node.root, name="compat", scripts={
        "state_check": '[ -f %s ] && exit 100; exit 0' % marker,
        "install": "touch %s" % marker, "verify": "[ -f %s ]" % marker}, backup_paths=[str(node.target)])
    tasks = [upgrade_task("compat 1", p, node), upgrade_task("compat 2", p, node),
             {"name": "compat info", "waggle.honeycomb.upgrade_info": {"state_dir": str(node.state)}},
             {"name": "compat rollback",
              "waggle.honeycomb.upgrade": dict(node.opts(), state="rolled_back", peripheral="compat")},
             {"name": "interpreter", "ansible.builtin.command": "{{ ansible_python_interpreter }} -V"}]
    res = run_playbook(playbook(tasks), {"node1": sshd.host_vars(python=str(PY36))}, ansible_playbook=CORE216)
    assert res.rc == 0, res.output
    assert "Python 3.6" in res.result("interpreter")["stdout"]
    assert res.result("compat 1")["status"] == "applied"
    r2 = res.result("compat 2")
    assert r2["status"] == "already_applied" and r2["payload_bytes_sent"] == 0
    assert res.result("compat info")["installed"]["compat"]["version"] == "1.0"
    rb = res.result("compat rollback")  # the explicit rollback on a Python 3.6 node: snapshot restored
    assert rb["status"] == "rolled_back" and rb["changed"] and not marker.exists(), rb
    assert rb["installed_version"] is None and rb["rollback"]["restore"]["restored"] == [str(node.target)]
