"""One command processor per CLI mode (user, privileged, global config, interface, vlan database).

Each processor lists its commands (`specs()`) and handles them; a command that changes mode moves the
session to another processor (`session.move_to`). Configuration changes go through the configuration
model (config.py) only; the session offers the output helpers (emit, ask_yn, error)."""

import re

from . import copying
from .cli import INCOMPLETE, INVALID, NO_BANNER, Spec, dotted
from .config import expand_interfaces

MAX_BANNER_BYTES = 2048

# Global Config commands stored as configuration lines (first word; abbreviations resolve to it).
GLOBAL_WORDS = ("username", "snmp-server", "spanning-tree", "ip", "ipv6", "sntp", "logging", "aaa", "clock",
                "lldp", "service", "device", "dhcp", "udld", "storm-control", "port-channel", "mac", "ntp",
                "dot1x", "errdisable", "link", "passwords", "radius", "tacacs-server", "voice", "poe", "igmp",
                "mtu")
# Interface Config commands stored as lines of the interface block.
INTERFACE_WORDS = ("shutdown", "switchport", "speed", "auto-negotiate", "spanning-tree", "poe",
                   "vlan", "mtu", "lldp", "storm-control", "addport", "deleteport", "routing", "ip", "ipv6",
                   "dot1x", "lacp", "port-channel", "snmp", "classofservice", "flowcontrol")


class Processor:
    suffix = ">"

    def __init__(self, session):
        self.session = session
        self.state = session.state

    def specs(self):
        return []

    def prompt_suffix(self):
        return self.suffix

    def changed(self):
        self.state.dirty = True

    def stored_commands(self, words, store):
        """Specs for configuration commands kept as lines: `<word> ...` and `no <word> ...`."""
        specs = [Spec(w, (lambda args, w=w: store(w + (" " + args if args else ""))), "opt") for w in words]
        specs.append(Spec("no", lambda args: self._negate(words, store, args), "req"))
        return specs

    def _negate(self, words, store, args):
        first = args.split()[0].lower() if args.split() else ""
        hits = [w for w in words if w.startswith(first)] if first else []
        exact = [w for w in hits if w == first]
        hits = exact or hits
        if len(hits) != 1:
            self.session.error(INVALID, self.session.prompt_len + len("no "))
            return
        rest = args.split(None, 1)[1] if len(args.split()) > 1 else ""
        store("no " + hits[0] + (" " + rest if rest else ""))


