# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Built-in node checks of waggle.honeycomb.sanity_check (node side, Python 3.6+, stdlib only).

Every check is a function ``check(cfg, ctx) -> Outcome``; ``cfg`` is the check's settings (the
defaults in ``SETTINGS`` merged with the user's), ``ctx`` a ``Context`` with shared helpers. All
inputs (paths, addresses, commands) are settings, so tests and simulated nodes can point them at
fixtures. Checks only read: no file is written, no GPIO exported, nothing restarted.
docs/sanity.md documents every check, setting and rc.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import socket
import ssl
import sys

try:
    import configparser
except ImportError:  # pragma: no cover - Python 2 is not a node Python
    configparser = None

try:
    import http.client as httplib
except ImportError:  # pragma: no cover
    httplib = None

from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity.runner import run_command

PASS = "pass"
FAIL = "fail"
SKIPPED = "skipped"


class Outcome(object):
    """What a check found: result (pass/fail/skipped), rc (None when skipped), output, reason."""

    def __init__(self, result, rc=None, output="", reason=""):
        self.result = result
        self.rc = rc
        self.output = output
        self.reason = reason


def passed(output="", reason=""):
    return Outcome(PASS, 0, output, reason)


def failed(rc, reason, output=""):
    return Outcome(FAIL, rc, output or reason, reason)


def skipped(reason, output=""):
    return Outcome(SKIPPED, None, output or reason, reason)


class Context(object):
    """Shared helpers; tests replace ``adjtimex`` and ``which``."""

    def __init__(self, adjtimex=None, which=None):
        self.adjtimex = adjtimex or libc_adjtimex_state
        self.which = which or find_executable


