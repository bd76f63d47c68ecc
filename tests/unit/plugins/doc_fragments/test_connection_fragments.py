"""The private connection doc fragments document exactly the shared argument specs, passwords stay no_log,
and each module of an area takes both the fragment and the spec."""

import ast
import pathlib

import pytest
import yaml

from ansible_collections.waggle.honeycomb.plugins.doc_fragments import _camera as camera_doc
from ansible_collections.waggle.honeycomb.plugins.doc_fragments import _edgeswitch as edgeswitch_doc
from ansible_collections.waggle.honeycomb.plugins.module_utils._camera import common as camera_common
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import cli as edgeswitch_cli

MODULES = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "modules"

CASES = {
    "camera": (camera_doc, camera_common.connection_argument_spec, ("password",),
               ("camera_info", "camera_ptz", "camera_firmware", "camera_snapshot")),
    "edgeswitch": (edgeswitch_doc, edgeswitch_cli.connection_argument_spec, ("password", "enable_password"),
                   ("edgeswitch_command", "edgeswitch_config", "edgeswitch_firmware")),
}


@pytest.mark.parametrize("area", sorted(CASES))
def test_fragment_documents_the_spec(area):
    fragment, spec_fn, dummy, dummy2 = CASES[area]
    documented = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]
    spec = spec_fn()
    assert sorted(documented) == sorted(spec)
    for name, arg in spec.items():
        doc = documented[name]
        assert doc["type"] == arg["type"], name
        assert doc.get("default") == arg.get("default"), name
        assert doc.get("choices") == arg.get("choices"), name
        assert bool(doc.get("required")) == bool(arg.get("required")), name


@pytest.mark.parametrize("area", sorted(CASES))
def test_passwords_are_no_log(area):
    dummy, spec_fn, secrets, dummy2 = CASES[area]
    spec = spec_fn()
    assert sorted(k for k, v in spec.items() if v.get("no_log")) == sorted(secrets)


def _doc_fragments_of(module):
    tree = ast.parse((MODULES / (module + ".py")).read_text())
    text = next(node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and node.targets[0].id == "DOCUMENTATION")
    return yaml.safe_load(text)["extends_documentation_fragment"]


@pytest.mark.parametrize("area", sorted(CASES))
def test_both_modules_use_fragment_and_spec(area):
    dummy, spec_fn, dummy2, modules = CASES[area]
    for module in modules:
        assert "waggle.honeycomb._%s" % area in _doc_fragments_of(module), module
        assert "connection_argument_spec()" in (MODULES / (module + ".py")).read_text(), module


def test_switch_lock_fragment_documents_the_lock_spec_and_both_changing_modules_take_them():
    from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import lock as edgeswitch_lock
    documented = yaml.safe_load(edgeswitch_doc.ModuleDocFragment.LOCK)["options"]
    spec = edgeswitch_lock.lock_argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, arg in spec.items():
        assert (documented[name]["type"], documented[name].get("default")) == (arg["type"], arg.get("default")), name
    for module in ("edgeswitch_config", "edgeswitch_firmware"):
        assert "waggle.honeycomb._edgeswitch.lock" in _doc_fragments_of(module), module
