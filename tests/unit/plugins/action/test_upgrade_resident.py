"""The upgrade action plugin's dispatch to the node-resident engine (plugin_utils/_honeycomb/resident.py), with
the node replaced by a recorder: which execs and module runs happen, and what the task returns.
(Against real sshd and Python 3.6: tests/integration/upgrade/test_resident.py.)"""

import hashlib
import io
import json
import os
import zlib
from unittest import mock

import pytest

from ansible_collections.waggle.honeycomb.plugins.action import upgrade as action
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import inline
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import resident_engine as rn
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import resident

from hctest.action import make_action
from hctest.upgrade import make_payload

STATE_DIR = "/srv/hc"


def parse_stdin(in_data, first=False):
    """The task the engine reads from its stdin, and the payload bytes after it (inline.py's framing);
    ``first``: the first-contact bootstrap's stdin, the engine's sources before the task (checked here)."""
    stream = io.BytesIO(in_data)
    if first:
        head = json.loads(stream.readline())
        blob = stream.read(head["size"])
        assert hashlib.sha256(blob).hexdigest() == head["sha256"]
        sources = json.loads(zlib.decompress(blob))
        assert "resident_engine" in sources and "inline" in sources
    task = inline.read_task(stream)
    return task, stream.read()


class Node:
    """``resident``: answers of the resident exec, in order (a dict: its JSON output; an int: rc without
    output); ``modules``: module results, in order. A resident exec that carries the payload on its stdin
    stores it when its SHA-256 matches (its answer gets the engine's report); ``payloads``: what came."""

    def __init__(self, resident_answers=(), modules=(), store_has_payload=True, first=()):
        self.first = list(first)
        self.resident = list(resident_answers)
        self.modules = list(modules)
        self.store_has_payload = store_has_payload
        self.calls = []
        self.payloads = []

    def execute_module(self, module_name=None, module_args=None, task_vars=None, wrap_async=False, **kw):
        self.calls.append(("module", module_args))
        return dict(self.modules.pop(0))

    def low_level(self, cmd, in_data=None, **kw):
        first = " -I -S -c " in cmd and not cmd.startswith("d=")
        if cmd.startswith("d=") or first:
            task, data = parse_stdin(in_data, first)
            kind = "first" if first else "resident"
            self.calls.append((kind + "+payload" if inline.HEADER_KEY in task else kind, task))
            answer = (self.first if first else self.resident).pop(0)
            if isinstance(answer, int):
                return {"rc": answer, "stdout": "", "stderr": "Killed"}
            if "rc" in answer:  # the exec's own output
                return answer
            if inline.HEADER_KEY in task and resident.RESULT_KEY in answer:
                head = task[inline.HEADER_KEY]
                stored = head["size"] == len(data) and head["sha256"] == hashlib.sha256(data).hexdigest()
                self.payloads.append(data)
                answer = {resident.RESULT_KEY: dict(answer[resident.RESULT_KEY], **{
                    rn.INLINE_KEY: {"stored": stored, "size": len(data)}})}
            return {"rc": 0, "stdout": json.dumps(answer), "stderr": ""}
        self.calls.append((cmd.split()[0], None))
        if cmd.startswith("test -f"):
            return {"rc": 0 if self.store_has_payload else 1, "stdout": "", "stderr": ""}
        return {"rc": 0, "stdout": "", "stderr": ""}

    def send(self, action_plugin, src, sha256, layout, args, task_vars, log=None):
        """The resumable transfer (plugin_utils/_honeycomb/transfer.py, tested on its own): recorded."""
        self.calls.append(("transfer", (src, sha256, layout.payloads_dir)))
        return {"bytes_sent": os.path.getsize(src), "attempts": 1, "bytes_resumed": 0, "bytes_resent": 0}

    def kinds(self):
        return [kind for kind, dummy in self.calls]


