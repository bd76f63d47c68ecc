# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hanwha camera firmware update through SUNAPI (node side, Python 3.6+; needs requests).

Used by the ``camera_firmware`` module and by the ``camera-firmware`` payload handler. Order:
read the device (model, firmware), refuse an image of another model before any byte is sent,
stop if the camera already runs the target version, back up its configuration (``configbackup``)
and note its presets, upload the image (multipart ``POST system.cgi?msubmenu=firmwareupdate&
action=control&Type=Normal``; the reply streams ``Status=`` lines), wait for the reboot, check
``FirmwareVersion`` and that the presets are intact. A failure after the upload started restores
the configuration (``configrestore`` with ``ExcludeSettings=Network``) once the camera answers.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import os
import re
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import (
    CameraAuthError, CameraDeviceError, CameraError, CameraLockedOut, CameraNoPTZ, CameraUnreachable)
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.files import replace_file
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.sunapi import parse_text, requests

# Hanwha firmware file names look like "XNP-6400RW_2.22.00_20230801_R300.img" (model, version,
# build date, release). This is the default way to tell an image's model and version; it is not
# confirmed for every model, so image_model / image_version override it.
IMAGE_NAME_RE = r"(?i)^(?P<model>[a-z]{2,4}-[a-z0-9]+)[_-]v?(?P<version>\d+\.\d+(?:\.\d+)?(?:_\d{6,8})?(?:_r\d+)?)"

FAIL_STATUSES = ("DownloadFail", "Fail")
DONE_STATUSES = ("End",)


class CameraFirmwareRefused(CameraError):
    """The image does not fit the camera (other model, unreadable image): nothing was changed."""
    kind = "firmware_refused"


class CameraFirmwareFailed(CameraError):
    """The upload or the flashing failed."""
    kind = "firmware_failed"


class CameraNotReturned(CameraError):
    """The camera did not answer again within reboot_timeout after the update."""
    kind = "not_returned"


class CameraWrongVersion(CameraError):
    """The camera came back with another firmware version than the image's."""
    kind = "wrong_version"


class FirmwareInputError(CameraError):
    kind = "input"


def image_identity(path, model=None, version=None, name_pattern=None):
    """-> (model, version) of a firmware image: given values win, else parsed from the file name."""
    if not os.path.isfile(path):
        raise FirmwareInputError("image %s does not exist or is not a file: give the path of the firmware image "
                                 "on the node" % path)
    if model and version:
        return model, version
    m = re.match(name_pattern or IMAGE_NAME_RE, os.path.basename(path))
    if m is None:
        raise FirmwareInputError(
            "cannot tell the model and version of image %s from its name (expected like "
            "XNP-6400RW_2.22.00_20230801_R300.img): set image_model and image_version" % os.path.basename(path))
    groups = m.groupdict()
    return (model or groups.get("model", "").upper()), (version or groups.get("version"))


def normalise_version(v):
    return (v or "").strip().lstrip("vV").lower()


def version_matches(current, target):
    """'2.22.00_20230801_R300' matches target '2.22.00' and '2.22.00_20230801_R300' (case-insensitive)."""
    cur, want = normalise_version(current), normalise_version(target)
    if not cur or not want:
        return False
    return cur == want or cur.startswith(want + "_")


class MultipartFile(object):
    """A multipart/form-data body streamed from the image file (seekable for the digest retry)."""

    def __init__(self, path, field, filename, boundary=None):
        self.boundary = boundary or "hcfw%s" % base64.b32encode(os.urandom(10)).decode("ascii").lower()
        self.head = ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n" % (self.boundary, field, filename)).encode("utf-8")
        self.tail = ("\r\n--%s--\r\n" % self.boundary).encode("ascii")
        self.fh = open(path, "rb")
        self.size = os.fstat(self.fh.fileno()).st_size
        self.total = len(self.head) + self.size + len(self.tail)
        self.pos = 0
        self.sent = 0

    @property
    def content_type(self):
        return "multipart/form-data; boundary=%s" % self.boundary

    def __len__(self):
        return self.total

    def tell(self):
        return self.pos

    def seek(self, pos, whence=0):
        self.pos = pos if whence == 0 else (self.pos + pos if whence == 1 else self.total + pos)
        return self.pos

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.total - self.pos
        out = []
        while n > 0 and self.pos < self.total:
            if self.pos < len(self.head):
                chunk = self.head[self.pos:self.pos + n]
            elif self.pos < len(self.head) + self.size:
                self.fh.seek(self.pos - len(self.head))
                chunk = self.fh.read(min(n, len(self.head) + self.size - self.pos))
            else:
                off = self.pos - len(self.head) - self.size
                chunk = self.tail[off:off + n]
            if not chunk:
                break
            out.append(chunk)
            self.pos += len(chunk)
            n -= len(chunk)
        self.sent = max(self.sent, self.pos)
        return b"".join(out)

    def __iter__(self):
        while True:
            chunk = self.read(65536)
            if not chunk:
                return
            yield chunk

    def close(self):
        self.fh.close()


