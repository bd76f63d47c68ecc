"""SUNAPI request dispatch of the simulated Hanwha camera.

Mirrors ``plugins/module_utils/_camera/sunapi.py``:

* ``/stw-cgi/system.cgi``: ``deviceinfo`` view, ``firmwareupdate``, ``configbackup``,
  ``configrestore``, ``power`` (see firmware.py);
* ``/stw-cgi/ptzcontrol.cgi`` and ``ptzconfig.cgi`` (see ptz.py);
* ``/stw-cgi/video.cgi?msubmenu=snapshot&action=view``: a JPEG (see snapshot.py);
* ``/stw-cgi/attributes.cgi[/attributes|/cgis[/...]]``: XML capabilities;
* ``/init-cgi/pw_init.cgi?msubmenu=statuscheck&action=view``: JSON factory-init status, no auth.

Replies are JSON with ``Accept: application/json`` and CRLF ``key=value`` text otherwise; errors as
``NG`` text or ``{"Response": "Fail"}`` JSON.
"""

import json
from xml.sax.saxutils import quoteattr

from .driver import SunapiError


def _attr(name, typ, value):
    return '<attribute name=%s type=%s value=%s accesslevel="user"/>' % (quoteattr(name), quoteattr(typ),
                                                                         quoteattr(str(value)))


