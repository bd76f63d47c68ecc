# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Honeycomb upgrade payloads: validation and safe extraction.

Runs on nodes (Python 3.6, standard library only) and on the controller.

Two formats are accepted (see docs/payload-format.md):

* ``v2``: ``manifest.json`` (+ optional ``manifest.json.sig``) listing a SHA-256 for every other
  file in the archive;
* ``legacy``: the 2021 Honeycomb client format, ``metadata.json`` + ``md5sum.chk``.

Both are normalised onto one manifest dict (``Payload.manifest``).  Nothing is ever extracted
with ``tarfile.extract*``: the archive is streamed once through a byte-counting reader, every
member is checked, and (for :func:`extract_archive`) written with ``O_CREAT|O_EXCL|O_NOFOLLOW``
into a fresh staging directory that is renamed into place only when everything checked out.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zlib

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

MAX_TRAILING_PADDING = 1024 * 1024  # zero bytes accepted after the tar end-of-archive marker

REBUILD_HINT = "Rebuild the payload with waggle.honeycomb.upgrade_build or honeycomb-build."

_TOP_LEVEL_KEYS = ("schema_version", "name", "version", "peripheral", "description", "phases",
                   "state_check_codes", "backup_paths", "restart_units", "parameters", "files")
_PHASE_KEYS = ("script", "timeout", "retries")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_UNIT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9:_.@\\-]{0,254}$")
_PARAM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CONTROL_RE = re.compile(u"[\x00-\x1f\x7f]")
_CHUNK = 64 * 1024


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


class Payload(object):
    """Result of a successful inspection or extraction."""

    def __init__(self, fmt, manifest, archive_sha256, signature, manifest_bytes, path=None,
                 expanded_bytes=0, member_count=0, extracted_to=None):
        self.format = fmt
        self.manifest = manifest
        self.archive_sha256 = archive_sha256
        self.signature = signature
        self.manifest_bytes = manifest_bytes
        self.path = path
        self.expanded_bytes = expanded_bytes
        self.member_count = member_count
        self.extracted_to = extracted_to

    def summary(self):
        """A JSON-friendly description for module results."""
        m = self.manifest
        return {
            "format": self.format,
            "name": m["name"],
            "version": m["version"],
            "peripheral": m["peripheral"],
            "archive_sha256": self.archive_sha256,
            "signed": self.signature is not None,
            "files": len(m["files"]),
            "expanded_bytes": self.expanded_bytes,
        }

    def __repr__(self):
        return "Payload(format=%r, name=%r, version=%r, sha256=%s)" % (
            self.format, self.manifest.get("name"), self.manifest.get("version"), self.archive_sha256)


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
# readers


class _HashingReader(object):
    """Wraps the raw archive file: hashes and counts the compressed bytes."""

    def __init__(self, fileobj):
        self._f = fileobj
        self.sha256 = hashlib.sha256()
        self.count = 0

    def read(self, size=-1):
        data = self._f.read(size)
        self.sha256.update(data)
        self.count += len(data)
        return data

    def drain(self):
        while True:
            if not self.read(_CHUNK):
                return


class _LimitedReader(object):
    """Wraps the decompressed stream and refuses to deliver more than ``limit`` bytes."""

    def __init__(self, fileobj, limit):
        self._f = fileobj
        self.limit = limit
        self.count = 0
        self._budget_start = None
        self._budget = None
        self._budget_error = None

    def set_budget(self, budget, error):
        """Until clear_budget(), refuse to deliver more than ``budget`` further bytes (raising ``error``).

        Bounds what ``tarfile`` reads into memory for one header (PAX records, GNU long names) and
        the zero padding after the end-of-archive marker.
        """
        self._budget_start = self.count
        self._budget = budget
        self._budget_error = error

    def clear_budget(self):
        self._budget = None

    def read(self, size=-1):
        if size is None or size < 0:
            size = _CHUNK
        size = min(size, self.limit + 1 - self.count) if self.count <= self.limit else 1
        data = self._f.read(max(size, 1))
        self.count += len(data)
        if self.count > self.limit:
            raise PayloadError("archive expands to more than %d bytes (max_expanded_bytes); it looks like a "
                               "decompression bomb or is simply too large" % self.limit,
                               hint="Make the payload smaller or raise limits.max_expanded_bytes.")
        if self._budget is not None and self.count - self._budget_start > self._budget:
            raise self._budget_error
        return data


# --------------------------------------------------------------------------------------------
# JSON helpers


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key %r" % (key,))
        result[key] = value
    return result


