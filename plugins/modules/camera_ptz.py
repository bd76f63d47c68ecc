#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: camera_ptz
short_description: Set the position and presets of a PTZ camera idempotently
version_added: 0.1.0
description:
  - Runs on a Waggle node and talks to a PTZ camera on the node's LAN (by default the Hanwha camera at
    10.31.81.10) with Hanwha SUNAPI (or AXIS VAPIX, O(driver=vapix)) over HTTP digest authentication.
  - Reads the device facts, the current position and the presets, compares them with the desired state
    and sends only what differs. All input is validated against the model's ranges before the first
    change is sent.
  - Moves are asynchronous; the module polls the position until it is within O(tolerance) of the target
    (pan modulo 360, so 359.9 equals 0.1) or O(settle_timeout) passes.
  - Presets are never deleted unless a preset has O(presets[].state=absent) or O(purge_presets=true).
  - SUNAPI does not report where a preset points, so a preset's stored position is only set when the
    preset is created, or checked and re-recorded when O(presets[].record_position=true) (which moves
    the camera to the preset to find out).
  - A fixed-lens camera model (no pan/tilt/zoom) is refused with a clear message before anything is sent.
author:
  - waggle.honeycomb developers (@waggle-sensor)
extends_documentation_fragment:
  - waggle.honeycomb._attributes
  - waggle.honeycomb._camera
attributes:
  check_mode:
    support: full
    details: >-
      Reads the camera and reports the planned changes without control requests. goto_preset and
      record_position checks cannot be evaluated without moving the camera and are reported as changes.
  diff_mode:
    support: full
    details: Shows position and presets before and after.
