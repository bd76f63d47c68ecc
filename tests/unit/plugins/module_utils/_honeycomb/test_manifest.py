"""Unit tests for the payload manifest rules: member names, v2 manifest validation, parameters."""

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import manifest as P


@pytest.mark.parametrize("name,ok", [
    ("a/b.txt", "a/b.txt"), ("./a/b.txt", "a/b.txt"), ("././a", "a"), ("./", ""), (".", ""),
    ("a//b", None), ("a/./b", None), ("a/../b", None), ("/a", None), ("..", None), ("a\\b", None),
    ("a\nb", None), ("a\x7fb", None), ("a/" + "x" * 256, None), ("/".join(["d"] * 40), None),
    ("caf\udce9", None),
])
def test_member_names(name, ok):
    if ok is None:
        with pytest.raises(P.PayloadError):
            P.normalise_member_name(name)
    else:
        assert P.normalise_member_name(name, is_dir=True) == ok


def _manifest(**extra):
    m = {"schema_version": 2, "name": "n", "version": "1", "peripheral": "p",
         "files": {"hc_state_check.sh": "0" * 64, "hc_install_upgrade.sh": "1" * 64, "hc_verify_upgrade.sh": "2" * 64}}
    m.update(extra)
    return m


def test_manifest_full_normalisation():
    m = P.validate_manifest(_manifest(
        phases={"install": {"timeout": 10, "retries": 2}, "rollback": {"timeout": 5}},
        files=dict(_manifest()["files"], **{"hc_rollback_upgrade.sh": "3" * 64}),
        state_check_codes={"already_applied": [100, 101], "retry_later": 21},
        backup_paths=["/etc/waggle/honeycomb"], restart_units=["waggle-foo.service"],
        **{"x-note": "extension"}))
    assert m["phases"]["install"] == {"script": "hc_install_upgrade.sh", "timeout": 10, "retries": 2,
                                      "interpreter": None}
    assert m["phases"]["rollback"]["timeout"] == 5
    assert m["state_check_codes"] == {"needed": [0], "already_applied": [100, 101], "retry_later": [21]}
    assert m["backup_paths"] == ["/etc/waggle/honeycomb"] and m["restart_units"] == ["waggle-foo.service"]
    assert m["legacy"] is False and m["parameters"] is None


def test_rollback_present_when_script_listed():
    m = P.validate_manifest(_manifest(files=dict(_manifest()["files"], **{"hc_rollback_upgrade.sh": "3" * 64})))
    assert m["phases"]["rollback"]["script"] == "hc_rollback_upgrade.sh"


@pytest.mark.parametrize("extra,match", [
    ({"schema_version": "2"}, "schema_version '2'"),
    ({"schema_version": True}, "schema_version True"),
    ({"name": ""}, "'name' must not be empty"),
    ({"version": 1.1}, "'version' must be a string"),
    ({"phases": {"install": {"timeout": -1}}}, "timeout"),
    ({"phases": {"install": {"timeout": True}}}, "timeout"),
    ({"phases": {"install": {"retries": 101}}}, "retries"),
    ({"phases": {"install": {"tries": 1}}}, "unknown keys tries"),
    ({"phases": {"cleanup": {}}}, "unknown keys cleanup"),
    ({"phases": {"rollback": {}}}, "rollback script hc_rollback_upgrade.sh is not listed"),
    ({"state_check_codes": {"needed": []}}, "at least one"),
    ({"state_check_codes": {"needed": [256]}}, "0..255"),
    ({"state_check_codes": {"retry_later": [0]}}, "both"),
    ({"state_check_codes": {"later": [3]}}, "unknown keys later"),
    ({"backup_paths": ["/etc/../root"]}, "normalised"),
    ({"backup_paths": ["/"]}, "normalised"),
    ({"backup_paths": ["/a", "/a"]}, "twice"),
    ({"restart_units": ["../evil.service"]}, "unit name"),
    ({"restart_units": ["-x"]}, "unit name"),
    ({"files": {}}, "files must be"),
    ({"files": {"a": "XYZ"}}, "SHA-256"),
    ({"files": {"./a": "0" * 64}}, "normalised"),
    ({"parameters": {"type": "array"}}, "object"),
])
def test_manifest_errors(extra, match):
    with pytest.raises(P.PayloadError, match=match) as err:
        P.validate_manifest(_manifest(**extra))
    assert err.value.member == "manifest.json"


# ---------------------------------------------------------------------------------------------
# parameters

SCHEMA = {"type": "object", "required": ["target"], "properties": {
    "target": {"type": "string", "description": "version to install"},
    "version_file": {"type": "string", "default": "/etc/waggle/honeycomb/version"},
    "count": {"type": "integer", "default": 3},
    "ratio": {"type": "number"},
    "force": {"type": "boolean", "default": False},
    "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
}}


def test_validate_parameters_env():
    env = P.validate_parameters(SCHEMA, {"target": "1.10", "count": "5", "ratio": 0.5, "force": "yes"})
    assert env == {"HC_PARAM_TARGET": "1.10", "HC_PARAM_VERSION_FILE": "/etc/waggle/honeycomb/version",
                   "HC_PARAM_COUNT": "5", "HC_PARAM_RATIO": "0.5", "HC_PARAM_FORCE": "true", "HC_PARAM_MODE": "safe"}
    assert P.validate_parameters(None, {}) == {}
    assert P.validate_parameters(None, None) == {}


@pytest.mark.parametrize("params,match", [
    ({}, "required parameter 'target' is missing"),
    ({"target": 1.1}, "must be a string.*quote it"),
    ({"target": "x", "count": "many"}, "'count' must be an integer"),
    ({"target": "x", "ratio": "fast"}, "'ratio' must be a number"),
    ({"target": "x", "force": "maybe"}, "'force' must be a boolean"),
    ({"target": "x", "mode": "reckless"}, "'mode' is 'reckless', which is not one of"),
    ({"target": "x", "colour": "red"}, "unknown parameter.*colour"),
    ("target=x", "must be a dict"),
])
def test_validate_parameters_errors(params, match):
    with pytest.raises(P.PayloadError, match=match):
        P.validate_parameters(SCHEMA, params)


def test_validate_parameters_none_schema_with_params():
    with pytest.raises(P.PayloadError, match="declares no parameters"):
        P.validate_parameters(None, {"a": 1})


@pytest.mark.parametrize("schema,match", [
    ({"properties": {"bad-name": {"type": "string"}}}, "must match"),
    ({"properties": {"a": {"type": "string"}, "A": {"type": "string"}}}, "both map to HC_PARAM_A"),
    ({"properties": {"a": {"type": "list"}}}, "type must be one of"),
    ({"properties": {"a": {"type": "string", "pattern": "x"}}}, "unsupported keys pattern"),
    ({"properties": {"a": {"type": "string", "enum": ["x"], "default": "y"}}}, "not one of its enum"),
    ({"properties": {"a": {"type": "integer", "default": "z"}}}, "must be an integer"),
    ({"properties": {}, "required": ["b"]}, "not in parameters.properties"),
    ({"properties": {}, "additionalProperties": True}, "additionalProperties"),
    ({"properties": {}, "oneOf": []}, "unsupported keys oneOf"),
])
def test_parameter_schema_errors(schema, match):
    with pytest.raises(P.PayloadError, match=match):
        P.validate_parameter_schema(schema)
