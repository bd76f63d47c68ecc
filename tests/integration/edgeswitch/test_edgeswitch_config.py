"""edgeswitch_config through real ansible-playbook, inside a node namespace, against the simulator."""

import json
import os
import stat
import threading
import time

from hctest.edgeswitch import NODE_IP, one_task
from hctools.switchsim.state import DEFAULT_STARTUP_CONFIG

MOD = "waggle.honeycomb.edgeswitch_config"
NEW_CONFIG = DEFAULT_STARTUP_CONFIG.replace("description 'camera top'", "description 'camera top (new)'")


def command_args(switch, **extra):
    args = switch.module_args(**extra)
    for key in ("backup_dir", "reload_timeout", "lock_dir"):
        args.pop(key)
    return args


class Direct:
    """The module's result when run directly (no ansible-playbook): .rc like a playbook's."""

    def __init__(self, result):
        self.rc = result.pop("_rc")
        self.output = json.dumps(result, indent=1)


def run_pb(switch, check=False, args=(), **params):
    """Through real ansible-playbook (slow on a loaded machine: used for the main flows)."""
    res = switch.run_playbook(one_task(MOD, switch.module_args(**params)), check=check, args=args)
    return res, res.result("switch", "node")


def run(switch, check=False, diff=False, **params):
    """The module's code run directly in the node namespace (fault flows)."""
    r = switch.run_module("edgeswitch_config", switch.module_args(**params), check=check, diff=diff)
    return Direct(r), r


def test_fetch_over_ftp_writes_dest_and_stops_server(switch):
    dest = str(switch.base / "fetched" / "switch.cfg")
    res, r = run_pb(switch, state="fetched", dest=dest)
    assert res.rc == 0, res.output
    assert r["changed"] is True
    assert r["config"] == DEFAULT_STARTUP_CONFIG
    with open(dest) as handle:
        assert handle.read() == DEFAULT_STARTUP_CONFIG
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    # the short-lived FTP server is gone and bound only the LAN address while it ran
    listening = switch.in_node("ss", "-Hltn").stdout
    assert ":21 " not in listening
    res, r = run(switch, state="fetched", dest=dest)
    assert res.rc == 0 and r["changed"] is False, res.output


def test_fetch_over_tftp_via_telnet(switch):
    res, r = run(switch, state="fetched", transfer="tftp", connection="telnet")
    assert res.rc == 0, res.output
    assert r["config"] == DEFAULT_STARTUP_CONFIG
    assert r["version"] is None


def test_deploy_changed_then_unchanged_ignoring_volatile_lines(switch):
    res, r = run_pb(switch, state="deployed", content=NEW_CONFIG, apply="none")
    assert res.rc == 0, res.output
    assert r["changed"] is True and r["switch_config"] == "new"
    assert "camera top (new)" in switch.startup_config()
    assert os.path.exists(r["backup_path"])
    with open(r["backup_path"]) as handle:
        assert handle.read() == DEFAULT_STARTUP_CONFIG
    # same config plus a header whose volatile lines differ: nothing to do
    header = ('!Current Configuration:\n!System Up Time          "9 days 1 hrs 2 mins 3 secs"\n'
              "!Current SNTP Synchronized Time: Jan  1 00:00:00 2030 UTC\n!\n")
    res, r = run(switch, state="deployed", content=header + NEW_CONFIG.replace("\n", "\r\n"), apply="none")
    assert res.rc == 0, res.output
    assert r["changed"] is False
    assert "backup_path" not in r


def test_check_mode_and_diff_push_nothing(switch):
    res, r = run_pb(switch, check=True, args=("--diff",), state="deployed", content=NEW_CONFIG, version="2.0.1")
    assert res.rc == 0, res.output
    assert r["changed"] is True
    assert "camera top (new)" in r["diff"]["after"] and "camera top (new)" not in r["diff"]["before"]
    assert "waggle config version: 2.0.1" in r["diff"]["after"]
    assert switch.startup_config() == DEFAULT_STARTUP_CONFIG
    assert switch.banner() == ""
    assert switch.status()["reloads"] == 0


