"""Unit tests of waggle.honeycomb.upgrade's ``wait: true`` (plugins/action/upgrade.py and
plugins/plugin_utils/_honeycomb/upgrade_wait.py): every path of the action's run against a scripted node.

``FakeNode`` stands in for the node behind the connection: it answers the action's ``_execute_module``
calls (the store look-up, the detached start, the upgrade_info polls) and ``_low_level_execute_command``
(the probe, reading and removing the job's result file) from a script of what each poll sees, and raises
``AnsibleConnectionFailure`` while its tunnel is down. A fake clock makes the sleeps instant and lets the
tests check the backoff. (The same paths through a real simulated fleet: tests/integration/rollout/
test_wait_fleet.py.)
"""

import json
import shlex
from unittest import mock

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible.parsing.dataloader import DataLoader

from ansible_collections.waggle.honeycomb.plugins.action import upgrade as action_mod
from ansible_collections.waggle.honeycomb.plugins.action.upgrade import ActionModule
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import upgrade_wait

from hctest.upgrade import make_payload

APPLIED = {"changed": True, "status": "applied", "job_id": "J1", "installed_version": "1.0", "peripheral": "demo",
           "phases": {"install": {"rc": 0, "started": "2026-01-01T00:00:00.000+00:00"}},
           "invocation": {"module_args": {}}, "ansible_job_id": "j1.1", "finished": 1, "_ansible_no_log": False}


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


class FakeNode:
    """What the node answers. ``polls``: one entry per upgrade_info poll - ``"running"``, ``"lost"``,
    ``"finished"``, ``"down"`` (the poll raises: the tunnel is down) or ``"down-for-good"``."""

    def __init__(self, clock, polls, result=None, lookup=None, probe_fails=0, start_fails=0):
        self.clock = clock
        self.polls = list(polls)
        self.result = dict(APPLIED if result is None else result)
        self.lookup = lookup or {"changed": False, "payload_missing": False}
        self.probe_fails = probe_fails
        self.start_fails = start_fails
        self.calls = []
        self.starts = []  # (module_args, async time limit)
        self.down_for_good = False
        self.removed = []

    def execute_module(self, action, module_name=None, module_args=None, task_vars=None, wrap_async=False, **kw):
        self.calls.append((module_name, dict(module_args), wrap_async))
        if self.down_for_good:
            raise AnsibleConnectionFailure("ssh: connect to host bastion: Connection refused")
        if module_name == "waggle.honeycomb.upgrade" and (module_args.get("_honeycomb") or {}).get("lookup_only"):
            return dict(self.lookup)
        if module_name == "waggle.honeycomb.upgrade":
            assert wrap_async
            if self.start_fails:
                self.start_fails -= 1
                raise AnsibleConnectionFailure("Failed to connect to the host via ssh: kex_exchange_identification")
            self.starts.append((dict(module_args), action._task.async_val))
            jid = "j%d.%d" % (len(self.starts), len(self.starts))
            return {"started": 1, "finished": 0, "ansible_job_id": jid, "results_file": "/root/.ansible_async/" + jid,
                    "changed": True}
        assert module_name == "waggle.honeycomb.upgrade_info"
        jid = module_args["async_jid"]
        if jid is None:  # the look at the versions before the job
            self.before_calls = getattr(self, "before_calls", 0) + 1
            return {"changed": False, "installed": {"demo": {"version": "0.9"}, "other": {"version": "3"}}}
        what = self.polls.pop(0) if self.polls else "finished"
        if what == "down-for-good":
            self.down_for_good = True
        if what.startswith("down"):
            raise AnsibleConnectionFailure("Failed to connect to the host via ssh: Connection closed by UNKNOWN port 65535")
        job = {"jid": jid, "results_file": "/root/.ansible_async/" + jid, "exists": True,
               "finished": what == "finished", "alive": what == "running", "lost": what == "lost"}
        interrupted = [{"job_id": "J1", "phase": "install", "resumes": len(self.starts) - 1,
                        "phases": {"install": {"rc": None}}}] if what == "lost" else []
        return {"changed": False, "async_job": job, "interrupted": interrupted, "jobs": [], "installed": {}}

    def low_level(self, cmd, sudoable=True, in_data=None, **kw):
        if self.down_for_good:
            raise AnsibleConnectionFailure("ssh: connect to host bastion: Connection refused")
        if cmd == "true":
            if self.probe_fails:
                self.probe_fails -= 1
                raise AnsibleConnectionFailure("Failed to connect to the host via ssh: Connection refused")
            return {"rc": 0, "stdout": "", "stderr": ""}
        argv = shlex.split(cmd)
        if argv[0] == "cat":  # a node's shell may print a line of its own first
            return {"rc": 0, "stdout": "lastlog_openseek: Couldn't stat /var/log/lastlog\n" + json.dumps(self.result),
                    "stderr": ""}
        if argv[:2] == ["rm", "-f"]:
            self.removed.append(argv[2])
            return {"rc": 0, "stdout": "", "stderr": ""}
        if argv[:2] == ["test", "-f"]:
            return {"rc": 0, "stdout": "", "stderr": ""}
        raise AssertionError("unexpected command %r" % cmd)

    def modules(self, name):
        return [c for c in self.calls if c[0] == name]


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(upgrade_wait.time, "monotonic", c.monotonic)
    monkeypatch.setattr(upgrade_wait.time, "sleep", c.sleep)
    monkeypatch.setattr(upgrade_wait.secrets, "randbelow", lambda n: 500)  # jitter 0.5 s
    return c


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    return str(make_payload(tmp_path_factory.mktemp("p")))


