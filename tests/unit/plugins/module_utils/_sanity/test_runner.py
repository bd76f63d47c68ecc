"""The Waggle-style test runner: order, rc, timeout and crash as 127, process-group kill, output tail."""

import pathlib
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity import runner
from hctest.sanity import pids_alive


def test_tail_keeps_last_lines_and_chars():
    text = "\n".join("line %d" % i for i in range(100)) + "\n"
    assert runner.tail(text, 3) == "line 97\nline 98\nline 99"
    assert runner.tail(text, 0) == ""
    assert runner.tail("x" * 5000, 5, max_chars=100) == "x" * 100
    assert runner.tail("", 5) == ""


def test_discover_runs_warning_folders_first_sorted_and_only_dot_test(tmp_path, make_exe):
    fatal = tmp_path / "fatal"
    warning = tmp_path / "warning"
    make_exe("b_second.test", "exit 0", fatal)
    make_exe("a_first.test", "exit 0", fatal)
    make_exe("helper.py", "exit 0", fatal)
    make_exe("zz.test", "exit 0", warning)
    (fatal / "folder.test").mkdir()
    tests, folders = runner.discover_tests([
        {"path": str(fatal), "severity": "fatal"},
        {"path": str(warning), "severity": "warning"},
        {"path": str(tmp_path / "missing"), "severity": "fatal"},
    ])
    assert [(t["name"], t["severity"]) for t in tests] == [
        ("zz", "warning"), ("a_first", "fatal"), ("b_second", "fatal")]
    assert [(f["path"], f["present"], f["count"]) for f in folders] == [
        (str(warning), True, 1), (str(fatal), True, 2), (str(tmp_path / "missing"), False, 0)]


def _test(path, severity="fatal"):
    return {"name": pathlib.Path(path).name[:-5], "path": path, "severity": severity}


def test_pass_and_fail_keep_the_test_rc_and_output(make_exe):
    ok = runner.run_test(_test(make_exe("ok.test", "echo 'Lan0 Status Test: Begin'; exit 0")), 10)
    assert (ok["result"], ok["rc"], ok["timed_out"]) == ("pass", 0, False)
    assert ok["output"] == "Lan0 Status Test: Begin"
    assert ok["source"] == "waggle" and ok["name"] == "ok"
    bad = runner.run_test(_test(make_exe("bad.test", "echo 'Error: lan0 not present' >&2; exit 3")), 10)
    assert (bad["result"], bad["rc"]) == ("fail", 3)
    assert "Error: lan0 not present" in bad["output"]
    assert bad["reason"] == "exited with 3"


def test_output_tail_is_limited(make_exe):
    result = runner.run_test(_test(make_exe("chatty.test", "seq 1 100000")), 30, output_lines=2)
    assert result["rc"] == 0
    assert result["output"] == "99999\n100000"


def test_timeout_counts_127_and_kills_the_whole_process_group(tmp_path, make_exe):
    pidfile = tmp_path / "pids"
    body = "sleep 300 & echo $! > %s; echo $$ >> %s; echo started; sleep 300" % (pidfile, pidfile)
    result = runner.run_test(_test(make_exe("hang.test", body)), 1)
    assert result["rc"] == 127
    assert result["result"] == "fail"
    assert result["timed_out"] is True
    assert "timed out after 1 s" in result["output"]
    assert "started" in result["output"]
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 2
    deadline = time.time() + 5
    while pids_alive(pids) and time.time() < deadline:
        time.sleep(0.05)
    assert pids_alive(pids) == []


def test_crash_and_unstartable_tests_count_127(tmp_path, make_exe):
    crash = runner.run_test(_test(make_exe("crash.test", "kill -SEGV $$")), 10)
    assert (crash["rc"], crash["result"], crash["timed_out"]) == (127, "fail", False)
    assert "signal 11" in crash["reason"]

    not_exec = tmp_path / "plain.test"
    not_exec.write_text("#!/bin/sh\nexit 0\n")
    result = runner.run_test(_test(str(not_exec)), 10)
    assert (result["rc"], result["result"]) == (127, "fail")
    assert "could not start" in result["reason"]

    bad_interp = make_exe("interp.test", "exit 0")
    pathlib.Path(bad_interp).write_text("#!/nonexistent/interpreter\n")
    result = runner.run_test(_test(bad_interp), 10)
    assert result["rc"] == 127


def test_run_command_returns_rc_and_output():
    rc, out, timed_out, error = runner.run_command(["/bin/sh", "-c", "echo hi; exit 4"], 10)
    assert (rc, out, timed_out, error) == (4, "hi\n", False, None)
