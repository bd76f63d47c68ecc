"""The traffic meter of the upgrade action (plugins/plugin_utils/_honeycomb/traffic.py): what it counts,
under which category, that it leaves the connection and the action as they were, and the wire estimate.

(Against the bytes a real link carries: tests/integration/simfleet/test_traffic.py.)
"""

import os
import zlib

import pytest

from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import traffic


class Connection:
    """A connection that answers every exec with ``stdout`` and records the files it is given."""

    def __init__(self, stdout=b"{}", ssh_args="-C -o ControlMaster=auto", fail=False):
        self.stdout = stdout
        self.ssh_args = ssh_args
        self.fail = fail
        self.calls = []

    def get_option(self, name):
        if name == "ssh_args":
            return self.ssh_args
        if name in ("ssh_common_args", "ssh_extra_args"):
            return ""
        raise KeyError(name)

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self.calls.append(("exec", cmd, in_data))
        if self.fail:
            raise OSError("connection dropped")
        return 0, self.stdout, b"err"

    def put_file(self, in_path, out_path):
        self.calls.append(("put", in_path, out_path))
        return 0, b"", b""

    def fetch_file(self, in_path, out_path):
        self.calls.append(("fetch", in_path, out_path))
        with open(out_path, "wb") as handle:
            handle.write(b"x" * 300)
        return 0, b"", b""


class Action:
    """Stands for the upgrade action plugin: its methods use the connection like ActionBase does."""

    def __init__(self, connection, transfer=None):
        self._connection = connection
        self.transfer = transfer

    def _execute_module(self, code):
        rc, out, err = self._connection.exec_command("/usr/bin/python3", in_data=code)
        return {"out": out}

    def _upload(self, data, path=None):
        if path:
            self._connection.put_file(path, "/remote/payload")
            return
        self._connection.exec_command("cat > /store/.upload", in_data=data)
        # a module run inside the upload (e.g. asking the node for its offset) is still payload traffic
        self._execute_module(b"m" * 10)

    @traffic.counted
    def run(self, tmp=None, task_vars=None):
        self._connection.exec_command("test -f /store/x")
        self._upload(os.urandom(50000))
        self._execute_module(b"module code " * 1000)
        result = {"status": "applied"}
        if self.transfer is not None:
            result["transfer"] = self.transfer
        return result


def test_every_byte_on_the_connection_is_counted_under_its_category():
    conn = Connection(stdout=b"r" * 100)
    res = Action(conn).run()
    t = res["traffic"]
    cats = t["by_category"]
    # commands: the look-up's command line; its stdout and stderr come back
    assert cats["commands"] == {"sent": len("test -f /store/x"), "received": 103, "execs": 1, "files": 0}
    # payload: the cat command and its stdin, and the module run inside the upload
    assert cats["payload"]["sent"] == len("cat > /store/.upload") + 50000 + len("/usr/bin/python3") + 10
    assert cats["payload"]["execs"] == 2 and cats["payload"]["received"] == 2 * 103
    assert cats["modules"] == {"sent": len("/usr/bin/python3") + 12000, "received": 103, "execs": 1, "files": 0}
    assert t["sent"] == sum(c["sent"] for c in cats.values())
    assert t["received"] == sum(c["received"] for c in cats.values()) == 4 * 103
    assert t["execs"] == 4 and t["files"] == 0 and t["failed_execs"] == 0


def test_the_connection_and_the_action_are_left_as_they_were():
    conn = Connection()
    action = Action(conn)
    action.run()
    assert "exec_command" not in conn.__dict__ and "put_file" not in conn.__dict__
    assert "_execute_module" not in action.__dict__ and "_upload" not in action.__dict__
    # an instance attribute that was there before (a test's mock) is put back, not deleted

    def marker(*args, **kwargs):
        return 0, b"", b""
    conn.exec_command = marker
    action.run()
    assert conn.exec_command is marker


def test_files_put_and_fetched_count_their_size(tmp_path):
    src = tmp_path / "payload.tar.gz"
    src.write_bytes(os.urandom(7000))
    conn = Connection()
    meter = traffic.Meter()
    action = Action(conn)
    with meter.attached(action):
        action._upload(None, path=str(src))
        conn.fetch_file("/remote/result", str(tmp_path / "got"))
    t = meter.report()
    assert t["by_category"]["payload"]["sent"] == 7000 + len("/remote/payload")
    assert t["by_category"]["payload"]["files"] == 1
    assert t["by_category"]["commands"]["received"] == 300 and t["by_category"]["commands"]["files"] == 1