def _load_json(data, member):
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


# --------------------------------------------------------------------------------------------
# the scanner


class _Member(object):
    __slots__ = ("name", "is_dir", "mode", "size", "sha256", "md5", "head")

    def __init__(self, name, is_dir, mode, size):
        self.name = name
        self.is_dir = is_dir
        self.mode = mode
        self.size = size
        self.sha256 = None
        self.md5 = None
        self.head = b""


def _type_name(info):
    if info.issym():
        return "symbolic link (to %r)" % info.linkname
    if info.islnk():
        return "hard link (to %r)" % info.linkname
    if info.ischr():
        return "character device"
    if info.isblk():
        return "block device"
    if info.isfifo():
        return "FIFO (named pipe)"
    if info.issparse():
        return "sparse file"
    return "member of tar type %r" % (info.type,)


def _header_budget_error(lim):
    return PayloadError("a tar header (PAX extended header or GNU long name) is larger than %d bytes "
                        "(max_manifest_bytes); it looks like a memory bomb" % lim["max_manifest_bytes"],
                        hint=REBUILD_HINT)


def _next_member(tf, limited, lim):
    """Like TarFile.next() but corrupt headers in the middle are errors, not a silent end."""
    tf.fileobj.seek(tf.offset)
    limited.set_budget(lim["max_manifest_bytes"], _header_budget_error(lim))
    try:
        return tarfile.TarInfo.fromtarfile(tf)
    except tarfile.EOFHeaderError:
        return None
    except tarfile.EmptyHeaderError:
        raise PayloadError("archive ends without the tar end-of-archive marker (truncated?)",
                           hint="Copy the payload again; it looks truncated.")
    except tarfile.HeaderError as exc:
        raise PayloadError("corrupt tar header after %d bytes (%s)" % (tf.offset, exc),
                           hint="Copy the payload again; it looks truncated or damaged.")
    finally:
        limited.clear_budget()


class _Sink(object):
    """Writes members into a staging directory, never following or creating links."""

    def __init__(self, root):
        self.root = root
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        self.dirs = {}  # relative dir -> mode

    def close(self):
        if self.root_fd is not None:
            os.close(self.root_fd)
            self.root_fd = None

    def _open_dir(self, parts):
        """Return an fd for root/parts..., creating missing directories (mode 0700 for now)."""
        fd = os.dup(self.root_fd)
        try:
            for i, part in enumerate(parts):
                try:
                    os.mkdir(part, 0o700, dir_fd=fd)
                except OSError as exc:
                    if exc.errno != errno.EEXIST:
                        raise
                new = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = new
                self.dirs.setdefault("/".join(parts[:i + 1]), 0o755)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def mkdir(self, name, mode):
        fd = self._open_dir(name.split("/"))
        os.close(fd)
        self.dirs[name] = (mode & 0o755) | 0o700

    def open_file(self, name, mode):
        parts = name.split("/")
        dfd = self._open_dir(parts[:-1])
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(parts[-1], flags, 0o600, dir_fd=dfd)
        finally:
            os.close(dfd)
        return _SinkFile(fd, mode & 0o755)

    def finish(self):
        # deepest first so a read-only parent never blocks a child
        for name in sorted(self.dirs, key=lambda n: -n.count("/")):
            fd = self._open_dir(name.split("/"))
            try:
                os.fchmod(fd, self.dirs[name])
                os.fsync(fd)
            finally:
                os.close(fd)
        os.fchmod(self.root_fd, 0o755)
        os.fsync(self.root_fd)


class _SinkFile(object):
    def __init__(self, fd, mode):
        self.fd = fd
        self.mode = mode

    def write(self, data):
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self, ok=True):
        try:
            if ok:
                os.fchmod(self.fd, self.mode)
                os.fsync(self.fd)
        finally:
            os.close(self.fd)


_SMALL_MEMBERS = (MANIFEST_NAME, SIGNATURE_NAME, LEGACY_METADATA_NAME, LEGACY_CHECKSUM_NAME)


