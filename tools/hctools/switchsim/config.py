"""The switch's configuration model: the one owner of what the configuration holds and of the
layout of `show running-config` / a saved startup-config.

The CLI processors (modes.py) change it only through the methods below; state.py loads it from the
startup-config at boot and renders it on `write memory`. Layout (EdgeSwitch running-config):

    hostname "<name>"                 (only when not the default)
    <privileged-level lines>          network protocol/parms, ip ssh, ...
    vlan database / vlan <ids> / vlan name <id> "<name>" / ... / exit, blank line
    configure
    <global lines>                    username, spanning-tree, snmp-server sysname "...", ...
    line console|telnet|ssh / ... / exit, blank line
    !
    interface 0/N / ... / exit, three blank lines
    exit
"""

import re

DEFAULT_HOSTNAME = "UBNT EdgeSwitch"
VLAN_DATABASE = object()  # where the vlan database block sits among the privileged-level lines

# Commands whose first N words name a setting with one value: a new value replaces the old line.
# Anything else is keyed by the whole line (a second identical line is not added twice).
VALUE_WORDS = {
    "hostname": 1, "description": 1, "speed": 1, "mtu": 1, "auto-negotiate": 1, "shutdown": 1,
    "username": 2, "network protocol": 2, "network parms": 2, "network mgmt_vlan": 2,
    "snmp-server sysname": 2, "snmp-server location": 2, "snmp-server contact": 2,
    "spanning-tree mode": 2, "spanning-tree forceversion": 2, "spanning-tree priority": 2,
    "spanning-tree": 1, "switchport access vlan": 3, "switchport mode": 2, "vlan pvid": 2,
    "ip ssh protocol": 3, "ip ssh server": 3, "ip http server": 3, "ip http secure-server": 3,
    "sntp client mode": 3, "clock timezone": 2, "device analytics": 2,
}
# `no <setting>` of these restores a default that the running-config does not show.
SHOWN_ONLY_WHEN_SET = {
    "description", "shutdown", "snmp-server sysname", "snmp-server location", "snmp-server contact",
    "username", "switchport access vlan", "vlan pvid", "speed", "mtu",
}


def _words(line):
    return re.findall(r'"[^"]*"|\'[^\']*\'|\S+', line)


def setting_key(line):
    """The name of the setting a line sets (see VALUE_WORDS)."""
    words = _words(line)
    for n in (3, 2, 1):
        head = " ".join(words[:n]).lower()
        if len(words) >= n and VALUE_WORDS.get(head) == n:
            if head == "username" and len(words) > 1:  # one line per user
                return "username " + words[1].strip('"')
            return head
    return line.strip()


def set_line(lines, line):
    """Upsert `line` (or apply `no <setting>`) into a list of configuration lines, in place."""
    line = " ".join(line.split()) if not re.search(r'["\']', line) else line.strip()
    if line.lower().startswith("no "):
        positive = line[3:].strip()
        key = setting_key(positive)
        kept = [l for l in lines if not isinstance(l, str) or (setting_key(l) != key and l != positive)]
        removed = len(kept) != len(lines)
        lines[:] = kept
        if not removed and key not in SHOWN_ONLY_WHEN_SET:
            lines.append(line)
        return
    key = setting_key(line)
    negated = [i for i, l in enumerate(lines)
               if isinstance(l, str) and l.lower().startswith("no ") and setting_key(l[3:]) == key]
    if negated and key == line.strip():  # `auto-negotiate` after `no auto-negotiate`: back to the default
        del lines[negated[0]]
        return
    for i, l in enumerate(lines):
        if isinstance(l, str) and (setting_key(l) == key or i in negated):
            lines[i] = line
            return
    lines.append(line)


def parse_vlan_list(text):
    """`2,3,10-12` -> [2, 3, 10, 11, 12]; ValueError when malformed or out of 1-4093."""
    ids = []
    for part in text.split(","):
        m = re.match(r"^(\d+)(?:-(\d+))?$", part.strip())
        if not m:
            raise ValueError(text)
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= a <= b <= 4093:
            raise ValueError(text)
        ids.extend(range(a, b + 1))
    return ids


def expand_interfaces(spec):
    """`0/1-0/3` -> ['0/1', '0/2', '0/3']; `0/5`, `lag 1`, `vlan 33` -> [spec]; None when invalid."""
    spec = " ".join(spec.split())
    m = re.match(r"^(\d+)/(\d+)(?:-(\d+)/(\d+))?$", spec)
    if m:
        unit, first = int(m.group(1)), int(m.group(2))
        if m.group(3) is None:
            return [spec]
        if int(m.group(3)) != unit or int(m.group(4)) < first:
            return None
        return ["%d/%d" % (unit, n) for n in range(first, int(m.group(4)) + 1)]
    if re.match(r"^(lag|vlan) \d+$", spec):
        return [spec]
    return None


def _iface_order(name):
    m = re.match(r"^(\d+)/(\d+)$", name)
    if m:
        return (0, int(m.group(1)), int(m.group(2)))
    kind, _, num = name.partition(" ")
    return ({"lag": 1, "vlan": 2}.get(kind, 3), int(num) if num.isdigit() else 0, 0)


