# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catch_up filter: nodes of the status table not at a target version."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.waggle.honeycomb.plugins.filter.catch_up import catch_up

TABLE = {"peripherals": ["camera", "switch"], "nodes": {
    "W003": {"reachable": False, "versions": {}, "msg": "timed out"},
    "W001": {"reachable": True, "versions": {"camera": "2.0.0", "switch": "1.1"}},
    "W002": {"reachable": True, "versions": {"camera": "1.9.0"}},
    "W004": {"reachable": True, "versions": {"switch": "1.1"}},
}}


def test_lists_every_node_not_at_the_target_with_why():
    out = catch_up(TABLE, "2.0.0", "camera")
    assert out["nodes"] == ["W002", "W003", "W004"] and out["at_target"] == ["W001"]
    assert out["count"] == 3 and out["total"] == 4 and out["limit"] == "W002,W003,W004"
    assert out["details"]["W002"] == {"reachable": True, "version": "1.9.0", "reason": "at 1.9.0"}
    assert out["details"]["W003"]["reason"] == "unreachable, version unknown: timed out"
    assert out["details"]["W004"]["reason"] == "camera not installed"
    assert out["file_text"] == "W002\nW003\nW004\n"
    assert out["line"].startswith("3 of 4 nodes not at camera 2.0.0: W002 (at 1.9.0), W003 (unreachable")


def test_versions_compare_as_text_and_numbers_are_accepted():
    table = {"peripherals": ["switch"], "nodes": {"W001": {"reachable": True, "versions": {"switch": "1.1"}}}}
    assert catch_up(table, 1.1)["nodes"] == [] and catch_up(table, "1.10")["nodes"] == ["W001"]
    assert catch_up(table, "1.1")["line"] == "0 of 1 node not at switch 1.1" and catch_up(table, "1.1")["file_text"] == ""


@pytest.mark.parametrize("table, target, peripheral, words", [
    (TABLE, "2.0.0", None, ["-e peripheral=<name>", "camera, switch"]),
    ({"peripherals": [], "nodes": {}}, "2.0.0", None, ["no installed peripheral"]),
    (TABLE, "", "camera", ["target_version"]),
    ({"nodes": []}, "2.0.0", "camera", ["fleet status table"]),
])
def test_bad_input_is_a_clear_error(table, target, peripheral, words):
    with pytest.raises(AnsibleFilterError) as err:
        catch_up(table, target, peripheral)
    for word in words:
        assert word in str(err.value)
