# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deterministic builder for format-v2 Honeycomb payloads.

Same input directory + options => byte-identical ``.tar.gz``: entries sorted by name
(``manifest.json`` and ``manifest.json.sig`` first), mtime 0 or ``SOURCE_DATE_EPOCH``, uid/gid 0
with no owner names, modes 0755/0644 only, gzip header without name and with mtime 0.
Used by the ``waggle.honeycomb.upgrade_build`` action/module and the ``honeycomb-build`` CLI.
Python 3.6, standard library only (PyYAML used for ``honeycomb.yml`` when available).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fnmatch
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as hcpayload
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.payload import PayloadError

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML is always there on an Ansible controller
    yaml = None
    HAS_YAML = False

CONFIG_NAMES = ("honeycomb.yml", "honeycomb.yaml", "honeycomb.json")
CONFIG_KEYS = ("name", "version", "peripheral", "description", "timeouts", "retries", "state_check_codes",
               "backup_paths", "restart_units", "parameters", "exclude", "collection_code")
OPTION_KEYS = CONFIG_KEYS
_CHUNK = 64 * 1024


class BuildError(PayloadError):
    """The source directory or the build options cannot make a valid payload."""


def load_config(src_dir):
    """Read the optional build config (``honeycomb.yml``/``honeycomb.yaml``/``honeycomb.json``) from ``src_dir``.

    Returns ``(config dict, config file name or None)``.
    """
    found = [n for n in CONFIG_NAMES if os.path.isfile(os.path.join(src_dir, n))]
    if len(found) > 1:
        raise BuildError("more than one build config file (%s)" % ", ".join(found), member=src_dir,
                         hint="Keep only one of them.")
    if not found:
        return {}, None
    name = found[0]
    path = os.path.join(src_dir, name)
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        if name.endswith(".json"):
            config = json.loads(data.decode("utf-8"))
        else:
            if not HAS_YAML:
                raise BuildError("PyYAML is needed to read %s" % name, member=path, hint="Use honeycomb.json instead.")
            config = yaml.safe_load(data.decode("utf-8"))
    except (ValueError, UnicodeError) as exc:
        raise BuildError("cannot be parsed (%s)" % exc, member=path)
    except Exception as exc:  # yaml.YAMLError
        if yaml is not None and isinstance(exc, yaml.YAMLError):
            raise BuildError("is not valid YAML (%s)" % exc, member=path)
        raise
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise BuildError("must hold a mapping of build options", member=path)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise BuildError("has unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(CONFIG_KEYS)), member=path)
    return config, name


def _legacy_defaults(src_dir):
    """Turn a 2021 payload directory into v2 build options (name, version, peripheral, retries)."""
    path = os.path.join(src_dir, hcpayload.LEGACY_METADATA_NAME)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, "rb") as handle:
            meta = json.loads(handle.read().decode("utf-8"))
    except (ValueError, UnicodeError):
        return {}
    if not isinstance(meta, dict):
        return {}
    out = {}
    if isinstance(meta.get("peripheral_name"), str):
        out["peripheral"] = meta["peripheral_name"]
    if isinstance(meta.get("config_version"), str):
        out["version"] = meta["config_version"]
    if isinstance(meta.get("upgrade_name"), str):
        out["name"] = meta["upgrade_name"]
    elif "peripheral" in out and "version" in out:
        out["name"] = "%s-%s" % (out["peripheral"], out["version"])
    if isinstance(meta.get("description"), str):
        out["description"] = meta["description"]
    retries = {}
    for phase in ("state_check", "install", "verify"):
        value = meta.get("retry_" + phase)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= hcpayload.MAX_RETRIES:
            retries[phase] = value
    if retries:
        out["retries"] = retries
    return out


