"""The AWX catch-up schedule of playbooks/awx_configure.yml: defined on the upgrade job template with a valid
rrule, and what its task sends once rendered. There is no AWX here: the playbook runs against stand-in awx.awx
modules that return the arguments they were given (test_awx.py checks the argument names against a real
awx.awx when one is installed)."""

import re
import sys

import yaml
from hctest.playbook import COLLECTIONS, REPO, run_playbook

PLAYBOOK = REPO / "playbooks" / "awx_configure.yml"
TASK = "Schedule - catch-up of the upgrade for nodes not yet at the target version"
# RFC 5545 as AWX accepts it: DTSTART (UTC, or with TZID) then one RRULE with FREQ
RRULE = re.compile(r"^DTSTART(;TZID=[A-Za-z_/+-]+:\d{8}T\d{6}|:\d{8}T\d{6}Z) RRULE:(?=.*\bFREQ=(MINUTELY|HOURLY|DAILY|"
                   r"WEEKLY|MONTHLY|YEARLY)\b)[A-Z]+=[A-Za-z0-9,+-]+(;[A-Z]+=[A-Za-z0-9,+-]+)*$")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _play():
    return yaml.load(PLAYBOOK.read_text(), Loader=_Loader)[0]


def _echo_stubs(root, modules):
    coll = root / "ansible_collections" / "awx" / "awx"
    (coll / "plugins" / "modules").mkdir(parents=True)
    (coll / "meta").mkdir()
    (coll / "meta" / "runtime.yml").write_text("requires_ansible: '>=2.15'\n")
    (coll / "galaxy.yml").write_text("namespace: awx\nname: awx\nversion: 0.0.0\n")
    for m in modules:
        (coll / "plugins" / "modules" / (m + ".py")).write_text(
            "#!/usr/bin/python\nfrom ansible.module_utils.basic import AnsibleModule, _load_params\n"
            "spec = dict((k, {'type': 'raw'}) for k in _load_params() if not k.startswith('_'))\n"
            "module = AnsibleModule(argument_spec=spec)\n"
            "module.exit_json(changed=False, args=dict((k, v) for k, v in module.params.items()))\n")


def test_the_schedule_reruns_the_upgrade_template_and_its_default_rrule_is_valid():
    play = _play()
    tasks = {t["name"]: t for t in play["tasks"]}
    schedule = tasks[TASK]["awx.awx.schedule"]
    templates = [t["awx.awx.job_template"]["name"] for t in play["tasks"] if "awx.awx.job_template" in t]
    assert schedule["unified_job_template"] == "{{ awx_prefix }} upgrade" and schedule["unified_job_template"] in templates
    upgrade = next(t["awx.awx.job_template"] for t in play["tasks"]
                   if t.get("awx.awx.job_template", {}).get("name") == "{{ awx_prefix }} upgrade")
    # a schedule's extra_data and limit are prompts: the template must ask for them
    assert upgrade["ask_variables_on_launch"] is True and upgrade["ask_limit_on_launch"] is True
    assert RRULE.match(play["vars"]["awx_catch_up_rrule"]), play["vars"]["awx_catch_up_rrule"]
    assert play["vars"]["awx_catch_up_payload"] == ""  # no payload configured: no schedule
    names = [t["name"] for t in play["tasks"]]
    assert names.index(TASK) > names.index("Job template - upgrade (canary, batches, thresholds)")


def test_the_rendered_schedule(tmp_path):
    modules = {k.split(".")[-1] for t in _play()["tasks"] for k in t if k.startswith("awx.awx.")}
    _echo_stubs(tmp_path / "stub", modules)
    hosts = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
    env = {"ANSIBLE_COLLECTIONS_PATH": "%s:%s" % (tmp_path / "stub", COLLECTIONS)}

    res = run_playbook(PLAYBOOK, hosts, env=env, extra_vars={
        "awx_catch_up_payload": "payloads/camera-2.0.0.tar.gz", "awx_catch_up_limit": "sage_nodes",
        "awx_catch_up_rrule": "DTSTART;TZID=America/Chicago:20260101T030000 RRULE:FREQ=DAILY;INTERVAL=1",
        "awx_catch_up_extra_vars": {"rollout_batches": "[1, \"100%\"]", "max_fail_percentage": 20}})
    assert res.rc == 0, res.output
    args = res.result(TASK, "localhost")["args"]
    assert args["state"] == "present" and args["enabled"] is True and args["name"] == "Honeycomb catch-up"
    assert args["unified_job_template"] == "Honeycomb upgrade" and args["organization"] == "Waggle"
    assert args["extra_data"] == {"payload": "payloads/camera-2.0.0.tar.gz", "rollout_batches": "[1, \"100%\"]",
                                  "max_fail_percentage": 20}
    assert args["limit"] == "sage_nodes" and RRULE.match(args["rrule"])
    assert "camera-2.0.0" in args["description"]

    # no payload: the schedule is removed (an old one must not keep re-running a previous release)
    res = run_playbook(PLAYBOOK, hosts, env=env)
    assert res.rc == 0, res.output
    args = res.result(TASK, "localhost")["args"]
    assert args["state"] == "absent" and "limit" not in args and RRULE.match(args["rrule"])
