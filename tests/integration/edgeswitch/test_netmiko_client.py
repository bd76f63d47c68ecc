"""The simulator against a client nobody here wrote: netmiko's `ubiquiti_edgeswitch` driver (written
against real EdgeSwitches). Login with the banner in the session, enable, paging off, show commands,
global configuration lines and the VLAN database, write memory; the effects are checked through
netmiko and in the simulator's saved startup-config.

The simulator listens on a free loopback port (no namespaces, no root). It offers modern SSH
algorithms here: paramiko 5 (netmiko's transport) no longer has diffie-hellman-group1/14-sha1."""

import pytest
from hctest.edgeswitch import SWITCH_PASSWORD, LoopbackSwitch
from hctest.requires import require_module

netmiko = require_module("netmiko", "run `make venv` (pinned in requirements-dev.txt)")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with LoopbackSwitch(tmp_path_factory.mktemp("netmiko-switch"), legacy_algorithms=False) as sw:
        yield {"port": sw.port, "state": sw.state_dir}


def connect(sim):
    return netmiko.ConnectHandler(device_type="ubiquiti_edgeswitch", host="127.0.0.1", port=sim["port"],
                                  username="ubnt", password=SWITCH_PASSWORD, secret="", fast_cli=False,
                                  use_keys=False, allow_agent=False, timeout=20, conn_timeout=20)


def test_login_enable_and_show_commands(sim):
    conn = connect(sim)
    try:
        assert conn.base_prompt.strip() == "(UBNT EdgeSwitch)"
        assert conn.check_enable_mode()
        version = conn.send_command("show version")
        assert "Software Version............................... 1.9.2" in version
        assert "Machine Type................................... EdgeSwitch 8 150W" in version
        running = conn.send_command("show running-config")
        assert running.count("interface 0/") == 4    # paging is off: the whole configuration
        assert running.rstrip().endswith("exit")
        assert "--More--" not in running
    finally:
        conn.disconnect()


def test_configure_vlan_database_and_save(sim):
    conn = connect(sim)
    try:
        out = conn.send_config_set(['snmp-server sysname "netmiko-W023"', "spanning-tree mode rstp"])
        assert "Invalid" not in out, out
        assert not conn.check_config_mode()              # back in privileged mode
        out = conn.send_config_set(["vlan database", "vlan 30", 'vlan name 30 "Netmiko"', "exit"],
                                   enter_config_mode=False, exit_config_mode=False)
        assert "Invalid" not in out, out
        running = conn.send_command("show running-config")
        assert 'snmp-server sysname "netmiko-W023"' in running
        assert "spanning-tree mode rstp" in running
        assert "vlan 2,3,30" in running and 'vlan name 30 "Netmiko"' in running
        sysinfo = conn.send_command("show sysinfo")
        assert "System Name.................................... netmiko-W023" in sysinfo
        saved = conn.save_config()
        assert "Configuration Saved!" in saved, saved
    finally:
        conn.disconnect()
    startup = (sim["state"] / "startup-config").read_text()
    assert 'snmp-server sysname "netmiko-W023"' in startup and 'vlan name 30 "Netmiko"' in startup
