#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: edgeswitch_command
short_description: Run show commands on a Ubiquiti EdgeSwitch and parse the common ones
version_added: 0.1.0
description:
  - Runs on a Wild Sage node, logs in to the node's EdgeSwitch CLI with C(pexpect) over ssh or telnet, enters
    privileged mode, turns paging off (and pages through anyway if the switch keeps paging) and runs O(commands).
  - Returns the raw output of each command, and parsed fields for C(show version), C(show sysinfo),
    C(show clibanner) and C(show running-config) (hostname, banner line, interface descriptions); abbreviations
    such as C(sh ver) are recognised.
  - Only C(show), C(ping) and C(traceroute) commands run unless O(allow_config=true); then any command runs and
    C((y/n)) questions are answered C(y), so C(configure), C(set clibanner ...), C(exit) and C(write memory) work.
author:
  - waggle.honeycomb developers (@waggle-sensor)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - waggle.honeycomb._edgeswitch
attributes:
  check_mode:
    support: partial
    details: Read-only commands run in check mode; with configuration commands nothing runs and the module reports a change.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  commands:
    description: CLI commands, in order.
    type: list
    elements: str
    required: true
  allow_config:
    description: Allow commands other than show/ping/traceroute (the module then reports a change).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read the switch's version and banner
  waggle.honeycomb.edgeswitch_command:
    password: "{{ switch_password }}"
    commands:
      - show version
      - show clibanner
  register: sw

- name: Show the firmware
  ansible.builtin.debug:
    msg: "{{ sw.parsed.version.software_version }}"
"""

RETURN = r"""
stdout:
  description: Raw output of each command (without the echoed command and the prompt), in order.
  returned: always
  type: list
  elements: str
stdout_lines:
  description: RV(stdout) split into lines.
  returned: always
  type: list
  elements: list
parsed:
  description: >-
    Parsed output by kind: C(version) and C(sysinfo) (dict of snake_case labels, e.g. C(software_version),
    C(machine_model)), C(clibanner) (the banner text), C(running_config) (C(hostname), C(banner),
    C(system_description), C(software_version), C(interfaces)), C(bootvar) (C(active) and C(backup) image
    versions, C(next) the slot the next boot starts).
  returned: always
  type: dict
prompt_name:
  description: The name in the switch's prompt (its hostname).
  returned: always
  type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import cli as es_cli
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import requirements as es_requirements
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import EdgeSwitchError
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.parsers import parse_output

READ_ONLY = re.compile(r"^\s*(sh(o(w)?)?|pi(n(g)?)?|tr(a(c(e(r(o(u(t(e)?)?)?)?)?)?)?)?)(\s|$)", re.I)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            es_cli.connection_argument_spec(),
            commands=dict(type="list", elements="str", required=True),
            allow_config=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    missing = es_requirements.missing_library()
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=str(missing[2]))
    commands = [c.strip() for c in p["commands"] if c and c.strip()]
    if not commands:
        module.fail_json(msg="commands is empty: give at least one CLI command")
    config = [c for c in commands if not READ_ONLY.match(c)]
    if config and not p["allow_config"]:
        module.fail_json(msg="refusing to run %s: only show, ping and traceroute commands run unless "
                             "allow_config is true" % ", ".join(repr(c) for c in config))
    if config and module.check_mode:
        module.exit_json(changed=True, stdout=[], stdout_lines=[], parsed={}, prompt_name=None,
                         msg="check mode: configuration commands not run")
    cli = es_cli.cli_from_params(p)
    outputs = []
    parsed = {}
    try:
        cli.open()
        for command in commands:
            out = cli.command(command, answers=[(r".", "y")] if p["allow_config"] else None)
            outputs.append(out)
            name, value = parse_output(command, out)
            if name:
                parsed[name] = value
    except EdgeSwitchError as exc:
        cli.abort()
        module.fail_json(msg=str(exc), stdout=outputs, failed_command=commands[len(outputs)]
                         if len(outputs) < len(commands) else None)
    prompt_name = cli.hostname
    cli.close()
    module.exit_json(changed=bool(config), stdout=outputs, stdout_lines=[o.split("\n") for o in outputs],
                     parsed=parsed, prompt_name=prompt_name)


if __name__ == "__main__":
    main()
