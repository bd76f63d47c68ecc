"""The EdgeSwitch CLI state machine for one connection (see docs/devices/edgeswitch.md)."""

import io
import re
import time

from .terminal import Disconnected

DOTS_WIDTH = 47
PAGER = "--More-- or (q)uit"
INVALID = "% Invalid input detected at '^' marker."
INCOMPLETE = "Command not found / Incomplete command. Use ? to list commands."
AMBIGUOUS = "% Ambiguous command."
DEFAULT_WELCOME = (
    "Welcome to EdgeSwitch\n\n"
    "By logging in, accessing or using the Ubiquiti (UBNT) product, you\n"
    "acknowledge that you have read and understood the Ubiquiti Licence\n"
    "Agreement (available in the GUI and at https://www.ubnt.com/eula/)\n"
    "and agree to be bound by its terms.\n"
)
NO_BANNER = "No contents to display before displaying the login prompt."
MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_BANNER_BYTES = 2048


def dotted(label, value):
    """`Label....... value`: label plus dots are exactly 47 characters; empty value, no space."""
    text = label + "." * max(1, DOTS_WIDTH - len(label))
    return text + (" " + value if value != "" else "")


class Spec:
    def __init__(self, words, handler, args=None):
        self.kw = tuple(words.split())
        self.handler = handler
        self.args = args  # None: no arguments; "req": required; "opt": optional


class CliError(Exception):
    def __init__(self, message, column=None):
        Exception.__init__(self, message)
        self.column = column


def tokenize(line):
    """Whitespace tokens with their offsets; a double-quoted string is one token."""
    tokens = []
    for m in re.finditer(r'"[^"]*"?|\S+', line):
        tokens.append((m.group(0), m.start()))
    return tokens


def match(line, specs):
    """Resolve unique-prefix abbreviations. Returns (spec, argument text) or raises CliError."""
    tokens = tokenize(line)
    cands = list(specs)
    i = 0
    while i < len(tokens):
        tok, off = tokens[i]
        low = tok.lower()
        live = [s for s in cands if len(s.kw) > i]
        done = [s for s in cands if len(s.kw) == i and s.args]
        hits = [s for s in live if s.kw[i].startswith(low)]
        exact = [s for s in hits if s.kw[i] == low]
        if exact:
            hits = exact
        if not hits:
            if done:
                return done[0], line[off:].strip()
            best = 0
            for s in live:
                n = 0
                while n < min(len(low), len(s.kw[i])) and low[n] == s.kw[i][n]:
                    n += 1
                best = max(best, n)
            # Both captured carets (reference sections 4 and 11) fit "one column past the token start when
            # its first character still matches some command, else under the token start".
            raise CliError(INVALID, off + (1 if best else 0))
        if len(set(s.kw[i] for s in hits)) > 1:
            raise CliError(AMBIGUOUS)
        cands = hits
        i += 1
    complete = [s for s in cands if len(s.kw) == i]
    if not complete:
        raise CliError(INCOMPLETE)
    spec = complete[0]
    if spec.args == "req":
        raise CliError(INCOMPLETE)
    return spec, ""


def parse_url(url):
    """tftp://host[:port]/path/file, ftp://user@host[:port]/path/file -> dict or None."""
    m = re.match(r"^(tftp|ftp)://(.+)$", url, re.I)
    if not m:
        return None
    scheme, rest = m.group(1).lower(), m.group(2)
    slash = rest.find("/", rest.rfind("@") + 1)
    if slash < 0:
        return None
    authority, fullpath = rest[:slash], rest[slash + 1:]
    user = None
    if "@" in authority:
        user, authority = authority.rsplit("@", 1)
    host, port = authority, None
    if re.match(r"^[^:]+:\d+$", authority):
        host, port = authority.split(":")
        port = int(port)
    if "/" in fullpath:
        path, filename = fullpath[: fullpath.rfind("/") + 1], fullpath[fullpath.rfind("/") + 1:]
    else:
        path, filename = "./", fullpath
    if not filename or not host:
        return None
    return {"scheme": scheme, "user": user, "host": host, "port": port, "path": path,
            "filename": filename, "remote": (path if path != "./" else "") + filename}


