"""Hanwha SUNAPI camera simulator.

Faithful to the facts in docs/devices/camera.md; every behaviour that page marks as
unconfirmed is a knob (command line or ``config.json`` in the state directory, re-read when it
changes), documented in docs/cameras.md:

* HTTP digest (qop=auth only; RFC 2069 and Basic are refused) with MD5, SHA-256 or both challenges,
  realm ``iPolis_<MAC>``; a 401 for every unauthenticated request, HTTP 490 lockout after
  ``lockout_after`` consecutive failed logins from one client address, for ``lockout_seconds``
  (requests during the lockout restart it when ``lockout_extend`` is set).
* ``system.cgi`` deviceinfo, ``ptzcontrol.cgi`` query/absolute/relative/preset/stop/home,
  ``ptzconfig.cgi`` preset view/add/update/remove, in JSON (``Accept: application/json``) or
  CRLF ``key=value`` text; errors as ``NG`` text or ``{"Response": "Fail"}`` JSON.
* Gradual motion at ``speed`` degrees/s (zoom at ``zoom_speed`` x/s), pan wrap 360 = 0, presets
  that store the current position, per-user PTZ permission (609), model ranges, fixed-lens models
  that refuse PTZ.
"""

import argparse
import hashlib
import json
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MODELS = {
    # Ranges from the Sage student README (reference section 1.6).
    "XNP-6400RW": {"ptz": True, "pan": (0.0, 360.0), "tilt": (-20.0, 90.0), "zoom": (1.0, 40.0),
                   "max_presets": 300, "firmware": "2.21.01_20220517_R276"},
    # Fixed-lens models seen on Sage nodes: no pan/tilt, ptzcontrol refused.
    "XNV-8081Z": {"ptz": False, "firmware": "2.10.02_20220308_R251"},
    "XNV-8082R": {"ptz": False, "firmware": "2.21.01_20220517_R276"},
    "XNV-8080R": {"ptz": False, "firmware": "2.10.02_20220308_R251"},
    "XNF-8010RV": {"ptz": False, "firmware": "1.41.01_20200318_R342"},
    # AXIS models for the VAPIX driver: pan -180..180, raw zoom 1..9999 (moves 250x faster than a
    # Hanwha zoom factor), ranges reported by ptz.cgi?query=limits.
    "Q6135-LE": {"api": "vapix", "ptz": True, "pan": (-180.0, 180.0), "tilt": (-90.0, 20.0),
                 "zoom": (1.0, 9999.0), "zoom_scale": 250.0, "max_presets": 100, "firmware": "10.12.114"},
    "M3106-L": {"api": "vapix", "ptz": False, "firmware": "10.12.114"},
}

DEFAULT_USERS = {
    "admin": {"password": "honeycomb-sim-admin", "ptz": True},
    "waggle": {"password": "honeycomb-sim-user", "ptz": False},
}

# Knobs: name -> (default, type). Command-line flags of the same name (dashes) override them.
KNOBS = {
    "digest_algorithms": ("MD5,SHA-256", str),
    "speed": (60.0, float),
    "zoom_speed": (10.0, float),
    "lockout_after": (5, int),
    "lockout_seconds": (30.0, float),
    "lockout_extend": (True, bool),
    "reply_format": ("auto", str),          # auto (JSON when Accept asks for it) | text | json
    "text_success_body": ("OK", str),      # open question 2
    "query_key_prefix": ("", str),          # open question 1, e.g. "Channel.0."
    "empty_presets_code": (612, int),       # open question 3 (602 or 612)
    "no_ptz_code": (600, int),              # what a fixed-lens camera answers on ptzcontrol.cgi
    "add_existing": ("overwrite", str),     # overwrite | error: preset add on a used number
    "never_settle": (False, bool),          # fault: the camera keeps hunting around its target
    "pan_offset": (0.0, float),             # read-back error added to pan (e.g. -0.05 reads 359.95)
    "tilt_offset": (0.0, float),
    "pan_zero_reads_360": (False, bool),    # a pan of 0 reads back as 360.00
    "nonce_lifetime": (300.0, float),
}

ERRORS = {
    600: "Submenu Not Found",
    601: "Action Not Supported",
    602: "Invalid Parameter Value",
    609: "Not Authorized",
    612: "Configuration Not Found",
}

NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,12}$")


