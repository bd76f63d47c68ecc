# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hanwha SUNAPI driver (node side, Python 3.6+; needs the requests library).

HTTP digest comes from requests' HTTPDigestAuth (MD5, SHA-256 since requests 2.20). A camera may
offer several challenges (SHA-256 and MD5); requests would merge them into one header, so a
response hook hands it only the challenge picked by ``digest_algorithm``.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import traceback

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import (
    CameraAuthError, CameraDeviceError, CameraDriver, CameraError, CameraLockedOut, CameraNoPTZ,
    CameraNotAuthorized, CameraUnreachable)

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    from requests.auth import HTTPDigestAuth
except ImportError:
    requests = None
    HTTPDigestAuth = object
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

# Error codes in the reply body (reference section 1.5). "Configuration Not Found" on a preset
# list means "no presets"; its number is 602 or 612 depending on the source, so the text decides.
CODE_NOT_AUTHORIZED = 609
CODE_SUBMENU_NOT_FOUND = 600
EMPTY_LIST_CODES = (602, 612)


def requests_supports_sha256():
    if requests is None:
        return False
    try:
        parts = tuple(int(x) for x in requests.__version__.split(".")[:2])
    except ValueError:
        return True
    return parts >= (2, 20)


def split_challenges(header):
    """'Digest a=1, b="x,y", Digest c=2' -> ['Digest a=1, b="x,y"', 'Digest c=2'] (quote aware)."""
    out, cur, quoted, i = [], [], False, 0
    while i < len(header):
        ch = header[i]
        if ch == '"':
            quoted = not quoted
        elif ch == "\\" and quoted and i + 1 < len(header):
            cur.append(ch + header[i + 1])
            i += 2
            continue
        elif ch == "," and not quoted and re.match(r",\s*[A-Za-z][\w-]*\s+[\w-]+\s*=", header[i:]):
            out.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def challenge_algorithm(challenge):
    m = re.search(r'(?:^|[\s,])algorithm\s*=\s*"?([\w-]+)"?', challenge, re.I)
    return m.group(1).upper() if m else "MD5"


def pick_challenge(header, preference):
    """Returns (chosen challenge or None, offered algorithms)."""
    digests = [c for c in split_challenges(header) if c.lower().startswith("digest ")]
    offered = [challenge_algorithm(c) for c in digests]
    for want in preference:
        for alg, chal in zip(offered, digests):
            if alg == want:
                return chal, offered
    return None, offered


class _ChallengePickingDigestAuth(HTTPDigestAuth):
    def __init__(self, username, password, preference):
        HTTPDigestAuth.__init__(self, username, password)
        self.preference = preference
        self.offered = None

    def __call__(self, r):
        # Registered before HTTPDigestAuth's own hook, so it sees the response first.
        r.register_hook("response", self._pick)
        return HTTPDigestAuth.__call__(self, r)

    def _pick(self, r, **kwargs):
        if r.status_code != 401:
            # Only a 401 may trigger a digest retry (requests would also retry other 4xx that
            # carry a challenge, e.g. a 490 lockout, which must never be retried).
            r.headers.pop("www-authenticate", None)
            return r
        header = r.headers.get("www-authenticate", "")
        if not header:
            return r
        chosen, offered = pick_challenge(header, self.preference)
        self.offered = offered
        if chosen is None:
            r.headers.pop("www-authenticate", None)
        else:
            r.headers["www-authenticate"] = chosen
        return r


def parse_text(body):
    """key=value lines (CRLF or LF) -> dict; the NG error form -> raises CameraDeviceError."""
    lines = [ln.strip() for ln in body.replace("\r\n", "\n").split("\n")]
    lines = [ln for ln in lines if ln]
    if lines and lines[0] == "NG":
        code, details = None, ""
        for i, ln in enumerate(lines):
            m = re.match(r"^Error Code\s*:\s*(-?\d+)", ln, re.I)
            if m:
                code = int(m.group(1))
            if re.match(r"^Error Details\s*:", ln, re.I):
                rest = ln.split(":", 1)[1].strip()
                details = rest or (lines[i + 1] if i + 1 < len(lines) else "")
        raise CameraDeviceError("NG", code=code, details=details)
    data = {}
    for ln in lines:
        if "=" in ln:
            key, value = ln.split("=", 1)
            data[key.strip()] = value.strip()
    return data


def parse_reply(body, content_type=""):
    """Parses a SUNAPI reply in JSON or text form. Raises CameraDeviceError for either error form
    (message to be completed by the caller). Returns a dict (JSON object or key=value pairs)."""
    text = body.strip()
    if "json" in (content_type or "").lower() or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise CameraError("camera sent an unreadable JSON reply: %r" % text[:200])
        if isinstance(data, dict) and str(data.get("Response", "")).lower() == "fail":
            err = data.get("Error") or {}
            code = err.get("Code") if isinstance(err, dict) else None
            try:
                code = int(code) if code is not None else None
            except (TypeError, ValueError):
                pass
            details = err.get("Details", "") if isinstance(err, dict) else str(err)
            raise CameraDeviceError("Fail", code=code, details=details)
        return data if isinstance(data, dict) else {"value": data}
    return parse_text(text)


