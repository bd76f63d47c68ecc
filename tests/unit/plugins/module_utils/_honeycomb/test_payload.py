"""Unit tests for the payload validator / extractor (format v2 and legacy 2021)."""

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as P

SCRIPT = b"#!/bin/sh\nexit 0\n"


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def make_tar(path, entries, gz=True):
    """entries: list of (name, data-or-None-for-dir, mode, type-override dict)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for entry in entries:
            name, data, mode = entry[:3]
            extra = entry[3] if len(entry) > 3 else {}
            info = tarfile.TarInfo(name)
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            for key, value in extra.items():
                setattr(info, key, value)
            tf.addfile(info, io.BytesIO(data) if data is not None and info.isreg() else None)
    raw = buf.getvalue()
    with open(path, "wb") as handle:
        handle.write(gzip.compress(raw, mtime=0) if gz else raw)
    return path


def v2_entries(files=None, manifest_extra=None, manifest_override=None):
    files = dict(files if files is not None else {
        "hc_state_check.sh": SCRIPT, "hc_install_upgrade.sh": SCRIPT, "hc_verify_upgrade.sh": SCRIPT,
        "lib/data.txt": b"hello\n"})
    manifest = {"schema_version": 2, "name": "test", "version": "1.0.0", "peripheral": "thing",
                "files": {n: _sha(d) for n, d in files.items()}}
    manifest.update(manifest_extra or {})
    if manifest_override is not None:
        manifest = manifest_override
    entries = [("manifest.json", json.dumps(manifest).encode(), 0o644)]
    entries += [(n, d, 0o755 if n.endswith(".sh") else 0o644) for n, d in sorted(files.items())]
    return entries


def snapshot(directory):
    out = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            full = os.path.join(root, name)
            out[os.path.relpath(full, directory)] = os.lstat(full).st_mode
    return out


def test_valid_v2_inspect_and_extract(tmp_path):
    arc = make_tar(str(tmp_path / "p.tar.gz"), v2_entries())
    before = snapshot(str(tmp_path))
    pl = P.inspect_archive(arc)
    assert snapshot(str(tmp_path)) == before
    assert pl.format == "v2"
    assert pl.manifest["phases"]["rollback"] is None
    assert pl.manifest["state_check_codes"] == {"needed": [0], "already_applied": [100], "retry_later": [21]}
    assert set(pl.manifest["files"]) == {"hc_state_check.sh", "hc_install_upgrade.sh", "hc_verify_upgrade.sh",
                                         "lib/data.txt"}
    assert pl.archive_sha256 == hashlib.sha256(open(arc, "rb").read()).hexdigest()
    dest = tmp_path / "job" / "payload"
    (tmp_path / "job").mkdir()
    pl2 = P.extract_archive(arc, str(dest))
    assert pl2.manifest == pl.manifest
    assert (dest / "lib" / "data.txt").read_bytes() == b"hello\n"
    assert os.stat(str(dest / "hc_install_upgrade.sh")).st_mode & 0o777 == 0o755
    assert os.listdir(str(tmp_path / "job")) == ["payload"]


def test_traversal_refused_and_nothing_written(tmp_path):
    entries = v2_entries() + [("../evil", b"x", 0o644)]
    arc = make_tar(str(tmp_path / "p.tar.gz"), entries)
    (tmp_path / "job").mkdir()
    before = snapshot(str(tmp_path))
    with pytest.raises(P.PayloadError) as err:
        P.extract_archive(arc, str(tmp_path / "job" / "payload"))
    assert err.value.member == "../evil"
    assert "'..'" in str(err.value) and "p.tar.gz" in str(err.value)
    assert snapshot(str(tmp_path)) == before
