"""OpenSSH manifest signatures (ssh-keygen -Y sign / find-principals / verify)."""

import os
import shutil
import subprocess

import pytest
from hctest.requires import require_system_tool

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build as B
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as P
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import signing as S


@pytest.fixture(autouse=True)
def _ssh_keygen():
    require_system_tool("ssh-keygen", "openssh-client")


MANIFEST = b'{"schema_version": 2}\n'


def keygen(directory, name, passphrase=""):
    path = os.path.join(str(directory), name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", path], check=True)
    with open(path + ".pub") as handle:
        return path, handle.read().strip()


@pytest.fixture()
def keys(tmp_path):
    trusted, trusted_pub = keygen(tmp_path, "release")
    stranger = keygen(tmp_path, "stranger")[0]
    allowed = tmp_path / "allowed_signers"
    allowed.write_text('release@waggle namespaces="waggle-honeycomb" %s\n' % trusted_pub)
    return {"trusted": trusted, "stranger": stranger, "allowed": str(allowed), "dir": tmp_path}


def test_good_signature(keys):
    sig = S.sign_manifest(MANIFEST, keys["trusted"])
    assert sig.startswith(b"-----BEGIN SSH SIGNATURE-----")
    assert S.verify_manifest(MANIFEST, sig, keys["allowed"]) == "release@waggle"
    assert S.sign_manifest(MANIFEST, keys["trusted"]) == sig  # ed25519 signatures are deterministic


def test_modified_manifest(keys):
    sig = S.sign_manifest(MANIFEST, keys["trusted"])
    with pytest.raises(S.SignatureError, match="does not match manifest.json") as err:
        S.verify_manifest(MANIFEST + b" ", sig, keys["allowed"])
    assert err.value.member == "manifest.json.sig"


def test_unknown_signer(keys):
    sig = S.sign_manifest(MANIFEST, keys["stranger"])
    with pytest.raises(S.SignatureError, match="unknown signer"):
        S.verify_manifest(MANIFEST, sig, keys["allowed"])


def test_wrong_namespace(keys):
    sig = S.sign_manifest(MANIFEST, keys["trusted"], namespace="file")
    with pytest.raises(S.SignatureError):
        S.verify_manifest(MANIFEST, sig, keys["allowed"])


def test_namespace_restricted_in_allowed_signers(keys, tmp_path):
    # a key allowed only for another namespace must not verify waggle-honeycomb signatures
    pub = open(keys["trusted"] + ".pub").read().strip()
    other = tmp_path / "other_allowed"
    other.write_text('release@waggle namespaces="git" %s\n' % pub)
    sig = S.sign_manifest(MANIFEST, keys["trusted"])
    with pytest.raises(S.SignatureError):
        S.verify_manifest(MANIFEST, sig, str(other))


def test_missing_and_garbage(keys):
    with pytest.raises(S.SignatureError, match="not signed"):
        S.verify_manifest(MANIFEST, None, keys["allowed"])
    with pytest.raises(S.SignatureError, match="not an OpenSSH signature"):
        S.verify_manifest(MANIFEST, b"hello", keys["allowed"])
    with pytest.raises(S.SignatureError, match="cannot be parsed"):
        S.verify_manifest(MANIFEST, b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n",
                          keys["allowed"])
    with pytest.raises(S.SignatureError, match="allowed-signers file .* does not exist"):
        S.verify_manifest(MANIFEST, b"x", str(keys["dir"] / "nope"))


def test_sign_errors(keys):
    with pytest.raises(S.SignatureError, match="does not exist"):
        S.sign_manifest(MANIFEST, str(keys["dir"] / "nokey"))
    locked = keygen(keys["dir"], "locked", passphrase="secret-passphrase")[0]
    with pytest.raises(S.SignatureError, match="signing with .*locked failed"):
        S.sign_manifest(MANIFEST, locked)


def test_signature_error_is_payload_error():
    assert issubclass(S.SignatureError, P.PayloadError)


def _built(tmp_path, sign_key=None):
    src = tmp_path / "src"
    src.mkdir(parents=True)
    for name in ("hc_state_check.sh", "hc_install_upgrade.sh", "hc_verify_upgrade.sh"):
        (src / name).write_text("#!/bin/sh\nexit 0\n")
        os.chmod(str(src / name), 0o755)
    out = str(tmp_path / ("signed.tar.gz" if sign_key else "unsigned.tar.gz"))
    B.build_payload(str(src), out, options={"version": "1"}, sign_key=sign_key)
    shutil.rmtree(str(src))
    return P.inspect_archive(out)


def test_verify_payload_built_and_signed(keys, tmp_path):
    signed = _built(tmp_path / "a", keys["trusted"])
    assert signed.signature is not None
    assert S.verify_payload(signed, keys["allowed"]) == "release@waggle"
    unsigned = _built(tmp_path / "b")
    with pytest.raises(S.SignatureError, match="not signed") as err:
        S.verify_payload(unsigned, keys["allowed"], require_signature=True)
    assert "unsigned.tar.gz" in str(err.value)
    assert S.verify_payload(unsigned, keys["allowed"], require_signature=False) is None
    with pytest.raises(S.SignatureError, match="no allowed-signers file"):
        S.verify_payload(signed, None, require_signature=True)
    # signed but not required and no allowed_signers: accepted unverified
    assert S.verify_payload(signed, None, require_signature=False) is None
    # signed and allowed_signers given: the signature is checked even when not required
    stranger = _built(tmp_path / "c", keys["stranger"])
    with pytest.raises(S.SignatureError, match="unknown signer"):
        S.verify_payload(stranger, keys["allowed"], require_signature=False)


def test_verify_payload_legacy():
    corpus = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "hostile"))
    legacy = P.inspect_archive(os.path.join(corpus, "valid-legacy.tar.gz"))
    with pytest.raises(S.SignatureError, match="legacy 2021 payloads carry no signature"):
        S.verify_payload(legacy, os.path.join(corpus, "allowed_signers"), require_signature=True)
    assert S.verify_payload(legacy, os.path.join(corpus, "allowed_signers"), require_signature=False) is None


@pytest.mark.parametrize("name", ["bad-signature", "unknown-signer", "garbage-signature", "missing-signature"])
def test_corpus_signature_cases(name):
    import json
    corpus = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "hostile"))
    case = json.load(open(os.path.join(corpus, "cases.json")))["cases"][name]
    pl = P.inspect_archive(os.path.join(corpus, case["file"]))
    with pytest.raises(S.SignatureError) as err:
        S.verify_payload(pl, os.path.join(corpus, "allowed_signers"), require_signature=True)
    assert case["match"] in str(err.value) and err.value.member == case["member"]
    assert case["file"] in str(err.value)


def test_corpus_signed_valid():
    corpus = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "hostile"))
    pl = P.inspect_archive(os.path.join(corpus, "valid-v2-signed.tar.gz"))
    assert S.verify_payload(pl, os.path.join(corpus, "allowed_signers")) == "corpus-signer"
