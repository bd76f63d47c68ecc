"""Helpers of the sanity_check tests (unit and integration)."""

import os
import pathlib


def write_proc(root, pid, argv):
    """Add a fake /proc/<pid>/cmdline under ``root``."""
    folder = pathlib.Path(root) / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return str(root)


def pids_alive(pids):
    """The pids of ``pids`` that still run (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        try:
            with open("/proc/%d/stat" % pid) as handle:
                if handle.read().split(") ", 1)[1].startswith("Z"):
                    continue
        except OSError:
            continue
        alive.append(pid)
    return alive


def gate_playbook(marker_dest, mode="0600", upgrade_tasks="", after=""):
    """Playbook text of the sanity gate around a stand-in upgrade: the pre-check play on `nodes`, then an
    upgrade play on `nodes:!sanity_blocked` whose first task writes "upgraded" to `marker_dest` (a
    template string), followed by the YAML task text `upgrade_tasks` and the YAML play text `after`."""
    return """
- name: Pre-check
  hosts: nodes
  gather_facts: false
  roles:
    - role: waggle.honeycomb.sanity
      vars:
        sanity_phase: pre

- name: Upgrade (stand-in for the upgrade playbook)
  hosts: nodes:!sanity_blocked
  gather_facts: false
  tasks:
    - name: Stand-in upgrade
      ansible.builtin.copy:
        content: "upgraded\\n"
        dest: %s
        mode: "%s"
%s%s""" % (marker_dest, mode, upgrade_tasks, after)
