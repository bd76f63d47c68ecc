# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``hc-peripheral camera-firmware <phase>``: camera firmware as a three-phase upgrade payload.

Parameters (``HC_PARAM_*``, see examples/payloads/camera-firmware/honeycomb.yml):
host (10.31.81.10), port (80), username (admin), password (pass it as a secret parameter) or
password_file, image (path in the payload, default the only ``firmware/*.img``), image_model,
image_version, digest_algorithm (auto), timeout, reboot_timeout (600), poll_interval (5).

state   needed / already_applied (the camera runs the image's version) / retry_later (camera
        unreachable) / failed (wrong model, bad credentials, bad parameters)
install backs up the configuration into the job directory, uploads, waits for the reboot,
        checks version and presets (restoring the configuration on failure)
verify  FirmwareVersion is the image's and the presets are those install found
rollback restores the configuration backed up by install (a firmware downgrade needs the old image)
Node side, Python 3.6+; needs requests.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import firmware as fw
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import CameraError, CameraUnreachable
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.sunapi import SunapiDriver, requests
from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import HandlerError
from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import params as params_

BACKUP_NAME = "camera-config.bin"
PRESETS_NAME = "camera-presets.json"


def _num(params, key, default, cast=float):
    raw = params.get(key)
    if raw in (None, ""):
        return default
    try:
        return cast(raw)
    except ValueError:
        raise HandlerError("parameter %s=%r is not a number" % (key, raw))


def _driver(params):
    if requests is None:
        raise HandlerError("the camera-firmware handler needs python3-requests on the node (node_prereqs installs it)")
    return SunapiDriver(params.get("host") or "10.31.81.10", port=_num(params, "port", 80, int),
                        username=params.get("username") or os.environ.get("WAGGLE_CAMERA_ADMIN") or "admin",
                        password=params_.secret(params, "camera", env="WAGGLE_CAMERA_ADMIN_PASSWORD"), timeout=_num(params, "timeout", 10.0),
                        digest_algorithm=params.get("digest_algorithm") or "auto")


def _updater(params, log):
    return fw.FirmwareUpdater(
        _driver(params), params_.image(params, ".img"), model=params.get("image_model") or None,
        version=params.get("image_version") or None, reboot_timeout=_num(params, "reboot_timeout", 600.0),
        poll_interval=_num(params, "poll_interval", 5.0), upload_timeout=_num(params, "upload_timeout", 900.0),
        backup_path=os.path.join(params["job_dir"], BACKUP_NAME), log=log)


def handle(phase, params, log):
    try:
        up = _updater(params, log)
        if phase == "state":
            return _state(up)
        if phase == "install":
            return _install(up, params)
        if phase == "verify":
            return _verify(up, params)
        return _rollback(up, params)
    except CameraUnreachable as exc:
        if phase == "state":
            return {"status": "retry_later", "msg": str(exc)}
        return {"status": "failed", "msg": str(exc), "error_kind": exc.kind}
    except CameraError as exc:
        return {"status": "failed", "msg": str(exc), "error_kind": exc.kind}


def _state(up):
    st = up.check()
    facts = {"model": st["model"], "version": st["info"].get("firmware"), "target_version": st["version"]}
    if st["needed"]:
        return dict(facts, status="needed", msg="camera %s runs %s, image %s: update needed"
                    % (st["model"], facts["version"], st["version"]))
    return dict(facts, status="already_applied", msg="camera %s already runs %s" % (st["model"], facts["version"]))


def _install(up, params):
    presets = up.presets()
    with open(os.path.join(params["job_dir"], PRESETS_NAME), "w") as fh:
        json.dump({"presets": None if presets is None else dict((str(k), v) for k, v in presets.items())}, fh)
    res = up.run()
    for w in res["warnings"]:
        up.log("warning: %s" % w)
    return {"status": "ok", "msg": res["msg"], "version": res["after"]["firmware"], "model": res["model"],
            "actions": res["actions"], "config_restored": res["config_restored"]}


def _verify(up, params):
    model, version = up.identify()
    info = up.d.get_info()
    if not fw.version_matches(info.get("firmware"), version):
        return {"status": "failed", "msg": "camera runs %s, expected %s" % (info.get("firmware"), version),
                "version": info.get("firmware")}
    path = os.path.join(params["job_dir"], PRESETS_NAME)
    if os.path.exists(path):
        with open(path) as fh:
            saved = json.load(fh)["presets"]
        now = up.presets()
        now = None if now is None else dict((str(k), v) for k, v in now.items())
        if saved != now:
            return {"status": "failed", "msg": "presets changed: %s before, %s now" % (saved, now),
                    "version": info.get("firmware")}
    return {"status": "ok", "msg": "camera %s runs %s, presets intact" % (model, info.get("firmware")),
            "version": info.get("firmware")}


def _rollback(up, params):
    path = os.path.join(params["job_dir"], BACKUP_NAME)
    if not os.path.exists(path):
        return {"status": "ok", "msg": "install saved no configuration backup: nothing to roll back"}
    with open(path, "rb") as fh:
        blob = fh.read()
    up.client.config_restore(blob, up.restore_exclude)
    up.wait_back(None, "the configuration restore")
    return {"status": "ok", "msg": "configuration restored from %s (the firmware stays as it is: a downgrade "
                                   "needs the old image as its own payload)" % path}