class SwitchConfig:
    """Hostname, privileged-level lines, VLAN database, global lines, line blocks, interfaces."""

    def __init__(self):
        self.hostname = DEFAULT_HOSTNAME
        self.top = []             # privileged-level lines; VLAN_DATABASE marks the vlan block
        self.vlans = []           # VLAN ids in the database (1 is implicit)
        self.vlan_names = {}      # id -> name
        self.vlan_extra = []      # other vlan database lines (vlan routing, set igmp, ...)
        self.global_lines = []    # lines under `configure`, and (header, [lines]) for line console/telnet/ssh
        self.interfaces = {}      # name -> [lines]

    # ---- reading a saved configuration ------------------------------------------------------------
    @classmethod
    def parse(cls, text):
        """(SwitchConfig, banner or None) from a startup-config; the `!` header is ignored."""
        cfg = cls()
        banner = None
        lines = [l.rstrip() for l in text.replace("\r\n", "\n").split("\n")]
        section, block = "top", None
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.strip() or line.lstrip().startswith("!"):
                continue
            m = re.match(r'^set clibanner "(.*)"$', line)
            if m:
                banner = m.group(1).replace("\\n", "\n")
                continue
            if block is not None:
                if line == "exit":
                    block = None
                else:
                    block.append(line)
                continue
            if section == "top":
                m = re.match(r'^hostname "(.*)"$', line)
                if m:
                    cfg.hostname = m.group(1)
                elif line == "vlan database":
                    cfg._mark_vlan_database()
                    while i < len(lines) and lines[i] != "exit":
                        if lines[i].strip():
                            cfg.vlan_command(lines[i].strip())
                        i += 1
                    i += 1
                elif line == "configure":
                    section = "global"
                else:
                    cfg.top.append(line)
            elif section == "global":
                m = re.match(r"^interface (.+)$", line)
                if m:
                    block = cfg.interfaces.setdefault(" ".join(m.group(1).split()), [])
                elif re.match(r"^line (console|telnet|ssh)$", line):
                    block = []
                    cfg.global_lines.append((line, block))
                elif line == "exit":
                    section = "end"
                else:
                    cfg.global_lines.append(line)
        return cfg, banner

    # ---- changes made by CLI commands -----------------------------------------------------------
    def _mark_vlan_database(self):
        if VLAN_DATABASE not in self.top:
            self.top.append(VLAN_DATABASE)

    def set_privileged(self, line):
        """A privileged-level configuration line (`network parms ...`)."""
        top = [l for l in self.top if l is not VLAN_DATABASE]
        set_line(top, line)
        has_db = VLAN_DATABASE in self.top
        self.top = top + ([VLAN_DATABASE] if has_db else [])

    def set_global(self, line):
        set_line(self.global_lines, line)

    def set_interface(self, name, line):
        set_line(self.interfaces.setdefault(name, []), line)

    def add_interface(self, name):
        self.interfaces.setdefault(name, [])

    def vlan_command(self, line):
        """One line typed in `vlan database`. Returns None, or an error text."""
        self._mark_vlan_database()
        words = _words(line)
        low = [w.lower() for w in words]
        neg = low[:1] == ["no"]
        if neg:
            words, low = words[1:], low[1:]
        if low[:2] == ["vlan", "name"] and len(words) >= 3:
            try:
                vid = int(words[2])
            except ValueError:
                return "invalid"
            if neg:
                self.vlan_names.pop(vid, None)
            elif len(words) >= 4:
                self.vlan_names[vid] = " ".join(words[3:]).strip('"')[:32]
            else:
                return "incomplete"
            return None
        if low[:1] == ["vlan"] and len(words) == 2:
            try:
                ids = parse_vlan_list(words[1])
            except ValueError:
                return "invalid"
            for vid in ids:
                if neg:
                    if vid in self.vlans:
                        self.vlans.remove(vid)
                    self.vlan_names.pop(vid, None)
                elif vid != 1 and vid not in self.vlans:
                    self.vlans.append(vid)
            self.vlans.sort()
            return None
        set_line(self.vlan_extra, ("no " if neg else "") + " ".join(words))
        return None

    # ---- facts other commands show ----------------------------------------------------------------
    def global_value(self, key):
        """The quoted value of a global setting (`snmp-server sysname "X"` -> X), '' when unset."""
        for line in self.global_lines:
            if isinstance(line, str) and setting_key(line) == key:
                return " ".join(_words(line)[len(key.split()):]).strip('"')
        return ""

    # ---- rendering --------------------------------------------------------------------------------
    def vlan_block(self):
        lines = ["vlan database"]
        if self.vlans:
            lines.append("vlan " + ",".join(str(v) for v in self.vlans))
        for vid in sorted(self.vlan_names):
            lines.append('vlan name %d "%s"' % (vid, self.vlan_names[vid]))
        return lines + self.vlan_extra + ["exit", ""]

    def lines(self, banner_line=None):
        """The configuration body as show running-config prints it (without the `!` header)."""
        out = []
        if self.hostname != DEFAULT_HOSTNAME:
            out.append('hostname "%s"' % self.hostname)
        for item in self.top:
            out.extend(self.vlan_block() if item is VLAN_DATABASE else [item])
        out.append("configure")
        if banner_line:
            out.append(banner_line)
        for item in self.global_lines:
            out.extend([item] if isinstance(item, str) else [item[0]] + item[1] + ["exit", ""])
        out.extend(["!", ""])
        for name in sorted(self.interfaces, key=_iface_order):
            out.extend(["interface %s" % name] + self.interfaces[name] + ["exit", "", "", ""])
        out.append("exit")
        return out
