"""The uplink of one simulated node: a shaping relay between the node and the bastion (docs/simfleet.md).

    python -m hctools.simfleet.relay --listen DIR/nodes/<VSN>/uplink/bastion.sock \\
        --connect 127.0.0.1:<bastion port> --node-dir DIR/nodes/<VSN> [--seed N]

The node's tunnel ssh reaches the bastion only through this unix socket (its ProxyCommand connects to
it), so everything the tunnel carries, keepalives included, crosses the link the node's profile
describes (links.py, DIR/nodes/<VSN>/link.json): bytes are held back by the one-way latency and jitter
(never reordered), paced by a token bucket per direction, stopped during stalls, and every connection is
cut at a flap. SIGHUP re-reads link.json (`simfleet link`), which also applies to open connections.
Delivered bytes per direction, connections, flaps and stalls are counted in DIR/nodes/<VSN>/link-counters
(links.open_counters) the moment they happen. One process per node: `simfleet drop-tunnel` kills it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from . import links

CHUNK = 65536
MIN_BURST = 16384
SILENT_CAP = 600.0  # seconds a black-holed connection is kept at most when no end closes it


class Counters:
    def __init__(self, node_dir: Path):
        self.mm = links.open_counters(node_dir)
        self.offset = {k: i * 8 for i, k in enumerate(links.COUNTERS)}

    def add(self, key: str, n: int = 1) -> None:
        off = self.offset[key]
        (v,) = struct.unpack_from("<Q", self.mm, off)
        struct.pack_into("<Q", self.mm, off, v + n)


class Bucket:
    """Token bucket of one direction; the rate is read from the profile at every use (live changes)."""

    def __init__(self, link: Link, key: str):
        self.link, self.key = link, key
        self.tokens = 0.0
        self.stamp = time.monotonic()

    def rate(self) -> float:
        return self.link.prof[self.key] * 1000.0 / 8.0  # bytes/s; 0 = unlimited

    def burst(self) -> float:
        return max(MIN_BURST, self.rate() * 0.02)

    async def take(self, n: int) -> None:
        while True:
            rate = self.rate()
            if rate <= 0:
                return
            now = time.monotonic()
            self.tokens = min(self.burst(), self.tokens + (now - self.stamp) * rate)
            self.stamp = now
            need = min(n, self.burst())  # the rate may have changed since the piece was cut
            if self.tokens >= need:
                self.tokens -= n
                return
            await asyncio.sleep(min(1.0, (need - self.tokens) / rate))


class Link:
    """The node's link: its profile, its stall and flap schedule, its open connections."""

    def __init__(self, node_dir: Path, connect: tuple[str, int], seed: int):
        self.node_dir = node_dir
        self.connect = connect
        self.rng = random.Random(seed)
        self.prof = links.read_link(node_dir)
        self.counters = Counters(node_dir)
        self.stalled_until = 0.0
        self.down_until = 0.0
        self.conns: set[Conn] = set()
        self.changed = asyncio.Event()

    def reload(self) -> None:
        self.prof = links.read_link(self.node_dir)
        self.changed.set()

    async def _sleep_or_change(self, seconds: float) -> bool:
        """Sleep; True if the profile changed meanwhile (the caller starts over with the new one)."""
        self.changed.clear()
        try:
            await asyncio.wait_for(self.changed.wait(), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False

    async def stalls(self) -> None:
        while True:
            every = self.prof["stall_every"]
            if not every:
                await self._sleep_or_change(3600)
                continue
            if await self._sleep_or_change(self.rng.expovariate(1.0 / every)):
                continue
            length = self.rng.uniform(self.prof["stall_min"], self.prof["stall_max"])
            self.stalled_until = max(self.stalled_until, time.monotonic() + length)
            self.counters.add("stalls")

    async def flaps(self) -> None:
        while True:
            every, jitter = self.prof["flap_every"], self.prof["flap_jitter"]
            if not every:
                await self._sleep_or_change(3600)
                continue
            if await self._sleep_or_change(every + self.rng.uniform(-jitter, jitter)):
                continue
            self.flap()

    def flap(self) -> None:
        self.counters.add("flaps")
        self.down_until = time.monotonic() + self.prof["flap_down"]
        silent = bool(self.prof["flap_silent"])
        for c in list(self.conns):
            c.cut(silent)

    async def wait_unstalled(self) -> None:
        while True:
            left = self.stalled_until - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(left)

    async def handle(self, node_r: asyncio.StreamReader, node_w: asyncio.StreamWriter) -> None:
        if time.monotonic() < self.down_until:  # no link: the node's connection fails at once
            node_w.close()
            return
        try:
            bk_r, bk_w = await asyncio.open_connection(*self.connect)
        except OSError as e:
            print(f"relay: cannot reach the bastion at {self.connect}: {e}", file=sys.stderr, flush=True)
            node_w.close()
            return
        self.counters.add("connections")
        conn = Conn(self, node_r, node_w, bk_r, bk_w)
        self.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.conns.discard(conn)


class Conn:
    """One connection through the link: two pumps (up: node -> bastion, down: bastion -> node)."""

    def __init__(self, link: Link, node_r, node_w, bk_r, bk_w):
        self.link = link
        self.writers = (node_w, bk_w)
        self.silent = False
        self.done = asyncio.Event()
        self.pumps = [Pump(self, "up", node_r, bk_w, Bucket(link, "up_kbit")),
                      Pump(self, "down", bk_r, node_w, Bucket(link, "down_kbit"))]

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(t) for p in self.pumps for t in (p.read(), p.write())]
        waiter = asyncio.ensure_future(self.done.wait())
        pending = set(tasks) | {waiter}
        try:
            while pending and not self.done.is_set() and not all(p.finished for p in self.pumps):
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(not t.cancelled() and t.exception() for t in done):
                    break  # a reset or a broken pipe on either end ends the connection
        finally:
            for t in tasks + [waiter]:
                t.cancel()
            for w in self.writers:
                with contextlib.suppress(Exception):
                    w.close()

    def cut(self, silent: bool) -> None:
        """A flap: close both ends now, or black-hole them until an end gives up (keepalives)."""
        if not silent:
            self.done.set()
            return
        self.silent = True
        for p in self.pumps:
            p.discard()
        asyncio.get_running_loop().call_later(SILENT_CAP, self.done.set)

    def ended(self, direction: str) -> None:
        """The source of one direction closed. After a silent flap the bastion still waits for its
        keepalives to fail: only its own close ends the connection."""
        if self.silent and direction == "up":
            return
        if self.silent:
            self.done.set()


