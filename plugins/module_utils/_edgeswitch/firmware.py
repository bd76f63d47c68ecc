# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EdgeSwitch firmware upgrade through the switch's two image slots (active and backup).

Plain functions and one class, so the module waggle.honeycomb.edgeswitch_firmware and a payload's
node-side entry point call the same code:

    result = upgrade_firmware(params)     # params: the module's options; raises FirmwareFailed

Flow: read the running version (equal to the wanted one: nothing to do); save the running config
(`write memory`) and keep a copy on the node; copy the image into the backup slot through a
short-lived TFTP/FTP server on the node; check the slot; `boot system backup`; reload; wait; read
the running version and the config again. A switch that cannot start the new image comes back on the
previous one: that is reported as a failure saying so."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import re
import shutil
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import config as cfg
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.cli import connection_argument_spec
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.engine import Engine, write_private
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import (
    ConnectError, ConnectionLost, EdgeSwitchError, TransferError)
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.lock import lock_argument_spec
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.parsers import (
    parse_bootvar, parse_show_version)

# Firmware file names seen in the field: ESWH.v1.9.2.5322630.stk, ES-eswh.v1.7.4.5075842.stk
IMAGE_NAME_VERSION = re.compile(r"(?i)\.v(\d+\.\d+\.\d+(?:\.\d+)?)\.stk$")


def firmware_options():
    """Options of edgeswitch_firmware (and of the payload handler) besides the CLI connection's."""
    return dict(
        image=dict(type="path", required=True),
        version=dict(type="str"),
        checksum=dict(type="str"),
        transfer=dict(type="str", choices=["tftp", "ftp"], default="tftp"),
        server_address=dict(type="str"),
        ftp_port=dict(type="int", default=21),
        tftp_port=dict(type="int", default=69),
        transfer_timeout=dict(type="int", default=900),
        reload_timeout=dict(type="int", default=900),
        backup_dir=dict(type="path", default="/var/lib/honeycomb/edgeswitch"),
        **lock_argument_spec()
    )


def firmware_argument_spec():
    return dict(connection_argument_spec(), **firmware_options())


def option_defaults():
    return dict((k, v["default"]) for k, v in firmware_argument_spec().items() if "default" in v)


class FirmwareFailed(EdgeSwitchError):
    """The upgrade failed; .result says which firmware the switch runs and where the config backup is."""

    def __init__(self, message, result):
        EdgeSwitchError.__init__(self, message)
        self.result = result


def version_from_image_name(path):
    """`.../ESWH.v1.9.2.5322630.stk` -> `1.9.2.5322630`; None when the name carries no version."""
    m = IMAGE_NAME_VERSION.search(os.path.basename(path or ""))
    return m.group(1) if m else None


def same_version(a, b):
    """Firmware 1.9 prints `1.9.2` for image 1.9.2.5322630: versions match when equal or when one is the
    other plus more dotted parts."""
    if not a or not b:
        return False
    a, b = a.strip(), b.strip()
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_image(path, checksum=None):
    """None when the image file is usable, else a sentence saying what is wrong."""
    if not path or not os.path.isfile(path):
        return "the firmware image %s does not exist on the node: copy it there first" % path
    if not os.access(path, os.R_OK):
        return "the firmware image %s is not readable by the module's user" % path
    if os.path.getsize(path) == 0:
        return "the firmware image %s is empty" % path
    if checksum:
        want = checksum.split(":", 1)[-1].strip().lower()
        got = sha256_file(path)
        if got != want:
            return "the firmware image %s has sha256 %s, expected %s: the file is damaged or not the intended one" % (
                path, got, want)
    return None