options:
  position:
    description:
      - Where the camera should point at the end. Any subset of pan, tilt and zoom; the others are left.
      - Mutually exclusive with O(goto_preset).
    type: dict
    suboptions: &position_suboptions
      pan:
        description: Pan in degrees, taken modulo 360.
        type: float
      tilt:
        description: Tilt in degrees (XNP-6400RW -20 to 90).
        type: float
      zoom:
        description: Zoom factor (XNP-6400RW 1 to 40).
        type: float
  presets:
    description: Presets to create, rename or remove. Presets not listed are kept unless O(purge_presets=true).
    type: list
    elements: dict
    default: []
    suboptions:
      number:
        description: Preset number (1 to the model's maximum, 300 on the XNP-6400RW).
        type: int
        required: true
      name:
        description: Preset name, 1 to 12 letters, digits, C(-) or C(_). Required with O(presets[].state=present).
        type: str
      state:
        description: Whether the preset should exist.
        type: str
        choices: [present, absent]
        default: present
      position:
        description:
          - Where the preset points. Used when the preset is created (the camera moves there, settles,
            then stores the preset), and by O(presets[].record_position).
          - Without it a new preset stores the camera's current position.
        type: dict
        suboptions: *position_suboptions
      record_position:
        description:
          - Also make an existing preset point at O(presets[].position). The module moves the camera to the
            preset, compares where it ends up with the position and re-records the preset only if it differs.
        type: bool
        default: false
  purge_presets:
    description: Remove every preset that is not listed in O(presets) with O(presets[].state=present).
    type: bool
    default: false
  goto_preset:
    description: Move the camera to this preset at the end. Reported as a change only if the camera moved.
    type: int
  tolerance:
    description: How far (degrees) pan and tilt may be from the target and still count as there.
    type: float
    default: 0.5
  zoom_tolerance:
    description: How far zoom may be from the target and still count as there.
    type: float
    default: 0.1
  settle_timeout:
    description: Seconds to wait for each move to settle before failing.
    type: float
    default: 60
  poll_interval:
    description: Seconds between position polls while a move settles.
    type: float
    default: 0.5
  limits:
    description:
      - Override the model table's ranges, for example for a PTZ model the table does not know.
      - Keys C(pan), C(tilt), C(zoom) as C([min, max]) and C(max_presets).
    type: dict
notes:
  - Unconfirmed SUNAPI details (text reply layout, the code for an empty preset list, digest challenge
    order on fleet firmware) are handled both ways; see docs/cameras.md.
seealso:
  - module: waggle.honeycomb.camera_info
"""

EXAMPLES = r"""
- name: Point the camera north-east and keep presets 1 to 4
  waggle.honeycomb.camera_ptz:
    password: "{{ camera_admin_password }}"
    position: {pan: 45, tilt: 10, zoom: 1}
    presets:
      - {number: 1, name: North, position: {pan: 0, tilt: 0, zoom: 1}}
      - {number: 2, name: East, position: {pan: 90, tilt: 0, zoom: 1}}
      - {number: 3, name: South, position: {pan: 180, tilt: 0, zoom: 1}}
      - {number: 4, name: West, position: {pan: 270, tilt: 0, zoom: 1}}

- name: Re-record preset 1 if it drifted and remove every preset not listed
  waggle.honeycomb.camera_ptz:
    password: "{{ camera_admin_password }}"
    presets:
      - {number: 1, name: North, position: {pan: 0, tilt: 5, zoom: 1}, record_position: true}
    purge_presets: true

- name: Go to preset 2
  waggle.honeycomb.camera_ptz:
    password: "{{ camera_admin_password }}"
    goto_preset: 2
"""

RETURN = r"""
before:
  description: Position and presets (number as string -> name) read before any change.
  returned: always
  type: dict
  sample: {"position": {"pan": 0.0, "tilt": 0.0, "zoom": 1.0}, "presets": {"1": "North"}}
after:
  description:
    - Position and presets after the changes, read back from the camera (in check mode, the plan).
    - In check mode with O(goto_preset) the position is the string C(preset N).
  returned: always
  type: dict
  sample: {"position": {"pan": 45.0, "tilt": 10.0, "zoom": 1.0}, "presets": {"1": "North", "2": "East"}}
actions:
  description: What was (or in check mode would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ["add preset 2 'East' at pan 90.00, tilt 0.00, zoom 1.00", "move to pan 45.00, tilt 10.00, zoom 1.00"]
info:
  description: Device facts (model, serial, firmware, ...), as M(waggle.honeycomb.camera_info) returns them.
  returned: always
  type: dict
error_kind:
  description: On failure, the class of error (auth, lockout, not_authorized, no_ptz, unreachable, device, not_settled, input).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.common import (
    check_numbers, connection_argument_spec, exit_with_result, fail, make_driver)
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import CameraError
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.ptz import PtzManager

POSITION_SPEC = dict(pan=dict(type="float"), tilt=dict(type="float"), zoom=dict(type="float"))


def main():
    spec = connection_argument_spec()
    spec.update(
        position=dict(type="dict", options=POSITION_SPEC),
        presets=dict(type="list", elements="dict", default=[], options=dict(
            number=dict(type="int", required=True),
            name=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            position=dict(type="dict", options=POSITION_SPEC),
            record_position=dict(type="bool", default=False),
        )),
        purge_presets=dict(type="bool", default=False),
        goto_preset=dict(type="int"),
        tolerance=dict(type="float", default=0.5),
        zoom_tolerance=dict(type="float", default=0.1),
        settle_timeout=dict(type="float", default=60.0),
        poll_interval=dict(type="float", default=0.5),
        limits=dict(type="dict"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("position", "goto_preset")])
    p = module.params
    check_numbers(module, positive=("settle_timeout", "poll_interval"), non_negative=("tolerance", "zoom_tolerance"))
    position = dict((k, v) for k, v in (p["position"] or {}).items() if v is not None) if p["position"] else None
    presets = []
    for item in p["presets"]:
        item = dict(item)
        if item.get("position"):
            item["position"] = dict((k, v) for k, v in item["position"].items() if v is not None)
        presets.append(item)

    manager = None
    try:
        driver = make_driver(module)
        manager = PtzManager(driver, {"pan": p["tolerance"], "tilt": p["tolerance"], "zoom": p["zoom_tolerance"]},
                             settle_timeout=p["settle_timeout"], poll_interval=p["poll_interval"],
                             limits=p["limits"])
        result = manager.run(position=position, presets=presets, purge_presets=p["purge_presets"],
                             goto_preset=p["goto_preset"], check_mode=module.check_mode)
    except CameraError as exc:
        fail(module, exc, actions=manager.actions if manager else [])
    exit_with_result(module, result, drop=("polls",))


if __name__ == "__main__":
    main()