def run_task(tmp_path, node, args, check_mode=False):
    plugin = make_action(action.ActionModule, tmp_path, "waggle.honeycomb.upgrade", args, check_mode=check_mode)
    with mock.patch.object(action.ActionModule, "_early_needs_tmp_path", return_value=False), \
            mock.patch.object(plugin, "_execute_module", side_effect=node.execute_module), \
            mock.patch.object(plugin, "_low_level_execute_command", side_effect=node.low_level), \
            mock.patch.object(plugin, "_compute_environment_string", return_value=""), \
            mock.patch.object(plugin, "_is_pipelining_enabled", return_value=True), \
            mock.patch.object(plugin, "get_shell_option", side_effect=lambda name, default=None: default), \
            mock.patch.object(action.transfer, "send", side_effect=node.send):
        return plugin.run(task_vars={})


@pytest.fixture
def args(tmp_path):
    return {"src": make_payload(tmp_path / "p", parameters={"properties": {"token": {"type": "string"}}}),
            "state_dir": STATE_DIR,
            "secret_parameters": {"token": "hunter2-secret"}}


def result(**kw):
    return {resident.RESULT_KEY: dict({"changed": False, "status": "already_applied"}, **kw)}


def test_rerun_is_one_resident_exec(tmp_path, args):
    node = Node([result(msg="token=hunter2-secret")])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident"]
    assert r["status"] == "already_applied" and "hunter2-secret" not in json.dumps(r)  # masked as a module would
    task = node.calls[0][1]
    assert task["action"] == "upgrade" and task["check_mode"] is False
    assert task["params"]["_honeycomb"]["payload_sha256"] and task["params"]["state_dir"] == STATE_DIR
    assert "state_dir" in task["path_keys"]  # expanded on the node


def test_first_run_sends_a_small_payload_with_the_task_in_one_exec(tmp_path, args):
    """Look-up, then ONE exec: the task and the payload's bytes on the engine's stdin (inline.py)."""
    node = Node([result(payload_missing=True), result(status="applied", changed=True, payload_transferred=True)])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "resident+payload"]
    with open(args["src"], "rb") as handle:
        assert node.payloads == [handle.read()]
    head = node.calls[1][1][inline.HEADER_KEY]
    assert head["sha256"] == node.calls[1][1]["params"]["_honeycomb"]["payload_sha256"]
    assert r["status"] == "applied" and r["payload_transferred"] is True
    assert r["payload_bytes_sent"] == head["size"] == os.path.getsize(args["src"])
    assert r["transfer"]["inline"] is True and r["transfer"]["chunks"] == 1 and r["transfer"]["stored"], r
    assert rn.INLINE_KEY not in r  # the engine's report is taken out of the task result


def test_first_run_sends_a_large_payload_by_the_transfer_and_runs_the_engine_again(tmp_path, args):
    node = Node([result(payload_missing=True), result(status="applied", changed=True)])
    with mock.patch.object(inline, "INLINE_MAX", os.path.getsize(args["src"]) - 1):
        r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "transfer", "resident"]
    assert r["status"] == "applied" and r["payload_transferred"] is True
    assert node.calls[1][1][2] == STATE_DIR + "/payloads"  # straight into the node's store
    assert "payload_upload" not in node.calls[2][1]["params"]["_honeycomb"]  # the engine finds it in the store


def test_payload_the_node_could_not_store_fails_clearly(tmp_path, args):
    """The engine stored nothing (e.g. a wrong SHA-256): its error is the result, no transfer stats."""
    node = Node([result(payload_missing=True),
                 {resident.RESULT_KEY: {"failed": True, "changed": False, "msg": "the payload sent with the task "
                                        "could not be stored on the node: ... sha256 x, not y",
                                        rn.INLINE_KEY: {"stored": False, "msg": "..."}}}])
    node.payloads = []

    def corrupt(cmd, in_data=None, **kw):  # the engine's answer for a payload that did not verify
        return Node.low_level(node, cmd, in_data[:-1] + b"X" if in_data and b'"payload"' in in_data else in_data)
    node.low_level = corrupt
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "resident+payload"]
    assert r["failed"] and "could not be stored" in r["msg"], r
    assert "transfer" not in r and rn.INLINE_KEY not in r, r


