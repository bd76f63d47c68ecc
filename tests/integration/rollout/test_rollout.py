"""playbooks/upgrade.yml against several nodes (one loopback sshd), with the fleet_report callback."""

import json
import struct
import xml.etree.ElementTree as ET
import zlib

import pytest
from hctest.browser import screenshot

pytestmark = pytest.mark.slow


def load_report(run_dir):
    assert run_dir is not None, "the fleet_report callback wrote no report"
    return json.loads((run_dir / "report.json").read_text())


def statuses(report):
    return {n["name"]: n["status"] for n in report["nodes"]}


def test_canary_then_batches_all_applied_and_reports_written(make_fleet, rollout):
    fleet = make_fleet(3)
    res, run_dir = rollout(fleet, rollout_batches=[1, 1, "100%"])
    assert res.rc == 0, res.output
    for name in fleet.hosts:
        assert fleet.marker(name) == "1.0.0"
    rep = load_report(run_dir)
    assert statuses(rep) == {"n1": "applied", "n2": "applied", "n3": "applied"}
    assert [b["hosts"] for b in rep["batches"]] == [["n1"], ["n2"], ["n3"]]
    assert rep["result"] == "success" and not rep["stopped"]
    n1 = rep["nodes"][0]
    assert [p["name"] for p in n1["phases"]] == ["state_check", "install", "verify"]
    assert all(p["rc"] == 0 and p["duration"] >= 0 for p in n1["phases"])
    assert n1["installed_version"] == "1.0.0" and n1["payload_bytes_sent"] > 0 and n1["job_id"]
    assert n1["payload"]["name"] == "rollout-test"
    # the canary finished before the second batch started
    assert rep["batches"][1]["offset"] >= n1["upgrade_offset"] + n1["upgrade_duration"]
    # JUnit for CI
    suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "0" and suite.get("errors") == "0"
    # the playbook's own summary (set_stats for AWX) agrees
    summary = res.result("Publish the fleet summary", "localhost")["summary"]
    assert summary["by_status"] == {"applied": 3} and summary["result"] == "success"
    assert "fleet SUCCESS: 3 nodes, applied 3" in res.stdout
    assert "[fleet] Roll out the payload, canary first: batch 2 of 3, 1 node(s): n2" in res.stdout
    assert "fleet: 3/3 done, 0 failed, 0 unreachable" in res.stdout
    screenshot_is_not_blank(run_dir / "report.html", run_dir / "report.png")


def test_failing_canary_stops_the_rollout_before_the_next_batch(make_fleet, rollout):
    fleet = make_fleet(3, failing=["n1"])
    # batches as text, as an AWX survey gives them
    res, run_dir = rollout(fleet, rollout_batches='[1, "100%"]', max_fail_percentage=50)
    assert res.rc != 0
    assert "Rollout stopped, later batches are not started" in res.stdout
    assert fleet.jobs("n1") and fleet.marker("n1") is None  # ran, failed, rolled back
    assert fleet.jobs("n2") == [] and fleet.jobs("n3") == []  # never touched
    rep = load_report(run_dir)
    assert statuses(rep) == {"n1": "rolled_back", "n2": "not_run", "n3": "not_run"}
    assert rep["stopped"] and "max_fail_percentage 50: n1" in rep["reason"]
    assert rep["summary"]["not_run_nodes"] == ["n2", "n3"]
    assert [p["name"] for p in rep["nodes"][0]["phases"]] == ["state_check", "install", "rollback"]


def test_failures_over_the_threshold_in_a_batch_stop_it(make_fleet, rollout):
    # batch 2 = n2, n3; n3 fails: 50% of the batch
    fleet = make_fleet(4, failing=["n3"])
    res, run_dir = rollout(fleet, rollout_batches=[1, 2, "100%"], max_fail_percentage=40)
    assert res.rc != 0
    rep = load_report(run_dir)
    assert statuses(rep) == {"n1": "applied", "n2": "applied", "n3": "rolled_back", "n4": "not_run"}
    assert "1 of 2 nodes of the batch (50.0%) failed, more than max_fail_percentage 40: n3" in rep["reason"]
    assert fleet.jobs("n4") == []


def test_unreachable_nodes_over_their_threshold_stop_the_rollout_and_are_named(make_fleet, rollout):
    fleet = make_fleet(4, unreachable=["n2", "n3"])
    res, run_dir = rollout(fleet, rollout_batches=[1, 2, "100%"], max_unreachable_percentage=40)
    assert res.rc != 0
    assert fleet.jobs("n4") == []
    rep = load_report(run_dir)
    assert statuses(rep) == {"n1": "applied", "n2": "unreachable", "n3": "unreachable", "n4": "not_run"}
    assert rep["summary"]["unreachable_nodes"] == ["n2", "n3"]
    assert "2 of 2 nodes of the batch (100.0%) unreachable, more than max_unreachable_percentage 40: n2, n3" \
        in rep["reason"]
    assert all(n["unreachable"] for n in rep["nodes"] if n["name"] in ("n2", "n3"))
    suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")
    assert suite.get("errors") == "2"
    html = (run_dir / "report.html").read_text()
    assert "max_unreachable_percentage" in html and 'data-node="n2" data-status="unreachable"' in html


def test_failures_and_unreachable_nodes_under_the_thresholds_do_not_stop_it(make_fleet, rollout):
    # batch 2 = n2, n3, n4: one failed (33%) and one unreachable (33%); batch 3 = n5 still runs
    fleet = make_fleet(5, failing=["n3"], unreachable=["n4"])
    res, run_dir = rollout(fleet, rollout_batches=[1, 3, "100%"], max_fail_percentage=50,
                           max_unreachable_percentage=50)
    assert res.rc != 0  # n3 failed: it stays failed in the recap
    rep = load_report(run_dir)
    assert statuses(rep) == {"n1": "applied", "n2": "applied", "n3": "rolled_back", "n4": "unreachable",
                             "n5": "applied"}
    assert not rep["stopped"] and rep["result"] == "failed"
    assert rep["summary"]["failed_nodes"] == ["n3"] and rep["summary"]["unreachable_nodes"] == ["n4"]
    assert fleet.marker("n5") == "1.0.0"


def test_bad_settings_are_refused_with_a_clear_message(make_fleet, rollout):
    fleet = make_fleet(1)
    res, run_dir = rollout(fleet, max_unreachable_percentage="lots")
    assert res.rc != 0
    assert "Bad rollout settings: max_unreachable_percentage must be a number from 0 to 100" in res.stdout
    res, run_dir = rollout(fleet, payload="/nonexistent/payload.tar.gz")
    assert res.rc != 0
    assert "payload /nonexistent/payload.tar.gz does not exist on the controller" in res.stdout
    assert fleet.jobs("n1") == []


# -- screenshot -------------------------------------------------------------------------------------
def _png_pixels(path):
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixel tuples."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else (b if pb <= pc else c))) & 0xFF
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return rows


def screenshot_is_not_blank(html, png):
    screenshot(html, png)
    rows = _png_pixels(png)
    colors = {}
    for row in rows[::4]:
        for px in row[::4]:
            colors[px] = colors.get(px, 0) + 1
    total = sum(colors.values())
    background = max(colors.values())
    # a blank page is one colour; the report has text, the status bar and the timeline bars
    assert background < 0.95 * total, "screenshot is (almost) blank"
    green = sum(n for (r, g, b), n in colors.items() if g > 130 and r < 90 and b < 110)
    assert green > 50, "no green 'applied' bars or cards in the screenshot"
