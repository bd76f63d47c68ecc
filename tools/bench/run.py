"""Fan-out benchmark: waggle.honeycomb.upgrade against plain OpenSSH through the same tunnels.

For each fleet size N it starts a simulated fleet (real sshd, real reverse tunnels through a real
bastion sshd), then measures with the same parallelism (forks):

  baseline        parallel `ssh` per node: send the payload, unpack it, run state check, install, verify
  baseline-check  parallel `ssh` per node: run only the state check of the unpacked payload
  ansible         playbooks/upgrade_one.yml doing the same upgrade
  ansible-rerun   the same playbook again, every node already in the target state

  ansible-cold    the re-run once more after closing the ssh ControlMasters (cold, like the baseline)
  rollout-wait    playbooks/upgrade.yml, the rollout users run (the upgrade task with `wait: true`: the job
                  started detached, polled and collected by the controller), one batch, no sanity gate or
                  post-check (the simulated nodes have no Waggle environment): its controller CPU per node
                  is the figure issue 13 bounds (0.30 s at N = 50)

and appends a table to docs/benchmarks.md with the date, the machine and the load average. Run with
`make bench`; `python tools/bench/run.py --nodes 10 --nodes 50` picks the sizes, `--profile` (the default where perf can sample)
adds where the controller's CPU goes by process (tools/bench/cpu_split.py), `--link lte` gives every
node that simfleet link profile (or a mix, e.g. `--link lte:50%,lan`; default lan) and adds a table of the
wall time per node and the bytes each node's link carried in the first run and the re-run, `--set NAME=VALUE`
passes settings to the ansible runs (e.g. `--set ANSIBLE_SSH_ARGS=...`, `--set ANSIBLE_STRATEGY=free`)
and `--label` names such a variant in the table. docs/benchmarks.md explains the method.

Controller CPU time is that of ansible-playbook, its workers and every ssh client including the
ControlMasters, which daemonise: this process makes itself their child subreaper so that their CPU
time is counted when they exit. Fleet CPU time is that of the bastion sshd, every node's processes
(sshd, sessions, modules, scripts) and the tunnel clients, summed from /proc. On a machine shared with
other work, CPU time is a steadier measure than wall time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import ctypes
import datetime
import glob
import re
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_split  # noqa: E402  (tools/bench/cpu_split.py)

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DOC = REPO / "docs" / "benchmarks.md"
PAYLOAD_SRC = REPO / "examples" / "payloads" / "honeycomb-version"
NODE_PYTHON = "/usr/bin/python3"
STATS_FILE = "/var/lib/honeycomb/bench-module-stats"
CALLBACKS = REPO / "tests" / "lib" / "hctest" / "callback_plugins"
PLAYBOOK = REPO / "playbooks" / "upgrade_one.yml"  # --playbook: its upgrade task must be named "Apply the payload"

# The targets of issue 9, checked (not asserted) and printed beside the figures.
TARGETS = {
    "upgrade_ratio": 2.0,
    "rerun_ratio": 1.5,
    "module_peak_mib": 40.0,
    "linear_100_vs_50": 2.2,
    "wait_controller_cpu_per_node_50": 0.30,  # issue 13: the rollout's wait path, controller CPU s per node
}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def simfleet(*args):
    return run([str(VENV_BIN / "simfleet"), *args], timeout=900).stdout


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Orphans (daemonised ssh ControlMasters) get reparented to us, so their CPU time is counted."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def reap_orphans():
    """Wait for exited orphans so that their rusage is added to RUSAGE_CHILDREN."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def close_masters(cp_dir: Path, wait_s=10.0):
    """Ask every ssh ControlMaster with a socket in cp_dir (ours only) to exit, then reap it."""
    for sock in glob.glob(os.path.join(str(cp_dir), "*")):
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True, timeout=30,
                       check=False)
    deadline = time.monotonic() + wait_s
    while glob.glob(os.path.join(str(cp_dir), "*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    reap_orphans()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table():
    """{pid: (ppid, CPU seconds of the process and of its waited-for children)} of every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        # fields[0] is state (field 3): ppid is field 4, utime..cstime are fields 14-17
        table[int(name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / CLK_TCK)
    return table


class FleetCPU:
    """CPU seconds used by the simulated fleet: the bastion sshd, every node's processes (init, sshd,
    sessions, modules, scripts) and the nodes' tunnel clients. The sum over live processes of their own
    and their reaped children's CPU time only grows, so a difference measures what happened in between."""

    def __init__(self, fleet_dir: Path):
        state = json.loads((fleet_dir / "fleet.json").read_text())
        self.roots = {state["bastion"]["pid"]}
        for node in state["nodes"]:
            for key in ("init", "relay"):
                if node.get(key):
                    self.roots.add(node[key]["pid"])

    def seconds(self):
        table = _proc_table()
        children = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        total, todo = 0.0, [pid for pid in self.roots if pid in table]
        while todo:
            pid = todo.pop()
            total += table[pid][1]
            todo.extend(children.get(pid, ()))
        return total


class Timed:
    """Wall time, the CPU time of the child processes that finished inside the block and, with a
    FleetCPU, the fleet's CPU time."""

    def __init__(self, fleet: FleetCPU | None = None):
        self.fleet = fleet
        self.fleet_cpu = None

    def __enter__(self):
        reap_orphans()  # exited orphans from before the block (e.g. a stopped fleet's daemons) do not count
        self.f0 = self.fleet.seconds() if self.fleet else None
        self.t0 = time.monotonic()
        self.r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def mark(self):
        """Wall time so far (what follows inside the block counts for CPU only)."""
        self.marked = time.monotonic() - self.t0

    def __exit__(self, *exc):
        reap_orphans()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall = time.monotonic() - self.t0
        self.cpu = (r1.ru_utime - self.r0.ru_utime) + (r1.ru_stime - self.r0.ru_stime)
        if self.fleet:
            self.fleet_cpu = self.fleet.seconds() - self.f0
        return False


def parallel(hosts, forks, fn):
    with concurrent.futures.ThreadPoolExecutor(max_workers=forks) as pool:
        results = list(pool.map(fn, hosts))
    failed = [h for h, ok in zip(hosts, results) if not ok]
    if failed:
        raise RuntimeError(f"baseline failed on {len(failed)} nodes: {failed[:5]}")


def ssh(ssh_config, host, command, stdin=None):
    proc = subprocess.run(["ssh", "-F", str(ssh_config), "-o", "BatchMode=yes", host, command],
                          stdin=stdin, capture_output=True, timeout=600)
    if proc.returncode != 0:
        print(f"{host}: rc={proc.returncode} {proc.stderr.decode(errors='replace')[-500:]}", file=sys.stderr)
    return proc.returncode


def payload_version():
    import yaml
    return str(yaml.safe_load((PAYLOAD_SRC / "honeycomb.yml").read_text())["version"])


def baseline_full(ssh_config, hosts, payload, forks):
    # One connection per node: the floor for "copy the payload and run the three scripts".
    script = (f"export HC_PAYLOAD_VERSION={payload_version()}; set -e; d=/var/lib/honeycomb/hc-baseline; rm -rf $d; mkdir -p $d; cat > $d/p.tar.gz; cd $d; "
              "tar xzf p.tar.gz; set +e; ./hc_state_check.sh; rc=$?; "
              "if [ $rc -eq 0 ]; then ./hc_install_upgrade.sh && ./hc_verify_upgrade.sh; "
              "elif [ $rc -eq 100 ]; then true; else exit $rc; fi")

    def one(host):
        with open(payload, "rb") as fh:
            return ssh(ssh_config, host, script, stdin=fh) == 0
    parallel(hosts, forks, one)


def baseline_check(ssh_config, hosts, forks):
    script = f"export HC_PAYLOAD_VERSION={payload_version()}; cd /var/lib/honeycomb/hc-baseline && ./hc_state_check.sh; test $? -eq 100"
    parallel(hosts, forks, lambda h: ssh(ssh_config, h, script) == 0)


def reset_nodes(ssh_config, hosts, forks):
    script = ("rm -rf /var/lib/honeycomb/hc-baseline /var/lib/honeycomb/jobs /var/lib/honeycomb/installed.json "
              f"/var/lib/honeycomb/payloads /etc/waggle/honeycomb {STATS_FILE}")
    parallel(hosts, forks, lambda h: ssh(ssh_config, h, script) == 0)


def write_interpreter_wrapper(path: Path):
    """A Python interpreter stand-in that records peak RSS (KiB), CPU and wall seconds of the module
    process it runs, one line per module run. Used only in untimed runs: it costs a Python start."""
    path.write_text(
        "#!/usr/bin/python3\n"
        "import resource, subprocess, sys, time\n"
        "t0 = time.monotonic()\n"
        f"rc = subprocess.call([{NODE_PYTHON!r}] + sys.argv[1:])\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        f"with open({STATS_FILE!r}, 'a') as fh:\n"
        "    fh.write('%d %.3f %.3f\\n' % (ru.ru_maxrss, ru.ru_utime + ru.ru_stime, time.monotonic() - t0))\n"
        "sys.exit(rc)\n")
    path.chmod(0o755)


def resident_through_wrapper(ssh_config, hosts, forks, wrapper: Path):
    """Make the node-resident engine (docs/resident-engine.md) start through the recording wrapper: its
    ``python`` file names the interpreter the shell starts; the bootstrap still checks that the real
    interpreter is the one its bytecode was compiled for (the wrapper runs it)."""
    script = f"for f in /var/lib/honeycomb/engine/*/python; do [ -f $f ] && echo {wrapper} > $f; done; true"
    parallel(hosts, forks, lambda h: ssh(ssh_config, h, script) == 0)


def module_stats(ssh_config, hosts, forks):
    """[(peak KiB, CPU s, wall s)] of every module run the wrapper recorded on these hosts; clears them."""
    runs = []

    def one(host):
        out = subprocess.run(["ssh", "-F", str(ssh_config), "-o", "BatchMode=yes", host,
                              f"cat {STATS_FILE} 2>/dev/null; rm -f {STATS_FILE}"],
                             capture_output=True, text=True, timeout=120).stdout
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 3:
                runs.append((int(fields[0]), float(fields[1]), float(fields[2])))
        return True
    parallel(hosts, forks, one)
    return runs


def wrapper_cpu(ssh_config, host):
    """CPU seconds of one start of the interpreter wrapper itself (its imports), measured on the node."""
    code = ("import resource, subprocess\n"
            f"for _ in range(5): subprocess.call([{NODE_PYTHON!r}, '-c', 'import resource, subprocess, sys, time'])\n"
            "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print((r.ru_utime + r.ru_stime) / 5)\n")
    out = subprocess.run(["ssh", "-F", str(ssh_config), "-o", "BatchMode=yes", host, f"{NODE_PYTHON} -"],
                         input=code, capture_output=True, text=True, timeout=120).stdout
    try:
        return float(out.split()[-1])
    except (ValueError, IndexError):
        return 0.0


def ansible_env(work: Path, results: Path, forks: int, cp_dir: Path, settings: dict):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections"),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_CALLBACKS_ENABLED": "hctest_results",
        "HCTEST_RESULTS_FILE": str(results),
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_NOCOLOR": "1",
        # Private ControlMasters: simulated fleets reuse node IDs, so a shared control_path_dir would
        # reach another fleet's node (docs/performance.md).
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir),
        "ANSIBLE_LOCAL_TEMP": str(work / "ansible-local"),
    })
    env.update(settings)
    return env


