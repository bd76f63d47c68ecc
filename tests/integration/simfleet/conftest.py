"""Fixtures for the simulated-fleet tests (root, network namespaces)."""

import pytest
from hctest.fleet import running_fleet, skip_unless_fleet_possible


@pytest.fixture(scope="module")
def fleet3():
    """Three nodes without device simulators, shared by the tests of a module."""
    skip_unless_fleet_possible()
    with running_fleet(3, devices="none", restart_delay=1.0) as f:
        yield f
