"""Firmware image slots: `active` (running) and `backup`, the image chosen for the next boot, and the
simulator's image file format.

A simulated image (`.stk`) starts with one header line, ``SWITCHSIM-STK version=<v> [bootable=no]``,
padded to any size; ``make_image()`` builds one. The switch checks the header when the copy ends
("File contents are valid"); an image with ``bootable=no`` passes that check but fails to boot, and
the switch then comes back on the image it ran before. Slots persist in ``<state-dir>/images.json``.
"""

import json
import os
import re

from .util import atomic_write

MAGIC = b"SWITCHSIM-STK"
DEFAULT_ACTIVE = "1.9.2.5322630"
DEFAULT_BACKUP = "1.9.1.5145127"
SLOTS = ("active", "backup")


def make_image(version, bootable=True, size=64 * 1024):
    """Bytes of a simulated firmware image carrying `version`."""
    head = b"%s version=%s%s\n" % (MAGIC, version.encode("ascii"), b"" if bootable else b" bootable=no")
    filler = (b"EdgeSwitch simulated firmware image\n" * (size // 36 + 1))
    return head + filler[: max(0, size - len(head))]


def read_image(data):
    """{'version', 'bootable'} from an image's header, None when it is not a valid image."""
    first = data[:200].split(b"\n", 1)[0]
    m = re.match(br"^SWITCHSIM-STK version=([0-9][0-9A-Za-z.\-]*)( bootable=no)?$", first)
    if not m:
        return None
    return {"version": m.group(1).decode("ascii"), "bootable": m.group(2) is None}


def display_version(version, style="auto"):
    """What show version prints: firmware 1.9 and later print `1.9.2` for image 1.9.2.5322630,
    earlier ones the full build (`1.7.4.5075842`). style: auto | full | short."""
    if style == "full" or (style != "short" and not at_least_1_9(version)):
        return version
    return ".".join(version.split(".")[:3])


def at_least_1_9(version):
    try:
        parts = version.split(".")
        return (int(parts[0]), int(parts[1])) >= (1, 9)
    except (ValueError, IndexError):
        return False


class ImageSlots:
    """images.json: {"active": {"version", "bootable"}, "backup": {...} or null, "next": "active"|"backup",
    "last_boot": text}."""

    def __init__(self, state_dir, active=DEFAULT_ACTIVE, backup=DEFAULT_BACKUP):
        self.path = os.path.join(state_dir, "images.json")
        if not os.path.exists(self.path):
            self._write({"active": {"version": active, "bootable": True},
                         "backup": {"version": backup, "bootable": True} if backup else None,
                         "next": "active", "last_boot": "normal"})

    def _write(self, data):
        atomic_write(self.path, json.dumps(data, indent=2) + "\n", mode=0o644)

    def read(self):
        with open(self.path) as handle:
            return json.load(handle)

    def version(self, slot="active"):
        image = self.read().get(slot)
        return image["version"] if image else None

    def store_backup(self, info):
        """A downloaded image replaces the backup slot."""
        data = self.read()
        data["backup"] = {"version": info["version"], "bootable": info["bootable"]}
        self._write(data)

    def store_active(self, info):
        """A downloaded image overwrites the running image's slot (it runs from the next boot on)."""
        data = self.read()
        data["active"] = {"version": info["version"], "bootable": info["bootable"]}
        self._write(data)

    def set_next(self, slot):
        data = self.read()
        if slot not in SLOTS or not data.get(slot):
            return False
        data["next"] = slot
        self._write(data)
        return True

    def boot(self):
        """At boot: start the chosen image; the started image is `active` from then on. A chosen backup
        image that does not boot leaves the previous image running (and still `active`)."""
        data = self.read()
        if data.get("next") == "backup" and data.get("backup"):
            if data["backup"].get("bootable", True):
                data["active"], data["backup"] = data["backup"], data["active"]
                data["last_boot"] = "switched to %s" % data["active"]["version"]
            else:
                data["last_boot"] = "image %s failed to boot; fell back to %s" % (
                    data["backup"]["version"], data["active"]["version"])
        else:
            data["last_boot"] = "normal"
        data["next"] = "active"
        self._write(data)
        return data
