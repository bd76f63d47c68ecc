"""python -m hctools.switchsim --bind 10.31.81.2 --state-dir DIR [--ssh-port 22] [--telnet-port 23]"""

import argparse
import logging
import signal
import sys

from .server import Simulator
from .state import SwitchState


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hctools.switchsim", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--state-dir", required=True,
                        help="persistent state: switch.json, faults.json, startup-config, cli.bnr, host key")
    parser.add_argument("--ssh-port", type=int, default=22, help="SSH port (default 22, 0 = off)")
    parser.add_argument("--telnet-port", type=int, default=23, help="telnet port (default 23, 0 = off)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="switchsim %(levelname)s %(message)s")
    logging.getLogger("paramiko").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    logging.getLogger("tftpy").setLevel(logging.WARNING)

    state = SwitchState(args.state_dir)
    sim = Simulator(state, args.bind, args.ssh_port, args.telnet_port)
    sim.host_key()
    try:
        sim.start_listeners()
    except OSError as exc:
        print("switchsim: cannot listen on %s: %s" % (args.bind, exc), file=sys.stderr)
        return 1

    def stop(signum, frame):
        sim.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("switchsim: listening on %s (ssh %s, telnet %s), state in %s" % (
        args.bind, args.ssh_port or "off", args.telnet_port or "off", state.dir), flush=True)
    while not sim.stopping.wait(1.0):
        pass
    sim.shutdown()
    state.write_status("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
