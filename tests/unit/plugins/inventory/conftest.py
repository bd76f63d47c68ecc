"""Shared fixtures of the beekeeper inventory plugin's unit tests."""

import os

import pytest


class Display:
    """Stands in for the plugin's display: collects warnings and -vvv messages, ignores the rest."""

    def __init__(self):
        self.warnings = []
        self.messages = []

    def warning(self, msg, *args, **kwargs):
        self.warnings.append(msg)

    def vvv(self, msg, *args, **kwargs):
        self.messages.append(msg)

    def __getattr__(self, name):
        return lambda *a, **k: None


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    # the plugin reads WAGGLE_* variables (url, path, bastion, token); the caller's must not leak in
    for key in list(os.environ):
        if key.startswith('WAGGLE_'):
            monkeypatch.delenv(key)


@pytest.fixture
def new_display():
    """A fresh recording Display for each plugin instance (``plugin.display = new_display()``)."""
    return Display
