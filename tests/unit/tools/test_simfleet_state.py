"""simfleet's fleet.json under parallel commands (tools/hctools/simfleet/fleet.py): each command reads the
state, takes the fleet lock and saves; two commands on different nodes run in parallel (a power-on of one
node while another node's tunnel is dropped, as the soak does) must not undo each other's change."""

import json
import threading

from hctools.simfleet.fleet import Fleet


def test_a_command_that_read_the_state_before_the_lock_does_not_undo_a_parallel_one(tmp_path):
    (tmp_path / "fleet.json").write_text(json.dumps({"nodes": [{"vsn": "W001", "init": None},
                                                               {"vsn": "W002", "relay": 11}]}))
    power_on, drop = Fleet(tmp_path), Fleet(tmp_path)  # both read the state before either holds the lock
    with power_on.locked():
        power_on.state["nodes"][0]["init"] = 4242
        power_on.save()
    with drop.locked():
        drop.state["nodes"][1]["relay"] = None
        drop.save()
    nodes = json.loads((tmp_path / "fleet.json").read_text())["nodes"]
    assert nodes == [{"vsn": "W001", "init": 4242}, {"vsn": "W002", "relay": None}]


def test_many_parallel_commands_keep_every_change(tmp_path):
    (tmp_path / "fleet.json").write_text(json.dumps({"nodes": [{"vsn": "W%03d" % i} for i in range(20)]}))
    fleets = [Fleet(tmp_path) for dummy in range(20)]
    start = threading.Barrier(20)

    def command(i):
        start.wait()
        with fleets[i].locked():
            fleets[i].state["nodes"][i]["init"] = i
            fleets[i].save()

    threads = [threading.Thread(target=command, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [n.get("init") for n in json.loads((tmp_path / "fleet.json").read_text())["nodes"]] == list(range(20))
