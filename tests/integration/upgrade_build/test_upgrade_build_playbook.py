"""waggle.honeycomb.upgrade_build through a real ansible-playbook run (action plugin on the controller)."""

import hashlib
import os
import subprocess

from hctest.playbook import run_playbook

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as P
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import signing as S

PLAYBOOK = """
- name: Build a payload
  hosts: nodes
  gather_facts: false
  tasks:
    - name: Build
      waggle.honeycomb.upgrade_build:
        src: mypayload
        dest: out/mypayload.tar.gz
        name: mypayload
        peripheral: widget
        retries:
          verify: 2
        backup_paths:
          - /etc/widget
{extra}
"""


def write_playbook(root, extra=""):
    path = root / "build.yml"
    path.write_text(PLAYBOOK.format(extra=extra))
    return str(path)


def test_build_rerun_and_check_mode(payload_src, local_host):
    playbook = write_playbook(payload_src)
    dest = payload_src / "out" / "mypayload.tar.gz"

    res = run_playbook(playbook, local_host, args=["--check"])
    assert res.rc == 0, res.output
    assert res.result("Build")["changed"] is True
    assert not dest.exists()

    res = run_playbook(playbook, local_host)
    assert res.rc == 0, res.output
    r = res.result("Build")
    assert r["changed"] is True and r["dest"] == str(dest) and r["signed"] is False
    assert r["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    pl = P.inspect_archive(str(dest))
    assert pl.manifest["name"] == "mypayload" and pl.manifest["peripheral"] == "widget"
    assert pl.manifest["version"] == "1.0.0"           # from files/mypayload/honeycomb.yml
    assert pl.manifest["phases"]["verify"]["retries"] == 2 and pl.manifest["backup_paths"] == ["/etc/widget"]
    mtime = dest.stat().st_mtime_ns

    res = run_playbook(playbook, local_host)
    assert res.rc == 0, res.output
    assert res.result("Build")["changed"] is False
    assert dest.stat().st_mtime_ns == mtime

    (payload_src / "files" / "mypayload" / "new.txt").write_text("new\n")
    res = run_playbook(playbook, local_host, args=["--check"])
    assert res.result("Build")["changed"] is True and dest.stat().st_mtime_ns == mtime


def test_refusal_names_file(payload_src, local_host):
    os.chmod(str(payload_src / "files" / "mypayload" / "hc_install_upgrade.sh"), 0o644)
    res = run_playbook(write_playbook(payload_src), local_host)
    assert res.rc != 0
    assert res.status("Build") == "failed"
    r = res.result("Build")
    assert "hc_install_upgrade.sh" in r["msg"] and "not executable" in r["msg"]
    assert r["payload_error"]["member"] == "hc_install_upgrade.sh"
    assert os.listdir(str(payload_src / "out")) == []


def test_signed_build(payload_src, local_host):
    key = payload_src / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", str(key)], check=True)
    allowed = payload_src / "allowed_signers"
    allowed.write_text('ci namespaces="waggle-honeycomb" %s\n' % (payload_src / "signing_key.pub").read_text().strip())
    res = run_playbook(write_playbook(payload_src, extra="        sign_key: signing_key"), local_host)
    assert res.rc == 0, res.output
    assert res.result("Build")["signed"] is True
    pl = P.inspect_archive(str(payload_src / "out" / "mypayload.tar.gz"))
    assert S.verify_payload(pl, str(allowed), require_signature=True) == "ci"


def test_missing_src(payload_src, local_host):
    playbook = payload_src / "missing.yml"
    playbook.write_text(PLAYBOOK.format(extra="").replace("src: mypayload", "src: nothere"))
    res = run_playbook(str(playbook), local_host)
    assert res.rc != 0
    assert "nothere" in res.result("Build")["msg"]
