# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private doc fragments: EdgeSwitch CLI options of the edgeswitch modules (DOCUMENTATION), and the
per-switch lock options of edgeswitch_config and edgeswitch_firmware (LOCK, used as ``_edgeswitch.lock``).

They mirror ``connection_argument_spec()`` in ``module_utils/_edgeswitch/cli.py`` and
``lock_argument_spec()`` in ``module_utils/_edgeswitch/lock.py`` (validate-modules and
tests/unit/plugins/doc_fragments compare them); no API promise outside this collection.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
requirements:
  - pexpect
  - an OpenSSH client (O(connection=ssh))
options:
  host:
    description: Address of the switch as seen from the node.
    type: str
    default: 10.31.81.2
  port:
    description: CLI port; defaults to 22 for ssh and 23 for telnet.
    type: int
  connection:
    description: How to reach the CLI.
    type: str
    choices: [ssh, telnet]
    default: ssh
  username:
    description: CLI user.
    type: str
    default: ubnt
  password:
    description: CLI password.
    type: str
    required: true
  enable_password:
    description: Password for C(enable), when the switch asks for one.
    type: str
  host_key_checking:
    description:
      - SSH host-key policy. V(strict) requires the key in O(known_hosts_file), V(accept-new) records an unknown
        key and refuses a changed one, V(off) accepts any key and records nothing.
    type: str
    choices: [strict, accept-new, 'off']
    default: accept-new
  known_hosts_file:
    description: known_hosts file for the switch's key (default the OpenSSH default of the user running the module).
    type: path
  legacy_algorithms:
    description:
      - Add the switch's legacy algorithms (key exchange C(diffie-hellman-group1-sha1), C(diffie-hellman-group14-sha1),
        host keys C(ssh-rsa), C(ssh-dss)) for this connection only, as far as the local ssh client supports them.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the CLI to answer a command or the login.
    type: int
    default: 30
"""

    LOCK = r"""
options:
  lock_dir:
    description:
      - Directory on the node for the per-switch lock file C(switch-<host>.lock). One run at a time drives a
        switch; a second run waits for the first (a re-run after a dropped tunnel finds the first run still
        finishing on the node) instead of sharing its CLI and its FTP/TFTP port.
      - The lock is released when its run ends or dies (power cut included); nothing to clean up.
    type: path
    default: /run/lock/honeycomb
  lock_timeout:
    description:
      - Seconds to wait for another run on the same switch before failing with a message naming it (pid,
        module, start time). V(0) tries once.
    type: int
    default: 600
"""
