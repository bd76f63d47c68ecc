# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's boot id and boot slot (bootslot.py) and what the engine does with them: recorded in each
job's journal and the result, a node on its recovery slot refused (unless allowed), an interrupted job
found on another slot than it started on ended inconsistent naming both slots."""

import json
import os
import stat

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import bootslot
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st

from hctest.upgrade import EngineEnv, count, crash, make_payload


def fake_nvbootctrl(tmp, slot="0", rc=0):
    """An nvbootctrl stand-in printing the contents of ``<tmp>/slot`` for get-current-slot; returns
    (command, slot file)."""
    slot_file = tmp / "slot"
    slot_file.write_text("%s\n" % slot)
    script = tmp / "nvbootctrl"
    script.write_text('#!/bin/sh\n[ "$1" = get-current-slot ] || { echo "usage" >&2; exit 2; }\n'
                      'cat "%s"\nexit %d\n' % (slot_file, rc))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return "%s get-current-slot" % script, slot_file


def test_boot_id_is_the_kernels():
    with open(bootslot.BOOT_ID_PATH) as f:
        assert bootslot.read_boot_id() == f.read().strip()
    assert bootslot.read_boot_id("/nonexistent/boot_id") is None


@pytest.mark.parametrize("command", ["no-such-nvbootctrl-here get-current-slot", "", None])
def test_an_absent_or_disabled_command_gives_an_unknown_slot_not_an_error(command):
    boot = bootslot.probe(command)
    assert boot["slot"] is None and boot["slot_known"] is False and boot["recovery"] is None
    assert boot["slot_error"] is None and boot["boot_id"]


@pytest.mark.parametrize("printed, slot, recovery", [("0", 0, False), ("1", 1, True), ("  1 ", 1, True)])
def test_the_slot_is_read_and_recovery_told(tmp_path, printed, slot, recovery):
    command, dummy = fake_nvbootctrl(tmp_path, printed)
    boot = bootslot.probe(command, recovery_slot=1)
    assert (boot["slot"], boot["slot_known"], boot["recovery"], boot["slot_error"]) == (slot, True, recovery, None)
    assert boot["slot_command"] == command and boot["recovery_slot"] == 1


def test_the_recovery_slot_is_configurable(tmp_path):
    command, dummy = fake_nvbootctrl(tmp_path, "0")
    assert bootslot.probe(command, recovery_slot=0)["recovery"] is True


@pytest.mark.parametrize("printed, rc, error", [("slot A", 0, "not a slot number"), ("0", 3, "exited 3")])
def test_a_command_that_answers_wrongly_gives_an_unknown_slot_with_the_reason(tmp_path, printed, rc, error):
    command, dummy = fake_nvbootctrl(tmp_path, printed, rc)
    boot = bootslot.probe(command)
    assert boot["slot"] is None and boot["recovery"] is None and error in boot["slot_error"]


def test_a_command_that_cannot_be_split_is_named():
    slot, error = bootslot.current_slot("nvbootctrl 'get-current-slot")
    assert slot is None and "cannot be split" in error


def test_slot_change_needs_two_known_different_slots():
    assert bootslot.slot_change({"slot": 0}, {"slot": 1}) == (0, 1)
    assert bootslot.slot_change({"slot": 0}, {"slot": 0}) is None
    assert bootslot.slot_change({"slot": None}, {"slot": 1}) is None
    assert bootslot.slot_change(None, {"slot": 1}) is None
    assert bootslot.slot_change({"slot": 1}, {"slot": None}) is None
    assert bootslot.describe_slot(1, 1) == "slot 1 (recovery)" and bootslot.describe_slot(0, 1) == "slot 0"


# -- the engine ---------------------------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


def test_the_journal_and_the_result_record_the_boot(env):
    command, dummy = fake_nvbootctrl(env.tmp, "0")
    r = env.run(make_payload(env.tmp), boot_slot_command=command)
    assert r["status"] == "applied"
    assert r["boot"]["slot"] == 0 and r["boot"]["recovery"] is False
    assert r["boot"]["boot_id"] == bootslot.read_boot_id()
    with open(r["journal"]) as f:
        journal = json.load(f)
    assert journal["boot"]["slot"] == 0 and journal["boot"]["boot_id"] == bootslot.read_boot_id()
    assert journal["boot"]["slot_command"] == command


def test_without_a_slot_command_the_journal_says_unknown_and_nothing_is_refused(env):
    r = env.run(make_payload(env.tmp), boot_slot_command="no-such-nvbootctrl-here get-current-slot")
    assert r["status"] == "applied" and r["boot"]["slot"] is None and r["boot"]["boot_id"]
    with open(r["journal"]) as f:
        assert json.load(f)["boot"]["slot_known"] is False


def test_a_node_on_its_recovery_slot_is_refused_before_anything_runs(env):
    command, dummy = fake_nvbootctrl(env.tmp, "1")
    r = env.run(make_payload(env.tmp), boot_slot_command=command)
    assert r["failed"] and r["status"] == st.RECOVERY_SLOT and r["changed"] is False
    assert "recovery boot slot 1" in r["msg"] and "allow_recovery_slot: true" in r["msg"]
    assert r["boot"]["recovery"] is True
    assert count(env.tmp, "state_check") == 0 and env.jobs() == []
    assert st.outcome(r["status"]) == st.FAILURE


def test_the_refusal_is_also_the_answer_of_the_store_look_up_and_of_check_mode(env):
    command, dummy = fake_nvbootctrl(env.tmp, "1")
    p = make_payload(env.tmp)
    look = env.run(p, boot_slot_command=command, _lookup_only=True)
    assert look["failed"] and look["status"] == st.RECOVERY_SLOT  # the action plugin sends no payload then
    check = env.run(p, check_mode=True, boot_slot_command=command)
    assert check["failed"] and check["status"] == st.RECOVERY_SLOT


def test_the_operator_may_allow_the_recovery_slot(env):
    command, dummy = fake_nvbootctrl(env.tmp, "1")
    r = env.run(make_payload(env.tmp), boot_slot_command=command, allow_recovery_slot=True)
    assert r["status"] == "applied" and r["boot"]["recovery"] is True
    assert any("allow_recovery_slot" in n for n in r["notes"])
    with open(r["journal"]) as f:
        assert json.load(f)["boot"]["slot"] == 1


def test_a_job_resumed_on_another_slot_ends_inconsistent_naming_both(env, monkeypatch):
    """Started (allowed) on the recovery slot, the node went back to slot 0 with the state dir kept:
    what the job did on the other root cannot be verified from here."""
    command, slot_file = fake_nvbootctrl(env.tmp, "1")
    p = make_payload(env.tmp)
    crash(env, monkeypatch, p, "install", boot_slot_command=command, allow_recovery_slot=True)
    slot_file.write_text("0\n")
    r = env.run(p, boot_slot_command=command)
    assert r["failed"] and r["status"] == "inconsistent"
    (job,) = env.jobs()
    assert job.status == "inconsistent" and job.data["slot_changed"] == {"from": 1, "to": 0}
    msg = job.data["msg"]
    assert "started on boot slot 1 (recovery)" in msg and "now runs from boot slot 0" in msg
    assert "clear_inconsistent" in msg and job.data["events"][-2]["event"] == "slot_changed"
    assert count(env.tmp, "verify") == 0  # nothing of the job ran again
    assert r["msg"].startswith("peripheral 'demo' is blocked by inconsistent job") and "slot 0" in r["msg"]


def test_a_job_resumed_on_the_same_slot_follows_the_resume_rules(env, monkeypatch):
    command, dummy = fake_nvbootctrl(env.tmp, "0")
    p = make_payload(env.tmp)
    crash(env, monkeypatch, p, "install", after_script=True, boot_slot_command=command)
    r = env.run(p, boot_slot_command=command)
    assert r["status"] == "applied" and r["resumed"]


def test_a_job_of_an_unknown_slot_follows_the_resume_rules(env, monkeypatch):
    """A journal of an older version (no boot recorded) or a node without nvbootctrl: no slot to compare."""
    command, dummy = fake_nvbootctrl(env.tmp, "0")
    p = make_payload(env.tmp)
    crash(env, monkeypatch, p, "install", after_script=True, boot_slot_command="")
    r = env.run(p, boot_slot_command=command)
    assert r["status"] == "applied" and r["resumed"]
    assert os.path.isdir(str(env.state))
