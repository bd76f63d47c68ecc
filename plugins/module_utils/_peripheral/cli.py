# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``hc-peripheral <handler> <phase>``: the node-side entry point payload scripts call.

A payload built with ``collection_code`` in its ``honeycomb.yml`` carries this package and the
handlers' packages under ``hc_lib/`` plus the ``hc-peripheral`` launcher, so its scripts are one
line each (docs/firmware.md):

    exec ./hc-peripheral camera-firmware state      # hc_state_check.sh
    exec ./hc-peripheral camera-firmware install    # hc_install_upgrade.sh
    exec ./hc-peripheral camera-firmware verify     # hc_verify_upgrade.sh

A handler is a module with ``handle(phase, params, log)``: ``params`` are the payload parameters
(``HC_PARAM_<NAME>`` lower-cased, plus ``payload_dir``, ``payload_version``, ``job_dir``, ...),
``log(text)`` writes a progress line, and the return value is a dict with ``status`` (see
``STATUS_EXIT``), ``msg`` and any facts (``version``, ``model``, ...). Raising ``_peripheral.HandlerError``
is a failure with its message. The exit code follows the payload contract of docs/payload-format.md.
Node side: Python 3.6+, standard library only (handlers may need more, e.g. requests).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib
import json
import os
import sys
import traceback

from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import HandlerError

_MU = "ansible_collections.waggle.honeycomb.plugins.module_utils."

# The registry: one line per peripheral handler.
HANDLERS = {
    "camera-firmware": _MU + "_camera.firmware_payload",
    "switch-firmware": _MU + "_edgeswitch.firmware_payload",
}

PHASES = ("state", "install", "verify", "rollback")

# status -> exit code. state: needed / already_applied / retry_later / failed;
# install, verify, rollback: ok / failed.
STATUS_EXIT = {"needed": 0, "ok": 0, "already_applied": 100, "retry_later": 21, "failed": 1}
EXIT_USAGE = 2
EXIT_CRASH = 3

ENV_FACTS = {"HC_PAYLOAD_DIR": "payload_dir", "HC_PAYLOAD_VERSION": "payload_version", "HC_PAYLOAD_NAME": "payload_name",
             "HC_PERIPHERAL": "peripheral", "HC_STATE_DIR": "state_dir", "HC_JOB_ID": "job_id", "HC_NODE_ID": "node_id",
             "HC_BACKUP_DIR": "backup_dir", "HC_RESUMED": "resumed", "HC_PHASE": "hc_phase"}


def params_from_env(environ):
    """HC_PARAM_FOO=bar -> {"foo": "bar"}; the engine's HC_* facts under readable names."""
    params = {}
    for key, value in environ.items():
        if key.startswith("HC_PARAM_"):
            params[key[len("HC_PARAM_"):].lower()] = value
    for key, name in ENV_FACTS.items():
        if key in environ:
            params.setdefault(name, environ[key])
    payload_dir = params.get("payload_dir") or os.getcwd()
    params.setdefault("payload_dir", payload_dir)
    params.setdefault("job_dir", os.path.dirname(os.path.abspath(payload_dir)))
    return params


def load_handler(name):
    if name not in HANDLERS:
        raise KeyError(name)
    return importlib.import_module(HANDLERS[name])


def run(argv, environ=None, out=None, err=None):
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    err = err or sys.stderr
    if len(argv) != 2 or argv[1] not in PHASES:
        err.write("usage: hc-peripheral <%s> <%s>\n" % ("|".join(sorted(HANDLERS)), "|".join(PHASES)))
        return EXIT_USAGE
    name, phase = argv
    try:
        handler = load_handler(name)
    except KeyError:
        err.write("hc-peripheral: unknown handler %r; known: %s\n" % (name, ", ".join(sorted(HANDLERS))))
        return EXIT_USAGE
    except ImportError as exc:
        err.write("hc-peripheral: handler %s cannot be loaded (%s): build the payload with collection_code "
                  "listing its package\n" % (name, exc))
        return EXIT_USAGE

    def log(text):
        out.write("%s\n" % text)
        out.flush()

    try:
        result = handler.handle(phase, params_from_env(environ), log)
    except HandlerError as exc:
        result = {"status": "failed", "msg": str(exc)}
    except Exception:  # pylint: disable=broad-except
        err.write(traceback.format_exc())
        result = {"status": "failed", "msg": "handler %s crashed in phase %s" % (name, phase), "crashed": True}
    status = result.get("status")
    allowed = ("needed", "already_applied", "retry_later", "failed") if phase == "state" else ("ok", "failed")
    if status not in allowed:
        err.write("hc-peripheral: handler %s returned status %r for phase %s (expected one of %s)\n"
                  % (name, status, phase, ", ".join(allowed)))
        return EXIT_CRASH
    summary = dict(result, handler=name, phase=phase)
    (err if status == "failed" else out).write("%s\n" % result.get("msg", status))
    out.write("HC-RESULT %s\n" % json.dumps(summary, sort_keys=True, default=str))
    out.flush()
    if result.get("crashed"):
        return EXIT_CRASH
    return STATUS_EXIT[status]


def main():
    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