def parse_status_lines(lines):
    """['Status=OK', 'FirmwareModule=Kernel', ...] -> list of {'Status', 'Progress', 'FirmwareModule'} events."""
    events = []
    for raw in lines:
        line = raw.strip()
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if key == "Status":
            events.append({"Status": value})
        elif events and key in ("Progress", "FirmwareModule"):
            events[-1][key] = value
    return events


class FirmwareClient(object):
    """The SUNAPI calls of a firmware update, on top of a SunapiDriver (its session and digest auth)."""

    def __init__(self, driver, upload_timeout=900.0, upload_field="FirmwareFile"):
        self.d = driver
        self.upload_timeout = upload_timeout
        self.upload_field = upload_field

    def config_backup(self):
        r = self.d.send("GET", "/stw-cgi/system.cgi?msubmenu=configbackup&action=control",
                        "system.cgi configbackup/control")
        body = r.content
        if r.status_code != 200 or body[:2] == b"NG" or body[:1] == b"{" or not body:
            raise CameraDeviceError("the %s refused the configuration backup (HTTP %d: %r): nothing was changed; "
                                    "check the account (admin needed)" % (self.d.where(), r.status_code, body[:120]),
                                    code=r.status_code)
        return body

    def config_restore(self, blob, exclude=("Network",)):
        query = "msubmenu=configrestore&action=control"
        if exclude:
            query += "&ExcludeSettings=" + ",".join(exclude)
        data = requests.utils.quote(base64.b64encode(blob).decode("ascii"), safe="")
        r = self.d.send("POST", "/stw-cgi/system.cgi?" + query, "system.cgi configrestore/control",
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, body=data)
        text = r.text
        try:
            if not text.lstrip().startswith("{"):
                parse_text(text)
        except CameraDeviceError as exc:
            raise CameraDeviceError("the %s refused the configuration restore: error %s %s"
                                    % (self.d.where(), exc.code, exc.details), code=exc.code, details=exc.details)
        if r.status_code != 200 or '"Fail"' in text:
            raise CameraDeviceError("the %s refused the configuration restore (HTTP %d): %s"
                                    % (self.d.where(), r.status_code, text[:200]), code=r.status_code)

    def upload(self, path, log=None):
        """Uploads the image; -> (events, dropped). Raises CameraFirmwareRefused / CameraFirmwareFailed."""
        body = MultipartFile(path, self.upload_field, os.path.basename(path))
        url = self.d.base + "/stw-cgi/system.cgi?msubmenu=firmwareupdate&action=control&Type=Normal"
        lines = []
        dropped = False
        try:
            try:
                r = self.d.session.post(url, data=body, stream=True, timeout=(self.d.timeout, self.upload_timeout),
                                        headers={"Content-Type": body.content_type, "Expect": ""})
            except requests.exceptions.RequestException as exc:
                raise CameraFirmwareFailed(
                    "the upload of %s to the %s broke off after %d of %d bytes (%s): the camera did not take the "
                    "image" % (os.path.basename(path), self.d.where(), body.sent, body.total, _short(exc)))
            if r.status_code in (401, 490):
                raise (CameraLockedOut if r.status_code == 490 else CameraAuthError)(
                    "the %s refused the firmware upload with HTTP %d: check user and password"
                    % (self.d.where(), r.status_code), code=r.status_code)
            if r.status_code != 200:
                raise CameraFirmwareFailed("the %s answered the firmware upload with HTTP %d: %s"
                                           % (self.d.where(), r.status_code, r.text[:200]), code=r.status_code)
            try:
                for raw in r.iter_lines():
                    line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                    lines.append(line)
                    if log is not None and line.startswith("Status="):
                        log("camera: %s" % line)
            except (requests.exceptions.RequestException, OSError):
                dropped = True   # the camera drops the connection when it reboots
            finally:
                r.close()
        finally:
            body.close()
        if lines and lines[0].strip() == "NG":
            try:
                parse_text("\r\n".join(lines))
            except CameraDeviceError as exc:
                kind = CameraFirmwareRefused if exc.code in (602, 604, 607) else CameraFirmwareFailed
                raise kind("the %s refused the firmware upload: error %s %s" % (self.d.where(), exc.code,
                                                                                exc.details), code=exc.code)
        events = parse_status_lines(lines)
        statuses = [e["Status"] for e in events]
        if "DownloadFail" in statuses:
            raise CameraFirmwareRefused(
                "the %s refused image %s (Status=DownloadFail: incompatible or damaged image); nothing was changed"
                % (self.d.where(), os.path.basename(path)))
        if "Fail" in statuses:
            raise CameraFirmwareFailed("the %s reported Status=Fail while flashing %s (after %s)"
                                       % (self.d.where(), os.path.basename(path), ", ".join(statuses[:-1]) or "nothing"))
        if not events and not dropped:
            raise CameraFirmwareFailed("the %s answered the firmware upload without any status" % self.d.where())
        return events, dropped


