#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: edgeswitch_config
short_description: Back up and deploy a Ubiquiti EdgeSwitch startup-config over FTP or TFTP
version_added: 0.1.0
description:
  - Runs on a Wild Sage node and drives the node's EdgeSwitch CLI (FASTPATH, firmware 1.x) with C(pexpect)
    over ssh or telnet, logging in, entering privileged mode and turning paging off.
  - Configuration moves with the switch's C(copy) command to or from a short-lived FTP (C(pyftpdlib)) or TFTP
    (C(tftpy)) server that the module starts on the node, bound only to the node's address on the switch LAN,
    serving a private temporary directory (FTP with one-time random credentials). The server is stopped
    whatever happens.
  - O(state=fetched) returns the startup-config and optionally writes it to O(dest) on the node.
  - O(state=deployed) fetches the current config first and keeps it as a backup, compares it with the new one
    ignoring the volatile header lines (up time, SNTP time), all C(!) comment lines, blank lines and trailing
    spaces, and pushes only when they differ. It then reads the config back to verify it, sets the CLI banner
    carrying the config version, and applies it according to O(apply). On any failure after the push started,
    it restores the backup and fails, saying which configuration the switch holds.
  - See docs/edgeswitch.md for what is still unconfirmed on real hardware (notably C(ftp://) support in C(copy);
    TFTP is the known-good fallback).
author:
  - waggle.honeycomb developers (@waggle-sensor)
requirements:
  - pyftpdlib (O(transfer=ftp))
  - tftpy (O(transfer=tftp))
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - waggle.honeycomb._edgeswitch
  - waggle.honeycomb._edgeswitch.lock
attributes:
  check_mode:
    support: full
    details: O(state=deployed) fetches and compares but pushes nothing; O(state=fetched) writes no O(dest).
  diff_mode:
    support: full
    details: The diff is the configuration without volatile header lines, plus the CLI banner.
  platform:
    platforms: posix
options:
  state:
    description: V(fetched) reads the configuration; V(deployed) makes the switch hold O(src) or O(content).
    type: str
    choices: [fetched, deployed]
    default: fetched
  transfer:
    description: Protocol the switch uses to copy its configuration to or from the node.
    type: str
    choices: [ftp, tftp]
    default: ftp
  server_address:
    description:
      - Node address the FTP/TFTP server binds to and the switch connects to. Default is the node's address on the
        route to O(host) (10.31.81.1 on a Wild Sage node).
    type: str
  ftp_port:
    description: FTP control port (a port other than 21 is put in the URL as C(host:port), unconfirmed on hardware).
    type: int
    default: 21
  tftp_port:
    description: TFTP port.
    type: int
    default: 69
  transfer_timeout:
    description: Seconds to wait for one C(copy) to finish.
    type: int
    default: 300
  dest:
    description: With O(state=fetched), write the configuration to this file on the node (mode 0600).
    type: path
  src:
    description: With O(state=deployed), path on the node of the configuration to deploy.
    type: path
  content:
    description: With O(state=deployed), the configuration text to deploy.
    type: str
  version:
    description:
      - Config version to carry in the CLI banner (rendered with O(banner_template)).
      - Required with O(compare=banner).
    type: str
  banner:
    description: Exact CLI banner text to set (one line, no double quote); overrides O(version)/O(banner_template).
    type: str
  banner_template:
    description: Banner text for O(version); C({version}) is replaced.
    type: str
    default: 'waggle config version: {version}'
  version_regex:
    description: Regular expression whose first group extracts the version from the banner.
    type: str
    default: '(?i)\bversion\s*[:=]?\s*v?([0-9][0-9A-Za-z._+~-]*)'
  compare:
    description:
      - V(config) pushes when the configuration or the banner differ; V(banner) pushes only when the banner's
        version differs from O(version) (idempotent on the version alone).
    type: str
    choices: [config, banner]
    default: config
  ignore_lines:
    description: Extra regular expressions; matching lines are ignored when comparing.
    type: list
    elements: str
    default: []
  apply:
    description:
      - V(reload) reloads the switch (answering C(n) to saving the running config, so the pushed startup-config
        stays) and waits for it to return; V(none) leaves the new startup-config for the next boot.
    type: str
    choices: [reload, none]
    default: reload
  reload_timeout:
    description: Seconds to wait for the switch to come back after C(reload) (also the reconnect budget after a drop).
    type: int
    default: 300
  backup_dir:
    description: Directory on the node for the pre-deployment backup (mode 0700).
    type: path
    default: /var/lib/honeycomb/edgeswitch
  backup_path:
    description: Exact backup file path (overrides O(backup_dir)).
    type: path
"""

EXAMPLES = r"""
- name: Back up the switch configuration to the node
  waggle.honeycomb.edgeswitch_config:
    state: fetched
    password: "{{ switch_password }}"
    dest: /var/lib/honeycomb/edgeswitch/current.cfg

- name: Deploy a versioned configuration over TFTP, reloading the switch
  waggle.honeycomb.edgeswitch_config:
    state: deployed
    password: "{{ switch_password }}"
    content: "{{ lookup('ansible.builtin.template', 'edgeswitch.cfg.j2') }}"
    version: "1.4.0"
    transfer: tftp
    apply: reload

- name: Deploy only if the banner's version differs
  waggle.honeycomb.edgeswitch_config:
    state: deployed
    password: "{{ switch_password }}"
    src: /tmp/switch.cfg
    version: "1.4.0"
    compare: banner
"""

RETURN = r"""
config:
  description: The startup-config text as fetched (O(state=fetched)).
  returned: state is fetched
  type: str
banner:
  description: The CLI banner the switch has at the end.
  returned: success
  type: str
version:
  description: The config version parsed from the banner at the end (null when none).
  returned: success
  type: str
previous_version:
  description: The version parsed from the banner before a deployment.
  returned: state is deployed
  type: str
dest:
  description: Where the fetched configuration was written.
  returned: state is fetched and dest is set
  type: str
backup_path:
  description: The backup of the previous configuration on the node.
  returned: when a deployment pushed something
  type: str
switch_config:
  description: >-
    Which configuration the switch holds at the end: V(previous), V(new), V(unknown), or
    V(new (unverified: the switch is unreachable)). Also returned on failure.
  returned: state is deployed
  type: str
restored:
  description: Whether the backup was pushed back after a failure.
  returned: state is deployed
  type: bool
reloaded:
  description: Whether the switch was reloaded and came back.
  returned: when apply is reload and a push happened
  type: bool
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import cli as es_cli
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import config as es_cfg
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import lock as es_lock
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import requirements as es_requirements
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.engine import DeployFailed, Engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import EdgeSwitchError


def argument_spec():
    spec = dict(es_cli.connection_argument_spec(), **es_lock.lock_argument_spec())
    spec.update(
        state=dict(type="str", choices=["fetched", "deployed"], default="fetched"),
        transfer=dict(type="str", choices=["ftp", "tftp"], default="ftp"),
        server_address=dict(type="str"),
        ftp_port=dict(type="int", default=21),
        tftp_port=dict(type="int", default=69),
        transfer_timeout=dict(type="int", default=300),
        dest=dict(type="path"),
        src=dict(type="path"),
        content=dict(type="str"),
        version=dict(type="str"),
        banner=dict(type="str"),
        banner_template=dict(type="str", default=es_cfg.DEFAULT_BANNER_TEMPLATE),
        version_regex=dict(type="str", default=es_cfg.DEFAULT_VERSION_REGEX),
        compare=dict(type="str", choices=["config", "banner"], default="config"),
        ignore_lines=dict(type="list", elements="str", default=[]),
        apply=dict(type="str", choices=["reload", "none"], default="reload"),
        reload_timeout=dict(type="int", default=300),
        backup_dir=dict(type="path", default="/var/lib/honeycomb/edgeswitch"),
        backup_path=dict(type="path"),
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[["src", "content"]],
        required_if=[["state", "deployed", ["src", "content"], True], ["compare", "banner", ["version"]]],
        supports_check_mode=True,
    )
    p = dict(module.params)
    p["check_mode"] = module.check_mode
    missing = es_requirements.missing_library(p["transfer"])
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]) + missing[1], exception=str(missing[2]))
    engine = Engine(p)
    if p["banner"] is not None or p["version"] is not None:
        problem = es_cfg.check_banner_text(engine.desired_banner())
        if problem:
            module.fail_json(msg="invalid banner/version: %s" % problem)
    try:
        if p["state"] == "fetched":
            result = engine.run_fetched()
        else:
            if p["src"] is not None:
                try:
                    with open(p["src"], "rb") as handle:
                        desired = handle.read().decode("utf-8")
                except (IOError, OSError, UnicodeDecodeError) as exc:
                    module.fail_json(msg="cannot read src %s: %s" % (p["src"], exc))
            else:
                desired = p["content"]
            if not es_cfg.normalise(desired):
                module.fail_json(msg="the configuration to deploy is empty (only comments or blank lines): "
                                     "refusing to push it")
            result = engine.run_deployed(desired)
            if not module._diff:
                result.pop("diff", None)
    except DeployFailed as exc:
        result = exc.result
        result.pop("diff", None)
        engine.disconnect()
        module.fail_json(msg=str(exc), **result)
    except EdgeSwitchError as exc:
        engine.disconnect()
        module.fail_json(msg=str(exc), switch_config="previous" if p["state"] == "deployed" else None)
    except Exception as exc:  # keep the traceback for debugging, but never leave the session open
        engine.disconnect()
        module.fail_json(msg="unexpected error talking to the switch %s: %s" % (p["host"], exc),
                         exception=traceback.format_exc())
    engine.disconnect()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
