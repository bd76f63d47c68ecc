"""asyncjob.job_state: a running, finished or lost Ansible async job, from its status file and /proc."""

import json

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import asyncjob

JID = "j815917136440.4084"


def _proc(tmp_path, *argvs):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self").mkdir()  # not a pid: ignored
    for pid, argv in enumerate(argvs, start=100):
        (proc / str(pid)).mkdir()
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (proc / "999").mkdir()  # a process that ended while we looked: no cmdline
    return proc


def _wrapper(prefix):
    tmp = "/root/.ansible/tmp/ansible-tmp-1-2-3"
    return ["/usr/bin/python3", tmp + "/async_wrapper.py", prefix, "7200", "false", tmp + "/AnsiballZ_upgrade.py"]


def _status(tmp_path, data):
    d = tmp_path / "async"
    d.mkdir(exist_ok=True)
    (d / JID).write_text(data if isinstance(data, str) else json.dumps(data))
    return str(d)


@pytest.mark.parametrize("data, alive, finished, lost", [
    # the wrapper wrote "started" and its processes run: running
    ({"started": True, "finished": False, "ansible_job_id": JID}, True, False, False),
    # the same file after a power cut: nothing of the job alive
    ({"started": True, "finished": False, "ansible_job_id": JID}, False, False, True),
    # the module's result replaced it
    ({"changed": True, "status": "applied"}, False, True, False),
    # the wrapper's time limit killed the module
    ({"msg": "Timeout exceeded", "failed": True, "child_pid": 7}, False, True, False),
    # caught while being rewritten (the wrapper writes a .tmp and renames, but be safe)
    ("", True, False, False),
])
def test_job_state(tmp_path, data, alive, finished, lost):
    others = [["/usr/sbin/sshd", "-D"], _wrapper("j1")]  # another async job is not this one
    proc = _proc(tmp_path, *(others + ([_wrapper("j815917136440")] if alive else [])))
    state = asyncjob.job_state(JID, _status(tmp_path, data), proc=str(proc))
    assert (state["alive"], state["finished"], state["lost"]) == (alive, finished, lost)
    assert state["exists"] is True and state["results_file"].endswith(JID)


def test_a_job_whose_status_file_is_gone_and_nothing_runs_is_lost(tmp_path):
    state = asyncjob.job_state(JID, str(tmp_path / "nowhere"), proc=str(_proc(tmp_path, ["sleep", "5"])))
    assert state["exists"] is False and state["lost"] is True


def test_the_prefix_must_follow_the_wrapper_itself(tmp_path):
    """A process that merely mentions the id elsewhere (a grep, a log tail) does not keep the job alive."""
    proc = _proc(tmp_path, ["grep", "j815917136440", "async_wrapper.log"], ["tail", "-f", "j815917136440"])
    state = asyncjob.job_state(JID, _status(tmp_path, {"started": 1, "finished": 0}), proc=str(proc))
    assert state["alive"] is False and state["lost"] is True


def test_this_machine_has_no_such_job(tmp_path):
    state = asyncjob.job_state("j1.1", str(tmp_path))
    assert state["alive"] is False and state["lost"] is True


# -- collect: the poll that finds the job finished brings its result ------------------------------------
def test_collect_returns_the_result_and_renames_the_status_file(tmp_path):
    final = {"changed": True, "status": "applied", "ansible_job_id": JID}
    d = _status(tmp_path, final)
    state = asyncjob.job_state(JID, d, proc=str(_proc(tmp_path)), collect=True)
    assert state["finished"] and not state["lost"] and state["result"] == final and state["collected"]
    assert not (tmp_path / "async" / JID).exists()
    assert (tmp_path / "async" / (JID + asyncjob.COLLECTED_SUFFIX)).exists()
    # the answer was lost with the connection: the next poll of the same job finds the result again
    again = asyncjob.job_state(JID, d, proc=str(tmp_path / "proc"), collect=True)
    assert again["finished"] and again["result"] == final and not again["lost"]


def test_collect_leaves_a_running_job_alone(tmp_path):
    d = _status(tmp_path, {"started": True, "finished": False, "ansible_job_id": JID})
    state = asyncjob.job_state(JID, d, proc=str(_proc(tmp_path, _wrapper(JID.rsplit(".", 1)[0]))), collect=True)
    assert not state["finished"] and state["alive"] and "result" not in state
    assert (tmp_path / "async" / JID).exists()


def test_without_collect_a_collected_job_is_finished(tmp_path):
    """upgrade_info without collect (an operator's poll) after the wait collected the job: finished, not lost."""
    d = _status(tmp_path, {"changed": True})
    asyncjob.job_state(JID, d, proc=str(_proc(tmp_path)), collect=True)
    state = asyncjob.job_state(JID, d, proc=str(tmp_path / "proc"))
    assert state["finished"] and not state["lost"] and state["collected"] and "result" not in state


def test_collect_prunes_old_collected_files_only(tmp_path):
    import os
    import time
    d = _status(tmp_path, {"changed": True})
    a = tmp_path / "async"
    old = a / ("1.1" + asyncjob.COLLECTED_SUFFIX)
    young = a / ("2.2" + asyncjob.COLLECTED_SUFFIX)
    other = a / "j3.3"  # another task's async_wrapper job: never ours to remove
    lost = a / "7.7"  # a resident job lost while its task had given up on the node: nobody will read it
    finished = a / "6.6"  # a resident job's result never collected (the node was unreachable)
    alive = a / "8.8"  # a resident job that still runs (a day is a long time, but it runs)
    young_lost = a / "5.5"
    started = json.dumps({"started": True, "finished": False})
    for path, text in ((old, "{}"), (young, "{}"), (other, started), (lost, started), (finished, '{"changed": true}'),
                       (alive, started), (young_lost, started)):
        path.write_text(text)
    past = time.time() - asyncjob.COLLECTED_KEEP - 60
    for path in (old, other, lost, finished, alive):
        os.utime(str(path), (past, past))
    asyncjob.job_state(JID, d, proc=str(_proc(tmp_path, _wrapper("8"))), collect=True)
    assert sorted(p.name for p in a.iterdir()) == sorted(
        [young.name, other.name, alive.name, young_lost.name, JID + asyncjob.COLLECTED_SUFFIX])


# -- forget: the status files of jobs a waiting task resumed ----------------------------------------------
def test_forget_removes_lost_jobs_only(tmp_path):
    d = tmp_path / "async"
    d.mkdir()
    started = {"started": True, "finished": False}
    (d / "1.1").write_text(json.dumps(started))  # lost: nothing of it alive
    (d / "2.2").write_text(json.dumps(started))  # alive: its wrapper runs
    (d / "3.3").write_text(json.dumps({"changed": True}))  # finished: someone may still read it
    (d / "4.4.collected").write_text("{}")
    proc = _proc(tmp_path, _wrapper("2"))
    removed = asyncjob.forget(["1.1", "2.2", "3.3", "4.4", "5.5", "../x", None], str(d), proc=str(proc))
    assert removed == ["1.1"]
    assert sorted(p.name for p in d.iterdir()) == ["2.2", "3.3", "4.4.collected"]