def collect_files(src_dir, exclude=None, config_name=None):
    """Walk ``src_dir``: return (sorted dir names, sorted [(relative name, absolute path, mode)])."""
    exclude = list(exclude or [])
    dirs = []
    files = []
    src_dir = os.path.abspath(src_dir)
    for root, subdirs, names in os.walk(src_dir, followlinks=False):
        subdirs.sort()
        rel_root = os.path.relpath(root, src_dir)
        rel_root = "" if rel_root == "." else rel_root.replace(os.sep, "/")
        keep = []
        for d in subdirs:
            rel = (rel_root + "/" + d) if rel_root else d
            if any(fnmatch.fnmatchcase(rel, pat) or fnmatch.fnmatchcase(d, pat) for pat in exclude):
                continue
            full = os.path.join(root, d)
            if os.path.islink(full):
                raise BuildError("is a symbolic link; payloads may only contain regular files and directories",
                                 member=rel, hint="Copy the target into the source directory or exclude it.")
            keep.append(d)
            dirs.append(rel)
        subdirs[:] = keep
        for n in sorted(names):
            rel = (rel_root + "/" + n) if rel_root else n
            if rel == config_name:
                continue
            if any(fnmatch.fnmatchcase(rel, pat) or fnmatch.fnmatchcase(n, pat) for pat in exclude):
                continue
            full = os.path.join(root, n)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                raise BuildError("is a symbolic link; payloads may only contain regular files and directories",
                                 member=rel, hint="Copy the target into the source directory or exclude it.")
            if not stat.S_ISREG(st.st_mode):
                raise BuildError("is not a regular file (device, FIFO or socket)", member=rel, hint="Remove or exclude it.")
            if st.st_mode & 0o6000:
                raise BuildError("has the setuid/setgid bit set; payloads refuse such files", member=rel,
                                 hint="chmod u-s,g-s it.")
            if rel in (hcpayload.MANIFEST_NAME, hcpayload.SIGNATURE_NAME):
                raise BuildError("exists in the source directory, but the builder writes it", member=rel,
                                 hint="Delete it; put build options in honeycomb.yml instead.")
            hcpayload.normalise_member_name(rel)
            files.append((rel, full, 0o755 if st.st_mode & 0o100 else 0o644))
    files.sort()
    dirs.sort()
    return dirs, files


def _check_scripts(files, phases_wanted):
    by_name = dict((rel, (full, mode)) for rel, full, mode in files)
    for phase in hcpayload.PHASES:
        script = hcpayload.SCRIPT_NAMES[phase]
        if phase == "rollback" and script not in by_name and "rollback" not in phases_wanted:
            continue
        if script not in by_name:
            raise BuildError("the %s script is missing from the source directory" % phase, member=script,
                             hint="Every payload needs hc_state_check.sh, hc_install_upgrade.sh and hc_verify_upgrade.sh.")
        full, mode = by_name[script]
        if not mode & 0o100:
            raise BuildError("the %s script is not executable" % phase, member=script, hint="chmod +x it.")
        with open(full, "rb") as handle:
            head = handle.read(4)
        if head[:2] != b"#!" and head != b"\x7fELF":
            raise BuildError("the %s script does not start with a '#!' line" % phase, member=script,
                             hint="Start it with #!/bin/sh.")


def make_manifest(src_dir, options=None):
    """Return ``(manifest dict, dirs, files)`` for ``src_dir``; options override ``honeycomb.yml``."""
    if not os.path.isdir(src_dir):
        raise BuildError("source directory %s does not exist" % src_dir, member=src_dir)
    options = dict((k, v) for k, v in (options or {}).items() if v is not None)
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise BuildError("unknown build option(s) %s" % ", ".join(unknown))
    config, config_name = load_config(src_dir)
    merged = _legacy_defaults(src_dir)
    merged.update(config)
    merged.update(options)
    dirs, files = collect_files(src_dir, merged.get("exclude"), config_name)
    if merged.get("collection_code"):
        dirs, files = _add_collection_code(dirs, files, merged["collection_code"], src_dir)
    if not merged.get("version"):
        raise BuildError("no version given", member=src_dir,
                         hint="Pass version (upgrade_build version: / honeycomb-build --version) or set it in honeycomb.yml.")
    name = merged.get("name") or os.path.basename(os.path.abspath(src_dir))
    for key in ("timeouts", "retries"):
        value = merged.get(key) or {}
        if not isinstance(value, dict):
            raise BuildError("%s must be a mapping of phase name to integer" % key)
        bad = sorted(set(value) - set(hcpayload.PHASES))
        if bad:
            raise BuildError("%s has unknown phase(s) %s (phases: %s)" % (key, ", ".join(bad), ", ".join(hcpayload.PHASES)))
    timeouts = merged.get("timeouts") or {}
    retries = merged.get("retries") or {}
    phases_wanted = set(timeouts) | set(retries)
    _check_scripts(files, phases_wanted)
    names = set(rel for rel, _full, _mode in files)
    phases = {}
    for phase in hcpayload.PHASES:
        if phase == "rollback" and hcpayload.SCRIPT_NAMES[phase] not in names and phase not in phases_wanted:
            continue
        entry = {}
        if phase in timeouts:
            entry["timeout"] = timeouts[phase]
        if phase in retries:
            entry["retries"] = retries[phase]
        phases[phase] = entry
    manifest = {
        "schema_version": hcpayload.SCHEMA_VERSION,
        "name": name,
        "version": merged["version"],
        "peripheral": merged.get("peripheral") or name,
        "description": merged.get("description") or "",
        "phases": phases,
        "state_check_codes": merged.get("state_check_codes") or dict(hcpayload.DEFAULT_STATE_CHECK_CODES),
        "backup_paths": merged.get("backup_paths") or [],
        "restart_units": merged.get("restart_units") or [],
        "parameters": merged.get("parameters"),
        "files": dict((rel, _sha256(full)) for rel, full, _mode in files),
    }
    if isinstance(manifest["version"], (int, float)) and not isinstance(manifest["version"], bool):
        raise BuildError("version must be a string (quote it in YAML: '1.10', not 1.10)", member=src_dir)
    normalised = hcpayload.validate_manifest(manifest, member="manifest for %s" % src_dir)
    # write the normalised values (fills in defaults, so the manifest is explicit)
    manifest["phases"] = dict((p, dict((k, v) for k, v in e.items() if k != "interpreter"))
                              for p, e in normalised["phases"].items() if e is not None)
    manifest["state_check_codes"] = normalised["state_check_codes"]
    manifest["parameters"] = normalised["parameters"]
    return manifest, dirs, files