def run_action(node, args, check_mode=False, async_val=0):
    loader = DataLoader()
    task = mock.MagicMock()
    # the module path (tests/unit/plugins/action/test_upgrade_resident.py: the resident engine)
    task.args = dict({"resident_engine": False}, **args)
    task.async_val = async_val
    task.check_mode = check_mode
    task.action = "waggle.honeycomb.upgrade"
    task.get_search_path.return_value = ["/"]
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    action = ActionModule(task, connection, mock.MagicMock(), loader, mock.MagicMock(), None)
    action._execute_module = lambda **kw: node.execute_module(action, **kw)
    action._low_level_execute_command = node.low_level
    action.get_shell_option = lambda option, default=None: "~/.ansible_async"
    node.connection = connection
    with mock.patch.object(ActionModule, "_early_needs_tmp_path", return_value=False):
        result = action.run(task_vars={"inventory_hostname": "W001"})
    assert task.async_val == async_val  # the time limit set for a detached start is put back
    return result


def wait_args(payload, **extra):
    args = {"src": payload, "wait": True, "poll_interval": 10, "reconnect_timeout": 60, "max_resumes": 1,
            "wait_timeout": 3600}
    args.update(extra)
    return args


def test_a_job_that_finishes_is_polled_collected_and_its_status_file_removed(clock, payload):
    node = FakeNode(clock, ["running", "running", "running", "finished"])
    r = run_action(node, wait_args(payload))
    assert r["status"] == "applied" and not r.get("failed") and not r.get("unreachable")
    assert r["job_id"] == "J1" and r["phases"]["install"]["rc"] == 0 and r["changed"] is True
    assert r["previous_version"] == "0.9"
    for key in ("ansible_job_id", "finished", "invocation", "_ansible_no_log"):
        assert key not in r
    # one detached start whose time limit is wait_timeout, without the wait options
    ((started, limit),) = node.starts
    assert limit == 3600
    assert not set(started) & {"wait", "wait_timeout", "poll_interval", "reconnect_timeout"}
    assert started["max_resumes"] == 1  # the engine's own bound travels on
    # the versions before the job were read once, before it started
    assert r["versions_before"] == {"demo": "0.9", "other": "3"} and node.before_calls == 1
    polls = [p for p in node.modules("waggle.honeycomb.upgrade_info") if p[1]["async_jid"]]
    assert [p[1]["async_jid"] for p in polls] == ["j1.1"] * 4 and polls[0][1]["limit"] == 0
    assert polls[0][1]["async_dir"] == "~/.ansible_async"
    assert node.removed == ["/root/.ansible_async/j1.1"]
    # the first looks come soon, then every poll_interval
    assert clock.sleeps == [1, 2, 4, 8]
    w = r["wait"]
    assert w["polls"] == 4 and w["jobs"] == ["j1.1"] and w["losses"] == w["resumes"] == w["reconnects"] == 0
    assert [e["event"] for e in w["events"]] == ["started", "finished"] and w["started"] and w["finished"]
    node.connection.reset.assert_not_called()