def test_check_mode_never_sends_the_payload_with_the_task(tmp_path, args):
    """Check mode stores nothing on the node: the payload goes to the remote tmp dir as before."""
    node = Node([result(payload_missing=True), result(status="needed", changed=True)])
    with mock.patch.object(action.ActionModule, "_transfer_file"), \
            mock.patch.object(action.ActionModule, "_fixup_perms2"), \
            mock.patch.object(action.ActionModule, "_make_tmp_path", return_value="/tmp/x"):
        r = run_task(tmp_path, node, args, check_mode=True)
    assert node.kinds() == ["resident", "resident"], node.calls
    assert node.calls[1][1]["params"]["_honeycomb"]["payload_upload"] == "/tmp/x/honeycomb-payload.tar.gz"
    assert r["status"] == "needed"


def test_not_installed_falls_back_to_the_module_which_installs_it(tmp_path, args):
    """(No store answer from the shell, and a first contact that cannot run: the look-up, then the module.)"""
    node = Node([{resident.UNUSABLE_KEY: "not installed"}], [{"changed": False, "status": "already_applied",
                                                             resident.INSTALL_KEY: {"install": "installed"}}],
                first=[{resident.UNUSABLE_KEY: "Python 3.5 is older than 3.6"}])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "first", "test", "module"]
    assert node.calls[3][1]["_honeycomb"]["resident"] == {"version": resident.engine_version()}
    assert resident.INSTALL_KEY not in r and r["status"] == "already_applied"


def not_installed(stored):
    return {resident.UNUSABLE_KEY: resident.NOT_INSTALLED, "payload_stored": stored}


def installed(res):
    res[resident.RESULT_KEY][resident.INSTALL_KEY] = {"install": "installed", "version": resident.engine_version()}
    return res


def test_first_contact_sends_the_engine_with_the_task_not_the_module(tmp_path, args):
    """The shell said "not installed" (and that the store has the payload): one exec of the first-contact
    bootstrap with the engine's sources and the task; it installs the engine; no module, no look-up."""
    node = Node([not_installed(True)], first=[installed(result(msg="token=hunter2-secret"))])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "first"], node.calls
    assert r["status"] == "already_applied" and "hunter2-secret" not in json.dumps(r)
    assert resident.INSTALL_KEY not in r and "transfer" not in r
    assert node.calls[1][1]["params"]["_honeycomb"]["payload_sha256"]


def test_first_contact_with_a_small_missing_payload_is_two_execs(tmp_path, args):
    node = Node([not_installed(False)], first=[installed(result(status="applied", changed=True, payload_transferred=True))])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "first+payload"], node.calls
    with open(args["src"], "rb") as handle:
        assert node.payloads == [handle.read()]
    assert r["status"] == "applied" and r["transfer"]["inline"] and r["payload_transferred"], r


def test_first_contact_with_a_large_missing_payload_transfers_it_first(tmp_path, args):
    node = Node([not_installed(False)], first=[installed(result(status="applied", changed=True))])
    with mock.patch.object(inline, "INLINE_MAX", 10):
        r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "transfer", "first"], node.calls
    assert node.calls[2][1]["params"]["_honeycomb"]["payload_transferred"] is True
    assert r["status"] == "applied"


def test_first_contact_that_cannot_run_falls_back_to_the_module(tmp_path, args):
    """E.g. the node's python3 is too old: the bootstrap says so before it runs anything; the module runs."""
    node = Node([not_installed(True)], [{"changed": False, "status": "already_applied"}],
                first=[{resident.UNUSABLE_KEY: "Python 3.5 is older than 3.6"}])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "first", "module"], node.calls
    assert node.calls[2][1]["_honeycomb"]["resident"] == {"version": resident.engine_version()}  # it installs
    assert r["status"] == "already_applied"


def test_first_contact_without_python_falls_back_and_sends_the_payload_once_more(tmp_path, args):
    node = Node([not_installed(False)], [{"changed": True, "status": "applied"}], first=[127])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "first+payload", "transfer", "module"], node.calls
    assert r["status"] == "applied"


def test_first_contact_under_python2_falls_back_to_the_module(tmp_path, args):
    node = Node([not_installed(True)], [{"changed": False, "status": "already_applied"}])
    node.first = [{"rc": 2, "stdout": "", "stderr": "Unknown option: -I\nusage: python [option] ..."}]
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "first", "module"] and r["status"] == "already_applied", node.calls


def test_first_contact_that_dies_is_never_run_again(tmp_path, args):
    node = Node([not_installed(True)], first=[137])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "first"]
    assert r["failed"] and "(first contact) failed without a result" in r["msg"], r


