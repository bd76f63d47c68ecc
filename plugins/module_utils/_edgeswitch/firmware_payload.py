# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``hc-peripheral switch-firmware <phase>``: EdgeSwitch firmware as a three-phase upgrade payload.

Register it with one line in the entry point's handler registry:
``"switch-firmware": _MU + "_edgeswitch.firmware_payload",``

Parameters (``HC_PARAM_*``, see examples/payloads/edgeswitch-firmware/honeycomb.yml): host (10.31.81.2),
port, connection (ssh), username (ubnt), password (pass it as a secret parameter) or password_file,
enable_password, image (path in the payload, default the only ``firmware/*.stk``), version (default
from the image name), checksum, transfer (tftp), server_address, transfer_timeout, reload_timeout,
timeout, host_key_checking, known_hosts_file, lock_dir and lock_timeout (the per-switch lock it shares
with edgeswitch_config and edgeswitch_firmware, held from the first CLI session of a phase to its end).

state    needed / already_applied (the switch runs the image's version) / retry_later (switch
         unreachable) / failed (bad parameters, bad credentials, missing image)
install  the upgrade of edgeswitch_firmware (config saved into the job directory, image into the
         backup slot, boot system backup, reload, version and config checked); a switch that falls
         back to its previous firmware is a failure
verify   the switch runs the image's version and holds the config saved before the upgrade
rollback the switch keeps the previous firmware in its backup slot: boot it again (boot system
         backup, reload, check); nothing to do when it already runs it
Node side, Python 3.6+; needs pexpect and tftpy (or pyftpdlib for transfer ftp).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import config as cfg
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import firmware as fw
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import requirements
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import (
    AuthError, ConnectError, ConnectionLost, EdgeSwitchError)
from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import HandlerError
from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import params as params_

RECORD_NAME = "switch-firmware.json"
INT_PARAMS = ("port", "timeout", "transfer_timeout", "reload_timeout", "ftp_port", "tftp_port", "lock_timeout")


def firmware_params(params):
    """The payload's string parameters -> options of edgeswitch_firmware (defaults filled in)."""
    p = fw.option_defaults()
    for key in fw.firmware_argument_spec():
        value = params.get(key)
        if value in (None, ""):
            continue
        if key in INT_PARAMS:
            try:
                value = int(value)
            except ValueError:
                raise HandlerError("parameter %s=%r is not a whole number" % (key, value))
        elif key == "legacy_algorithms":
            value = str(value).lower() in ("1", "true", "yes")
        p[key] = value
    p["password"] = params_.secret(params, "switch")
    p["image"] = params_.image(params, ".stk")
    p["backup_dir"] = params.get("job_dir") or p["backup_dir"]
    return p


def _record_path(params):
    return os.path.join(params.get("job_dir") or ".", RECORD_NAME)


def handle(phase, params, log):
    try:
        p = firmware_params(params)
        missing = requirements.missing_library(p["transfer"])
        if missing:
            return {"status": "failed", "msg": "the node's python3 lacks %s%s (the waggle.honeycomb.node_prereqs "
                                               "role installs it): %s" % (missing[0], missing[1], missing[2])}
        if phase == "state":
            return _state(p, log)
        if phase == "install":
            return _install(p, params, log)
        if phase == "verify":
            return _verify(p, params, log)
        return _rollback(p, params, log)
    except HandlerError as exc:
        return {"status": "failed", "msg": str(exc)}
    except fw.FirmwareFailed as exc:
        return dict(_facts(exc.result), status="failed", msg=str(exc))
    except AuthError as exc:
        return {"status": "failed", "msg": str(exc)}
    except (ConnectError, ConnectionLost) as exc:
        if phase == "state":
            return {"status": "retry_later", "msg": str(exc)}
        return {"status": "failed", "msg": str(exc)}
    except EdgeSwitchError as exc:
        return {"status": "failed", "msg": str(exc)}


def _facts(result):
    keys = ("version", "previous_version", "target_version", "firmware", "config_backup_path", "reloaded")
    return dict((k, result[k]) for k in keys if k in result)


def _state(p, log):
    upgrade = fw.FirmwareUpgrade(dict(p, check_mode=True), log=log)
    try:
        result = upgrade.run()
    finally:
        upgrade.close()
    if result["changed"]:
        return dict(_facts(result), status="needed", msg="the switch runs %s, image %s: upgrade needed"
                    % (result["version"], upgrade.target))
    return dict(_facts(result), status="already_applied", msg="the switch already runs %s" % result["version"])


def _install(p, params, log):
    upgrade = fw.FirmwareUpgrade(p, log=log)
    try:
        previous = upgrade.running_version()
        with open(_record_path(params), "w") as handle:   # for verify and rollback
            json.dump({"previous_version": previous, "target_version": upgrade.target}, handle)
        result = upgrade.run()
    finally:
        upgrade.close()
    if result.get("config_backup_path"):
        with open(_record_path(params), "w") as handle:
            json.dump({"previous_version": previous, "target_version": upgrade.target,
                       "config_backup_path": result["config_backup_path"]}, handle)
    msg = ("the switch runs %s (was %s)" % (result["version"], previous)) if result["changed"] else \
        "the switch already ran %s" % result["version"]
    return dict(_facts(result), status="ok", msg=msg)


def _record(params):
    try:
        with open(_record_path(params)) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return {}


def _verify(p, params, log):
    upgrade = fw.FirmwareUpgrade(p, log=log)
    try:
        now = upgrade.running_version()
        if not fw.same_version(now, upgrade.target):
            return {"status": "failed", "version": now, "msg": "the switch runs %s, expected %s" % (now, upgrade.target)}
        saved = _record(params).get("config_backup_path")
        if saved and os.path.exists(saved):
            with open(saved) as handle:
                before = handle.read()
            if not cfg.same_config(upgrade.engine.fetch(), before):
                return {"status": "failed", "version": now,
                        "msg": "the switch runs %s but its startup-config differs from the one saved before the "
                               "upgrade (%s)" % (now, saved)}
        return {"status": "ok", "version": now, "msg": "the switch runs %s with its configuration" % now}
    finally:
        upgrade.close()


def _rollback(p, params, log):
    previous = _record(params).get("previous_version")
    if not previous:
        return {"status": "ok", "msg": "install recorded no previous firmware: nothing to roll back"}
    upgrade = fw.FirmwareUpgrade(p, log=log)
    try:
        now = upgrade.running_version()
        if fw.same_version(now, previous):
            return {"status": "ok", "version": now, "msg": "the switch runs its previous firmware %s" % now}
        slots = upgrade.bootvar()
        if not fw.same_version(slots.get("backup"), previous):
            return {"status": "failed", "version": now,
                    "msg": "the switch runs %s and its backup slot holds %s, not the previous firmware %s: "
                           "install it as its own payload" % (now, slots.get("backup"), previous)}
        log("booting the previous firmware %s from the backup slot" % previous)
        upgrade.cli().command("boot system backup")
        upgrade.engine.reload_and_wait()
        now = upgrade.running_version()
        if not fw.same_version(now, previous):
            return {"status": "failed", "version": now,
                    "msg": "after booting the backup slot the switch runs %s, not %s" % (now, previous)}
        return {"status": "ok", "version": now, "msg": "the switch runs its previous firmware %s again" % now}
    finally:
        upgrade.close()
