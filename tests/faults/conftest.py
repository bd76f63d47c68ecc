"""Fixtures of the fault-injection suite (docs/reliability.md).

Run: ``.venv/bin/python -m pytest tests/faults`` (the whole matrix, concurrency, hostile payloads through a
node, switch faults); ``make soak`` runs ``-k soak``. Needs root (simulated fleet).

``fault_fleet``: one simulated fleet of 4 nodes (one per phase of the matrix) for the whole session.
Each node's state dir is a small tmpfs of its own (mounted on the node's persistent directory on the
host, so it survives power cuts like a disk), which lets the disk-full fault fill exactly the state dir
and nothing else.
"""

from __future__ import annotations

import os
import random

import pytest
from hctest.faults import FaultFleet
from hctest.fleet import running_fleet, skip_unless_fleet_possible


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: the long randomized soak (make soak)")
    config.addinivalue_line("markers", "fleet: needs the simulated fleet (root, network namespaces)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "faults_full: only in the full fault run (make faults), not in make test's "
                                       "subset: what tests/integration already proves without the fleet")


def pytest_collection_modifyitems(config, items):
    """The soak runs only when asked for (``-k soak`` or ``-m soak``, as ``make soak`` does)."""
    asked = "soak" in (config.option.keyword or "") or "soak" in (config.option.markexpr or "")
    if asked:
        return
    skip = pytest.mark.skip(reason="the soak runs only with -k soak / -m soak (make soak)")
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fault_fleet():
    skip_unless_fleet_possible()
    with running_fleet(4, devices="none", restart_delay=1.0) as f:
        ff = FaultFleet(f)
        try:
            ff.mount_state_tmpfs([n["vsn"] for n in f.nodes])
            yield ff
        finally:
            ff.unmount_all()


@pytest.fixture(scope="session")
def rng():
    seed = int(os.environ.get("HC_FAULTS_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"fault-suite random seed: HC_FAULTS_SEED={seed}")
    return random.Random(seed)
