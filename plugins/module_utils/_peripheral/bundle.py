# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``collection_code`` adds to a payload: node-side packages of this collection under ``hc_lib/``
and the ``hc-peripheral`` launcher (controller side; used by the payload builder)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

LIB_DIR = "hc_lib"
LAUNCHER = "hc-peripheral"
PACKAGE_PATH = ("ansible_collections", "waggle", "honeycomb", "plugins", "module_utils")
ALWAYS = ("_peripheral",)

LAUNCHER_TEXT = b"""#!/bin/sh
# Runs a node-side handler of the waggle.honeycomb collection shipped in this payload (hc_lib/).
# Usage: ./hc-peripheral <handler> <state|install|verify|rollback>   (docs/firmware.md)
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here/hc_lib${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec "${HC_PYTHON:-python3}" -B -m ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral.cli "$@"
"""


class BundleError(ValueError):
    pass


def module_utils_dir():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def entries(packages):
    """-> (dirs, files): dirs are payload-relative directory names, files are
    (relative name, path on disk or bytes, mode) for the launcher, the package ``__init__.py``
    chain and every ``.py`` file of ``_peripheral`` and the listed module_utils packages."""
    if not isinstance(packages, (list, tuple)) or not all(isinstance(p, str) for p in packages):
        raise BundleError("collection_code must be a list of module_utils package names, e.g. [_camera]")
    root = module_utils_dir()
    wanted = list(ALWAYS) + [p for p in packages if p not in ALWAYS]
    dirs = [LIB_DIR]
    files = [(LAUNCHER, LAUNCHER_TEXT, 0o755)]
    rel = LIB_DIR
    for part in PACKAGE_PATH:
        rel = rel + "/" + part
        dirs.append(rel)
        files.append((rel + "/__init__.py", b"", 0o644))
    for pkg in wanted:
        if not re.match(r"^_[a-z][a-z0-9_]*$", pkg) or not os.path.isdir(os.path.join(root, pkg)):
            known = sorted(n for n in os.listdir(root) if n.startswith("_") and os.path.isdir(os.path.join(root, n))
                           and n != "__pycache__")
            raise BundleError("collection_code: %r is not a module_utils package of this collection (known: %s)"
                              % (pkg, ", ".join(known)))
        pkg_rel = rel + "/" + pkg
        dirs.append(pkg_rel)
        for name in sorted(os.listdir(os.path.join(root, pkg))):
            if name.endswith(".py"):
                files.append((pkg_rel + "/" + name, os.path.join(root, pkg, name), 0o644))
    return dirs, files
