"""The privileged `copy` command: startup-config and CLI banner in both directions, firmware images into
a slot (`copy tftp://host/file.stk backup`), with the 47-column summary, `Remote Password:` and the
single-key start question; the transfer itself is a real FTP/TFTP client (transfer.py)."""

import re
import time

from . import transfer as xfer
from .cli import INCOMPLETE, INVALID, dotted, parse_url
from .images import read_image
from .terminal import Disconnected

MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_BANNER_BYTES = 2048
MAX_IMAGE_BYTES = 64 * 1024 * 1024
DATA_TYPES = {"config": ("Text Configuration", "Text Config"), "banner": ("CLI Banner", "CLI Banner"),
              "image": ("Code", "Code")}


def copy_command(session, args):
    parts = args.split()
    if len(parts) < 2:
        session.error(INCOMPLETE)
        return
    src, dst = parts[0], parts[1]
    lsrc, ldst = src.lower(), dst.lower()
    if lsrc == "system:running-config" and ldst == "nvram:startup-config":
        return session.processor.cmd_write("")
    if lsrc == "nvram:startup-config" and ldst == "nvram:backup-config":
        return
    if lsrc in ("nvram:startup-config", "nvram:clibanner"):
        url = _check_url(session, dst, args)
        if url:
            Transfer(session, "upload", url, "banner" if lsrc == "nvram:clibanner" else "config").run()
        return
    if ldst in ("nvram:startup-config", "nvram:clibanner", "active", "backup"):
        url = _check_url(session, src, args)
        if url:
            what = {"nvram:startup-config": "config", "nvram:clibanner": "banner"}.get(ldst, "image")
            Transfer(session, "download", url, what, slot=ldst if what == "image" else None).run()
        return
    session.error(INVALID, len(session.prompt_text()) + len("copy "))


def _check_url(session, text, args):
    url = parse_url(text)
    if url and url["scheme"] == "ftp" and not session.state.settings().get("ftp_supported"):
        url = None
    if url is None:
        session.error(INVALID, len(session.prompt_text()) + len("copy ") + args.find(text))
    return url


class Transfer:
    def __init__(self, session, direction, url, what, slot=None):
        self.s = session
        self.state = session.state
        self.direction, self.url, self.what, self.slot = direction, url, what, slot
        self.settings = self.state.settings()
        self.mode = "TFTP" if url["scheme"] == "tftp" else self.settings.get("ftp_mode_label", "FTP")

    def out(self, text):
        self.s.out(text)

    def run(self):
        url, settings = self.url, self.settings
        password = ""
        if url["scheme"] == "ftp" and url["user"] and settings.get("ftp_asks_password", True):
            self.out("Remote Password:")
            password = self.s.term.read_line(mask="*")
        lines = ["", dotted("Mode", self.mode), dotted("Set Server IP", url["host"]),
                 dotted("Path", url["path"]), dotted("Filename", url["filename"]),
                 dotted("Data Type", DATA_TYPES[self.what][0])]
        if self.what == "image":
            lines.append(dotted("Destination Filename", self.slot))
        if self.direction == "download" and self.what == "config" and settings.get("download_note"):
            lines += ["", settings["download_note"]]
        lines += ["", "Management access will be blocked for the duration of the transfer"]
        self.out("\r\n".join(lines) + "\r\n")
        if not self.s.ask_yn("Are you sure you want to start? (y/n) "):
            self.out(settings.get("transfer_cancel_text", "File transfer cancelled.") + "\r\n")
            return
        self.out("%s %s transfer starting...\r\n" % (self.mode, DATA_TYPES[self.what][1]))
        faults = self.state.faults()
        failing = faults.get("transfer_fail")
        if failing in (self.direction, "both"):
            self.state.fault_fired("transfer_fail")
            time.sleep(0.2)
            self.out("File transfer failed!\r\n")
            return
        self.drop = faults.get("drop_mid_transfer") == self.direction
        if self.drop:
            self.state.fault_fired("drop_mid_transfer")
        delay = float(faults.get("transfer_delay") or 0)
        if delay:  # a slow transfer: the server must still be there when the switch fetches the file
            time.sleep(delay)
        if self.direction == "upload":
            return self.upload(password)
        limit = {"config": MAX_CONFIG_BYTES, "banner": MAX_BANNER_BYTES, "image": MAX_IMAGE_BYTES}[self.what]
        try:
            data = xfer.get(url, password, limit + 1)
        except Disconnected:
            raise
        except Exception as exc:  # the transfer itself failed: the switch says only this
            self.state.last_transfer_error = repr(exc)
            self.out("File transfer failed!\r\n")
            return
        if failing == "midway" and self.what == "image":  # the file arrived, then the switch gives up
            self.state.fault_fired("transfer_fail")
            self.out("\r\n%d bytes transferred...\r\n" % (len(data) // 2))
            self.out("File transfer failed!\r\n")
            return
        getattr(self, "store_" + self.what)(data, faults)

    def upload(self, password):
        data = self.state.read_startup() if self.what == "config" else self.state.read_banner()
        data = data.encode("utf-8")
        try:
            if self.drop:
                xfer.put(self.url, password, data[: max(1, len(data) // 2)])
                self.s.drop()
            xfer.put(self.url, password, data)
        except Disconnected:
            raise
        except Exception as exc:
            self.state.last_transfer_error = repr(exc)
            self.out("File transfer failed!\r\n")
            return
        self.out("File transfer operation completed successfully.\r\n")

    def store_banner(self, data, faults):
        if len(data) > MAX_BANNER_BYTES:
            self.out("File transfer error: CLI Banner file is too big to display.\r\n")
            return
        self.state.write_banner(data.decode("utf-8", "replace"))
        self.out(self.settings["download_success_line"] + "\r\n")

    def store_config(self, data, faults):
        text = data.decode("utf-8", "replace")
        if len(data) > MAX_CONFIG_BYTES:
            self.out("File transfer error: Configuration file is too big.\r\n")
            return
        reject = faults.get("reject_config_regex")
        if reject and any(re.search(reject, line) for line in text.splitlines()):
            self.out("File transfer error : Failed to download the configuration file.\r\n")
            return
        mangle = faults.get("drop_lines_regex")
        if mangle:
            text = "".join(l for l in text.splitlines(True) if not re.search(mangle, l))
        if self.drop:
            if faults.get("drop_commits"):
                self.state.write_startup(text)
            self.s.drop()
        self.state.write_startup(text)
        self.out(self.settings["download_success_line"] + "\r\n")

    def store_image(self, data, faults):
        """Validate the image, then write it to the slot (the slot is untouched unless it is valid)."""
        self.out("\r\n%d bytes transferred...\r\n" % len(data))
        info = read_image(data)
        if info is None or len(data) > MAX_IMAGE_BYTES:
            self.out(self.settings.get("image_invalid_text", "File contents are not valid.") + "\r\n")
            self.out("File transfer failed!\r\n")
            return
        self.out("File contents are valid. Copying file to flash...\r\n")
        if self.drop:
            self.s.drop()
        time.sleep(float(self.settings.get("image_write_delay") or 0))
        if self.slot == "backup":
            self.state.images.store_backup(info)
        else:
            self.state.images.store_active(info)
        self.out("\r\n\r\nFile transfer operation completed successfully.\r\n")
