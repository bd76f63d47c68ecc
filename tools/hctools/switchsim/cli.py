"""The EdgeSwitch CLI state machine for one connection (see docs/devices/edgeswitch.md)."""

import re
import time

from .terminal import Disconnected

DOTS_WIDTH = 47
PAGER = "--More-- or (q)uit"
INVALID = "% Invalid input detected at '^' marker."
INCOMPLETE = "Command not found / Incomplete command. Use ? to list commands."
AMBIGUOUS = "% Ambiguous command."
# The login text of firmware 1.8 and later (printed in the SSH session before the first prompt).
DEFAULT_WELCOME = (
    "  _____    _\n"
    " | ____|__| | __ _  ___          (c) 2010-2018\n"
    " |  _| / _  |/ _  |/ _ \\         Ubiquiti Networks, Inc.\n"
    " | |__| (_| | (_| |  __/\n"
    " |_____\\__._|\\__. |\\___|         https://www.ubnt.com\n"
    "             |___/\n"
    "\n"
    "Welcome to EdgeSwitch\n\n"
    "By logging in, accessing or using the Ubiquiti (UBNT) product, you\n"
    "acknowledge that you have read and understood the Ubiquiti Licence\n"
    "Agreement (available in the GUI and at https://www.ubnt.com/eula/)\n"
    "and agree to be bound by its terms.\n"
)
NO_BANNER = "No contents to display before displaying the login prompt."


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
    """One connection: login, the read-dispatch loop, output helpers; the commands themselves live in
    one processor per mode (modes.py)."""

    def __init__(self, state, term, server=None, kind="ssh"):
        from .modes import PrivilegedMode, UserMode
        self.state = state
        self.term = term
        self.server = server
        self.kind = kind
        self.paging = True
        self.pipe = None
        self.prompt_len = 0
        privileged = kind == "ssh" and state.settings().get("exec_privileged")
        self.processor = (PrivilegedMode if privileged else UserMode)(self)

    def move_to(self, processor_class, **kwargs):
        self.processor = processor_class(self, **kwargs)

    @property
    def mode(self):
        """user, priv, config, interface or vlan."""
        from . import modes
        return {modes.UserMode: "user", modes.PrivilegedMode: "priv", modes.GlobalConfigMode: "config",
                modes.InterfaceMode: "interface", modes.VlanMode: "vlan"}[type(self.processor)]

    # ---- output helpers -----------------------------------------------------------------------
    def prompt_text(self):
        return "(%s) %s" % (self.state.hostname, self.processor.prompt_suffix())

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

    def emit_filtered(self, lines):
        if self.pipe:
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
                where = self.state.settings().get("banner_over_ssh", "shell")
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
        self.prompt_len = prompt_len
        try:
            spec, args = match(line, self.processor.specs())
        except CliError as exc:
            self.error(str(exc), None if exc.column is None else prompt_len + exc.column)
            return
        slow = float(self.state.faults().get("slow") or 0)
        if slow:
            time.sleep(slow)
        self.pipe = pipe
        spec.handler(args)

    # ---- commands shared by several modes ----------------------------------------------------------
    def noop(self, args=""):
        pass

    def help(self, args=""):
        self.emit(["", "Use ? for context-sensitive help.", ""])

    def ping(self, args):
        self.emit(["Pinging %s with 0 bytes of data:" % args.split()[0], "",
                   "----%s PING statistics----" % args.split()[0],
                   "3 packets transmitted, 3 packets received, 0% packet loss",
                   "round-trip (msec) min/avg/max = 1/1/1"])

    def save(self):
        self.state.save()
        self.out("\r\nConfig file 'startup-config' created successfully .\r\n\r\n\r\nConfiguration Saved!\r\n")

    def ask_save_unsaved(self, lead=""):
        if self.state.dirty:
            if self.ask_yn(lead + "The system has unsaved changes.\r\nWould you like to save them now? (y/n) "):
                self.save()
            else:
                self.out("\r\nConfiguration Not Saved!\r\n")

    def quit(self, args=""):
        self.ask_save_unsaved("\r\n")
        self.term.close()
        raise Disconnected()

    def reload(self, args=""):
        self.out("\r\n")
        self.ask_save_unsaved()
        if not self.ask_yn("Are you sure you would like to reset the system? (y/n) "):
            return
        self.out("\r\n\r\nSystem will now restart!\r\n")
        if self.server is not None:
            self.server.reload()
        self.term.close()
        raise Disconnected()

    def drop(self):
        """Fault: the management connection goes away in the middle of a transfer."""
        self.term.close()
        raise Disconnected()
