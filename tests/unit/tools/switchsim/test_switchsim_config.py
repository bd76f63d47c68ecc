"""The simulator keeps what a real switch keeps: global configuration lines, the VLAN database,
interface settings, the system name; firmware-dependent show version; image slots and boot choice;
the login banner inside the SSH session."""

import json
import os
import socket
import threading

import pytest
from hctest.switchcli import Harness

from hctools.switchsim.config import SwitchConfig
from hctools.switchsim.images import make_image, read_image
from hctools.switchsim.state import DEFAULT_STARTUP_CONFIG


@pytest.fixture
def sw(tmp_path):
    h = Harness(tmp_path)
    h.prompt(">")
    h.send("enable\r")
    h.prompt("#")
    h.send("terminal length 0\r")
    h.prompt("#")
    yield h
    h.close()


def run(h, command, suffix="#"):
    h.send(command + "\r")
    return h.prompt(suffix)


def test_default_config_round_trips_through_the_model():
    cfg, banner = SwitchConfig.parse(DEFAULT_STARTUP_CONFIG)
    assert banner is None
    assert "\n".join(cfg.lines()) + "\n" == DEFAULT_STARTUP_CONFIG


def test_global_lines_are_kept_and_saved(sw):
    run(sw, "configure", r"\(Config\)#")
    for line in ('snmp-server sysname "W023 switch"', 'snmp-server location "rooftop"',
                 "spanning-tree mode rstp", 'username "admin" password 0123abcd level 15 encrypted'):
        out = run(sw, line, r"\(Config\)#")
        assert "Invalid" not in out, out
    run(sw, "exit")
    out = run(sw, "show running-config")
    assert 'snmp-server sysname "W023 switch"' in out and "spanning-tree mode rstp" in out
    assert 'username "admin" password 0123abcd level 15 encrypted' in out
    assert 'snmp-server sysname "UBNT EdgeSwitch"' not in out   # replaced, not added twice
    sysinfo = run(sw, "show sysinfo")
    assert "\r\nSystem Name.................................... W023 switch\r\n" in sysinfo
    assert "\r\nSystem Location................................ rooftop\r\n" in sysinfo
    assert "\r\nSystem Contact.................................\r\n" in sysinfo   # empty: no trailing space
    # kept across a reload only once saved
    sw.send("write memory\r")
    sw.until(r"\(y/n\) ")
    sw.send("y")
    sw.prompt("#")
    sw.state.boot()
    assert 'snmp-server sysname "W023 switch"' in run(sw, "show running-config")
    # no <setting> removes it
    run(sw, "configure", r"\(Config\)#")
    run(sw, "no snmp-server location", r"\(Config\)#")
    run(sw, "end")
    assert "snmp-server location" not in run(sw, "show running-config")


def test_unknown_global_command_is_refused(sw):
    run(sw, "configure", r"\(Config\)#")
    out = run(sw, "frobnicate now", r"\(Config\)#")
    assert "% Invalid input detected at '^' marker." in out


def test_vlan_database(sw):
    assert run(sw, "vlan database", r"\(Vlan\)#").endswith("(UBNT EdgeSwitch) (Vlan)#")
    run(sw, "vlan 10,20-21", r"\(Vlan\)#")
    run(sw, 'vlan name 10 "Data"', r"\(Vlan\)#")
    run(sw, "no vlan 21", r"\(Vlan\)#")
    run(sw, "exit")
    out = run(sw, "show running-config")
    assert "\r\nvlan database\r\nvlan 2,3,10,20\r\nvlan name 2 \"cameras\"\r\nvlan name 3 \"lidar\"\r\n" \
           "vlan name 10 \"Data\"\r\nexit\r\n" in out


def test_interface_range_and_settings(sw):
    run(sw, "configure", r"\(Config\)#")
    run(sw, "interface 0/4-0/5", r"\(Interface 0/4-0/5\)#")
    run(sw, "description 'spare'", r"\(Interface 0/4-0/5\)#")
    run(sw, "switchport access vlan 3", r"\(Interface 0/4-0/5\)#")
    run(sw, "shutdown", r"\(Interface 0/4-0/5\)#")
    run(sw, "exit", r"\(Config\)#")
    run(sw, "interface 0/1", r"\(Interface 0/1\)#")
    run(sw, "no auto-negotiate", r"\(Interface 0/1\)#")
    run(sw, "speed 100 full-duplex", r"\(Interface 0/1\)#")
    run(sw, "end")
    out = run(sw, "show running-config").replace("\r\n", "\n")
    assert "interface 0/1\ndescription 'node uplink'\nno auto-negotiate\nspeed 100 full-duplex\nexit\n" in out
    for port in ("0/4", "0/5"):
        assert "interface %s\ndescription 'spare'\nswitchport access vlan 3\nshutdown\nexit\n\n\n\n" % port in out
    assert out.index("interface 0/3") < out.index("interface 0/4") < out.index("interface 0/8")
    run(sw, "configure", r"\(Config\)#")
    run(sw, "interface 0/4", r"\(Interface 0/4\)#")
    run(sw, "no shutdown", r"\(Interface 0/4\)#")
    run(sw, "end")
    out = run(sw, "show running-config").replace("\r\n", "\n")
    assert "interface 0/4\ndescription 'spare'\nswitchport access vlan 3\nexit\n" in out


