"""The upgrade_build module also works when run on a host (without its action plugin)."""

import json
import os
import subprocess
import sys

MODULE = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules",
                                       "upgrade_build.py"))


def run_module(tmp_path, args, check=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, MODULE, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, check=False)
    return json.loads(proc.stdout.decode())


def test_module_builds_on_host(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("hc_state_check.sh", "hc_install_upgrade.sh", "hc_verify_upgrade.sh"):
        (src / name).write_text("#!/bin/sh\nexit 0\n")
        os.chmod(str(src / name), 0o755)
    dest = tmp_path / "p.tar.gz"
    args = {"src": str(src), "dest": str(dest), "version": "1.0", "timeouts": {"install": 30}}
    r = run_module(tmp_path, args, check=True)
    assert r["changed"] is True and not dest.exists()
    r = run_module(tmp_path, args)
    assert r["changed"] is True and dest.exists() and r["manifest"]["phases"]["install"]["timeout"] == 30
    assert run_module(tmp_path, args)["changed"] is False
    os.chmod(str(src / "hc_state_check.sh"), 0o600)
    r = run_module(tmp_path, args)
    assert r["failed"] is True and "hc_state_check.sh" in r["msg"] and "not executable" in r["msg"]
    r = run_module(tmp_path, dict(args, timeouts={"reboot": 1}))
    assert r["failed"] is True and "unknown phase" in r["msg"]
