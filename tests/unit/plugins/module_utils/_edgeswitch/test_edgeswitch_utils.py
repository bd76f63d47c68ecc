"""Parsers, normalisation and driver helpers of plugins/module_utils/_edgeswitch."""

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import cli, config, parsers
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.engine import Engine

# docs/devices/edgeswitch.md, show version (ES-16-XG 1.7.4), CRLF as the switch sends it
SHOW_VERSION = (
    "\r\nSwitch: 1\r\n\r\n"
    "System Description............................. EdgeSwitch 16-Port 10G, 1.7.4.5075842, Linux 3.6.5, 1.0.0.4872137\r\n"
    "Machine Type................................... EdgeSwitch 16-Port 10G\r\n"
    "Machine Model.................................. ES-16-XG\r\n"
    "Serial Number.................................. F09FC2EFD310\r\n"
    "Burned In MAC Address.......................... F0:9F:C2:EF:D3:10\r\n"
    "Software Version............................... 1.7.4.5075842\r\n")

RUNNING = (
    "\r\n!Current Configuration:\r\n!\r\n"
    '!System Description "EdgeSwitch 16-Port 150W, 1.8.1.5145168, Linux 3.6.5-1b505fb7, 1.1.0.5102011"\r\n'
    '!System Software Version "1.8.1.5145168"\r\n'
    '!System Up Time          "89 days 8 hrs 9 mins 32 secs"\r\n'
    "!Additional Packages     QOS,IPv6 Management,Routing\r\n"
    "!Current SNTP Synchronized Time: SNTP Last Attempt Status Is Not Successful\r\n!\r\n"
    'hostname "palmer-elevator.sw"\r\nnetwork protocol none\r\nconfigure\r\nset clibanner "waggle config version: 1.2"\r\n'
    "interface 0/5\r\nshutdown\r\ndescription 'testing'\r\nexit\r\n\r\n\r\n\r\n"
    "interface 0/7\r\nswitchport access vlan 787\r\nexit\r\n\r\n\r\nexit\r\n\r\n\r\n")


def test_show_version():
    v = parsers.parse_show_version(SHOW_VERSION)
    assert v["software_version"] == "1.7.4.5075842"
    assert v["machine_model"] == "ES-16-XG"
    assert v["burned_in_mac_address"] == "F0:9F:C2:EF:D3:10"
    assert v["system_description"].startswith("EdgeSwitch 16-Port 10G, 1.7.4")
    assert v["switch"] == 1


def test_empty_dotted_value_and_sysinfo():
    d = parsers.parse_dotted("System Contact.................................\r\n"
                             "System Name.................................... sw 1\r\n")
    assert d == {"system_contact": "", "system_name": "sw 1"}


def test_clibanner():
    text = ("Banner Message configured:\r\n=========================\r\n--------------------------\r\n"
            "waggle config version: 2.0.1\r\n--------------------------\r\n")
    assert parsers.parse_clibanner(text) == "waggle config version: 2.0.1"
    assert parsers.parse_clibanner("\r\nNo contents to display before displaying the login prompt.\r\n") == ""


def test_running_config():
    r = parsers.parse_running_config(RUNNING)
    assert r["hostname"] == "palmer-elevator.sw"
    assert r["banner"] == "waggle config version: 1.2"
    assert r["software_version"] == "1.8.1.5145168"
    assert r["interfaces"]["0/5"]["description"] == "testing" and r["interfaces"]["0/5"]["shutdown"] is True
    assert r["interfaces"]["0/7"]["lines"] == ["switchport access vlan 787"]


@pytest.mark.parametrize("command,name", [
    ("show version", "version"), ("sh ver", "version"), ("SHOW VERSION", "version"),
    ("show clibanner", "clibanner"), ("sh clib", "clibanner"), ("show run", "running_config"),
    ("show running-config", "running_config"), ("show sysinfo", "sysinfo"), ("show vlan", None)])
def test_parse_output_dispatch(command, name):
    assert parsers.parse_output(command, SHOW_VERSION)[0] == name