def _norm_pan(p):
    p = math.fmod(p, 360.0)
    return p + 360.0 if p < 0 else p


def _shortest(frm, to):
    d = math.fmod(to - frm, 360.0)
    if d > 180.0:
        d -= 360.0
    elif d < -180.0:
        d += 360.0
    return d


class SunapiError(Exception):
    def __init__(self, code, details=None):
        Exception.__init__(self, code)
        self.code = code
        self.details = details or ERRORS.get(code, "Error")


class CameraSim:
    """Camera state: model, users, position and motion, presets, login failures."""

    def __init__(self, state_dir, overrides=None, clock=time.monotonic):
        self.state_dir = state_dir
        self.clock = clock
        self.lock = threading.RLock()
        self.overrides = dict(overrides or {})
        self._config_mtime = None
        self.config = {}
        self.nonces = {}          # nonce -> issue time
        self.failures = {}        # client address -> consecutive failed logins
        self.locked_until = {}    # client address -> clock time
        os.makedirs(state_dir, exist_ok=True)
        self.state_path = os.path.join(state_dir, "state.json")
        state = {}
        if os.path.exists(self.state_path):
            with open(self.state_path) as fh:
                state = json.load(fh)
        model = self.overrides.pop("model", None) or state.get("model") or "XNP-6400RW"
        if model not in MODELS:
            raise SystemExit("camerasim: unknown model %r; known models: %s" % (model, ", ".join(sorted(MODELS))))
        self.model = model
        mac = state.get("mac") or "00:09:18:%02X:%02X:%02X" % tuple(secrets.token_bytes(3))
        self.mac = mac
        self.serial = state.get("serial") or "ZN7C70%06dX" % (int(mac.replace(":", "")[-6:], 16) % 1000000)
        users = self.overrides.pop("users", None) or state.get("users") or DEFAULT_USERS
        self.users = {k: dict(v) for k, v in users.items()}
        pos = state.get("position") or {"pan": 0.0, "tilt": 0.0, "zoom": 1.0}
        self.move = {"from": pos, "to": pos, "t0": self.clock()}
        self.presets = {int(k): v for k, v in (state.get("presets") or {}).items()}
        self.device_location = state.get("device_location", "")
        self.reload_config()
        self.save()

    # ---- configuration -------------------------------------------------------------------------
    def reload_config(self):
        path = os.path.join(self.state_dir, "config.json")
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            mtime = None
        if mtime == self._config_mtime and self.config:
            return
        self._config_mtime = mtime
        cfg = {k: v[0] for k, v in KNOBS.items()}
        if mtime is not None:
            try:
                with open(path) as fh:
                    data = json.load(fh)
                for k, v in data.items():
                    if k in KNOBS:
                        cfg[k] = KNOBS[k][1](v)
            except (OSError, ValueError) as exc:
                sys.stderr.write("camerasim: ignoring unreadable %s: %s\n" % (path, exc))
        cfg.update({k: v for k, v in self.overrides.items() if k in KNOBS and v is not None})
        algs = [a.strip().upper().replace("SHA256", "SHA-256") for a in str(cfg["digest_algorithms"]).split(",")
                if a.strip()]
        for a in algs:
            if a not in ("MD5", "SHA-256"):
                raise SystemExit("camerasim: digest algorithm %r not supported (MD5, SHA-256)" % a)
        cfg["digest_algorithms"] = algs or ["MD5"]
        self.config = cfg

    @property
    def spec(self):
        return MODELS[self.model]

    # ---- persistence ---------------------------------------------------------------------------
    def save(self):
        with self.lock:
            data = {
                "model": self.model, "mac": self.mac, "serial": self.serial, "users": self.users,
                "position": self.move["to"], "device_location": self.device_location,
                "presets": {str(k): v for k, v in sorted(self.presets.items())},
            }
            tmp = self.state_path + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_path)

    # ---- motion --------------------------------------------------------------------------------
    def true_position(self, now=None):
        now = self.clock() if now is None else now
        m = self.move
        dt = max(0.0, now - m["t0"])
        speed = self.config["speed"]
        zspeed = self.config["zoom_speed"] * self.spec.get("zoom_scale", 1.0)
        frm, to = m["from"], m["to"]
        dpan = _shortest(frm["pan"], to["pan"])
        pan = _norm_pan(frm["pan"] + math.copysign(min(abs(dpan), speed * dt), dpan))
        dtilt = to["tilt"] - frm["tilt"]
        tilt = frm["tilt"] + math.copysign(min(abs(dtilt), speed * dt), dtilt)
        dzoom = to["zoom"] - frm["zoom"]
        zoom = frm["zoom"] + math.copysign(min(abs(dzoom), zspeed * dt), dzoom)
        if self.config["never_settle"]:
            # Hunting: always moving, always 1 to 3 degrees off the target.
            pan = _norm_pan(pan + 2.0 + math.sin(now * 3.1))
        return {"pan": pan, "tilt": tilt, "zoom": zoom}

    def read_position(self):
        p = self.true_position()
        pan = _norm_pan(p["pan"] + self.config["pan_offset"])
        if self.config["pan_zero_reads_360"] and (pan < 0.005 or pan > 359.995):
            pan = 360.0
        tilt = p["tilt"] + self.config["tilt_offset"]
        return {"pan": round(pan, 2), "tilt": round(tilt, 2), "zoom": round(p["zoom"], 2)}

    def start_move(self, target):
        now = self.clock()
        cur = self.true_position(now)
        if self.config["never_settle"]:
            cur = dict(self.move["to"])  # the hunting is around the target, not a real offset
        self.move = {"from": cur, "to": target, "t0": now}
        self.save()

    def _range(self, axis, value):
        lo, hi = self.spec[axis]
        if axis == "pan":
            if value < lo or value > hi:
                raise SunapiError(602, "Invalid Parameter Value: Pan %s outside %s..%s" % (value, lo, hi))
            return _norm_pan(value)
        if value < lo or value > hi:
            raise SunapiError(602, "Invalid Parameter Value: %s %s outside %s..%s" % (axis.capitalize(), value, lo, hi))
        return value

    # ---- auth ----------------------------------------------------------------------------------
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
    def api(self):
        return self.spec.get("api", "sunapi")

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

    # ---- SUNAPI --------------------------------------------------------------------------------
    def dispatch(self, cgi, params, user):
        """Returns ("data", dict) or ("ok", None) or raises SunapiError."""
        submenu = params.get("msubmenu", "")
        action = params.get("action", "")
        channel = params.get("Channel", "0")
        if channel != "0":
            raise SunapiError(602, "Invalid Parameter Value: Channel %s" % channel)
        if cgi == "system":
            if submenu == "deviceinfo" and action == "view":
                return "data", self.deviceinfo()
            raise SunapiError(600 if submenu != "deviceinfo" else 601)
        if cgi in ("ptzcontrol", "ptzconfig"):
            if not self.spec["ptz"]:
                raise SunapiError(self.config["no_ptz_code"])
            if not self.users[user].get("ptz"):
                raise SunapiError(609)
            with self.lock:
                return getattr(self, "_" + cgi)(submenu, action, params)
        raise SunapiError(600)

    # ---- VAPIX (AXIS) ----------------------------------------------------------------------------
    def vapix(self, path, params, user, body):
        """Returns (status, text body, content type)."""
        if path == "/axis-cgi/basicdeviceinfo.cgi":
            try:
                req = json.loads(body or b"{}")
            except ValueError:
                req = {}
            if req.get("method") != "getAllProperties":
                return 200, json.dumps({"apiVersion": "1.0", "error": {"code": 2002, "message": "Method not supported"}}), \
                    "application/json"
            props = {"Brand": "AXIS", "ProdNbr": self.model, "ProdFullName": "AXIS %s PTZ Camera" % self.model,
                     "ProdType": "PTZ Dome Network Camera", "SerialNumber": self.mac.replace(":", ""),
                     "Version": self.spec["firmware"], "Architecture": "armv7hf"}
            return 200, json.dumps({"apiVersion": "1.0", "data": {"propertyList": props}}), "application/json"
        if path not in ("/axis-cgi/com/ptz.cgi", "/axis-cgi/com/ptzconfig.cgi") or not self.spec["ptz"]:
            return 404, "Not Found\r\n", "text/plain"
        if not self.users[user].get("ptz"):
            return 403, "Forbidden\r\n", "text/plain"
        with self.lock:
            try:
                return self._vapix_ptz(path.endswith("ptzconfig.cgi"), params)
            except SunapiError as exc:
                return 200, "Error: %s\r\n" % exc.details, "text/plain"

    def _vapix_pos(self):
        p = self.read_position()
        pan = p["pan"] - 360.0 if p["pan"] > 180.0 else p["pan"]
        return {"pan": round(pan, 4), "tilt": p["tilt"], "zoom": int(round(p["zoom"]))}

    def _vapix_ptz(self, config, params):
        text = "text/plain"
        if not config:
            query = params.get("query")
            if query == "position":
                pos = self._vapix_pos()
                return 200, "pan=%s\ntilt=%s\nzoom=%s\niris=6427\nfocus=8265\nbrightness=4999\nautofocus=on\n" \
                    "autoiris=on\n" % (pos["pan"], pos["tilt"], pos["zoom"]), text
            if query == "limits":
                s = self.spec
                return 200, ("MinPan=%g\nMaxPan=%g\nMinTilt=%g\nMaxTilt=%g\nMinZoom=%g\nMaxZoom=%g\n"
                             % (s["pan"] + s["tilt"] + s["zoom"])), text
            if query == "presetposall":
                lines = ["Preset Positions for camera 1"]
                lines += ["presetposno%d=%s" % (n, p["name"]) for n, p in sorted(self.presets.items())]
                return 200, "\n".join(lines) + "\n", text
            if query:
                raise SunapiError(602, "query=%s not supported" % query)
            if "gotoserverpresetno" in params:
                n = self._preset_number(params["gotoserverpresetno"])
                if n not in self.presets:
                    raise SunapiError(602, "preset %d not found" % n)
                stored = self.presets[n]
                self.start_move({"pan": stored["pan"], "tilt": stored["tilt"], "zoom": stored["zoom"]})
                return 204, "", text
            if params.get("move") == "stop":
                pos = self.true_position()
                self.move = {"from": pos, "to": pos, "t0": self.clock()}
                return 204, "", text
            target = dict(self.true_position())
            given = False
            for key in ("pan", "tilt", "zoom"):
                if key in params:
                    try:
                        value = float(params[key])
                    except ValueError:
                        raise SunapiError(602, "%s=%s is not a number" % (key, params[key]))
                    target[key] = self._range(key, value)
                    given = True
            if not given:
                raise SunapiError(602, "no supported parameter in %s" % ",".join(sorted(params)))
            self.start_move(target)
            return 204, "", text
        if "setserverpresetno" in params:
            n = self._preset_number(params["setserverpresetno"])
            pos = self.true_position()
            self.presets[n] = {"name": self.presets.get(n, {}).get("name", "Preset%d" % n),
                               "pan": round(pos["pan"], 2), "tilt": round(pos["tilt"], 2), "zoom": round(pos["zoom"], 2)}
        elif "renameserverpresetno" in params:
            n = self._preset_number(params["renameserverpresetno"])
            name = params.get("newname", "")
            if n not in self.presets:
                raise SunapiError(602, "preset %d not found" % n)
            if not name or len(name) > 31 or any(c in name for c in '"<>~:'):
                raise SunapiError(602, "invalid preset name")
            self.presets[n]["name"] = name
        elif "removeserverpresetno" in params:
            self.presets.pop(self._preset_number(params["removeserverpresetno"]), None)
        elif params.get("removeallserverpresets") == "yes":
            self.presets.clear()
        else:
            raise SunapiError(602, "no supported parameter")
        self.save()
        return 204, "", text

    def deviceinfo(self):
        return {
            "Model": self.model, "SerialNumber": self.serial,
            "FirmwareVersion": self.spec["firmware"], "BuildDate": self.spec["firmware"].split("_")[1],
            "WebURL": "http://www.hanwha-security.com", "DeviceType": "NWC",
            "ConnectedMACAddress": self.mac, "ISPVersion": "1.00", "BootloaderVersion": "1.00",
            "CGIVersion": "2.6.1", "ONVIFVersion": "20.12", "DeviceName": self.model,
            "DeviceLocation": self.device_location, "DeviceDescription": "",
            "Memo": "", "Language": "English",
        }

    def _ptzcontrol(self, submenu, action, params):
        if submenu not in ("query", "absolute", "relative", "preset", "stop", "home"):
            raise SunapiError(600)
        if submenu == "query" and action == "view":
            pos = self.read_position()
            pulse = int(round((pos["zoom"] - 1.0) * 100))
            return "query", {"Pan": pos["pan"], "Tilt": pos["tilt"], "Zoom": pos["zoom"], "ZoomPulse": pulse}
        if action != "control":
            raise SunapiError(601)
        if submenu in ("absolute", "relative"):
            cur = dict(self.move["to"]) if submenu == "relative" else self.true_position()
            target = dict(cur)
            for key in ("Pan", "Tilt", "Zoom"):
                if key in params:
                    try:
                        value = float(params[key])
                    except ValueError:
                        raise SunapiError(602, "Invalid Parameter Value: %s=%s" % (key, params[key]))
                    if submenu == "relative":
                        value += cur[key.lower()]
                        if key == "Pan":
                            value = _norm_pan(value)
                    target[key.lower()] = self._range(key.lower(), value)
            if submenu == "absolute" and not any(k in params for k in ("Pan", "Tilt", "Zoom")):
                raise SunapiError(602, "Invalid Parameter Value: Pan, Tilt or Zoom required")
            self.start_move(target)
            return "ok", None
        if submenu == "preset":
            n = self._preset_number(params.get("Preset"))
            if n not in self.presets:
                raise SunapiError(602, "Invalid Parameter Value: Preset %d not configured" % n)
            stored = self.presets[n]
            self.start_move({"pan": stored["pan"], "tilt": stored["tilt"], "zoom": stored["zoom"]})
            return "ok", None
        if submenu == "stop":
            pos = self.true_position()
            self.move = {"from": pos, "to": pos, "t0": self.clock()}
            self.save()
            return "ok", None
        if submenu == "home":
            self.start_move({"pan": 0.0, "tilt": 0.0, "zoom": 1.0})
            return "ok", None
        raise SunapiError(600)

    def _preset_number(self, raw):
        try:
            n = int(raw)
        except (TypeError, ValueError):
            raise SunapiError(602, "Invalid Parameter Value: Preset=%s" % raw)
        if not 1 <= n <= self.spec["max_presets"]:
            raise SunapiError(602, "Invalid Parameter Value: Preset %d outside 1..%d" % (n, self.spec["max_presets"]))
        return n

    def _ptzconfig(self, submenu, action, params):
        if submenu != "preset":
            raise SunapiError(600)
        if action == "view":
            if not self.presets:
                raise SunapiError(self.config["empty_presets_code"], "Configuration Not Found")
            return "presets", [{"Preset": n, "Name": p["name"]} for n, p in sorted(self.presets.items())]
        if action in ("add", "update"):
            n = self._preset_number(params.get("Preset"))
            name = params.get("Name", "")
            if not NAME_RE.match(name):
                raise SunapiError(602, "Invalid Parameter Value: Name must be 1 to 12 letters, digits, '-' or '_'")
            if action == "update":
                if n not in self.presets:
                    raise SunapiError(602, "Invalid Parameter Value: Preset %d not configured" % n)
                self.presets[n]["name"] = name
            else:
                if n in self.presets and self.config["add_existing"] == "error":
                    raise SunapiError(602, "Invalid Parameter Value: Preset %d already exists" % n)
                pos = self.true_position()
                self.presets[n] = {"name": name, "pan": round(pos["pan"], 2), "tilt": round(pos["tilt"], 2),
                                   "zoom": round(pos["zoom"], 2)}
            self.save()
            return "ok", None
        if action == "remove":
            raw = params.get("Preset", "")
            if raw == "All":
                self.presets.clear()
            else:
                numbers = [self._preset_number(x) for x in raw.split(",")]
                for n in numbers:
                    self.presets.pop(n, None)
            self.save()
            return "ok", None
        raise SunapiError(601)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment (flushed after each request): no Nagle/delayed-ACK stalls.
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "camerasim"
    sys_version = ""
    timeout = 60

    def log_message(self, fmt, *args):
        if self.server.verbose:
            BaseHTTPRequestHandler.log_message(self, fmt, *args)

    def _send(self, status, body, ctype="text/plain", headers=()):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _wants_json(self):
        fmt = self.server.sim.config["reply_format"]
        if fmt == "json":
            return True
        if fmt == "text":
            return False
        return "application/json" in (self.headers.get("Accept") or "")

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        self.do_GET()

    def do_GET(self):
        sim = self.server.sim
        sim.reload_config()
        client = self.client_address[0]
        if sim.is_locked(client):
            self._send(490, "Exceeded maximum login attempts, please try after some time\r\n")
            return
        user, stale = sim.check_auth(self.headers.get("Authorization"), self.command, self.path, client)
        if user is None:
            body = ("<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>401 "
                    "Unauthorized</title>\n</head><body>\n<h1>Unauthorized</h1>\n<p>This server could not "
                    "verify that you\nare authorized to access the document\nrequested.</p>\n</body></html>\n")
            if sim.is_locked(client):   # this very attempt triggered the lockout
                self._send(490, "Exceeded maximum login attempts, please try after some time\r\n")
                return
            self._send(401, body, "text/html", [("WWW-Authenticate", c) for c in sim.challenges(stale)])
            return
        parts = urlsplit(self.path)
        if sim.api == "vapix":
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            status, body, ctype = sim.vapix(parts.path, params, user, self.__dict__.pop("_body", b""))
            self._send(status, body, ctype)
            return
        m = re.match(r"^/stw-cgi/(\w+)\.cgi$", parts.path)
        if not m:
            self._send(404, "Not Found\r\n")
            return
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        want_json = self._wants_json()
        try:
            kind, data = sim.dispatch(m.group(1), params, user)
        except SunapiError as exc:
            if want_json:
                self._send(200, json.dumps({"Response": "Fail", "Error": {"Code": exc.code, "Details": exc.details}}),
                           "application/json")
            else:
                self._send(200, "NG\r\nError Code: %d\r\nError Details:\r\n%s\r\n" % (exc.code, exc.details))
            return
        self._send(200, *self._render(kind, data, want_json))

    def _render(self, kind, data, want_json):
        sim = self.server.sim
        if kind == "ok":
            if want_json:
                return json.dumps({"Response": "Success"}), "application/json"
            return sim.config["text_success_body"], "text/plain"
        if kind == "query":
            if want_json:
                row = {"Channel": 0}
                row.update(data)
                return json.dumps({"Query": [row]}), "application/json"
            pre = sim.config["query_key_prefix"]
            return "".join("%s%s=%s\r\n" % (pre, k, v) for k, v in data.items()), "text/plain"
        if kind == "presets":
            if want_json:
                return json.dumps({"PTZPresets": [{"Channel": 0, "Presets": data}]}), "application/json"
            return "".join("Channel.0.Preset.%d.Name=%s\r\n" % (p["Preset"], p["Name"]) for p in data), "text/plain"
        if want_json:
            return json.dumps(data), "application/json"
        return "".join("%s=%s\r\n" % (k, v) for k, v in data.items()), "text/plain"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 16


