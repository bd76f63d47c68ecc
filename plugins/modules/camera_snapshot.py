#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: camera_snapshot
short_description: Save a JPEG snapshot of a camera on the node
version_added: 0.1.0
description:
  - Runs on a Waggle node, fetches one picture from the camera on the node's LAN (Hanwha SUNAPI
    C(video.cgi?msubmenu=snapshot&action=view), AXIS C(jpg/image.cgi)) and writes it to O(dest) on the node.
  - Only a JPEG is ever written. A camera that answers with an error instead (for example SUNAPI
    C(NG) text with HTTP 200, which a naive client would save as a C(.jpg)) fails the task with the
    camera's error code and nothing is written.
  - Also returns where the camera points (pan, tilt, zoom; null for fixed-lens cameras) and its model, so a
    picture can be labelled; M(ansible.builtin.fetch) brings it to the controller (the C(waggle.honeycomb.camera)
    role does this and writes a contact sheet).
author:
  - waggle.honeycomb developers (@waggle-sensor)
extends_documentation_fragment:
  - waggle.honeycomb._attributes
  - waggle.honeycomb._camera
attributes:
  check_mode:
    support: full
    details: Fetches the picture (read-only for the camera) but writes nothing.
  diff_mode:
    support: none
options:
  dest:
    description: Path of the JPEG on the node. Its directory must exist. Written atomically.
    type: path
    required: true
  profile:
    description: SUNAPI video profile to take the picture from (default the camera's MJPEG profile).
    type: int
  mode:
    description: File mode of O(dest).
    type: raw
    default: '0644'
seealso:
  - module: waggle.honeycomb.camera_ptz
  - module: waggle.honeycomb.camera_info
"""

EXAMPLES = r"""
- name: Take a picture
  waggle.honeycomb.camera_snapshot:
    password: "{{ camera_admin_password }}"
    dest: /tmp/camera.jpg
  register: snap

- name: Bring it to the controller
  ansible.builtin.fetch:
    src: /tmp/camera.jpg
    dest: "snapshots/{{ inventory_hostname }}.jpg"
    flat: true
"""

RETURN = r"""
host:
  description: The camera's address (O(host)).
  returned: success
  type: str
dest:
  description: Where the picture was written (in check mode, would be).
  returned: success
  type: str
size:
  description: Bytes of the JPEG.
  returned: success
  type: int
sha256:
  description: SHA-256 of the JPEG.
  returned: success
  type: str
width:
  description: Picture width in pixels (from the JPEG header).
  returned: success
  type: int
height:
  description: Picture height in pixels.
  returned: success
  type: int
position:
  description: Where the camera pointed (null for fixed-lens cameras or when it cannot tell).
  returned: success
  type: dict
  sample: {"pan": 90.0, "tilt": 0.0, "zoom": 1.0}
info:
  description: Device facts (model, serial, firmware, ...), as M(waggle.honeycomb.camera_info) returns them.
  returned: success
  type: dict
time:
  description: When the picture was taken (UTC, ISO 8601).
  returned: success
  type: str
error_kind:
  description: On failure, the class of error (auth, lockout, unreachable, device, ...).
  returned: failure
  type: str
"""

import hashlib
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import snapshot
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.common import (
    connection_argument_spec, fail, make_driver)
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import (
    MODELS, CameraError, CameraNoPTZ, CameraNotAuthorized)


def main():
    spec = connection_argument_spec()
    spec.update(dest=dict(type="path", required=True), profile=dict(type="int"), mode=dict(type="raw", default="0644"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        mode = int(str(p["mode"]), 8)
    except ValueError:
        module.fail_json(msg="mode must be an octal file mode such as '0644', got %r" % p["mode"])
    try:
        driver = make_driver(module)
        info = driver.get_info()
        info.pop("raw", None)
        position = None
        spec_model = MODELS.get(info.get("model") or "")
        if spec_model is None or spec_model["ptz"]:
            try:
                position = driver.get_position()
            except (CameraNoPTZ, CameraNotAuthorized):
                position = None
        taken = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data = snapshot.fetch(driver, p["profile"])
        changed = True if module.check_mode else snapshot.save(data, p["dest"], mode)
    except CameraError as exc:
        fail(module, exc)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot write %s on the node: %s" % (p["dest"], exc), error_kind="io")
    size = snapshot.jpeg_size(data) or (None, None)
    module.exit_json(changed=changed, host=p["host"], dest=p["dest"], size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                     width=size[0], height=size[1], position=position, info=info, time=taken)


if __name__ == "__main__":
    main()