def test_first_contact_in_check_mode_copies_a_missing_payload_to_the_tmp_dir(tmp_path, args):
    node = Node([not_installed(False)], first=[result(status="needed", changed=True)])
    with mock.patch.object(action.ActionModule, "_transfer_file"), \
            mock.patch.object(action.ActionModule, "_fixup_perms2"), \
            mock.patch.object(action.ActionModule, "_make_tmp_path", return_value="/tmp/x"):
        r = run_task(tmp_path, node, args, check_mode=True)
    assert node.kinds() == ["resident", "first"], node.calls
    assert node.calls[1][1]["check_mode"] is True
    assert node.calls[1][1]["params"]["_honeycomb"]["payload_upload"] == "/tmp/x/honeycomb-payload.tar.gz"
    assert r["status"] == "needed"


def test_shell_answers_whether_the_store_has_the_payload():
    cmd = resident.command("/s/engine/v", "v", store_path="/s/payloads/abc.tar.gz")
    assert "test -f /s/payloads/abc.tar.gz" in cmd and '"payload_stored": true' in cmd
    assert "test -f" not in resident.command("/s/engine/v", "v")


def test_unusable_install_first_run_uses_the_module_for_both_runs(tmp_path, args):
    node = Node([{resident.UNUSABLE_KEY: "engine.bin does not match its manifest"}],
                [{"changed": True, "status": "applied"}],
                store_has_payload=False)
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "test", "transfer", "module"]
    assert r["status"] == "applied"


def test_missing_interpreter_falls_back(tmp_path, args):
    node = Node([127], [{"changed": False, "status": "already_applied"}])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident", "test", "module"] and r["status"] == "already_applied"


def test_engine_dying_without_result_fails_and_never_runs_again(tmp_path, args):
    node = Node([137])
    r = run_task(tmp_path, node, args)
    assert node.kinds() == ["resident"]
    assert r["failed"] and "without a result" in r["msg"] and "Killed" in r["msg"]


def test_resident_engine_false_is_the_module_path(tmp_path, args):
    node = Node([], [{"changed": False, "status": "already_applied"}])
    run_task(tmp_path, node, dict(args, resident_engine=False))
    assert node.kinds() == ["test", "module"]
    assert "resident" not in node.calls[1][1]["_honeycomb"]


def test_state_dir_the_node_expands_is_the_module_path(tmp_path, args):
    node = Node([], [{"changed": False, "status": "already_applied"}])
    run_task(tmp_path, node, dict(args, state_dir="~/hc"))
    assert node.kinds() == ["module"]


def test_check_mode_is_passed_on(tmp_path, args):
    node = Node([result()])
    run_task(tmp_path, node, args, check_mode=True)
    assert node.calls[0][1]["check_mode"] is True


# -- wait: true: the detached start ------------------------------------------------------------------
class WaitNode(Node):
    """A node for ``wait: true``: ``starts`` answer the resident starts in order (dicts as above, or
    ``"job"``: a started job, whose poll says finished with ``final``); upgrade_info runs answer from the
    jobs' state; ``cat`` of a results file returns ``final``."""

    def __init__(self, starts, final, modules=(), info_usable=True, collects=True, installed=None, first=()):
        Node.__init__(self, starts, modules, first=first)
        self.final = final
        self.info_usable = info_usable
        self.collects = collects  # the poll that finds the job finished brings its result (else: cat and rm)
        self.installed = installed or {}
        self.jobs = 0

    def low_level(self, cmd, in_data=None, **kw):
        if cmd.startswith("d=") and parse_stdin(in_data)[0]["action"] == "upgrade_info":
            task = parse_stdin(in_data)[0]
            self.calls.append(("info", task))
            if not self.info_usable:
                return {"rc": 0, "stdout": json.dumps({resident.UNUSABLE_KEY: "not installed"}), "stderr": ""}
            jid = task["params"]["async_jid"]
            job = {"jid": jid, "finished": True, "lost": False, "results_file": "/a/%s" % jid} if jid else None
            if job and self.collects and (task["params"].get("_honeycomb") or {}).get("collect"):
                job.update(result=dict(self.final), collected=True, results_file="/a/%s.collected" % jid)
            return {"rc": 0, "stdout": json.dumps(result(installed=self.installed, async_job=job)), "stderr": ""}
        if cmd.startswith("d="):
            answer = self.resident[0]
            if answer == "job":
                self.jobs += 1
                self.resident[0] = {resident.RESULT_KEY: {"started": True, "finished": False,
                                                          "ansible_job_id": "1.%d" % self.jobs,
                                                          "results_file": "/a/1.%d" % self.jobs}}
            detach = parse_stdin(in_data)[0].get("detach") or {}
            if detach.get("before") and isinstance(self.resident[0], dict) and resident.RESULT_KEY in self.resident[0]:
                answer = self.resident[0]
                self.resident[0] = {resident.RESULT_KEY: dict(answer[resident.RESULT_KEY], before={
                    "installed": self.installed, "boot": {"slot": 0, "boot_id": "b1"}})}
        if cmd.startswith("cat "):
            self.calls.append(("cat", cmd.split()[1]))
            return {"rc": 0, "stdout": json.dumps(self.final), "stderr": ""}
        return Node.low_level(self, cmd, in_data, **kw)