def test_banner_version_and_compare_banner_idempotency(switch):
    res, r = run(switch, state="deployed", content=NEW_CONFIG, version="1.4.0", apply="none")
    assert res.rc == 0, res.output
    assert r["changed"] is True and r["version"] == "1.4.0" and r["previous_version"] is None
    assert switch.banner() == "waggle config version: 1.4.0"
    # compare: banner looks at the version only, even though the config differs
    res, r = run(switch, state="deployed", content=DEFAULT_STARTUP_CONFIG, version="1.4.0", compare="banner",
                 apply="none")
    assert res.rc == 0, res.output
    assert r["changed"] is False
    assert "camera top (new)" in switch.startup_config()
    res, r = run(switch, state="fetched")
    assert r["version"] == "1.4.0" and r["banner"] == "waggle config version: 1.4.0"


def test_apply_reload_waits_for_the_switch(switch):
    before = switch.status()["reloads"]
    res, r = run_pb(switch, state="deployed", content=NEW_CONFIG, version="3.0", apply="reload")
    assert res.rc == 0, res.output
    assert r["changed"] is True and r["reloaded"] is True and r["switch_config"] == "new"
    assert switch.status()["reloads"] == before + 1
    # after the reload the running configuration comes from the pushed startup-config
    out = switch.run_module("edgeswitch_command", command_args(switch, commands=["show running-config"]))
    assert out["_rc"] == 0, out
    assert "camera top (new)" in out["stdout"][0]


def test_verification_mismatch_restores_backup(switch):
    switch.faults(drop_lines_regex="camera top \\(new\\)")
    res, r = run(switch, state="deployed", content=NEW_CONFIG, apply="none")
    assert res.rc != 0
    assert r["failed"] is True
    assert "verification failed" in r["msg"] and "restored" in r["msg"], r["msg"]
    assert r["restored"] is True, r["msg"]
    assert r["restored"] is True and r["switch_config"] == "previous"
    assert switch.startup_config() == DEFAULT_STARTUP_CONFIG


def test_wrong_password_is_a_clear_error(switch):
    res, r = run(switch, state="fetched", password="wrong")
    assert res.rc != 0
    assert "rejected" in r["msg"] and "password" in r["msg"]
    assert "wrong" not in r["msg"]


def test_enable_password(switch):
    switch.settings(enable_password="s3cret")
    res, r = run(switch, state="fetched")
    assert res.rc != 0 and "enable_password" in r["msg"]
    res, r = run(switch, state="fetched", enable_password="nope")
    assert res.rc != 0 and "refused the enable password" in r["msg"]
    res, r = run(switch, state="fetched", enable_password="s3cret")
    assert res.rc == 0, res.output
    assert r["config"] == DEFAULT_STARTUP_CONFIG


def test_host_key_policy(switch):
    known = switch.base / "kh-strict"
    known.write_text("")
    res, r = run(switch, state="fetched", host_key_checking="strict", known_hosts_file=str(known))
    assert res.rc != 0 and "known_hosts" in r["msg"]
    res, r = run(switch, state="fetched", host_key_checking="accept-new", known_hosts_file=str(known))
    assert res.rc == 0, res.output
    assert "10.31.81.2" in known.read_text()
    res, r = run(switch, state="fetched", host_key_checking="strict", known_hosts_file=str(known))
    assert res.rc == 0, res.output
    # a changed key is refused under accept-new
    import paramiko
    other = paramiko.RSAKey.generate(1024).get_base64()
    known.write_text("10.31.81.2 ssh-rsa %s\n" % other)
    res, r = run(switch, state="fetched", host_key_checking="accept-new", known_hosts_file=str(known))
    assert res.rc != 0 and "host key" in r["msg"]


def test_connection_dropped_mid_push_switch_keeps_previous(switch):
    switch.faults(drop_mid_transfer="download", drop_commits=False)
    res, r = run(switch, state="deployed", content=NEW_CONFIG, apply="none")
    assert res.rc != 0
    assert r["switch_config"] == "previous" and r["restored"] is False
    assert "still holds its previous" in r["msg"]
    assert switch.startup_config() == DEFAULT_STARTUP_CONFIG