def test_a_dropped_tunnel_is_reset_and_retried_with_backoff_then_the_job_collected(clock, payload):
    node = FakeNode(clock, ["running", "down", "down", "running", "finished"], probe_fails=2)
    r = run_action(node, wait_args(payload))
    assert r["status"] == "applied" and not r.get("unreachable"), r
    w = r["wait"]
    assert w["reconnects"] == 1 and w["unreachable_seconds"] > 0
    assert [e["event"] for e in w["events"]] == ["started", "unreachable", "reconnected", "finished"]
    # backoff after the drop: 1, 2, 4, 8 s (+0.5 s jitter) until the probe (fails twice) and the poll
    # (fails once more) succeed, a reset before each try
    assert clock.sleeps[2:6] == [1.5, 2.5, 4.5, 8.5], clock.sleeps
    assert node.connection.reset.call_count == 4
    assert len(node.starts) == 1  # the job lived on: nothing started again


def test_backoff_is_capped(clock, payload):
    node = FakeNode(clock, ["down"] + ["finished"], probe_fails=7)
    r = run_action(node, wait_args(payload, reconnect_timeout=600))
    assert r["status"] == "applied"
    assert clock.sleeps[1:] == [1.5, 2.5, 4.5, 8.5, 12.5, 12.5, 12.5, 12.5], clock.sleeps


def test_a_node_that_stays_unreachable_past_reconnect_timeout_is_unreachable_never_success(clock, payload):
    node = FakeNode(clock, ["running", "down-for-good"])
    r = run_action(node, wait_args(payload, reconnect_timeout=60))
    assert r["unreachable"] is True and r["status"] == "unreachable" and not r.get("failed")
    assert "reconnect_timeout (60s)" in r["msg"] and "Connection refused" in r["msg"]
    assert [e["event"] for e in r["wait"]["events"]] == ["started", "unreachable", "gave_up"]
    # it tried until the reconnect deadline, not longer
    after_drop = sum(clock.sleeps[2:])
    assert 60 - 1e-6 <= after_drop <= 60 + 1e-6, clock.sleeps
    assert r["wait"]["reconnects"] == 0 and r["wait"]["unreachable_seconds"] == pytest.approx(60)


def test_a_node_unreachable_when_the_job_is_started_is_unreachable_at_once(clock, payload):
    node = FakeNode(clock, [], start_fails=1)
    r = run_action(node, wait_args(payload))
    assert r["unreachable"] is True and r["status"] == "unreachable"
    assert clock.sleeps == [] and node.starts == []


def test_a_lost_job_is_resumed_in_the_same_task(clock, payload):
    node = FakeNode(clock, ["running", "lost", "running", "finished"])
    r = run_action(node, wait_args(payload, max_resumes=1))
    assert r["status"] == "applied" and not r.get("failed"), r
    assert [s[0]["src"] for s in node.starts] == [payload, payload]  # the same upgrade, started again
    # the resumed job's time limit is what is left of wait_timeout
    assert node.starts[1][1] == 3600 - int(sum(clock.sleeps[:2]))
    w = r["wait"]
    assert w["losses"] == 1 and w["resumes"] == 1 and w["jobs"] == ["j1.1", "j2.2"]
    assert [e["event"] for e in w["events"]] == ["started", "lost", "resumed", "finished"]
    assert [p[1]["async_jid"] for p in node.modules("waggle.honeycomb.upgrade_info")][-1] == "j2.2"
    assert node.before_calls == 1  # not again for the resume
    assert node.removed == ["/root/.ansible_async/j2.2"]


