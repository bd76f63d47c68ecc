"""``wait: true`` and boot slots: a node that comes back on another boot slot than the job started on (the
network watchdog's last stage switches it to its recovery slot) ends the wait ``inconsistent``, naming both
slots; reboots on the same slot are recorded and waited through. (Through a real simulated fleet:
tests/integration/rollout/test_boot_slots_fleet.py.)"""

import importlib.util
from pathlib import Path

import pytest

from hctest.upgrade import make_payload

# the scripted node and the action runner of test_upgrade_wait.py (a test module, not a package)
_spec = importlib.util.spec_from_file_location("_hc_upgrade_wait_tests", Path(__file__).with_name("test_upgrade_wait.py"))
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)
FakeNode, run_action, wait_args = _base.FakeNode, _base.run_action, _base.wait_args
clock = _base.clock  # a fixture


class SlotNode(FakeNode):
    """A FakeNode whose upgrade_info answers carry the node's boot: ``boots`` gives one (slot, boot id)
    per upgrade_info call (the look before the job, then each poll); the last one repeats."""

    def __init__(self, clock, polls, boots, **kw):
        super().__init__(clock, polls, **kw)
        self.boots = list(boots)

    def execute_module(self, action, module_name=None, module_args=None, **kw):
        result = super().execute_module(action, module_name=module_name, module_args=module_args, **kw)
        if module_name == "waggle.honeycomb.upgrade_info":
            slot, boot_id = self.boots.pop(0) if len(self.boots) > 1 else self.boots[0]
            result["boot"] = {"slot": slot, "boot_id": boot_id, "slot_known": slot is not None,
                              "recovery": None if slot is None else slot == 1, "recovery_slot": 1}
        return result


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    return str(make_payload(tmp_path_factory.mktemp("p")))


def test_a_node_back_on_its_recovery_slot_ends_the_wait_inconsistent_naming_both_slots(clock, payload):
    node = SlotNode(clock, ["running", "down", "lost", "finished"],
                    [(0, "b1"), (0, "b1"), (1, "b2")], probe_fails=1)
    r = run_action(node, wait_args(payload, boot_slot_command="nvbootctrl get-current-slot", recovery_slot=1))
    assert r["failed"] and r["status"] == "inconsistent" and not r.get("unreachable")
    assert "from boot slot 0 to boot slot 1 (recovery)" in r["msg"] and "back to slot 0" in r["msg"]
    w = r["wait"]
    assert w["boot_slots"] == [{"slot": 0, "boot_id": "b1"}, {"slot": 1, "boot_id": "b2"}]
    assert [e["event"] for e in w["events"]][-2:] == ["boot_changed", "slot_changed"]
    assert len(node.starts) == 1  # the lost job was not started again on the recovery slot
    # upgrade_info read the slot with the task's own options
    infos = node.modules("waggle.honeycomb.upgrade_info")
    assert all(c[1]["boot_slot_command"] == "nvbootctrl get-current-slot" and c[1]["recovery_slot"] == 1
               for c in infos)


def test_a_reboot_on_the_same_slot_is_recorded_and_the_lost_job_resumed(clock, payload):
    node = SlotNode(clock, ["running", "lost", "running", "finished"], [(0, "b1"), (0, "b1"), (0, "b1"), (0, "b2")])
    r = run_action(node, wait_args(payload))
    assert r["status"] == "applied" and not r.get("failed"), r
    assert r["wait"]["boot_slots"] == [{"slot": 0, "boot_id": "b1"}, {"slot": 0, "boot_id": "b2"}]
    assert len(node.starts) == 2


def test_an_unknown_slot_is_never_compared(clock, payload):
    node = SlotNode(clock, ["running", "lost", "finished"], [(None, "b1"), (None, "b1"), (1, "b2")])
    r = run_action(node, wait_args(payload))
    assert r["status"] == "applied" and r["wait"]["boot_slots"] == [{"slot": 1, "boot_id": "b2"}]
