# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Honeycomb upgrade payloads: the manifest.

What a payload declares and how it is checked, without touching an archive: the schema constants
(phases, script names, timeouts, state-check codes), the limits and the member-name rules, the
v2 ``manifest.json`` validation, run-time parameters (schema and values), and the mapping of the
2021 Honeycomb client format (``metadata.json`` + ``md5sum.chk``) onto the same manifest dict.

Runs on nodes (Python 3.6, standard library only) and on the controller.  The archive side
(scan, extract) is :mod:`.archive`; :mod:`.payload` is the public face of both.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re

SCHEMA_VERSION = 2
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.sig"
LEGACY_METADATA_NAME = "metadata.json"
LEGACY_CHECKSUM_NAME = "md5sum.chk"

PHASES = ("state_check", "install", "verify", "rollback")
REQUIRED_PHASES = ("state_check", "install", "verify")
SCRIPT_NAMES = {
    "state_check": "hc_state_check.sh",
    "install": "hc_install_upgrade.sh",
    "verify": "hc_verify_upgrade.sh",
    "rollback": "hc_rollback_upgrade.sh",
}
DEFAULT_TIMEOUTS = {"state_check": 300, "install": 3600, "verify": 900, "rollback": 3600}
MAX_TIMEOUT = 7 * 24 * 3600
MAX_RETRIES = 100
DEFAULT_STATE_CHECK_CODES = {"needed": [0], "already_applied": [100], "retry_later": [21]}
STATE_CHECK_CODE_KINDS = ("needed", "already_applied", "retry_later")
LEGACY_STATE_CHECK_MODES = ("readme", "strict")
LEGACY_STATE_CHECK_CODES = {
    # 2021 README: "If it is [already in the target state], return 1. Otherwise, return with 0."
    "readme": {"needed": [0], "already_applied": [1], "retry_later": []},
    # 2021 code: any non-zero rc was a failure (retried, then the job aborted).
    "strict": {"needed": [0], "already_applied": [], "retry_later": []},
}

DEFAULT_LIMITS = {
    "max_archive_bytes": 256 * 1024 * 1024,    # size of the .tar.gz file itself
    "max_expanded_bytes": 256 * 1024 * 1024,   # decompressed tar stream (headers + data)
    "max_members": 10000,
    "max_manifest_bytes": 1024 * 1024,         # manifest.json, its .sig, metadata.json, md5sum.chk
    "max_path_length": 1024,
    "max_path_depth": 32,
}

REBUILD_HINT = "Rebuild the payload with waggle.honeycomb.upgrade_build or honeycomb-build."

_TOP_LEVEL_KEYS = ("schema_version", "name", "version", "peripheral", "description", "phases",
                   "state_check_codes", "backup_paths", "restart_units", "parameters", "files")
_PHASE_KEYS = ("script", "timeout", "retries")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_UNIT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9:_.@\\-]{0,254}$")
_PARAM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CONTROL_RE = re.compile(u"[\x00-\x1f\x7f]")


class PayloadError(Exception):
    """A payload was refused.

    ``member`` is the archive member (or file) the problem is about, or None; ``reason`` says what
    is wrong; ``hint`` what to do about it.  ``str()`` is one sentence with all three.
    """

    def __init__(self, reason, member=None, hint=None, archive=None):
        self.reason = reason
        self.member = member
        self.hint = hint
        self.archive = archive
        Exception.__init__(self, self._message())

    def _message(self):
        where = []
        if self.archive:
            where.append("payload %r" % (self.archive,))
        if self.member:
            where.append("member %r" % (self.member,))
        text = "%s: %s" % (", ".join(where), self.reason) if where else self.reason
        text = text.rstrip(".") + "."
        if self.hint:
            text += " " + self.hint
        return text

    def with_archive(self, archive):
        if self.archive is None:
            self.archive = archive
            self.args = (self._message(),)
        return self

    def __str__(self):
        return self._message()


# --------------------------------------------------------------------------------------------
# limits, names


def resolve_limits(limits=None):
    """Merge ``limits`` over DEFAULT_LIMITS; unknown keys and non-positive values are errors."""
    merged = dict(DEFAULT_LIMITS)
    for key, value in (limits or {}).items():
        if key not in DEFAULT_LIMITS:
            raise PayloadError("unknown payload limit %r (known: %s)" % (key, ", ".join(sorted(DEFAULT_LIMITS))))
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise PayloadError("payload limit %s must be a positive integer, got %r" % (key, value))
        merged[key] = value
    return merged


