"""HTTP digest authentication of the simulated camera (RFC 7616, qop=auth only) and the 490 lockout.

Mirrors the transport half of ``plugins/module_utils/_camera/sunapi.py``: realm ``iPolis_<MAC>``
(``AXIS_<MAC>`` for VAPIX models), one challenge per algorithm in ``digest_algorithms`` order,
nonce reuse with counters, RFC 2069 and Basic refused; consecutive failed logins from one client
address lock it out (HTTP 490) for ``lockout_seconds``.
"""

import hashlib
import re
import secrets


class DigestMixin:
    """Needs SimCore (config, users, lock, clock, mac, api)."""

    def new_nonce(self):
        nonce = secrets.token_hex(16)
        now = self.clock()
        with self.lock:
            if len(self.nonces) > 256:
                life = self.config["nonce_lifetime"]
                self.nonces = {n: t for n, t in self.nonces.items() if now - t < life}
                while len(self.nonces) > 256:
                    self.nonces.pop(next(iter(self.nonces)))
            self.nonces[nonce] = now
        return nonce

    @property
    def realm(self):
        if self.api == "vapix":
            return "AXIS_" + self.mac.replace(":", "")
        return "iPolis_" + self.mac.replace(":", "")

    def challenges(self, stale=False):
        out = []
        for alg in self.config["digest_algorithms"]:
            out.append('Digest realm="%s", nonce="%s", qop="auth", algorithm=%s%s'
                       % (self.realm, self.new_nonce(), alg, ", stale=true" if stale else ""))
        return out

    def is_locked(self, client):
        with self.lock:
            until = self.locked_until.get(client)
            if until is None:
                return False
            now = self.clock()
            if now >= until:
                del self.locked_until[client]
                self.failures.pop(client, None)
                return False
            if self.config["lockout_extend"]:
                self.locked_until[client] = now + self.config["lockout_seconds"]
            return True

    def record_failure(self, client):
        with self.lock:
            n = self.failures.get(client, 0) + 1
            self.failures[client] = n
            if n >= self.config["lockout_after"]:
                self.locked_until[client] = self.clock() + self.config["lockout_seconds"]

    def check_auth(self, header, method, uri, client):
        """Returns (user, stale): user is None when the credentials are missing or wrong."""
        if not header or not header.lower().startswith("digest "):
            return None, False
        fields = dict((k.lower(), v1 if v1 else v2) for k, v1, v2 in
                      re.findall(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))', header[7:]))
        alg = (fields.get("algorithm") or "MD5").upper()
        user = fields.get("username", "")
        if alg not in self.config["digest_algorithms"] or fields.get("qop") != "auth" or \
                fields.get("realm") != self.realm or fields.get("uri") != uri:
            self.record_failure(client)
            return None, False
        with self.lock:
            issued = self.nonces.get(fields.get("nonce", ""))
        if issued is None or self.clock() - issued > self.config["nonce_lifetime"]:
            return None, True
        hfun = hashlib.sha256 if alg == "SHA-256" else hashlib.md5

        def h(s):
            return hfun(s.encode("utf-8")).hexdigest()
        account = self.users.get(user)
        if account is not None:
            ha1 = h("%s:%s:%s" % (user, self.realm, account["password"]))
            ha2 = h("%s:%s" % (method, uri))
            want = h("%s:%s:%s:%s:auth:%s" % (ha1, fields.get("nonce"), fields.get("nc", ""),
                                               fields.get("cnonce", ""), ha2))
            if secrets.compare_digest(want, fields.get("response", "")):
                with self.lock:
                    self.failures.pop(client, None)
                return user, False
        self.record_failure(client)
        return None, False
