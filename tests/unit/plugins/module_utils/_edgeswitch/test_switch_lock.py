"""The per-switch lock: one run at a time drives a switch, a second waits or fails naming the first, a dead
holder blocks nothing, and the engine holds the lock from its first CLI session to disconnect()."""

import os
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import lock as sl
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.engine import Engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import EdgeSwitchError


def test_a_second_run_fails_after_lock_timeout_naming_the_holder(tmp_path):
    first = sl.SwitchLock("10.31.81.2", str(tmp_path / "locks"), what="edgeswitch_config state=deployed").acquire()
    assert oct(os.stat(str(tmp_path / "locks")).st_mode & 0o777) == "0o700"
    with pytest.raises(sl.SwitchBusy) as err:
        sl.SwitchLock("10.31.81.2", str(tmp_path / "locks"), timeout=0).acquire()
    msg = str(err.value)
    assert "10.31.81.2" in msg and "pid %d" % os.getpid() in msg and "edgeswitch_config state=deployed" in msg
    assert "lock_timeout" in msg
    # another switch is another lock
    sl.SwitchLock("10.31.81.3", str(tmp_path / "locks"), timeout=0).acquire().release()
    first.release()
    sl.SwitchLock("10.31.81.2", str(tmp_path / "locks"), timeout=0).acquire().release()


def test_a_waiting_run_goes_on_when_the_holder_releases(tmp_path):
    first = sl.SwitchLock("sw", str(tmp_path), what="first").acquire()
    threading.Timer(1.0, first.release).start()
    second = sl.SwitchLock("sw", str(tmp_path), timeout=30).acquire()
    assert second.held and second.waited >= 0.5
    assert second.holder()["pid"] == os.getpid()
    second.release()


def test_a_holder_that_dies_leaves_the_switch_free(tmp_path):
    code = ("import sys, time; sys.path[:0] = %r\n"
            "from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import lock\n"
            "lock.SwitchLock('sw', %r, what='doomed').acquire(); print('held', flush=True); time.sleep(60)\n"
            % (sys.path, str(tmp_path)))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(sl.SwitchBusy, match="doomed"):
            sl.SwitchLock("sw", str(tmp_path), timeout=0).acquire()
    finally:
        proc.kill()   # what a power cut does to the holder
        proc.wait()
    sl.SwitchLock("sw", str(tmp_path), timeout=0).acquire().release()


def test_an_unwritable_lock_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(EdgeSwitchError, match="set lock_dir"):
        sl.SwitchLock("sw", str(blocker / "locks")).acquire()


def test_odd_host_names_stay_one_file_in_the_lock_dir(tmp_path):
    assert sl.lock_path(str(tmp_path), "../sw:22/x") == str(tmp_path / "switch-.._sw_22_x.lock")


class FakeCli:
    def __init__(self):
        self.closed = False

    def open(self):
        return self

    def reload(self, save):
        pass

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True


def test_the_engine_holds_the_lock_from_the_first_session_through_a_reload_until_disconnect(tmp_path, monkeypatch):
    params = {"host": "sw", "lock_dir": str(tmp_path), "lock_timeout": 0, "reload_timeout": 5}
    engine = Engine(params)
    engine.new_cli = FakeCli
    assert not engine.lock.held
    engine.connect()
    assert engine.lock.held
    monkeypatch.setattr("ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.engine.wait_for_port",
                        lambda *a: True)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    engine.reload_and_wait()
    engine.reconnect(time.time() + 5)
    with pytest.raises(sl.SwitchBusy):
        sl.SwitchLock("sw", str(tmp_path), timeout=0).acquire()
    engine.disconnect()
    assert not engine.lock.held
    other = Engine(params)
    other.new_cli = FakeCli
    other.connect()
    other.disconnect()