def test_a_job_lost_more_than_max_resumes_times_ends_lost_and_failed(clock, payload):
    node = FakeNode(clock, ["lost", "running", "lost"])
    r = run_action(node, wait_args(payload, max_resumes=1))
    assert r["failed"] is True and r["status"] == "lost" and not r.get("unreachable")
    assert "lost the upgrade job 2 times" in r["msg"] and "max_resumes 1" in r["msg"]
    assert "J1 in phase install" in r["msg"] and r["job_id"] == "J1" and r["interrupted"]
    assert len(node.starts) == 2 and r["wait"]["losses"] == 2 and r["wait"]["resumes"] == 1


def test_max_resumes_zero_never_starts_a_lost_job_again(clock, payload):
    node = FakeNode(clock, ["lost"])
    r = run_action(node, wait_args(payload, max_resumes=0))
    assert r["status"] == "lost" and r["failed"] and len(node.starts) == 1


def test_a_resume_through_a_dropped_tunnel_is_retried(clock, payload):
    node = FakeNode(clock, ["lost", "finished"], start_fails=0)
    node.start_fails = 0

    real = node.execute_module
    state = {"failed_once": False}

    def flaky(action, **kw):
        if kw.get("wrap_async") and node.starts and not state["failed_once"]:
            state["failed_once"] = True
            raise AnsibleConnectionFailure("Connection reset by peer")
        return real(action, **kw)
    node.execute_module = flaky
    r = run_action(node, wait_args(payload))
    assert r["status"] == "applied" and r["wait"]["reconnects"] == 1 and len(node.starts) == 2


def test_a_job_killed_at_its_time_limit_fails_naming_wait_timeout(clock, payload):
    node = FakeNode(clock, ["finished"], result={"failed": True, "msg": "Timeout exceeded", "child_pid": 7})
    r = run_action(node, wait_args(payload, wait_timeout=30))
    assert r["failed"] is True and r["status"] == "failed" and "wait_timeout (30s)" in r["msg"]


def test_an_engine_failure_keeps_its_status(clock, payload):
    result = {"failed": True, "changed": True, "status": "rolled_back", "msg": "install failed (rc 3); rolled back",
              "phases": {"install": {"rc": 3}, "rollback": {"rc": 0}}}
    node = FakeNode(clock, ["finished"], result=result)
    r = run_action(node, wait_args(payload))
    assert r["failed"] is True and r["status"] == "rolled_back" and r["msg"].startswith("install failed")


def test_a_refused_lookup_is_the_result_and_nothing_starts(clock, payload):
    node = FakeNode(clock, [], lookup={"failed": True, "msg": "cannot create /var/lib/honeycomb: read-only"})
    r = run_action(node, wait_args(payload))
    assert r["failed"] is True and "read-only" in r["msg"] and node.starts == [] and "wait" in r


def test_a_payload_the_store_lacks_is_sent_before_the_detached_start_and_not_again_on_a_resume(
        clock, payload, monkeypatch):
    """The look-up says the node's store lacks the payload: it is sent (the resumable transfer, straight
    into the node's store) before the job starts; the job is lost and resumed: the second look-up finds
    the payload in the store, so nothing is sent again."""
    import os
    node = FakeNode(clock, ["running", "lost", "finished"])
    lookups = [{"changed": False, "payload_missing": True}, {"changed": False, "payload_missing": False}]
    order = []
    real = node.execute_module

    def execute_module(action, **kw):
        if (kw.get("module_args", {}).get("_honeycomb") or {}).get("lookup_only"):
            node.calls.append((kw["module_name"], dict(kw["module_args"]), kw.get("wrap_async", False)))
            order.append("look-up")
            return dict(lookups.pop(0))
        if kw.get("wrap_async"):
            order.append("start")
        return real(action, **kw)
    node.execute_module = execute_module
    from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import transfer

    def send(action_plugin, src, sha256, layout, args, task_vars, log=None):
        order.append(("sent", src, layout.payloads_dir))
        return {"bytes_sent": os.path.getsize(src), "attempts": 1, "bytes_resumed": 0, "bytes_resent": 0}
    monkeypatch.setattr(transfer, "send", send)
    r = run_action(node, wait_args(payload))
    assert r["status"] == "applied" and r["wait"]["resumes"] == 1, r
    sent = [o for o in order if isinstance(o, tuple)]
    assert len(sent) == 1 and sent[0][1] == payload
    assert order == ["look-up", sent[0], "start", "look-up", "start"], order
    first, resumed = (args for args, dummy in node.starts)
    assert r["payload_transferred"] is True and r["transfer"]["bytes_sent"] == os.path.getsize(payload)
    assert first["_honeycomb"]["payload_sha256"] == resumed["_honeycomb"]["payload_sha256"]
    assert "payload_upload" not in first["_honeycomb"] and "payload_upload" not in resumed["_honeycomb"]


