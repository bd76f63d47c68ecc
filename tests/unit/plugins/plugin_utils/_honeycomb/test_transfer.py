# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resumable payload transfer (plugin_utils/_honeycomb/transfer.py) with the node-side helper
(module_utils/_honeycomb/receive.py) run for real on this host: each exec is ``sh -c`` here, a drop is
an exec that delivers only part of its stdin (or none) and then fails like a dead ssh connection.

(The same through the simulated fleet's shaped, flapping links: tests/integration/simfleet/test_transfer_link.py.)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
import threading
import tracemalloc

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import StateLayout
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import transfer as tr

MIB = 1024 * 1024


class LocalNode:
    """Runs the helper's commands on this host. ``drops``: {put number: bytes delivered before the drop
    (None: the exec never starts)}; ``hang``: put numbers that hang until the connection is reset."""

    def __init__(self, drops=None, hang=()):
        self.drops = dict(drops or {})
        self.hang = set(hang)
        self.puts = 0
        self.ops = []
        self.resets = 0
        self._reset = threading.Event()

    def execute(self, cmd, in_data):
        op = next(w for w in ("begin", "put", "abort") if (" %s " % w) in cmd)
        self.ops.append(op)
        if op == "put":
            self.puts += 1
            if self.puts in self.hang:
                self._reset.wait(60)
                self._reset.clear()
                raise AnsibleConnectionFailure("ssh: connection reset")
            if self.puts in self.drops:
                keep = self.drops[self.puts]
                if keep is not None:
                    subprocess.run(["sh", "-c", cmd], input=in_data[:keep], capture_output=True, check=False)
                raise AnsibleConnectionFailure("Failed to connect to the host via ssh: broken pipe")
        r = subprocess.run(["sh", "-c", cmd], input=in_data or b"", capture_output=True, check=False)
        return {"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr}

    def reset(self):
        self.resets += 1
        self._reset.set()


@pytest.fixture
def payload(tmp_path):
    path = tmp_path / "payload.tar.gz"
    path.write_bytes(os.urandom(3 * MIB + 12345))
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make(node, src, layout, **kw):
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("jitter", lambda: 0.0)
    return tr.Transfer(node.execute, node.reset, str(src), os.path.getsize(src), sha(src), layout,
                       python=sys.executable, **kw)


def leftovers(layout):
    return [n for n in layout.store_files() if not n.endswith(".tar.gz")]


def test_a_payload_goes_into_the_store_in_chunks_and_leaves_nothing_else(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    node = LocalNode()
    stats = make(node, payload, layout).run()
    assert (tmp_path / "state" / "payloads" / (sha(payload) + ".tar.gz")).read_bytes() == payload.read_bytes()
    assert leftovers(layout) == []
    assert stats["stored"] and stats["attempts"] == 1 and stats["bytes_sent"] == payload.stat().st_size
    assert stats["bytes_resent"] == 0 and stats["bytes_resumed"] == 0
    assert node.ops[0] == "begin" and node.ops.count("put") == stats["chunks"] > 1
    assert stats["max_chunk"] <= tr.CHUNK_MAX


def test_drops_mid_chunk_resume_from_what_the_node_received(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    node = LocalNode(drops={2: 100000, 4: 7, 5: 0})
    stats = make(node, payload, layout).run()
    assert sha(tmp_path / "state" / "payloads" / (sha(payload) + ".tar.gz")) == sha(payload)
    assert leftovers(layout) == []
    assert stats["attempts"] == 4 and stats["reconnects"] == 3 and node.resets == 3
    # the bytes that reached the node were kept: only those cut off in flight are sent again
    assert stats["bytes_sent"] - stats["bytes_resent"] == payload.stat().st_size
    assert stats["bytes_resent"] < 3 * tr.CHUNK_MAX
    # the node received every byte once: what a dropped put delivered was kept and counted
    assert stats["bytes_received"] == payload.stat().st_size


def test_a_drop_before_the_node_got_anything_resends_that_chunk_only(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    node = LocalNode(drops={3: None})
    stats = make(node, payload, layout).run()
    assert stats["stored"] and stats["attempts"] == 2
    assert 0 < stats["bytes_resent"] <= tr.CHUNK_MAX and stats["bytes_received"] == payload.stat().st_size
    assert leftovers(layout) == []


def test_the_next_run_resumes_a_transfer_that_gave_up(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    size = payload.stat().st_size
    node = LocalNode(drops={n: 1000 for n in range(3, 50)})
    with pytest.raises(tr.TransferError) as info:
        make(node, payload, layout, reconnect_timeout=0).run()
    assert "resumes from there" in info.value.msg and layout.transfer_path(sha(payload)) in info.value.msg
    kept = os.path.getsize(layout.transfer_path(sha(payload)))
    assert 0 < kept < size
    assert info.value.stats["bytes_sent"] > 0 and not info.value.stats["stored"]
    stats = make(LocalNode(), payload, layout).run()
    assert stats["bytes_resumed"] == kept and stats["bytes_sent"] == size - kept and stats["bytes_resent"] == 0
    assert sha(tmp_path / "state" / "payloads" / (sha(payload) + ".tar.gz")) == sha(payload)
    assert leftovers(layout) == []


def _partial(layout, payload, content, size, verified):
    """A partial transfer of ``payload`` left on the node: ``content`` so far, its state saying ``verified``
    bytes of a ``size``-byte payload are good."""
    os.makedirs(layout.payloads_dir)
    with open(layout.transfer_path(sha(payload)), "wb") as handle:
        handle.write(content)
    with open(layout.transfer_state_path(sha(payload)), "w") as handle:
        json.dump({"v": 1, "sha256": sha(payload), "size": size, "verified": verified}, handle)


def test_a_complete_partial_with_a_wrong_hash_is_discarded_and_sent_again(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    size = payload.stat().st_size
    _partial(layout, payload, b"\0" * size, size=size, verified=size)
    logs = []
    stats = make(LocalNode(), payload, layout, log=logs.append).run()
    assert stats["discarded"] == 1 and stats["bytes_sent"] == size and stats["bytes_resumed"] == 0
    assert any("discarded" in line for line in logs)
    assert sha(tmp_path / "state" / "payloads" / (sha(payload) + ".tar.gz")) == sha(payload)
    assert leftovers(layout) == []


def test_a_corrupt_unverified_tail_fails_its_chunk_check_and_the_chunk_is_sent_again(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    size = payload.stat().st_size
    good = payload.read_bytes()[:MIB]
    # 5000 bytes after the verified MiB that are not the payload's
    _partial(layout, payload, good + b"x" * 5000, size=size, verified=MIB)
    stats = make(LocalNode(), payload, layout).run()
    assert stats["chunk_mismatches"] == 1 and stats["bytes_resumed"] == MIB + 5000
    assert sha(tmp_path / "state" / "payloads" / (sha(payload) + ".tar.gz")) == sha(payload)
    assert leftovers(layout) == []


def test_a_partial_of_another_payload_size_is_started_over(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    _partial(layout, payload, b"y" * 999, size=999, verified=999)
    stats = make(LocalNode(), payload, layout).run()
    assert stats["bytes_resumed"] == 0 and stats["bytes_sent"] == payload.stat().st_size
    assert leftovers(layout) == []


def test_a_stall_resets_the_connection_and_the_transfer_resumes(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    node = LocalNode(hang={2})
    # the timeout is generous: a put of this busy host may take a while and is no stall
    stats = make(node, payload, layout, stall_timeout=8).run()
    assert stats["stalls"] >= 1 and stats["stored"] and node.resets >= 1 and stats["attempts"] >= 2
    assert sha(tmp_path / "state" / "payloads" / (sha(payload) + ".tar.gz")) == sha(payload)


def test_idle_partials_of_other_payloads_are_pruned_but_busy_or_recent_ones_kept(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    os.makedirs(layout.payloads_dir)
    old, recent = "a" * 64, "b" * 64
    for other in (old, recent):
        open(layout.transfer_path(other), "wb").write(b"z" * 10)
        open(layout.transfer_state_path(other), "w").write("{}")
    os.utime(layout.transfer_path(old), (1, 1))
    logs = []
    make(LocalNode(), payload, layout, log=logs.append, idle=3600).run()
    kept = (layout.transfer_path(recent), layout.transfer_state_path(recent))
    assert sorted(leftovers(layout)) == sorted(os.path.basename(p) for p in kept)
    assert any(old in line for line in logs)


def test_the_rate_limit_paces_the_chunks(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    clock = [0.0]
    pauses = []

    def sleep(s):
        pauses.append(s)
        clock[0] += s
    stats = make(LocalNode(), payload, layout, rate_limit=MIB, clock=lambda: clock[0], sleep=sleep).run()
    # the fake clock only moves by the pauses: they add up to size / rate
    assert sum(pauses) == pytest.approx(payload.stat().st_size / MIB, rel=0.01)
    assert stats["max_chunk"] <= tr.TARGET_SECONDS * MIB


def test_the_helper_failing_names_the_state_dir(tmp_path, payload):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    layout = StateLayout(str(blocker / "state"))
    with pytest.raises(tr.TransferError, match="writable by the connection user"):
        make(LocalNode(), payload, layout).run()


@pytest.mark.parametrize("value", [0, -5, "x"])
def test_bad_option_values_are_refused_with_the_option_name(value):
    with pytest.raises(ValueError, match="transfer_rate_limit"):
        tr.options({"transfer_rate_limit": value, "transfer_stall_timeout": None}, {})


def test_host_variables_set_the_options_when_the_task_does_not():
    host = {"honeycomb_transfer_rate_limit": "50000", "honeycomb_transfer_stall_timeout": 20}
    assert tr.options({"transfer_rate_limit": None, "transfer_stall_timeout": None}, host) == {
        "rate_limit": 50000, "stall_timeout": 20}
    assert tr.options({"transfer_rate_limit": 7, "transfer_stall_timeout": None}, host)["rate_limit"] == 7
    with pytest.raises(ValueError, match="honeycomb_transfer_stall_timeout"):
        tr.options({"transfer_rate_limit": None, "transfer_stall_timeout": None},
                   {"honeycomb_transfer_stall_timeout": "soon"})


# ---------------------------------------------------------------------------- 1 GiB, memory bounded

GIB = 1024 * MIB


class Generated(io.RawIOBase):
    """A 1 GiB read-only file made up as it is read (nothing on disk); records every read's size."""

    def __init__(self, size, block):
        self.size, self.block, self.pos = size, block, 0
        self.reads = []

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, pos, whence=0):
        self.pos = pos if whence == 0 else (self.pos + pos if whence == 1 else self.size + pos)
        return self.pos

    def read(self, n=-1):
        n = self.size - self.pos if n is None or n < 0 else min(n, self.size - self.pos)
        self.reads.append(n)
        out = bytearray()
        while len(out) < n:
            at = (self.pos + len(out)) % len(self.block)
            out += self.block[at:at + n - len(out)]
        self.pos += n
        return bytes(out)


class SimulatedNode:
    """The helper's begin/put answered in memory (a running SHA-256 instead of a file)."""

    def __init__(self, size):
        self.size, self.have, self.whole = size, 0, hashlib.sha256()
        self.largest_stdin = 0

    def execute(self, cmd, in_data):
        req = json.loads(shlex.split(cmd)[-1])
        if " begin " in cmd:
            return {"rc": 0, "stdout": json.dumps({"stored": False, "verified": self.have, "have": self.have})}
        self.largest_stdin = max(self.largest_stdin, len(in_data))
        assert req["start"] == self.have == req["base"] and len(in_data) == req["end"] - req["start"]
        assert hashlib.sha256(in_data).hexdigest() == req["chunk_sha256"]
        self.whole.update(in_data)
        self.have = req["end"]
        done = self.have == self.size
        if done:
            assert self.whole.hexdigest() == req["sha256"]
        return {"rc": 0, "stdout": json.dumps({"verified": self.have, "have": self.have, "stored": done})}


def test_a_1_gib_payload_is_streamed_with_bounded_memory(tmp_path):
    block = hashlib.sha256(b"seed").digest() * 40000  # 1.28 MB pattern, not a divisor of the chunk size
    src = Generated(GIB, block)
    whole = hashlib.sha256()
    while src.pos < GIB:
        whole.update(src.read(8 * MIB))
    src.reads.clear()
    node = SimulatedNode(GIB)
    layout = StateLayout(str(tmp_path / "state"))
    tracemalloc.start()
    try:
        stats = tr.Transfer(node.execute, lambda: None, "generated", GIB, whole.hexdigest(), layout,
                            opener=lambda path: src).run()
        dummy, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats["stored"] and stats["bytes_sent"] == GIB and node.have == GIB
    # memory: no read of the payload and no exec's stdin is larger than one chunk ...
    assert max(src.reads) <= tr.CHUNK_MAX and node.largest_stdin <= tr.CHUNK_MAX
    assert sum(src.reads) == GIB  # ... every byte was read once ...
    # ... and what was allocated at the peak is a few chunks, not the payload
    assert peak < 6 * tr.CHUNK_MAX


# ---------------------------------------------------------------------------- through an action plugin

class FakeConnection:
    def __init__(self):
        self.options = {"reconnection_retries": 2}
        self.seen = []
        self.resets = 0

    def get_option(self, name):
        return self.options[name]

    def set_option(self, name, value):
        self.options[name] = value

    def reset(self):
        self.resets += 1


class FakeAction:
    """What send() uses of the action plugin: the connection, its low-level exec, the templar."""

    def __init__(self, node):
        self._connection = FakeConnection()
        self._templar = None
        self.node = node

    def _low_level_execute_command(self, cmd, in_data=None):
        self._connection.seen.append(self._connection.options["reconnection_retries"])
        return self.node.execute(cmd, in_data)


def test_send_turns_the_ssh_retries_off_while_it_runs_and_reads_host_variables(tmp_path, payload):
    layout = StateLayout(str(tmp_path / "state"))
    act = FakeAction(LocalNode())
    task_vars = {"ansible_python_interpreter": sys.executable, "honeycomb_transfer_stall_timeout": "30"}
    stats = tr.send(act, str(payload), sha(payload), layout, {"reconnect_timeout": 300}, task_vars)
    assert stats["stored"] and stats["attempts"] == 1
    # a dropped chunk is resumed from what the node kept, never re-sent whole by ssh's own retry
    assert set(act._connection.seen) == {0} and act._connection.options["reconnection_retries"] == 2


def test_send_refuses_a_bad_host_variable_before_sending(tmp_path, payload):
    act = FakeAction(LocalNode())
    with pytest.raises(tr.TransferError, match="honeycomb_transfer_rate_limit"):
        tr.send(act, str(payload), sha(payload), StateLayout(str(tmp_path / "state")), {},
                {"honeycomb_transfer_rate_limit": "-1"})
    assert act.node.ops == []
