# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PTZ camera support for waggle.honeycomb (node side, Python 3.6+)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type
