"""Cost of the bastion hop: shared bastion logins against one login per node, through a simulated fleet
whose bastion has the production sshd settings (OpenSSH's MaxStartups 10:30:100, MaxSessions 10).

    .venv/bin/python tools/bench/bastion.py --nodes 50 --forks 25

Runs, on one fleet (its own directory, taken down at the end):
  burst      N plain bastion logins started at once (what N ProxyCommands of a cold fan-out without
             pacing do): how many the bastion drops (past MaxStartups)
  unshared   `ansible all -m ping` through the beekeeper inventory with bastion_multiplex false
  shared     the same with bastion_multiplex true (the default), fresh control directory
  shared re-run  again, within ControlPersist
and prints a Markdown table: wall time, bastion logins (the bastion's `Accepted publickey` lines for the
operator's key), logins per node, MaxStartups drops, nodes reached / unreachable, and the load average.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def simfleet(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "hctools.simfleet", *args], capture_output=True, text=True,
                       timeout=900, check=False)
    if check and r.returncode:
        raise SystemExit(f"simfleet {' '.join(args)} failed: {r.stderr}")
    return r


def load():
    return os.getloadavg()[0]


class Bastion:
    def __init__(self, status):
        self.status = status
        self.log = Path(status["dir"]) / "bastion" / "sshd.log"
        pub = status["operator_key"] + ".pub"
        self.fingerprint = subprocess.run(["ssh-keygen", "-lf", pub], capture_output=True, text=True,
                                          check=True).stdout.split()[1]

    def counts(self):
        text = self.log.read_text(errors="replace")
        logins = len(re.findall(r"Accepted publickey for \S+ from .* %s$" % re.escape(self.fingerprint), text, re.M))
        return logins, text.count("past MaxStartups")


def burst(st, n):
    argv = ["ssh", "-p", str(st["bastion_port"]), "-i", st["operator_key"], "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "root@127.0.0.1", "true"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        rcs = list(pool.map(lambda _: subprocess.run(argv, capture_output=True, timeout=120).returncode, range(n)))
    return sum(1 for rc in rcs if rc == 0)


def ping(st, inventory, control_dir, forks):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(control_dir), ANSIBLE_NOCOLOR="1",
               PATH=f"{BIN}:{env.get('PATH', '')}")
    t0 = time.monotonic()
    r = subprocess.run([str(BIN / "ansible"), "-i", str(inventory), "all", "-f", str(forks), "-m",
                        "ansible.builtin.ping"], env=env, capture_output=True, text=True, timeout=1800, check=False)
    return time.monotonic() - t0, r.stdout.count("| SUCCESS"), r.stdout.count("UNREACHABLE!")


def inventory(st, work, multiplex):
    nodes = work / "nodes.json"
    nodes.write_text(simfleet("inventory", "--format", "beekeeper", "--dir", st["dir"]).stdout)
    path = work / f"{'shared' if multiplex else 'unshared'}.beekeeper.yml"
    path.write_text(json.dumps({
        "plugin": "waggle.honeycomb.beekeeper", "path": str(nodes), "bastion_host": "127.0.0.1",
        "bastion_port": st["bastion_port"], "bastion_key": st["operator_key"], "node_key": st["operator_key"],
        "extra_ssh_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "bastion_multiplex": multiplex}))
    return path


def stop_masters(control_dir):
    for sock in control_dir.iterdir():
        if sock.is_socket():
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True, timeout=20)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=50)
    p.add_argument("--forks", type=int, default=25)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hcbb-", dir="/tmp"))
    fleet_dir = work / "f"
    rows = []
    try:
        simfleet("up", "--nodes", str(args.nodes), "--devices", "none", "--bastion", "production", "--dir",
                 str(fleet_dir), "--no-remember")
        st = json.loads(simfleet("status", "--json", "--dir", str(fleet_dir)).stdout)
        bastion = Bastion(st)

        def measure(label, fn):
            before = bastion.counts()
            la = load()
            wall, ok, unreachable = fn()
            after = bastion.counts()
            logins, drops = after[0] - before[0], after[1] - before[1]
            rows.append((label, wall, logins, logins / args.nodes, drops, ok, unreachable, la))

        def do_burst():
            t0 = time.monotonic()
            ok = burst(st, args.nodes)
            return time.monotonic() - t0, ok, args.nodes - ok

        measure(f"burst: {args.nodes} plain bastion logins at once", do_burst)
        for multiplex in (False, True):
            cp = Path(tempfile.mkdtemp(prefix="hcbc-", dir="/tmp"))
            inv = inventory(st, work, multiplex)
            label = "shared logins (default)" if multiplex else "one login per node (bastion_multiplex false)"
            measure(f"ping, {label}", lambda: ping(st, inv, cp, args.forks))
            if multiplex:
                measure("ping, shared logins, re-run within ControlPersist", lambda: ping(st, inv, cp, args.forks))
            stop_masters(cp)
            shutil.rmtree(cp, ignore_errors=True)
    finally:
        simfleet("down", "--dir", str(fleet_dir), "--purge", check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.nodes} nodes, forks {args.forks}, production bastion settings; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs\n")
    print("| Run | Wall s | Bastion logins | Logins per node | MaxStartups drops | Reached | Failed | Load before |")
    print("|---|---|---|---|---|---|---|---|")
    for label, wall, logins, per, drops, ok, bad, la in rows:
        print(f"| {label} | {wall:.1f} | {logins} | {per:.2f} | {drops} | {ok} | {bad} | {la:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
