"""Test helpers for the camera area: start the SUNAPI simulator, run camera playbooks."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
VENV = REPO / ".venv"
PYTHON = str(VENV / "bin" / "python") if (VENV / "bin" / "python").exists() else sys.executable
ADMIN = ("admin", "honeycomb-sim-admin")
USER = ("waggle", "honeycomb-sim-user")


class CameraSimProcess:
    """One `python -m hctools.camerasim` process; stopped by pid."""

    def __init__(self, state_dir, bind="127.0.0.1", port=0, netns=None, verbose=True, **knobs):
        self.state_dir = Path(state_dir)
        self.verbose = verbose
        self.bind = bind
        self.req_port = port
        self.netns = netns
        self.knobs = knobs
        self.proc = None
        self.port = None
        self.log = self.state_dir.parent / (self.state_dir.name + ".log")

    def args(self):
        port_file = self.state_dir.parent / (self.state_dir.name + ".port")
        if port_file.exists():
            port_file.unlink()
        cmd = [PYTHON, "-m", "hctools.camerasim", "--bind", self.bind, "--port", str(self.req_port),
               "--state-dir", str(self.state_dir), "--port-file", str(port_file)]
        if self.verbose:
            cmd.append("--verbose")
        for key, value in self.knobs.items():
            if key == "users":
                for name, pw, ptz in value:
                    cmd += ["--user", "%s:%s:%s" % (name, pw, "ptz" if ptz else "noptz")]
                continue
            cmd += ["--" + key.replace("_", "-"), str(value)]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        return cmd, port_file

    def start(self):
        cmd, port_file = self.args()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError("camerasim exited %s: %s" % (self.proc.returncode, self.log.read_text()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("camerasim did not start: %s" % self.log.read_text())
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode if self.proc is not None else None

    def restart(self, **knobs):
        self.stop()
        self.knobs.update(knobs)
        return self.start()

    def configure(self, **cfg):
        """Writes config.json knobs, which the running simulator re-reads on its next request."""
        path = self.state_dir / "config.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data.update(cfg)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.utime(tmp, ns=(time.time_ns(), time.time_ns()))
        os.replace(tmp, path)

    def state(self):
        return json.loads((self.state_dir / "state.json").read_text())

    def requests_logged(self, status=None, needle=""):
        """Request lines the simulator logged (verbose), optionally only those with an HTTP status."""
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            if '"GET ' not in line or needle not in line:
                continue
            if status is not None and ('" %d ' % status) not in line:
                continue
            out.append(line)
        return out

    @property
    def url(self):
        return "http://%s:%d" % (self.bind, self.port)


def run_playbook(tasks, tmp_path, check=False, diff=True, extra_args=(), vars=None, timeout=240, prefix=()):
    """Runs one play on localhost (connection local).

    Every task is registered and has ignore_errors; a last task (never in check mode) writes all the
    registered results to a JSON file. Returns (rc, results, stdout)."""
    tasks = [dict(t) for t in tasks]
    names = []
    for i, task in enumerate(tasks):
        task["register"] = "_hc_r%d" % i
        task.setdefault("ignore_errors", True)
        names.append(task["register"])
    fd, out = tempfile.mkstemp(suffix=".json", dir=str(tmp_path))
    os.close(fd)
    tasks.append({"name": "collect results", "delegate_to": "localhost", "check_mode": False, "diff": False,
                  "ansible.builtin.copy": {"dest": out, "mode": "0600",
                                           "content": "{{ [%s] | to_json }}" % ", ".join(names)}})
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": dict({"ansible_python_interpreter": PYTHON}, **(vars or {})), "tasks": tasks}]
    fd, path = tempfile.mkstemp(suffix=".yml", dir=str(tmp_path))
    with os.fdopen(fd, "w") as fh:
        json.dump(play, fh)
    proc = run_ansible_playbook([path, "-i", "localhost,"] + (["--check"] if check else [])
                                + (["--diff"] if diff else []) + list(extra_args), timeout=timeout,
                                prefix=prefix)
    try:
        results = json.loads(Path(out).read_text())
    except ValueError:
        raise AssertionError("playbook did not get to collect its results (rc %d):\n%s\n%s"
                             % (proc.returncode, proc.stdout[-4000:], proc.stderr[-3000:]))
    return proc.returncode, results, proc.stdout


def run_ansible_playbook(args, timeout=240, env=None, prefix=()):
    full_env = dict(os.environ)
    full_env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections"),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    })
    full_env.update(env or {})
    return subprocess.run(list(prefix) + [str(VENV / "bin" / "ansible-playbook")] + list(args), capture_output=True, text=True,
                          check=False, env=full_env, timeout=timeout, cwd=str(REPO))
