# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration normalisation and comparison, banner version handling."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

# Header lines whose values change on their own (up time, SNTP clock).
VOLATILE_PATTERNS = (
    r"^!System Up Time\b",
    r"^!Current SNTP Synchronized Time\b",
)
DEFAULT_VERSION_REGEX = r"(?i)\bversion\s*[:=]?\s*v?([0-9][0-9A-Za-z._+~-]*)"
DEFAULT_BANNER_TEMPLATE = "waggle config version: {version}"


def split_lines(text):
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def strip_volatile(text, extra_ignore=()):
    """The configuration as LF text without volatile header lines (for diffs shown to people)."""
    patterns = [re.compile(p) for p in list(VOLATILE_PATTERNS) + list(extra_ignore or ())]
    out = []
    for line in split_lines(text):
        line = line.rstrip()
        if any(p.search(line) for p in patterns):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    while out and out[0] == "":
        out.pop(0)
    return "\n".join(out) + "\n" if out else ""


def normalise(text, extra_ignore=()):
    """Lines that matter for comparison: no `!` comment lines (header, volatile or not, and
    separators), no blank lines, no trailing whitespace, LF line ends."""
    patterns = [re.compile(p) for p in list(extra_ignore or ())]
    out = []
    for line in split_lines(text):
        line = line.rstrip()
        if not line.strip() or line.lstrip().startswith("!"):
            continue
        if any(p.search(line) for p in patterns):
            continue
        out.append(line)
    return out


def same_config(a, b, extra_ignore=()):
    return normalise(a, extra_ignore) == normalise(b, extra_ignore)


def banner_version(banner, regex=DEFAULT_VERSION_REGEX):
    if not banner:
        return None
    m = re.search(regex, banner)
    if not m:
        return None
    return m.group(1) if m.groups() else m.group(0)


def render_banner(template, version):
    return template.replace("{version}", str(version))


def check_banner_text(banner):
    """The banner goes into `set clibanner "<text>"`: one line, no double quote, <= 2000 chars."""
    if banner is None:
        return None
    if '"' in banner or "\n" in banner or "\r" in banner:
        return "the banner %r cannot be set with set clibanner: use one line without double quotes" % banner
    if len(banner) > 2000:
        return "the banner is %d characters long; the switch accepts at most 2000" % len(banner)
    return None
