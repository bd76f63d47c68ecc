# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private doc fragment (no API promise outside this collection): the camera connection options of
camera_info, camera_ptz, camera_firmware and camera_snapshot, as ``connection_argument_spec()`` of
``module_utils/_camera/common.py`` defines them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
requirements:
  - requests (on the node; 2.20 or later for SHA-256 digest)
options:
  host:
    description: Camera address, as seen from the node.
    type: str
    default: 10.31.81.10
  port:
    description: TCP port of the camera's web API. Defaults to 80 (443 with O(use_https)).
    type: int
  use_https:
    description: Use HTTPS instead of HTTP.
    type: bool
    default: false
  validate_certs:
    description: Verify the camera's TLS certificate when O(use_https=true).
    type: bool
    default: true
  username:
    description:
      - Camera account. Reading the position and presets and changing them need an account with PTZ
        permission (usually admin); other accounts get SUNAPI error 609.
      - Falls back to the E(WAGGLE_CAMERA_ADMIN) environment variable.
    type: str
    default: admin
  password:
    description:
      - Password of O(username). A wrong password fails after a single attempt; the camera locks logins
        (HTTP 490) after repeated failures, so the module never retries.
      - Falls back to the E(WAGGLE_CAMERA_ADMIN_PASSWORD) environment variable.
    type: str
    required: true
  driver:
    description:
      - Camera API. V(sunapi) for Hanwha (Wisenet) cameras, V(vapix) for AXIS cameras.
      - With V(vapix), pan is -180 to 180 degrees (positions are compared modulo 360 either way), zoom is
        the camera's raw 1 to 9999 scale, and ranges come from the camera (C(query=limits)).
    type: str
    default: sunapi
    choices: [sunapi, vapix]
  channel:
    description: SUNAPI channel (0-based).
    type: int
    default: 0
  timeout:
    description: Seconds to wait for each HTTP reply.
    type: float
    default: 10.0
  digest_algorithm:
    description:
      - Digest algorithm to answer with when the camera offers several challenges.
      - V(auto) prefers SHA-256 and falls back to MD5.
    type: str
    default: auto
    choices: [auto, MD5, SHA-256]
  accept_json:
    description:
      - Ask for JSON replies (header C(Accept) set to C(application/json)). Replies are parsed in JSON or
        key=value text form either way; turn this off for firmware that answers the JSON request badly.
    type: bool
    default: true
"""