def normalise_member_name(name, limits=None, is_dir=False):
    """Return the canonical relative name of an archive member or raise PayloadError.

    Accepts an optional leading ``./`` (GNU tar ``-C dir .``) and a trailing ``/`` on
    directories; everything else must already be canonical: relative, no ``..``, no ``.``
    components, no empty components, no backslashes, NUL or control characters, valid UTF-8.
    Returns "" for the archive root itself (``.`` or ``./``).
    """
    lim = limits or DEFAULT_LIMITS
    if not isinstance(name, str) or name == "":
        raise PayloadError("empty member name", member=repr(name), hint=REBUILD_HINT)
    try:
        name.encode("utf-8")
    except UnicodeError:
        raise PayloadError("member name is not valid UTF-8", member=name.encode("utf-8", "backslashreplace").decode("ascii"),
                           hint=REBUILD_HINT)
    if "\x00" in name or _CONTROL_RE.search(name):
        raise PayloadError("member name contains NUL or control characters", member=name, hint=REBUILD_HINT)
    if "\\" in name:
        raise PayloadError("member name contains a backslash; only '/' separated relative names are allowed",
                           member=name, hint=REBUILD_HINT)
    if name.startswith("/"):
        raise PayloadError("absolute path; payload members must be relative to the payload root",
                           member=name, hint=REBUILD_HINT)
    if name.endswith("/") and not is_dir:
        raise PayloadError("a file member name ends with '/'", member=name, hint=REBUILD_HINT)
    stripped = name
    while stripped.startswith("./"):
        stripped = stripped[2:]
    if stripped in ("", "."):
        return ""
    if stripped.endswith("/"):
        stripped = stripped[:-1]
    parts = stripped.split("/")
    for part in parts:
        if part == "..":
            raise PayloadError("path contains '..' (path traversal)", member=name, hint=REBUILD_HINT)
        if part in ("", "."):
            raise PayloadError("path is not normalised (empty or '.' component)", member=name, hint=REBUILD_HINT)
        if len(part.encode("utf-8")) > 255:
            raise PayloadError("a path component is longer than 255 bytes", member=name, hint=REBUILD_HINT)
    if len(stripped.encode("utf-8")) > lim["max_path_length"]:
        raise PayloadError("path is longer than %d bytes" % lim["max_path_length"], member=name, hint=REBUILD_HINT)
    if len(parts) > lim["max_path_depth"]:
        raise PayloadError("path is nested deeper than %d levels" % lim["max_path_depth"], member=name, hint=REBUILD_HINT)
    return stripped


def _listed_name(path, member, what):
    """Normalise a path named inside a manifest/md5sum.chk; errors name that file."""
    try:
        return normalise_member_name(path)
    except PayloadError as exc:
        raise PayloadError("%s %r: %s" % (what, path, exc.reason), member=member, hint=exc.hint)


# --------------------------------------------------------------------------------------------
# JSON helpers


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key %r" % (key,))
        result[key] = value
    return result


def load_json_object(data, member):
    try:
        text = data.decode("utf-8")
    except UnicodeError:
        raise PayloadError("is not valid UTF-8", member=member, hint=REBUILD_HINT)
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:
        raise PayloadError("is not valid JSON (%s)" % exc, member=member, hint=REBUILD_HINT)
    if not isinstance(value, dict):
        raise PayloadError("must hold a JSON object, not %s" % type(value).__name__, member=member, hint=REBUILD_HINT)
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value, field, member, required=True, max_len=200, allow_empty=False):
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise PayloadError("field %r must be a string, got %s" % (field, type(value).__name__), member=member)
    if not value and not allow_empty:
        raise PayloadError("field %r must not be empty" % field, member=member)
    if len(value) > max_len:
        raise PayloadError("field %r is longer than %d characters" % (field, max_len), member=member)
    if field != "description" and _CONTROL_RE.search(value):
        raise PayloadError("field %r contains control characters" % field, member=member)
    return value


# --------------------------------------------------------------------------------------------
# manifest (v2) validation