def _scan(path, limits, sink=None, legacy_state_check="readme"):
    lim = resolve_limits(limits)
    archive = os.path.basename(path)
    try:
        raw = open(path, "rb")
    except (IOError, OSError) as exc:
        raise PayloadError("cannot open the archive: %s" % (exc.strerror or exc), archive=archive)
    with raw:
        st = os.fstat(raw.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise PayloadError("is not a regular file", archive=archive)
        if st.st_size > lim["max_archive_bytes"]:
            raise PayloadError("archive is %d bytes, more than max_archive_bytes (%d)" % (st.st_size, lim["max_archive_bytes"]),
                               archive=archive, hint="Make the payload smaller or raise limits.max_archive_bytes.")
        magic = raw.read(3)
        raw.seek(0)
        if magic[:2] != b"\x1f\x8b" or magic[2:3] != b"\x08":
            raise PayloadError("is not a gzip file (starts with %r); payloads must be .tar.gz" % (magic,),
                               archive=archive, hint="Build it with honeycomb-build or `tar -czf`.")
        hashing = _HashingReader(raw)
        try:
            result = _scan_stream(hashing, lim, sink, archive)
            hashing.drain()
        except PayloadError as exc:
            raise exc.with_archive(archive)
        except (tarfile.TarError, EOFError, zlib.error, IOError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a real I/O error (disk full, permissions), not a corrupt archive
            raise PayloadError("archive is truncated or corrupt (%s: %s)" % (type(exc).__name__, exc), archive=archive,
                               hint="Copy the payload again; if it persists, rebuild it.")
    members, small, expanded = result
    try:
        payload = _validate_members(members, small, lim, legacy_state_check, archive)
    except PayloadError as exc:
        raise exc.with_archive(archive)
    payload.archive_sha256 = hashing.sha256.hexdigest()
    payload.path = path
    payload.expanded_bytes = expanded
    payload.member_count = len(members)
    return payload


def _scan_stream(hashing, lim, sink, archive):
    gz = gzip.GzipFile(filename="", mode="rb", fileobj=hashing)
    limited = _LimitedReader(gz, lim["max_expanded_bytes"])
    members = {}
    implicit_dirs = set()
    small = {}
    declared = 0
    limited.set_budget(lim["max_manifest_bytes"], _header_budget_error(lim))
    try:
        tf = tarfile.open(fileobj=limited, mode="r|", errorlevel=2)
    except tarfile.ReadError as exc:
        raise PayloadError("is not a readable tar archive inside gzip (%s)" % exc,
                           hint="Payloads are gzip-compressed tar files; rebuild it with honeycomb-build.")
    finally:
        limited.clear_budget()
    info = tf.firstmember
    first = True
    while True:
        if not first:
            info = _next_member(tf, limited, lim)
        first = False
        if info is None:
            break
        if len(members) >= lim["max_members"]:
            raise PayloadError("archive has more than %d members (max_members)" % lim["max_members"],
                               hint="Pack fewer files or raise limits.max_members.")
        raw_name = info.name
        is_dir = info.isdir()
        if not (info.isreg() and not info.issparse()) and not is_dir:
            raise PayloadError("is a %s; payloads may only contain regular files and directories" % _type_name(info),
                               member=raw_name, hint=REBUILD_HINT)
        if info.mode & 0o7000:
            raise PayloadError("has setuid/setgid/sticky mode bits (%04o); payload files must not carry them"
                               % (info.mode & 0o7777), member=raw_name, hint="chmod u-s,g-s,-t the file and rebuild.")
        name = normalise_member_name(raw_name, lim, is_dir)
        if name == "":
            if is_dir:
                continue  # the "./" entry of `tar -C dir .`
            raise PayloadError("a file member names the archive root", member=raw_name, hint=REBUILD_HINT)
        if name in members:
            raise PayloadError("appears twice in the archive (duplicate member name)", member=raw_name, hint=REBUILD_HINT)
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in members and not members[parent].is_dir:
                raise PayloadError("is inside %r, which is a file, not a directory" % parent, member=raw_name,
                                   hint=REBUILD_HINT)
            implicit_dirs.add(parent)
        if not is_dir and name in implicit_dirs:
            raise PayloadError("is a file, but earlier members use it as a directory", member=raw_name,
                               hint=REBUILD_HINT)
        entry = _Member(name, is_dir, info.mode & 0o777, 0 if is_dir else info.size)
        members[name] = entry
        if is_dir:
            if sink is not None:
                sink.mkdir(name, info.mode)
            continue
        declared += info.size
        if declared > lim["max_expanded_bytes"]:
            raise PayloadError("archive declares more than %d bytes of file data (max_expanded_bytes)"
                               % lim["max_expanded_bytes"], member=raw_name,
                               hint="Make the payload smaller or raise limits.max_expanded_bytes.")
        if name in _SMALL_MEMBERS and info.size > lim["max_manifest_bytes"]:
            raise PayloadError("is %d bytes, more than max_manifest_bytes (%d)" % (info.size, lim["max_manifest_bytes"]),
                               member=raw_name, hint="Keep the manifest small or raise limits.max_manifest_bytes.")
        # MD5 only matters for legacy payloads, which have no manifest.json.
        _read_member(tf, info, entry, sink, small, need_md5=MANIFEST_NAME not in small)
    # Everything after the end-of-archive block must be zero padding, and not much of it (tar
    # tools pad to a 10 KiB record; a bomb pads with hundreds of MiB).
    limited.set_budget(MAX_TRAILING_PADDING, PayloadError(
        "more than %d bytes of padding after the tar end-of-archive marker (decompression bomb?)"
        % MAX_TRAILING_PADDING, hint=REBUILD_HINT))
    while True:
        chunk = tf.fileobj.read(_CHUNK)
        if not chunk:
            break
        if chunk.strip(b"\x00"):
            raise PayloadError("unexpected data after the tar end-of-archive marker (hidden or corrupt members)",
                               hint=REBUILD_HINT)
    while limited.read(_CHUNK):  # verifies the gzip CRC and the expanded-size limit
        pass
    return members, small, limited.count


def _read_member(tf, info, entry, sink, small, need_md5=True):
    src = tf.extractfile(info)
    sha = hashlib.sha256()
    md5 = hashlib.md5() if need_md5 else None
    keep = [] if entry.name in _SMALL_MEMBERS else None
    out = sink.open_file(entry.name, info.mode) if sink is not None else None
    ok = False
    try:
        remaining = info.size
        while remaining > 0:
            chunk = src.read(min(_CHUNK, remaining))
            if not chunk:
                raise PayloadError("archive ends in the middle of this member (truncated)", member=info.name,
                                   hint="Copy the payload again.")
            remaining -= len(chunk)
            sha.update(chunk)
            if md5 is not None:
                md5.update(chunk)
            if len(entry.head) < 4:
                entry.head += chunk[:4 - len(entry.head)]
            if keep is not None:
                keep.append(chunk)
            if out is not None:
                out.write(chunk)
        ok = True
    finally:
        if out is not None:
            out.close(ok)
    entry.sha256 = sha.hexdigest()
    entry.md5 = md5.hexdigest() if md5 is not None else None
    if keep is not None:
        small[entry.name] = b"".join(keep)


def _check_tree(members):
    """A file must not also be used as a directory (``a`` file and ``a/b``)."""
    for name in members:
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in members and not members[parent].is_dir:
                raise PayloadError("is inside %r, which is a file, not a directory" % parent, member=name, hint=REBUILD_HINT)


def _script_entry(phase_entry, members, phase, legacy):
    script = phase_entry["script"]
    member = members.get(script)
    if member is None or member.is_dir:
        raise PayloadError("the %s script is missing from the archive" % phase, member=script,
                           hint="Add it (every payload needs hc_state_check.sh, hc_install_upgrade.sh, "
                           "hc_verify_upgrade.sh) and rebuild.")
    executable = bool(member.mode & 0o100)
    starts_ok = member.head[:2] == b"#!" or member.head == b"\x7fELF"
    if legacy:
        # The 2021 client ran scripts through a shell; keep that for scripts that cannot be exec'd.
        phase_entry["interpreter"] = None if (executable and starts_ok) else "/bin/sh"
        return
    if not executable:
        raise PayloadError("the %s script is not executable (mode %04o)" % (phase, member.mode), member=script,
                           hint="chmod +x it and rebuild the payload.")
    if not starts_ok:
        raise PayloadError("the %s script does not start with a '#!' interpreter line" % phase, member=script,
                           hint="Start it with #!/bin/sh and rebuild.")


def _validate_members(members, small, lim, legacy_state_check, archive):
    _check_tree(members)
    files = dict((n, m) for n, m in members.items() if not m.is_dir)
    if MANIFEST_NAME in files:
        fmt = "v2"
        manifest_bytes = small[MANIFEST_NAME]
        manifest = validate_manifest(_load_json(manifest_bytes, MANIFEST_NAME))
        signature = small.get(SIGNATURE_NAME)
        listed = manifest["files"]
        for name in sorted(files):
            if name in (MANIFEST_NAME, SIGNATURE_NAME):
                continue
            if name not in listed:
                raise PayloadError("is not listed in manifest.json files; unlisted files are refused", member=name,
                                   hint=REBUILD_HINT)
            if files[name].sha256 != listed[name]:
                raise PayloadError("SHA-256 mismatch: manifest says %s, archive has %s" % (listed[name], files[name].sha256),
                                   member=name, hint="The payload was modified or damaged; rebuild it.")
        for name in sorted(listed):
            if name not in files:
                raise PayloadError("is listed in manifest.json files but missing from the archive", member=name,
                                   hint=REBUILD_HINT)
    elif LEGACY_METADATA_NAME in files:
        fmt = "legacy"
        if SIGNATURE_NAME in files:
            raise PayloadError("legacy (metadata.json) payloads cannot be signed; a manifest.json.sig without "
                               "manifest.json is refused", member=SIGNATURE_NAME, hint=REBUILD_HINT)
        if LEGACY_CHECKSUM_NAME not in files:
            raise PayloadError("legacy payload has metadata.json but no md5sum.chk", member=LEGACY_CHECKSUM_NAME,
                               hint="Run `md5sum` over every file (as build_upgrade.sh did) or rebuild as v2.")
        manifest_bytes = small[LEGACY_METADATA_NAME]
        manifest = normalise_legacy_metadata(_load_json(manifest_bytes, LEGACY_METADATA_NAME), legacy_state_check)
        sums = parse_md5sum(small[LEGACY_CHECKSUM_NAME])
        signature = None
        for name in sorted(files):
            if name == LEGACY_CHECKSUM_NAME:
                continue
            if name not in sums:
                raise PayloadError("is not listed in md5sum.chk; unlisted files are refused", member=name,
                                   hint="Regenerate md5sum.chk over every file.")
            if files[name].md5 != sums[name]:
                raise PayloadError("MD5 mismatch: md5sum.chk says %s, archive has %s" % (sums[name], files[name].md5),
                                   member=name, hint="The payload was modified or damaged; rebuild it.")
        for name in sorted(sums):
            if name not in files:
                raise PayloadError("is listed in md5sum.chk but missing from the archive", member=name, hint=REBUILD_HINT)
        manifest["files"] = dict((n, files[n].sha256) for n in files if n != LEGACY_CHECKSUM_NAME)
        if SCRIPT_NAMES["rollback"] in files:
            # Not part of the 2021 format: a legacy payload that carries (and md5-lists) one gets the same
            # rollback phase as v2 (after a failed install or verify, and for state=rolled_back).
            manifest["phases"]["rollback"] = {"script": SCRIPT_NAMES["rollback"], "timeout": DEFAULT_TIMEOUTS["rollback"],
                                              "retries": 0, "interpreter": None}
    else:
        raise PayloadError("has neither manifest.json (format v2) nor metadata.json (2021 format) at its root",
                           member=MANIFEST_NAME, hint=REBUILD_HINT)
    for phase in PHASES:
        entry = manifest["phases"][phase]
        if entry is not None:
            _script_entry(entry, members, phase, manifest["legacy"])
    return Payload(fmt, manifest, None, signature, manifest_bytes)


# --------------------------------------------------------------------------------------------
# public API


def inspect_archive(path, limits=None, legacy_state_check="readme"):
    """Validate a payload archive without writing anything; return a :class:`Payload`."""
    return _scan(path, limits, None, legacy_state_check)


def extract_archive(path, dest_dir, limits=None, legacy_state_check="readme"):
    """Validate and extract a payload into ``dest_dir`` (which must not exist yet).

    Members are written into a fresh staging directory created next to ``dest_dir``; it is
    renamed to ``dest_dir`` only after every check passed, and removed on any error, so a
    refused payload leaves nothing behind.
    """
    dest_dir = os.path.abspath(dest_dir)
    parent = os.path.dirname(dest_dir)
    archive = os.path.basename(path)
    if os.path.lexists(dest_dir):
        raise PayloadError("destination %s already exists; extraction needs a fresh directory" % dest_dir,
                           archive=archive, hint="Remove it or extract elsewhere.")
    if not os.path.isdir(parent):
        raise PayloadError("the parent directory of the destination, %s, does not exist" % parent, archive=archive)
    staging = tempfile.mkdtemp(prefix=".%s.staging-" % os.path.basename(dest_dir), dir=parent)
    sink = None
    try:
        sink = _Sink(staging)
        payload = _scan(path, limits, sink, legacy_state_check)
        sink.finish()
        sink.close()
        os.rename(staging, dest_dir)
        _fsync_dir(parent)
    except BaseException:
        if sink is not None:
            sink.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    payload.extracted_to = dest_dir
    return payload


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)