class SunapiMixin:
    """Needs SimCore, PtzMixin, SnapshotMixin, FirmwareMixin."""

    def dispatch(self, cgi, params, user):
        """Returns (kind, data) or raises SunapiError. kind: data, ok, query, presets, jpeg, binary."""
        submenu = params.get("msubmenu", "")
        action = params.get("action", "")
        channel = params.get("Channel", "0")
        if channel != "0":
            raise SunapiError(602, "Invalid Parameter Value: Channel %s" % channel)
        if cgi == "system":
            if submenu == "deviceinfo":
                if action != "view":
                    raise SunapiError(601)
                return "data", self.deviceinfo()
            if submenu == "configbackup":
                if action != "control":
                    raise SunapiError(601)
                return "binary", self.config_backup()
            if submenu == "power":
                if action != "control":
                    raise SunapiError(601)
                return self._system_power(params)
            if submenu in ("firmwareupdate", "configrestore"):
                raise SunapiError(601, "Action Not Supported: %s needs a POST" % submenu)
            raise SunapiError(600)
        if cgi == "video":
            if submenu != "snapshot":
                raise SunapiError(600)
            if action != "view":
                raise SunapiError(601)
            return self._video_snapshot(params)
        if cgi in ("ptzcontrol", "ptzconfig"):
            if not self.spec["ptz"]:
                raise SunapiError(self.config["no_ptz_code"])
            if not self.users[user].get("ptz"):
                raise SunapiError(609)
            with self.lock:
                return getattr(self, "_" + cgi)(submenu, action, params)
        raise SunapiError(600)

    def _video_snapshot(self, params):
        profile = params.get("Profile")
        if profile is not None and profile not in ("1", "2"):
            raise SunapiError(602, "Invalid Parameter Value: Profile %s is not an MJPEG profile" % profile)
        err = self.config["snapshot_error"]
        if err in ("ng", "json"):
            raise SunapiError(600)
        if err == "http500":
            return "http500", "Internal Server Error"
        return "jpeg", self.snapshot()

    def deviceinfo(self):
        return {
            "Model": self.model, "SerialNumber": self.serial,
            "FirmwareVersion": self.firmware, "BuildDate": (self.firmware.split("_") + [""])[1],
            "WebURL": "http://www.hanwha-security.com", "DeviceType": "NWC",
            "ConnectedMACAddress": self.mac, "ISPVersion": "1.00", "BootloaderVersion": "1.00",
            "CGIVersion": "2.6.1", "ONVIFVersion": "20.12", "DeviceName": self.model,
            "DeviceLocation": self.device_location, "DeviceDescription": "",
            "Memo": "", "Language": "English",
        }

    # ---- capabilities (no auth unless attributes_need_auth) ----------------------------------
    def attributes_xml(self, path):
        """XML for /stw-cgi/attributes.cgi[/attributes|/cgis[/...]]; None for an unknown path."""
        rest = path[len("/stw-cgi/attributes.cgi"):].strip("/")
        parts = rest.split("/") if rest else []
        if not parts:
            return '<?xml version="1.0"?>\n<capabilities>\n%s%s</capabilities>\n' % (
                self._attributes_section(), self._cgis_section())
        if parts[0] == "attributes":
            return '<?xml version="1.0"?>\n%s' % self._attributes_section()
        if parts[0] == "cgis":
            return '<?xml version="1.0"?>\n%s' % self._cgis_section()
        return None

    def _attributes_section(self):
        ptz = self.spec["ptz"]
        flags = [("Absolute.Pan", ptz), ("Absolute.Tilt", ptz), ("Absolute.Zoom", ptz), ("RealPTZ", ptz),
                 ("ZoomOnly", False), ("ExternalPTZ", False), ("Preset", ptz)]
        lines = ['<attributes>', '<group name="System">', '<category name="Limit">',
                 _attr("MaxChannel", "int", 1), '</category>', '<category name="Support">',
                 _attr("FirmwareUpdate", "bool", "True"), _attr("ConfigBackup", "bool", "True"),
                 _attr("ExcludeSettings", "csv", "Network,Camera"), '</category>', '</group>',
                 '<group name="PTZSupport">', '<category name="Support">', '<channel number="0">']
        lines += [_attr(name, "bool", "True" if value else "False") for name, value in flags]
        lines += ['</channel>', '</category>']
        if ptz:
            lines += ['<category name="Limit">', '<channel number="0">',
                      _attr("MaxPreset", "int", self.spec["max_presets"]), '</channel>', '</category>']
        lines += ['</group>', '</attributes>']
        return "\n".join(lines) + "\n"

    def _cgis_section(self):
        lines = ['<cgis>', '<cgi name="system">', '<submenu name="deviceinfo">', '<action name="view"/>',
                 '</submenu>', '<submenu name="firmwareupdate">', '<action name="control">',
                 '<parameter name="Type"><dataType><enum><entry value="Normal"/></enum></dataType></parameter>',
                 '</action>', '</submenu>', '</cgi>']
        if self.spec["ptz"]:
            lines += ['<cgi name="ptzcontrol">', '<submenu name="absolute">', '<action name="control">']
            for axis in ("Pan", "Tilt", "Zoom"):
                lo, hi = self.spec[axis.lower()]
                lines.append('<parameter name="%s"><dataType><float min="%g" max="%g"/></dataType></parameter>'
                             % (axis, lo, hi))
            lines += ['<parameter name="ZoomPulse"><dataType><int min="0" max="%d"/></dataType></parameter>'
                      % self.zoom_pulse(self.spec["zoom"][1]),
                      '</action>', '</submenu>', '</cgi>']
        lines.append('</cgis>')
        return "\n".join(lines) + "\n"

    def pw_init_status(self):
        return {"Initialized": bool(self.config["initialized"]), "MaxPasswordLength": 64,
                "MinPasswordLength": 8, "PublicKey": "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJB"
                "AMsim0nlyN0tAr3alKeyForTestsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAECAwEAAQ==\n"
                "-----END PUBLIC KEY-----"}


def render(kind, data, want_json, config):
    """(body, content type) for a successful SUNAPI reply."""
    if kind == "ok":
        if want_json:
            return json.dumps({"Response": "Success"}), "application/json"
        return config["text_success_body"], "text/plain"
    if kind == "query":
        if want_json:
            row = {"Channel": 0}
            row.update(data)
            return json.dumps({"Query": [row]}), "application/json"
        pre = config["query_key_prefix"]
        return "".join("%s%s=%s\r\n" % (pre, k, v) for k, v in data.items()), "text/plain"
    if kind == "presets":
        if want_json:
            return json.dumps({"PTZPresets": [{"Channel": 0, "Presets": data}]}), "application/json"
        return "".join("Channel.0.Preset.%d.Name=%s\r\n" % (p["Preset"], p["Name"]) for p in data), "text/plain"
    if kind == "jpeg":
        return data, "image/jpeg"
    if kind == "binary":
        return data, "application/octet-stream"
    if want_json:
        return json.dumps(data), "application/json"
    return "".join("%s=%s\r\n" % (k, v) for k, v in data.items()), "text/plain"
