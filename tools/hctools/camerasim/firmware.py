"""Firmware update, configuration backup/restore and restarts of the simulated camera (SUNAPI system.cgi).

Mirrors ``plugins/module_utils/_camera/firmware.py``:

* ``POST system.cgi?msubmenu=firmwareupdate&action=control&Type=Normal`` with a multipart body (any
  part name; the first part with a file name is the image). The reply is streamed ``key=value``
  text: ``Status=Uploading``/``Progress=``, ``DownloadAck``, ``DownloadOK``, ``Start``, per module
  (``FirmwareModule=Kernel|App|Web|ISP``) ``OK`` or ``Skip`` (already at that version), ``End``;
  then the connection drops and the camera reboots for ``reboot_seconds``. ``DownloadFail`` for an
  image of another model or an unreadable one, ``Fail`` when flashing fails.
* ``GET system.cgi?msubmenu=configbackup&action=control``: an opaque binary blob.
* ``POST system.cgi?msubmenu=configrestore&action=control[&ExcludeSettings=Network,Camera]``: the
  body is the URL-encoded base64 of that blob (``application/x-www-form-urlencoded``); a multipart
  body is refused with error 607. The camera reboots afterwards.
* ``system.cgi?msubmenu=power&action=control&Type=Restart`` (``Reboot`` also accepted).

Simulator images (real Hanwha images are opaque to us) start with one line
``HCSIMFW1 model=<Model> version=<FirmwareVersion>``; :func:`make_image` writes one.
Faults (knob ``firmware_fault``): ``upload_drop`` (connection closed half-way through the upload),
``flash_fail`` (``Status=Fail`` after ``Start``), ``never_return`` (reboots and never answers
again), ``old_version`` (comes back with the old firmware), ``reset_config`` (comes back with the new
firmware but its presets wiped).
"""

import base64
import email.parser
import email.policy
import json
import re
from urllib.parse import unquote_plus

from .driver import SunapiError

IMAGE_MAGIC = b"HCSIMFW1"
CONFIG_MAGIC = b"HCSIMCFG1\n"
MODULES = ("Kernel", "App", "Web", "ISP")


def make_image(model, version, size=64 * 1024):
    """Bytes of a simulator firmware image for model/version, padded to size."""
    head = b"%s model=%s version=%s\n" % (IMAGE_MAGIC, model.encode(), version.encode())
    pad = bytes((i * 7 + 3) % 251 for i in range(max(0, size - len(head))))
    return head + pad


def read_image_header(data):
    """-> (model, version) or None for anything that is not a simulator image."""
    first = data[:200].split(b"\n", 1)[0]
    m = re.match(rb"^HCSIMFW1 model=(\S+) version=(\S+)$", first)
    if not m:
        return None
    return m.group(1).decode(), m.group(2).decode()


def first_file_part(content_type, body):
    """The payload of the first multipart part that has a file name (or None)."""
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    if not msg.is_multipart():
        return None
    for part in msg.iter_parts():
        if part.get_filename() is not None:
            return part.get_payload(decode=True)
    return None


class FirmwareMixin:
    """Needs SimCore (config, firmware, presets, reboot, save) and the HTTP handler for streaming."""

    # ---- firmware update -----------------------------------------------------------------------
    def firmware_update(self, handler, params):
        """Reads the upload from handler.rfile itself (so it can drop half-way) and streams the reply."""
        length = int(handler.headers.get("Content-Length") or 0)
        fault = self.config["firmware_fault"]
        if fault == "upload_drop":
            handler.rfile.read(length // 2)
            self.log_event("firmware_upload_dropped")
            self.save()
            handler.drop_connection()
            return
        body = handler.rfile.read(length) if length else b""
        if params.get("Type") != "Normal":
            raise SunapiError(602, "Invalid Input Value: Type=Normal is required")
        ctype = handler.headers.get("Content-Type") or ""
        if "multipart/form-data" not in ctype:
            raise SunapiError(607, "Invalid Content Type: multipart/form-data expected")
        image = first_file_part(ctype, body)
        if image is None:
            raise SunapiError(604, "Invalid File: no file part in the upload")
        header = read_image_header(image)
        step = self.config["firmware_step_seconds"]
        lines = ["Status=Uploading", "Progress=0", "Status=Uploading", "Progress=100",
                 "Status=DownloadAck", "Progress=100"]
        if header is None or header[0] != self.model:
            self.log_event("firmware_refused", image=header)
            self.save()
            handler.stream_lines(lines + ["Status=DownloadFail"], step)
            return
        version = header[1]
        lines += ["Status=DownloadOK", "Status=Start"]
        if fault == "flash_fail":
            self.log_event("firmware_failed", version=version)
            self.save()
            handler.stream_lines(lines + ["Status=OK", "FirmwareModule=Kernel", "Status=Fail"], step)
            return
        same = version == self.firmware
        for module in MODULES:
            if module == "ISP" and not same:
                lines += ["Status=UpdatingISP", "Progress=50", "Status=UpdatingISP", "Progress=100"]
            lines += ["Status=%s" % ("Skip" if same else "OK"), "FirmwareModule=%s" % module]
        lines.append("Status=End")
        self.log_event("firmware_update", version=version, skipped=same)
        handler.stream_lines(lines, step)
        if same and not self.config["skip_reboots"]:
            self.save()
            return

        def apply():
            if fault != "old_version":
                self.firmware = version
            if fault == "reset_config":
                self.presets.clear()
        self.reboot(apply=apply, forever=(fault == "never_return"))

    # ---- configuration backup / restore ------------------------------------------------------
    def config_backup(self):
        data = {"model": self.model, "firmware": self.firmware, "device_location": self.device_location,
                "presets": {str(k): v for k, v in self.presets.items()}, "network": self.network,
                "users": self.users}
        blob = base64.b64encode(json.dumps(data, sort_keys=True).encode())
        # Opaque to clients: reversed base64 behind a magic line.
        return CONFIG_MAGIC + blob[::-1]

    def config_restore(self, handler, params, body):
        ctype = handler.headers.get("Content-Type") or ""
        if "multipart" in ctype:
            raise SunapiError(607, "Invalid Content Type: send the base64 of the file URL-encoded")
        try:
            raw = base64.b64decode(unquote_plus(body.decode("ascii")), validate=True)
        except (ValueError, UnicodeDecodeError):
            raise SunapiError(604, "Invalid File: the body is not base64")
        if not raw.startswith(CONFIG_MAGIC):
            raise SunapiError(604, "Invalid File: not a configuration backup")
        try:
            data = json.loads(base64.b64decode(raw[len(CONFIG_MAGIC):][::-1]))
        except ValueError:
            raise SunapiError(604, "Invalid File: damaged configuration backup")
        if data.get("model") != self.model:
            raise SunapiError(604, "Invalid File: backup of a %s, this is a %s" % (data.get("model"), self.model))
        exclude = [x for x in params.get("ExcludeSettings", "").split(",") if x]
        for x in exclude:
            if x not in ("Network", "Camera"):
                raise SunapiError(602, "Invalid Parameter Value: ExcludeSettings=%s" % x)

        def apply():
            self.presets = {int(k): v for k, v in data["presets"].items()}
            self.device_location = data.get("device_location", "")
            if "Network" not in exclude:
                self.network = data.get("network") or self.network
        self.log_event("config_restore", exclude=exclude)
        self.reboot(apply=apply)
        return "ok", None

    def _system_power(self, params):
        if params.get("Type") not in ("Restart", "Reboot"):
            raise SunapiError(602, "Invalid Parameter Value: Type=%s" % params.get("Type"))
        self.reboot()
        return "ok", None