def last_component(key):
    return key.rsplit(".", 1)[-1]


def _float(value, what):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CameraError("camera reported %s=%r, which is not a number" % (what, value))


class DigestHttpDriver(CameraDriver):
    """HTTP transport with digest authentication shared by the SUNAPI and VAPIX drivers."""

    def __init__(self, host, port=80, username="admin", password="", timeout=10.0, use_https=False,
                 validate_certs=True, digest_algorithm="auto", session=None):
        if requests is None:
            raise CameraError("the %s driver needs the Python 'requests' library on the node" % self.name)
        self.host = host
        self.timeout = timeout
        self.username = username
        default_port = 443 if use_https else 80
        hostpart = "[%s]" % host if ":" in host else host
        self.base = "%s://%s%s" % ("https" if use_https else "http", hostpart,
                                   "" if port == default_port else ":%d" % port)
        if digest_algorithm == "auto":
            preference = ["SHA-256", "MD5"] if requests_supports_sha256() else ["MD5"]
        else:
            preference = [digest_algorithm.upper()]
        if "SHA-256" in preference and not requests_supports_sha256():
            raise CameraError("digest_algorithm=SHA-256 needs requests >= 2.20 on the node (found %s): "
                              "upgrade python requests or use digest_algorithm=MD5" % requests.__version__)
        self.digest_algorithm = digest_algorithm
        self.session = session or requests.Session()
        self.session.verify = validate_certs
        self.auth = _ChallengePickingDigestAuth(username, password, preference)
        self.session.auth = self.auth
        self.requests_sent = 0

    def where(self):
        return "camera at %s" % self.base

    def send(self, method, path, what, headers=None, body=None):
        """One request -> requests.Response; transport, 401 and 490 become CameraError subclasses."""
        url = self.base + path
        self.requests_sent += 1
        try:
            r = self.session.request(method, url, headers=headers or {}, data=body, timeout=self.timeout)
        except requests.exceptions.Timeout:
            raise CameraUnreachable("%s did not answer %s within %s s: check that the camera is powered "
                                    "and on the node's LAN, or raise timeout" % (self.where(), what, self.timeout))
        except requests.exceptions.ConnectionError as exc:
            raise CameraUnreachable("cannot connect to the %s (%s): check host/port and that the camera is "
                                    "powered and on the node's LAN" % (self.where(), _short(exc)))
        except requests.exceptions.RequestException as exc:
            raise CameraUnreachable("request %s to the %s failed: %s" % (what, self.where(), _short(exc)))
        status = r.status_code
        if status == 490:
            raise CameraLockedOut(
                "the %s refuses logins for now (HTTP 490: too many failed logins). Nothing was retried, "
                "because every attempt during the lockout lengthens it: fix the password, wait for the "
                "lockout to expire (minutes) and run again" % self.where(), code=490)
        if status == 401:
            offered = self.auth.offered
            if offered is not None and not any(a in self.auth.preference for a in offered):
                raise CameraAuthError(
                    "the %s offers digest algorithm(s) %s but digest_algorithm=%s: use one the camera offers"
                    % (self.where(), ", ".join(offered) or "none", self.digest_algorithm), code=401)
            raise CameraAuthError(
                "the %s rejected user %r (HTTP 401 after digest authentication): wrong user name or password. "
                "Stopped after one attempt; repeated failures lock the account (HTTP 490)"
                % (self.where(), self.username), code=401)
        return r