def find_executable(command):
    """Absolute path of ``command`` (a path, or a name looked up in PATH and sbin dirs), or None."""
    if not command:
        return None
    if os.sep in command:
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    dirs = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/local/sbin", "/usr/local/bin",
                                                           "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    for folder in dirs:
        if not folder:
            continue
        candidate = os.path.join(folder, command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def read_text(path):
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# free space

def _free_space(cfg, ctx):
    path = cfg["path"]
    probe = path
    note = ""
    while not os.path.exists(probe):
        parent = os.path.dirname(probe.rstrip("/")) or "/"
        if parent == probe:
            break
        probe = parent
    if probe != path:
        note = " (%s does not exist yet; measured %s, where it will be created)" % (path, probe)
    st = os.statvfs(probe)
    total = st.f_blocks * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    avail_mb = avail / (1024.0 * 1024.0)
    percent = (100.0 * avail / total) if total else 0.0
    text = "%s: %.0f MiB free of %.0f MiB (%.1f%%)%s" % (path, avail_mb, total / (1024.0 * 1024.0), percent, note)
    problems = []
    if avail_mb < cfg["min_free_mb"]:
        problems.append("below min_free_mb %s" % cfg["min_free_mb"])
    if percent < cfg["min_free_percent"]:
        problems.append("below min_free_percent %s" % cfg["min_free_percent"])
    if problems:
        return failed(1, "%s; %s" % (text, " and ".join(problems)))
    return passed(text)


# --------------------------------------------------------------------------------------------
# mounts

def _unescape_mount(field):
    # /proc/mounts escapes space, tab, newline and backslash as \040 \011 \012 \134.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text):
    """{mount point: (device, fstype, set of options)}; the last entry of a mount point wins."""
    mounts = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point = _unescape_mount(fields[1])
        mounts[point] = (_unescape_mount(fields[0]), fields[2], set(fields[3].split(",")))
    return mounts


def _mounts(cfg, ctx):
    expected = cfg["expected"]
    if not expected:
        return skipped("no expected mounts configured (settings.mounts.expected is empty)")
    mounts = parse_mounts(read_text(cfg["mounts_file"]))
    lines = []
    missing = []
    wrong = []
    for point in sorted(expected):
        mode = expected[point]
        if point not in mounts:
            missing.append(point)
            lines.append("%s: not mounted (expected %s) FAIL" % (point, mode))
            continue
        device, fstype, options = mounts[point]
        actual = "ro" if "ro" in options else "rw"
        if actual != mode:
            wrong.append(point)
            lines.append("%s: %s %s mounted %s, expected %s FAIL" % (point, device, fstype, actual, mode))
        else:
            lines.append("%s: %s %s %s ok" % (point, device, fstype, actual))
    output = "\n".join(lines)
    if missing:
        return failed(1, "not mounted: %s" % ", ".join(missing), output)
    if wrong:
        return failed(2, "wrong mode: %s" % ", ".join(wrong), output)
    return passed(output)


# --------------------------------------------------------------------------------------------
# fsck log

def _fsck_clean(cfg, ctx):
    path = cfg["log"]
    if not os.path.exists(path):
        if cfg["missing_log"] == "skip":
            return skipped("%s does not exist (settings.fsck_clean.missing_log is skip)" % path)
        return failed(1, "%s does not exist: no record of a boot-time fsck" % path)
    text = read_text(path)
    for pattern in cfg["error_patterns"]:
        if re.search(pattern, text, re.MULTILINE):
            return failed(3, "%s reports file system errors (matched %r)" % (path, pattern), text)
    not_clean = []
    for device in cfg["devices"]:
        if not re.search(r"^%s: clean\b" % re.escape(device), text, re.MULTILINE):
            not_clean.append(device)
    if not_clean:
        return failed(2, "%s has no '<device>: clean' line for %s" % (path, ", ".join(not_clean)), text)
    return passed("%s: %s clean" % (path, ", ".join(cfg["devices"]) or "no devices required"))


# --------------------------------------------------------------------------------------------
# clock

TIME_ERROR = 5


def libc_adjtimex_state():
    """Kernel clock state from adjtimex(2) with modes=0 (read only): returns the call's result
    (5 = TIME_ERROR: clock not synchronised), or None when adjtimex is not available."""
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buf = ctypes.create_string_buffer(512)  # larger than struct timex on every ABI; modes = 0
        state = libc.adjtimex(buf)
    except (OSError, AttributeError, ImportError):
        return None
    if state < 0:
        return None
    return state


def _clock_from_timedatectl(cfg, ctx):
    exe = ctx.which(cfg["timedatectl"])
    if not exe:
        return None, "%s not found" % cfg["timedatectl"]
    rc, out, _timed_out, error = run_command([exe, "status"], cfg["command_timeout"])
    if rc != 0:
        return None, "%s status failed (rc %s): %s" % (exe, rc, (error or out).strip()[-200:])
    # systemd >= 239: "System clock synchronized: yes"; 237 (Ubuntu 18.04) and older:
    # "System clock synchronized" or "NTP synchronized".
    match = re.search(r"^\s*(?:System clock|NTP) synchronized:\s*(yes|no)\s*$", out, re.MULTILINE)
    if not match:
        return None, "%s status printed no 'synchronized:' line" % exe
    return match.group(1) == "yes", "timedatectl: %s" % match.group(0).strip()


def _clock_from_file(cfg, ctx):
    path = cfg["timesync_file"]
    folder = os.path.dirname(path)
    if os.path.exists(path):
        return True, "%s exists" % path
    if not os.path.isdir(folder):
        return None, "%s does not exist (systemd-timesyncd not running)" % folder
    return False, "%s exists but %s does not" % (folder, path)


def _clock_from_adjtimex(cfg, ctx):
    state = ctx.adjtimex()
    if state is None:
        return None, "adjtimex(2) not available"
    if state == TIME_ERROR:
        return False, "adjtimex(2) returned TIME_ERROR (kernel clock not synchronised)"
    return True, "adjtimex(2) returned %d (kernel clock synchronised)" % state


CLOCK_SOURCES = {
    "timedatectl": _clock_from_timedatectl,
    "timesync_file": _clock_from_file,
    "adjtimex": _clock_from_adjtimex,
}


def _clock_synchronized(cfg, ctx):
    notes = []
    for source in cfg["sources"]:
        verdict, text = CLOCK_SOURCES[source](cfg, ctx)
        notes.append("%s: %s" % (source, text))
        if verdict is None:
            continue
        output = "\n".join(notes)
        if verdict:
            return passed(output)
        return failed(1, "clock not synchronised according to %s" % source, output)
    return skipped("no clock source applies (%s)" % "; ".join(notes))


# --------------------------------------------------------------------------------------------
# node identity

def read_identity(path):
    """Stripped content of a one-line identity file, or None when it is missing or unreadable."""
    try:
        return read_text(path).strip()
    except (IOError, OSError):
        return None


def _node_identity(cfg, ctx):
    lines = []
    node_id = read_identity(cfg["node_id_file"])
    if node_id is None:
        return failed(1, "%s is missing or unreadable" % cfg["node_id_file"])
    if not re.match(cfg["node_id_pattern"] + r"\Z", node_id):
        return failed(2, "%s holds %r, which does not match %s" % (cfg["node_id_file"], node_id, cfg["node_id_pattern"]))
    lines.append("node-id %s" % node_id)
    vsn = read_identity(cfg["vsn_file"])
    if vsn is None:
        if cfg["require_vsn"]:
            return failed(3, "%s is missing or unreadable" % cfg["vsn_file"], "\n".join(lines))
        lines.append("vsn: %s missing (not required)" % cfg["vsn_file"])
    elif not re.match(cfg["vsn_pattern"] + r"\Z", vsn):
        return failed(4, "%s holds %r, which does not match %s" % (cfg["vsn_file"], vsn, cfg["vsn_pattern"]),
                      "\n".join(lines))
    else:
        lines.append("vsn %s" % vsn)
    if cfg["expected_node_id"] and node_id != cfg["expected_node_id"].upper():
        return failed(5, "node-id is %s but the inventory expects %s: wrong node behind this connection?"
                      % (node_id, cfg["expected_node_id"]), "\n".join(lines))
    if cfg["expected_vsn"] and vsn != cfg["expected_vsn"]:
        return failed(6, "vsn is %s but the inventory expects %s" % (vsn, cfg["expected_vsn"]), "\n".join(lines))
    if cfg["hostname_file"]:
        hostname = read_identity(cfg["hostname_file"])
        wanted = cfg["hostname_prefix"] + node_id
        if hostname != wanted:
            return failed(7, "%s holds %r, expected %r" % (cfg["hostname_file"], hostname, wanted), "\n".join(lines))
        lines.append("hostname %s" % hostname)
    return passed("\n".join(lines))


# --------------------------------------------------------------------------------------------
# reverse tunnel

def find_processes(proc_dir, pattern):
    """[(pid, cmdline)] of the processes under ``proc_dir`` whose NUL-joined-by-space cmdline
    matches ``pattern``."""
    regex = re.compile(pattern)
    found = []
    try:
        entries = os.listdir(proc_dir)
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(os.path.join(proc_dir, entry, "cmdline"), "rb") as handle:
                raw = handle.read()
        except (IOError, OSError):
            continue
        cmdline = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        if cmdline and regex.search(cmdline):
            found.append((int(entry), cmdline))
    return sorted(found)


def _reverse_tunnel(cfg, ctx):
    method = cfg["method"]
    systemctl = ctx.which(cfg["systemctl"])
    if method == "auto":
        method = "systemd" if systemctl and os.path.isdir(cfg["systemd_dir"]) else "process"
    if method == "systemd":
        if not systemctl:
            return failed(2, "settings.reverse_tunnel.method is systemd but %s was not found" % cfg["systemctl"])
        rc, out, _timed_out, error = run_command([systemctl, "is-active", cfg["unit"]], cfg["command_timeout"])
        state = (out.strip().splitlines() or [""])[-1]
        if rc == 0:
            return passed("unit %s is %s" % (cfg["unit"], state or "active"))
        return failed(1, "unit %s is not active (%s)" % (cfg["unit"], error or state or "rc %d" % rc), out)
    procs = find_processes(cfg["proc_dir"], cfg["process_pattern"])
    if procs:
        return passed("\n".join("pid %d: %s" % proc for proc in procs))
    return failed(1, "no process under %s matches %r: the reverse tunnel ssh is not running"
                  % (cfg["proc_dir"], cfg["process_pattern"]))


# --------------------------------------------------------------------------------------------
# k3s

def _k3s_node_ready(cfg, ctx):
    exe = ctx.which(cfg["kubectl"])
    if not exe:
        return skipped("%s not found: k3s is not installed on this node" % cfg["kubectl"])
    name = cfg["node_name"]
    if not name:
        node_id = read_identity(cfg["node_id_file"])
        if node_id and re.match(r"[0-9A-Fa-f]{16}\Z", node_id):
            name = "%s.%s" % (node_id.lower(), cfg["node_name_suffix"])
        else:
            name = socket.gethostname()
    argv = [exe]
    if cfg["kubeconfig"]:
        argv += ["--kubeconfig", cfg["kubeconfig"]]
    argv += ["get", "node", name, "-o", "json"]
    rc, out, _timed_out, error = run_command(argv, cfg["command_timeout"])
    if rc != 0:
        command = " ".join(argv[:1] + argv[-5:])
        return failed(2 if rc != 127 else 127, "%s failed (rc %d): %s" % (command, rc, error or "see output"), out)
    try:
        node = json.loads(out)
        conditions = node.get("status", {}).get("conditions", [])
    except (ValueError, AttributeError):
        return failed(3, "kubectl printed something that is not a node object", out)
    ready = [c for c in conditions if c.get("type") == "Ready"]
    if not ready:
        return failed(3, "node %s has no Ready condition" % name, out)
    status = ready[0].get("status")
    text = "node %s Ready=%s %s" % (name, status, ready[0].get("reason", ""))
    if status == "True":
        return passed(text)
    return failed(1, text.strip() + ": %s" % ready[0].get("message", ""))


# --------------------------------------------------------------------------------------------
# switch

def tcp_connect(address, port, timeout):
    """None when a TCP connection to address:port succeeds, else the error text."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except (socket.error, socket.timeout, OSError) as exc:
        return str(exc) or exc.__class__.__name__
    sock.close()
    return None


def _switch_reachable(cfg, ctx):
    address = cfg["address"]
    if not address or not cfg["ports"]:
        return skipped("no switch address or ports configured")
    lines = []
    open_ports = []
    for port in cfg["ports"]:
        error = tcp_connect(address, port, cfg["connect_timeout"])
        if error is None:
            open_ports.append(port)
            lines.append("%s:%d open" % (address, port))
        else:
            lines.append("%s:%d %s" % (address, port, error))
    output = "\n".join(lines)
    if cfg["require"] == "all":
        ok = len(open_ports) == len(cfg["ports"])
    else:
        ok = bool(open_ports)
    if ok:
        return passed(output)
    return failed(1, "switch %s not reachable on %s of ports %s" % (address, cfg["require"], cfg["ports"]), output)


# --------------------------------------------------------------------------------------------
# cameras

def http_status(scheme, address, port, path, timeout):
    """(status, None) of a GET, or (None, error text)."""
    try:
        if scheme == "https":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if hasattr(ssl, "PROTOCOL_TLS_CLIENT") else ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # camera self-signed certificates; liveness only
            conn = httplib.HTTPSConnection(address, port, timeout=timeout, context=context)
        else:
            conn = httplib.HTTPConnection(address, port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"User-Agent": "waggle.honeycomb sanity_check"})
            response = conn.getresponse()
            response.read(65536)
            return response.status, None
        finally:
            conn.close()
    except (socket.error, socket.timeout, OSError, httplib.HTTPException) as exc:
        return None, str(exc) or exc.__class__.__name__


def _cameras_http(cfg, ctx):
    addresses = cfg["addresses"]
    if not addresses:
        return skipped("no camera addresses configured")
    lines = []
    dead = []
    for address in addresses:
        status, error = http_status(cfg["scheme"], address, cfg["port"], cfg["path"], cfg["request_timeout"])
        if status is not None and status in cfg["alive_status"]:
            lines.append("%s: HTTP %d alive" % (address, status))
        else:
            dead.append(address)
            lines.append("%s: %s" % (address, "HTTP %d (not an alive status)" % status if status is not None else error))
    output = "\n".join(lines)
    alive = len(addresses) - len(dead)
    ok = not dead if cfg["require"] == "all" else alive > 0
    if ok:
        return passed(output)
    return failed(min(len(dead), 126), "%d of %d cameras not answering: %s" % (len(dead), len(addresses), ", ".join(dead)),
                  output)


# --------------------------------------------------------------------------------------------
# lan0

def _lan0_up(cfg, ctx):
    iface = cfg["interface"]
    path = os.path.join(cfg["sys_class_net"], iface, "operstate")
    if not os.path.exists(path):
        return failed(3, "%s not present (%s missing)" % (iface, path))
    state = read_text(path).strip()
    if state in cfg["accept_states"]:
        return passed("%s operstate %s" % (iface, state))
    return failed(1, "%s operstate is %r, expected one of %s" % (iface, state, cfg["accept_states"]))


# --------------------------------------------------------------------------------------------
# PSU GPIO lines (the Waggle fatal/psu_status.test, read only)

PSU_CONFIG_KEYS = (("acok", "gpio-acok3"), ("pg1", "gpio-pg1"), ("pg2", "gpio-pg2"), ("pg3", "gpio-pg3"),
                   ("pg4", "gpio-pg4"))


def psu_lines_from_config(path, section):
    """GPIO numbers of the PSU lines from the node's config.ini ``[wagman]`` (what
    ``waggle-get-config -s wagman -k gpio-…`` reads), or {}."""
    if configparser is None or not os.path.exists(path):
        return {}
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return {}
    if not parser.has_section(section):
        return {}
    lines = {}
    for name, key in PSU_CONFIG_KEYS:
        value = parser.get(section, key, fallback="").strip()
        if value:
            lines[name] = value
    return lines


def ep_supply_present(manifest_path):
    """True when the node manifest lists a ``psu-bbbd`` resource (the Waggle test's rule)."""
    try:
        manifest = json.loads(read_text(manifest_path))
    except (IOError, OSError, ValueError):
        return False
    for resource in manifest.get("resources") or []:
        hardware = (resource.get("hardware") or {}).get("hardware") or ""
        if hardware.startswith("psu") and hardware == "psu-bbbd":
            return True
    return False


def _psu_gpio(cfg, ctx):
    lines = dict(cfg["lines"]) or psu_lines_from_config(cfg["config_ini"], cfg["config_section"])
    if not lines:
        return skipped("no PSU GPIO lines configured (settings.psu_gpio.lines empty and no gpio-* keys in [%s] of %s)"
                       % (cfg["config_section"], cfg["config_ini"]))
    values = {}
    out = []
    for name in ("acok", "pg1", "pg2", "pg3", "pg4"):
        if name not in lines:
            continue
        gpio = str(lines[name])
        path = os.path.join(cfg["gpio_dir"], "gpio%s" % gpio, "value")
        try:
            values[name] = read_text(path).strip()
        except (IOError, OSError):
            return failed(1, "cannot read %s (GPIO %s for %s not exported; this check does not export GPIOs)"
                          % (path, gpio, name), "\n".join(out))
        out.append("%s (gpio%s) = %s" % (name.upper(), gpio, values[name]))

    def high(name):
        return values.get(name) == "1"

    ep = cfg["ep_supply"]
    ep_present = ep_supply_present(cfg["manifest"]) if ep == "auto" else ep == "present"
    out.append("EP supply %s" % ("present: testing PG2" if ep_present else "not installed: PG2 not tested"))
    output = "\n".join(out)
    if "acok" in values and not high("acok"):
        return failed(4, "ACOK not powered", output)
    if "pg1" in values and not high("pg1"):
        return failed(5, "PG1 not powered", output)
    if ep_present and "pg2" in values and not high("pg2"):
        return failed(6, "EP supply is present but PG2 is %s" % values["pg2"], output)
    if "pg3" in values and "pg4" in values and high("pg3") != high("pg4"):
        return failed(7, "PG3 and PG4 are not aligned (PG3=%s, PG4=%s)" % (values["pg3"], values["pg4"]), output)
    if "pg3" in values and not high("pg3"):
        return failed(8, "PH supply: PG3 is %s" % values["pg3"], output)
    if "pg4" in values and not high("pg4"):
        return failed(9, "PH supply: PG4 is %s" % values["pg4"], output)
    return passed(output)


# --------------------------------------------------------------------------------------------
# settings: defaults and validation

NODE_ID_FILE = "/etc/waggle/node-id"

# name -> (function, {setting: default}); "severity" is in every entry. The order is the run order.
CHECKS = [
    ("free_space_root", _free_space, {"severity": "fatal", "path": "/", "min_free_mb": 256, "min_free_percent": 2.0}),
    ("free_space_state", _free_space, {"severity": "fatal", "path": "/var/lib/honeycomb", "min_free_mb": 512,
                                       "min_free_percent": 0.0}),
    ("mounts", _mounts, {"severity": "fatal", "mounts_file": "/proc/mounts",
                         "expected": {"/media/root-ro": "ro", "/media/root-rw": "rw", "/media/plugin-data": "rw"}}),
    ("fsck_clean", _fsck_clean, {"severity": "fatal", "log": "/run/initramfs/fsck.log", "devices": ["/dev/mmcblk0p1"],
                                 "missing_log": "fail",
                                 "error_patterns": ["UNEXPECTED INCONSISTENCY", "RUN fsck MANUALLY",
                                                    "contains a file system with errors"]}),
    ("clock_synchronized", _clock_synchronized, {"severity": "warning",
                                                 "sources": ["timedatectl", "timesync_file", "adjtimex"],
                                                 "timedatectl": "timedatectl",
                                                 "timesync_file": "/run/systemd/timesync/synchronized",
                                                 "command_timeout": 10}),
    ("node_identity", _node_identity, {"severity": "fatal", "node_id_file": NODE_ID_FILE,
                                       "vsn_file": "/etc/waggle/vsn", "node_id_pattern": "[0-9A-F]{16}",
                                       "vsn_pattern": "[A-Z][A-Z0-9]{3}", "require_vsn": True,
                                       "expected_node_id": "", "expected_vsn": "", "hostname_file": "",
                                       "hostname_prefix": "ws-nxcore-"}),
    ("reverse_tunnel", _reverse_tunnel, {"severity": "fatal", "method": "auto", "unit": "waggle-bk-reverse-tunnel",
                                         "systemctl": "systemctl", "systemd_dir": "/run/systemd/system",
                                         "proc_dir": "/proc",
                                         "process_pattern": r"(^|/)ssh\s.*-R\s*\S*rtun\.sock",
                                         "command_timeout": 10}),
    ("k3s_node_ready", _k3s_node_ready, {"severity": "fatal", "kubectl": "kubectl", "kubeconfig": "",
                                         "node_name": "", "node_name_suffix": "ws-nxcore",
                                         "node_id_file": NODE_ID_FILE, "command_timeout": 30}),
    ("switch_reachable", _switch_reachable, {"severity": "fatal", "address": "10.31.81.2", "ports": [443, 22, 23, 80],
                                             "require": "any", "connect_timeout": 3.0}),
    ("cameras_http", _cameras_http, {"severity": "warning", "addresses": ["10.31.81.10"], "port": 80,
                                     "scheme": "http", "path": "/stw-cgi/system.cgi?msubmenu=deviceinfo&action=view",
                                     "alive_status": [200, 204, 301, 302, 401, 490], "require": "all",
                                     "request_timeout": 5.0}),
    ("lan0_up", _lan0_up, {"severity": "fatal", "interface": "lan0", "sys_class_net": "/sys/class/net",
                           "accept_states": ["up"]}),
    ("psu_gpio", _psu_gpio, {"severity": "fatal", "lines": {}, "config_ini": "/etc/waggle/config.ini",
                             "config_section": "wagman", "gpio_dir": "/sys/class/gpio",
                             "manifest": "/etc/waggle/node-manifest-v2.json", "ep_supply": "auto"}),
]

CHECK_NAMES = [name for name, _func, _defaults in CHECKS]
CHECK_FUNCS = dict((name, func) for name, func, _defaults in CHECKS)
DEFAULTS = dict((name, defaults) for name, _func, defaults in CHECKS)

# Settings whose value must be one of a fixed set.
CHOICES = {
    "severity": ("warning", "fatal"),
    "missing_log": ("fail", "skip"),
    "method": ("auto", "systemd", "process"),
    "require": ("any", "all"),
    "scheme": ("http", "https"),
    "ep_supply": ("auto", "present", "absent"),
}
LIST_ITEM_CHOICES = {"sources": tuple(CLOCK_SOURCES)}
REGEX_SETTINGS = ("node_id_pattern", "vsn_pattern", "process_pattern", "error_patterns")


class SettingsError(ValueError):
    pass


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _coerce(check, key, default, value):
    where = "settings.%s.%s" % (check, key)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("yes", "true", "1", "no", "false", "0"):
            return value.lower() in ("yes", "true", "1")
        raise SettingsError("%s must be true or false, got %r" % (where, value))
    if isinstance(default, (int, float)):
        try:
            number = float(value) if isinstance(default, float) else int(value)
        except (TypeError, ValueError):
            raise SettingsError("%s must be a number, got %r" % (where, value))
        if isinstance(value, bool) or number < 0:
            raise SettingsError("%s must be a number >= 0, got %r" % (where, value))
        return number
    if isinstance(default, str):
        if value is None:
            return ""
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise SettingsError("%s must be a string, got %r" % (where, value))
        value = str(value)
        if key in CHOICES and value not in CHOICES[key]:
            raise SettingsError("%s must be one of %s, got %r" % (where, ", ".join(CHOICES[key]), value))
        if key in REGEX_SETTINGS:
            _compile(where, value)
        return value
    if isinstance(default, list):
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise SettingsError("%s must be a list, got %r" % (where, value))
        items = list(value)
        sample = default[0] if default else ""
        if _is_int(sample):
            try:
                items = [int(item) for item in items]
            except (TypeError, ValueError):
                raise SettingsError("%s must be a list of integers, got %r" % (where, value))
        else:
            items = [str(item) for item in items]
        allowed = LIST_ITEM_CHOICES.get(key)
        for item in items:
            if allowed and item not in allowed:
                raise SettingsError("%s: %r is not one of %s" % (where, item, ", ".join(allowed)))
            if key in REGEX_SETTINGS:
                _compile(where, item)
        return items
    if isinstance(default, dict):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise SettingsError("%s must be a mapping, got %r" % (where, value))
        result = dict((str(k), v) for k, v in value.items())
        if key == "expected":
            for point, mode in result.items():
                if mode not in ("ro", "rw"):
                    raise SettingsError("%s: mount point %s must map to ro or rw, got %r" % (where, point, mode))
        if key == "lines":
            for name, gpio in result.items():
                if name not in [n for n, _k in PSU_CONFIG_KEYS]:
                    raise SettingsError("%s: unknown PSU line %r; known lines: acok, pg1, pg2, pg3, pg4"
                                        % (where, name))
                if not re.match(r"[0-9]+\Z", str(gpio)):
                    raise SettingsError("%s.%s must be a GPIO number, got %r" % (where, name, gpio))
                result[name] = str(gpio)
        return result
    raise SettingsError("%s: unsupported setting" % where)  # pragma: no cover


def _compile(where, pattern):
    try:
        re.compile(pattern)
    except re.error as exc:
        raise SettingsError("%s is not a valid regular expression (%s): %r" % (where, exc, pattern))


def resolve_settings(user_settings):
    """Merge ``user_settings`` ({check: {setting: value}}) over the defaults; raise SettingsError
    naming the check and setting when something is unknown or of the wrong type."""
    user_settings = user_settings or {}
    if not isinstance(user_settings, dict):
        raise SettingsError("settings must be a mapping of check name to its settings, got %r" % (user_settings,))
    resolved = {}
    for name in user_settings:
        if name not in DEFAULTS:
            raise SettingsError("settings.%s: unknown check; known checks: %s" % (name, ", ".join(CHECK_NAMES)))
        if user_settings[name] is not None and not isinstance(user_settings[name], dict):
            raise SettingsError("settings.%s must be a mapping of setting to value, got %r" % (name, user_settings[name]))
    for name in CHECK_NAMES:
        cfg = dict(DEFAULTS[name])
        for key, value in (user_settings.get(name) or {}).items():
            if key not in cfg:
                raise SettingsError("settings.%s.%s: unknown setting; settings of %s: %s"
                                    % (name, key, name, ", ".join(sorted(cfg))))
            cfg[key] = _coerce(name, key, DEFAULTS[name][key], value)
        resolved[name] = cfg
    return resolved


def select_checks(checks, skip):
    """Names of the built-in checks to run, in run order."""
    checks = list(checks or [])
    skip = list(skip or [])
    for name in checks + skip:
        if name not in CHECK_NAMES and name not in ("all", "none"):
            raise SettingsError("unknown check %r; known checks: %s (or all, none)" % (name, ", ".join(CHECK_NAMES)))
    if "all" in checks:
        wanted = set(CHECK_NAMES)
    else:
        wanted = set(n for n in checks if n != "none")
    return [name for name in CHECK_NAMES if name in wanted and name not in skip]


def python_version():
    return "%d.%d.%d" % sys.version_info[:3]