def ansible_run(inventory, payload, forks, work: Path, interpreter, cp_dir: Path, settings: dict,
                limit=None, verbose=False, per_host=None, traffic=None, prefix=()):
    """The "Apply the payload" results; per_host (a dict) receives {host: seconds from the start of the
    run to that host's last task result}, traffic (a dict) {host: the upgrade result's traffic}."""
    results = work / f"results-{time.monotonic_ns()}.jsonl"
    started = time.time()
    env = ansible_env(work, results, forks, cp_dir, settings)
    cmd = [*prefix, str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK),
           "-e", json.dumps({"payload": str(payload), "ansible_python_interpreter": str(interpreter)})]
    if limit:
        cmd += ["-l", limit]
    if verbose:
        cmd.append("-vvv")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-playbook failed rc={proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    applied = [r["result"] for r in records if r["task"] == "Apply the payload"]
    if traffic is not None:
        for r in records:
            if r["task"] == "Apply the payload" and isinstance(r["result"].get("traffic"), dict):
                traffic[r["host"]] = r["result"]["traffic"]
    if per_host is not None:
        for r in records:
            if r.get("host") and r.get("time"):
                per_host[r["host"]] = max(per_host.get(r["host"], 0.0), r["time"] - started)
    if verbose:
        return applied, proc.stdout
    return applied


ROLLOUT_PLAYBOOK = REPO / "playbooks" / "upgrade.yml"
ROLLOUT_UPGRADE_TASK = "Upgrade the node (detached job, waited for through dropped tunnels and power cuts)"
ROLLOUT_VARS = {"rollout_batches": ["100%"], "rollout_sanity_gate": False, "rollout_post_check": False}


def rollout_run(inventory, payload, forks, work: Path, cp_dir: Path, settings: dict, prefix=()):
    """playbooks/upgrade.yml (upgrade with wait: true) on every node, with the fleet_report callback:
    the upgrade task's results."""
    results = work / f"results-{time.monotonic_ns()}.jsonl"
    env = ansible_env(work, results, forks, cp_dir, settings)
    # with the fleet report, as docs/rollout.md tells users to run it
    env["ANSIBLE_CALLBACKS_ENABLED"] = env["ANSIBLE_CALLBACKS_ENABLED"] + ",waggle.honeycomb.fleet_report"
    env["HONEYCOMB_FLEET_REPORT_DIR"] = str(work / "fleet-reports")
    cmd = [*prefix, str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(ROLLOUT_PLAYBOOK),
           "-e", json.dumps(dict(ROLLOUT_VARS, payload=str(payload), ansible_python_interpreter=NODE_PYTHON))]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"upgrade.yml failed rc={proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return [r["result"] for r in records if r["task"] == ROLLOUT_UPGRADE_TASK]


def round_trips(log: str) -> str:
    """Connections a task used on one host, from a -vvv log: ssh execs, and file transfers (sftp/scp)."""
    execs = len(re.findall(r"SSH: EXEC ssh ", log))
    transfers = len(re.findall(r"SSH: EXEC (?:sftp|scp) ", log))
    return f"{execs}+{transfers}" if transfers else str(execs)


def controller_peak_mib():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def machine_line():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def link_bytes(fleet_dir: Path, reset=False):
    """{vsn: {"up", "down", ...}}: what each node's uplink relay carried since the last reset."""
    rows = json.loads(simfleet("bytes", "--dir", str(fleet_dir), "--json", *(("--reset",) if reset else ())))
    return {r["vsn"]: r for r in rows}


def _spread(values):
    """median / max of a list of numbers (0 / 0 when empty)."""
    values = sorted(values) or [0]
    return values[len(values) // 2], values[-1]


def reported_bytes(traffic: dict, carried: dict) -> dict:
    """What the collection reported per node (the upgrade results' traffic) against the relays' counts:
    median / max of the estimate of the bytes to and from the node, of the bytes handed to the connection,
    and the largest deviation of a node's estimate (both ways) from its relay's count, in %."""
    hosts = [h for h in traffic if h in carried]
    deviation = [100.0 * abs(traffic[h]["wire_estimate"]["sent"] + traffic[h]["wire_estimate"]["received"]
                             - carried[h]["down"] - carried[h]["up"]) / max(1, carried[h]["down"] + carried[h]["up"])
                 for h in hosts]
    return {"wire_sent": _spread([traffic[h]["wire_estimate"]["sent"] for h in hosts]),
            "wire_received": _spread([traffic[h]["wire_estimate"]["received"] for h in hosts]),
            "handed": _spread([traffic[h]["sent"] + traffic[h]["received"] for h in hosts]),
            "deviation_pct": max(deviation) if deviation else None, "nodes": len(hosts)}


def bench_size(n, forks, work: Path, settings: dict, count_round_trips=True, link="lan", profile=False):
    fleet_dir = work / f"fleet{n}"
    # permissive bastion: the baseline opens one plain bastion login per node at `forks` at once, which the
    # production settings (MaxStartups 10:30:100) would partly drop; tools/bench/bastion.py measures those
    simfleet("up", "--nodes", str(n), "--dir", str(fleet_dir), "--devices", "none", "--no-remember",
             "--bastion", "permissive", "--link", link)
    cp_dir = Path(tempfile.mkdtemp(prefix="hcb-cp-", dir="/tmp"))  # short: unix socket paths <= 108 bytes
    try:
        inventory = work / f"inventory{n}.yml"
        inventory.write_text(simfleet("inventory", "--dir", str(fleet_dir)))
        ssh_config = work / f"ssh_config{n}"
        ssh_config.write_text(simfleet("inventory", "--dir", str(fleet_dir), "--format", "ssh-config"))
        status = json.loads(simfleet("status", "--dir", str(fleet_dir), "--json"))
        hosts = [node["vsn"] for node in status["nodes"]]
        payload = work / "payload.tar.gz"
        if not payload.exists():
            run([str(VENV_BIN / "honeycomb-build"), str(PAYLOAD_SRC), "-o", str(payload)])
        # Nodes have a private /tmp and the checkout may live there; /var/tmp is shared with them.
        wrapper = Path("/var/tmp/waggle-honeycomb-bench/python3-maxrss")
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        write_interpreter_wrapper(wrapper)
        row = {"nodes": n, "forks": forks, "payload_bytes": payload.stat().st_size, "load_before": os.getloadavg()[0],
               "link": link}
        fleet = FleetCPU(fleet_dir)

        reset_nodes(ssh_config, hosts, forks)
        with Timed(fleet) as t:
            baseline_full(ssh_config, hosts, payload, forks)
        row["baseline_s"], row["baseline_cpu_s"], row["baseline_fleet_cpu_s"] = t.wall, t.cpu, t.fleet_cpu
        with Timed(fleet) as t:
            baseline_check(ssh_config, hosts, forks)
        row["baseline_check_s"], row["baseline_check_cpu_s"] = t.wall, t.cpu
        row["baseline_check_fleet_cpu_s"] = t.fleet_cpu

        reset_nodes(ssh_config, hosts, forks)
        per_host, traffic = {}, {}
        link_bytes(fleet_dir, reset=True)
        with Timed(fleet) as t:
            first = ansible_run(inventory, payload, forks, work, NODE_PYTHON, cp_dir, settings, per_host=per_host,
                                traffic=traffic)
        row["ansible_s"] = t.wall
        row["node_s"] = _spread(per_host.values())
        carried = link_bytes(fleet_dir, reset=True)
        row["reported"] = reported_bytes(traffic, carried)
        row["node_down"] = _spread([c["down"] for c in carried.values()])
        row["node_up"] = _spread([c["up"] for c in carried.values()])
        row["applied"] = sum(1 for r in first if r.get("status") == "applied")
        per_host, traffic = {}, {}
        with Timed(fleet) as t:
            rerun = ansible_run(inventory, payload, forks, work, NODE_PYTHON, cp_dir, settings, per_host=per_host,
                                traffic=traffic)
        row["rerun_s"] = t.wall
        row["rerun_node_s"] = _spread(per_host.values())
        carried = link_bytes(fleet_dir)
        row["rerun_reported"] = reported_bytes(traffic, carried)
        row["rerun_node_down"] = _spread([c["down"] for c in carried.values()])
        row["rerun_node_up"] = _spread([c["up"] for c in carried.values()])
        row["already_applied"] = sum(1 for r in rerun if r.get("status") == "already_applied")
        row["rerun_payload_bytes"] = sum(int(r.get("payload_bytes_sent") or 0) for r in rerun)
        # The ControlMasters of those two runs are still up and their CPU time is only counted when they
        # exit, so controller CPU comes from two more runs that each close their masters at the end.
        close_masters(cp_dir)
        with Timed(fleet) as t:
            cold = ansible_run(inventory, payload, forks, work, NODE_PYTHON, cp_dir, settings)
            t.mark()
            close_masters(cp_dir)
        row["rerun_cold_s"], row["rerun_cold_cpu_s"], row["rerun_cold_fleet_cpu_s"] = t.marked, t.cpu, t.fleet_cpu
        row["already_applied_cold"] = sum(1 for r in cold if r.get("status") == "already_applied")
        reset_nodes(ssh_config, hosts, forks)
        resident_through_wrapper(ssh_config, hosts, forks, wrapper)
        with Timed(fleet) as t:
            ansible_run(inventory, payload, forks, work, wrapper, cp_dir, settings)
            close_masters(cp_dir)
        # a second full run, with the node-side wrapper (its wall time is not used); the wrapper's own
        # Python start is subtracted from the fleet's CPU below
        row["ansible_cpu_s"], ansible_fleet_cpu = t.cpu, t.fleet_cpu
        stats = module_stats(ssh_config, hosts, forks)
        row["module_peak_mib"] = max(kib for kib, _, _ in stats) / 1024.0
        row["module_cpu_s"] = sum(cpu for _, cpu, _ in stats) / len(stats)
        row["module_runs_per_host"] = len(stats) / n
        row["ansible_fleet_cpu_s"] = ansible_fleet_cpu - wrapper_cpu(ssh_config, hosts[0]) * len(stats)
        row["controller_peak_mib"] = controller_peak_mib()
        if count_round_trips:
            reset_nodes(ssh_config, hosts[:1], 1)
            _, log_full = ansible_run(inventory, payload, 1, work, wrapper, cp_dir, settings, limit=hosts[0], verbose=True)
            _, log_rerun = ansible_run(inventory, payload, 1, work, wrapper, cp_dir, settings, limit=hosts[0], verbose=True)
            close_masters(cp_dir)
            row["round_trips"] = f"{round_trips(log_full)} / {round_trips(log_rerun)}"
            rerun_stats = module_stats(ssh_config, hosts[:1], 1)[-1:]
            row["module_cpu_rerun_s"] = rerun_stats[0][1] if rerun_stats else None
        row["upgrade_ratio"] = row["ansible_s"] / row["baseline_s"]
        row["rerun_ratio"] = row["rerun_s"] / row["baseline_check_s"]
        row["rerun_cold_ratio"] = row["rerun_cold_s"] / row["baseline_check_s"]
        row["overhead_per_node_s"] = (row["ansible_s"] - row["baseline_s"]) / n
        # the rollout users run (wait: true), cold connections, masters closed inside the block
        reset_nodes(ssh_config, hosts, forks)
        close_masters(cp_dir)
        with Timed(fleet) as t:
            waited = rollout_run(inventory, payload, forks, work, cp_dir, settings)
            t.mark()
            close_masters(cp_dir)
        row["wait_s"], row["wait_cpu_s"], row["wait_fleet_cpu_s"] = t.marked, t.cpu, t.fleet_cpu
        row["wait_applied"] = sum(1 for r in waited if r.get("status") == "applied")
        row["wait_polls"] = _spread([int((r.get("wait") or {}).get("polls") or 0) for r in waited])
        if profile:  # where the controller's CPU goes (cpu_split.py): a cold re-run and a rollout once more
            data = work / "perf.data"
            close_masters(cp_dir)
            ansible_run(inventory, payload, forks, work, NODE_PYTHON, cp_dir, settings, prefix=cpu_split.prefix(data))
            close_masters(cp_dir)
            row["split_cold"] = cpu_split.split(data)
            reset_nodes(ssh_config, hosts, forks)
            rollout_run(inventory, payload, forks, work, cp_dir, settings, prefix=cpu_split.prefix(data))
            close_masters(cp_dir)
            row["split_wait"] = cpu_split.split(data)
            data.unlink()
        row["load_after"] = os.getloadavg()[0]
        return row
    finally:
        close_masters(cp_dir)
        shutil.rmtree(cp_dir, ignore_errors=True)
        simfleet("down", "--dir", str(fleet_dir), "--purge")
        reap_orphans()


def render(rows, date, machine, label):
    lines = [f"\n### Run of {date}{' - ' + label if label else ''}\n", f"Machine: {machine}\n",
             "| N | forks | load avg (start / end) | baseline s | ansible s | ratio (target <= 2.0) | "
             "baseline check s | re-run s | ratio (target <= 1.5) | cold re-run s | cold ratio | "
             "re-run payload bytes | round trips per host (full / re-run) | controller CPU s: full run (ansible / "
             "baseline) | controller CPU s: cold re-run (ansible / baseline check) | fleet CPU s: full run (ansible / "
             "baseline) | fleet CPU s: cold re-run (ansible / baseline check) | overhead s/node | "
             "module runs per host, node CPU s per run | module peak MiB (target < 40) | controller peak MiB | "
             "applied / already |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['nodes']} | {r['forks']} | {r['load_before']:.1f} / {r['load_after']:.1f} | {r['baseline_s']:.1f} | "
            f"{r['ansible_s']:.1f} | {r['upgrade_ratio']:.2f} | {r['baseline_check_s']:.1f} | {r['rerun_s']:.1f} | "
            f"{r['rerun_ratio']:.2f} | {r['rerun_cold_s']:.1f} | {r['rerun_cold_ratio']:.2f} | {r['rerun_payload_bytes']} | "
            f"{r.get('round_trips', '-')} | {r['ansible_cpu_s']:.1f} / {r['baseline_cpu_s']:.1f} | "
            f"{r['rerun_cold_cpu_s']:.1f} / {r['baseline_check_cpu_s']:.1f} | "
            f"{r['ansible_fleet_cpu_s']:.1f} / {r['baseline_fleet_cpu_s']:.1f} | "
            f"{r['rerun_cold_fleet_cpu_s']:.1f} / {r['baseline_check_fleet_cpu_s']:.1f} | {r['overhead_per_node_s']:.2f} | "
            f"{r['module_runs_per_host']:.0f}, {r['module_cpu_s']:.2f} | "
            f"{r['module_peak_mib']:.1f} | {r['controller_peak_mib']:.0f} | {r['applied']} / {r['already_applied']} |")
    lines += ["", f"Per node over the link `{rows[0].get('link', 'lan')}` (simfleet link profile; median / max over "
              "the nodes): wall time from the start of the run to the node's last task result, and the bytes its "
              "uplink relay carried towards the node (down) and the bastion (up), tunnel SSH overhead included. "
              "The first run sends the payload; the re-run finds every node already applied.", "",
              "| N | link | payload bytes | first run s | per node s | down bytes per node | up bytes per node | "
              "re-run s | per node s | down bytes per node | up bytes per node |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['nodes']} | {r.get('link', 'lan')} | {r['payload_bytes']} | {r['ansible_s']:.1f} | "
            f"{r['node_s'][0]:.1f} / {r['node_s'][1]:.1f} | {r['node_down'][0]} / {r['node_down'][1]} | "
            f"{r['node_up'][0]} / {r['node_up'][1]} | {r['rerun_s']:.1f} | "
            f"{r['rerun_node_s'][0]:.1f} / {r['rerun_node_s'][1]:.1f} | "
            f"{r['rerun_node_down'][0]} / {r['rerun_node_down'][1]} | {r['rerun_node_up'][0]} / {r['rerun_node_up'][1]} |")
    wait_rows = [r for r in rows if "wait_s" in r]  # the rollout-wait scenario ran
    if wait_rows:
        lines += ["", "The rollout users run, `playbooks/upgrade.yml` (the upgrade task with `wait: true`: job started "
                  "detached, polled and collected by the controller; one batch, no sanity gate or post-check), first "
                  "run on reset nodes, cold connections. Target (issue 13): controller CPU per node <= "
                  f"{TARGETS['wait_controller_cpu_per_node_50']} s at N = 50.", "",
                  "| N | load avg (start / end) | rollout s | controller CPU s | controller CPU s/node | fleet CPU s | "
                  "polls per node (median / max) | applied |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in wait_rows:
            lines.append(
                f"| {r['nodes']} | {r['load_before']:.1f} / {r['load_after']:.1f} | {r['wait_s']:.1f} | {r['wait_cpu_s']:.1f} | "
                f"{r['wait_cpu_s'] / r['nodes']:.3f} | {r['wait_fleet_cpu_s']:.1f} | {r['wait_polls'][0]} / {r['wait_polls'][1]} | "
                f"{r['wait_applied']} / {r['nodes']} |")
    lines += ["", "Bytes per node as the collection reports them (the upgrade result's `traffic`: the estimate of "
              "the bytes on the node's link to / from the node, and the exact bytes handed to the connection, "
              "both ways; median / max over the nodes) and the largest deviation of a node's estimate from its "
              "relay's count (both ways).", "",
              "| N | link | first run: estimate to / from node | handed to ssh | deviation % | "
              "re-run: estimate to / from node | handed to ssh | deviation % |",
              "|---|---|---|---|---|---|---|---|"]

    def _rep(rep):
        if not rep or not rep.get("nodes"):
            return "- | - | -"
        return (f"{rep['wire_sent'][0]} / {rep['wire_received'][0]} (max {rep['wire_sent'][1]} / "
                f"{rep['wire_received'][1]}) | {rep['handed'][0]} / {rep['handed'][1]} | {rep['deviation_pct']:.1f}")
    for r in rows:
        lines.append(f"| {r['nodes']} | {r.get('link', 'lan')} | {_rep(r.get('reported'))} | "
                     f"{_rep(r.get('rerun_reported'))} |")
    split_rows = [r for r in rows if "split_cold" in r]
    if split_rows:
        lines += ["", "Where the controller's CPU goes (`--profile`: the cold re-run and the rollout run once more under "
                  "`perf record`, tools/bench/cpu_split.py), CPU seconds per node. The baseline's controller CPU is its "
                  "ssh clients only (the baseline check's column above, per node).", "",
                  "| N | run | ansible main | ansible workers | ssh clients | other | total | baseline check (ssh) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in split_rows:
            for name, key in (("cold re-run (upgrade_one.yml)", "split_cold"), ("rollout (upgrade.yml)", "split_wait")):
                sp, n = r[key], r["nodes"]
                lines.append(f"| {n} | {name} | " + " | ".join(f"{sp[k] / n:.3f}" for k in cpu_split.KINDS) +
                             f" | {sum(sp.values()) / n:.3f} | {r['baseline_check_cpu_s'] / n:.3f} |")
    by_n = {r["nodes"]: r for r in rows}
    if 50 in by_n and 100 in by_n:
        growth = by_n[100]["ansible_s"] / by_n[50]["ansible_s"]
        base = by_n[100]["baseline_s"] / by_n[50]["baseline_s"]
        lines.append(f"\nN=100 / N=50 full upgrade: {growth:.2f}x (target <= {TARGETS['linear_100_vs_50']}x; "
                     f"baseline {base:.2f}x)")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, action="append", help="fleet size (repeatable; default 10 50 100)")
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--no-doc", action="store_true", help="print the table only, leave docs/benchmarks.md alone")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for the ansible runs, e.g. ANSIBLE_STRATEGY=free (repeatable)")
    parser.add_argument("--label", default="", help="name of the variant, shown in the table heading")
    parser.add_argument("--link", default="lan", metavar="PROFILE",
                        help="simfleet link profile of the fleet's nodes, or a mix (simfleet up --link; default lan)")
    parser.add_argument("--playbook", type=Path, default=REPO / "playbooks" / "upgrade_one.yml",
                        help="playbook to measure (default playbooks/upgrade_one.yml); its upgrade task must be "
                             "named 'Apply the payload' and it must take -e payload=...")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="also split the controller's CPU by process (perf record; tools/bench/cpu_split.py); "
                             "default: when perf can sample here")
    args = parser.parse_args(argv)
    if args.profile and not cpu_split.available():
        parser.error("--profile needs perf (linux-perf) and permission to sample (kernel.perf_event_paranoid)")
    if args.profile is None:
        args.profile = cpu_split.available()
    sizes = args.nodes or [int(x) for x in os.environ.get("BENCH_NODES", "10 50 100").split()]
    if os.geteuid() != 0:
        sys.exit("make bench needs root: the simulated fleet uses network, mount and pid namespaces")
    settings = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--set needs NAME=VALUE, got {item!r}")
        settings[name] = value
    label = args.label or " ".join(args.set + ([f"link {args.link}"] if args.link != "lan" else []))
    globals()["PLAYBOOK"] = args.playbook.resolve()
    become_subreaper()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    with tempfile.TemporaryDirectory(prefix="hcb-", dir="/tmp") as tmp:
        for n in sizes:
            print(f"bench: N={n} ...", flush=True)
            row = bench_size(n, args.forks, Path(tmp), settings, count_round_trips=not rows, link=args.link,
                             profile=args.profile)
            print(json.dumps(row), flush=True)
            rows.append(row)
    table = render(rows, date, machine_line(), label)
    print(table)
    if not args.no_doc:
        if not DOC.exists():
            DOC.write_text("# Benchmarks\n\nWritten by `make bench` (tools/bench/run.py); earlier runs are kept below.\n")
        with DOC.open("a") as fh:
            fh.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