def _codes(value, field, member):
    if _is_int(value):
        value = [value]
    if not isinstance(value, list):
        raise PayloadError("%s must be an integer or a list of integers" % field, member=member)
    out = []
    for code in value:
        if not _is_int(code) or code < 0 or code > 255:
            raise PayloadError("%s contains %r; exit codes are integers 0..255" % (field, code), member=member)
        if code not in out:
            out.append(code)
    return out


def validate_state_check_codes(value, member=MANIFEST_NAME):
    """Normalise ``state_check_codes``: ints 0..255, ``needed`` non-empty, no code in two lists."""
    if value is None:
        return dict((k, list(v)) for k, v in DEFAULT_STATE_CHECK_CODES.items())
    if not isinstance(value, dict):
        raise PayloadError("state_check_codes must be an object", member=member)
    unknown = sorted(set(value) - set(STATE_CHECK_CODE_KINDS))
    if unknown:
        raise PayloadError("state_check_codes has unknown keys %s (known: %s)" % (
            ", ".join(unknown), ", ".join(STATE_CHECK_CODE_KINDS)), member=member)
    out = {}
    for kind in STATE_CHECK_CODE_KINDS:
        out[kind] = _codes(value.get(kind, DEFAULT_STATE_CHECK_CODES[kind]), "state_check_codes.%s" % kind, member)
    if not out["needed"]:
        raise PayloadError("state_check_codes.needed must list at least one exit code", member=member)
    seen = {}
    for kind in STATE_CHECK_CODE_KINDS:
        for code in out[kind]:
            if code in seen:
                raise PayloadError("exit code %d is listed in both state_check_codes.%s and state_check_codes.%s"
                                   % (code, seen[code], kind), member=member)
            seen[code] = kind
    return out


def _validate_phase(phase, value, member):
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise PayloadError("phases.%s must be an object" % phase, member=member)
    unknown = sorted(set(value) - set(_PHASE_KEYS))
    if unknown:
        raise PayloadError("phases.%s has unknown keys %s (known: %s)" % (phase, ", ".join(unknown), ", ".join(_PHASE_KEYS)),
                           member=member)
    script = value.get("script", SCRIPT_NAMES[phase])
    if not isinstance(script, str):
        raise PayloadError("phases.%s.script must be a string" % phase, member=member)
    script = _listed_name(script, member, "phases.%s.script" % phase) if script else script
    if not script or script in (MANIFEST_NAME, SIGNATURE_NAME):
        raise PayloadError("phases.%s.script %r is not a usable script path" % (phase, value.get("script")), member=member)
    timeout = value.get("timeout", DEFAULT_TIMEOUTS[phase])
    if not _is_int(timeout) or timeout <= 0 or timeout > MAX_TIMEOUT:
        raise PayloadError("phases.%s.timeout must be an integer number of seconds in 1..%d, got %r"
                           % (phase, MAX_TIMEOUT, timeout), member=member)
    retries = value.get("retries", 0)
    if not _is_int(retries) or retries < 0 or retries > MAX_RETRIES:
        raise PayloadError("phases.%s.retries must be an integer in 0..%d, got %r" % (phase, MAX_RETRIES, retries),
                           member=member)
    return {"script": script, "timeout": timeout, "retries": retries, "interpreter": None}


def validate_backup_paths(value, member=MANIFEST_NAME):
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError("backup_paths must be a list of absolute paths", member=member)
    out = []
    for path in value:
        if not isinstance(path, str) or not path.startswith("/"):
            raise PayloadError("backup_paths entry %r is not an absolute path" % (path,), member=member)
        if "\x00" in path or _CONTROL_RE.search(path):
            raise PayloadError("backup_paths entry %r contains control characters" % (path,), member=member)
        if path == "/" or os.path.normpath(path) != path or path.startswith("//"):
            raise PayloadError("backup_paths entry %r must be a normalised absolute path other than '/' (e.g. %r)"
                               % (path, os.path.normpath(path)), member=member)
        if path in out:
            raise PayloadError("backup_paths lists %r twice" % path, member=member)
        out.append(path)
    return out


def validate_restart_units(value, member=MANIFEST_NAME):
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError("restart_units must be a list of systemd unit names", member=member)
    out = []
    for unit in value:
        if not isinstance(unit, str) or not _UNIT_RE.match(unit):
            raise PayloadError("restart_units entry %r is not a valid systemd unit name" % (unit,), member=member)
        if unit not in out:
            out.append(unit)
    return out


_PARAM_TYPES = ("string", "integer", "number", "boolean")