def module_skips(events):
    """True when every module written was skipped (the camera already runs this version)."""
    mods = [e for e in events if e.get("FirmwareModule")]
    return bool(mods) and all(e["Status"] == "Skip" for e in mods)


class FirmwareUpdater(object):
    def __init__(self, driver, image, model=None, version=None, name_pattern=None, reboot_timeout=600.0,
                 poll_interval=5.0, upload_timeout=900.0, upload_field="FirmwareFile", backup_path=None,
                 restore_exclude=("Network",), log=None, sleep=time.sleep, clock=time.time):
        self.d = driver
        self.image = image
        self.model_opt = model
        self.version_opt = version
        self.name_pattern = name_pattern
        self.reboot_timeout = reboot_timeout
        self.poll_interval = poll_interval
        self.backup_path = backup_path
        self.restore_exclude = list(restore_exclude or [])
        self.client = FirmwareClient(driver, upload_timeout, upload_field)
        self.log = log or (lambda text: None)
        self.sleep = sleep
        self.clock = clock
        self.actions = []
        self.warnings = []

    # ---- pieces --------------------------------------------------------------------------------
    def identify(self):
        return image_identity(self.image, self.model_opt, self.version_opt, self.name_pattern)

    def presets(self):
        try:
            return self.d.list_presets()
        except CameraNoPTZ:
            return None

    def check(self):
        """Reads the camera and the image; refuses a model mismatch. -> dict with needed, info, model, version."""
        model, version = self.identify()
        info = self.d.get_info()
        if (info.get("model") or "").upper() != model.upper():
            raise CameraFirmwareRefused(
                "image %s is for %s but the %s is a %s: refused before sending anything; use the image for %s"
                % (os.path.basename(self.image), model, self.d.where(), info.get("model"), info.get("model")))
        return {"needed": not version_matches(info.get("firmware"), version), "info": info, "model": model,
                "version": version}

    def wait_back(self, target=None, what="the update"):
        """Polls deviceinfo until the camera answers (after going away, or already with the target version)."""
        deadline = self.clock() + self.reboot_timeout
        seen_down = False
        last_error = None
        while True:
            self.sleep(self.poll_interval)
            try:
                info = self.d.get_info()
            except (CameraUnreachable, CameraDeviceError) as exc:
                seen_down = True
                last_error = exc
            else:
                if target is None or version_matches(info.get("firmware"), target):
                    if seen_down or target is not None:
                        return info, seen_down
                elif seen_down:
                    return info, seen_down
            if self.clock() >= deadline:
                raise CameraNotReturned(
                    "the %s did not come back within %s s after %s (last: %s)"
                    % (self.d.where(), self.reboot_timeout, what, last_error or "it kept answering without rebooting"))

    def save_backup(self, blob):
        if not self.backup_path:
            return
        directory = os.path.dirname(os.path.abspath(self.backup_path))
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        replace_file(self.backup_path, blob, 0o600, prefix=".camera-config.")

    def restore(self, blob, why):
        """Restores the configuration after a failure; returns a sentence for the error message."""
        try:
            if not self._answers():
                self.wait_back(None, "the failed update")
            self.client.config_restore(blob, self.restore_exclude)
            self.actions.append("configrestore")
            self.log("configuration restored (ExcludeSettings=%s) after: %s" % (",".join(self.restore_exclude), why))
            self.wait_back(None, "the configuration restore")
            return "the configuration backed up before the update was restored (network settings kept)"
        except CameraError as exc:
            where = (" from %s" % self.backup_path) if self.backup_path else ""
            return ("the configuration could NOT be restored (%s); restore it%s with system.cgi configrestore"
                    % (exc, where))

    def _answers(self):
        try:
            self.d.get_info()
            return True
        except CameraError:
            return False

    # ---- the whole update ----------------------------------------------------------------------
    def run(self, check_mode=False):
        state = self.check()
        info, version = state["info"], state["version"]
        result = {"changed": False, "model": info.get("model"), "image": self.image, "image_version": version,
                  "before": {"firmware": info.get("firmware")}, "after": {"firmware": info.get("firmware")},
                  "actions": self.actions, "warnings": self.warnings, "statuses": [], "config_restored": False}
        if not state["needed"]:
            result["msg"] = "the %s already runs %s" % (self.d.where(), info.get("firmware"))
            return result
        result["changed"] = True
        result["after"] = {"firmware": version}
        if check_mode:
            result["msg"] = "would update the %s from %s to %s" % (self.d.where(), info.get("firmware"), version)
            return result
        presets_before = self.presets()
        blob = self.client.config_backup()
        self.actions.append("configbackup")
        self.save_backup(blob)
        where = (" to %s" % self.backup_path) if self.backup_path else ""
        self.log("configuration backed up (%d bytes)%s" % (len(blob), where))
        try:
            events, dropped = self.client.upload(self.image, self.log)
        except CameraFirmwareRefused:
            raise
        except CameraFirmwareFailed as exc:
            raise CameraFirmwareFailed("%s; %s" % (exc, self.restore(blob, str(exc))), code=exc.code)
        self.actions.append("firmwareupdate")
        result["statuses"] = [e["Status"] for e in events]
        if module_skips(events) and not dropped:
            after = self.d.get_info()
            result["changed"] = False
            result["after"] = {"firmware": after.get("firmware")}
            self.warnings.append("the camera skipped every module of %s (it says this version is installed) but "
                                 "reports %s: check image_version" % (os.path.basename(self.image), after.get("firmware")))
            result["msg"] = "the camera already had the image's version (Status=Skip)"
            return result
        self.log("upload done (%s); waiting for the camera to reboot" % ("connection dropped" if dropped else "End"))
        try:
            after, _down = self.wait_back(version, "the firmware update")
        except CameraNotReturned as exc:
            raise CameraNotReturned("%s; the configuration backup %s" % (
                exc, ("is in %s" % self.backup_path) if self.backup_path else "was not saved (set backup_path)"))
        if not version_matches(after.get("firmware"), version):
            raise CameraWrongVersion("the %s came back with firmware %s instead of %s; %s" % (
                self.d.where(), after.get("firmware"), version,
                self.restore(blob, "wrong version after the update")))
        result["after"] = {"firmware": after.get("firmware")}
        presets_after = self.presets()
        if presets_before is not None and presets_after != presets_before:
            self.log("presets changed by the update (%s -> %s): restoring the configuration"
                     % (sorted(presets_before.items()), sorted((presets_after or {}).items())))
            self.client.config_restore(blob, self.restore_exclude)
            self.actions.append("configrestore")
            self.wait_back(None, "the configuration restore")
            result["config_restored"] = True
            if self.presets() != presets_before:
                raise CameraFirmwareFailed("the update to %s lost presets of the %s and restoring the configuration "
                                           "did not bring them back" % (version, self.d.where()))
            self.warnings.append("the update changed the presets; the configuration backup was restored")
        result["presets"] = presets_before
        result["msg"] = "the %s updated from %s to %s" % (self.d.where(), info.get("firmware"), after.get("firmware"))
        return result


def _short(exc):
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\][^')\]]*|Connection aborted[^)]*|RemoteDisconnected[^)]*", text)
    return m.group(0).strip() if m else text[:200]
