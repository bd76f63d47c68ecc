"""The collection as AWX and users get it: a galaxy tarball installed into an empty collections path
runs the upgrade playbook; the execution environment definition gives ansible-builder a build context."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from hctest.playbook import REPO
from hctest.requires import require_venv_tool
from hctest.rollout import REPORT_CALLBACKS

pytestmark = pytest.mark.slow
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """``ansible-galaxy collection build`` of the tracked files (a copy: other work in progress in the
    checkout, untracked files appearing and disappearing, must not change or break the build)."""
    src = tmp_path_factory.mktemp("src") / "honeycomb"
    files = subprocess.run(["git", "ls-files", "-z", "--cached"], cwd=str(REPO), capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        path = REPO / rel
        if path.is_file() and not path.is_symlink():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / rel)
    out = tmp_path_factory.mktemp("galaxy")
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out)],
                   cwd=str(src), check=True, capture_output=True, text=True, timeout=300)
    (built,) = out.glob("waggle-honeycomb-*.tar.gz")
    return built


def test_installed_collection_runs_the_upgrade_playbook(tarball, make_fleet, payload, tmp_path):
    coll = tmp_path / "collections"
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--force", str(tarball), "-p", str(coll)],
                   check=True, capture_output=True, text=True, timeout=300)
    installed = coll / "ansible_collections" / "waggle" / "honeycomb"
    assert (installed / "playbooks" / "upgrade.yml").exists()
    assert (installed / "plugins" / "callback" / "fleet_report.py").exists()
    assert not (installed / ".venv").exists() and not (installed / "tools").exists()

    fleet = make_fleet(2)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": fleet.hosts}}))
    reports = tmp_path / "reports"
    cp_dir = Path(__import__("tempfile").mkdtemp(prefix="hc-cp-", dir="/tmp"))
    env = dict(os.environ)
    env.update({
        # only the installed copy: not the checkout's .build/collections link
        "ANSIBLE_COLLECTIONS_PATH": str(coll),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": REPORT_CALLBACKS.split(",")[1],
        "HONEYCOMB_FLEET_REPORT_DIR": str(reports),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir),
        "ANSIBLE_NOCOLOR": "1",
        # the venv's .pth puts the checkout's collections dir on sys.path: do not scan it
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
    })
    try:
        proc = subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "waggle.honeycomb.upgrade",
             "-e", json.dumps({"payload": payload, "rollout_batches": [1, "100%"], "rollout_sanity_gate": False,
                               "rollout_post_check": False, "rollout_poll_interval": 1}), "-vv"],
            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=400, check=False)
    finally:
        for sock in cp_dir.glob("*"):
            subprocess.run(["ssh", "-o", "ControlPath=%s" % sock, "-O", "exit", "x"], capture_output=True, timeout=30, check=False)
        shutil.rmtree(cp_dir, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "task path: %s:" % (installed / "playbooks" / "upgrade.yml") in proc.stdout
    assert "task path: %s" % REPO not in proc.stdout
    report = json.loads((reports / "latest" / "report.json").read_text())
    assert {n["name"]: n["status"] for n in report["nodes"]} == {"n1": "applied", "n2": "applied"}
    assert fleet.marker("n1") == fleet.marker("n2") == "1.0.0"


def _builder():
    return require_venv_tool("ansible-builder")


def test_ansible_builder_creates_a_build_context(tarball, tmp_path):
    builder = _builder()
    src = tmp_path / "src"
    (src / ".build" / "ee").mkdir(parents=True)
    shutil.copy(REPO / "execution-environment.yml", src / "execution-environment.yml")
    shutil.copy(tarball, src / ".build" / "ee" / "waggle-honeycomb.tar.gz")
    ctx = tmp_path / "context"
    proc = subprocess.run([builder, "create", "-f", str(src / "execution-environment.yml"), "-c", str(ctx)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = next(p for p in (ctx / "Containerfile", ctx / "Dockerfile") if p.exists()).read_text()
    assert "ansible-galaxy collection install" in containerfile
    assert "ansible-core==2.21.5" in containerfile and "python3.12" in containerfile
    reqs = yaml.safe_load((ctx / "_build" / "requirements.yml").read_text())
    names = [c["name"] for c in reqs["collections"]]
    assert "collections/waggle-honeycomb.tar.gz" in names and "awx.awx" in names
    with tarfile.open(ctx / "_build" / "collections" / "waggle-honeycomb.tar.gz") as tf:
        manifest = json.load(tf.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["namespace"] == "waggle"
    assert manifest["collection_info"]["name"] == "honeycomb"


def test_ansible_builder_introspection_finds_the_collection_dependencies(tarball, tmp_path):
    builder = _builder()
    coll = tmp_path / "collections"
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--force", str(tarball), "-p", str(coll)],
                   check=True, capture_output=True, text=True, timeout=300)
    proc = subprocess.run([builder, "introspect", str(coll)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for dep in ("paramiko", "pexpect", "requests", "jmespath", "openssh-clients"):
        assert dep in out, out
