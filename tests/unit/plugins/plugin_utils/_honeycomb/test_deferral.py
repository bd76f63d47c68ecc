# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""deferral.stage: outside the window the payload is looked up, sent when missing and verified into the store
by a second look-up run (lookup_only: no job), never installed; failures are reported, not deferred."""

import datetime as dt
from types import SimpleNamespace

from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import deferral

WINDOW = {"start": "02:00", "end": "03:00", "timezone": "UTC"}
EVALUATION = deferral.closed_window({"maintenance_window": WINDOW},
                                    now=dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc))


class FakeAction:
    def __init__(self, answers, check_mode=False):
        self._task = SimpleNamespace(check_mode=check_mode)
        self.answers = list(answers)
        self.calls = []

    def _execute_module(self, module_name, module_args, task_vars):
        self.calls.append(("module", module_name, dict(module_args["_honeycomb"])))
        return self.answers.pop(0)

    def _upload(self, src, module_args, raw):
        self.calls.append(("upload", src, raw))
        module_args["_honeycomb"] = dict(module_args["_honeycomb"], payload_upload="/up", payload_bytes_sent=123)
        return None  # as the real one: the transfer leaves no upload file for the caller


def args():
    return {"src": "/p.tar.gz", "_honeycomb": {"payload_sha256": "ab" * 32}}


def test_a_missing_payload_is_sent_and_verified_into_the_store_without_a_job():
    action = FakeAction([{"payload_missing": True}, {"payload_missing": False, "msg": "in the store"}])
    res = deferral.stage(action, "/p.tar.gz", args(), {}, EVALUATION)
    assert res["status"] == "deferred" and res["staged"] and res["changed"] and res["payload_bytes_sent"] == 123
    assert res["maintenance_window"]["next_open"] == "2026-03-03T02:00:00Z" and not res.get("failed")
    look1, upload, look2 = action.calls
    assert look1[2]["lookup_only"] is True and "payload_upload" not in look1[2]
    assert upload == ("upload", "/p.tar.gz", True)
    assert look2[2]["lookup_only"] is True and look2[2]["payload_upload"] == "/up"


def test_a_payload_already_in_the_store_is_not_sent_again():
    action = FakeAction([{"payload_missing": False}])
    res = deferral.stage(action, "/p.tar.gz", args(), {}, EVALUATION)
    assert res["status"] == "deferred" and res["staged"] and not res["changed"] and res["payload_bytes_sent"] == 0
    assert [c[0] for c in action.calls] == ["module"]


def test_a_staging_that_fails_is_a_failure():
    action = FakeAction([{"payload_missing": True}, {"failed": True, "msg": "sha256 mismatch"}])
    res = deferral.stage(action, "/p.tar.gz", args(), {}, EVALUATION)
    assert res["failed"] and "could not stage" in res["msg"] and "sha256 mismatch" in res["msg"]
    assert [c[0] for c in action.calls] == ["module", "upload", "module"]
    unreachable = deferral.stage(FakeAction([{"unreachable": True, "msg": "down"}]), "/p.tar.gz", args(), {},
                                 EVALUATION)
    assert unreachable["unreachable"] and "status" not in unreachable


def test_check_mode_sends_nothing():
    action = FakeAction([], check_mode=True)
    res = deferral.stage(action, "/p.tar.gz", args(), {}, EVALUATION)
    assert res["status"] == "deferred" and not res["staged"] and not res["changed"] and action.calls == []


def test_bytes_sent_come_from_the_resumable_transfer_when_it_ran():
    action = FakeAction([{"payload_missing": True}, {"payload_missing": False}])
    action._hc_transfer = {"stats": {"bytes_sent": 4567}}
    res = deferral.stage(action, "/p.tar.gz", args(), {}, EVALUATION)
    assert res["payload_bytes_sent"] == 4567 and res["payload_transferred"]
