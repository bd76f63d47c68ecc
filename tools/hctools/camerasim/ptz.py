"""Simulated PTZ motion and the SUNAPI ``ptzcontrol.cgi`` / ``ptzconfig.cgi`` submenus.

Mirrors ``plugins/module_utils/_camera/ptz.py``. Motion is gradual at ``speed`` degrees/s (zoom at
``zoom_speed`` x/s), the shortest way round; pan wraps at 360. Presets store the current position.
"""

import math
import re

from .driver import SunapiError

NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,12}$")

# Continuous / directional moves head for the end of the range in this direction.
DIRECTIONS = {
    "up": (0, 1), "down": (0, -1), "left": (-1, 0), "right": (1, 0), "upleft": (-1, 1),
    "upright": (1, 1), "downleft": (-1, -1), "downright": (1, -1),
}


def norm_pan(p):
    p = math.fmod(p, 360.0)
    return p + 360.0 if p < 0 else p


def shortest(frm, to):
    d = math.fmod(to - frm, 360.0)
    if d > 180.0:
        d -= 360.0
    elif d < -180.0:
        d += 360.0
    return d


class PtzMixin:
    """Needs SimCore (config, spec, move, presets, lock, save)."""

    # ---- motion --------------------------------------------------------------------------------
    def true_position(self, now=None):
        now = self.clock() if now is None else now
        m = self.move
        dt = max(0.0, now - m["t0"])
        speed = self.config["speed"]
        zspeed = self.config["zoom_speed"] * self.spec.get("zoom_scale", 1.0)
        frm, to = m["from"], m["to"]
        dpan = shortest(frm["pan"], to["pan"]) if not m.get("pan_dir") else m["pan_dir"] * 1e9
        pan = norm_pan(frm["pan"] + math.copysign(min(abs(dpan), speed * dt), dpan))
        dtilt = to["tilt"] - frm["tilt"]
        tilt = frm["tilt"] + math.copysign(min(abs(dtilt), speed * dt), dtilt)
        dzoom = to["zoom"] - frm["zoom"]
        zoom = frm["zoom"] + math.copysign(min(abs(dzoom), zspeed * dt), dzoom)
        if self.config["never_settle"]:
            # Hunting: always moving, always 1 to 3 degrees off the target.
            pan = norm_pan(pan + 2.0 + math.sin(now * 3.1))
        return {"pan": pan, "tilt": tilt, "zoom": zoom}

    def read_position(self):
        p = self.true_position()
        pan = norm_pan(p["pan"] + self.config["pan_offset"])
        if self.config["pan_zero_reads_360"] and (pan < 0.005 or pan > 359.995):
            pan = 360.0
        tilt = p["tilt"] + self.config["tilt_offset"]
        return {"pan": round(pan, 2), "tilt": round(tilt, 2), "zoom": round(p["zoom"], 2)}

    def start_move(self, target, pan_dir=None):
        now = self.clock()
        cur = self.true_position(now)
        if self.config["never_settle"]:
            cur = dict(self.move["to"])  # the hunting is around the target, not a real offset
        self.move = {"from": cur, "to": target, "t0": now}
        if pan_dir:
            self.move["pan_dir"] = pan_dir
        self.save()

    def stop_move(self):
        pos = self.true_position()
        self.move = {"from": pos, "to": pos, "t0": self.clock()}
        self.save()

    def _range(self, axis, value):
        lo, hi = self.spec[axis]
        if value < lo or value > hi:
            raise SunapiError(602, "Invalid Parameter Value: %s %s outside %s..%s" % (axis.capitalize(), value, lo, hi))
        return norm_pan(value) if axis == "pan" else value

    def zoom_pulse(self, zoom):
        return int(round((zoom - 1.0) * self.config["zoom_pulse_per_x"]))

    # ---- ptzcontrol.cgi ------------------------------------------------------------------------
    def _ptzcontrol(self, submenu, action, params):
        known = ("query", "absolute", "relative", "preset", "stop", "home", "continuous", "move", "areazoom",
                 "aux", "swing", "group", "tour", "trace")
        if submenu not in known:
            raise SunapiError(600)
        if submenu == "query" and action == "view":
            pos = self.read_position()
            return "query", {"Pan": pos["pan"], "Tilt": pos["tilt"], "Zoom": pos["zoom"],
                             "ZoomPulse": self.zoom_pulse(pos["zoom"])}
        if action != "control":
            raise SunapiError(601)
        return getattr(self, "_ptz_" + submenu)(params)

    def _number(self, params, key):
        try:
            return float(params[key])
        except ValueError:
            raise SunapiError(602, "Invalid Parameter Value: %s=%s" % (key, params[key]))

    def _ptz_absolute(self, params, relative=False):
        cur = dict(self.move["to"]) if relative else self.true_position()
        target = dict(cur)
        if not any(k in params for k in ("Pan", "Tilt", "Zoom", "ZoomPulse")):
            raise SunapiError(602, "Invalid Parameter Value: Pan, Tilt, Zoom or ZoomPulse required")
        if "Zoom" in params and "ZoomPulse" in params:
            raise SunapiError(602, "Invalid Parameter Value: Zoom and ZoomPulse cannot be sent together")
        for key in ("Pan", "Tilt", "Zoom", "ZoomPulse"):
            if key not in params:
                continue
            value = self._number(params, key)
            axis = "zoom" if key == "ZoomPulse" else key.lower()
            if key == "ZoomPulse":
                value = 1.0 + value / self.config["zoom_pulse_per_x"] + (cur["zoom"] - 1.0 if relative else 0.0)
            elif relative:
                value += cur[axis]
                if axis == "pan":
                    value = norm_pan(value)
            target[axis] = self._range(axis, value)
        self.start_move(target)
        return "ok", None

    def _ptz_relative(self, params):
        return self._ptz_absolute(params, relative=True)

    def _ptz_preset(self, params):
        if "PresetName" in params and "Preset" in params:
            raise SunapiError(602, "Invalid Parameter Value: Preset and PresetName cannot be sent together")
        if "PresetName" in params:
            name = params["PresetName"]
            found = [n for n, p in sorted(self.presets.items()) if p["name"] == name]
            if not found:
                raise SunapiError(602, "Invalid Parameter Value: PresetName %s not configured" % name)
            n = found[0]
        else:
            n = self._preset_number(params.get("Preset"))
        if n not in self.presets:
            raise SunapiError(602, "Invalid Parameter Value: Preset %d not configured" % n)
        stored = self.presets[n]
        self.start_move({"pan": stored["pan"], "tilt": stored["tilt"], "zoom": stored["zoom"]})
        return "ok", None

    def _ptz_stop(self, params):
        self.stop_move()
        return "ok", None

    def _ptz_home(self, params):
        self.start_move({"pan": 0.0, "tilt": 0.0, "zoom": 1.0})
        return "ok", None

    def _head_for(self, pan_sign, tilt_sign, zoom_sign):
        cur = self.true_position()
        target = dict(cur)
        if tilt_sign:
            target["tilt"] = self.spec["tilt"][1] if tilt_sign > 0 else self.spec["tilt"][0]
        if zoom_sign:
            target["zoom"] = self.spec["zoom"][1] if zoom_sign > 0 else self.spec["zoom"][0]
        self.start_move(target, pan_dir=(1 if pan_sign > 0 else -1) if pan_sign else None)
        return "ok", None

    def _ptz_continuous(self, params):
        if "Focus" in params:
            if params["Focus"] not in ("Near", "Far", "Stop"):
                raise SunapiError(602, "Invalid Parameter Value: Focus=%s" % params["Focus"])
            return "ok", None
        signs = [self._number(params, k) if k in params else 0.0 for k in ("Pan", "Tilt", "Zoom")]
        if not any(signs):
            return self._ptz_stop(params)
        return self._head_for(*[(s > 0) - (s < 0) for s in signs])

    def _ptz_move(self, params):
        direction = params.get("Direction", "").lower()
        if direction == "home":
            return self._ptz_home(params)
        if direction == "stop":
            return self._ptz_stop(params)
        if direction not in DIRECTIONS:
            raise SunapiError(602, "Invalid Parameter Value: Direction=%s" % params.get("Direction"))
        pan_sign, tilt_sign = DIRECTIONS[direction]
        return self._head_for(pan_sign, tilt_sign, 0)

    def _ptz_areazoom(self, params):
        if params.get("Type") == "1x":
            target = dict(self.true_position())
            target["zoom"] = self.spec["zoom"][0]
            self.start_move(target)
            return "ok", None
        for key in ("X1", "X2", "Y1", "Y2"):
            if key not in params:
                raise SunapiError(602, "Invalid Parameter Value: %s required" % key)
            self._number(params, key)
        return "ok", None

    def _ptz_aux(self, params):
        if params.get("Command") not in ("HeaterOn", "HeaterOff", "WiperOn"):
            raise SunapiError(602, "Invalid Parameter Value: Command=%s" % params.get("Command"))
        return "ok", None

    def _mode(self, params, allowed=("Start", "Stop")):
        if params.get("Mode") not in allowed:
            raise SunapiError(602, "Invalid Parameter Value: Mode=%s" % params.get("Mode"))
        if params["Mode"] == "Stop":
            self.stop_move()
        return "ok", None

    def _ptz_swing(self, params):
        return self._mode(params, ("Pan", "Tilt", "PanTilt", "Stop"))

    def _ptz_group(self, params):
        return self._mode(params)

    def _ptz_tour(self, params):
        return self._mode(params)

    def _ptz_trace(self, params):
        return self._mode(params)

    # ---- ptzconfig.cgi -------------------------------------------------------------------------
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
