"""Link profiles of simulated nodes: what a node's uplink to the bastion looks like (docs/simfleet.md).

A profile names one-way latency and jitter, bandwidth in each direction, stalls (how TCP shows loss:
nothing arrives for a while, then everything does) and periodic tunnel flaps. `--link` at `simfleet up`
takes one profile (`lte`) or a mix (`lte:60%,lte-poor:20%,lan`: shares of the fleet, the rest to the
entries without a share) assigned deterministically by node index; any entry may override fields of its
profile (`lte/flap_every=60/flap_jitter=10`). The shaping relay (relay.py) reads a node's profile from
DIR/nodes/<VSN>/link.json and counts the bytes it carries in DIR/nodes/<VSN>/link-counters.

This module holds data and parsing only: no processes, no fleet state.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from pathlib import Path

# Directions: "down" = bastion -> node (payloads, firmware images), "up" = node -> bastion.
# Units: ms, kbit/s (0 = unlimited), s. Every field of every profile is listed in FIELDS.
FIELDS = {
    "latency_ms": "one-way delay added to every byte, each direction (RTT = 2x)",
    "jitter_ms": "uniform +- spread of that delay per chunk (bytes never overtake each other)",
    "down_kbit": "bastion -> node bandwidth, kbit/s (0: unlimited)",
    "up_kbit": "node -> bastion bandwidth, kbit/s (0: unlimited)",
    "buffer_kb": "bytes the link queues per direction before the sender is held back (modem buffer)",
    "stall_every": "mean seconds between stalls (exponential; 0: none)",
    "stall_min": "shortest stall, s",
    "stall_max": "longest stall, s",
    "flap_every": "seconds between tunnel flaps (0: none)",
    "flap_jitter": "uniform +- spread of flap_every, s",
    "flap_down": "seconds the link stays down after a flap (new connections are closed at once)",
    "flap_silent": "1: a flap black-holes the open connections (each end finds out by its keepalives, as after "
                   "an LTE re-attach with a new address); 0: closes them at once",
}

LAN = {"latency_ms": 0.0, "jitter_ms": 0.0, "down_kbit": 0.0, "up_kbit": 0.0, "buffer_kb": 256.0,
       "stall_every": 0.0, "stall_min": 0.0, "stall_max": 0.0,
       "flap_every": 0.0, "flap_jitter": 0.0, "flap_down": 0.0, "flap_silent": 1.0}

PROFILES: dict[str, dict[str, float]] = {
    # the host's loopback as it is: no delay, no cap, no stall (wired nodes; today's behaviour)
    "lan": dict(LAN),
    # a working LTE modem in a rural area (figures and sources: docs/simfleet.md, "Link profiles")
    "lte": dict(LAN, latency_ms=30.0, jitter_ms=10.0, down_kbit=12000.0, up_kbit=4000.0, buffer_kb=512.0,
                stall_every=300.0, stall_min=0.5, stall_max=2.0,
                flap_every=3600.0, flap_jitter=1200.0, flap_down=20.0),
    # the edge of coverage: one or two bars, a slow uplink, frequent stalls, a re-attach every ~15 min
    "lte-poor": dict(LAN, latency_ms=75.0, jitter_ms=40.0, down_kbit=1500.0, up_kbit=400.0, buffer_kb=256.0,
                     stall_every=45.0, stall_min=1.0, stall_max=4.0,
                     flap_every=900.0, flap_jitter=300.0, flap_down=30.0),
}

COUNTERS = ("up", "down", "connections", "flaps", "stalls", "dropped_up", "dropped_down")
COUNTER_FMT = "<8Q"  # COUNTERS and one spare slot, little-endian uint64 each
COUNTER_SIZE = struct.calcsize(COUNTER_FMT)
LINK_FILE = "link.json"
COUNTER_FILE = "link-counters"
BASE_FILE = "link-counters.base"


class LinkError(ValueError):
    """A link specification that cannot be used; str() says what is wrong and what to do."""


def _known() -> str:
    return ", ".join(PROFILES)


def parse_profile(spec: str) -> dict:
    """`NAME[/FIELD=VALUE...]` -> {"name": spec, field: value, ...} with every field of FIELDS."""
    spec = spec.strip()
    name, *overrides = spec.split("/")
    if name not in PROFILES:
        raise LinkError(f"unknown link profile {name!r}; use one of {_known()} (optionally with /FIELD=VALUE "
                        f"overrides, e.g. lte/flap_every=60)")
    prof = dict(PROFILES[name])
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in FIELDS:
            raise LinkError(f"bad override {item!r} in link {spec!r}: give FIELD=VALUE with FIELD one of "
                            f"{', '.join(FIELDS)}")
        try:
            v = float(value)
        except ValueError:
            raise LinkError(f"bad value in {item!r} of link {spec!r}: a number is needed") from None
        if v < 0 or not math.isfinite(v):
            raise LinkError(f"bad value in {item!r} of link {spec!r}: must be a finite number >= 0")
        prof[key] = v
    given = {item.partition("=")[0] for item in overrides}
    if "flap_every" in given and "flap_jitter" not in given:  # the profile's jitter may not fit a short period
        prof["flap_jitter"] = min(prof["flap_jitter"], prof["flap_every"] / 3)
    if prof["stall_max"] < prof["stall_min"]:
        raise LinkError(f"link {spec!r}: stall_max ({prof['stall_max']}) is below stall_min ({prof['stall_min']})")
    if prof["flap_every"] and prof["flap_jitter"] >= prof["flap_every"]:
        raise LinkError(f"link {spec!r}: flap_jitter must be smaller than flap_every")
    prof["name"] = spec
    return prof


def parse_mix(text: str) -> list[tuple[str, float | None]]:
    """`lte:60%,lte-poor:20%,lan` -> [("lte", 60.0), ("lte-poor", 20.0), ("lan", None)], each checked."""
    out: list[tuple[str, float | None]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise LinkError(f"empty entry in --link {text!r}; give PROFILE[:SHARE%] entries separated by commas")
        spec, sep, share = part.rpartition(":") if ":" in part else (part, "", "")
        pct: float | None = None
        if sep:
            try:
                pct = float(share.rstrip("%"))
            except ValueError:
                raise LinkError(f"bad share {share!r} in --link entry {part!r}; write e.g. lte:60%") from None
            if not 0 <= pct <= 100:
                raise LinkError(f"share {share!r} in --link entry {part!r} must be between 0% and 100%")
        parse_profile(spec)  # checks the name and overrides
        out.append((spec, pct))
    given = sum(p for _, p in out if p is not None)
    if given > 100 + 1e-9:
        raise LinkError(f"the shares in --link {text!r} add up to {given:g}%, more than 100%")
    if given < 100 - 1e-9 and all(p is not None for _, p in out):
        raise LinkError(f"the shares in --link {text!r} add up to {given:g}%; add an entry without a share "
                        "(e.g. ,lan) to take the rest")
    return out


def assign(text: str, count: int) -> list[str]:
    """The link of nodes 1..count for a --link value: deterministic by node index.

    Shares become node counts by largest remainder (ties to the earlier entry); entries without a share
    split the rest evenly. Nodes are dealt round-robin in proportion (a smooth weighted interleave), so
    W001... of a `lte:50%,lan` fleet alternate and any prefix of the fleet has about the mix's shares."""
    mix = parse_mix(text)
    given = sum(p for _, p in mix if p is not None)
    free = [i for i, (_, p) in enumerate(mix) if p is None]
    weights = [p if p is not None else (100 - given) / len(free) for _, p in mix]
    exact = [w * count / 100 for w in weights]
    counts = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(mix)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:count - sum(counts)]:
        counts[i] += 1
    # smooth weighted round-robin over the counts (like nginx's): deterministic, well spread
    current = [0] * len(mix)
    out = []
    for _ in range(count):
        for i in range(len(mix)):
            current[i] += counts[i]
        best = max(range(len(mix)), key=lambda i: (current[i], -i))
        current[best] -= count
        out.append(mix[best][0])
    return out


