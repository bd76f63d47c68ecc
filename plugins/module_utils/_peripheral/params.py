# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parameters every peripheral handler reads the same way (node side, Python 3.6+, stdlib only).

A handler gets the payload's parameters as a dict of strings (``HC_PARAM_*``) plus ``payload_dir``.
Each helper raises :class:`HandlerError` with a message naming the parameter and what to set.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import HandlerError


def secret(params, device, env=None):
    """The device password: parameter ``password``, else the file named by ``password_file``, else the
    environment variable ``env`` (when given). ``device`` names the device in the error ("camera")."""
    if params.get("password"):
        return params["password"]
    path = params.get("password_file")
    if path:
        try:
            with open(path) as handle:
                return handle.read().strip()
        except (IOError, OSError) as exc:
            raise HandlerError("cannot read password_file %s: %s" % (path, exc))
    if env and os.environ.get(env):
        return os.environ[env]
    raise HandlerError("no %s password: pass password as a secret parameter (secret_parameters: {password: "
                       "...}) or password_file" % device)


def image(params, suffix):
    """The firmware image: parameter ``image`` (relative to the payload directory or absolute), else the
    only ``firmware/*<suffix>`` file in the payload."""
    payload_dir = params.get("payload_dir") or "."
    name = params.get("image")
    if name:
        return name if os.path.isabs(name) else os.path.join(payload_dir, name)
    found = sorted(glob.glob(os.path.join(payload_dir, "firmware", "*" + suffix)))
    if len(found) != 1:
        raise HandlerError("expected exactly one firmware/*%s in the payload, found %d: set parameter image"
                           % (suffix, len(found)))
    return found[0]
