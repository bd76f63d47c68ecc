"""Shared helpers for waggle.honeycomb tests (loopback sshd, playbook runner, fleet fixtures)."""