def test_connection_dropped_mid_push_after_commit_restores(switch):
    switch.faults(drop_mid_transfer="download", drop_commits=True, once=True)
    res, r = run(switch, state="deployed", content=NEW_CONFIG, apply="none")
    assert res.rc != 0
    assert r["switch_config"] == "previous" and r["restored"] is True
    assert "restored" in r["msg"]
    assert switch.startup_config() == DEFAULT_STARTUP_CONFIG


def test_transfer_failure_and_rejected_config(switch):
    switch.faults(transfer_fail="download")
    res, r = run(switch, state="deployed", content=NEW_CONFIG, apply="none", transfer="tftp")
    assert res.rc != 0
    assert "File transfer failed!" in r["msg"] and r["switch_config"] == "previous"
    switch.faults(transfer_fail=None, reject_config_regex="camera top \\(new\\)")
    res, r = run(switch, state="deployed", content=NEW_CONFIG, apply="none")
    assert res.rc != 0
    assert "Failed to download the configuration file" in r["msg"] and r["switch_config"] == "previous"
    switch.faults(reject_config_regex=None, transfer_fail="upload")
    res, r = run(switch, state="fetched")
    assert res.rc != 0 and "File transfer failed!" in r["msg"]
    assert switch.startup_config() == DEFAULT_STARTUP_CONFIG


def test_reload_that_never_returns(switch):
    switch.faults(reload_never_returns=True)
    res, r = run(switch, state="deployed", content=NEW_CONFIG, apply="reload", reload_timeout=6)
    assert res.rc != 0
    assert "did not come back" in r["msg"] and r["backup_path"] in r["msg"]
    assert r["switch_config"].startswith("new")
    switch.faults(reload_never_returns=False)   # reset() then waits for the switch to be up again


def test_ftp_port_in_use(switch):
    import subprocess
    proc = subprocess.Popen(["ip", "netns", "exec", switch.node_ns, "python3", "-c",
                             "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
                             "s.bind(('%s', 21)); s.listen(1); print('ok', flush=True); time.sleep(60)" % NODE_IP],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ok"
        res, r = run(switch, state="fetched")
        assert res.rc != 0 and "port 21" in r["msg"] and "in use" in r["msg"]
    finally:
        proc.kill()
        proc.wait()


def _holder_pid(switch):
    try:
        return json.loads((switch.lock_dir / "switch-10.31.81.2.lock").read_text() or "{}").get("pid")
    except (OSError, ValueError):
        return None


def test_a_second_run_on_the_switch_waits_for_the_first_or_fails_naming_it(switch):
    """Two runs on one switch (a re-run while the first is still finishing on the node): the second waits for
    the per-switch lock and then sees the first's result, instead of colliding on the CLI and FTP port 21."""
    switch.faults(slow=0.3)   # every CLI command takes 0.3 s: the deployment lasts a few seconds
    first = {}

    def deploy():
        first["res"], first["r"] = run(switch, state="deployed", content=NEW_CONFIG, apply="none")

    thread = threading.Thread(target=deploy)
    thread.start()
    try:
        deadline = time.time() + 60
        while _holder_pid(switch) is None and time.time() < deadline:
            time.sleep(0.05)
        assert _holder_pid(switch), "the first run never took the switch lock"
        res, busy = run(switch, state="fetched", lock_timeout=0)
        assert res.rc != 0 and "another run is using the switch 10.31.81.2" in busy["msg"], res.output
        assert "edgeswitch_config state=deployed" in busy["msg"] and "lock_timeout" in busy["msg"]
        res, fetched = run(switch, state="fetched", lock_timeout=120)
    finally:
        thread.join(120)
    assert first["res"].rc == 0 and first["r"]["changed"] is True, first["res"].output
    assert res.rc == 0, res.output
    assert fetched["config"] == NEW_CONFIG   # it ran after the deployment, not beside it
    assert _holder_pid(switch) is None       # nobody holds the switch once both ended
