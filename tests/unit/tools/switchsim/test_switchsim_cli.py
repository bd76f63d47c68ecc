"""The simulator's CLI against the byte-level facts of docs/devices/edgeswitch.md."""

import re

import pytest
from hctest.switchcli import Harness

from hctools.switchsim.cli import dotted, parse_url
from hctools.switchsim.state import DEFAULT_STARTUP_CONFIG

# Prompt regexes quoted in docs/devices/edgeswitch.md (community.network terminal plugin, oxidized, netmiko)
ANSIBLE_PROMPTS = [re.compile(r"\(([^\(\)]+)\) [>#]$"), re.compile(r"\(([^\(\)]+)\) \(([^\(\)]+)\)#$")]
OXIDIZED_PROMPT = re.compile(r"\(.*\)\s[#>]")


@pytest.fixture
def sw(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


def test_prompts_match_reference_regexes(sw):
    first = sw.prompt(">")
    assert first.endswith("\r\n(UBNT EdgeSwitch) >")
    line = first.split("\r\n")[-1]
    assert ANSIBLE_PROMPTS[0].search(line) and OXIDIZED_PROMPT.search(line)
    sw.send("enable\r")
    out = sw.prompt("#")
    assert out == "enable\r\n\r\n(UBNT EdgeSwitch) #"   # echo, CRLF, blank line, prompt
    assert ANSIBLE_PROMPTS[0].search(out.split("\r\n")[-1])
    sw.send("conf\r")
    out = sw.prompt(r"\(Config\)#")
    assert out.endswith("(UBNT EdgeSwitch) (Config)#")
    assert ANSIBLE_PROMPTS[1].search(out.split("\r\n")[-1])
    sw.send("interface 0/1-0/24\r")
    assert sw.prompt(r"\(Interface 0/1-0/24\)#").endswith("(UBNT EdgeSwitch) (Interface 0/1-0/24)#")
    sw.send("end\r")
    sw.prompt("#")
    sw.send('configure\r')
    sw.prompt(r"\(Config\)#")
    sw.send('hostname "UBNT EdgeSwitch 16 150W"\r')
    out = sw.prompt(r"\(Config\)#")
    assert out.endswith("(UBNT EdgeSwitch 16 150W) (Config)#")


def test_invalid_input_caret_columns(tmp_path):
    h = Harness(tmp_path)
    try:
        h.prompt(">")
        h.send("show running-config\r")
        out = h.prompt(">")
        lines = out.split("\r\n")
        assert lines[1].index("^") == 24     # under the r of running-config after the 19-char prompt
        assert lines[2] == "% Invalid input detected at '^' marker."
        assert lines[3] == ""                 # then a blank line and the prompt
        h.send("terminal length 0\r")
        out = h.prompt(">")
        assert out.split("\r\n")[1].index("^") == 19 + 1   # one past the t that still matches telnet
        assert out.split("\r\n")[0] == "terminal length 0"
    finally:
        h.close()
    state_dir = tmp_path / "b"
    state_dir.mkdir()
    (state_dir / "startup-config").write_text('hostname "Edge_sw"\n' + DEFAULT_STARTUP_CONFIG)
    h = Harness(state_dir)
    try:
        h.prompt(">")
        h.send("terminal length 0\r")
        out = h.prompt(">")
        assert out.split("\r\n")[1] == " " * 12 + "^"   # reference section 4: 12 spaces under (Edge_sw) >
    finally:
        h.close()


def test_paging_and_terminal_length(sw):
    sw.prompt(">")
    sw.send("en\r")
    sw.prompt("#")
    sw.send("show running-config\r")
    first = sw.until(r"--More-- or \(q\)uit")
    assert len(first.split("\r\n")) - 1 == 23 + 1      # echo line + 23 lines, then the pager
    sw.send("q")
    out = sw.prompt("#")
    assert out.startswith("\r" + " " * 18 + "\r")
    sw.send("terminal length 0\r")
    sw.prompt("#")
    sw.send("show running-config\r")
    out = sw.prompt("#")
    assert "--More--" not in out
    assert out.startswith("show running-config\r\n\r\n!Current Configuration:\r\n!\r\n!System Description \"")
    assert '\r\n!System Up Time          "0 days 0 hrs ' in out
    assert "\r\n!Current SNTP Synchronized Time: " in out
    assert out.endswith("exit\r\n\r\n\r\n\r\n(UBNT EdgeSwitch) #")
    sw.send("no terminal length\r")
    sw.prompt("#")
    sw.send("show running-config\r")
    sw.until(r"--More-- or \(q\)uit")
    sw.send(" ")
    sw.until(r"--More-- or \(q\)uit")


def test_show_version_padding(sw):
    sw.prompt(">")
    sw.send("sh ver\r")
    out = sw.prompt(">")
    for line in out.split("\r\n"):
        if "...." in line:
            assert line[47] == " " and line[46] == "." and line[:47].rstrip(".").strip()
    assert "\r\nSoftware Version............................... 1.9.2\r\n" in out   # 1.9.x prints it short
    assert dotted("System Contact", "") == "System Contact" + "." * (47 - 14)


def change_hostname_unsaved(sw, hostname, leave):
    """From the login prompt: enable, configure, set ``hostname``, ``leave`` ("exit" or "end") back to
    privileged mode; the running config now differs from the saved one."""
    sw.prompt(">")
    sw.send("enable\r")
    sw.prompt("#")
    sw.send("configure\r")
    sw.prompt(r"\(Config\)#")
    sw.send('hostname "%s"\r' % hostname)
    sw.prompt(r"\(Config\)#")
    sw.send(leave + "\r")
    sw.prompt("#")


def test_write_memory_and_reload_texts(sw):
    change_hostname_unsaved(sw, "sw1", leave="exit")
    sw.send("reload\r")
    out = sw.until(r"Would you like to save them now\? \(y/n\) ")
    assert out.endswith("The system has unsaved changes.\r\nWould you like to save them now? (y/n) ")
    sw.send("n")
    out = sw.until(r"reset the system\? \(y/n\) ")
    assert "n\r\n\r\nConfiguration Not Saved!\r\n" in out
    sw.send("n")
    sw.prompt("#")
    assert sw.server.reloads == 0
    sw.send("write memory\r")
    out = sw.until(r"save\? \(y/n\) ")
    assert out == ("write memory\r\n\r\n\r\nThis operation may take a few minutes.\r\n"
                   "Management interfaces will not be available during this time.\r\n\r\n"
                   "Are you sure you want to save? (y/n) ")
    sw.send("y\r")   # sendline-style: the extra CR redraws the prompt
    out = sw.prompt("#")
    assert out.startswith("y\r\n\r\nConfig file 'startup-config' created successfully .\r\n\r\n\r\nConfiguration Saved!")
    sw.prompt("#")
    assert 'hostname "sw1"' in sw.state.read_startup()
    sw.send("reload\r")
    sw.until(r"reset the system\? \(y/n\) ")
    sw.send("y")
    out = sw.until(r"System will now restart!\r\n")
    assert "y\r\n\r\n\r\nSystem will now restart!" in out
    with pytest.raises(EOFError):    # the switch goes away
        sw.until("never")
    assert sw.server.reloads == 1


def test_quit_asks_about_unsaved_changes(sw):
    change_hostname_unsaved(sw, "x", leave="end")
    sw.send("quit\r")
    out = sw.until(r"\(y/n\) ")
    assert out.endswith("The system has unsaved changes.\r\nWould you like to save them now? (y/n) ")
    sw.send("n")
    with pytest.raises(EOFError):
        sw.until("never")


def test_enable_password(tmp_path):
    h = Harness(tmp_path, enable_password="s3cret")
    try:
        h.prompt(">")
        h.send("enable\r")
        h.until("Password:")
        h.send("wrong\r")
        out = h.prompt(">")
        assert out.startswith("*****")
        h.send("enable\r")
        h.until("Password:")
        h.send("s3cret\r")
        assert h.prompt("#").startswith("******")
    finally:
        h.close()


def test_telnet_login_and_banner(tmp_path):
    (tmp_path / "cli.bnr").write_text("waggle config version: 1.0.0")
    h = Harness(tmp_path, kind="telnet")
    try:
        out = h.until("User:")
        assert out.startswith("\xff\xfb\x01\xff\xfb\x03")   # IAC WILL ECHO, IAC WILL SGA
        h.send(b"\xff\xfd\x01\xff\xfd\x03")                   # client: DO ECHO, DO SGA (filtered out)
        assert "waggle config version: 1.0.0\r\nUser:" in out
        h.send("ubnt\r\n")
        h.until("Password:")
        h.send("bad\r\n")
        h.until("User:")
        h.send("ubnt\r")
        h.until("Password:")
        h.send("ubnt\r")
        out = h.prompt(">")
        assert out.startswith("****")
    finally:
        h.close()


def test_copy_screen_cancel(sw):
    sw.prompt(">")
    sw.send("enable\r")
    sw.prompt("#")
    sw.send("copy nvram:startup-config ftp://hc1@10.0.0.1/a/b/f.cfg\r")
    sw.until("Remote Password:")
    sw.send("pw\r")
    out = sw.until(r"start\? \(y/n\) ")
    assert out == ("**\r\n\r\n"
                   "Mode........................................... FTP\r\n"
                   "Set Server IP.................................. 10.0.0.1\r\n"
                   "Path........................................... a/b/\r\n"
                   "Filename....................................... f.cfg\r\n"
                   "Data Type...................................... Text Configuration\r\n\r\n"
                   "Management access will be blocked for the duration of the transfer\r\n"
                   "Are you sure you want to start? (y/n) ")
    sw.send("n")
    assert "n\r\nFile transfer cancelled.\r\n" in sw.prompt("#")
    sw.send("copy nvram:startup-config tftp://10.0.0.1/f.cfg\r")
    out = sw.until(r"start\? \(y/n\) ")
    assert "Mode........................................... TFTP\r\n" in out
    assert "Path........................................... ./\r\n" in out
    sw.send("n")
    sw.prompt("#")


def test_ftp_unsupported_setting(tmp_path):
    h = Harness(tmp_path, ftp_supported=False)
    try:
        h.prompt(">")
        h.send("enable\r")
        h.prompt("#")
        h.send("copy nvram:startup-config ftp://u@1.2.3.4/f\r")
        out = h.prompt("#")
        assert "% Invalid input detected at '^' marker." in out
        assert out.split("\r\n")[1].index("^") == len("(UBNT EdgeSwitch) #copy nvram:startup-config ")
    finally:
        h.close()


def test_parse_url():
    assert parse_url("tftp://1.2.3.4/a/b/f.cfg")["path"] == "a/b/"
    u = parse_url("ftp://hc@10.31.81.1:2121/x.cfg")
    assert (u["user"], u["host"], u["port"], u["path"], u["remote"]) == ("hc", "10.31.81.1", 2121, "./", "x.cfg")
    assert parse_url("scp://u@h/f") is None