def _user_arg(text):
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD[:ptz|noptz], got %r" % text)
    return parts[0], {"password": parts[1], "ptz": (parts[2] if len(parts) == 3 else "ptz") == "ptz"}


def build_parser():
    p = argparse.ArgumentParser(prog="python -m hctools.camerasim", description="Hanwha SUNAPI camera simulator")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=80, help="TCP port (default 80; 0 picks a free one)")
    p.add_argument("--state-dir", required=True, help="directory for persistent state and config.json")
    p.add_argument("--model", choices=sorted(MODELS), help="camera model (default: the stored one or XNP-6400RW)")
    p.add_argument("--user", action="append", type=_user_arg, metavar="NAME:PASSWORD[:ptz|noptz]",
                   help="replace the accounts (default admin/honeycomb-sim-admin with PTZ, "
                        "waggle/honeycomb-sim-user without)")
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    for name, (default, typ) in KNOBS.items():
        flag = "--" + name.replace("_", "-")
        if typ is bool:
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes", "on"), default=None,
                           metavar="BOOL", help="default %s" % default)
        else:
            p.add_argument(flag, type=typ, default=None, help="default %s" % default)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    overrides = {k: getattr(args, k) for k in KNOBS}
    overrides["model"] = args.model
    if args.user:
        overrides["users"] = dict(args.user)
    sim = CameraSim(args.state_dir, overrides)
    server = Server((args.bind, args.port), Handler)
    server.sim = sim
    server.verbose = args.verbose
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, args.port_file)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("camerasim: %s on %s:%d, digest %s, state %s\n"
                     % (sim.model, args.bind, port, ",".join(sim.config["digest_algorithms"]), args.state_dir))
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        with sim.lock:
            sim.move = {"from": sim.true_position(), "to": sim.true_position(), "t0": sim.clock()}
            sim.save()
    return 0
