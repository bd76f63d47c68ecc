# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for EdgeSwitch show commands (layouts in docs/devices/edgeswitch.md)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

DOTTED_RE = re.compile(r"^(\S[^.]*?)\.{2,}\s?(.*)$")


def _key(label):
    return re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")


def parse_dotted(text):
    """`Label............ value` lines (show version, show sysinfo, copy summaries) -> dict."""
    result = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        m = DOTTED_RE.match(line.strip())
        if m:
            result[_key(m.group(1))] = m.group(2).rstrip()
    return result


def parse_show_version(text):
    fields = parse_dotted(text)
    m = re.search(r"^Switch:\s*(\d+)", text, re.M)
    if m:
        fields["switch"] = int(m.group(1))
    return fields


def parse_clibanner(text):
    """show clibanner -> banner text ('' when none is configured)."""
    if "No contents to display" in text:
        return ""
    lines = text.replace("\r\n", "\n").split("\n")
    dashes = [i for i, line in enumerate(lines) if re.match(r"^-{5,}\s*$", line)]
    if len(dashes) >= 2:
        return "\n".join(lines[dashes[0] + 1:dashes[-1]])
    body = [line for line in lines if line.strip() and not line.startswith("Banner Message")
            and not re.match(r"^=+\s*$", line)]
    return "\n".join(body)


# Lines of show running-config carrying one quoted value: (pattern, key in parse_running_config's result).
QUOTED_SETTINGS = (
    (re.compile(r'^!System Description "(.*)"$'), "system_description"),
    (re.compile(r'^!System Software Version "(.*)"$'), "software_version"),
    (re.compile(r'^hostname "(.*)"$'), "hostname"),
    (re.compile(r'^set clibanner "(.*)"$'), "banner"),
)


def _quoted_setting(line):
    """(key, value) when line is one of QUOTED_SETTINGS, else (None, None)."""
    for pattern, key in QUOTED_SETTINGS:
        m = pattern.match(line)
        if m:
            return key, m.group(1)
    return None, None


def parse_running_config(text):
    """Header facts, hostname, banner line and interface blocks of show running-config."""
    result = {"hostname": None, "banner": None, "system_description": None,
              "software_version": None, "interfaces": {}}
    current = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        key, value = _quoted_setting(line)
        if key:
            result[key] = value
            continue
        m = re.match(r"^interface (\S.*)$", line)
        if m:
            current = {"description": None, "shutdown": False, "lines": []}
            result["interfaces"][m.group(1)] = current
            continue
        if current is not None:
            if line == "exit":
                current = None
                continue
            if line:
                current["lines"].append(line)
            m = re.match(r"^description '(.*)'$", line)
            if m:
                current["description"] = m.group(1)
            if line == "shutdown":
                current["shutdown"] = True
    return result


BOOTVAR_ROW = re.compile(r"^\s*(active|backup)\s+(\*?)\s*(\S+)\s*$", re.M)


def parse_bootvar(text):
    """show bootvar -> {"active": version, "backup": version, "next": slot}: rows `active  *<version>` /
    `backup   <version>`, `*` on the image the next boot starts."""
    slots = {"active": None, "backup": None, "next": None}
    for m in BOOTVAR_ROW.finditer(text.replace("\r\n", "\n")):
        slots[m.group(1)] = m.group(3)
        if m.group(2):
            slots["next"] = m.group(1)
    return slots


PARSERS = (
    (re.compile(r"^sh(o(w)?)?\s+ver(s(i(o(n)?)?)?)?\s*$", re.I), "version", parse_show_version),
    (re.compile(r"^sh(o(w)?)?\s+sysi(n(f(o)?)?)?\s*$", re.I), "sysinfo", parse_dotted),
    (re.compile(r"^sh(o(w)?)?\s+clib(a(n(n(e(r)?)?)?)?)?\s*$", re.I), "clibanner", parse_clibanner),
    (re.compile(r"^sh(o(w)?)?\s+ru(n(n(i(n(g(-(c(o(n(f(i(g)?)?)?)?)?)?)?)?)?)?)?)?\s*$", re.I),
     "running_config", parse_running_config),
    (re.compile(r"^sh(o(w)?)?\s+boot(v(a(r)?)?)?\s*$", re.I), "bootvar", parse_bootvar),
)


def parse_output(command, output):
    """(name, parsed) for the commands we know, else (None, None)."""
    for regex, name, func in PARSERS:
        if regex.match(command.strip()):
            return name, func(output)
    return None, None