def wait_args(args):
    return dict(args, wait=True, poll_interval=1, wait_timeout=600)


def test_wait_starts_the_job_with_one_resident_exec(tmp_path, args):
    node = WaitNode(["job"], {"changed": True, "status": "applied", "ansible_job_id": "1.1"})
    with mock.patch("time.sleep"):
        r = run_task(tmp_path, node, wait_args(args))
    # the versions before come with the start, the result with the poll that finds the job finished
    assert node.kinds() == ["resident", "info"], node.calls
    start = node.calls[0][1]
    assert start["action"] == "upgrade" and start["detach"]["lookup"] is True and start["detach"]["before"] is True
    assert start["detach"]["time_limit"] > 0 and start["detach"]["async_dir"]
    assert start["detach"]["secrets"] == ["hunter2-secret"]  # the node masks the job's result file
    assert r["status"] == "applied" and r["wait"]["jobs"] == ["1.1"], r


def test_wait_first_run_starts_with_the_payload_on_the_engines_stdin(tmp_path, args):
    """A small payload missing from the store: the detached start carries it (2 execs: look-up, start)."""
    node = WaitNode([result(payload_missing=True), "job"], {"changed": True, "status": "applied"})
    with mock.patch("time.sleep"):
        r = run_task(tmp_path, node, wait_args(args))
    # the versions before come with the first start, the result with the poll that finds the job finished
    assert node.kinds() == ["resident", "resident+payload", "info"], node.calls
    start = node.calls[1][1]
    assert start["detach"]["lookup"] is True and start[inline.HEADER_KEY]["size"] == os.path.getsize(args["src"])
    assert node.calls[0][1]["detach"]["before"] is True and start["detach"]["before"] is False  # asked once
    assert node.calls[2][1]["params"]["_honeycomb"] == {"collect": True}
    assert r["status"] == "applied" and r["payload_transferred"] is True and r["transfer"]["inline"], r


def test_wait_first_run_sends_a_large_payload_then_starts_resident(tmp_path, args):
    node = WaitNode([result(payload_missing=True), "job"], {"changed": True, "status": "applied"})
    with mock.patch("time.sleep"), mock.patch.object(inline, "INLINE_MAX", 10):
        r = run_task(tmp_path, node, wait_args(args))
    assert node.kinds() == ["resident", "transfer", "resident", "info"], node.calls
    assert r["status"] == "applied" and r["payload_transferred"] is True


def test_wait_reports_the_versions_before_from_the_start(tmp_path, args):
    node = WaitNode(["job"], {"changed": True, "status": "applied", "peripheral": "core"},
                    installed={"core": {"version": "1.0.0"}})
    with mock.patch("time.sleep"):
        r = run_task(tmp_path, node, wait_args(args))
    assert r["versions_before"] == {"core": "1.0.0"} and r["previous_version"] == "1.0.0"
    assert r["wait"]["boot_slots"] == [{"slot": 0, "boot_id": "b1"}]


