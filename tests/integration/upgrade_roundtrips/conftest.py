"""Fixtures of the round-trip tests of waggle.honeycomb.upgrade: one real loopback sshd per module."""

from hctest.sshd import sshd_fixture


sshd = sshd_fixture()
