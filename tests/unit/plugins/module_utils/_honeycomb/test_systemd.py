"""The upgrade engine's systemd integration, with real stand-ins for what these machines lack:

* journal: a real AF_UNIX datagram socket bound in a temp dir takes the place of journald's
  ``/run/systemd/journal/socket`` (``runner.JOURNAL_SOCKET``); the datagrams are parsed strictly by the
  native protocol (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/);
* systemctl: a temp dir takes the place of ``/run/systemd/system`` (``backup.SYSTEMD_RUN_DIR``) and a
  ``systemctl`` shell script first on PATH records each call (argv, exit code, and the content of the
  backed-up file at that moment, which proves the order against the restore).
"""

import json
import os
import shutil
import socket
import stat
import struct
import tempfile
import threading

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import backup
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine as eng
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

from hctest.upgrade import EngineEnv, engine_params, make_payload

pytestmark = pytest.mark.timeout(120)  # a blocking journal send would hang the run: fail instead


# ---------------------------------------------------------------- native journal protocol
def parse_entry(data):
    """Fields of one native-protocol datagram as a list of (key, value str); asserts it is well formed."""
    fields = []
    pos = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        line = data[pos:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            pos = nl + 1
        else:  # KEY\n<64-bit LE length><value>\n
            key = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + size]
            assert data[nl + 9 + size:nl + 10 + size] == b"\n", data
            pos = nl + 10 + size
        text = key.decode("ascii")
        assert text and not text.startswith("_") and all(c.isupper() or c.isdigit() or c == "_" for c in text), text
        fields.append((text, value.decode("utf-8")))
    return fields


