# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Honeycomb upgrade payloads: the archive.

Runs on nodes (Python 3.6, standard library only) and on the controller.

A payload is a ``.tar.gz`` in one of two formats (see docs/payload-format.md): ``v2``, whose
``manifest.json`` (+ optional ``manifest.json.sig``) lists a SHA-256 for every other file, and
``legacy``, the 2021 Honeycomb client format (``metadata.json`` + ``md5sum.chk``); the rules for
both live in :mod:`.manifest`.  Nothing is ever extracted with ``tarfile.extract*``: the archive is
streamed once through a byte-counting reader, every member is checked, and (for
:func:`extract_archive`) written with ``O_CREAT|O_EXCL|O_NOFOLLOW`` into a fresh staging directory
that is renamed into place only when everything checked out.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import zlib

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.manifest import (
    DEFAULT_TIMEOUTS, LEGACY_CHECKSUM_NAME, LEGACY_METADATA_NAME, MANIFEST_NAME, PHASES, PayloadError,
    REBUILD_HINT, SCRIPT_NAMES, SIGNATURE_NAME, load_json_object, normalise_legacy_metadata,
    normalise_member_name, parse_md5sum, resolve_limits, validate_manifest,
)

MAX_TRAILING_PADDING = 1024 * 1024  # zero bytes accepted after the tar end-of-archive marker

_CHUNK = 64 * 1024


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
        manifest = validate_manifest(load_json_object(manifest_bytes, MANIFEST_NAME))
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
        manifest = normalise_legacy_metadata(load_json_object(manifest_bytes, LEGACY_METADATA_NAME), legacy_state_check)
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
