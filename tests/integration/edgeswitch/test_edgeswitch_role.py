"""playbooks/switch_backup.yml and switch_deploy.yml (role waggle.honeycomb.edgeswitch) on a node namespace."""

from hctest.edgeswitch import SWITCH_PASSWORD
from hctest.playbook import REPO


def role_vars(switch, **extra):
    v = {"edgeswitch_password": SWITCH_PASSWORD, "edgeswitch_known_hosts_file": str(switch.known_hosts),
         "edgeswitch_node_dir": str(switch.base / "node-dir"), "edgeswitch_backup_root": str(switch.base / "backups"),
         "edgeswitch_backup_name": "W0AB", "edgeswitch_reload_timeout": 60}
    v.update(extra)
    return v


def test_backup_playbook_keeps_the_newest(switch):
    for _run in range(2):
        res = switch.run_playbook(str(REPO / "playbooks" / "switch_backup.yml"),
                                  extra_vars=role_vars(switch, edgeswitch_backup_keep=1))
        assert res.rc == 0, res.output
    files = sorted((switch.base / "backups" / "W0AB").glob("switch-*.cfg"))
    assert len(files) == 1
    assert files[0].read_text() == switch.startup_config()


def test_deploy_playbook_renders_and_carries_the_version(switch):
    template = switch.base / "switch.cfg.j2"
    template.write_text(switch.startup_config().replace("description 'lidar'", "description '{{ lidar_name }}'"))
    res = switch.run_playbook(str(REPO / "playbooks" / "switch_deploy.yml"), extra_vars=role_vars(
        switch, edgeswitch_config_template=str(template), edgeswitch_config_version="7.1.0",
        edgeswitch_apply="none", lidar_name="lidar-2"))
    assert res.rc == 0, res.output
    task = "waggle.honeycomb.edgeswitch : Deploy the switch configuration 7.1.0"
    assert res.result(task, "node")["changed"] is True
    assert "description 'lidar-2'" in switch.startup_config()
    assert switch.banner() == "waggle config version: 7.1.0"
    res = switch.run_playbook(str(REPO / "playbooks" / "switch_deploy.yml"), extra_vars=role_vars(
        switch, edgeswitch_config_template=str(template), edgeswitch_config_version="7.1.0",
        edgeswitch_apply="none", lidar_name="lidar-2"))
    assert res.rc == 0, res.output
    assert res.result(task, "node")["changed"] is False