def test_show_version_follows_the_running_firmware(tmp_path):
    (tmp_path / "switch.json").write_text(json.dumps({"initial_active_image": "1.8.1.5145168"}))
    h = Harness(tmp_path)
    try:
        h.prompt(">")
        out = run(h, "show version", ">")
        assert "\r\nSoftware Version............................... 1.8.1.5145168\r\n" in out
        assert "\r\nMachine Type................................... EdgeSwitch 8-Port 150W\r\n" in out
    finally:
        h.close()
    h = Harness(tmp_path / "new")
    try:
        h.prompt(">")
        out = run(h, "show version", ">")
        assert "\r\nSystem Description............................. EdgeSwitch 8 150W, 1.9.2, Linux 3.6.5-03329b4a, " \
               "1.2.0.5192732\r\n" in out
        assert "\r\nMachine Type................................... EdgeSwitch 8 150W\r\n" in out
        run(h, "enable")
        run(h, "terminal length 0")
        assert '!System Software Version "1.9.2"' in run(h, "show running-config")
    finally:
        h.close()


def test_banner_is_printed_in_the_ssh_session(tmp_path):
    h = Harness(tmp_path)
    try:
        first = h.prompt(">")
        assert first.startswith("  _____    _\r\n") and "\r\nWelcome to EdgeSwitch\r\n" in first
        assert first.endswith("and agree to be bound by its terms.\r\n\r\n(UBNT EdgeSwitch) >")
    finally:
        h.close()
    h = Harness(tmp_path / "pre", banner_over_ssh="preauth")
    try:
        assert h.prompt(">") == "\r\n(UBNT EdgeSwitch) >"
    finally:
        h.close()


def test_image_slots_boot_choice_and_fallback(sw):
    out = run(sw, "show bootvar")
    assert "\r\nactive  *1.9.2.5322630\r\nbackup   1.9.1.5145127\r\n" in out and "Current" in out
    assert "Invalid" in run(sw, "boot system elsewhere")
    run(sw, "boot system backup")
    assert "\r\nactive   1.9.2.5322630\r\nbackup  *1.9.1.5145127\r\n" in run(sw, "show bootvar")
    sw.state.boot()   # what the reload does
    assert "\r\nactive  *1.9.1.5145127\r\nbackup   1.9.2.5322630\r\n" in run(sw, "show bootvar")
    assert "Software Version............................... 1.9.1\r\n" in run(sw, "show version")
    # an image that does not boot: the switch comes back on the one it ran
    sw.state.images.store_backup(read_image(make_image("1.9.3.9999999", bootable=False)))
    run(sw, "boot system backup")
    sw.state.boot()
    assert "\r\nactive  *1.9.1.5145127\r\nbackup   1.9.3.9999999\r\n" in run(sw, "show bootvar")
    assert "fell back" in sw.state.last_boot


class TftpRoot:
    """A tftpy server on a free loopback port serving a directory."""

    def __init__(self, root):
        import tftpy
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.server = tftpy.TftpServer(str(root))
        self.thread = threading.Thread(target=self.server.listen, args=("127.0.0.1", self.port), daemon=True)
        self.thread.start()
        self.server.is_running.wait(5)

    def stop(self):
        self.server.stop(now=True)
        self.thread.join(5)


@pytest.fixture
def tftp(tmp_path):
    root = tmp_path / "tftproot"
    root.mkdir()
    srv = TftpRoot(root)
    srv.root = root
    yield srv
    srv.stop()


def test_firmware_copy_dialogue(sw, tftp):
    (tftp.root / "ESWH.v1.9.3.stk").write_bytes(make_image("1.9.3.1234567", size=3000))
    sw.send("copy tftp://127.0.0.1:%d/ESWH.v1.9.3.stk backup\r" % tftp.port)
    screen = sw.until(r"\(y/n\) ")
    assert screen.split("\r\n")[1:] == [
        "", "Mode........................................... TFTP",
        "Set Server IP.................................. 127.0.0.1",
        "Path........................................... ./",
        "Filename....................................... ESWH.v1.9.3.stk",
        "Data Type...................................... Code",
        "Destination Filename........................... backup",
        "", "Management access will be blocked for the duration of the transfer",
        "Are you sure you want to start? (y/n) "]
    sw.send("y")
    out = sw.prompt("#")
    assert "TFTP Code transfer starting...\r\n\r\n3000 bytes transferred...\r\n" \
           "File contents are valid. Copying file to flash...\r\n\r\n\r\n" \
           "File transfer operation completed successfully.\r\n" in out
    assert "\r\nbackup   1.9.3.1234567\r\n" in run(sw, "show bootvar")
    # not an image: refused, the slot keeps what it had
    (tftp.root / "junk.stk").write_bytes(os.urandom(2000))
    sw.send("copy tftp://127.0.0.1:%d/junk.stk backup\r" % tftp.port)
    sw.until(r"\(y/n\) ")
    sw.send("y")
    out = sw.prompt("#")
    assert "File contents are not valid.\r\nFile transfer failed!\r\n" in out
    assert "\r\nbackup   1.9.3.1234567\r\n" in run(sw, "show bootvar")
    # fault: the transfer fails midway
    with open(os.path.join(sw.state.dir, "faults.json"), "w") as handle:
        json.dump({"transfer_fail": "midway"}, handle)
    (tftp.root / "v4.stk").write_bytes(make_image("1.9.4.1", size=3000))
    sw.send("copy tftp://127.0.0.1:%d/v4.stk backup\r" % tftp.port)
    sw.until(r"\(y/n\) ")
    sw.send("y")
    out = sw.prompt("#")
    assert "1500 bytes transferred...\r\nFile transfer failed!\r\n" in out
    assert "\r\nbackup   1.9.3.1234567\r\n" in run(sw, "show bootvar")
