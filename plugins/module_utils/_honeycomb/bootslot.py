# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's boot: its boot id and the boot slot it runs from (runs on nodes, Python 3.6+, stdlib only).

A Wild Sage nxcore boots from slot 0 (eMMC, "Normal": ``/var`` persists on the NVMe overlay) or slot 1 (the SD
card "Recovery" copy the network watchdog switches to after repeated failures: a factory-old root with a tmpfs
overlay, so ``/var/lib/honeycomb`` is empty there at every boot). ``nvbootctrl get-current-slot`` prints the
slot's number. See docs/devices/node.md, "Boot slots".

:func:`probe` reads both. A node without the command (another platform, a test host) has an *unknown* slot,
which is not an error; the engine then never refuses and never compares slots.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import shlex
import subprocess

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
DEFAULT_SLOT_COMMAND = "nvbootctrl get-current-slot"
"""Prints the current boot slot's number (``0`` or ``1``) on NVIDIA L4T (R32) nodes."""
DEFAULT_RECOVERY_SLOT = 1
"""The SD card "Recovery" slot of Wild Sage nodes (slot 0 is the eMMC "Normal" one)."""
SLOT_TIMEOUT = 15
"""Seconds the slot command may take."""
_SLOT_RE = re.compile(r"^\s*(\d+)\s*$")


def read_boot_id(path=BOOT_ID_PATH):
    """The kernel's boot id (a new one at every boot), or None when it cannot be read."""
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except (IOError, OSError):
        return None
    return value or None


def split_command(command):
    """``command`` (a string, split like a shell does, or a list) as an argv; [] for none/empty.
    ValueError for a string that cannot be split (unbalanced quotes)."""
    if command is None:
        return []
    if isinstance(command, (list, tuple)):
        return [str(part) for part in command]
    return shlex.split(str(command))


def _which(name, path):
    if os.sep in name:
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for folder in (path or "").split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def current_slot(command=DEFAULT_SLOT_COMMAND, timeout=SLOT_TIMEOUT):
    """Run the slot command. Returns (slot, error): the slot as an int, or None with why it is unknown
    (``error`` None when the command is simply absent or disabled: an unknown slot, not a failure)."""
    try:
        argv = split_command(command)
    except ValueError as exc:
        return None, "boot_slot_command %r cannot be split into words (%s); fix the option" % (command, exc)
    if not argv:
        return None, None
    path = os.environ.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if _which(argv[0], path + os.pathsep + "/usr/sbin:/sbin") is None:
        return None, None
    try:
        # Not AnsibleModule.run_command: the engine and upgrade_info call this without an AnsibleModule object.
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                                stdin=subprocess.DEVNULL, close_fds=True)
    except (IOError, OSError) as exc:
        return None, "could not run %s: %s" % (argv[0], exc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, "%s did not answer within %d s" % (" ".join(argv), timeout)
    out = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        said = (err.decode("utf-8", "replace").strip() or out.strip())[:200]
        return None, "%s exited %d%s" % (" ".join(argv), proc.returncode, (": " + said) if said else "")
    match = _SLOT_RE.match(out)
    if match is None:
        return None, "%s printed %r, not a slot number" % (" ".join(argv), out.strip()[:80])
    return int(match.group(1)), None


def probe(command=DEFAULT_SLOT_COMMAND, recovery_slot=DEFAULT_RECOVERY_SLOT, boot_id_path=BOOT_ID_PATH):
    """The node's boot as the engine records it: ``boot_id``, ``slot`` (int or None), ``slot_known``,
    ``recovery`` (True/False, None when the slot is unknown), ``recovery_slot``, ``slot_command`` and
    ``slot_error`` (why a present command gave no slot, else None)."""
    slot, error = current_slot(command)
    recovery = None
    if slot is not None and recovery_slot is not None:
        recovery = slot == int(recovery_slot)
    return {"boot_id": read_boot_id(boot_id_path), "slot": slot, "slot_known": slot is not None,
            "recovery": recovery, "recovery_slot": recovery_slot, "slot_command": command or "",
            "slot_error": error}


def describe_slot(slot, recovery_slot=DEFAULT_RECOVERY_SLOT):
    """``slot 1 (recovery)``, ``slot 0`` or ``an unknown slot``, for messages."""
    if slot is None:
        return "an unknown slot"
    return "slot %s%s" % (slot, " (recovery)" if recovery_slot is not None and slot == recovery_slot else "")


def slot_change(started, now):
    """None when the boot slot of ``started`` (a :func:`probe` result recorded with a job) and ``now``
    agree or either is unknown; else the pair (slot then, slot now)."""
    then_slot = (started or {}).get("slot")
    now_slot = (now or {}).get("slot")
    if then_slot is None or now_slot is None or then_slot == now_slot:
        return None
    return then_slot, now_slot
