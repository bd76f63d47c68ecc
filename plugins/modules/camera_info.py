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
extends_documentation_fragment:
  - waggle.honeycomb._attributes.info_module
  - waggle.honeycomb._camera
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
      description: Device location (Sage sets the orientation).
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
