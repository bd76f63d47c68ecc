"""The ``traffic`` of waggle.honeycomb.upgrade results through real ansible-playbook and a real loopback
sshd, pipelined and not (modules and payload through sftp): what is counted, under which category, and
the new SSH login of a task that starts without a ControlMaster (docs/upgrade.md, "Bytes per node").

(Against the bytes a link carries: tests/integration/rollout/test_mixed_links.py.)
"""

import json
import os

import pytest

from hctest.playbook import run_playbook
from hctest.upgrade import make_payload

pytestmark = pytest.mark.slow

BLOB = 300000


def _tasks(src, node):
    args = dict(node.opts(), src=str(src))
    return json.dumps([{"name": "traffic", "hosts": "nodes", "gather_facts": False, "tasks": [
        {"name": "first", "waggle.honeycomb.upgrade": args},
        {"name": "again", "waggle.honeycomb.upgrade": args},
    ]}])


@pytest.mark.parametrize("pipelining", [True, False])
def test_traffic_of_a_first_run_and_a_re_run(sshd, make_node, pipelining):
    node = make_node("traffic")
    src = make_payload(node.root, name="traffic", extra_files={"blob.txt": os.urandom(BLOB).hex()})
    size = os.path.getsize(src)
    run = run_playbook(_tasks(src, node), {"node1": sshd.host_vars()},
                       env={"ANSIBLE_PIPELINING": "1" if pipelining else "0"})
    assert run.rc == 0, run.output
    first, again = run.result("first"), run.result("again")
    # (the default state check says "needed" each time: the re-run installs again, from the store)
    assert first["status"] == again["status"] == "applied"
    assert first["payload_transferred"] is True and again["payload_transferred"] is False
    t1, t2 = first["traffic"], again["traffic"]
    pay = t1["by_category"]["payload"]
    # the payload went once, as the stdin of the resumable transfer's execs (with or without pipelining);
    # each exec also carries the transfer's node helper (compressed, ~4.5 KB) and its chunk header
    assert pay["execs"] >= 1 and pay["files"] == 0, t1
    assert size <= pay["sent"] <= size + 8192 * pay["execs"], t1
    # the first contact: the node-resident engine's code (~75 KB compressed) goes with the task instead of a
    # module, in a plain exec with or without pipelining (docs/resident-engine.md); its JSON comes back
    mods = t1["by_category"]["modules"]
    assert 50000 < mods["sent"] < 120000 and mods["received"] > 500 and mods["execs"] == 1, t1
    assert mods["files"] == 0, t1
    # the re-run: the node has the node-resident engine now (installed by the first run's module): one exec,
    # no module code, a few KB (docs/resident-engine.md)
    assert t2["by_category"]["payload"]["sent"] == 0 and t2["by_category"]["modules"]["sent"] == 0, t2
    assert t2["execs"] == 1 and t2["sent"] < 8192, t2
    for t in (t1, t2):
        assert t["sent"] == sum(c["sent"] for c in t["by_category"].values())
        assert t["received"] == sum(c["received"] for c in t["by_category"].values())
        assert t["failed_execs"] == 0
        wire = t["wire_estimate"]
        assert wire["compression"] is True  # ansible.cfg's ssh_args have -C
    # (the first contact's engine code goes zlib-compressed already: ssh -C does not shrink it further)
    assert t1["wire_estimate"]["sent"] < t1["sent"] + 8192, t1
    # the first task logged in (no ControlMaster yet), the second reused its master
    assert t1["wire_estimate"]["logins"] == 1 and t2["wire_estimate"]["logins"] == 0
    # the payload's random bytes do not compress: the estimate keeps them
    assert t1["wire_estimate"]["sent"] > size