def _check_param_value(name, ptype, value, where):
    """Type-check (and coerce obvious string forms of) one parameter value."""
    if ptype == "string":
        if not isinstance(value, str):
            raise PayloadError("parameter %r must be a string, got %s %r; quote it in YAML (e.g. '1.10' not 1.10)"
                               % (name, type(value).__name__, value), member=where)
        if "\x00" in value:
            raise PayloadError("parameter %r contains a NUL character" % name, member=where)
        if len(value) > 65536:
            raise PayloadError("parameter %r is longer than 65536 characters" % name, member=where)
        return value
    if ptype == "integer":
        if _is_int(value):
            return value
        if isinstance(value, str) and re.match(r"^[+-]?[0-9]+$", value.strip()):
            return int(value.strip())
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise PayloadError("parameter %r must be an integer, got %r" % (name, value), member=where)
    if ptype == "number":
        if _is_int(value) or isinstance(value, float):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip()) if re.match(r"^[+-]?[0-9]+$", value.strip()) else float(value)
            except ValueError:
                pass
        raise PayloadError("parameter %r must be a number, got %r" % (name, value), member=where)
    # boolean
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise PayloadError("parameter %r must be a boolean (true/false), got %r" % (name, value), member=where)


def validate_parameter_schema(schema, member=MANIFEST_NAME):
    """Validate the parameter schema subset: ``{"type": "object", "properties": {...}, "required": [...]}``.

    Each property: ``type`` (string, integer, number, boolean), optional ``enum``, ``default``,
    ``description``.  Names must be usable in ``HC_PARAM_<UPPER_NAME>`` environment variables.
    Returns the schema (normalised) or None.
    """
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise PayloadError("parameters must be a JSON-schema object or null", member=member)
    unknown = sorted(set(schema) - set(("type", "properties", "required", "additionalProperties", "description")))
    if unknown:
        raise PayloadError("parameters has unsupported keys %s (supported: type, properties, required, "
                           "additionalProperties, description)" % ", ".join(unknown), member=member)
    if schema.get("type", "object") != "object":
        raise PayloadError("parameters.type must be \"object\"", member=member)
    if schema.get("additionalProperties", False) is not False:
        raise PayloadError("parameters.additionalProperties must be false (unknown parameters are always refused)",
                           member=member)
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        raise PayloadError("parameters.properties must be an object", member=member)
    upper = {}
    out_props = {}
    for name in sorted(props):
        spec = props[name]
        if not _PARAM_NAME_RE.match(name):
            raise PayloadError("parameter name %r must match [A-Za-z_][A-Za-z0-9_]* (it becomes HC_PARAM_%s)"
                               % (name, name.upper()), member=member)
        if name.upper() in upper:
            raise PayloadError("parameters %r and %r both map to HC_PARAM_%s" % (upper[name.upper()], name, name.upper()),
                               member=member)
        upper[name.upper()] = name
        if not isinstance(spec, dict):
            raise PayloadError("parameters.properties.%s must be an object" % name, member=member)
        bad = sorted(set(spec) - set(("type", "enum", "default", "description")))
        if bad:
            raise PayloadError("parameters.properties.%s has unsupported keys %s (supported: type, enum, default, "
                               "description)" % (name, ", ".join(bad)), member=member)
        ptype = spec.get("type")
        if ptype not in _PARAM_TYPES:
            raise PayloadError("parameters.properties.%s.type must be one of %s, got %r"
                               % (name, ", ".join(_PARAM_TYPES), ptype), member=member)
        out = {"type": ptype}
        if "description" in spec:
            out["description"] = _text(spec["description"], "description", member, max_len=4096, allow_empty=True)
        if "enum" in spec:
            if not isinstance(spec["enum"], list) or not spec["enum"]:
                raise PayloadError("parameters.properties.%s.enum must be a non-empty list" % name, member=member)
            out["enum"] = [_check_param_value(name, ptype, v, member) for v in spec["enum"]]
        if "default" in spec:
            default = _check_param_value(name, ptype, spec["default"], member)
            if "enum" in out and default not in out["enum"]:
                raise PayloadError("parameters.properties.%s.default %r is not one of its enum values" % (name, default),
                                   member=member)
            out["default"] = default
        out_props[name] = out
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise PayloadError("parameters.required must be a list of parameter names", member=member)
    for name in required:
        if name not in out_props:
            raise PayloadError("parameters.required names %r, which is not in parameters.properties" % name, member=member)
    result = {"type": "object", "properties": out_props, "required": sorted(set(required))}
    if "description" in schema:
        result["description"] = _text(schema["description"], "description", member, max_len=4096, allow_empty=True)
    return result


