"""The simulated bastion (stands in for beekeeper's bk-sshd): its keys, authorized keys and sshd."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import procs
from .configs import BASTION_PROFILES, DEFAULT_BASTION_PROFILE
from .hostutil import SSHD, FleetError, free_port, keygen, wait_banner, write

if TYPE_CHECKING:  # pragma: no cover
    from .fleet import Fleet


def profile(fleet: Fleet) -> str:
    """The running fleet's bastion profile (a fleet started before profiles existed: production)."""
    return fleet.state.get("bastion_profile", DEFAULT_BASTION_PROFILE)


def check_profile(name: str | None) -> None:
    """Refuse an unknown --bastion profile (None: the default or the running fleet's)."""
    if name is not None and name not in BASTION_PROFILES:
        raise FleetError(f"--bastion must be one of {', '.join(BASTION_PROFILES)}, got {name!r}")


def make_keys(fleet: Fleet) -> None:
    """The operator's key and the bastion's host key (kept across `up`s of the same directory)."""
    op = fleet.dir / "operator"
    op.mkdir(mode=0o700, exist_ok=True)
    if not fleet.operator_key.exists():
        keygen(fleet.operator_key, "simfleet-operator")
    b = fleet.dir / "bastion"
    for sub in ("", "home_dirs", "root", "root/.ssh"):
        (b / sub).mkdir(mode=0o700, exist_ok=True)
    b.joinpath("home_dirs").chmod(0o755)
    if not (b / "ssh_host_ed25519_key").exists():
        keygen(b / "ssh_host_ed25519_key", "simfleet-bastion")


def start(fleet: Fleet) -> int:
    """Authorize the operator and every node's key, start the bastion sshd on a free port; the port."""
    b = fleet.dir / "bastion"
    lines = [fleet.operator_key.with_suffix(".pub").read_text().strip()]
    for n in fleet.nodes:
        nd = fleet.node_dir(n)
        key_path = nd / "etc-waggle" / "bk_key.pem"
        nd.joinpath("etc-waggle").mkdir(parents=True, exist_ok=True)
        if not key_path.exists():
            keygen(key_path, f"node-{n['node_id']}")
        pub = key_path.with_name("bk_key.pem.pub").read_text().strip()
        # Node keys may only open their reverse tunnel. OpenSSH has no per-key limit for -R unix
        # sockets (permitlisten covers TCP only), so: no shell, no pty/agent/X11, no -L to anywhere.
        lines.append(f'restrict,port-forwarding,from="127.0.0.1",permitopen="127.0.0.1:9",'
                     f'command="/bin/false" {pub}')
        (b / "home_dirs" / f"node-{n['node_id']}").mkdir(mode=0o755, exist_ok=True)
    write(b / "root" / ".ssh" / "authorized_keys", "\n".join(lines) + "\n", 0o600)
    last_err = ""
    taken = {p for n in fleet.nodes for p in (n.get("ports") or {}).values()}
    iso = fleet.iso
    for _ in range(5):
        port = free_port()
        while port in taken:
            port = free_port()
        write(b / "sshd_config", iso.bastion_sshd_config(fleet, port) + BASTION_PROFILES[profile(fleet)], 0o600)
        script = (iso.bastion_script() + SSHD + " -t -f \"$B/sshd_config\"; exec " + SSHD
                  + " -D -e -f \"$B/sshd_config\"")
        proc = procs.spawn(["/bin/sh", "-c", script], fleet.env(B=str(b)), str(b / "sshd.log"),
                           new_ns=iso.bastion_new_ns())
        if wait_banner(("127.0.0.1", port), 10):
            fleet.state["bastion"] = proc
            iso.bastion_started(fleet, proc)
            return port
        procs.kill(proc)
        last_err = (b / "sshd.log").read_text()[-500:]
    raise FleetError(f"the bastion sshd did not start; its log says: {last_err}")