class ShowCommands:
    """show commands of user and privileged mode."""

    def show_specs(self, privileged):
        specs = [
            Spec("show version", self.show_version, "opt"),
            Spec("show sysinfo", self.show_sysinfo, "opt"),
            Spec("show clibanner", self.show_clibanner, "opt"),
            Spec("show hardware", self.show_version, "opt"),
        ]
        if privileged:
            specs += [
                Spec("show running-config", self.show_running, "opt"),
                Spec("show startup-config", self.show_startup, "opt"),
                Spec("show bootvar", self.show_bootvar, "opt"),
            ]
        return specs

    def show_version(self, args=""):
        s = self.state.settings()
        ident = self.state.identity()
        self.session.emit_filtered([
            "", "Switch: 1", "",
            dotted("System Description", ident["system_description"]),
            dotted("Machine Type", ident["machine_type"]),
            dotted("Machine Model", s["machine_model"]),
            dotted("Serial Number", s["serial_number"]),
            dotted("Part Number", s["part_number"]),
            dotted("Burned In MAC Address", s["mac_address"]),
            dotted("Software Version", ident["software_version"]),
            dotted("Hardware Revision", s["hardware_revision"]),
            ""])

    def show_sysinfo(self, args=""):
        cfg = self.state.config
        self.session.emit_filtered([
            "",
            dotted("System Description", self.state.identity()["system_description"]),
            dotted("System Name", cfg.global_value("snmp-server sysname")),
            dotted("System Location", cfg.global_value("snmp-server location")),
            dotted("System Contact", cfg.global_value("snmp-server contact")),
            dotted("System Object ID", "1.3.6.1.4.1.4413"),
            dotted("System Up Time", self.state.uptime_text()),
            dotted("Current SNTP Synchronized Time", self.state.sntp_text()),
            ""])

    def show_clibanner(self, args=""):
        banner = self.state.read_banner()
        if not banner:
            self.session.emit_filtered(["", NO_BANNER, ""])
            return
        body = banner.replace("\r\n", "\n").rstrip("\n").split("\n")
        self.session.emit_filtered(["Banner Message configured:", "=========================",
                                    "--------------------------"] + body + ["--------------------------"])

    def show_running(self, args=""):
        self.session.emit_filtered([""] + self.state.running_config_lines() + ["", ""])

    def show_startup(self, args=""):
        text = self.state.read_startup().replace("\r\n", "\n").rstrip("\n")
        self.session.emit_filtered([""] + text.split("\n") + ["", ""])

    def show_bootvar(self, args=""):
        """Rows `active  *<version>` / `backup   <version>`; `*` marks the image the next boot starts."""
        data = self.state.images.read()
        rows = []
        for slot in ("active", "backup"):
            image = data.get(slot)
            mark = "*" if data.get("next", "active") == slot else " "
            rows.append("%-6s  %s%s" % (slot, mark, image["version"] if image else "(none)"))
        self.session.emit_filtered(["", "Image Descriptions", "", " active :", " backup :", "", "",
                                    " Images currently available on Flash", "",
                                    "Current boot image: %s" % data.get("next", "active"), ""] + rows + [""])


class UserMode(Processor, ShowCommands):
    suffix = ">"

    def specs(self):
        s = self.session
        return [
            Spec("enable", self.cmd_enable), Spec("exit", s.quit), Spec("logout", s.quit),
            Spec("quit", s.quit), Spec("help", s.help), Spec("password", s.noop),
            Spec("ping", s.ping, "req"), Spec("telnet", s.noop, "req"),
            Spec("traceroute", s.noop, "req"),
        ] + self.show_specs(False)

    def cmd_enable(self, args=""):
        settings = self.state.settings()
        secret = settings.get("enable_password")
        if secret is not None:
            self.session.out("Password:")
            typed = self.session.term.read_line(mask="*")
            if typed != secret:
                self.session.out(settings.get("enable_fail_text", "% Incorrect password.") + "\r\n")
                return
        self.session.move_to(PrivilegedMode)


class PrivilegedMode(Processor, ShowCommands):
    suffix = "#"

    def specs(self):
        s = self.session
        return [
            Spec("enable", s.noop), Spec("disable", self.cmd_disable), Spec("exit", self.cmd_disable),
            Spec("logout", s.quit), Spec("quit", s.quit), Spec("help", s.help),
            Spec("configure", lambda args="": s.move_to(GlobalConfigMode)),
            Spec("copy", lambda args: copying.copy_command(s, args), "req"),
            Spec("reload", s.reload), Spec("write memory", self.cmd_write, "opt"),
            Spec("terminal length", self.cmd_terminal_length, "req"),
            Spec("no terminal length", self.cmd_no_terminal_length),
            Spec("ping", s.ping, "req"), Spec("vlan database", lambda args="": s.move_to(VlanMode)),
            Spec("boot system", self.cmd_boot_system, "req"),
            Spec("network", self.cmd_network, "req"),
        ] + self.show_specs(True)

    def cmd_disable(self, args=""):
        self.session.move_to(UserMode)

    def cmd_write(self, args=""):
        if args.strip().lower() != "confirm":
            self.session.out("\r\n\r\nThis operation may take a few minutes.\r\n"
                             "Management interfaces will not be available during this time.\r\n\r\n")
            if not self.session.ask_yn("Are you sure you want to save? (y/n) "):
                self.session.out("\r\nConfiguration Not Saved!\r\n")
                return
        self.session.save()

    def cmd_terminal_length(self, args):
        try:
            n = int(args.split()[0])
        except ValueError:
            self.session.error(INVALID)
            return
        if self.state.settings().get("honour_terminal_length", True):
            self.session.paging = n != 0

    def cmd_no_terminal_length(self, args=""):
        self.session.paging = True

    def cmd_boot_system(self, args):
        slot = args.strip().lower()
        if slot not in ("active", "backup") or not self.state.images.set_next(slot):
            self.session.error(INVALID, self.session.prompt_len + len("boot system "))
            return
        text = self.state.settings().get("boot_system_text")
        if text:
            self.session.out(text + "\r\n")

    def cmd_network(self, args):
        self.state.config.set_privileged("network " + args)
        self.changed()


