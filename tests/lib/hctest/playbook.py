"""Run a real ``ansible-playbook`` from tests and get every task result back as JSON.

Usage::

    from hctest.playbook import run_playbook

    res = run_playbook("playbooks/upgrade_one.yml", {"node1": sshd.host_vars()},
                       extra_vars={"payload": "/tmp/p.tar.gz"})
    assert res.rc == 0, res.output
    r = res.result("Apply the payload", "node1")     # the module result dict (last one with that task name)
    res.status("Apply the payload", "node1")          # "ok" / "failed" / "skipped" / "unreachable"

The run uses the checkout's ``ansible.cfg`` (ANSIBLE_CONFIG), ANSIBLE_COLLECTIONS_PATH =
``/work/main/.build/collections`` (the checkout linked as ``waggle.honeycomb``), a generated YAML
inventory, a private SSH ControlPath dir whose masters are closed after the run, and the test-only
``hctest_results`` callback writing one JSON line per task result. ``ansible_playbook`` selects another
ansible-core (e.g. ``.venv-core216/bin/ansible-playbook``). ``playbook`` may be a path or YAML text.
"""

import glob
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
COLLECTIONS = REPO / ".build" / "collections"
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"


class PlaybookResult:
    def __init__(self, rc, stdout, stderr, records):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.records = records

    @property
    def output(self):
        return "rc=%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (self.rc, self.stdout[-20000:], self.stderr[-8000:])

    def _record(self, task, host):
        found = [r for r in self.records if r["task"] == task and (host is None or r["host"] == host)]
        if not found:
            raise KeyError("no result for task %r on host %r; tasks seen: %s\n%s" % (
                task, host, sorted(set(r["task"] for r in self.records)), self.output))
        return found[-1]

    def result(self, task, host=None):
        return self._record(task, host)["result"]

    def status(self, task, host=None):
        return self._record(task, host)["status"]


def write_inventory(path, hosts, group_vars=None):
    """YAML (JSON is YAML) inventory: every host in group ``nodes``."""
    data = {"all": {"children": {"nodes": {"hosts": hosts, "vars": group_vars or {}}}}}
    Path(path).write_text(json.dumps(data, indent=1))
    return str(path)


def run_playbook(playbook, hosts, extra_vars=None, check=False, ansible_playbook=None, env=None, timeout=600,
                 args=(), workdir=None):
    work = Path(tempfile.mkdtemp(prefix="hctest-pb-", dir=workdir))
    cp_dir = tempfile.mkdtemp(prefix="hc-cp-", dir="/tmp")  # short: unix socket paths are limited to 108 bytes
    try:
        if isinstance(playbook, str) and not os.path.exists(playbook):  # YAML (or JSON) text
            path = work / "playbook.yml"
            path.write_text(playbook)
            playbook = path
        inventory = write_inventory(work / "inventory.yml", hosts)
        results_file = work / "results.jsonl"
        run_env = dict(os.environ)
        run_env.update({
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
            "ANSIBLE_CALLBACKS_ENABLED": "hctest_results",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": cp_dir,
            "ANSIBLE_LOCAL_TEMP": str(work / "local-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "HCTEST_RESULTS_FILE": str(results_file),
        })
        run_env.update(env or {})
        cmd = [str(ansible_playbook or ANSIBLE_PLAYBOOK), "-i", inventory, str(playbook)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if check:
            cmd.append("--check")
        cmd += list(args)
        proc = subprocess.run(cmd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout, cwd=str(REPO), check=False)
        records = []
        if results_file.exists():
            records = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
        return PlaybookResult(proc.returncode, proc.stdout, proc.stderr, records)
    finally:
        close_masters(cp_dir)
        shutil.rmtree(cp_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def close_masters(cp_dir):
    """Ask every SSH ControlMaster with a socket in ``cp_dir`` (ours only) to exit."""
    for sock in glob.glob(os.path.join(cp_dir, "*")):
        subprocess.run(["ssh", "-o", "ControlPath=%s" % sock, "-O", "exit", "127.0.0.1"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30, check=False)
