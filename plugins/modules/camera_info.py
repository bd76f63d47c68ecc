#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: camera_info
short_description: Read a camera's device facts, PTZ position and presets
version_added: 0.1.0
description:
  - Runs on a Waggle node and reads, with Hanwha SUNAPI over HTTP digest authentication, the device
    information (model, serial number, firmware) of the camera on the node's LAN and, for PTZ models,
    its current position and presets. Changes nothing.
  - Fixed-lens models are reported with RV(ptz=false) and no position or presets.
author:
  - waggle.honeycomb developers (@waggle-sensor)
requirements:
  - requests (on the node; 2.20 or later for SHA-256 digest)
extends_documentation_fragment:
  - waggle.honeycomb._attributes.info_module
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
      - Camera account. Reading the position and presets needs PTZ permission (error 609 otherwise).
      - Falls back to the E(WAGGLE_CAMERA_ADMIN) environment variable.
    type: str
    default: admin
  password:
    description:
      - Password of O(username); never retried after a 401 (the camera locks logins after repeated failures).
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
    description: Digest algorithm to answer with when the camera offers several; V(auto) prefers SHA-256.
    type: str
    default: auto
    choices: [auto, MD5, SHA-256]
  accept_json:
    description: Ask for JSON replies; both JSON and key=value text replies are parsed either way.
    type: bool
    default: true
seealso:
  - module: waggle.honeycomb.camera_ptz
"""

EXAMPLES = r"""
- name: Read the camera facts
  waggle.honeycomb.camera_info:
    password: "{{ camera_admin_password }}"
  register: cam

- name: Show the model and where it points
  ansible.builtin.debug:
    msg: "{{ cam.info.model }} {{ cam.info.firmware }} at {{ cam.position }}"
"""

RETURN = r"""
info:
  description: Device facts.
  returned: success
  type: dict
  contains:
    model:
      description: Camera model.
      type: str
      sample: XNP-6400RW
    serial:
      description: Serial number.
      type: str
    firmware:
      description: Firmware version.
      type: str
      sample: 2.21.01_20220517_R276
    cgi_version:
      description: SUNAPI version.
      type: str
    mac:
      description: MAC address.
      type: str
    device_name:
      description: Device name.
      type: str
    location:
      description: Device location.
      type: str
    raw:
      description: Everything the camera reported in its device information.
      type: dict
ptz:
  description: Whether the camera can pan, tilt or zoom.
  returned: success
  type: bool
position:
  description: Current position (null for fixed-lens cameras).
  returned: success
  type: dict
  sample: {"pan": 45.0, "tilt": 10.0, "zoom": 1.0}
presets:
  description: Presets, by number.
  returned: success
  type: list
  elements: dict
  sample: [{"number": 1, "name": "North"}]
error_kind:
  description: On failure, the class of error (auth, lockout, not_authorized, unreachable, device).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.common import (
    connection_argument_spec, fail, make_driver)
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import CameraError
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.ptz import PtzManager


def main():
    module = AnsibleModule(argument_spec=connection_argument_spec(), supports_check_mode=True)
    try:
        driver = make_driver(module)
        result = PtzManager(driver, {"pan": 0.5, "tilt": 0.5, "zoom": 0.1}).facts()
    except CameraError as exc:
        fail(module, exc)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