class Pump:
    def __init__(self, conn: Conn, direction: str, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                 bucket: Bucket):
        self.conn, self.direction, self.src, self.dst, self.bucket = conn, direction, src, dst, bucket
        self.link = conn.link
        self.queue: collections.deque = collections.deque()  # (due, bytes); b"" = end of stream
        self.queued = 0
        self.last_due = 0.0
        self.more = asyncio.Event()  # something was queued
        self.room = asyncio.Event()  # the queue has room again
        self.room.set()
        self.finished = False

    def discard(self) -> None:
        dropped = sum(len(d) for _, d in self.queue)
        self.queue.clear()
        self.queued = 0
        self.link.counters.add("dropped_" + self.direction, dropped)
        self.room.set()

    async def read(self) -> None:
        while True:
            await self.room.wait()
            data = await self.src.read(CHUNK)
            if self.conn.silent:  # black-holed: swallow what arrives
                if not data:
                    self.conn.ended(self.direction)
                    return
                self.link.counters.add("dropped_" + self.direction, len(data))
                continue
            prof = self.link.prof
            delay = max(0.0, prof["latency_ms"] + self.link.rng.uniform(-prof["jitter_ms"], prof["jitter_ms"]))
            due = max(self.last_due, time.monotonic() + delay / 1000.0)
            self.last_due = due
            self.queue.append((due, data))
            self.queued += len(data)
            if self.queued >= prof["buffer_kb"] * 1024:
                self.room.clear()
            self.more.set()
            if not data:
                return

    async def write(self) -> None:
        while True:
            while not self.queue:
                self.more.clear()
                await self.more.wait()
            due, data = self.queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.conn.silent or not self.queue:
                continue
            if not data:  # end of stream: half-close towards the destination
                self.queue.popleft()
                self.finished = True
                if self.dst.can_write_eof():
                    with contextlib.suppress(OSError):
                        self.dst.write_eof()
                return
            await self.link.wait_unstalled()
            piece = data[:int(self.bucket.burst())] if self.bucket.rate() > 0 else data
            await self.bucket.take(len(piece))
            if self.conn.silent or not self.queue:
                continue
            # counted as it is handed on: the other end may read it before this task runs again
            self.link.counters.add(self.direction, len(piece))
            self.dst.write(piece)
            await self.dst.drain()
            rest = data[len(piece):]
            if rest:
                self.queue[0] = (due, rest)
            else:
                self.queue.popleft()
            self.queued -= len(piece)
            if self.queued < self.link.prof["buffer_kb"] * 1024:
                self.room.set()


async def serve(listen: str, link: Link) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, link.reload)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    # bound and listening under a temporary name, then renamed: the path exists only once it accepts
    tmp = os.path.join(os.path.dirname(listen), f".relay{os.getpid()}")  # not longer than the real name
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(tmp)
    os.chmod(tmp, 0o600)
    sock.listen(64)
    os.replace(tmp, listen)
    server = await asyncio.start_unix_server(link.handle, sock=sock)
    bg = [asyncio.ensure_future(link.stalls()), asyncio.ensure_future(link.flaps())]
    print(f"relay: {listen} -> {link.connect[0]}:{link.connect[1]}, link {link.prof['name']}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        for t in bg:
            t.cancel()
        for c in list(link.conns):
            c.done.set()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hctools.simfleet.relay", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", required=True, help="unix socket the node connects to")
    p.add_argument("--connect", required=True, help="HOST:PORT of the bastion")
    p.add_argument("--node-dir", required=True, type=Path, help="the node's folder (link.json, link-counters)")
    p.add_argument("--seed", type=int, default=0, help="seed of the jitter, stall and flap draws")
    args = p.parse_args(argv)
    host, _, port = args.connect.rpartition(":")
    with contextlib.suppress(FileNotFoundError):
        Path(args.listen).unlink()

    async def _main() -> None:
        await serve(args.listen, Link(args.node_dir, (host, int(port)), args.seed))
    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