class GlobalConfigMode(Processor):
    suffix = "(Config)#"

    def specs(self):
        s = self.session
        return [
            Spec("exit", lambda args="": s.move_to(PrivilegedMode)),
            Spec("end", lambda args="": s.move_to(PrivilegedMode)),
            Spec("hostname", self.cmd_hostname, "req"),
            Spec("set clibanner", self.cmd_set_clibanner, "req"),
            Spec("no set clibanner", self.cmd_no_clibanner),
            Spec("interface", self.cmd_interface, "req"),
        ] + self.stored_commands(GLOBAL_WORDS, self.store)

    def store(self, line):
        self.state.config.set_global(line)
        self.changed()

    def cmd_hostname(self, args):
        self.state.config.hostname = args.strip().strip('"')[:64]
        self.changed()

    def cmd_set_clibanner(self, args):
        text = args.strip()
        if text.startswith('"'):
            text = text[1:-1] if text.endswith('"') and len(text) > 1 else text[1:]
        text = text.replace("\\n", "\n")
        if len(text) > MAX_BANNER_BYTES:
            self.session.error("CLI Banner file is too big to display.")
            return
        self.state.write_banner(text)
        if self.state.settings().get("banner_in_running_config"):
            self.changed()

    def cmd_no_clibanner(self, args=""):
        self.state.write_banner("")

    def cmd_interface(self, args):
        names = expand_interfaces(args)
        if not names:
            self.session.error(INVALID, self.session.prompt_len + len("interface "))
            return
        self.session.move_to(InterfaceMode, name=" ".join(args.split()), members=names)


class InterfaceMode(Processor):
    def __init__(self, session, name, members):
        Processor.__init__(self, session)
        self.name = name
        self.members = members

    def prompt_suffix(self):
        return "(Interface %s)#" % self.name

    def specs(self):
        s = self.session
        return [
            Spec("exit", lambda args="": s.move_to(GlobalConfigMode)),
            Spec("end", lambda args="": s.move_to(PrivilegedMode)),
            Spec("description", self.cmd_description, "req"),
        ] + self.stored_commands(INTERFACE_WORDS, self.store)

    def store(self, line):
        for name in self.members:
            self.state.config.set_interface(name, line)
        self.changed()

    def cmd_description(self, args):
        self.store("description '%s'" % args.strip().strip("'\""))


class VlanMode(Processor):
    suffix = "(Vlan)#"

    def specs(self):
        return [Spec("exit", lambda args="": self.session.move_to(PrivilegedMode)),
                Spec("vlan", lambda args: self.apply("vlan " + args), "req"),
                Spec("no vlan", lambda args: self.apply("no vlan " + args), "req"),
                Spec("set", lambda args: self.apply("set " + args), "req")]

    def apply(self, line):
        problem = self.state.config.vlan_command(line)
        if problem == "incomplete":
            self.session.error(INCOMPLETE)
        elif problem:
            self.session.error(INVALID, self.session.prompt_len + len(line.split()[0]) + 1)
        else:
            self.changed()
