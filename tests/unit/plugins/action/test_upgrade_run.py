"""Every path of the upgrade action plugin's ``run``, with the node replaced by a recorder: what is sent
(raw look-up, upload, module runs and their arguments) and what the task returns.

(The same paths against real sshd are covered by tests/integration/upgrade and upgrade_roundtrips.)
"""

import copy
import os
from unittest import mock

import pytest

from ansible_collections.waggle.honeycomb.plugins.action import upgrade as action
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import StateLayout
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import transfer

from hctest.playbook import REPO
from hctest.action import make_action
from hctest.upgrade import make_payload

STATE_DIR = "/srv/hc"


class Node:
    """Records what the plugin sends; answers from ``modules`` (module results, in order) and
    ``commands`` (a function of the command line giving the low-level result)."""

    def __init__(self, modules=(), commands=None, pipelining=True):
        self.modules = list(modules)
        self.commands = commands or (lambda cmd: {"rc": 0, "stdout": "", "stderr": ""})
        self.pipelining = pipelining
        self.module_calls = []
        self.command_calls = []
        self.transfers = []
        self.sent = []  # resumable transfers: (src, sha256, store dir, options)
        self.send_error = None

    def send(self, action_plugin, src, sha256, layout, args, task_vars, log=None):
        self.sent.append((src, sha256, layout.payloads_dir, dict((k, args.get(k)) for k in
                                                                 ("transfer_rate_limit", "transfer_stall_timeout"))))
        stats = {"bytes_sent": os.path.getsize(src), "attempts": 1, "bytes_resumed": 0, "bytes_resent": 0}
        if self.send_error:
            raise transfer.TransferError(self.send_error, dict(stats, bytes_sent=10))
        return stats

    def execute_module(self, module_name=None, module_args=None, task_vars=None, wrap_async=False, **kw):
        self.module_calls.append({"name": module_name, "args": copy.deepcopy(module_args), "wrap_async": wrap_async})
        return dict(self.modules.pop(0))

    def low_level(self, cmd, in_data=None, **kw):
        self.command_calls.append((cmd, in_data))
        return self.commands(cmd)

    def commands_run(self):
        return [cmd.split()[0] for cmd, dummy in self.command_calls]


def run_task(tmp_path, node, args, check_mode=False, async_val=0):
    # the module path (tests/unit/plugins/action/test_upgrade_resident.py: the resident engine)
    plugin = make_action(action.ActionModule, tmp_path, "waggle.honeycomb.upgrade",
                         dict({"resident_engine": False}, **args), check_mode=check_mode, async_val=async_val)
    with mock.patch.object(action.ActionModule, "_early_needs_tmp_path", return_value=False), \
            mock.patch.object(plugin, "_execute_module", side_effect=node.execute_module), \
            mock.patch.object(plugin, "_low_level_execute_command", side_effect=node.low_level), \
            mock.patch.object(plugin, "_is_pipelining_enabled", return_value=node.pipelining), \
            mock.patch.object(plugin, "_make_tmp_path", return_value="/remote/tmp"), \
            mock.patch.object(plugin, "_transfer_file", side_effect=lambda src, dst: node.transfers.append(dst)), \
            mock.patch.object(plugin, "_fixup_perms2"), \
            mock.patch.object(action.transfer, "send", side_effect=node.send):
        return plugin.run(task_vars={})


@pytest.fixture
def payload(tmp_path):
    return make_payload(tmp_path / "p")


def store(payload):
    return StateLayout(STATE_DIR).payload_path(pl.sha256_file(payload))


def in_store(cmd):
    return {"rc": 0, "stdout": "", "stderr": ""}


def not_in_store(cmd):
    return {"rc": 1 if cmd.startswith("test -f") else 0, "stdout": "", "stderr": ""}


APPLIED = {"changed": True, "status": "applied"}
MISSING = {"changed": False, "payload_missing": True, "msg": "not in the store"}


