# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EdgeSwitch (FASTPATH CLI) driver: pexpect CLI session, short-lived FTP/TFTP servers, config
comparison and show-command parsers. Runs on nodes: Python 3.6, stdlib plus guarded imports."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type
