"""The hostile payload corpus (tests/data/hostile, made by tools/make_hostile_corpus.py) against a node.

1. Every case through the real ``waggle.honeycomb.upgrade`` (the controller refuses it: 0 bytes reach
   the node).
2. Every case the node can judge by itself (all but the signature ones: signatures are verified on the
   controller, see docs/upgrade.md) sent to the node unchecked by a test-only action
   (``action_plugins/hc_node_upgrade.py``), as if the controller had been bypassed: the node refuses
   each one before any script runs (the corpus' scripts would create a canary file), with nothing
   written anywhere on the node: its whole disk (persistent directories), its /tmp and the host paths
   the archives aim at are compared before and after.
3. A positive control: a valid corpus payload sent the same way does run its script and create the
   canary, so the canary check can see a script run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hctools.simfleet import links

pytestmark = [pytest.mark.fleet, pytest.mark.slow]
HERE = Path(__file__).parent
REPO = HERE.parents[1]
CORPUS = REPO / "tests" / "data" / "hostile"
NODE = "W001"
# where the archives try to write, were they extracted naively (the node shares the host's root fs)
TARGETS = ("/etc/cron.d/evil", "/escape.sh", "/etc/passwd.hc", "/tmp/hc-hostile-script-ran")


def snapshot(root: Path) -> dict:
    """Every entry under the node's persistent directories, except logs and Ansible's remote tmp."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel.startswith(("var-log", "root/.ansible")):
            dirnames[:] = []
            continue
        if rel == "root":
            dirnames[:] = [d for d in dirnames if d != ".ansible"]  # Ansible's own remote tmp
        for name in dirnames:
            out[os.path.join(rel, name)] = "dir"
        for name in filenames:
            if rel == "." and name.startswith(links.COUNTER_FILE):
                continue  # the simulated uplink's byte counters: the simulator's, not the node's files
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.join(rel, name)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def run_tasks(ff, tmp: Path, tasks: list, name: str) -> tuple[subprocess.CompletedProcess, list]:
    report = tmp / f"{name}.json"
    play = [{"name": name, "hosts": NODE, "gather_facts": False, "tasks": tasks + [{
        "name": "report", "delegate_to": "localhost",
        "vars": {"ansible_python_interpreter": sys.executable, "ansible_connection": "local"},
        "ansible.builtin.copy": {"dest": str(report), "mode": "0644", "content": "{{ results.results | to_json }}"}}]}]
    pb = tmp / f"{name}.yml"
    pb.write_text(json.dumps(play, indent=1))
    env = ff.f.ansible_env()
    env["ANSIBLE_ACTION_PLUGINS"] = str(HERE / "action_plugins")
    r = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(ff.f.inventory), str(pb)],
                       capture_output=True, text=True, env=env, cwd=str(REPO), timeout=900, check=False)
    assert report.exists(), r.stdout[-5000:] + r.stderr[-3000:]
    return r, json.loads(report.read_text())


def node_tmp(ff) -> list[str]:
    return sorted(ff.f.ssh(NODE, "ls -A /tmp").stdout.split())


def test_hostile_corpus_is_refused_by_the_node_itself(fault_fleet, tmp_path):
    ff = fault_fleet
    meta = json.loads((CORPUS / "cases.json").read_text())
    cases = meta["cases"]
    canary = meta["canary"]
    node_dir = ff.node_dir(NODE)
    before, tmp_before = snapshot(node_dir), node_tmp(ff)
    assert not any(os.path.lexists(t) for t in TARGETS)

    # 1. through the real action plugin: refused on the controller
    names = sorted(cases)
    item = {"src": "{{ item }}"}
    signed = {"allowed_signers": str(CORPUS / meta["allowed_signers"])}
    ctl_args = {"src": "{{ item.src }}",
                "allowed_signers": "{{ item.signers | ternary('%s', omit) }}" % signed["allowed_signers"],
                "require_signature": "{{ item.signers }}"}
    ctl_tasks = [{"name": "checked", "waggle.honeycomb.upgrade": ctl_args, "register": "results",
                  "ignore_errors": True,
                  "loop": [{"src": str(CORPUS / cases[n]["file"]), "signers": cases[n]["stage"] == "signature"}
                           for n in names if cases[n]["expect"] == "refused"]}]
    r, results = run_tasks(ff, tmp_path, ctl_tasks, "controller")
    refused = [n for n in names if cases[n]["expect"] == "refused"]
    assert len(results) == len(refused) == 62, r.stdout[-3000:]
    for n, res in zip(refused, results):
        assert res.get("failed") and cases[n]["match"] in res["msg"], (n, res.get("msg"))
        assert res.get("payload_bytes_sent", 0) == 0 and not res.get("changed"), (n, res)

    # 2. unchecked, straight to the node: the node refuses each one itself
    node_cases = [n for n in refused if cases[n]["stage"] == "inspect"]
    raw_tasks = [{"name": "unchecked", "hc_node_upgrade": item, "register": "results", "ignore_errors": True,
                  "loop": [str(CORPUS / cases[n]["file"]) for n in node_cases]}]
    r, results = run_tasks(ff, tmp_path, raw_tasks, "node")
    assert len(results) == len(node_cases) == 58, r.stdout[-3000:]
    for n, res in zip(node_cases, results):
        case = cases[n]
        assert res.get("failed") and res.get("status") == "failed", (n, res)
        assert res.get("payload_error"), (n, res)  # refused by the node's own inspection
        assert case["match"] in res["msg"], (n, res["msg"])
        named = case["member"] if case["member"] is not None else None
        if named is not None:
            assert res["payload_error"]["member"] == named, (n, res["payload_error"])
        assert res.get("job_id") is None and not res.get("changed"), (n, res)

    # nothing ran, nothing was written anywhere (the store entries were removed again)
    assert not ff.f.ssh(NODE, f"test -e {canary}", check=False).returncode == 0, "a hostile script ran"
    after = snapshot(node_dir)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    # allowed: the state dir's (empty) skeleton, made when the node stored the upload before inspecting it
    skeleton = {"honeycomb/jobs", "honeycomb/payloads"}
    assert set(changed) <= skeleton, changed
    for d in skeleton & set(changed):
        assert after[d] == "dir" and not os.listdir(node_dir / d), d
    assert node_tmp(ff) == tmp_before
    assert not any(os.path.lexists(t) for t in TARGETS)


def test_positive_control_a_valid_unchecked_payload_does_run(fault_fleet, tmp_path):
    """The harness of the test above can see a script run: a valid corpus payload sent the same way runs
    and creates the canary on the node (removed again afterwards)."""
    ff = fault_fleet
    meta = json.loads((CORPUS / "cases.json").read_text())
    tasks = [{"name": "valid", "hc_node_upgrade": {"src": "{{ item }}", "state_dir": "/var/lib/honeycomb/control"},
              "register": "results", "ignore_errors": True, "loop": [str(CORPUS / "valid-v2.tar.gz")]}]
    try:
        r, results = run_tasks(ff, tmp_path, tasks, "control")
        assert results[0].get("job_id"), results
        assert ff.f.ssh(NODE, f"test -e {meta['canary']}", check=False).returncode == 0, results
    finally:
        ff.f.ssh(NODE, f"rm -rf {meta['canary']} /var/lib/honeycomb/control", check=False)