def _sha256(source):
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    return hcpayload.sha256_file(source)


def _add_collection_code(dirs, files, packages, src_dir):
    """Adds the node-side code of this collection (``collection_code: [_camera]``): see _peripheral/bundle.py."""
    from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import bundle
    try:
        extra_dirs, extra_files = bundle.entries(packages)
    except bundle.BundleError as exc:
        raise BuildError(str(exc), member=src_dir)
    taken = set(rel for rel, _full, _mode in files) | set(dirs)
    clash = sorted(rel for rel, _src, _mode in extra_files if rel in taken) + \
        sorted(d for d in extra_dirs if d in set(rel for rel, _f, _m in files))
    if clash:
        raise BuildError("collection_code would replace %s of the source directory" % ", ".join(clash),
                         member=src_dir, hint="Remove them; the builder writes %s and %s/." % (bundle.LAUNCHER, bundle.LIB_DIR))
    return sorted(set(dirs) | set(extra_dirs)), sorted(files + extra_files)


def manifest_bytes(manifest):
    return (json.dumps(manifest, sort_keys=True, indent=2, separators=(",", ": "), ensure_ascii=True) + "\n").encode("ascii")


def _source_date_epoch(value):
    if value is None:
        value = os.environ.get("SOURCE_DATE_EPOCH")
    if value in (None, ""):
        return 0
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise BuildError("SOURCE_DATE_EPOCH must be an integer number of seconds, got %r" % (value,))
    if value < 0 or value > 8 ** 11 - 1:
        raise BuildError("SOURCE_DATE_EPOCH %d is out of range" % value)
    return value