# ---------------------------------------------------------------------- files of a node's link
def write_link(node_dir: Path, spec: str) -> dict:
    prof = parse_profile(spec)
    path = node_dir / LINK_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(prof, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return prof


def read_link(node_dir: Path) -> dict:
    try:
        return json.loads((node_dir / LINK_FILE).read_text())
    except (OSError, ValueError):
        return parse_profile("lan")


def open_counters(node_dir: Path) -> mmap.mmap:
    """The node's counters, shared memory backed by a file: exact at every moment, kept across relay
    restarts and a SIGKILL (the page cache holds what was written)."""
    path = node_dir / COUNTER_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size < COUNTER_SIZE:
            os.ftruncate(fd, COUNTER_SIZE)
        return mmap.mmap(fd, COUNTER_SIZE)
    finally:
        os.close(fd)


def _raw(node_dir: Path) -> dict[str, int]:
    try:
        data = (node_dir / COUNTER_FILE).read_bytes()[:COUNTER_SIZE]
    except OSError:
        data = b""
    data = data.ljust(COUNTER_SIZE, b"\0")
    return dict(zip(COUNTERS, struct.unpack(COUNTER_FMT, data)))


def counters(node_dir: Path) -> dict[str, int]:
    """The node's counters since the last reset (the relay's totals minus the saved base)."""
    raw = _raw(node_dir)
    try:
        base = json.loads((node_dir / BASE_FILE).read_text())
    except (OSError, ValueError):
        base = {}
    return {k: raw[k] - int(base.get(k, 0)) for k in COUNTERS}


def reset_counters(node_dir: Path) -> None:
    """Start counting from zero: the totals stay monotonic (only the relay writes them), the base moves."""
    path = node_dir / BASE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_raw(node_dir), sort_keys=True) + "\n")
    os.replace(tmp, path)
