# -*- coding: utf-8 -*-
# Copyright (c) waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: camera_contact_sheet
short_description: An HTML contact sheet of camera snapshots (node x camera)
version_added: 0.1.0
description:
  - Builds one self-contained HTML page from the snapshots the C(waggle.honeycomb.camera) role took and fetched;
    one row per node, one column per camera address, each cell a thumbnail with the camera model, the time of the
    picture, the preset it went to (if any) and its pan, tilt and zoom, so an operator sees where every camera points.
  - Reads, per host, the registered results C(camera_snapshot) (M(waggle.honeycomb.camera_snapshot)),
    C(camera_snapshot_fetch) (M(ansible.builtin.fetch)) and C(camera_result) (M(waggle.honeycomb.camera_ptz)), and
    the inventory variables C(camera_host) and C(camera_goto_preset).
    A host whose snapshot failed shows the error; a host without one shows why (skipped, not run).
  - Thumbnails link to the fetched JPEGs by paths relative to O(report_dir), where the page is meant to be written.
positional: _input, hosts, report_dir
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The nodes to list, in order (for example C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  report_dir:
    description: Directory the page is written to (the fetched pictures are below it).
    type: path
    required: true
  title:
    description: Page title.
    type: str
    default: Camera contact sheet
"""

EXAMPLES = r"""
- name: Write the contact sheet
  ansible.builtin.copy:
    dest: "{{ camera_snapshot_dir }}/index.html"
    content: "{{ hostvars | waggle.honeycomb.camera_contact_sheet(ansible_play_hosts_all, camera_snapshot_dir) }}"
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The HTML page.
  type: str
"""

import os

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from html import escape

STYLE = """
body{font-family:sans-serif;margin:16px;background:#f4f5f7;color:#222}
h1{font-size:20px;margin:0 0 4px}p.sub{margin:0 0 12px;color:#555}
table{border-collapse:collapse}th,td{border:1px solid #ccd;padding:6px;vertical-align:top;background:#fff}
th{background:#e3e7ee;text-align:left}figure{margin:0;width:320px}
img{width:320px;height:auto;display:block;border:1px solid #999}
figcaption{font-size:12px;line-height:1.4;margin-top:4px}
.err{color:#a00;width:320px;font-size:12px}.none{color:#777;font-size:12px}
.preset{display:inline-block;background:#2a7d46;color:#fff;border-radius:3px;padding:0 4px}
"""


def _get(obj, *keys):
    for key in keys:
        if not isinstance(obj, dict) and not hasattr(obj, "get"):
            return None
        try:
            obj = obj.get(key)
        except Exception:  # hostvars entries may fail to template
            return None
        if obj is None:
            return None
    return obj


def _preset(ptz, number):
    """'3 Field' for a camera_ptz result that went to preset 3, else None."""
    if number is None or ptz is None or ptz.get("skipped") or ptz.get("failed"):
        return None
    name = _get(ptz, "after", "presets", str(number))
    return "%s %s" % (number, name) if name else str(number)


def entries(hostvars, hosts, report_dir):
    out = []
    for host in hosts:
        hv = _get(hostvars, host) or {}
        snap = _get(hv, "camera_snapshot")
        fetched = _get(hv, "camera_snapshot_fetch")
        ptz = _get(hv, "camera_result")
        camera = _get(snap, "host") or _get(hv, "camera_host") or "camera"
        entry = {"node": host, "camera": to_text(camera), "model": _get(snap, "info", "model"),
                 "time": _get(snap, "time"), "position": _get(snap, "position"),
                 "preset": _preset(ptz, _get(hv, "camera_goto_preset")),
                 "file": None, "error": None, "note": None}
        if snap is None:
            entry["note"] = "no snapshot (not run)"
        elif snap.get("failed"):
            entry["error"] = to_text(snap.get("msg", "snapshot failed"))
        elif snap.get("skipped"):
            entry["note"] = "no snapshot (%s)" % to_text(snap.get("skip_reason") or "skipped").lower()
        elif fetched is not None and fetched.get("failed"):
            entry["error"] = "fetch failed: %s" % to_text(fetched.get("msg", ""))
        elif fetched is not None and fetched.get("dest"):
            entry["file"] = os.path.relpath(to_text(fetched["dest"]), report_dir).replace(os.sep, "/")
        else:
            entry["note"] = "picture not fetched"
        out.append(entry)
    return out


def _cell(e):
    if e["error"]:
        return '<div class="err">%s</div>' % escape(e["error"])
    if not e["file"]:
        return '<div class="none">%s</div>' % escape(e["note"] or "")
    pos = e["position"]
    where = ("pan %.1f&deg; tilt %.1f&deg; zoom %.1fx" % (pos["pan"], pos["tilt"], pos["zoom"])) if pos else "fixed lens"
    preset = ' <span class="preset">preset %s</span>' % escape(e["preset"]) if e["preset"] else ""
    return ('<figure><a href="%s"><img src="%s" alt="%s %s"></a><figcaption><b>%s</b>%s<br>%s<br>%s</figcaption>'
            '</figure>' % (escape(e["file"], True), escape(e["file"], True), escape(e["node"], True),
                           escape(e["camera"], True), escape(e["model"] or "camera"), preset, where,
                           escape(e["time"] or "")))


def camera_contact_sheet(hostvars, hosts, report_dir, title="Camera contact sheet"):
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("camera_contact_sheet: hosts must be a list of host names, got %r" % (hosts,))
    if not report_dir:
        raise AnsibleFilterError("camera_contact_sheet: report_dir is required (where the page is written)")
    rows = entries(hostvars, hosts, to_text(report_dir))
    cameras = []
    for e in rows:
        if e["camera"] not in cameras:
            cameras.append(e["camera"])
    by = dict(((e["node"], e["camera"]), e) for e in rows)
    nodes = []
    for e in rows:
        if e["node"] not in nodes:
            nodes.append(e["node"])
    taken = sorted(e["time"] for e in rows if e["time"])
    html = ['<!DOCTYPE html>', '<html><head><meta charset="utf-8"><title>%s</title><style>%s</style></head><body>'
            % (escape(title), STYLE), '<h1>%s</h1>' % escape(title),
            '<p class="sub">%d node(s), %d picture(s)%s</p>' % (
                len(nodes), sum(1 for e in rows if e["file"]),
                (", taken %s to %s (UTC)" % (taken[0], taken[-1])) if taken else ""),
            '<table><tr><th>node</th>%s</tr>' % "".join("<th>%s</th>" % escape(c) for c in cameras)]
    for node in nodes:
        cells = "".join("<td>%s</td>" % (_cell(by[(node, c)]) if (node, c) in by else "") for c in cameras)
        html.append("<tr><th>%s</th>%s</tr>" % (escape(node), cells))
    html.append("</table></body></html>\n")
    return "\n".join(html)


class FilterModule(object):
    def filters(self):
        return {"camera_contact_sheet": camera_contact_sheet}
