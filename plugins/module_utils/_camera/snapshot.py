# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Camera snapshots: fetch a JPEG, refuse anything else, save atomically (node side, Python 3.6+).

SUNAPI: ``GET /stw-cgi/video.cgi?msubmenu=snapshot&action=view[&Profile=n][&Channel=n]`` returns the
JPEG of the camera's MJPEG profile; a camera without one answers an error, often as HTTP 200 with
an ``NG`` text body. VAPIX: ``GET /axis-cgi/jpg/image.cgi``. Only bytes that start like a JPEG
(FF D8 FF) are ever written, so an error body never ends up in a ``.jpg``.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import struct

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import CameraDeviceError
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.files import replace_file
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.sunapi import parse_reply

JPEG_START = b"\xff\xd8\xff"


def jpeg_size(data):
    """(width, height) from the first SOF marker of a JPEG, or None."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def snapshot_path(driver, profile=None):
    if driver.name == "vapix":
        return "/axis-cgi/jpg/image.cgi?camera=%d" % (driver.camera)
    path = "/stw-cgi/video.cgi?msubmenu=snapshot&action=view"
    if profile is not None:
        path += "&Profile=%d" % profile
    if getattr(driver, "channel", None):
        path += "&Channel=%d" % driver.channel
    return path


def fetch(driver, profile=None):
    """-> JPEG bytes. Raises CameraDeviceError naming what the camera sent instead of a JPEG."""
    what = "the snapshot request"
    r = driver.send("GET", snapshot_path(driver, profile), what)
    body = r.content
    ctype = r.headers.get("Content-Type", "")
    if r.status_code == 200 and body.startswith(JPEG_START):
        return body
    text = body[:2000].decode("utf-8", "replace")
    try:
        parse_reply(text, ctype)
    except CameraDeviceError as exc:
        message = ("the %s answered %s with error %s %s instead of a JPEG (HTTP %d); nothing was saved. Check "
                   "that the camera has an MJPEG video profile (or pass profile)"
                   % (driver.where(), what, exc.code, exc.details or "", r.status_code))
        raise CameraDeviceError(message, code=exc.code, details=exc.details)
    except Exception:  # pylint: disable=broad-except
        pass
    raise CameraDeviceError(
        "the %s answered %s with HTTP %d, %d bytes of %s that are not a JPEG (%r); nothing was saved"
        % (driver.where(), what, r.status_code, len(body), ctype or "unknown type", body[:60]), code=r.status_code)


def save(data, dest, mode=0o644):
    """Writes data to dest atomically unless it already holds the same bytes. -> changed."""
    if os.path.isfile(dest):
        with open(dest, "rb") as fh:
            if hashlib.sha256(fh.read()).digest() == hashlib.sha256(data).digest():
                return False
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        raise CameraDeviceError("the directory of dest %s does not exist on the node: create it first" % dest)
    replace_file(dest, data, mode, prefix=".snapshot.", suffix=".jpg")
    return True