def _tarinfo(name, mode, size, mtime, is_dir=False):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = mode
    info.size = 0 if is_dir else size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _header(info):
    """Header block(s) for ``info``, identical on Python 3.6 ... 3.13.

    Newer ``tarfile`` versions leave devmajor/devminor empty for non-device members where 3.6
    writes zeros; both are valid, so the fields are blanked and the checksum recomputed.
    """
    buf = bytearray(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    offsets = [0] if len(buf) == tarfile.BLOCKSIZE else [0, len(buf) - tarfile.BLOCKSIZE]
    for off in offsets:
        block = buf[off:off + tarfile.BLOCKSIZE]
        block[329:345] = b"\x00" * 16
        block[148:156] = b" " * 8
        chksum = sum(block)
        block[148:155] = ("%06o\x00" % chksum).encode("ascii")
        buf[off:off + tarfile.BLOCKSIZE] = block
    return bytes(buf)


class _TarWriter(object):
    """Minimal deterministic tar writer (PAX headers from ``tarfile``, fixed layout)."""

    def __init__(self, out):
        self.out = out
        self.written = 0

    def _write(self, data):
        self.out.write(data)
        self.written += len(data)

    def add(self, info, fileobj=None):
        self._write(_header(info))
        if fileobj is None:
            return
        remaining = info.size
        while remaining > 0:
            chunk = fileobj.read(min(_CHUNK, remaining))
            if not chunk:
                raise BuildError("changed size while the payload was being built", member=info.name,
                                 hint="Do not modify the source directory during the build.")
            self._write(chunk)
            remaining -= len(chunk)
        if fileobj.read(1):
            raise BuildError("changed size while the payload was being built", member=info.name,
                             hint="Do not modify the source directory during the build.")
        self._write(b"\x00" * (-info.size % tarfile.BLOCKSIZE))

    def close(self):
        self._write(b"\x00" * (2 * tarfile.BLOCKSIZE))
        self._write(b"\x00" * (-self.written % tarfile.RECORDSIZE))


def write_archive(out, manifest_data, signature, dirs, files, mtime):
    """Write the deterministic tar.gz to the binary file object ``out``."""
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0)
    with gz:
        tw = _TarWriter(gz)
        tw.add(_tarinfo(hcpayload.MANIFEST_NAME, 0o644, len(manifest_data), mtime), io.BytesIO(manifest_data))
        if signature is not None:
            tw.add(_tarinfo(hcpayload.SIGNATURE_NAME, 0o644, len(signature), mtime), io.BytesIO(signature))
        entries = [(d, None, 0o755) for d in dirs] + list(files)
        entries.sort(key=lambda e: e[0])
        for rel, full, mode in entries:
            if full is None:
                tw.add(_tarinfo(rel, 0o755, 0, mtime, is_dir=True))
                continue
            if isinstance(full, bytes):
                tw.add(_tarinfo(rel, mode, len(full), mtime), io.BytesIO(full))
                continue
            with open(full, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                tw.add(_tarinfo(rel, mode, size, mtime), handle)
        tw.close()


def build_payload(src_dir, dest, options=None, sign_key=None, source_date_epoch=None, check_mode=False,
                  limits=None):
    """Build a v2 payload from ``src_dir`` into ``dest``.

    ``options`` (dict, keys as in ``honeycomb.yml``: name, version, peripheral, description,
    timeouts, retries, state_check_codes, backup_paths, restart_units, parameters, exclude)
    override the source directory's ``honeycomb.yml``.  ``dest`` is only replaced when the new
    bytes differ.  Returns a dict: dest, changed, sha256, size, signed, manifest, files.
    """
    manifest, dirs, files = make_manifest(src_dir, options)
    data = manifest_bytes(manifest)
    signature = None
    if sign_key:
        from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import signing
        signature = signing.sign_manifest(data, sign_key)
    mtime = _source_date_epoch(source_date_epoch)
    dest = os.path.abspath(dest)
    dest_dir = os.path.dirname(dest)
    if not os.path.isdir(dest_dir):
        raise BuildError("the destination directory %s does not exist" % dest_dir, member=dest)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".tmp", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            write_archive(out, data, signature, dirs, files, mtime)
        # Self-check: the builder must never emit a payload the validator refuses.
        checked = hcpayload.inspect_archive(tmp, limits)
        changed = not (os.path.isfile(dest) and _same_file(tmp, dest))
        size = os.path.getsize(tmp)
        if changed and not check_mode:
            os.chmod(tmp, 0o644)
            os.rename(tmp, dest)
            tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return {
        "dest": dest,
        "changed": changed,
        "sha256": checked.archive_sha256,
        "size": size,
        "signed": signature is not None,
        "manifest": manifest,
        "files": sorted(manifest["files"]),
    }


def _same_file(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca = fa.read(_CHUNK)
            cb = fb.read(_CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def argument_spec():
    """Options of the ``waggle.honeycomb.upgrade_build`` module and action plugin."""
    return dict(
        src=dict(type="path", required=True),
        dest=dict(type="path", required=True),
        sign_key=dict(type="path", no_log=False),
        name=dict(type="str"),
        version=dict(type="str"),
        peripheral=dict(type="str"),
        description=dict(type="str"),
        timeouts=dict(type="dict"),
        retries=dict(type="dict"),
        state_check_codes=dict(type="dict"),
        backup_paths=dict(type="list", elements="str"),
        restart_units=dict(type="list", elements="str"),
        parameters=dict(type="dict"),
        exclude=dict(type="list", elements="str"),
        collection_code=dict(type="list", elements="str"),
        source_date_epoch=dict(type="int"),
    )


def run(params, check_mode=False):
    """Entry point shared by the module and the action plugin: returns an Ansible result dict."""
    options = dict((k, params.get(k)) for k in OPTION_KEYS)
    try:
        result = build_payload(params["src"], params["dest"], options, sign_key=params.get("sign_key"),
                               source_date_epoch=params.get("source_date_epoch"), check_mode=check_mode)
    except PayloadError as exc:
        return {"failed": True, "changed": False, "msg": str(exc),
                "payload_error": {"member": exc.member, "reason": exc.reason}}
    return result