class SunapiDriver(DigestHttpDriver):
    name = "sunapi"

    def __init__(self, host, port=80, username="admin", password="", channel=0, timeout=10.0,
                 use_https=False, validate_certs=True, digest_algorithm="auto", accept_json=True,
                 session=None):
        DigestHttpDriver.__init__(self, host, port=port, username=username, password=password, timeout=timeout,
                                  use_https=use_https, validate_certs=validate_certs,
                                  digest_algorithm=digest_algorithm, session=session)
        self.channel = channel
        self.accept_json = accept_json

    # ---- transport -----------------------------------------------------------------------------
    def call(self, cgi, submenu, action, params=None, channel=True):
        """One SUNAPI request -> parsed dict. Every failure becomes a CameraError subclass."""
        query = [("msubmenu", submenu), ("action", action)]
        if channel and self.channel is not None:
            query.append(("Channel", str(self.channel)))
        for key, value in (params or []):
            query.append((key, value))
        path = "/stw-cgi/%s.cgi?%s" % (cgi, "&".join(
            "%s=%s" % (k, requests.utils.quote(str(v), safe=",")) for k, v in query))
        what = "%s.cgi %s/%s" % (cgi, submenu, action)
        headers = {"Accept": "application/json"} if self.accept_json else {}
        r = self.send("GET", path, what, headers=headers)
        status = r.status_code
        body = r.text
        try:
            data = parse_reply(body, r.headers.get("Content-Type", ""))
        except CameraDeviceError as exc:
            raise self._device_error(exc, what)
        if status == 404:
            raise CameraDeviceError("the %s has no %s.cgi (HTTP 404)" % (self.where(), cgi), code=404)
        if status >= 400:
            raise CameraDeviceError("the %s answered %s with HTTP %d: %s" % (self.where(), what, status, body[:200]),
                                    code=status)
        return data

    def _device_error(self, exc, what):
        code, details = exc.code, exc.details or ""
        if code == CODE_NOT_AUTHORIZED:
            return CameraNotAuthorized(
                "the %s refused %s: error 609 %s. Account %r lacks this permission: use the admin account or "
                "grant the user PTZ control on the camera" % (self.where(), what, details or "Not Authorized",
                                                              self.username), code=code, details=details)
        message = "the %s refused %s: error %s %s" % (self.where(), what, code, details)
        return CameraDeviceError(message.rstrip(), code=code, details=details)

    # ---- driver API ----------------------------------------------------------------------------
    def get_info(self):
        data = self.call("system", "deviceinfo", "view", channel=False)
        flat = dict((last_component(k), v) for k, v in data.items())
        return {
            "model": flat.get("Model"), "serial": flat.get("SerialNumber"),
            "firmware": flat.get("FirmwareVersion"), "cgi_version": flat.get("CGIVersion"),
            "mac": flat.get("ConnectedMACAddress"), "device_name": flat.get("DeviceName"),
            "location": flat.get("DeviceLocation"), "raw": data,
        }

    def _ptz_call(self, cgi, submenu, action, params=None):
        try:
            return self.call(cgi, submenu, action, params)
        except CameraDeviceError as exc:
            if exc.code in (CODE_SUBMENU_NOT_FOUND, 404):
                raise CameraNoPTZ("the %s does not support PTZ (%s.cgi %s/%s: %s): it is probably a fixed-lens "
                                  "model" % (self.where(), cgi, submenu, action, exc), code=exc.code)
            raise

    def get_position(self):
        data = self._ptz_call("ptzcontrol", "query", "view", [("Query", "Pan,Tilt,Zoom")])
        if isinstance(data.get("Query"), list):
            rows = [r for r in data["Query"] if isinstance(r, dict)]
            row = rows[0] if rows else {}
            for r in rows:
                if str(r.get("Channel", self.channel)) == str(self.channel):
                    row = r
                    break
        else:
            row = dict((last_component(k), v) for k, v in data.items())
        missing = [k for k in ("Pan", "Tilt", "Zoom") if k not in row]
        if missing:
            raise CameraError("the %s position reply lacks %s: %r" % (self.where(), ", ".join(missing), data))
        return {"pan": _float(row["Pan"], "Pan"), "tilt": _float(row["Tilt"], "Tilt"),
                "zoom": _float(row["Zoom"], "Zoom")}

    def move_absolute(self, pan=None, tilt=None, zoom=None):
        params = []
        for key, value in (("Pan", pan), ("Tilt", tilt), ("Zoom", zoom)):
            if value is not None:
                params.append((key, "%.2f" % value))
        self._ptz_call("ptzcontrol", "absolute", "control", params)

    def goto_preset(self, number):
        self._ptz_call("ptzcontrol", "preset", "control", [("Preset", int(number))])

    def stop(self):
        self._ptz_call("ptzcontrol", "stop", "control", [("OperationType", "All")])

    def list_presets(self):
        try:
            data = self._ptz_call("ptzconfig", "preset", "view")
        except CameraDeviceError as exc:
            details = (exc.details or "").lower()
            if exc.code == 612 or (exc.code in EMPTY_LIST_CODES and "not found" in details) \
                    or "configuration not found" in details:
                return {}
            raise
        presets = {}
        if isinstance(data.get("PTZPresets"), list):
            for ch in data["PTZPresets"]:
                if str(ch.get("Channel", self.channel)) != str(self.channel):
                    continue
                for p in ch.get("Presets") or []:
                    presets[int(p["Preset"])] = str(p.get("Name", ""))
            return presets
        for key, value in data.items():
            m = re.match(r"^(?:Channel\.(\d+)\.)?Preset\.(\d+)\.Name$", key)
            if m and (m.group(1) is None or int(m.group(1)) == self.channel):
                presets[int(m.group(2))] = value
        return presets

    def add_preset(self, number, name):
        self._ptz_call("ptzconfig", "preset", "add", [("Preset", int(number)), ("Name", name)])

    def rename_preset(self, number, name):
        self._ptz_call("ptzconfig", "preset", "update", [("Preset", int(number)), ("Name", name)])

    def remove_preset(self, number):
        self._ptz_call("ptzconfig", "preset", "remove", [("Preset", int(number))])


def _short(exc):
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\][^')\]]*", text)
    if m:
        return m.group(0).strip()
    return text[:200]