class FirmwareUpgrade(object):
    def __init__(self, params, log=None):
        p = option_defaults()
        p.update(dict((k, v) for k, v in params.items() if v is not None))
        self.p = p
        self.log = log or (lambda msg: None)
        self.engine = Engine(p, log=self.log, what="edgeswitch_firmware %s" % os.path.basename(p.get("image") or ""))
        self.target = p.get("version") or version_from_image_name(p.get("image"))

    # ---- reading the switch ---------------------------------------------------------------------
    def cli(self):
        return self.engine.connect()

    def running_version(self):
        return parse_show_version(self.cli().command("show version")).get("software_version")

    def bootvar(self):
        return parse_bootvar(self.cli().command("show bootvar"))

    def save_running_config(self):
        self.cli().command("write memory", answers=[(r"want to save", "y")], timeout=120)

    def config_backup_path(self):
        return os.path.join(self.p["backup_dir"], "before-firmware-%s-%s.cfg" % (
            self.p["host"], time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())))

    # ---- the flow -------------------------------------------------------------------------------
    def run(self):
        p = self.p
        if not self.target:
            raise EdgeSwitchError("cannot tell the firmware version of %s from its name: set version (e.g. "
                                  "1.9.2.5322630)" % p.get("image"))
        current = self.running_version()
        result = {"changed": False, "version": current, "previous_version": current,
                  "target_version": self.target, "firmware": "previous", "reloaded": False,
                  "diff": {"before": "firmware: %s\n" % current, "after": "firmware: %s\n" % current}}
        if same_version(current, self.target):
            return result
        problem = check_image(p.get("image"), p.get("checksum"))
        if problem:
            raise EdgeSwitchError(problem)
        result["changed"] = True
        result["diff"]["after"] = "firmware: %s\n" % self.target
        if p.get("check_mode"):
            return result

        self.log("saving the running config of %s" % p["host"])
        self.save_running_config()
        config_before = self.engine.fetch()
        backup = self.config_backup_path()
        write_private(backup, config_before)
        result["config_backup_path"] = backup

        self.copy_image(current, result)
        slots = self.bootvar()
        result["bootvar"] = slots
        if not same_version(slots.get("backup"), self.target):
            raise FirmwareFailed("the backup slot of %s holds %s after the copy, not %s: the switch keeps running "
                                 "and booting %s" % (p["host"], slots.get("backup"), self.target, current), result)
        self.cli().command("boot system backup")
        slots = self.bootvar()
        if slots.get("next") != "backup":
            raise FirmwareFailed("boot system backup did not select the new image on %s (show bootvar: %s); the "
                                 "switch still boots %s" % (p["host"], slots, current), result)

        self.log("reloading %s into %s" % (p["host"], self.target))
        try:
            self.engine.reload_and_wait()
        except ConnectError as exc:
            result.update(firmware="unknown (the switch is unreachable)", version=None)
            raise FirmwareFailed("%s after reloading into firmware %s. It may still be starting; a switch that "
                                 "cannot start the new image falls back to %s. Check it (edgeswitch_command, or "
                                 "the node's serial console) and run this again: a switch already on %s is left "
                                 "alone. The config saved before the upgrade is on the node at %s"
                                 % (exc, self.target, current, self.target, backup), result)
        result["reloaded"] = True
        now = self.running_version()
        result["version"] = now
        result["bootvar"] = self.bootvar()
        config_after = self.engine.fetch()
        config_ok = cfg.same_config(config_after, config_before)
        if same_version(now, self.target):
            result["firmware"] = "new"
            if not config_ok:
                self.restore_config(config_before, config_after, backup, result)
            return result
        result["firmware"] = "previous" if same_version(now, current) else "unknown"
        if result["firmware"] == "previous":
            raise FirmwareFailed("%s did not start firmware %s: it came back on its previous firmware %s (the new "
                                 "image is in the backup slot and failed to boot). The switch keeps its config "
                                 "(%s). Check the image file; the config saved before is on the node at %s"
                                 % (p["host"], self.target, now, "verified" if config_ok else "which differs from "
                                    "the saved one", backup), result)
        raise FirmwareFailed("%s runs firmware %s after the reload, neither %s nor the previous %s; the config "
                             "saved before is on the node at %s" % (p["host"], now, self.target, current, backup),
                             result)

    def restore_config(self, saved, found, backup, result):
        """The switch came up on the new firmware with a startup-config other than the one saved before:
        push the saved one back, reload, verify (a switch is never left without a known config)."""
        p = self.p
        difference = Engine._first_difference(saved, found, ())
        self.log("the startup-config changed across the upgrade (%s): restoring the saved one" % difference)
        try:
            self.engine.push(saved)
            self.engine.reload_and_wait()
            again = self.engine.fetch()
            if not cfg.same_config(again, saved):
                raise EdgeSwitchError("the restored startup-config differs again (%s)"
                                      % Engine._first_difference(saved, again, ()))
        except EdgeSwitchError as exc:
            result["config_restored"] = False
            message = ("%s runs firmware %s, but its startup-config changed across the upgrade (%s) and restoring "
                       "the saved one failed: %s. The saved config is on the node at %s: deploy it with "
                       "edgeswitch_config" % (p["host"], result["version"], difference, exc, backup))
            raise FirmwareFailed(message, result)
        result["config_restored"] = True
        result["warnings"] = ["the startup-config changed across the upgrade (%s); the config saved before was "
                              "pushed back and verified" % difference]

    def copy_image(self, current, result):
        """copy <url> backup through a short-lived server on the node. A failure leaves the switch running
        and booting `current`: checked, then reported."""
        p = self.p
        try:
            with self.engine.server() as srv:
                name = srv.new_name(".stk")
                shutil.copyfile(p["image"], srv.path(name))
                self.log("copying %s into the backup slot of %s" % (p["image"], p["host"]))
                self.cli().copy(srv.url(name), "backup", srv.password, timeout=p["transfer_timeout"])
        except (TransferError, ConnectionLost) as exc:
            try:
                self.engine.reconnect(time.time() + min(120, p["reload_timeout"]))
                slots = self.bootvar()
                if slots.get("next") == "backup":  # never leave a half-written slot selected for boot
                    self.cli().command("boot system active")
                    slots = self.bootvar()
                result["bootvar"] = slots
                state = "still runs %s and boots it (show bootvar: active %s, backup %s)" % (
                    current, slots.get("active"), slots.get("backup"))
            except EdgeSwitchError as exc2:
                state = "could not be read afterwards (%s); it was running %s" % (exc2, current)
            raise FirmwareFailed("copying the firmware image to the backup slot of %s failed: %s. Nothing was "
                                 "activated: the switch %s. Run this again to retry"
                                 % (p["host"], exc, state), result)

    def close(self):
        self.engine.disconnect()


def upgrade_firmware(params, log=None):
    """Run one upgrade; returns the result dict, raises FirmwareFailed (with .result) or EdgeSwitchError."""
    upgrade = FirmwareUpgrade(params, log=log)
    try:
        return upgrade.run()
    finally:
        upgrade.close()
