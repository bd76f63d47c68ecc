"""Persistent switch state: settings, credentials, startup-config, CLI banner, faults."""

import json
import os
import re
import threading
import time

from .config import DEFAULT_HOSTNAME, SwitchConfig
from .images import DEFAULT_ACTIVE, DEFAULT_BACKUP, ImageSlots, at_least_1_9, display_version
from .util import atomic_write

__all__ = ["DEFAULT_HOSTNAME", "DEFAULT_SETTINGS", "DEFAULT_FAULTS", "DEFAULT_STARTUP_CONFIG", "SwitchState",
           "atomic_write"]

# Settings written to <state-dir>/switch.json on first start. Keys marked "unconfirmed" model
# behaviour docs/devices/edgeswitch.md lists as not confirmed on real hardware.
DEFAULT_SETTINGS = {
    "username": "ubnt",
    "password": "ubnt",
    # None: `enable` does not ask for a password; a string: it asks and checks it.
    "enable_password": None,
    # Identity. The software version comes from the running image (images.json); firmware 1.9 prints it
    # short (`1.9.2`) and names the model without "-Port" (as in a 1.9.2 backup), 1.7/1.8 print the whole
    # build (`1.8.1.5145168`) and `EdgeSwitch 8-Port 150W`. version_display: auto | full | short.
    "version_display": "auto",
    "machine_type": "EdgeSwitch 8 150W",
    "machine_type_before_1_9": "EdgeSwitch 8-Port 150W",
    "kernel_version": "Linux 3.6.5-03329b4a",
    "boot_version": "1.2.0.5192732",
    "machine_model": "ES-8-150W",
    "serial_number": "F09FC2000001",
    "mac_address": "F0:9F:C2:00:00:01",
    "part_number": "13-02072",
    "hardware_revision": "20",
    # images.json is created from these on first start: the running image and the one in the backup slot.
    "initial_active_image": DEFAULT_ACTIVE,
    "initial_backup_image": DEFAULT_BACKUP,
    "additional_packages": "QOS,IPv6 Management,Routing",
    # "synced": the header shows the current time; anything else: the "not successful" text.
    "sntp": "synced",
    # `aaa authorization exec default local`: SSH logins land directly in privileged mode.
    "exec_privileged": False,
    # Paging on by default (terminal length 24): 23 lines per page, then the pager line.
    "page_lines": 23,
    # Test knob: when false, `terminal length 0` is accepted but paging stays on (exercises pagers).
    "honour_terminal_length": True,
    # Seconds the switch stays away after `reload` answers y (twice that when a new image fails to boot
    # and the switch falls back to the previous one).
    "reload_delay": 3.0,
    # Seconds a firmware copy spends "copying file to flash" after the transfer.
    "image_write_delay": 0.5,
    # unconfirmed: what the switch prints for a downloaded file that is not a valid image.
    "image_invalid_text": "File contents are not valid.",
    # unconfirmed: what `boot system <slot>` prints ("" = nothing, back to the prompt).
    "boot_system_text": "",
    # unconfirmed: copy accepts ftp:// URLs, shows this Mode, asks `Remote Password:`.
    "ftp_supported": True,
    "ftp_mode_label": "FTP",
    "ftp_asks_password": True,
    # unconfirmed: last line after a successful `copy <url> nvram:startup-config`.
    "download_success_line": "File transfer operation completed successfully.",
    # unconfirmed: note line printed between blank lines before a startup-config download ("" = none).
    "download_note": "",
    # unconfirmed: text after answering n to the transfer confirmation.
    "transfer_cancel_text": "File transfer cancelled.",
    # unconfirmed: whether `set clibanner "..."` appears in show running-config (global section).
    "banner_in_running_config": False,
    # Where SSH shows the CLI banner: "shell" (printed in the session before the first prompt, as in
    # the 1.8 transcripts), "preauth" (SSH protocol banner), "both", "none".
    "banner_over_ssh": "shell",
    # unconfirmed: text after a wrong enable password (the switch then stays in user mode).
    "enable_fail_text": "% Incorrect password.",
    # `write memory` writes the `!` header (with up time / SNTP time of that moment) into the file.
    "startup_config_header": True,
    # Offer the switch's legacy SSH algorithms only (diffie-hellman-group1/14-sha1, ssh-rsa).
    "legacy_algorithms": True,
}

