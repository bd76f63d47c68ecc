"""Where the controller's CPU goes: run a command under `perf record` and split the CPU time of its
process tree by kind of process (make bench --profile, docs/benchmarks.md).

`perf record -F HZ -- cmd` samples the command and every process it starts (forked workers, ssh clients and
the ssh ControlMasters, which daemonise but stay in the tree); each sample stands for 1/HZ s of CPU. The
samples are split into:

  ansible main     the ansible-playbook process itself (strategy, results, callbacks, forking workers)
  ansible workers  its forked workers (one per task and host: templating, the action plugin)
  ssh              every ssh client: ControlMasters with their ProxyCommand ssh, and one short mux client
                   per exec
  other            anything else (e.g. ssh-keygen for signatures)

Sampling gives CPU time to within a few percent for runs of seconds; perf's own overhead is not in it.
"""

from __future__ import annotations

import collections
import shutil
import subprocess

HZ = 999
ANSIBLE_COMM = "ansible-playboo"  # comm is cut to 15 characters
KINDS = ("ansible main", "ansible workers", "ssh", "other")


def available() -> bool:
    """perf is installed and may sample here (a container may forbid it)."""
    if not shutil.which("perf"):
        return False
    proc = subprocess.run(["perf", "record", "-q", "-F", str(HZ), "-o", "/dev/null", "--", "true"],
                          capture_output=True, check=False)
    return proc.returncode == 0


def prefix(data_path) -> list:
    """The argv prefix that records a command into ``data_path``."""
    return ["perf", "record", "-q", "-F", str(HZ), "-o", str(data_path), "--"]


def classify(lines) -> dict:
    """{kind: CPU seconds} from `perf script -F comm,pid,time` lines (``<comm> <pid> <time>:``). The main
    ansible-playbook process is the one of the earliest ansible sample; comm may contain spaces."""
    samples = []
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        try:
            pid, when = int(parts[-2]), float(parts[-1].rstrip(":"))
        except ValueError:
            continue
        samples.append((" ".join(parts[:-2]), pid, when))
    main_pid = min(((when, pid) for comm, pid, when in samples if comm == ANSIBLE_COMM), default=(0, None))[1]
    counts = collections.Counter()
    for comm, pid, dummy in samples:
        if comm == ANSIBLE_COMM:
            counts["ansible main" if pid == main_pid else "ansible workers"] += 1
        elif comm == "ssh":
            counts["ssh"] += 1
        else:
            counts["other"] += 1
    return dict((kind, counts[kind] / HZ) for kind in KINDS)


def split(data_path) -> dict:
    """{kind: CPU seconds} of a recording."""
    out = subprocess.run(["perf", "script", "-i", str(data_path), "-F", "comm,pid,time"], capture_output=True,
                         text=True, check=True).stdout
    return classify(out.splitlines())
