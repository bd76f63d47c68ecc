#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: edgeswitch_firmware
short_description: Upgrade the firmware of a Ubiquiti EdgeSwitch through its backup image slot
version_added: 0.1.0
description:
  - Runs on a Wild Sage node and upgrades the node's EdgeSwitch (FASTPATH CLI, firmware 1.x), which keeps two
    firmware images, C(active) (running) and C(backup).
  - Idempotent by version. When the switch already runs O(version) (or the version in the image's file name, as
    in C(ESWH.v1.9.2.5322630.stk)), nothing is done. Firmware 1.9 shows C(1.9.2) for image C(1.9.2.5322630); the
    versions match when one is the other plus more dotted parts.
  - Otherwise the module saves the running configuration (C(write memory)) and keeps a copy on the node, copies the
    image into the C(backup) slot with C(copy <url> backup) from a short-lived TFTP (or FTP) server it starts on the
    node (as M(waggle.honeycomb.edgeswitch_config) does), checks the slot with C(show bootvar), runs
    C(boot system backup), reloads, waits for the switch, and checks the running version and the configuration.
  - A switch that cannot start the new image comes back on the previous one; the module then fails saying so
    (RV(firmware=previous)). A failed copy activates nothing; the switch keeps running and booting its firmware.
  - See docs/edgeswitch.md for what is unconfirmed on real hardware (the exact C(show bootvar) layout, the boot-time
    behaviour after a bad image).
author:
  - waggle.honeycomb developers (@waggle-sensor)
requirements:
  - tftpy (O(transfer=tftp))
  - pyftpdlib (O(transfer=ftp))
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - waggle.honeycomb._edgeswitch
  - waggle.honeycomb._edgeswitch.lock
attributes:
  check_mode:
    support: full
    details: Reads the running version and reports whether an upgrade would happen; copies and reloads nothing.
  diff_mode:
    support: full
    details: The diff is the running firmware version before and after.
  platform:
    platforms: posix
options:
  image:
    description: Path on the node of the firmware image (C(.stk)) to install.
    type: path
    required: true
  version:
    description:
      - Firmware version the image carries (for example C(1.9.3.5400000)). Default is the version in the image's
        file name (C(ESWH.v<version>.stk)).
    type: str
  checksum:
    description: Expected sha256 of the image (hex, optionally prefixed C(sha256:)); checked before anything is done.
    type: str
  transfer:
    description: Protocol the switch uses to fetch the image from the node. TFTP is the one confirmed on hardware.
    type: str
    choices: [tftp, ftp]
    default: tftp
  server_address:
    description: Node address the server binds to. Default is the node's address on the route to O(host).
    type: str
  ftp_port:
    description: FTP control port.
    type: int
    default: 21
  tftp_port:
    description: TFTP port.
    type: int
    default: 69
  transfer_timeout:
    description: Seconds to wait for the image copy (the field sees about 4 minutes for a 1.9 image).
    type: int
    default: 900
  reload_timeout:
    description: Seconds to wait for the switch to come back after the reload.
    type: int
    default: 900
  backup_dir:
    description: Directory on the node where the configuration saved before the upgrade is kept (mode 0600 files).
    type: path
    default: /var/lib/honeycomb/edgeswitch
"""

EXAMPLES = r"""
- name: Upgrade the switch firmware (no change when it already runs 1.9.2)
  waggle.honeycomb.edgeswitch_firmware:
    image: /var/lib/honeycomb/firmware/ESWH.v1.9.2.5322630.stk
    checksum: sha256:3da7569e058f368c854e5d733c7760c4d67d83cda2be264ec57a9746f17cff20
    password: "{{ switch_password }}"
  become: true
  register: fw

- name: Report
  ansible.builtin.debug:
    msg: "switch runs {{ fw.version }} (was {{ fw.previous_version }})"

- name: Upgrade over FTP with an image whose name carries no version
  waggle.honeycomb.edgeswitch_firmware:
    image: /tmp/switch.stk
    version: "1.9.3.5400000"
    transfer: ftp
    password: "{{ switch_password }}"
  become: true
"""

RETURN = r"""
version:
  description: The firmware version the switch runs at the end (as the switch prints it; null when unreachable).
  returned: always
  type: str
  sample: 1.9.2
previous_version:
  description: The firmware version before the module ran.
  returned: always
  type: str
target_version:
  description: The version asked for (O(version) or the image's file name).
  returned: always
  type: str
firmware:
  description: >-
    Which firmware the switch runs at the end: V(new), V(previous), V(unknown), or
    V(unknown (the switch is unreachable)). Also returned on failure.
  returned: always
  type: str
reloaded:
  description: Whether the switch was reloaded and came back.
  returned: always
  type: bool
bootvar:
  description: The image slots as C(show bootvar) reports them (C(active), C(backup), C(next)).
  returned: when an upgrade was attempted
  type: dict
config_restored:
  description: >-
    Whether the configuration saved before the upgrade had to be pushed back (the switch came up on the new
    firmware with another startup-config); it is then verified and a warning says what differed.
  returned: when the configuration changed across the upgrade
  type: bool
config_backup_path:
  description: The configuration saved before the upgrade, on the node.
  returned: when an upgrade was attempted
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import cli as es_cli
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import requirements as es_requirements
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import EdgeSwitchError
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.firmware import (
    FirmwareFailed, FirmwareUpgrade, firmware_options)


def main():
    module = AnsibleModule(argument_spec=dict(es_cli.connection_argument_spec(), **firmware_options()),
                           supports_check_mode=True)
    p = dict(module.params)
    p["check_mode"] = module.check_mode
    missing = es_requirements.missing_library(p["transfer"])
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]) + missing[1], exception=str(missing[2]))
    upgrade = FirmwareUpgrade(p)
    try:
        result = upgrade.run()
    except FirmwareFailed as exc:
        upgrade.close()
        result = exc.result
        result.pop("diff", None)
        module.fail_json(msg=str(exc), **result)
    except EdgeSwitchError as exc:
        upgrade.close()
        module.fail_json(msg=str(exc), firmware="previous", target_version=upgrade.target)
    except Exception as exc:  # keep the traceback for debugging, but never leave the session open
        upgrade.close()
        module.fail_json(msg="unexpected error upgrading the switch %s: %s" % (p["host"], exc),
                         exception=traceback.format_exc())
    upgrade.close()
    if not module._diff:
        result.pop("diff", None)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
