"""Persistent switch state: settings, credentials, startup-config, CLI banner, faults."""

import json
import os
import re
import tempfile
import threading
import time

DEFAULT_HOSTNAME = "UBNT EdgeSwitch"

# Settings written to <state-dir>/switch.json on first start. Keys marked "unconfirmed" model
# behaviour docs/devices/edgeswitch.md lists as not confirmed on real hardware.
DEFAULT_SETTINGS = {
    "username": "ubnt",
    "password": "ubnt",
    # None: `enable` does not ask for a password; a string: it asks and checks it.
    "enable_password": None,
    "system_description": "EdgeSwitch 8-Port 150W, 1.9.2.5322630, Linux 3.6.5-03329b4a, 1.1.0.5102011",
    "machine_type": "EdgeSwitch 8-Port 150W",
    "machine_model": "ES-8-150W",
    "serial_number": "F09FC2000001",
    "mac_address": "F0:9F:C2:00:00:01",
    "part_number": "13-02072",
    "hardware_revision": "20",
    "software_version": "1.9.2.5322630",
    "additional_packages": "QOS,IPv6 Management,Routing",
    # "synced": the header shows the current time; anything else: the "not successful" text.
    "sntp": "synced",
    # `aaa authorization exec default local`: SSH logins land directly in privileged mode.
    "exec_privileged": False,
    # Paging on by default (terminal length 24): 23 lines per page, then the pager line.
    "page_lines": 23,
    # Test knob: when false, `terminal length 0` is accepted but paging stays on (exercises pagers).
    "honour_terminal_length": True,
    # Seconds the switch stays away after `reload` answers y.
    "reload_delay": 3.0,
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
    # unconfirmed: where SSH shows the CLI banner: "preauth" (SSH banner), "shell", "both", "none".
    "banner_over_ssh": "preauth",
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


def atomic_write(path, data, mode=0o600):
    """Write bytes/str to path via a temp file and rename."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


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
        """Load the running configuration from the startup-config, as the switch does at boot."""
        with self.lock:
            self.boot_time = time.time()
            self.boots += 1
            text = self.read_startup()
            body = []
            self.hostname = DEFAULT_HOSTNAME
            in_header = True
            for line in text.replace("\r\n", "\n").split("\n"):
                if in_header and line.startswith("!"):
                    continue
                in_header = False
                m = re.match(r'^hostname "(.*)"\s*$', line)
                if m:
                    self.hostname = m.group(1)
                    continue
                m = re.match(r'^set clibanner "(.*)"\s*$', line)
                if m:
                    self.write_banner(m.group(1).replace("\\n", "\n"))
                    continue
                body.append(line)
            while body and body[-1] == "":
                body.pop()
            self.running_body = body
            self.dirty = False
            self.write_status("up")

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
            "time": time.time()}) + "\n", mode=0o644)

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
        return [
            "!Current Configuration:",
            "!",
            '!System Description "%s"' % s["system_description"],
            '!System Software Version "%s"' % s["software_version"],
            '!System Up Time          "%s"' % self.uptime_text(),
            "!Additional Packages     %s" % s["additional_packages"],
            "!Current SNTP Synchronized Time: %s" % self.sntp_text(),
            "!",
        ]

    def config_body_lines(self):
        lines = []
        if self.hostname != DEFAULT_HOSTNAME:
            lines.append('hostname "%s"' % self.hostname)
        banner = self.read_banner()
        for line in self.running_body:
            lines.append(line)
            if line == "configure" and banner and self.settings().get("banner_in_running_config"):
                lines.append('set clibanner "%s"' % banner.replace("\n", "\\n"))
        return lines

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