def _env_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def validate_parameters(schema, params):
    """Check user ``params`` against a payload's parameter ``schema``.

    Returns ``{"HC_PARAM_<UPPER_NAME>": "value"}`` for every declared parameter that has a value
    (given or default).  Raises PayloadError naming the parameter on unknown names, missing
    required ones, wrong types and values outside ``enum``.
    """
    params = params or {}
    if not isinstance(params, dict):
        raise PayloadError("parameters must be a dict of name: value, got %s" % type(params).__name__,
                           member="parameters")
    if schema is None:
        if params:
            raise PayloadError("the payload declares no parameters but %s were given" % ", ".join(sorted(params)),
                               member="parameters", hint="Remove them or add a parameters schema to the payload.")
        return {}
    schema = validate_parameter_schema(schema)
    props = schema["properties"]
    unknown = sorted(set(params) - set(props))
    if unknown:
        raise PayloadError("unknown parameter(s) %s; the payload accepts: %s" % (
            ", ".join(unknown), ", ".join(sorted(props)) or "none"), member="parameters")
    env = {}
    for name in sorted(props):
        spec = props[name]
        if name in params and params[name] is not None:
            value = _check_param_value(name, spec["type"], params[name], "parameters")
        elif "default" in spec:
            value = spec["default"]
        elif name in schema["required"]:
            raise PayloadError("required parameter %r is missing" % name, member="parameters",
                               hint="Pass it in the task's parameters option.")
        else:
            continue
        if "enum" in spec and value not in spec["enum"]:
            raise PayloadError("parameter %r is %r, which is not one of %s" % (name, value, spec["enum"]),
                               member="parameters")
        env["HC_PARAM_" + name.upper()] = _env_value(value)
    return env