def test_a_failed_exec_counts_what_was_handed_over_and_raises():
    conn = Connection(fail=True)
    meter = traffic.Meter()
    action = Action(conn)
    with meter.attached(action):
        with pytest.raises(OSError):
            action._execute_module(b"c" * 500)
    t = meter.report()
    assert t["failed_execs"] == 1 and t["by_category"]["modules"]["sent"] == 500 + len("/usr/bin/python3")
    assert "exec_command" not in conn.__dict__


def test_a_transfer_outside_the_connection_is_added_once():
    # the transfer reports more than went through the connection: the rest is added to payload
    res = Action(Connection(), transfer={"bytes_sent": 200000, "resumed_from": 0}).run()
    assert res["traffic"]["by_category"]["payload"]["sent"] == 200000
    # a transfer through the connection was counted already: nothing is added
    res = Action(Connection(), transfer={"bytes_sent": 50000}).run()
    assert res["traffic"]["by_category"]["payload"]["sent"] == 50000 + len("cat > /store/.upload") + 26
    res = Action(Connection(), transfer={"bytes_sent": True, "bytes_received": "x"}).run()
    assert res["traffic"]["by_category"]["payload"]["received"] == 2 * 5
    # the resumable transfer's bytes_received are payload bytes that reached the node: never counted as
    # bytes coming back to the controller
    res = Action(Connection(), transfer={"bytes_sent": 50000, "bytes_received": 50000}).run()
    assert res["traffic"]["by_category"]["payload"]["received"] == 2 * 5


@pytest.mark.parametrize("args, expected", [
    ("-C -o ControlMaster=auto", True),
    ("-qC", True),
    ("-o ControlMaster=auto -o ControlPersist=60s", False),
    ("-C -o Compression=no", False),
    ("-o Compression=yes", True),
    ("-oCompression=yes", True),
    ("-o ControlPath=/tmp/C", False),
    ("-o 'ProxyCommand=ssh -C bastion'", False),
])
def test_compression_is_read_from_the_ssh_arguments(args, expected):
    assert traffic.connection_compresses(Connection(ssh_args=args)) is expected


def test_no_ssh_options_means_no_compression():
    class Local:
        def get_option(self, name):
            raise KeyError(name)
    assert traffic.connection_compresses(Local()) is False
    assert traffic.connection_compresses(None) is False


def test_the_wire_estimate_compresses_what_ssh_compresses():
    code = b"def f():\n    return 1\n" * 5000  # compresses well, as module code does
    noise = os.urandom(100000)  # does not, as a .tar.gz payload

    def estimate(ssh_args):
        conn = Connection(stdout=b"{}", ssh_args=ssh_args)
        meter = traffic.Meter(compression=traffic.connection_compresses(conn))
        action = Action(conn)
        with meter.attached(action):
            action._execute_module(code)
            action._upload(noise)
        return meter.report()

    plain, compressed = estimate("-o ControlMaster=auto"), estimate("-C")
    assert plain["sent"] == compressed["sent"]  # the counts are what was handed over, either way
    assert plain["wire_estimate"]["compression"] is False and compressed["wire_estimate"]["compression"] is True
    assert plain["wire_estimate"]["sent"] > plain["sent"]  # framing and channels on top
    squeezed = len(zlib.compress(code, 6))
    assert compressed["wire_estimate"]["sent"] < plain["wire_estimate"]["sent"] - (len(code) - squeezed) * 0.9
    assert compressed["wire_estimate"]["sent"] > len(noise) + squeezed


