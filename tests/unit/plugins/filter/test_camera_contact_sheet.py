"""The camera contact sheet filter: one row per node, one column per camera, errors and gaps shown."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.waggle.honeycomb.plugins.filter.camera_contact_sheet import camera_contact_sheet, entries


def hv():
    return {
        "W0A4": {"camera_host": "10.31.81.10", "camera_goto_preset": 3,
                 "camera_snapshot": {"host": "10.31.81.10", "time": "2026-01-01T00:00:00Z",
                                     "info": {"model": "XNP-6400RW"},
                                     "position": {"pan": 200.0, "tilt": 5.0, "zoom": 2.0}},
                 "camera_snapshot_fetch": {"dest": "/r/W0A4/10.31.81.10.jpg"},
                 "camera_result": {"changed": True, "after": {"presets": {"3": "Field"}}}},
        "W0B1": {"camera_snapshot": {"failed": True, "host": "10.31.81.10",
                                     "msg": "error 600 <Submenu Not Found> instead of a JPEG"}},
        "W0C2": {"camera_snapshot": {"skipped": True, "skip_reason": "Conditional result was False"}},
        "W0D3": {},
    }


def test_entries_and_html():
    rows = entries(hv(), ["W0A4", "W0B1", "W0C2", "W0D3"], "/r")
    assert rows[0]["file"] == "W0A4/10.31.81.10.jpg" and rows[0]["preset"] == "3 Field"
    assert rows[1]["error"].startswith("error 600") and rows[2]["note"].startswith("no snapshot")
    assert rows[3]["note"] == "no snapshot (not run)"
    html = camera_contact_sheet(hv(), ["W0A4", "W0B1", "W0C2", "W0D3"], "/r")
    assert html.count("<tr><th>W0") == 4 and html.count("<img ") == 1
    assert "&lt;Submenu Not Found&gt;" in html and "<Submenu" not in html
    assert "pan 200.0&deg; tilt 5.0&deg; zoom 2.0x" in html and "preset 3 Field" in html
    assert "4 node(s), 1 picture(s)" in html


def test_bad_arguments():
    with pytest.raises(AnsibleFilterError, match="hosts must be a list"):
        camera_contact_sheet(hv(), "W0A4", "/r")
    with pytest.raises(AnsibleFilterError, match="report_dir is required"):
        camera_contact_sheet(hv(), ["W0A4"], "")
