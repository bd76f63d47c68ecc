"""AXIS VAPIX side of the simulator (models Q6135-LE with PTZ, M3106-L fixed).

Mirrors ``plugins/module_utils/_camera/vapix.py``: ``basicdeviceinfo.cgi`` (JSON), ``ptz.cgi``
(position, limits, presetposall, absolute moves, gotoserverpresetno, move=stop) and
``ptzconfig.cgi`` (set/rename/remove presets). Success is HTTP 204, errors HTTP 200 ``Error: ...``.
"""

import json

from .driver import SunapiError


class VapixMixin:
    """Needs SimCore and PtzMixin."""

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
        if path == "/axis-cgi/jpg/image.cgi":
            return 200, self.snapshot(), "image/jpeg"
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
                self.stop_move()
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