DEFAULT_FAULTS = {
    "reject_login": False,          # every login fails (SSH auth / telnet User:-Password:)
    "transfer_fail": None,          # "upload" | "download" | "both": `File transfer failed!`
    "drop_mid_transfer": None,      # "upload" | "download": the CLI connection drops mid-transfer
    "drop_commits": False,          # on a dropped download: the new startup-config was written
    "slow": 0.0,                    # seconds before each command's output
    "reload_never_returns": False,  # after reload the switch stays away (until this is cleared)
    "reject_config_regex": None,    # a download containing a matching line is refused
    "drop_lines_regex": None,       # matching lines are silently dropped from a download
    "once": False,                  # transfer_fail / drop_mid_transfer clear themselves after firing
    "upgrade_drops_lines_regex": None,  # booting another firmware drops matching startup-config lines
    # (transfer_fail also takes "midway": a firmware download arrives, then the switch reports failure)
}

DEFAULT_STARTUP_CONFIG = """\
network protocol none
network parms 10.31.81.2 255.255.255.0 10.31.81.1
vlan database
vlan 2,3
vlan name 2 "cameras"
vlan name 3 "lidar"
exit

configure
username "ubnt" password 5c2a1f0e2b0c3a4d5e6f708192a3b4c5 level 15 encrypted
line console
exit

line telnet
exit

line ssh
exit

snmp-server sysname "UBNT EdgeSwitch"
!

interface 0/1
description 'node uplink'
exit



interface 0/2
description 'camera bottom'
switchport access vlan 2
exit



interface 0/3
description 'camera top'
switchport access vlan 2
exit



interface 0/8
description 'lidar'
switchport access vlan 3
exit



exit
"""