class JournalSocket:
    """A bound datagram socket standing in for journald; ``drain=True`` reads it in a thread."""

    def __init__(self, drain=True):
        # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path may be longer
        self.dir = tempfile.mkdtemp(prefix="hcj-", dir="/tmp")
        self.path = os.path.join(self.dir, "socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.raw = []
        self._stop = False
        self._thread = None
        if drain:
            self.sock.settimeout(0.05)
            self._thread = threading.Thread(target=self._drain, daemon=True)
            self._thread.start()

    def _drain(self):
        while not self._stop:
            try:
                self.raw.append(self.sock.recv(1 << 20))
            except socket.timeout:
                continue
            except OSError:
                return

    def read_queued(self):
        """What is queued now (for a socket not drained by the thread)."""
        self.sock.setblocking(False)
        while True:
            try:
                self.raw.append(self.sock.recv(1 << 20))
            except BlockingIOError:
                return self.raw

    def entries(self):
        if self._thread is not None:
            # each engine batch is sent before the engine returns; one empty poll round means drained
            self._stop = True
            self._thread.join()
            self.read_queued()
        return [dict(parse_entry(d)) for d in self.raw]

    def close(self):
        self._stop = True
        if self._thread is not None:
            self._thread.join()
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def journal(monkeypatch):
    js = JournalSocket()
    monkeypatch.setattr(runner, "JOURNAL_SOCKET", js.path)
    yield js
    js.close()


@pytest.fixture
def env(tmp_path):
    return EngineEnv(tmp_path)


def test_phase_output_goes_to_the_journal_in_native_protocol(env, journal):
    p = make_payload(env.tmp, scripts={
        "install": 'echo "hello"; echo "a=b c"; echo warn >&2; [ "$HC_ATTEMPT" = 2 ]',
    }, retries={"install": 1})
    r = env.run(p)
    assert r["status"] == "applied", r["msg"]
    entries = journal.entries()
    for e in entries:
        assert e["SYSLOG_IDENTIFIER"] == "honeycomb" and e["PRIORITY"] == "6" and e["HC_JOB_ID"] == r["job_id"]
        assert set(e) <= {"SYSLOG_IDENTIFIER", "PRIORITY", "MESSAGE", "HC_JOB_ID", "HC_PHASE", "HC_ATTEMPT",
                          "HC_STREAM"}, e
    got = [(e["HC_PHASE"], e["HC_ATTEMPT"], e.get("HC_STREAM"), e["MESSAGE"]) for e in entries]
    job = r["job_id"]
    assert got == [
        ("state_check", "1", None, "%s state_check attempt 1: rc 0" % job),
        ("install", "1", "stdout", "hello"), ("install", "1", "stdout", "a=b c"), ("install", "1", "stderr", "warn"),
        ("install", "1", None, "%s install attempt 1: rc 1" % job),
        ("install", "2", "stdout", "hello"), ("install", "2", "stdout", "a=b c"), ("install", "2", "stderr", "warn"),
        ("install", "2", None, "%s install attempt 2: rc 0" % job),
        ("verify", "1", None, "%s verify attempt 1: rc 0" % job),
    ]


def test_values_with_newlines_use_the_length_prefixed_form(journal):
    extra = {"HC_NOTE": "two\nlines", "HC_PLAIN": "x=y"}
    assert runner.send_to_system_journal("honeycomb", [(extra, "first\nsecond\n"), ({}, "one line")], priority=3)
    entries = journal.entries()
    assert entries == [
        {"SYSLOG_IDENTIFIER": "honeycomb", "PRIORITY": "3", "HC_NOTE": "two\nlines", "HC_PLAIN": "x=y",
         "MESSAGE": "first\nsecond\n"},
        {"SYSLOG_IDENTIFIER": "honeycomb", "PRIORITY": "3", "MESSAGE": "one line"},
    ]
    assert b"MESSAGE\n" + struct.pack("<Q", 13) + b"first\nsecond\n\n" in journal.raw[0]
    assert b"MESSAGE=one line\n" in journal.raw[1]


def test_script_output_lines_become_entries_without_newlines(env, journal):
    p = make_payload(env.tmp, scripts={"install": r"printf 'l1\r\nl2\n\nl3 \303\244'"})
    r = env.run(p)
    assert r["status"] == "applied"
    msgs = [e["MESSAGE"] for e in journal.entries() if e.get("HC_STREAM") == "stdout"]
    assert msgs == ["l1", "l2", "", "l3 \u00e4"]


@pytest.mark.parametrize("kind", ["missing", "stale_socket", "regular_file"])
def test_no_or_dead_journal_socket_never_fails_the_upgrade(env, monkeypatch, kind):
    d = tempfile.mkdtemp(prefix="hcj-", dir="/tmp")
    try:
        path = os.path.join(d, "socket")
        if kind == "stale_socket":  # journald gone, its socket file left behind: ECONNREFUSED
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(path)
            s.close()
        elif kind == "regular_file":
            with open(path, "w") as handle:
                handle.write("not a socket")
        monkeypatch.setattr(runner, "JOURNAL_SOCKET", path)
        assert runner.send_to_system_journal("honeycomb", [({}, "x")]) is False
        r = env.run(make_payload(env.tmp, scripts={"install": "echo out; echo err >&2"}))
        assert r["status"] == "applied" and not r.get("failed"), r["msg"]
        assert r["phases"]["install"]["stdout_tail"] == "out\n"
    finally:
        shutil.rmtree(d)


def test_full_journal_queue_drops_lines_instead_of_blocking(env, monkeypatch):
    """Nobody reads the socket (journald hung): the queue fills; the upgrade neither hangs nor fails, the
    first lines are delivered in order and the rest is dropped (the job's logs keep everything)."""
    js = JournalSocket(drain=False)
    try:
        monkeypatch.setattr(runner, "JOURNAL_SOCKET", js.path)
        monkeypatch.setattr(runner, "JOURNAL_SEND_BUDGET", 0.2)
        r = env.run(make_payload(env.tmp, scripts={"install": "i=0; while [ $i -lt 300 ]; do echo line$i; "
                                                              "i=$((i+1)); done"}))
        assert r["status"] == "applied", r["msg"]
        entries = [dict(parse_entry(d)) for d in js.read_queued()]
        install = [e["MESSAGE"] for e in entries if e.get("HC_PHASE") == "install"]
        assert install
        with open("/proc/sys/net/unix/max_dgram_qlen") as handle:
            if int(handle.read()) < 150:  # 10 by default; systemd's sysctl.d sets 512
                assert len(install) < 200
        # the last JOURNAL_MAX_LINES (200) of the output are sent, from line101 on (301 entries with the summary); only a prefix got in
        assert install == ["line%d" % i for i in range(101, 101 + len(install))]
        with open(r["phases"]["install"]["stdout_path"]) as handle:
            assert len(handle.read().splitlines()) == 300
    finally:
        js.close()


def test_full_queue_of_large_entries_returns_false(monkeypatch):
    """Entries of 16 KiB fill any socket send buffer long before 200 of them are queued."""
    js = JournalSocket(drain=False)
    try:
        monkeypatch.setattr(runner, "JOURNAL_SEND_BUDGET", 0.1)
        lines = [({}, "%03d" % i + "z" * (16 << 10)) for i in range(runner.JOURNAL_MAX_LINES)]
        assert runner.send_to_system_journal("honeycomb", lines, socket_path=js.path) is False
        got = [e["MESSAGE"][:3] for e in (dict(parse_entry(d)) for d in js.read_queued())]
        assert 0 < len(got) < runner.JOURNAL_MAX_LINES and got == ["%03d" % i for i in range(len(got))]
    finally:
        js.close()


def test_oversize_messages_are_truncated(env, journal):
    # one 100 KB line; the tail kept by the engine (output_limit 64 KiB) is one line too
    r = env.run(make_payload(env.tmp, scripts={"install": "head -c 100000 /dev/zero | tr '\\0' x; echo"}))
    assert r["status"] == "applied"
    (big,) = [e["MESSAGE"] for e in journal.entries() if e.get("HC_STREAM") == "stdout"]
    assert big == "x" * runner.JOURNAL_MAX_MESSAGE + runner.JOURNAL_TRUNCATED


def test_truncation_keeps_utf8_characters_whole(journal, monkeypatch):
    monkeypatch.setattr(runner, "JOURNAL_MAX_MESSAGE", 5)
    assert runner.send_to_system_journal("honeycomb", [({}, "\u00e4\u00e4\u00e4")])  # 6 bytes
    assert journal.entries()[0]["MESSAGE"] == "\u00e4\u00e4" + runner.JOURNAL_TRUNCATED


def test_entry_too_large_for_the_socket_is_skipped(journal, monkeypatch):
    monkeypatch.setattr(runner, "JOURNAL_MAX_MESSAGE", 64 << 20)  # no truncation: the kernel refuses it
    sent = runner.send_to_system_journal("honeycomb", [({}, "before"), ({}, "y" * (8 << 20)), ({}, "after")])
    assert sent is False
    assert [e["MESSAGE"] for e in journal.entries()] == ["before", "after"]


# ---------------------------------------------------------------- systemctl around the rollback
class Systemd:
    """``run_dir`` stands in for /run/systemd/system; ``bin/systemctl`` (first on PATH) appends one JSON
    line per call to ``calls.log``: argv, the rc it returns and the content of ``watch`` at that moment."""

    def __init__(self, tmp, monkeypatch, watch):
        self.tmp = tmp
        self.run_dir = tmp / "run-systemd-system"
        self.run_dir.mkdir()
        self.log = tmp / "calls.log"
        self.rc_dir = tmp / "systemctl-rc"  # rc-<action> holds the exit code for that action (default 0)
        self.rc_dir.mkdir()
        bindir = tmp / "bin"
        bindir.mkdir()
        script = bindir / "systemctl"
        script.write_text(
            "#!/bin/sh\n"
            'rc=0; [ -f "%(rcd)s/rc-$1" ] && rc=$(cat "%(rcd)s/rc-$1")\n'
            'seen=$(cat "%(watch)s" 2>/dev/null | tr -d "\\n")\n'
            'args=""; for a in "$@"; do args="$args\\"$a\\","; done\n'
            'printf \'{"argv": [%%s"end"], "rc": %%s, "watched": "%%s"}\\n\' "$args" "$rc" "$seen" >> "%(log)s"\n'
            '[ "$rc" = 0 ] || echo "Failed to $1 units: Access denied" >&2\n'
            'exit "$rc"\n' % {"rcd": self.rc_dir, "watch": watch, "log": self.log})
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        monkeypatch.setattr(backup, "SYSTEMD_RUN_DIR", str(self.run_dir))
        monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")))

    def fail(self, action, rc):
        (self.rc_dir / ("rc-%s" % action)).write_text("%d\n" % rc)

    def calls(self):
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            call = json.loads(line)
            call["argv"] = call["argv"][:-1]
            out.append(call)
        return out


UNITS = ["waggle-camera.service", "hc-agent@1.service"]


@pytest.fixture
def node(tmp_path, monkeypatch):
    conf = tmp_path / "etc" / "app.cfg"
    conf.parent.mkdir()
    conf.write_text("old\n")
    sd = Systemd(tmp_path, monkeypatch, conf)
    sd.conf = conf
    return sd


def failing_install(node, version="1.0", rollback=None):
    scripts = {"install": "echo new > %s; exit 7" % node.conf}
    if rollback:
        scripts["rollback"] = rollback
    return make_payload(node.tmp, version=version, scripts=scripts, backup_paths=[str(node.conf)],
                        restart_units=UNITS)


def test_systemd_detection_follows_run_dir_and_path(node, monkeypatch):
    assert backup.systemd_running() and backup.find_systemctl() == str(node.tmp / "bin" / "systemctl")
    monkeypatch.setattr(backup, "SYSTEMD_RUN_DIR", str(node.tmp / "absent"))
    assert not backup.systemd_running()
    skipped = backup.units("stop", UNITS)
    assert skipped["skipped"] and skipped["rc"] is None and "absent" in skipped["output"]
    assert node.calls() == []


def test_failed_install_stops_units_before_restore_and_starts_them_after(node):
    # the rollback script records what systemctl calls happened before it ran
    seen = node.tmp / "calls-seen-by-rollback-script"
    r = EngineEnv(node.tmp).run(failing_install(node, rollback="cp %s %s" % (node.log, seen)))
    assert r["status"] == "rolled_back" and r["rollback"]["ok"], r["msg"]
    assert node.conf.read_text() == "old\n"
    calls = node.calls()
    assert [c["argv"] for c in calls] == [["stop"] + UNITS, ["start"] + UNITS]
    assert calls[0]["watched"] == "new"   # stopped before the restore
    assert calls[1]["watched"] == "old"   # started after it
    assert len(seen.read_text().splitlines()) == 1  # the rollback script ran between stop and start
    rb = r["rollback"]
    assert rb["units_stopped"] == {"action": "stop", "units": UNITS, "rc": 0, "skipped": False, "output": ""}
    assert rb["units_started"]["rc"] == 0 and rb["units_started"]["units"] == UNITS
    assert "systemctl" not in r["msg"]


def test_failing_systemctl_stop_is_reported_and_does_not_prevent_the_restore(node):
    node.fail("stop", 4)
    r = EngineEnv(node.tmp).run(failing_install(node))
    # docs/upgrade.md: rollback.ok is false only for a restore error, a failed rollback script or a failed
    # start of the units; a failed stop is reported
    assert r["status"] == "rolled_back" and r["rollback"]["ok"], r["msg"]
    assert node.conf.read_text() == "old\n"
    assert [(c["argv"][0], c["rc"]) for c in node.calls()] == [("stop", 4), ("start", 0)]
    stopped = r["rollback"]["units_stopped"]
    assert stopped["rc"] == 4 and stopped["units"] == UNITS and "Access denied" in stopped["output"]
    assert ("systemctl stop waggle-camera.service hc-agent@1.service failed (rc 4): "
            "Failed to stop units: Access denied") in r["msg"]


def test_failing_systemctl_start_fails_the_rollback(node):
    node.fail("start", 1)
    r = EngineEnv(node.tmp).run(failing_install(node))
    assert r["status"] == "rollback_failed" and not r["rollback"]["ok"], r["msg"]
    assert node.conf.read_text() == "old\n"
    assert "ROLLBACK FAILED" in r["msg"] and "systemctl start waggle-camera.service" in r["msg"]


def test_systemctl_that_cannot_run_does_not_prevent_the_restore(node):
    (node.tmp / "bin" / "systemctl").write_text("#!/nonexistent/interpreter\n")
    r = EngineEnv(node.tmp).run(failing_install(node))
    assert node.conf.read_text() == "old\n"
    assert r["rollback"]["units_stopped"]["rc"] is None and "cannot run" in r["rollback"]["units_stopped"]["output"]
    assert r["status"] == "rollback_failed" and "systemctl start" in r["msg"] and "not run" in r["msg"]


def test_explicit_rollback_stops_and_starts_the_units_around_the_restore(node):
    install = "echo $HC_PAYLOAD_VERSION > %s" % node.conf
    env = EngineEnv(node.tmp)
    for version in ("1.0", "2.0"):
        p = make_payload(node.tmp, version=version, scripts={"install": install}, backup_paths=[str(node.conf)],
                         restart_units=UNITS)
        assert env.run(p)["status"] == "applied"
    assert node.conf.read_text() == "2.0\n" and node.calls() == []  # no units touched without a rollback
    node.fail("stop", 5)
    r = eng.Engine(engine_params(env.state, state="rolled_back", peripheral="demo")).run()
    assert r["status"] == "rolled_back" and r["changed"], r["msg"]
    assert node.conf.read_text() == "1.0\n"
    calls = node.calls()
    assert [c["argv"] for c in calls] == [["stop"] + UNITS, ["start"] + UNITS]
    assert [c["watched"] for c in calls] == ["2.0", "1.0"]
    assert r["rollback"]["units_stopped"]["rc"] == 5 and "systemctl stop" in r["msg"]
