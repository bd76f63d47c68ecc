"""Fixtures of the round-trip tests of waggle.honeycomb.upgrade: one real loopback sshd per module."""

import pytest

from hctest import sshd as hcsshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    reason = hcsshd.skip_reason()
    if reason:
        pytest.skip(reason)
    server = hcsshd.Sshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()