def test_rollback_without_src_is_one_module_run_and_sends_nothing(tmp_path):
    node = Node([{"changed": True, "status": "rolled_back"}])
    r = run_task(tmp_path, node, {"state": "rolled_back", "peripheral": "demo", "state_dir": STATE_DIR})
    assert r["status"] == "rolled_back"
    assert [c["args"] for c in node.module_calls] == [{"state": "rolled_back", "peripheral": "demo",
                                                       "state_dir": STATE_DIR, "resident_engine": False}]
    assert node.command_calls == [] and node.transfers == []


def test_rollback_without_src_under_async_is_wrapped(tmp_path):
    node = Node([{"ansible_job_id": "j1", "started": 1}])
    run_task(tmp_path, node, {"state": "rolled_back", "job_id": "j"}, async_val=60)
    assert node.module_calls[0]["wrap_async"] is True


def test_missing_src_on_the_controller(tmp_path):
    node = Node()
    r = run_task(tmp_path, node, {"src": str(tmp_path / "nope.tar.gz")})
    assert r["failed"] and "not found on the controller" in r["msg"]
    assert node.module_calls == [] and node.command_calls == []


def test_refused_payload_never_reaches_the_node(tmp_path):
    node = Node()
    r = run_task(tmp_path, node, {"src": str(REPO / "tests" / "data" / "hostile" / "traversal.tar.gz")})
    assert r["failed"] and r["payload_error"]["member"] and r["payload_bytes_sent"] == 0
    assert node.module_calls == [] and node.command_calls == []


def test_signature_is_required_before_anything_is_sent(tmp_path, payload):
    node = Node()
    r = run_task(tmp_path, node, {"src": payload, "require_signature": True,
                                  "allowed_signers": str(REPO / "tests" / "data" / "hostile" / "allowed_signers")})
    assert r["failed"] and "signature" in r["msg"]
    assert node.module_calls == [] and node.command_calls == []


def test_bad_parameters_are_refused_on_the_controller(tmp_path):
    src = make_payload(tmp_path / "p", parameters={"properties": {"n": {"type": "integer"}}, "required": ["n"]})
    node = Node()
    r = run_task(tmp_path, node, {"src": src})
    assert r["failed"] and "'n'" in r["msg"] and node.command_calls == []


def test_rerun_with_the_payload_in_the_store_is_one_look_up_and_one_module_run(tmp_path, payload):
    node = Node([APPLIED], commands=in_store)
    r = run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR})
    assert r["status"] == "applied" and "signed_by" not in r
    assert node.command_calls == [("test -f %s" % store(payload), None)]
    (call,) = node.module_calls
    assert call["args"]["_honeycomb"] == {"payload_sha256": pl.sha256_file(payload)}
    assert call["args"]["src"] == payload and call["wrap_async"] is False


def test_first_run_sends_the_payload_into_the_store_by_the_resumable_transfer(tmp_path, payload):
    node = Node([APPLIED], commands=not_in_store)
    r = run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR, "transfer_rate_limit": 1000})
    assert r["status"] == "applied"
    assert node.commands_run() == ["test"]
    assert node.sent == [(payload, pl.sha256_file(payload), StateLayout(STATE_DIR).payloads_dir,
                          {"transfer_rate_limit": 1000, "transfer_stall_timeout": None})]
    # the module finds it in the store; the transfer options never reach the node
    (call,) = node.module_calls
    assert call["args"]["_honeycomb"] == {"payload_sha256": pl.sha256_file(payload), "payload_transferred": True,
                                          "payload_bytes_sent": os.path.getsize(payload)}
    assert "transfer_rate_limit" not in call["args"]
    size = os.path.getsize(payload)
    assert r["payload_transferred"] is True and r["payload_bytes_sent"] == size
    assert r["transfer"]["bytes_sent"] == size and r["transfer"]["attempts"] == 1
    assert node.transfers == []


def test_a_transfer_that_cannot_finish_fails_the_task_with_its_figures(tmp_path, payload):
    node = Node([MISSING], commands=not_in_store)
    node.send_error = "the payload transfer made no progress for reconnect_timeout (300s)"
    r = run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR})
    assert r["failed"] and r["msg"] == node.send_error and not r["changed"]
    assert r["transfer"]["bytes_sent"] == 10 and r["payload_transferred"] is False and r["payload_bytes_sent"] == 10


