#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: upgrade_build
short_description: Build a deterministic, optionally signed, Honeycomb upgrade payload from a directory
version_added: 0.1.0
description:
  - Builds a format-v2 payload (C(.tar.gz)) for M(waggle.honeycomb.upgrade) from a directory holding
    C(hc_state_check.sh), C(hc_install_upgrade.sh), C(hc_verify_upgrade.sh), an optional
    C(hc_rollback_upgrade.sh) and any other files the scripts need.
  - Checks that the scripts exist, are executable and start with C(#!), hashes every file (SHA-256) into
    C(manifest.json), optionally signs the manifest with C(ssh-keygen -Y sign), and validates the result with
    the same code the nodes use.
  - The output is byte-identical for identical input (sorted entries, fixed mtimes and owners, no gzip
    timestamp), so O(dest) is only replaced, and the task only reports a change, when the bytes differ.
  - Options not given are read from an optional C(honeycomb.yml) (or C(honeycomb.json)) in O(src), which
    holds the same keys as this module's options (without src, dest, sign_key). That file is not packed.
    A 2021 C(metadata.json) in O(src) supplies name, version, peripheral and retries when nothing else does.
  - Runs on the controller through its action plugin (O(src), O(dest) and O(sign_key) are controller paths,
    relative paths resolve like other controller-side files). The same code is available without a playbook
    as the C(honeycomb-build) command of the project's virtualenv.
  - See C(docs/payload-format.md) for the format, the limits and what is refused.
author:
  - Waggle Honeycomb developers (@waggle-sensor)
extends_documentation_fragment:
  - waggle.honeycomb._attributes
  - waggle.honeycomb._attributes.action_async
attributes:
  check_mode:
    support: full
    details:
      - Builds into a temporary file, compares it with O(dest) and reports whether O(dest) would change.
  diff_mode:
    support: none
  action:
    support: full
  async:
    support: none
options:
  src:
    description: Directory holding the payload's scripts and files.
    type: path
    required: true
  dest:
    description: Archive to write (C(.tar.gz)). Its directory must exist.
    type: path
    required: true
  sign_key:
    description:
      - OpenSSH private key (ed25519 recommended, without passphrase, or a public key whose private half is in
        ssh-agent) used to sign C(manifest.json) into C(manifest.json.sig) (namespace C(waggle-honeycomb)).
      - Needs OpenSSH 8.2 or newer on the controller.
    type: path
  name:
    description: Payload name. Default the C(honeycomb.yml) value, else the base name of O(src).
    type: str
  version:
    description:
      - Payload version (required here or in C(honeycomb.yml)). Quote it in YAML (V('1.10'), not V(1.10)).
    type: str
  peripheral:
    description: What the payload upgrades (the installed-version record is kept per peripheral). Default O(name).
    type: str
  description:
    description: Free text.
    type: str
  timeouts:
    description:
      - Seconds per phase, keys C(state_check), C(install), C(verify), C(rollback).
      - Defaults 300, 3600, 900 and 3600.
    type: dict
  retries:
    description: Retries per phase (0..100), keys as for O(timeouts). Default 0.
    type: dict
  state_check_codes:
    description:
      - Meaning of the state check's exit codes, keys C(needed), C(already_applied), C(retry_later), each a list of
        integers 0..255; a code may appear in one list only.
      - 'Default C({needed: [0], already_applied: [100], retry_later: [21]}).'
    type: dict
  backup_paths:
    description: Absolute paths the node snapshots before install and restores on rollback.
    type: list
    elements: str
  restart_units:
    description: systemd units stopped before and started after a restore of O(backup_paths).
    type: list
    elements: str
  parameters:
    description:
      - Schema of the payload's parameters (a JSON-schema subset, see C(docs/payload-format.md)). Each parameter
        reaches the scripts as C(HC_PARAM_<UPPER_NAME>).
    type: dict
  exclude:
    description: Shell-style patterns (matched against relative paths and base names) of files to leave out.
    type: list
    elements: str
  collection_code:
    description:
      - Node-side packages of this collection (C(plugins/module_utils) package names such as V(_camera)) to ship
        in the payload under C(hc_lib/), together with the C(hc-peripheral) launcher the payload scripts call
        (for example C(./hc-peripheral camera-firmware install)). The C(_peripheral) package is always added.
        See C(docs/firmware.md).
      - Works with the action plugin (the normal case), which reads the files from the controller's copy of
        the collection.
    type: list
    elements: str
  source_date_epoch:
    description: Modification time stored for every member. Default C($SOURCE_DATE_EPOCH) or 0.
    type: int
seealso:
  - module: waggle.honeycomb.upgrade
"""

EXAMPLES = r"""
- name: Build the payload once, on the controller
  waggle.honeycomb.upgrade_build:
    src: payloads/honeycomb-version
    dest: "{{ playbook_dir }}/build/honeycomb-version.tar.gz"
    version: "1.2.4"
  run_once: true
  register: built

- name: Build and sign, with explicit phase settings
  waggle.honeycomb.upgrade_build:
    src: payloads/switch-config
    dest: /srv/payloads/switch-config-2.0.0.tar.gz
    sign_key: ~/.ssh/honeycomb_signing_ed25519
    name: switch-config
    version: "2.0.0"
    peripheral: edgeswitch
    timeouts:
      install: 600
    retries:
      verify: 3
    backup_paths:
      - /etc/waggle/switch
    restart_units:
      - waggle-switch-monitor.service
    parameters:
      type: object
      required: [target]
      properties:
        target:
          type: string
  run_once: true

- name: Apply it
  waggle.honeycomb.upgrade:
    src: "{{ built.dest }}"
"""

RETURN = r"""
dest:
  description: Absolute path of the archive.
  returned: success
  type: str
  sample: /home/op/build/honeycomb-version.tar.gz
sha256:
  description: SHA-256 of the archive (the node's store name for it).
  returned: success
  type: str
  sample: 5fbda28ae730fe442b8020568b8e52fd2c276c02c51210cf029452cf824db52e
size:
  description: Archive size in bytes.
  returned: success
  type: int
  sample: 1270
signed:
  description: Whether the archive carries C(manifest.json.sig).
  returned: success
  type: bool
  sample: true
files:
  description: Files packed besides C(manifest.json) and its signature.
  returned: success
  type: list
  elements: str
  sample: [hc_install_upgrade.sh, hc_state_check.sh, hc_verify_upgrade.sh]
manifest:
  description: The C(manifest.json) written into the archive.
  returned: success
  type: dict
  sample: {"schema_version": 2, "name": "honeycomb-version", "version": "1.2.4"}
payload_error:
  description: On refusal, the file (C(member)) and the problem (C(reason)).
  returned: failure
  type: dict
  sample: {"member": "hc_install_upgrade.sh", "reason": "the install script is not executable"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build


def main():
    module = AnsibleModule(argument_spec=build.argument_spec(), supports_check_mode=True)
    result = build.run(module.params, check_mode=module.check_mode)
    if result.get("failed"):
        msg = result.pop("msg")
        result.pop("failed")
        module.fail_json(msg=msg, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