def validate_manifest(data, member=MANIFEST_NAME):
    """Validate a v2 manifest dict (``schema_version`` 2) and return the normalised form."""
    if not isinstance(data, dict):
        raise PayloadError("manifest must be a JSON object", member=member)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        if "schema_version" not in data:
            reason = "has no schema_version; this collection reads schema_version 2"
        else:
            reason = "has schema_version %r; this collection only reads schema_version 2" % (version,)
        raise PayloadError(reason, member=member,
                           hint="Rebuild the payload with this collection's builder or upgrade the collection.")
    unknown = sorted(k for k in data if k not in _TOP_LEVEL_KEYS and not k.startswith("x-"))
    if unknown:
        raise PayloadError("unknown field(s) %s (known: %s; extensions must start with 'x-')"
                           % (", ".join(unknown), ", ".join(_TOP_LEVEL_KEYS)), member=member)
    name = _text(data.get("name"), "name", member)
    out = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": _text(data.get("version"), "version", member),
        "peripheral": _text(data.get("peripheral"), "peripheral", member),
        "description": _text(data.get("description", ""), "description", member, max_len=4096, allow_empty=True),
    }
    phases = data.get("phases", {})
    if not isinstance(phases, dict):
        raise PayloadError("phases must be an object", member=member)
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise PayloadError("phases has unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(PHASES)), member=member)
    files = data.get("files")
    if not isinstance(files, dict) or not files:
        raise PayloadError("files must be an object mapping every payload file to its SHA-256", member=member)
    norm_files = {}
    for path in sorted(files):
        digest = files[path]
        norm = _listed_name(path, member, "files lists") if isinstance(path, str) else None
        if norm != path:
            raise PayloadError("files key %r is not a normalised relative path" % (path,), member=member)
        if path in (MANIFEST_NAME, SIGNATURE_NAME):
            raise PayloadError("files must not list %s itself" % path, member=member)
        if not isinstance(digest, str) or not _SHA256_RE.match(digest):
            raise PayloadError("files[%r] must be a lowercase hex SHA-256 (64 characters)" % path, member=member)
        norm_files[path] = digest
    out_phases = {}
    for phase in PHASES:
        if phase == "rollback" and "rollback" not in phases and SCRIPT_NAMES["rollback"] not in norm_files:
            out_phases[phase] = None
            continue
        out_phases[phase] = _validate_phase(phase, phases.get(phase), member)
        if out_phases[phase]["script"] not in norm_files:
            raise PayloadError("the %s script %s is not listed in files" % (phase, out_phases[phase]["script"]),
                               member=member, hint="Every payload needs hc_state_check.sh, hc_install_upgrade.sh "
                               "and hc_verify_upgrade.sh.")
    out["phases"] = out_phases
    out["state_check_codes"] = validate_state_check_codes(data.get("state_check_codes"), member)
    out["backup_paths"] = validate_backup_paths(data.get("backup_paths"), member)
    out["restart_units"] = validate_restart_units(data.get("restart_units"), member)
    out["parameters"] = validate_parameter_schema(data.get("parameters"), member)
    out["files"] = norm_files
    out["legacy"] = False
    return out


# --------------------------------------------------------------------------------------------
# legacy (2021) format


def parse_md5sum(data, member=LEGACY_CHECKSUM_NAME):
    """Parse GNU md5sum output (``<md5>  ./path`` or ``<md5> *./path``) into {path: md5}.

    The ``md5sum.chk`` self-entry (stale by construction in the 2021 builder) is skipped.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeError:
        raise PayloadError("is not valid UTF-8", member=member)
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("\\"):
            raise PayloadError("line %d uses md5sum's escaped-name syntax, which is not supported" % lineno, member=member)
        if len(line) < 35 or not _MD5_RE.match(line[:32]) or line[32] != " " or line[33] not in " *":
            raise PayloadError("line %d is not '<32 hex md5>  ./<path>': %r" % (lineno, line[:120]), member=member)
        path = _listed_name(line[34:], member, "line %d names" % lineno)
        if path == LEGACY_CHECKSUM_NAME:
            continue
        if not path:
            raise PayloadError("line %d names the archive root" % lineno, member=member)
        if path in out:
            raise PayloadError("line %d lists %s a second time" % (lineno, path), member=member)
        out[path] = line[:32].lower()
    return out


def normalise_legacy_metadata(meta, legacy_state_check="readme", member=LEGACY_METADATA_NAME):
    """Map a 2021 ``metadata.json`` dict onto the normalised manifest (without ``files``)."""
    if legacy_state_check not in LEGACY_STATE_CHECK_MODES:
        raise PayloadError("legacy_state_check must be one of %s, got %r"
                           % (", ".join(LEGACY_STATE_CHECK_MODES), legacy_state_check))
    missing = [k for k in ("peripheral_name", "config_version", "retry_state_check", "retry_install", "retry_verify")
               if k not in meta]
    if missing:
        raise PayloadError("required field(s) %s missing (the 2021 client required peripheral_name, config_version, "
                           "retry_state_check, retry_install, retry_verify)" % ", ".join(missing), member=member)
    peripheral = _text(meta["peripheral_name"], "peripheral_name", member)
    version = _text(meta["config_version"], "config_version", member)
    name = meta.get("upgrade_name")
    name = _text(name, "upgrade_name", member) if name is not None else "%s-%s" % (peripheral, version)
    description = meta.get("description")
    description = _text(description, "description", member, max_len=4096, allow_empty=True) if description is not None else ""
    phases = {}
    for phase, key in (("state_check", "retry_state_check"), ("install", "retry_install"), ("verify", "retry_verify")):
        retries = meta[key]
        if not _is_int(retries) or retries < 0 or retries > MAX_RETRIES:
            extra = " ('-1 = retry forever' was dropped from the 2021 client)" if retries == -1 else ""
            raise PayloadError("%s must be an integer in 0..%d, got %r%s" % (key, MAX_RETRIES, retries, extra),
                               member=member)
        phases[phase] = {"script": SCRIPT_NAMES[phase], "timeout": DEFAULT_TIMEOUTS[phase], "retries": retries,
                         "interpreter": None}
    phases["rollback"] = None
    codes = LEGACY_STATE_CHECK_CODES[legacy_state_check]
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": version,
        "peripheral": peripheral,
        "description": description,
        "phases": phases,
        "state_check_codes": dict((k, list(v)) for k, v in codes.items()),
        "backup_paths": [],
        "restart_units": [],
        "parameters": None,
        "files": {},
        "legacy": True,
        "legacy_state_check": legacy_state_check,
        "legacy_metadata": meta,
    }
