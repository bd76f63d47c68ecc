"""The collection's pexpect driver (module_utils/_edgeswitch/cli.py) logging in wherever the switch puts
its login banner: in the SSH session before the first prompt (firmware 1.8+ transcripts), as the SSH
pre-auth banner, both, or none, including a banner holding a line that looks like a prompt."""

import pytest
from hctest.edgeswitch import SWITCH_PASSWORD, LoopbackSwitch

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.cli import EdgeSwitchCLI

PROMPT_LIKE = "(lab switch) > authorised staff only\n(lab switch) #"


@pytest.fixture(scope="module")
def sw(tmp_path_factory):
    with LoopbackSwitch(tmp_path_factory.mktemp("driver-switch")) as sw:
        yield sw


@pytest.mark.parametrize("where", ["shell", "preauth", "both", "none"])
@pytest.mark.parametrize("banner", [None, PROMPT_LIKE])
def test_login_with_banner(sw, tmp_path, where, banner):
    sw.settings(banner_over_ssh=where)
    bnr = sw.state_dir / "cli.bnr"
    if banner:
        bnr.write_text(banner)
    elif bnr.exists():
        bnr.unlink()
    cli = EdgeSwitchCLI("127.0.0.1", "ubnt", SWITCH_PASSWORD, port=sw.port, host_key_checking="off", timeout=20)
    cli.open()
    try:
        assert cli.hostname == "UBNT EdgeSwitch" and cli.mode == "#"
        if where in ("shell", "both"):
            assert (banner or "Welcome to EdgeSwitch").split("\n")[0] in cli.banner_seen
        out = cli.command("show sysinfo")
        assert "System Name...................................." in out
    finally:
        cli.close()
