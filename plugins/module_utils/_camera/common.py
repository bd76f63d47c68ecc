# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options, checks and the driver factory shared by the camera modules (node side, Python 3.6+)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import sunapi, vapix

DRIVERS = ("sunapi", "vapix")


def connection_argument_spec():
    return dict(
        host=dict(type="str", default="10.31.81.10"),
        port=dict(type="int"),
        use_https=dict(type="bool", default=False),
        validate_certs=dict(type="bool", default=True),
        username=dict(type="str", default="admin", fallback=(env_fallback, ["WAGGLE_CAMERA_ADMIN"])),
        password=dict(type="str", required=True, no_log=True,
                      fallback=(env_fallback, ["WAGGLE_CAMERA_ADMIN_PASSWORD"])),
        driver=dict(type="str", default="sunapi", choices=list(DRIVERS)),
        channel=dict(type="int", default=0),
        timeout=dict(type="float", default=10.0),
        digest_algorithm=dict(type="str", default="auto", choices=["auto", "MD5", "SHA-256"]),
        accept_json=dict(type="bool", default=True),
    )


def check_numbers(module, positive=(), non_negative=(), **fail_extra):
    """Fails the module naming the first option that is not positive / not 0 or more."""
    p = module.params
    for key in positive:
        if p[key] is not None and p[key] <= 0:
            module.fail_json(msg="%s must be positive, got %s" % (key, p[key]), **fail_extra)
    for key in non_negative:
        if p[key] is not None and p[key] < 0:
            module.fail_json(msg="%s must be 0 or more, got %s" % (key, p[key]), **fail_extra)


def make_driver(module):
    """Builds the driver from module params; fails the module for a missing library."""
    p = module.params
    if sunapi.requests is None:
        module.fail_json(msg=missing_required_lib("requests"), exception=sunapi.REQUESTS_IMPORT_ERROR)
    port = p["port"] or (443 if p["use_https"] else 80)
    if not 1 <= port <= 65535:
        module.fail_json(msg="port=%d is not a TCP port (1..65535)" % port)
    check_numbers(module, positive=("timeout",), non_negative=("channel",))
    cls = vapix.VapixDriver if p["driver"] == "vapix" else sunapi.SunapiDriver
    return cls(p["host"], port=port, username=p["username"], password=p["password"], channel=p["channel"],
               timeout=p["timeout"], use_https=p["use_https"], validate_certs=p["validate_certs"],
               digest_algorithm=p["digest_algorithm"], accept_json=p["accept_json"])


def fail(module, exc, **extra):
    """Fails the module with a CameraError's message and its kind (auth, lockout, no_ptz, ...)."""
    module.fail_json(msg=str(exc), error_kind=getattr(exc, "kind", "error"), error_code=getattr(exc, "code", None),
                     **extra)


def exit_with_result(module, result, drop=()):
    """Exits the module with a manager's result (a dict with 'warnings', 'before' and 'after'): the warnings
    become module warnings, the keys in drop are left out, and in diff mode before/after are the diff."""
    for warning in result.pop("warnings"):
        module.warn(warning)
    for key in drop:
        result.pop(key, None)
    if module._diff:
        result["diff"] = {"before": result["before"], "after": result["after"]}
    module.exit_json(**result)
