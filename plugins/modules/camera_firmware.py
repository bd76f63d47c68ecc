#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: camera_firmware
short_description: Update the firmware of a Hanwha camera on the node
version_added: 0.1.0
description:
  - Runs on a Waggle node and brings the Hanwha (Wisenet) camera on the node's LAN to the firmware in
    O(image) (a file on the node) through SUNAPI.
  - Idempotent by version. The image's model and version are read from its file name (Hanwha names images like
    C(XNP-6400RW_2.22.00_20230801_R300.img)) unless O(image_model) and O(image_version) say otherwise.
    A camera that already runs that version is left alone (C(changed=false)).
  - An image for another model is refused before any byte is sent.
  - Otherwise the module backs up the camera's configuration (C(configbackup); also to O(backup_path) when
    given), notes its presets, uploads the image (multipart POST to
    C(system.cgi?msubmenu=firmwareupdate&action=control&Type=Normal); the camera streams C(Status=) lines and
    drops the connection when it reboots), waits up to O(reboot_timeout) for the camera to answer again,
    and checks that C(FirmwareVersion) is the image's version and the presets are intact (a configuration
    that lost them is restored).
  - When the upload or the flashing fails, or the camera comes back with another version, the configuration
    is restored (C(configrestore) with C(ExcludeSettings=Network), so its network settings stay) once the
    camera answers. A camera that never comes back cannot be restored; the message says where the backup is.
  - For fleets with a journal of every update, use the C(camera-firmware) payload with M(waggle.honeycomb.upgrade)
    instead (C(docs/firmware.md)); it runs the same code.
author:
  - waggle.honeycomb developers (@waggle-sensor)
extends_documentation_fragment:
  - waggle.honeycomb._attributes
  - waggle.honeycomb._camera
attributes:
  check_mode:
    support: full
    details: Reads the camera and compares versions; sends nothing else.
  diff_mode:
    support: full
    details: Firmware version before and after.
options:
  image:
    description: Path of the firmware image on the node.
    type: path
    required: true
  image_model:
    description: Camera model the image is for. Default read from the image's file name.
    type: str
  image_version:
    description:
      - Firmware version the image installs, as the camera reports it in C(FirmwareVersion). Default read from
        the image's file name.
      - A short version matches the camera's long form, so V(2.22.00) matches C(2.22.00_20230801_R300).
    type: str
  name_pattern:
    description:
      - Python regular expression with the named groups C(model) and C(version), matched against the image's
        file name. The default fits Hanwha's naming, which is not confirmed for every model.
    type: str
  backup_path:
    description:
      - Also keep the configuration backup in this file on the node (mode 0600), for example to restore it by
        hand if the camera comes back only later.
    type: path
  reboot_timeout:
    description: Seconds to wait for the camera to answer again after the update (or a configuration restore).
    type: float
    default: 600
  poll_interval:
    description: Seconds between device information polls while the camera reboots.
    type: float
    default: 5
  upload_timeout:
    description: Seconds the camera may stay silent while it takes and flashes the image.
    type: float
    default: 900
  upload_field:
    description: Name of the multipart part holding the image (cameras accept any name).
    type: str
    default: FirmwareFile
notes:
  - Budget about ten minutes per camera plus its reboot; do not let the camera provisioner or sanity checks
    talk to the camera meanwhile.
seealso:
  - module: waggle.honeycomb.camera_info
  - module: waggle.honeycomb.upgrade
"""

EXAMPLES = r"""
- name: Copy the image to the node
  ansible.builtin.copy:
    src: firmware/XNP-6400RW_2.22.00_20230801_R300.img
    dest: /var/tmp/XNP-6400RW_2.22.00_20230801_R300.img
    mode: "0644"

- name: Update the PTZ camera (unchanged if it already runs 2.22.00)
  waggle.honeycomb.camera_firmware:
    password: "{{ camera_admin_password }}"
    image: /var/tmp/XNP-6400RW_2.22.00_20230801_R300.img
    backup_path: /var/tmp/camera-config.bin
  register: fw

- name: Image with a name that does not say model and version
  waggle.honeycomb.camera_firmware:
    password: "{{ camera_admin_password }}"
    image: /var/tmp/camera.img
    image_model: XNV-8081Z
    image_version: 2.10.03
"""

RETURN = r"""
before:
  description: Firmware version read before the update.
  returned: always
  type: dict
  sample: {"firmware": "2.21.01_20220517_R276"}
after:
  description: Firmware version after the update (in check mode, the image's version).
  returned: always
  type: dict
  sample: {"firmware": "2.22.00_20230801_R300"}
model:
  description: Camera model.
  returned: always
  type: str
image_version:
  description: Version the image installs.
  returned: always
  type: str
actions:
  description: SUNAPI operations done, in order (configbackup, firmwareupdate, configrestore).
  returned: always
  type: list
  elements: str
statuses:
  description: The C(Status=) values the camera streamed during the upload.
  returned: always
  type: list
  elements: str
  sample: ["Uploading", "DownloadAck", "DownloadOK", "Start", "OK", "End"]
config_restored:
  description: Whether the configuration backup was restored (the update changed the presets).
  returned: always
  type: bool
presets:
  description: Presets (number -> name) found before the update and checked after it (null for fixed-lens cameras).
  returned: when the camera was updated
  type: dict
error_kind:
  description:
    - On failure, the class of error; V(firmware_refused) (wrong model or image, nothing changed),
      V(firmware_failed), V(not_returned), V(wrong_version), V(input), V(auth), V(lockout), V(unreachable), V(device).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import firmware as fw
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.common import (
    check_numbers, connection_argument_spec, exit_with_result, fail, make_driver)
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import CameraError


def main():
    spec = connection_argument_spec()
    spec.update(
        image=dict(type="path", required=True),
        image_model=dict(type="str"),
        image_version=dict(type="str"),
        name_pattern=dict(type="str"),
        backup_path=dict(type="path"),
        reboot_timeout=dict(type="float", default=600.0),
        poll_interval=dict(type="float", default=5.0),
        upload_timeout=dict(type="float", default=900.0),
        upload_field=dict(type="str", default="FirmwareFile"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if p["driver"] != "sunapi":
        module.fail_json(msg="camera_firmware supports driver=sunapi (Hanwha) only, got %s" % p["driver"],
                         error_kind="input")
    check_numbers(module, positive=("reboot_timeout", "poll_interval", "upload_timeout"), error_kind="input")
    updater = None
    try:
        driver = make_driver(module)
        updater = fw.FirmwareUpdater(driver, p["image"], model=p["image_model"], version=p["image_version"],
                                     name_pattern=p["name_pattern"], reboot_timeout=p["reboot_timeout"],
                                     poll_interval=p["poll_interval"], upload_timeout=p["upload_timeout"],
                                     upload_field=p["upload_field"], backup_path=p["backup_path"],
                                     log=module.debug)
        result = updater.run(check_mode=module.check_mode)
    except CameraError as exc:
        fail(module, exc, actions=updater.actions if updater else [])
    exit_with_result(module, result, drop=("image",))


if __name__ == "__main__":
    main()