def test_large_data_is_sampled_for_the_estimate(tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as handle:
        handle.write(os.urandom(traffic.SAMPLE_LIMIT))
        handle.write(b"\0" * traffic.SAMPLE_LIMIT * 3)
    ratio = traffic._compressed_ratio(traffic._FileSample(str(big)))
    assert 0.1 < ratio < 0.5  # a quarter random, three quarters zeros
    assert traffic._compressed_ratio(os.urandom(3 * traffic.SAMPLE_LIMIT)) == pytest.approx(1.0, abs=0.01)
    assert traffic._compressed_ratio(traffic._FileSample(str(tmp_path / "missing"))) == 1.0


class SshConnection(Connection):
    """Looks like ansible.builtin.ssh to login_needed: ``ssh -O check`` is a command exiting ``check_rc``."""

    _load_name = "ssh"

    def __init__(self, check_rc, persistent=True, **kw):
        super().__init__(**kw)
        self.check_rc = check_rc
        self._persistent = persistent
        self.checked = []

    def get_option(self, name):
        if name in ("host", "ssh_executable"):
            return {"host": "W001", "ssh_executable": "ssh"}[name]
        return super().get_option(name)

    def _build_command(self, binary, subsystem, *args):
        self.checked.append(args)
        return ["true" if self.check_rc == 0 else "false"]

    def reset(self):
        self.calls.append(("reset",))


def test_a_new_login_is_estimated_when_no_controlmaster_runs():
    up, down = SshConnection(check_rc=0), SshConnection(check_rc=255)
    assert traffic.login_needed(up) is False and up.checked == [("-O", "check", "W001")]
    assert traffic.login_needed(down) is True
    assert traffic.login_needed(SshConnection(check_rc=0, persistent=False)) is True  # every exec logs in
    assert traffic.login_needed(Connection()) is False  # not ssh: not told
    assert traffic.login_needed(None) is False
    warm, cold = Action(up).run()["traffic"], Action(down).run()["traffic"]
    assert warm["wire_estimate"]["logins"] == 0 and cold["wire_estimate"]["logins"] == 1
    assert cold["wire_estimate"]["sent"] - warm["wire_estimate"]["sent"] == traffic.WIRE_LOGIN[0]
    assert cold["wire_estimate"]["received"] - warm["wire_estimate"]["received"] == traffic.WIRE_LOGIN[1]
    assert cold["sent"] == warm["sent"]  # the counts are not estimates


class SocketSshConnection(SshConnection):
    """Builds commands naming a ControlPath, as ansible.builtin.ssh does."""

    def __init__(self, path, **kw):
        super().__init__(check_rc=255, **kw)
        self.path = path

    def _build_command(self, binary, subsystem, *args):
        self.checked.append(args)
        return [b"ssh", b"-o", b"ControlMaster=auto", b"-o", b'ControlPath="%s"' % self.path.encode(), b"-O", b"check"]


def test_a_running_master_is_told_by_its_socket_without_starting_ssh(tmp_path, monkeypatch):
    import socket
    path = str(tmp_path / "cp")
    started = []
    monkeypatch.setattr(traffic.subprocess, "run", lambda *a, **kw: started.append(a))
    assert traffic.login_needed(SocketSshConnection(path)) is True  # no socket: a new login
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
        assert traffic.login_needed(SocketSshConnection(path)) is False  # the master is up
    finally:
        listener.close()
    assert traffic.login_needed(SocketSshConnection(path)) is True  # a stale socket: a new login
    assert started == []


def test_control_path_of_a_command():
    assert traffic.control_path([b"ssh", b"-o", b'ControlPath="/x/y"', b"h"]) == "/x/y"
    assert traffic.control_path(["ssh", "-oControlPath=/x/z", "h"]) == "/x/z"
    assert traffic.control_path(["ssh", "-o", "ControlPath=/x/%C", "h"]) is None  # ssh's own tokens
    assert traffic.control_path(["ssh", "-o", "ControlPath=none", "h"]) is None
    assert traffic.control_path(["ssh", "-C", "h"]) is None


def test_each_connection_reset_means_another_login():
    conn = SshConnection(check_rc=0)
    meter = traffic.Meter()
    action = Action(conn)
    with meter.attached(action):
        action._execute_module(b"x")
        conn.reset()
        action._execute_module(b"x")
    assert meter.report()["wire_estimate"]["logins"] == 1 and ("reset",) in conn.calls
    assert "reset" not in conn.__dict__
    # no exec, no login
    meter = traffic.Meter()
    with meter.attached(Action(SshConnection(check_rc=255))):
        pass
    assert meter.report()["wire_estimate"]["logins"] == 0


def test_past_the_sample_budget_the_ratio_so_far_is_used(monkeypatch):
    calls = []
    real = traffic._compressed_ratio

    def counting(sample):
        calls.append(len(sample))
        return real(sample)
    monkeypatch.setattr(traffic, "_compressed_ratio", counting)
    monkeypatch.setattr(traffic, "SAMPLE_BUDGET", 300000)
    conn = Connection(ssh_args="-C")
    meter = traffic.Meter(compression=True)
    action = Action(conn)
    chunk = b"abcd" * 25000  # 100 kB, compresses very well
    with meter.attached(action):
        for dummy in range(10):
            action._upload(chunk)
    sent_samples = [n for n in calls if n == len(chunk)]
    assert len(sent_samples) == 3  # 300 kB sampled, the other 7 chunks took the ratio so far
    assert meter.compressed["payload"]["sent"] < 0.05 * meter.counts["payload"]["sent"]