def test_a_drop_after_the_transfer_is_unreachable_with_the_transfer_figures(tmp_path, payload):
    from ansible.errors import AnsibleConnectionFailure
    node = Node(commands=not_in_store)
    node.modules = []
    real = node.execute_module

    def dropped(**kw):
        if node.sent:
            raise AnsibleConnectionFailure("Failed to connect to the host via ssh: Connection closed")
        return real(**kw)
    node.execute_module = dropped
    r = run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR})
    assert r["unreachable"] is True and "Connection closed" in r["msg"]
    assert r["transfer"]["bytes_sent"] == os.path.getsize(payload) and r["payload_bytes_sent"] == r["transfer"]["bytes_sent"]


def test_check_mode_sends_the_payload_through_the_remote_tmp_dir(tmp_path, payload):
    node = Node([APPLIED], commands=not_in_store)
    r = run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR}, check_mode=True)
    assert r["status"] == "applied" and "transfer" not in r
    assert node.transfers == ["/remote/tmp/honeycomb-payload.tar.gz"] and node.sent == []
    assert node.commands_run() == ["test"]
    assert node.module_calls[0]["args"]["_honeycomb"]["payload_upload"] == node.transfers[0]


def test_state_dir_the_node_expands_is_looked_up_by_a_module_run(tmp_path, payload):
    node = Node([dict(MISSING, notes=["store entry was corrupt"]), dict(APPLIED, notes=["later"])])
    r = run_task(tmp_path, node, {"src": payload, "state_dir": "~/hc"})
    assert r["status"] == "applied"
    assert node.command_calls == []  # no raw look-up, no piped upload: only the node knows its paths
    assert "payload_upload" not in node.module_calls[0]["args"]["_honeycomb"]
    assert node.module_calls[1]["args"]["_honeycomb"]["payload_upload"] == node.transfers[0]
    assert r["notes"] == ["store entry was corrupt", "later"]


def test_payload_still_missing_after_the_transfer_fails(tmp_path, payload):
    node = Node([MISSING], commands=not_in_store)
    r = run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR})
    assert r["failed"] and "still does not find it" in r["msg"]


def test_signed_payload_reports_its_signer(tmp_path, payload, monkeypatch):
    monkeypatch.setattr(action.signing, "verify_payload", lambda *a, **kw: "release@waggle")
    node = Node([APPLIED], commands=in_store)
    r = run_task(tmp_path, node, {"src": payload, "allowed_signers": "/signers", "state_dir": STATE_DIR})
    assert r["signed_by"] == "release@waggle"


def test_async_looks_up_synchronously_then_wraps_only_the_real_run(tmp_path, payload, monkeypatch):
    warnings = []
    monkeypatch.setattr(action.display, "warning", warnings.append)
    node = Node([dict(MISSING, notes=["corrupt entry removed"]), {"ansible_job_id": "j1", "started": 1}],
                commands=not_in_store)
    r = run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR}, async_val=600)
    assert r["ansible_job_id"] == "j1"
    look, real = node.module_calls
    assert look["args"]["_honeycomb"]["lookup_only"] is True and look["wrap_async"] is False
    assert "lookup_only" not in real["args"]["_honeycomb"] and real["wrap_async"] is True
    assert "payload_upload" not in real["args"]["_honeycomb"] and node.transfers == []
    assert [sent[0] for sent in node.sent] == [payload]  # the resumable transfer, as without async
    assert r["transfer"]["attempts"] == 1
    assert node.command_calls == [] and warnings == ["corrupt entry removed"]


def test_async_with_the_payload_in_the_store_sends_nothing(tmp_path, payload):
    node = Node([{"payload_missing": False}, {"ansible_job_id": "j1", "started": 1}])
    run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR}, async_val=600)
    assert node.transfers == [] and node.module_calls[1]["wrap_async"] is True


def test_async_look_up_failure_is_the_result(tmp_path, payload):
    node = Node([{"failed": True, "msg": "bad options"}])
    r = run_task(tmp_path, node, {"src": payload, "state_dir": STATE_DIR}, async_val=600)
    assert r["failed"] and r["msg"] == "bad options" and len(node.module_calls) == 1
