"""Fan-out benchmark: waggle.honeycomb.upgrade against plain OpenSSH through the same tunnels.

For each fleet size N it starts a simulated fleet (real sshd, real reverse tunnels through a real
bastion sshd), then measures with the same parallelism (forks):

  baseline        parallel `ssh` per node: send the payload, unpack it, run state check, install, verify
  baseline-check  parallel `ssh` per node: run only the state check of the unpacked payload
  ansible         playbooks/upgrade_one.yml doing the same upgrade
  ansible-rerun   the same playbook again, every node already in the target state

and appends a table to docs/benchmarks.md with the date and the machine. Run with `make bench`;
`python tools/bench/run.py --nodes 10 --nodes 50` picks the sizes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DOC = REPO / "docs" / "benchmarks.md"
PAYLOAD_SRC = REPO / "examples" / "payloads" / "honeycomb-version"
NODE_PYTHON = "/usr/bin/python3"
CALLBACKS = REPO / "tests" / "lib" / "hctest" / "callback_plugins"

# The targets of issue 9, checked (not asserted) and printed beside the figures.
TARGETS = {
    "upgrade_ratio": 2.0,
    "rerun_ratio": 1.5,
    "module_peak_mib": 40.0,
    "linear_100_vs_50": 2.2,
}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def simfleet(*args):
    return run([str(VENV_BIN / "simfleet"), *args], timeout=900).stdout


class Timed:
    """Wall time and the CPU time of the child processes that finished inside the block."""

    def __enter__(self):
        self.t0 = time.monotonic()
        self.r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc):
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall = time.monotonic() - self.t0
        self.cpu = (r1.ru_utime - self.r0.ru_utime) + (r1.ru_stime - self.r0.ru_stime)
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
              "/var/lib/honeycomb/payloads /etc/waggle/honeycomb; rm -f /var/lib/honeycomb/bench-maxrss")
    parallel(hosts, forks, lambda h: ssh(ssh_config, h, script) == 0)


def write_interpreter_wrapper(path: Path):
    """A Python interpreter stand-in that records the peak RSS of the module process it runs."""
    path.write_text(
        "#!/usr/bin/python3\n"
        "import resource, subprocess, sys\n"
        f"rc = subprocess.call([{NODE_PYTHON!r}] + sys.argv[1:])\n"
        "kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "with open('/var/lib/honeycomb/bench-maxrss', 'a') as fh:\n"
        "    fh.write('%d\\n' % kib)\n"
        "sys.exit(rc)\n")
    path.chmod(0o755)


def module_peak_kib(ssh_config, hosts):
    peak = 0
    for host in hosts:
        out = subprocess.run(["ssh", "-F", str(ssh_config), host, "cat /var/lib/honeycomb/bench-maxrss"],
                             capture_output=True, text=True, timeout=60).stdout
        peak = max([peak] + [int(x) for x in out.split() if x.isdigit()])
    return peak


def ansible_run(inventory, payload, forks, work: Path, wrapper: Path):
    results = work / f"results-{time.monotonic_ns()}.jsonl"
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections"),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_CALLBACKS_ENABLED": "hctest_results",
        "HCTEST_RESULTS_FILE": str(results),
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_NOCOLOR": "1",
    })
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "upgrade_one.yml"),
           "-e", json.dumps({"payload": str(payload), "ansible_python_interpreter": str(wrapper)})]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-playbook failed rc={proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    applied = [r["result"] for r in records if r["task"] == "Apply the payload"]
    return applied


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


def bench_size(n, forks, work: Path):
    fleet_dir = work / f"fleet{n}"
    simfleet("up", "--nodes", str(n), "--dir", str(fleet_dir), "--devices", "none", "--no-remember")
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
        wrapper = REPO / ".build" / "bench" / "python3-maxrss"
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        write_interpreter_wrapper(wrapper)
        row = {"nodes": n, "forks": forks, "payload_bytes": payload.stat().st_size}

        reset_nodes(ssh_config, hosts, forks)
        with Timed() as t:
            baseline_full(ssh_config, hosts, payload, forks)
        row["baseline_s"], row["baseline_cpu_s"] = t.wall, t.cpu
        with Timed() as t:
            baseline_check(ssh_config, hosts, forks)
        row["baseline_check_s"], row["baseline_check_cpu_s"] = t.wall, t.cpu

        reset_nodes(ssh_config, hosts, forks)
        with Timed() as t:
            first = ansible_run(inventory, payload, forks, work, wrapper)
        row["ansible_s"], row["ansible_cpu_s"] = t.wall, t.cpu
        row["applied"] = sum(1 for r in first if r.get("status") == "applied")
        row["module_peak_mib"] = module_peak_kib(ssh_config, hosts) / 1024.0
        with Timed() as t:
            rerun = ansible_run(inventory, payload, forks, work, wrapper)
        row["rerun_s"], row["rerun_cpu_s"] = t.wall, t.cpu
        row["already_applied"] = sum(1 for r in rerun if r.get("status") == "already_applied")
        row["rerun_payload_bytes"] = sum(int(r.get("payload_bytes_sent") or 0) for r in rerun)
        row["controller_peak_mib"] = controller_peak_mib()
        row["upgrade_ratio"] = row["ansible_s"] / row["baseline_s"]
        row["rerun_ratio"] = row["rerun_s"] / row["baseline_check_s"]
        row["overhead_per_node_s"] = (row["ansible_s"] - row["baseline_s"]) / n
        return row
    finally:
        simfleet("down", "--dir", str(fleet_dir), "--purge")


def render(rows, date, machine):
    lines = [f"\n### Run of {date}\n", f"Machine: {machine}\n",
             "| N | forks | baseline s | ansible s | ratio (target <= 2.0) | baseline check s | re-run s | "
             "ratio (target <= 1.5) | re-run payload bytes | overhead s/node | controller CPU s (ansible / baseline) | "
             "module peak MiB (target < 40) | controller peak MiB | applied / already |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['nodes']} | {r['forks']} | {r['baseline_s']:.1f} | {r['ansible_s']:.1f} | {r['upgrade_ratio']:.2f} | "
            f"{r['baseline_check_s']:.1f} | {r['rerun_s']:.1f} | {r['rerun_ratio']:.2f} | {r['rerun_payload_bytes']} | "
            f"{r['overhead_per_node_s']:.2f} | {r['ansible_cpu_s']:.0f} / {r['baseline_cpu_s']:.0f} | "
            f"{r['module_peak_mib']:.1f} | {r['controller_peak_mib']:.0f} | {r['applied']} / {r['already_applied']} |")
    by_n = {r["nodes"]: r for r in rows}
    if 50 in by_n and 100 in by_n:
        growth = by_n[100]["ansible_s"] / by_n[50]["ansible_s"]
        lines.append(f"\nN=100 / N=50 full upgrade: {growth:.2f}x (target <= {TARGETS['linear_100_vs_50']}x)")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, action="append", help="fleet size (repeatable; default 10 50 100)")
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--no-doc", action="store_true", help="print the table only, leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    sizes = args.nodes or [int(x) for x in os.environ.get("BENCH_NODES", "10 50 100").split()]
    if os.geteuid() != 0:
        sys.exit("make bench needs root: the simulated fleet uses network, mount and pid namespaces")
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    with tempfile.TemporaryDirectory(prefix="hcb-", dir="/tmp") as tmp:
        for n in sizes:
            print(f"bench: N={n} ...", flush=True)
            row = bench_size(n, args.forks, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
    table = render(rows, date, machine_line())
    print(table)
    if not args.no_doc:
        if not DOC.exists():
            DOC.write_text("# Benchmarks\n\nWritten by `make bench` (tools/bench/run.py); earlier runs are kept below.\n")
        with DOC.open("a") as fh:
            fh.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
