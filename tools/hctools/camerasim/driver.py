"""Simulated camera models, knobs, SUNAPI errors and the persistent state core.

Mirrors ``plugins/module_utils/_camera/driver.py`` (model table, errors). Every behaviour the real
cameras have not confirmed is a knob: a command-line flag or a key of ``config.json`` in the state
directory, re-read when the file changes (docs/cameras.md lists them).
"""

import json
import os
import secrets
import sys
import threading
import time

MODELS = {
    # Ranges from the Sage student README for the XNP-6400RW.
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
    # Newer firmware offers two challenges, SHA-256 first (the order is unconfirmed on fleet firmware).
    "digest_algorithms": ("SHA-256,MD5", str),
    "speed": (60.0, float),
    "zoom_speed": (10.0, float),
    "lockout_after": (5, int),
    "lockout_seconds": (30.0, float),
    "lockout_extend": (True, bool),
    "reply_format": ("auto", str),          # auto (JSON when Accept asks for it) | text | json
    "text_success_body": ("OK", str),      # unconfirmed: body of a text-mode control success
    "query_key_prefix": ("", str),          # unconfirmed: e.g. "Channel.0."
    "empty_presets_code": (612, int),       # unconfirmed: 602 or 612
    "no_ptz_code": (600, int),              # what a fixed-lens camera answers on ptzcontrol.cgi
    "add_existing": ("overwrite", str),     # overwrite | error: preset add on a used number
    "never_settle": (False, bool),          # fault: the camera keeps hunting around its target
    "pan_offset": (0.0, float),             # read-back error added to pan (e.g. -0.05 reads 359.95)
    "tilt_offset": (0.0, float),
    "pan_zero_reads_360": (False, bool),    # a pan of 0 reads back as 360.00
    "nonce_lifetime": (300.0, float),
    "zoom_pulse_per_x": (100.0, float),     # unconfirmed: ZoomPulse = (Zoom - 1) * this
    # Capabilities and factory-init status, readable without authentication (unconfirmed for
    # attributes.cgi: set attributes_need_auth to demand digest there too).
    "attributes_need_auth": (False, bool),
    "initialized": (True, bool),            # false: factory state, every CGI answers 403
    # Snapshots (video.cgi snapshot): JPEG size and a fault that answers an error instead.
    "snapshot_size": ("640x360", str),
    "snapshot_quality": (80, int),
    "snapshot_error": ("", str),            # "" | ng (NG text, HTTP 200) | json | http500
    # Firmware update (system.cgi firmwareupdate) and reboots.
    "reboot_seconds": (2.0, float),         # how long the camera is gone after End or a restore
    "firmware_step_seconds": (0.05, float),  # pause between streamed status lines
    "firmware_fault": ("", str),            # "" | upload_drop | flash_fail | never_return | old_version | reset_config
    "skip_reboots": (False, bool),          # unconfirmed: whether an all-Skip update still reboots
}

ERRORS = {
    600: "Submenu Not Found",
    601: "Action Not Supported",
    602: "Invalid Parameter Value",
    604: "Invalid File",
    607: "Invalid Content Type",
    609: "Not Authorized",
    612: "Configuration Not Found",
}


class SunapiError(Exception):
    def __init__(self, code, details=None):
        Exception.__init__(self, code)
        self.code = code
        self.details = details or ERRORS.get(code, "Error")


class SimCore:
    """Camera state shared by the SUNAPI, VAPIX, PTZ, firmware and auth parts; persisted atomically."""

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
        self.down_until = None    # rebooting: clock time it answers again (float('inf'): never)
        self.pending = None       # state applied when the reboot finishes
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
        self.firmware = self.overrides.pop("firmware", None) or state.get("firmware") or MODELS[model]["firmware"]
        pos = state.get("position") or {"pan": 0.0, "tilt": 0.0, "zoom": 1.0}
        self.move = {"from": pos, "to": pos, "t0": self.clock()}
        self.presets = {int(k): v for k, v in (state.get("presets") or {}).items()}
        self.device_location = state.get("device_location", "")
        self.network = state.get("network") or {"IPv4Address": "10.31.81.10", "HostName": model}
        self.history = state.get("history") or []
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

    @property
    def api(self):
        return self.spec.get("api", "sunapi")

    # ---- persistence ---------------------------------------------------------------------------
    def snapshot_state(self):
        return {
            "model": self.model, "mac": self.mac, "serial": self.serial, "users": self.users,
            "firmware": self.firmware, "position": self.move["to"], "device_location": self.device_location,
            "presets": {str(k): v for k, v in sorted(self.presets.items())}, "network": self.network,
            "history": self.history[-50:],
        }

    def save(self):
        with self.lock:
            data = self.snapshot_state()
            tmp = self.state_path + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_path)

    def log_event(self, event, **details):
        """Appends to the persisted history (firmware updates, restores, reboots) for tests to read."""
        entry = {"event": event}
        entry.update(details)
        self.history.append(entry)

    # ---- reboots -------------------------------------------------------------------------------
    def reboot(self, seconds=None, apply=None, forever=False):
        """The camera goes away: connections are dropped until it is back; apply() runs then."""
        with self.lock:
            seconds = self.config["reboot_seconds"] if seconds is None else seconds
            self.down_until = float("inf") if forever else self.clock() + seconds
            self.pending = apply
            self.log_event("reboot", forever=forever)
            self.save()

    def is_down(self):
        with self.lock:
            if self.down_until is None:
                return False
            if self.clock() < self.down_until:
                return True
            self.down_until = None
            apply, self.pending = self.pending, None
            if apply is not None:
                apply()
            pos = self.move["to"]
            self.move = {"from": pos, "to": pos, "t0": self.clock()}
            self.nonces.clear()
            self.log_event("up", firmware=self.firmware)
            self.save()
            return False
