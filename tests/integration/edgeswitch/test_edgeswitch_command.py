"""edgeswitch_command against the simulator (module code run in the node namespace)."""

from hctest.edgeswitch import one_task


def args(switch, **extra):
    a = switch.module_args(**extra)
    for key in ("backup_dir", "reload_timeout", "lock_dir"):
        a.pop(key)
    return a


def test_show_commands_raw_and_parsed_through_the_pager(switch):
    switch.settings(honour_terminal_length=False)      # the switch keeps paging: the driver pages through
    (switch.state_dir / "cli.bnr").write_text("waggle config version: 5.6.7")
    r = switch.run_module("edgeswitch_command", args(
        switch, commands=["sh ver", "show clibanner", "show running-config"]))
    assert r["_rc"] == 0, r
    assert r["changed"] is False
    assert r["parsed"]["version"]["software_version"] == "1.9.2"
    assert r["parsed"]["version"]["machine_model"] == "ES-8-150W"
    assert r["parsed"]["clibanner"] == "waggle config version: 5.6.7"
    running = r["stdout"][2]
    assert "--More--" not in running and running.rstrip().endswith("exit")
    assert running.count("\ninterface 0/") == 4
    assert r["parsed"]["running_config"]["interfaces"]["0/8"]["description"] == "lidar"
    assert r["prompt_name"] == "UBNT EdgeSwitch"


def test_config_commands_refused_unless_allowed(switch):
    r = switch.run_module("edgeswitch_command", args(switch, commands=["show version", "configure"]))
    assert r["_rc"] != 0 and "allow_config" in r["msg"] and "'configure'" in r["msg"]
    r = switch.run_module("edgeswitch_command", args(switch, allow_config=True, commands=[
        "configure", 'set clibanner "waggle config version: 9"', "exit", "show clibanner"]))
    assert r["_rc"] == 0, r
    assert r["changed"] is True and r["parsed"]["clibanner"] == "waggle config version: 9"
    assert switch.banner() == "waggle config version: 9"


def test_rejected_command_is_reported(switch):
    r = switch.run_module("edgeswitch_command", args(switch, commands=["show nonsense"]))
    assert r["_rc"] != 0
    assert "Invalid input" in r["msg"] and r["failed_command"] == "show nonsense"


def test_through_ansible_playbook(switch):
    res = switch.run_playbook(one_task("waggle.honeycomb.edgeswitch_command", args(switch, commands=["show version"])))
    assert res.rc == 0, res.output
    assert res.result("switch", "node")["parsed"]["version"]["software_version"] == "1.9.2"
