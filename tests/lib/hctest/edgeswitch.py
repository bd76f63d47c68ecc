"""A switch LAN for EdgeSwitch tests: two network namespaces joined by a veth pair (node side
10.31.81.1/24, switch side 10.31.81.2/24) with the switch simulator running in the switch namespace.

    lab = SwitchLab.start(tmp_path)      # root only
    lab.run_playbook(yaml_text, extra_vars)   # ansible-playbook runs inside the node namespace
    lab.faults(transfer_fail="download"); lab.settings(enable_password="s3cret"); lab.reset()
    lab.stop()                            # kills the simulator (by pid) and deletes both namespaces
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from hctest.playbook import ANSIBLE_PLAYBOOK, REPO, run_playbook

NODE_IP = "10.31.81.1"
SWITCH_IP = "10.31.81.2"
# not "ubnt": Ansible masks no_log values wherever they appear, and the user is ubnt
SWITCH_PASSWORD = "sw-Secret-81"
PYTHON = str(REPO / ".venv" / "bin" / "python")


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class SwitchLab:
    def __init__(self, base):
        self.base = Path(base)
        tag = "%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        self.node_ns = "hc-sw-%s-n" % tag
        self.switch_ns = "hc-sw-%s-s" % tag
        self.state_dir = self.base / "switch-state"
        self.proc = None
        self.wrapper = self.base / "ansible-playbook-in-ns"
        self.known_hosts = self.base / "known_hosts"
        self.lock_dir = self.base / "locks"   # the node namespace shares the host's /run: the per-switch lock goes here

    @classmethod
    def start(cls, base):
        lab = cls(base)
        try:
            lab._make_namespaces()
            lab.state_dir.mkdir(parents=True, exist_ok=True)
            (lab.state_dir / "switch.json").write_text(json.dumps({"reload_delay": 1.0, "password": SWITCH_PASSWORD}))
            lab.start_sim()
            lab.wrapper.write_text("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n" % (lab.node_ns, ANSIBLE_PLAYBOOK))
            lab.wrapper.chmod(0o755)
        except Exception:
            lab.stop()
            raise
        return lab

    def _make_namespaces(self):
        n, s = self.node_ns, self.switch_ns
        sh("ip", "netns", "add", n)
        sh("ip", "netns", "add", s)
        veth_n, veth_s = "hcn%d" % (os.getpid() % 100000), "hcs%d" % (os.getpid() % 100000)
        sh("ip", "link", "add", veth_n, "netns", n, "type", "veth", "peer", "name", veth_s, "netns", s)
        sh("ip", "-n", n, "link", "set", veth_n, "name", "lan0")
        sh("ip", "-n", n, "addr", "add", NODE_IP + "/24", "dev", "lan0")
        sh("ip", "-n", n, "link", "set", "lan0", "up")
        sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "-n", s, "link", "set", veth_s, "name", "eth0")
        sh("ip", "-n", s, "addr", "add", SWITCH_IP + "/24", "dev", "eth0")
        sh("ip", "-n", s, "link", "set", "eth0", "up")
        sh("ip", "-n", s, "link", "set", "lo", "up")

    def start_sim(self):
        log = open(self.base / "switchsim.log", "ab")
        env = dict(os.environ, PYTHONPATH=str(REPO / "tools"))
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.switch_ns, PYTHON, "-m", "hctools.switchsim", "--bind", SWITCH_IP,
             "--state-dir", str(self.state_dir)], stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("switchsim exited: %s" % (self.base / "switchsim.log").read_text())
            if self.in_node("python3", "-c", "import socket; socket.create_connection(('%s', 22), 1)" % SWITCH_IP,
                            check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("switchsim did not start listening")

    def stop_sim(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)   # ip netns exec execs the simulator: same pid
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def stop(self):
        try:
            self.stop_sim()
        finally:
            for ns in (self.node_ns, self.switch_ns):
                sh("ip", "netns", "delete", ns, check=False)

    def in_node(self, *cmd, check=True, timeout=120):
        return subprocess.run(("ip", "netns", "exec", self.node_ns) + cmd, check=check, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    # ---- simulator state ------------------------------------------------------------------------
    def _update(self, name, values):
        path = self.state_dir / name
        data = json.loads(path.read_text()) if path.exists() else {}
        data.update(values)
        path.write_text(json.dumps(data))

    def faults(self, **values):
        self._update("faults.json", values)

    def settings(self, **values):
        self._update("switch.json", values)

    def status(self):
        return json.loads((self.state_dir / "status.json").read_text())

    def images(self):
        return json.loads((self.state_dir / "images.json").read_text())

    def wait_up(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.status().get("status") == "up":
                    return
            except ValueError:
                pass
            time.sleep(0.2)
        raise AssertionError("the switch simulator is not up after %ss" % timeout)

    def startup_config(self):
        return (self.state_dir / "startup-config").read_text()

    def banner(self):
        p = self.state_dir / "cli.bnr"
        return p.read_text() if p.exists() else ""

    def reset(self):
        """Default config, no banner, no faults, default settings; waits until the switch answers."""
        from hctools.switchsim.images import ImageSlots
        from hctools.switchsim.state import DEFAULT_STARTUP_CONFIG
        (self.state_dir / "faults.json").write_text("{}")
        (self.state_dir / "images.json").unlink(missing_ok=True)
        ImageSlots(str(self.state_dir))   # the default active and backup images
        (self.state_dir / "switch.json").write_text(json.dumps({"reload_delay": 1.0, "password": SWITCH_PASSWORD}))
        (self.state_dir / "startup-config").write_text(DEFAULT_STARTUP_CONFIG)
        if (self.state_dir / "cli.bnr").exists():
            (self.state_dir / "cli.bnr").unlink()
        self.wait_up(30)

    # ---- ansible ----------------------------------------------------------------------------------
    def run_playbook(self, playbook, extra_vars=None, check=False, args=()):
        hosts = {"node": {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}}
        return run_playbook(playbook, hosts, extra_vars=extra_vars, check=check, args=args,
                            ansible_playbook=str(self.wrapper), workdir=str(self.base))

    def run_module(self, module, args, check=False, diff=False, timeout=300):
        """Run a module's own code (AnsibleModule reading its arguments from a file) inside the node
        namespace, without ansible-playbook: returns the result dict (rc in result["_rc"])."""
        argfile = self.base / ("args-%d.json" % time.time_ns())
        payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
        try:
            proc = self.in_node(PYTHON, "-m", "ansible_collections.waggle.honeycomb.plugins.modules." + module,
                                str(argfile), check=False, timeout=timeout)
        finally:
            argfile.unlink()
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("module %s printed no JSON: rc=%s\n%s\n%s" % (
                module, proc.returncode, proc.stdout, proc.stderr))
        result["_rc"] = proc.returncode
        return result

    def module_args(self, **extra):
        args = {"host": SWITCH_IP, "password": SWITCH_PASSWORD, "known_hosts_file": str(self.known_hosts),
                "backup_dir": str(self.base / "backups"), "reload_timeout": 60, "timeout": 20,
                "lock_dir": str(self.lock_dir)}
        args.update(extra)
        return args


class LoopbackSwitch:
    """The simulator on a free 127.0.0.1 SSH port (no namespaces, no root), for clients that do not need
    the switch LAN (netmiko, the pexpect driver):

        with LoopbackSwitch(tmp_path, legacy_algorithms=False) as sw:   # settings for switch.json
            sw.port, sw.state_dir, sw.settings(banner_over_ssh="both")
    """

    def __init__(self, base, **settings):
        self.state_dir = Path(base)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.settings(password=SWITCH_PASSWORD, reload_delay=1.0, **settings)
        self.proc = None
        self.port = None

    def settings(self, **values):
        path = self.state_dir / "switch.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data.update(values)
        path.write_text(json.dumps(data))

    def __enter__(self):
        import socket
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        log = open(self.state_dir / "switchsim.log", "ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "hctools.switchsim", "--bind", "127.0.0.1", "--ssh-port", str(self.port),
             "--telnet-port", "0", "--state-dir", str(self.state_dir)], stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(REPO / "tools")))
        log.close()
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.__exit__()
                    raise RuntimeError("switchsim did not start: %s" % (self.state_dir / "switchsim.log").read_text())
                time.sleep(0.2)

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def one_task(module, args, name="switch", register_extra=""):
    """A playbook running one task of `module` on the node."""
    return "\n".join([
        "- hosts: node",
        "  gather_facts: false",
        "  tasks:",
        "    - name: %s" % name,
        "      %s: %s" % (module, json.dumps(args)),
        "",
    ])