def test_wait_reads_and_removes_the_status_file_when_the_poll_brings_no_result(tmp_path, args):
    node = WaitNode(["job"], {"changed": True, "status": "applied"}, collects=False)
    with mock.patch("time.sleep"):
        r = run_task(tmp_path, node, wait_args(args))
    assert node.kinds() == ["resident", "info", "cat", "rm"], node.calls
    assert r["status"] == "applied"


def test_wait_first_contact_starts_the_job_with_the_engines_sources_and_the_payload(tmp_path, args):
    started = {"started": True, "finished": False, "ansible_job_id": "1.1", "results_file": "/a/1.1"}
    node = WaitNode([not_installed(False)], {"changed": True, "status": "applied"},
                    first=[installed({resident.RESULT_KEY: started})])
    with mock.patch("time.sleep"):
        r = run_task(tmp_path, node, wait_args(args))
    assert node.kinds() == ["resident", "first+payload", "info"], node.calls
    start = node.calls[1][1]
    assert start["detach"]["lookup"] is True and start["detach"]["secrets"] == ["hunter2-secret"]
    assert start["detach"]["before"] is True  # the bootstrap's start answers what the node had before the job
    assert r["status"] == "applied" and r["wait"]["jobs"] == ["1.1"] and r["transfer"]["inline"], r


def test_wait_falls_back_to_async_wrapper_without_the_engine(tmp_path, args):
    """Neither the engine nor a first contact can run (the node's python3 is too old): async_wrapper; the
    look at the node before the job goes to the module at once (no resident try), which could not install
    the engine either: the look-up, async_wrapper's start and the polls by the module."""
    final = {"changed": True, "status": "applied"}
    node = WaitNode([{resident.UNUSABLE_KEY: "not installed"}], final,
                    modules=[{"installed": {}}, {"payload_missing": False},
                             {"started": 1, "finished": 0, "ansible_job_id": "9.9", "results_file": "/a/9.9"},
                             {"async_job": {"jid": "9.9", "finished": True, "results_file": "/a/9.9.collected",
                                            "result": final}}],
                    first=[{resident.UNUSABLE_KEY: "Python 3.5 is older than 3.6"}])
    with mock.patch("time.sleep"):
        r = run_task(tmp_path, node, wait_args(args))
    assert node.kinds() == ["resident", "first", "module", "module", "module", "module"], node.calls
    assert node.calls[3][1]["_honeycomb"]["lookup_only"] is True
    assert node.calls[5][1]["_honeycomb"]["collect"] is True
    assert r["status"] == "applied" and r["wait"]["jobs"] == ["9.9"]


def test_wait_first_contact_installs_the_engine_with_the_look_and_starts_resident(tmp_path, args):
    """The first-contact bootstrap cannot run here, the module's look at the node installs the engine: the job
    then starts resident after all."""
    node = WaitNode([{resident.UNUSABLE_KEY: "not installed"}, "job"], {"changed": True, "status": "applied"},
                    modules=[{"installed": {}, resident.INSTALL_KEY: {"install": "installed",
                                                                      "version": resident.engine_version()}}],
                    first=[{resident.UNUSABLE_KEY: "the sources do not load"}])
    with mock.patch("time.sleep"):
        r = run_task(tmp_path, node, wait_args(args))
    assert node.kinds() == ["resident", "first", "module", "resident", "info"], node.calls
    assert node.calls[2][1]["_honeycomb"]["resident"] == {"version": resident.engine_version()}
    assert r["status"] == "applied" and r["wait"]["jobs"] == ["1.1"]


def test_wait_with_resident_engine_false_is_the_async_wrapper_path(tmp_path, args):
    node = WaitNode([], {"changed": True, "status": "applied"}, info_usable=False,
                    modules=[{"installed": {}}, {"payload_missing": False},
                             {"started": 1, "finished": 0, "ansible_job_id": "9.9", "results_file": "/a/9.9"},
                             {"async_job": {"jid": "9.9", "finished": True, "results_file": "/a/9.9"}}])
    with mock.patch("time.sleep"):
        r = run_task(tmp_path, node, dict(wait_args(args), resident_engine=False))
    assert "resident" not in node.kinds() and "info" not in node.kinds(), node.calls
    assert r["status"] == "applied"
