"""playbooks/awx_configure.yml: syntax, and every awx.awx task's arguments against the modules' documented options.

awx.awx is not installed here and there is no AWX: the syntax check runs against stub awx.awx modules;
the argument check needs a real awx.awx (``ansible-galaxy collection install awx.awx`` or a path in
HONEYCOMB_AWX_COLLECTIONS) and is skipped without one.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hctest.playbook import COLLECTIONS, REPO

PLAYBOOK = REPO / "playbooks" / "awx_configure.yml"
COMMON = {"controller_host", "controller_username", "controller_password", "controller_oauthtoken",
          "validate_certs", "controller_config_file", "request_timeout", "aap_token"}


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def awx_tasks():
    plays = yaml.load(PLAYBOOK.read_text(), Loader=_Loader)
    for play in plays:
        for task in play.get("tasks", []):
            for key, args in task.items():
                if key.startswith("awx.awx."):
                    yield task["name"], key.split(".")[-1], args


def real_awx_collections():
    for base in filter(None, [os.environ.get("HONEYCOMB_AWX_COLLECTIONS"),
                              os.path.expanduser("~/.ansible/collections"), "/usr/share/ansible/collections"]):
        if (Path(base) / "ansible_collections" / "awx" / "awx" / "plugins" / "modules" / "job_template.py").exists():
            return base
    return None


def make_stub(root, modules):
    coll = root / "ansible_collections" / "awx" / "awx"
    (coll / "plugins" / "modules").mkdir(parents=True)
    (coll / "meta").mkdir()
    (coll / "meta" / "runtime.yml").write_text(yaml.safe_dump(
        {"requires_ansible": ">=2.15", "action_groups": {"controller": sorted(modules)}}))
    (coll / "galaxy.yml").write_text("namespace: awx\nname: awx\nversion: 0.0.0\n")
    for m in modules:
        (coll / "plugins" / "modules" / (m + ".py")).write_text(
            "#!/usr/bin/python\nfrom ansible.module_utils.basic import AnsibleModule\n"
            "AnsibleModule(argument_spec={}, check_invalid_arguments=False).exit_json()\n")


def test_awx_configure_is_syntax_valid(tmp_path):
    modules = {m for _name, m, _args in awx_tasks()}
    assert {"project", "inventory_source", "credential_type", "job_template", "workflow_job_template"} <= modules
    base = real_awx_collections()
    if base is None:
        base = str(tmp_path / "stub")
        make_stub(Path(base), modules)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH="%s:%s" % (base, COLLECTIONS))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "-i",
                           "localhost,", str(PLAYBOOK)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_awx_configure_defines_the_rollout_objects():
    tasks = {(m, a.get("name")): a for _name, m, a in awx_tasks()}
    upgrade = tasks[("job_template", "{{ awx_prefix }} upgrade")]
    assert upgrade["playbook"] == "playbooks/upgrade.yml" and upgrade["survey_enabled"] is True
    source = tasks[("inventory_source", "Beekeeper")]
    assert source["source"] == "scm" and source["source_path"] == "{{ awx_inventory_source_path }}"
    assert (REPO / "inventories" / "production.beekeeper.yml").exists()
    types = {a["name"]: a for (m, _name), a in tasks.items() if m == "credential_type"}
    injected = set()
    for t in types.values():
        injected |= set(t["injectors"].get("extra_vars", {})) | set(t["injectors"].get("env", {}))
    assert {"edgeswitch_username", "edgeswitch_password", "camera_username", "camera_password",
            "WAGGLE_BEEKEEPER_TOKEN", "WAGGLE_BASTION_HOST"} <= injected
    for t in types.values():  # secrets are marked secret
        for field in t["inputs"]["fields"]:
            if "password" in field["id"] or field["id"] == "token":
                assert field.get("secret") is True, field
    wf = tasks[("workflow_job_template", "{{ awx_prefix }} rollout")]
    nodes = {n["identifier"]: n for n in wf["workflow_nodes"]}
    assert nodes["sanity"]["related"]["success_nodes"] == [{"identifier": "upgrade"}]
    assert nodes["upgrade"]["related"]["always_nodes"] == [{"identifier": "report"}]
    survey_vars = [q["variable"] for q in wf["survey_spec"]["spec"]]
    assert survey_vars == ["payload", "rollout_batches", "max_fail_percentage", "max_unreachable_percentage",
                           "rollout_sanity_gate"]
    rollback = tasks[("job_template", "{{ awx_prefix }} rollback")]
    assert rollback["playbook"] == "playbooks/rollback.yml" and rollback["ask_limit_on_launch"] is True
    questions = {q["variable"]: q for q in rollback["survey_spec"]["spec"]}
    assert set(questions) == {"rollout_hosts", "rollback_peripheral", "rollback_version"}
    assert questions["rollout_hosts"]["required"] and questions["rollback_peripheral"]["required"]
    # every job template the workflow names is defined, and its playbook exists
    templates = {a["name"]: a for (m, _name), a in tasks.items() if m == "job_template"}
    for node in nodes.values():
        tpl = templates[node["unified_job_template"]["name"]]
        assert (REPO / tpl["playbook"]).exists(), tpl["playbook"]


def _options(collections, module):
    src = (Path(collections) / "ansible_collections" / "awx" / "awx" / "plugins" / "modules" / (module + ".py"))
    text = src.read_text()
    start = text.index("DOCUMENTATION")
    doc = yaml.safe_load(text[text.index("'''", start) + 3 if "'''" in text[start:start + 30]
                              else text.index('"""', start) + 3:].split("'''")[0].split('"""')[0])
    return doc


def test_awx_task_arguments_match_the_awx_modules():
    base = real_awx_collections()
    if base is None:
        pytest.skip("awx.awx is not installed: set HONEYCOMB_AWX_COLLECTIONS to a collections path holding it")
    for name, module, args in awx_tasks():
        doc = _options(base, module)
        options = doc["options"]
        allowed = set(options) | COMMON
        for opt in options.values():
            allowed |= set(opt.get("aliases", []))
        unknown = set(args) - allowed
        assert not unknown, "%s: awx.awx.%s has no option(s) %s" % (name, module, sorted(unknown))
        if module == "workflow_job_template":
            sub = options["workflow_nodes"]["suboptions"]
            for node in args["workflow_nodes"]:
                assert set(node) <= set(sub), sorted(set(node) - set(sub))
        for key, value in args.items():
            choices = options.get(key, {}).get("choices")
            if choices and "{{" not in str(value):
                assert value in choices, (name, key, value, choices)