def test_normalise_ignores_volatile_header_blank_lines_and_line_ends():
    a = RUNNING
    b = RUNNING.replace("89 days 8 hrs 9 mins 32 secs", "0 days 0 hrs 1 mins 2 secs").replace(
        "SNTP Last Attempt Status Is Not Successful", "Sep  2 23:22:32 2026 UTC").replace("\r\n", "\n")
    b = b.replace("exit\n\n\n\n", "exit\n")
    assert config.same_config(a, b)
    assert not config.same_config(a, a.replace("'testing'", "'other'"))
    assert config.normalise("hostname \"x\"   \r\n\r\n!\r\n") == ['hostname "x"']
    assert not config.same_config(a, a + "ip ssh protocol 2\n")
    assert config.same_config(a + "ip ssh protocol 2\n", a, extra_ignore=[r"^ip ssh"])


def test_strip_volatile_keeps_the_rest():
    out = config.strip_volatile(RUNNING)
    assert "System Up Time" not in out and "SNTP" not in out
    assert "!System Software Version" in out and "\r" not in out


def test_banner_version():
    assert config.banner_version("waggle config version: 1.4.0") == "1.4.0"
    assert config.banner_version("Config Version=v2.0-rc1\nWelcome") == "2.0-rc1"
    assert config.banner_version("Welcome to EdgeSwitch") is None
    assert config.banner_version("") is None
    assert config.banner_version("cfg 7", r"cfg (\d+)") == "7"
    assert config.render_banner(config.DEFAULT_BANNER_TEMPLATE, "3.1") == "waggle config version: 3.1"
    assert config.check_banner_text('say "hi"')
    assert config.check_banner_text("a\nb")
    assert config.check_banner_text("ok banner") is None


def test_clean_removes_echo_and_pager_erase():
    c = cli.EdgeSwitchCLI("h", "u", "p")
    raw = "show x\r\n\r\nline1\r\n" + cli.PAGER_ERASE + "line2\r\n"
    assert c._clean(raw, "show x") == "\nline1\nline2\n"


def test_ssh_command_options():
    c = cli.EdgeSwitchCLI("10.31.81.2", "ubnt", "pw", host_key_checking="off")
    args = c.ssh_command()
    assert "StrictHostKeyChecking=no" in args and "UserKnownHostsFile=/dev/null" in args
    assert args[-3:] == ["-l", "ubnt", "10.31.81.2"]
    assert any(a.startswith("KexAlgorithms=+") and "diffie-hellman-group14-sha1" in a for a in args)
    c = cli.EdgeSwitchCLI("h", "u", "p", host_key_checking="strict", known_hosts_file="/k", legacy_algorithms=False)
    args = c.ssh_command()
    assert "StrictHostKeyChecking=yes" in args and "UserKnownHostsFile=/k" in args
    assert not any(a.startswith("KexAlgorithms") for a in args)
    assert "pw" not in " ".join(args)


def test_legacy_options_only_what_the_client_supports(monkeypatch):
    monkeypatch.setattr(cli, "_SSH_QUERY_CACHE", {("ssh", "kex"): {"diffie-hellman-group14-sha1"},
                                                  ("ssh", "key"): {"ssh-rsa"}})
    assert cli.legacy_ssh_options("ssh") == ["-o", "KexAlgorithms=+diffie-hellman-group14-sha1",
                                             "-o", "HostKeyAlgorithms=+ssh-rsa"]


def test_desired_banner_and_backup_path():
    e = Engine({"host": "10.31.81.2", "version": "1.2", "banner": None, "banner_template": "cfg v{version}",
                "backup_dir": "/b"})
    assert e.desired_banner() == "cfg v1.2"
    assert e.backup_path().startswith("/b/backup-10.31.81.2-")
    assert Engine({"host": "h", "banner": "X", "version": "1"}).desired_banner() == "X"
    assert Engine({"host": "h"}).desired_banner() is None


def test_cli_from_params_full_and_defaults():
    c = cli.cli_from_params({"host": "h", "username": "u", "password": "p", "enable_password": "e",
                             "connection": "telnet", "port": None, "host_key_checking": "strict",
                             "known_hosts_file": "/k", "legacy_algorithms": False, "timeout": 7})
    assert (c.host, c.username, c.password, c.enable_password, c.transport, c.port) == ("h", "u", "p", "e", "telnet", 23)
    assert (c.host_key_checking, c.known_hosts_file, c.legacy_algorithms, c.timeout) == ("strict", "/k", False, 7)
    c = Engine({"host": "h", "username": "u", "password": "p"}).new_cli()
    assert (c.transport, c.port, c.host_key_checking, c.legacy_algorithms, c.timeout) == ("ssh", 22, "accept-new", True, 30)