class CliSession:
    def __init__(self, state, term, server=None, kind="ssh"):
        self.state = state
        self.term = term
        self.server = server
        self.kind = kind
        self.mode = "user"
        self.iface = None
        self.paging = True
        settings = state.settings()
        if kind == "ssh" and settings.get("exec_privileged"):
            self.mode = "priv"
        self.specs = {
            "user": self._user_specs(),
            "priv": self._priv_specs(),
            "config": self._config_specs(),
            "interface": self._interface_specs(),
            "vlan": self._vlan_specs(),
        }

    # ---- command tables ---------------------------------------------------------------------------
    def _show_specs(self, privileged):
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

    def _user_specs(self):
        return [
            Spec("enable", self.cmd_enable), Spec("exit", self.cmd_quit), Spec("logout", self.cmd_quit),
            Spec("quit", self.cmd_quit), Spec("help", self.cmd_help), Spec("password", self.cmd_noop),
            Spec("ping", self.cmd_ping, "req"), Spec("telnet", self.cmd_noop, "req"),
            Spec("traceroute", self.cmd_noop, "req"),
        ] + self._show_specs(False)

    def _priv_specs(self):
        return [
            Spec("enable", self.cmd_noop), Spec("disable", self.cmd_disable), Spec("exit", self.cmd_disable),
            Spec("logout", self.cmd_quit), Spec("quit", self.cmd_quit), Spec("help", self.cmd_help),
            Spec("configure", self.cmd_configure), Spec("copy", self.cmd_copy, "req"),
            Spec("reload", self.cmd_reload), Spec("write memory", self.cmd_write, "opt"),
            Spec("terminal length", self.cmd_terminal_length, "req"),
            Spec("no terminal length", self.cmd_no_terminal_length),
            Spec("ping", self.cmd_ping, "req"), Spec("vlan database", self.cmd_vlan_database),
        ] + self._show_specs(True)

    def _config_specs(self):
        return [
            Spec("exit", self.cmd_end), Spec("end", self.cmd_end),
            Spec("hostname", self.cmd_hostname, "req"),
            Spec("set clibanner", self.cmd_set_clibanner, "req"),
            Spec("no set clibanner", self.cmd_no_clibanner),
            Spec("interface", self.cmd_interface, "req"),
            Spec("username", self.cmd_config_line, "req"),
            Spec("snmp-server", self.cmd_config_line, "req"),
            Spec("spanning-tree", self.cmd_config_line, "req"),
        ]

    def _interface_specs(self):
        return [
            Spec("exit", self.cmd_iface_exit), Spec("end", self.cmd_end),
            Spec("description", self.cmd_description, "req"),
            Spec("shutdown", self.cmd_shutdown), Spec("no shutdown", self.cmd_no_shutdown),
        ]

    def _vlan_specs(self):
        return [Spec("exit", self.cmd_vlan_exit), Spec("vlan", self.cmd_config_line, "req")]

    # ---- output helpers -----------------------------------------------------------------------
    def prompt_text(self):
        name = self.state.hostname
        suffix = {"user": ">", "priv": "#", "config": "(Config)#", "vlan": "(Vlan)#"}.get(self.mode)
        if self.mode == "interface":
            suffix = "(Interface %s)#" % self.iface
        return "(%s) %s" % (name, suffix)

    def out(self, text=""):
        self.term.write(text)

    def emit(self, lines):
        """Write lines (CRLF-terminated), through the pager when paging is on."""
        page = int(self.state.settings().get("page_lines") or 23)
        count = 0
        for line in lines:
            if self.paging and count and count % page == 0:
                self.out(PAGER)
                key = self.term.read_key()
                self.out("\r" + " " * len(PAGER) + "\r")
                if key in "qQ":
                    return
            self.out(line + "\r\n")
            count += 1

    def ask_yn(self, question):
        self.out(question)
        key = self.term.read_key()
        self.out(key + "\r\n")
        return key in "yY"

    def error(self, message, column=None):
        if column is not None:
            self.out(" " * column + "^\r\n")
        self.out(message + "\r\n")

    # ---- main loop ----------------------------------------------------------------------------------
    def run(self):
        try:
            if self.kind == "telnet":
                if not self.telnet_login():
                    return
            else:
                where = self.state.settings().get("banner_over_ssh", "preauth")
                if where in ("shell", "both"):
                    self.show_login_banner()
            while True:
                prompt = self.prompt_text()
                self.out("\r\n" + prompt)
                line = self.term.read_line()
                if not line.strip():
                    continue
                self.dispatch(line, len(prompt))
        except Disconnected:
            pass
        finally:
            self.term.close()

    def show_login_banner(self):
        banner = self.state.read_banner() or DEFAULT_WELCOME
        self.out(banner.replace("\r\n", "\n").rstrip("\n").replace("\n", "\r\n") + "\r\n")

    def telnet_login(self):
        self.term.write_raw(bytes([255, 251, 1, 255, 251, 3]))  # IAC WILL ECHO, IAC WILL SGA
        self.show_login_banner()
        settings = self.state.settings()
        for _ in range(3):
            self.out("User:")
            user = self.term.read_line()
            self.out("Password:")
            password = self.term.read_line(mask="*")
            faults = self.state.faults()
            if (not faults.get("reject_login") and user == settings["username"]
                    and password == settings["password"]):
                return True
            self.out("\r\n")
        self.out("\r\nAuthentication failed. Closing connection.\r\n")
        return False

    def dispatch(self, line, prompt_len):
        pipe = None
        m = re.match(r"^(.*?)\s+\|\s*(include|exclude|begin)\s+(.*)$", line)
        if m and line.lstrip().lower().startswith("sh"):
            line, pipe = m.group(1), (m.group(2), m.group(3).strip().strip('"'))
        try:
            spec, args = match(line, self.specs[self.mode])
        except CliError as exc:
            self.error(str(exc), None if exc.column is None else prompt_len + exc.column)
            return
        slow = float(self.state.faults().get("slow") or 0)
        if slow:
            time.sleep(slow)
        self.pipe = pipe
        spec.handler(args)

    def emit_filtered(self, lines):
        if getattr(self, "pipe", None):
            kind, pattern = self.pipe
            if kind == "include":
                lines = [l for l in lines if pattern in l]
            elif kind == "exclude":
                lines = [l for l in lines if pattern not in l]
            else:
                for idx, l in enumerate(lines):
                    if pattern in l:
                        lines = lines[idx:]
                        break
                else:
                    lines = []
        self.emit(lines)

    # ---- user / privileged commands -----------------------------------------------------------------
    def cmd_noop(self, args=""):
        pass

    def cmd_help(self, args=""):
        self.emit(["", "Use ? for context-sensitive help.", ""])

    def cmd_ping(self, args):
        self.emit(["Pinging %s with 0 bytes of data:" % args.split()[0], "",
                   "----%s PING statistics----" % args.split()[0],
                   "3 packets transmitted, 3 packets received, 0% packet loss",
                   "round-trip (msec) min/avg/max = 1/1/1"])

    def cmd_enable(self, args=""):
        settings = self.state.settings()
        secret = settings.get("enable_password")
        if secret is not None:
            self.out("Password:")
            typed = self.term.read_line(mask="*")
            if typed != secret:
                self.out(settings.get("enable_fail_text", "% Incorrect password.") + "\r\n")
                return
        self.mode = "priv"

    def cmd_disable(self, args=""):
        self.mode = "user"

    def cmd_quit(self, args=""):
        if self.state.dirty:
            if self.ask_yn("\r\nThe system has unsaved changes.\r\nWould you like to save them now? (y/n) "):
                self.state.save()
                self.out("\r\nConfig file 'startup-config' created successfully .\r\n\r\n\r\nConfiguration Saved!\r\n")
            else:
                self.out("\r\nConfiguration Not Saved!\r\n")
        self.term.close()
        raise Disconnected()

    def cmd_terminal_length(self, args):
        try:
            n = int(args.split()[0])
        except ValueError:
            self.error(INVALID)
            return
        if self.state.settings().get("honour_terminal_length", True):
            self.paging = n != 0

    def cmd_no_terminal_length(self, args=""):
        self.paging = True

    def cmd_configure(self, args=""):
        self.mode = "config"

    def cmd_vlan_database(self, args=""):
        self.mode = "vlan"

    def cmd_vlan_exit(self, args=""):
        self.mode = "priv"

    def cmd_write(self, args=""):
        if args.strip().lower() != "confirm":
            self.out("\r\n\r\nThis operation may take a few minutes.\r\n"
                     "Management interfaces will not be available during this time.\r\n\r\n")
            if not self.ask_yn("Are you sure you want to save? (y/n) "):
                self.out("\r\nConfiguration Not Saved!\r\n")
                return
        self.state.save()
        self.out("\r\nConfig file 'startup-config' created successfully .\r\n\r\n\r\nConfiguration Saved!\r\n")

    def cmd_reload(self, args=""):
        self.out("\r\n")
        if self.state.dirty:
            if self.ask_yn("The system has unsaved changes.\r\nWould you like to save them now? (y/n) "):
                self.state.save()
                self.out("\r\nConfig file 'startup-config' created successfully .\r\n\r\n\r\nConfiguration Saved!\r\n")
            else:
                self.out("\r\nConfiguration Not Saved!\r\n")
        if not self.ask_yn("Are you sure you would like to reset the system? (y/n) "):
            return
        self.out("\r\n\r\nSystem will now restart!\r\n")
        if self.server is not None:
            self.server.reload()
        self.term.close()
        raise Disconnected()

    # ---- show ---------------------------------------------------------------------------------------
    def show_version(self, args=""):
        s = self.state.settings()
        self.emit_filtered([
            "", "Switch: 1", "",
            dotted("System Description", s["system_description"]),
            dotted("Machine Type", s["machine_type"]),
            dotted("Machine Model", s["machine_model"]),
            dotted("Serial Number", s["serial_number"]),
            dotted("Part Number", s["part_number"]),
            dotted("Burned In MAC Address", s["mac_address"]),
            dotted("Software Version", s["software_version"]),
            dotted("Hardware Revision", s["hardware_revision"]),
            ""])

    def show_sysinfo(self, args=""):
        s = self.state.settings()
        self.emit_filtered([
            "",
            dotted("System Description", s["system_description"]),
            dotted("System Name", ""),
            dotted("System Location", ""),
            dotted("System Contact", ""),
            dotted("System Object ID", "1.3.6.1.4.1.4413"),
            dotted("System Up Time", self.state.uptime_text()),
            dotted("Current SNTP Synchronized Time", self.state.sntp_text()),
            ""])

    def show_clibanner(self, args=""):
        banner = self.state.read_banner()
        if not banner:
            self.emit_filtered(["", NO_BANNER, ""])
            return
        body = banner.replace("\r\n", "\n").rstrip("\n").split("\n")
        self.emit_filtered(["Banner Message configured:", "=========================",
                            "--------------------------"] + body + ["--------------------------"])

    def show_running(self, args=""):
        lines = [""] + self.state.running_config_lines()
        self.emit_filtered(lines + ["", ""])

    def show_startup(self, args=""):
        text = self.state.read_startup().replace("\r\n", "\n").rstrip("\n")
        self.emit_filtered([""] + text.split("\n") + ["", ""])

    def show_bootvar(self, args=""):
        v = self.state.settings()["software_version"]
        self.emit_filtered(["", "Image Descriptions", "", " active :", " backup :", "", "",
                            " Images currently available on Flash", "",
                            "--------------------------------------------------------------------",
                            " unit      active      backup     current-active        next-active",
                            "--------------------------------------------------------------------", "",
                            "    1   %s   %s   %s   %s" % (v, v, v, v), ""])

    # ---- configuration ------------------------------------------------------------------------------
    def cmd_end(self, args=""):
        self.mode = "priv"
        self.iface = None

    def cmd_hostname(self, args):
        self.state.hostname = args.strip().strip('"')[:64]
        self.state.dirty = True

    def cmd_set_clibanner(self, args):
        text = args.strip()
        if text.startswith('"'):
            text = text[1:-1] if text.endswith('"') and len(text) > 1 else text[1:]
        text = text.replace("\\n", "\n")
        if len(text) > MAX_BANNER_BYTES:
            self.error("CLI Banner file is too big to display.")
            return
        self.state.write_banner(text)
        if self.state.settings().get("banner_in_running_config"):
            self.state.dirty = True

    def cmd_no_clibanner(self, args=""):
        self.state.write_banner("")

    def cmd_config_line(self, args):
        self.state.dirty = True

    def cmd_interface(self, args):
        name = args.split()[0]
        if not re.match(r"^(\d+/\d+(-\d+/\d+)?|lag \d+|vlan \d+)$", args.strip()):
            if not re.match(r"^(lag|vlan)$", name):
                self.error(INVALID)
                return
        self.mode = "interface"
        self.iface = args.strip()

    def _iface_block(self):
        body = self.state.running_body
        header = "interface %s" % self.iface
        if header not in body:
            closing = len(body) - 1 if body and body[-1] == "exit" else len(body)
            body[closing:closing] = [header, "exit", "", "", ""]
        start = body.index(header)
        end = start + 1
        while end < len(body) and body[end] != "exit":
            end += 1
        return body, start, end

    def _iface_set(self, prefix, line):
        body, start, end = self._iface_block()
        for idx in range(start + 1, end):
            if body[idx].startswith(prefix):
                if line is None:
                    del body[idx]
                else:
                    body[idx] = line
                break
        else:
            if line is not None:
                body.insert(end, line)
        self.state.dirty = True

    def cmd_description(self, args):
        text = args.strip().strip("'\"")
        self._iface_set("description ", "description '%s'" % text)

    def cmd_shutdown(self, args=""):
        self._iface_set("shutdown", "shutdown")

    def cmd_no_shutdown(self, args=""):
        self._iface_set("shutdown", None)

    def cmd_iface_exit(self, args=""):
        self.mode = "config"
        self.iface = None

    # ---- copy -----------------------------------------------------------------------------------------
    def cmd_copy(self, args):
        parts = args.split()
        if len(parts) < 2:
            self.error(INCOMPLETE)
            return
        src, dst = parts[0], parts[1]
        lsrc, ldst = src.lower(), dst.lower()
        if lsrc == "system:running-config" and ldst == "nvram:startup-config":
            return self.cmd_write("")
        if lsrc == "nvram:startup-config" and ldst == "nvram:backup-config":
            return
        if lsrc in ("nvram:startup-config", "nvram:clibanner"):
            url = self.check_url(dst, args)
            if url:
                self.transfer("upload", url, "banner" if lsrc == "nvram:clibanner" else "config")
            return
        if ldst in ("nvram:startup-config", "nvram:clibanner"):
            url = self.check_url(src, args)
            if url:
                self.transfer("download", url, "banner" if ldst == "nvram:clibanner" else "config")
            return
        self.error(INVALID, len(self.prompt_text()) + len("copy "))

    def check_url(self, text, args):
        url = parse_url(text)
        if url and url["scheme"] == "ftp" and not self.state.settings().get("ftp_supported"):
            url = None
        if url is None:
            col = len(self.prompt_text()) + len("copy ") + args.find(text)
            self.error(INVALID, col)
        return url

    def transfer(self, direction, url, what):
        settings = self.state.settings()
        mode = "TFTP" if url["scheme"] == "tftp" else settings.get("ftp_mode_label", "FTP")
        password = ""
        if url["scheme"] == "ftp" and url["user"] and settings.get("ftp_asks_password", True):
            self.out("Remote Password:")
            password = self.term.read_line(mask="*")
        lines = ["", dotted("Mode", mode), dotted("Set Server IP", url["host"]),
                 dotted("Path", url["path"]), dotted("Filename", url["filename"]),
                 dotted("Data Type", "Text Configuration" if what == "config" else "CLI Banner")]
        if direction == "download" and what == "config" and settings.get("download_note"):
            lines += ["", settings["download_note"]]
        lines += ["", "Management access will be blocked for the duration of the transfer"]
        self.out("\r\n".join(lines) + "\r\n")
        if not self.ask_yn("Are you sure you want to start? (y/n) "):
            self.out(settings.get("transfer_cancel_text", "File transfer cancelled.") + "\r\n")
            return
        self.out("%s %s transfer starting...\r\n" % (mode, "Text Config" if what == "config" else "CLI Banner"))
        faults = self.state.faults()
        failing = faults.get("transfer_fail")
        if failing in (direction, "both"):
            self.state.fault_fired("transfer_fail")
            time.sleep(0.2)
            self.out("File transfer failed!\r\n")
            return
        drop = faults.get("drop_mid_transfer") == direction
        if drop:
            self.state.fault_fired("drop_mid_transfer")
        delay = float(faults.get("transfer_delay") or 0)
        if delay:  # a slow transfer: the server must still be there when the switch fetches the file
            time.sleep(delay)
        from . import transfer as xfer
        try:
            if direction == "upload":
                data = self.state.read_startup() if what == "config" else self.state.read_banner()
                data = data.encode("utf-8")
                if drop:
                    xfer.put(url, password, data[: max(1, len(data) // 2)])
                    self.drop()
                xfer.put(url, password, data)
                self.out("File transfer operation completed successfully.\r\n")
                return
            data = xfer.get(url, password, MAX_CONFIG_BYTES + 1)
        except Disconnected:
            raise
        except Exception as exc:  # the transfer itself failed: the switch says only this
            self.state.last_transfer_error = repr(exc)
            self.out("File transfer failed!\r\n")
            return
        text = data.decode("utf-8", "replace")
        if what == "banner":
            if len(data) > MAX_BANNER_BYTES:
                self.out("File transfer error: CLI Banner file is too big to display.\r\n")
                return
            self.state.write_banner(text)
            self.out(settings["download_success_line"] + "\r\n")
            return
        if len(data) > MAX_CONFIG_BYTES:
            self.out("File transfer error: Configuration file is too big.\r\n")
            return
        reject = faults.get("reject_config_regex")
        if reject and any(re.search(reject, line) for line in text.splitlines()):
            self.out("File transfer error : Failed to download the configuration file.\r\n")
            return
        mangle = faults.get("drop_lines_regex")
        if mangle:
            kept = [l for l in text.splitlines(True) if not re.search(mangle, l)]
            text = "".join(kept)
        if drop:
            if faults.get("drop_commits"):
                self.state.write_startup(text)
            self.drop()
        self.state.write_startup(text)
        self.out(settings["download_success_line"] + "\r\n")

    def drop(self):
        """Fault: the management connection goes away in the middle of a transfer."""
        self.term.close()
        raise Disconnected()
