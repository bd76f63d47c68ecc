"""The edgeswitch modules name a missing node library and what to do, before touching the switch."""

import json
import os
import subprocess
import sys

import pytest

MODULES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules"))


@pytest.mark.parametrize("module, lacking, args, advice", [
    ("edgeswitch_config", "pyftpdlib", {"transfer": "ftp"}, "or use transfer: tftp"),
    ("edgeswitch_config", "tftpy", {"transfer": "tftp"}, "or use transfer: ftp"),
    ("edgeswitch_firmware", "tftpy", {"image": "/nonexistent.stk"}, "or use transfer: ftp"),
    ("edgeswitch_command", "pexpect", {"commands": ["show version"]}, ""),
])
def test_missing_library(tmp_path, module, lacking, args, advice):
    shadow = tmp_path / "shadow" / lacking
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no module %s here (test shadow)')\n" % lacking)
    # a closed loopback port: if the check ever came after the connection, nothing outside this host is tried
    params = dict(args, host="127.0.0.1", port=9, password="not-in-any-message", lock_dir=str(tmp_path / "locks"))
    if module == "edgeswitch_command":
        params.pop("lock_dir")
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "shadow")] + sys.path))
    proc = subprocess.run([sys.executable, os.path.join(MODULES, module + ".py"), str(argfile)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False, env=env)
    assert proc.stdout, proc.stderr.decode()[-2000:]
    result = json.loads(proc.stdout.decode())
    assert result.get("failed") and "Failed to import the required Python library (%s)" % lacking in result["msg"], result
    assert advice in result["msg"]
    assert not (tmp_path / "locks").exists()   # failed before taking the switch
