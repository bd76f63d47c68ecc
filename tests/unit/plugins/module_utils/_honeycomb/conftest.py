"""Shared fixtures of the upgrade-engine unit tests."""

import subprocess

import pytest


@pytest.fixture
def live():
    """The pid of a process that stays alive for the test (a lock or partial-file owner that still runs)."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc.pid
    proc.kill()
    proc.wait()