def test_a_failing_poll_fails_the_task_with_its_reason(clock, payload):
    node = FakeNode(clock, [])

    def bad_info(action, **kw):
        if kw["module_name"] == "waggle.honeycomb.upgrade_info":
            return {"failed": True, "msg": "cannot read the state directory /var/lib/honeycomb: use become"}
        return FakeNode.execute_module(node, action, **kw)
    node.execute_module = bad_info
    r = run_action(node, wait_args(payload))
    assert r["failed"] is True and "use become" in r["msg"] and r["status"] == "failed"


def test_rollback_without_src_waits_too(clock):
    result = {"changed": True, "status": "rolled_back", "kind": "rollback", "phases": {"rollback": {"rc": 0}}}
    node = FakeNode(clock, ["finished"], result=result)
    r = run_action(node, {"state": "rolled_back", "peripheral": "camera", "wait": True})
    assert r["status"] == "rolled_back" and not r.get("failed")
    assert node.modules("waggle.honeycomb.upgrade")[0][1]["peripheral"] == "camera"
    assert len(node.starts) == 1 and node.starts[0][1] == 7680  # the default wait_timeout (watchdog_schedule.wait_limit)


def test_wait_and_the_async_keyword_are_refused_together(clock, payload):
    node = FakeNode(clock, [])
    r = run_action(node, wait_args(payload), async_val=600)
    assert r["failed"] is True and "async/poll" in r["msg"] and node.calls == []


def test_check_mode_runs_directly(clock, payload):
    node = FakeNode(clock, [])

    def direct(action, **kw):
        node.calls.append((kw["module_name"], dict(kw["module_args"]), kw.get("wrap_async", False)))
        return {"changed": True, "status": "needed", "phases": {}}
    node.execute_module = direct
    r = run_action(node, wait_args(payload), check_mode=True)
    assert r["status"] == "needed" and all(not c[2] for c in node.calls) and "wait" not in r
    assert not any("wait" in c[1] for c in node.calls)


def test_bad_wait_settings_are_refused(clock, payload):
    node = FakeNode(clock, [])
    r = run_action(node, wait_args(payload, poll_interval=0))
    assert r["failed"] is True and "poll_interval must be a number of seconds > 0" in r["msg"]
    r = run_action(node, wait_args(payload, max_resumes=-1))
    assert r["failed"] is True and "max_resumes must be >= 0" in r["msg"]
    assert node.starts == []


def test_without_wait_the_module_runs_in_the_connection_as_before(clock, payload):
    node = FakeNode(clock, [])

    def direct(action, **kw):
        node.calls.append((kw["module_name"], dict(kw["module_args"]), kw.get("wrap_async", False)))
        return {"changed": True, "status": "applied", "phases": {}}
    node.execute_module = direct
    r = run_action(node, {"src": payload})
    assert r["status"] == "applied" and "wait" not in r
    assert [(c[0], c[2]) for c in node.calls] == [("waggle.honeycomb.upgrade", False)]
    assert "wait" not in node.calls[0][1]


def test_the_statuses_the_wait_gives_are_the_status_models():
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
    expected = {upgrade_wait.STATUS_UNREACHABLE: st.UNREACHABLE, upgrade_wait.STATUS_LOST: st.FAILURE,
                upgrade_wait.STATUS_FAILED: st.FAILURE}
    for status, outcome in expected.items():
        assert status in st.STATUSES
        assert st.outcome(status, "upgrade") == st.outcome(status, "rollback") == outcome, status


def test_the_action_module_names_its_info_module():
    assert action_mod.INFO_MODULE == "waggle.honeycomb.upgrade_info"
