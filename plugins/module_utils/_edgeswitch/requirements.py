# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of the node's Python libraries a switch run needs and lacks (runs on nodes, Python 3.6+).

The edgeswitch modules turn the answer into ``missing_required_lib``; nothing here imports Ansible, so
the switch-firmware payload can ask too."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import cli
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import servers


def missing_library(transfer=None):
    """The first library a run lacks, as ``(name, advice, import error)``, or None.

    ``transfer`` is the run's file transfer (``ftp``, ``tftp``), or None for a run that only drives the CLI.
    """
    if not cli.HAS_PEXPECT:
        return "pexpect", "", cli.PEXPECT_IMPORT_ERROR
    if transfer == "ftp" and not servers.HAS_PYFTPDLIB:
        return "pyftpdlib", " (or use transfer: tftp)", servers.PYFTPDLIB_IMPORT_ERROR
    if transfer == "tftp" and not servers.HAS_TFTPY:
        return "tftpy", " (or use transfer: ftp)", servers.TFTPY_IMPORT_ERROR
    return None
