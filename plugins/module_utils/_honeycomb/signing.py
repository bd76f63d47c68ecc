# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSSH signatures over payload manifests (``ssh-keygen -Y sign/verify``).

Used on the controller (OpenSSH >= 8.2 for ``-Y find-principals``); Python 3.6 compatible.
The signature is ``manifest.json.sig`` inside the payload, made over the exact bytes of
``manifest.json`` with the namespace ``waggle-honeycomb``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import subprocess
import tempfile

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.payload import PayloadError, SIGNATURE_NAME

NAMESPACE = "waggle-honeycomb"
SSH_KEYGEN = "ssh-keygen"
TIMEOUT = 60
MAX_SIGNATURE_BYTES = 64 * 1024


class SignatureError(PayloadError):
    """A signature could not be made or did not verify."""

    def __init__(self, reason, member=SIGNATURE_NAME, hint=None, archive=None):
        PayloadError.__init__(self, reason, member=member, hint=hint, archive=archive)


def _keygen():
    found = None
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) + ["/usr/bin", "/usr/local/bin"]:
        candidate = os.path.join(directory, SSH_KEYGEN)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            found = candidate
            break
    if found is None:
        raise SignatureError("ssh-keygen was not found on PATH", member=None,
                             hint="Install OpenSSH >= 8.2 (openssh-client) on the controller.")
    return found


def _run(args, data=None):
    try:
        # Controller-side helper without an AnsibleModule, so run_command is not available here.
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                                stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
    except OSError as exc:
        raise SignatureError("cannot run %s: %s" % (args[0], exc), member=None)
    try:
        out, err = proc.communicate(data if data is not None else b"", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SignatureError("%s did not finish within %d seconds (is it waiting for a passphrase?)"
                             % (" ".join(args[:3]), TIMEOUT), member=None,
                             hint="Use an unencrypted signing key or load it into ssh-agent.")
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    return proc.returncode, out, "; ".join(lines)


def _unsupported(err):
    low = err.lower()
    return "unknown option" in low or "illegal option" in low or "usage:" in low


def sign_manifest(manifest_bytes, key_path, namespace=NAMESPACE):
    """Sign ``manifest_bytes`` with the OpenSSH private key at ``key_path``; return the armored signature.

    ``key_path`` may also be a public key whose private half is loaded in ssh-agent.
    """
    if not os.path.isfile(key_path):
        raise SignatureError("signing key %s does not exist" % key_path, member=key_path,
                             hint="Create one with `ssh-keygen -t ed25519 -f <path>`.")
    rc, out, err = _run([_keygen(), "-q", "-Y", "sign", "-f", key_path, "-n", namespace], manifest_bytes)
    if rc != 0 or not out.startswith(b"-----BEGIN SSH SIGNATURE-----"):
        if _unsupported(err):
            hint = "ssh-keygen is too old for -Y sign; install OpenSSH >= 8.2 on the controller."
        else:
            hint = "Check that the key is an unencrypted OpenSSH private key (or loaded into ssh-agent)."
        raise SignatureError("signing with %s failed (rc %s): %s" % (key_path, rc, err or "no output"),
                             member=key_path, hint=hint)
    return out


def verify_manifest(manifest_bytes, sig_bytes, allowed_signers_path, namespace=NAMESPACE):
    """Verify ``sig_bytes`` over ``manifest_bytes`` against an allowed-signers file.

    Returns the principal that signed.  Raises :class:`SignatureError` when the signature is
    missing, malformed, made by a key not in the allowed-signers file, or does not match.
    """
    if sig_bytes is None:
        raise SignatureError("the payload is not signed but a signature is required",
                             hint="Sign it with honeycomb-build --sign-key or upgrade_build sign_key.")
    if not os.path.isfile(allowed_signers_path):
        raise SignatureError("allowed-signers file %s does not exist" % allowed_signers_path,
                             member=allowed_signers_path,
                             hint="Create it with lines '<principal> namespaces=\"%s\" ssh-ed25519 AAAA...'." % namespace)
    if not sig_bytes.strip() or len(sig_bytes) > MAX_SIGNATURE_BYTES or \
            not sig_bytes.lstrip().startswith(b"-----BEGIN SSH SIGNATURE-----"):
        raise SignatureError("is not an OpenSSH signature (expected '-----BEGIN SSH SIGNATURE-----')",
                             hint="Re-sign the payload with honeycomb-build --sign-key.")
    keygen = _keygen()
    tmp = tempfile.mkdtemp(prefix="hc-verify-")
    try:
        sig_path = os.path.join(tmp, SIGNATURE_NAME)
        with open(sig_path, "wb") as handle:
            handle.write(sig_bytes)
        rc, out, err = _run([keygen, "-Y", "find-principals", "-s", sig_path, "-f", allowed_signers_path])
        principals = [p for p in out.decode("utf-8", "replace").splitlines() if p.strip()]
        if rc != 0 or not principals:
            if _unsupported(err):
                raise SignatureError("ssh-keygen is too old for -Y find-principals", member=None,
                                     hint="Install OpenSSH >= 8.2 on the controller.")
            if "parse" in err.lower() or "invalid" in err.lower() or "armor" in err.lower():
                raise SignatureError("cannot be parsed as an OpenSSH signature (%s)" % err,
                                     hint="Re-sign the payload with honeycomb-build --sign-key.")
            raise SignatureError("was made by a key that is not in %s (unknown signer)" % allowed_signers_path,
                                 hint="Add the signer's public key to the allowed-signers file or sign with a trusted key.")
        last = ""
        for principal in principals:
            rc, out, err = _run([keygen, "-Y", "verify", "-f", allowed_signers_path, "-I", principal,
                                 "-n", namespace, "-s", sig_path], manifest_bytes)
            if rc == 0:
                return principal
            last = err
        raise SignatureError("does not match manifest.json for signer %s (%s)" % (", ".join(principals), last or "rc %s" % rc),
                             hint="The manifest was changed after signing, or the namespace is not %r; "
                             "rebuild and re-sign the payload." % namespace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify_payload(payload, allowed_signers_path, require_signature=True, namespace=NAMESPACE):
    """Verify a :class:`payload.Payload`'s signature. Returns the principal, or None when unsigned and allowed."""
    if payload.format != "v2":
        if require_signature:
            raise SignatureError("legacy 2021 payloads carry no signature but a signature is required",
                                 member=None, hint="Rebuild it as a signed v2 payload with honeycomb-build.")
        return None
    if payload.signature is None and not require_signature:
        return None
    if allowed_signers_path is None:
        if require_signature:
            raise SignatureError("a signature is required but no allowed-signers file was given", member=None,
                                 hint="Set allowed_signers to a file of trusted signing keys.")
        return None
    try:
        return verify_manifest(payload.manifest_bytes, payload.signature, allowed_signers_path, namespace)
    except SignatureError as exc:
        raise exc.with_archive(os.path.basename(payload.path) if payload.path else None)
