# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AXIS VAPIX driver (node side, Python 3.6+; needs the requests library).

docs/devices/camera.md (AXIS VAPIX): ``/axis-cgi/com/ptz.cgi`` for moves and queries, ``ptzconfig.cgi`` for
presets (Administrator), success is HTTP 204, errors are HTTP 200 with a body starting ``Error``.
Pan is -180..180 degrees, zoom is the camera's raw 1..9999 scale (not a zoom factor).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import (
    CameraDeviceError, CameraError, CameraNoPTZ, CameraNotAuthorized)
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.sunapi import DigestHttpDriver, requests


def parse_pairs(body):
    """'pan=1 tilt=2\\nzoom=3' -> {'pan': '1', 'tilt': '2', 'zoom': '3'} (space or line separated)."""
    return dict(re.findall(r"([A-Za-z][\w.]*)=(\S+)", body))


def parse_presets(body):
    """'Preset Positions for camera 1\\npresetposno1=Home' -> {1: 'Home'} (names may contain spaces)."""
    out = {}
    for line in body.replace("\r\n", "\n").split("\n"):
        m = re.match(r"^\s*presetposno(\d+)=(.*?)\s*$", line)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


def vapix_error(body):
    text = body.strip()
    if text[:5].lower() == "error":
        return text.split(":", 1)[1].strip() if ":" in text else text
    return None


class VapixDriver(DigestHttpDriver):
    name = "vapix"
    pan_range = (-180.0, 180.0)

    def __init__(self, host, port=80, username="root", password="", channel=0, timeout=10.0,
                 use_https=False, validate_certs=True, digest_algorithm="auto", session=None, **_ignored):
        DigestHttpDriver.__init__(self, host, port=port, username=username, password=password, timeout=timeout,
                                  use_https=use_https, validate_certs=validate_certs,
                                  digest_algorithm=digest_algorithm, session=session)
        self.camera = channel + 1   # VAPIX video sources are 1-based

    def _cgi(self, cgi, params, what):
        query = [("camera", self.camera)] + list(params)
        path = "/axis-cgi/com/%s.cgi?%s" % (cgi, "&".join(
            "%s=%s" % (k, requests.utils.quote(str(v), safe=",")) for k, v in query))
        r = self.send("GET", path, what)
        if r.status_code == 404:
            raise CameraNoPTZ("the %s has no %s.cgi (HTTP 404): it has no PTZ (fixed-lens model)"
                              % (self.where(), cgi), code=404)
        if r.status_code == 403:
            raise CameraNotAuthorized("the %s refused %s (HTTP 403): account %r lacks the PTZ or Administrator "
                                      "privilege" % (self.where(), what, self.username), code=403)
        if r.status_code >= 400:
            raise CameraDeviceError("the %s answered %s with HTTP %d: %s"
                                    % (self.where(), what, r.status_code, r.text[:200]), code=r.status_code)
        if r.status_code == 204:
            return ""
        err = vapix_error(r.text)
        if err is not None:
            raise CameraDeviceError("the %s refused %s: %s" % (self.where(), what, err), details=err)
        return r.text

    def get_info(self):
        body = json.dumps({"apiVersion": "1.0", "method": "getAllProperties"})
        r = self.send("POST", "/axis-cgi/basicdeviceinfo.cgi", "basicdeviceinfo getAllProperties",
                      headers={"Content-Type": "application/json"}, body=body)
        if r.status_code >= 400:
            raise CameraDeviceError("the %s answered basicdeviceinfo.cgi with HTTP %d" % (self.where(), r.status_code),
                                    code=r.status_code)
        try:
            data = json.loads(r.text)
            props = data["data"]["propertyList"]
        except (ValueError, KeyError, TypeError):
            raise CameraError("the %s sent an unreadable basicdeviceinfo reply: %r" % (self.where(), r.text[:200]))
        return {"model": props.get("ProdNbr"), "serial": props.get("SerialNumber"),
                "firmware": props.get("Version"), "cgi_version": data.get("apiVersion"),
                "mac": props.get("SerialNumber"), "device_name": props.get("ProdFullName"),
                "location": None, "raw": props}

    def get_limits(self):
        try:
            data = parse_pairs(self._cgi("ptz", [("query", "limits")], "ptz.cgi query=limits"))
        except CameraDeviceError:
            return None
        out = {}
        for axis, key in (("pan", "Pan"), ("tilt", "Tilt"), ("zoom", "Zoom")):
            lo, hi = data.get("Min" + key), data.get("Max" + key)
            if lo is not None and hi is not None:
                out[axis] = [float(lo), float(hi)]
        return out or None

    def get_position(self):
        data = parse_pairs(self._cgi("ptz", [("query", "position")], "ptz.cgi query=position"))
        try:
            return {"pan": float(data["pan"]), "tilt": float(data["tilt"]), "zoom": float(data["zoom"])}
        except (KeyError, ValueError):
            raise CameraError("the %s position reply lacks pan, tilt or zoom: %r" % (self.where(), data))

    def move_absolute(self, pan=None, tilt=None, zoom=None):
        params = []
        if pan is not None:
            pan = pan % 360.0
            params.append(("pan", "%.4f" % (pan - 360.0 if pan > 180.0 else pan)))
        if tilt is not None:
            params.append(("tilt", "%.4f" % tilt))
        if zoom is not None:
            params.append(("zoom", "%d" % round(zoom)))
        self._cgi("ptz", params, "ptz.cgi absolute move")

    def goto_preset(self, number):
        self._cgi("ptz", [("gotoserverpresetno", int(number))], "ptz.cgi gotoserverpresetno=%d" % number)

    def stop(self):
        self._cgi("ptz", [("move", "stop")], "ptz.cgi move=stop")

    def list_presets(self):
        return parse_presets(self._cgi("ptz", [("query", "presetposall")], "ptz.cgi query=presetposall"))

    def add_preset(self, number, name):
        self._cgi("ptzconfig", [("setserverpresetno", int(number))], "ptzconfig.cgi setserverpresetno=%d" % number)
        self.rename_preset(number, name)

    def rename_preset(self, number, name):
        self._cgi("ptzconfig", [("renameserverpresetno", int(number)), ("newname", name)],
                  "ptzconfig.cgi renameserverpresetno=%d" % number)

    def remove_preset(self, number):
        self._cgi("ptzconfig", [("removeserverpresetno", int(number))],
                  "ptzconfig.cgi removeserverpresetno=%d" % number)