class SwitchState:
    """Everything the switch keeps across reloads lives in the state directory."""

    def __init__(self, state_dir):
        self.dir = os.path.abspath(state_dir)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.lock = threading.RLock()
        self.settings_path = os.path.join(self.dir, "switch.json")
        self.faults_path = os.path.join(self.dir, "faults.json")
        self.startup_path = os.path.join(self.dir, "startup-config")
        self.banner_path = os.path.join(self.dir, "cli.bnr")
        self.status_path = os.path.join(self.dir, "status.json")
        if not os.path.exists(self.settings_path):
            atomic_write(self.settings_path, json.dumps(DEFAULT_SETTINGS, indent=2) + "\n")
        if not os.path.exists(self.startup_path):
            atomic_write(self.startup_path, DEFAULT_STARTUP_CONFIG)
        self.boots = 0
        self.reloads = 0
        self.boot()

    # settings and faults are re-read at each use so tests can change them at run time
    def settings(self):
        merged = dict(DEFAULT_SETTINGS)
        try:
            with open(self.settings_path) as handle:
                merged.update(json.load(handle))
        except (OSError, ValueError):
            pass
        return merged

    def faults(self):
        merged = dict(DEFAULT_FAULTS)
        try:
            with open(self.faults_path) as handle:
                merged.update(json.load(handle))
        except (OSError, ValueError):
            pass
        return merged

    def fault_fired(self, name):
        """With "once": true, a transfer fault clears itself after it fired."""
        with self.lock:
            faults = self.faults()
            if faults.get("once"):
                try:
                    with open(self.faults_path) as handle:
                        data = json.load(handle)
                except (OSError, ValueError):
                    data = {}
                data[name] = None
                atomic_write(self.faults_path, json.dumps(data) + "\n", mode=0o644)

    # ---- boot / running configuration -------------------------------------------------------
    def boot(self):
        """Start the chosen image and load the running configuration from the startup-config."""
        with self.lock:
            settings = self.settings()
            if not hasattr(self, "images"):
                self.images = ImageSlots(self.dir, settings["initial_active_image"],
                                         settings["initial_backup_image"])
            before = self.images.version("active")
            self.last_boot = self.images.boot()["last_boot"]
            drop = self.faults().get("upgrade_drops_lines_regex")
            if drop and self.images.version("active") != before:  # a firmware that migrates the config badly
                kept = [l for l in self.read_startup().splitlines(True) if not re.search(drop, l)]
                self.write_startup("".join(kept))
            self.boot_time = time.time()
            self.boots += 1
            self.config, banner = SwitchConfig.parse(self.read_startup())
            if banner is not None:
                self.write_banner(banner)
            self.dirty = False
            self.write_status("booting")   # "up" comes from the simulator once its listeners accept

    @property
    def hostname(self):
        return self.config.hostname

    def read_startup(self):
        try:
            with open(self.startup_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def write_startup(self, data):
        with self.lock:
            atomic_write(self.startup_path, data)

    def read_banner(self):
        try:
            with open(self.banner_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def write_banner(self, text):
        with self.lock:
            if text:
                atomic_write(self.banner_path, text)
            elif os.path.exists(self.banner_path):
                os.unlink(self.banner_path)

    def write_status(self, status):
        atomic_write(self.status_path, json.dumps({
            "pid": os.getpid(), "status": status, "boots": self.boots, "reloads": self.reloads,
            "version": self.images.version("active"), "last_boot": getattr(self, "last_boot", None),
            "time": time.time()}) + "\n", mode=0o644)

    # ---- identity -------------------------------------------------------------------------------
    def identity(self):
        """Machine type, software version and system description of the running image."""
        s = self.settings()
        full = self.images.version("active")
        shown = display_version(full, s.get("version_display", "auto"))
        machine = s["machine_type"] if at_least_1_9(full) else s["machine_type_before_1_9"]
        return {"machine_type": machine, "software_version": shown,
                "system_description": "%s, %s, %s, %s" % (machine, shown, s["kernel_version"], s["boot_version"])}

    # ---- rendering ------------------------------------------------------------------------------
    def uptime_text(self):
        secs = int(time.time() - self.boot_time)
        days, rest = divmod(secs, 86400)
        hrs, rest = divmod(rest, 3600)
        mins, secs = divmod(rest, 60)
        return "%d days %d hrs %d mins %d secs" % (days, hrs, mins, secs)

    def sntp_text(self):
        if self.settings().get("sntp") == "synced":
            return time.strftime("%b %e %H:%M:%S %Y UTC", time.gmtime())
        return "SNTP Last Attempt Status Is Not Successful"

    def header_lines(self):
        s = self.settings()
        ident = self.identity()
        return [
            "!Current Configuration:",
            "!",
            '!System Description "%s"' % ident["system_description"],
            '!System Software Version "%s"' % ident["software_version"],
            '!System Up Time          "%s"' % self.uptime_text(),
            "!Additional Packages     %s" % s["additional_packages"],
            "!Current SNTP Synchronized Time: %s" % self.sntp_text(),
            "!",
        ]

    def config_body_lines(self):
        banner = self.read_banner()
        line = None
        if banner and self.settings().get("banner_in_running_config"):
            line = 'set clibanner "%s"' % banner.replace("\n", "\\n")
        return self.config.lines(banner_line=line)

    def running_config_lines(self):
        return self.header_lines() + self.config_body_lines()

    def save(self):
        """write memory: the running configuration becomes the startup-config."""
        with self.lock:
            lines = self.config_body_lines()
            if self.settings().get("startup_config_header"):
                lines = self.header_lines() + lines
            self.write_startup("\n".join(lines) + "\n")
            self.dirty = False
