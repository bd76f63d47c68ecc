"""simfleet: a simulated Wild Sage fleet behind real reverse SSH tunnels (see docs/simfleet.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import bastion, faults, inventory, watchdog
from .configs import BASTION_PROFILES
from .fleet import Fleet
from .hostutil import FleetError
from .isolation import ISOLATIONS
from .links import FIELDS, PROFILES, read_link
from .topology import DEFAULT_DIR, DEVICES, remember, resolve_dir


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simfleet", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", help=f"fleet directory (default: $SIMFLEET_DIR, else the fleet `up` remembered "
                                      f"last, else {DEFAULT_DIR})")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    up = sub.add_parser("up", parents=[common], help="start (or complete) a fleet")
    up.add_argument("--nodes", type=int, default=8, help="number of nodes (default 8)")
    up.add_argument("--devices", default=",".join(DEVICES),
                    help=f"device simulators per node: comma list of {', '.join(DEVICES)}, or none")
    up.add_argument("--restart-delay", type=float, default=2.0,
                    help="seconds a node waits before restarting its tunnel (production: 30)")
    up.add_argument("--timeout", type=float, default=None, help="seconds to wait for all tunnels")
    up.add_argument("--isolation", choices=ISOLATIONS, default=None,
                    help="namespaces: each node in its own Linux namespaces with production paths and addresses "
                         "(needs root); ports: per-node folders and 127.0.0.1 ports, no root (default: "
                         "$SIMFLEET_ISOLATION, else namespaces as root and ports otherwise; a running fleet keeps "
                         "its mode)")
    up.add_argument("--link", default=None, metavar="SPEC",
                    help="link profile of every node (lan, lte, lte-poor; `simfleet link --list`) or a mix by node "
                         "index such as lte:60%%,lte-poor:20%%,lan; PROFILE/FIELD=VALUE overrides a field "
                         "(default: $SIMFLEET_LINK, else lan; on a running fleet only when given)")
    up.add_argument("--bastion", choices=tuple(BASTION_PROFILES), default=None,
                    help="the bastion sshd's settings: production (default; like beekeeper's bk-sshd: OpenSSH's "
                         "MaxStartups 10:30:100 and MaxSessions 10, ClientAliveInterval 60, no local unix-socket "
                         "forwarding) or permissive (MaxStartups 200:30:400, MaxSessions 100, for load tests)")
    up.add_argument("--watchdog-scale", type=float, default=None, metavar="SCALE",
                    help="run a stand-in of the Waggle network watchdog on every node, with its real schedule "
                         "(networking restarts at 15, 30, 45 min of tunnel outage, a reboot at ~57 min, power-offs, "
                         "a boot-slot switch) on this time scale: real seconds per watchdog second, 0.001 to 1 "
                         "(0.01: 15 min become 9 s); default: no watchdog")
    up.add_argument("--watchdog-slot-switch", default=None, metavar="MODULE:FUNCTION",
                    help=f"with --watchdog-scale: the action the watchdog's boot-slot switch calls with (fleet, "
                         f"node) (default {watchdog.SLOT_SWITCH})")
    up.add_argument("--units", default=None, metavar="LIST",
                    help="compute units every node has besides its nxcore: comma list of nxagent, rpi, or none "
                         "(default none; each an sshd on the node's LAN reachable only from its nxcore; namespaces "
                         "mode only)")
    up.add_argument("--no-remember", action="store_true",
                    help="do not make this the fleet later commands use by default (tests)")

    down = sub.add_parser("down", parents=[common], help="stop everything of a fleet")
    down.add_argument("--purge", action="store_true", help="also delete the fleet directory (keys, node disks)")

    st = sub.add_parser("status", parents=[common], help="show nodes, tunnels and devices")
    st.add_argument("--json", action="store_true")

    inv = sub.add_parser("inventory", parents=[common], help="print an inventory of the fleet")
    inv.add_argument("--format", choices=("yaml", "beekeeper", "ssh-config"), default="yaml")

    for name, text in (("power-cut", "kill every process of a node at once"), ("power-on", "boot a node"),
                       ("drop-tunnel", "cut a node's link to the bastion"),
                       ("restore-tunnel", "restore a node's link to the bastion")):
        s = sub.add_parser(name, parents=[common], help=text)
        s.add_argument("node", metavar="NODE", help="VSN (W001) or node ID")
        if name in ("power-on", "restore-tunnel"):
            s.add_argument("--no-wait", action="store_true", help="do not wait for the tunnel to come back")
    lk = sub.add_parser("link", parents=[common], help="show or change a node's link profile (--list: profiles)",
                        description="Give a running node another link profile (the node's relay applies it at "
                                    "once, to open connections too); `simfleet link NODE` shows the node's profile, "
                                    "`simfleet link --list` every profile and field.")
    lk.add_argument("node", metavar="NODE", nargs="?", help="VSN (W001) or node ID")
    lk.add_argument("profile", metavar="PROFILE", nargs="?", help="lan, lte, lte-poor, optionally /FIELD=VALUE...")
    lk.add_argument("--list", action="store_true", help="list the profiles and their fields and exit")
    lk.add_argument("--json", action="store_true", help="print JSON")
    by = sub.add_parser("bytes", parents=[common], help="bytes each node's link carried, per direction",
                        description="Bytes the node's uplink relay delivered towards the bastion (up) and towards "
                                    "the node (down) since the last reset, with connections, flaps and stalls. "
                                    "They include the tunnel's own SSH overhead (encryption, keepalives).")
    by.add_argument("node", metavar="NODE", nargs="?", help="VSN (W001) or node ID (default: every node)")
    by.add_argument("--json", action="store_true", help="print JSON")
    by.add_argument("--reset", action="store_true", help="start counting from zero after printing")
    fl = sub.add_parser("fault", parents=[common], help="switch a fault of a node on or off (--list: all faults)",
                        description="Make one input of the sanity checks wrong on a node, the way the real "
                                    "fault would; `simfleet fault --list` names every fault, the checks it "
                                    "makes fail and whether it survives a power cut. `simfleet fault NODE` "
                                    "shows the node's active faults.")
    fl.add_argument("node", metavar="NODE", nargs="?", help="VSN (W001) or node ID")
    fl.add_argument("fault", metavar="FAULT", nargs="?", help="fault name (see --list)")
    fl.add_argument("--off", action="store_true", help="switch the fault off (idempotent)")
    fl.add_argument("--list", action="store_true", help="list the faults and exit")
    fl.add_argument("--json", action="store_true", help="with --list or NODE alone: print JSON")
    fl.add_argument("--line", help="psu: the line that reads 0: acok, pg1 (default), pg2, pg3, pg4")
    fl.add_argument("--severity", help="sanity-fail, sanity-hang: the test folder, warning (default) or fatal")

    wd = sub.add_parser("wait-devices", parents=[common],
                        help="wait until every running switch and camera simulator accepts connections")
    wd.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    return p


def _need_state(fleet: Fleet) -> None:
    if not fleet.state:
        raise FleetError(f"no fleet at {fleet.dir}; start one with `simfleet up --dir {fleet.dir}`")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "link" and (args.list or not args.node):
        if not args.list:
            print("simfleet: link needs NODE [PROFILE] (or --list); profiles: " + ", ".join(PROFILES), file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps({"profiles": PROFILES, "fields": FIELDS}, indent=1))
        else:
            names = list(PROFILES)
            print(f"{'FIELD':13} " + " ".join(f"{x:>9}" for x in names) + "  MEANING")
            for k, text in FIELDS.items():
                print(f"{k:13} " + " ".join(f"{PROFILES[x][k]:>9g}" for x in names) + f"  {text}")
        return 0
    if args.cmd == "fault" and (args.list or not args.node):
        if not args.list:
            print("simfleet: fault needs NODE and FAULT (or --list); faults: " + ", ".join(faults.FAULTS),
                  file=sys.stderr)
            return 2
        sys.stdout.write(json.dumps(faults.as_json(), indent=1) + "\n" if args.json else faults.describe())
        return 0
    try:
        fleet = Fleet(resolve_dir(args.dir))
        unlocked = args.cmd in ("status", "inventory") or (args.cmd == "bytes" and not args.reset)
        with fleet.locked() if not unlocked else _null():
            return _dispatch(args, fleet)
    except FleetError as e:
        print(f"simfleet: {e}", file=sys.stderr)
        return 2


def _fault_text(name: str, opts: dict) -> str:
    return name + "".join(f" --{k} {v}" for k, v in sorted(opts.items()))


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _dispatch(args, fleet: Fleet) -> int:
    if args.cmd == "up":
        devices = [] if args.devices.strip() in ("", "none") else [d.strip() for d in args.devices.split(",")]
        wd = None
        if args.watchdog_scale is not None:
            watchdog.check_scale(args.watchdog_scale)
            wd = {"scale": args.watchdog_scale, "slot_switch": args.watchdog_slot_switch or watchdog.SLOT_SWITCH}
        elif args.watchdog_slot_switch:
            raise FleetError("--watchdog-slot-switch needs --watchdog-scale")
        t0 = time.monotonic()
        fleet.up(args.nodes, devices, restart_delay=args.restart_delay, timeout=args.timeout,
                 isolation=args.isolation, link=args.link, publish=inventory.write_files,
                 bastion_profile=args.bastion, watchdog=wd,
                 units=None if args.units is None else
                 [u.strip() for u in args.units.split(",") if u.strip() and u.strip() != "none"])
        if not args.no_remember:
            remember(fleet.dir)
        print(f"simfleet: {len(fleet.nodes)} nodes up in {time.monotonic() - t0:.1f} s at {fleet.dir} "
              f"({fleet.isolation} mode, {bastion.profile(fleet)} bastion 127.0.0.1:{fleet.state['bastion_port']}); "
              f"inventory: {fleet.dir}/inventory.yml")
        return 0
    if args.cmd == "down":
        for line in fleet.down(purge=args.purge):
            if "killed" not in line:
                print(f"simfleet: {line}")
        print(f"simfleet: fleet at {fleet.dir} is down")
        return 0
    _need_state(fleet)
    if args.cmd == "status":
        st = fleet.status()
        if args.json:
            print(json.dumps(st, indent=1))
            return 0
        print(f"fleet {st['dir']}  {st['isolation']} mode  prefix {st['prefix']}  bastion "
              f"{'127.0.0.1:%s' % st['bastion_port'] if st['running'] else 'DOWN'}")
        print(f"{'VSN':6} {'NODE ID':18} {'POWER':5} {'LINK':5} {'PROFILE':10} {'TUNNEL':6} {'WATCHDOG':8} "
              f"{'DEVICES':32} FAULTS")
        for n in st["nodes"]:
            # devices and compute units (up --units) with their state
            devs = " ".join(f"{k}={v}" for k, v in list(n["devices"].items()) + list(n.get("units", {}).items())) or "-"
            flts = ",".join(sorted(n.get("faults") or {})) or "-"
            print(f"{n['vsn']:6} {n['node_id']:18} {n['power']:5} {n['link']:5} {n['link_profile']:10} "
                  f"{n['tunnel']:6} {n['watchdog']:8} {devs:32} {flts}")
        print(f"inventory: {st['inventory']}\nssh:       ssh -F {st['ssh_config']} <VSN>")
        return 0
    if args.cmd == "inventory":
        render = {"yaml": inventory.render_yaml, "beekeeper": inventory.render_beekeeper,
                  "ssh-config": inventory.render_ssh_config}[args.format]
        sys.stdout.write(render(fleet))
        return 0
    if args.cmd == "fault":
        n = fleet.find(args.node)
        if not args.fault:
            active = n.get("faults") or {}
            if args.json:
                print(json.dumps(active, indent=1))
            else:
                print(f"{n['vsn']}: " + (", ".join(_fault_text(k, v) for k, v in sorted(active.items())) or "no faults"))
            return 0
        active = faults.switch(fleet, n, args.fault, on=not args.off, line=args.line, severity=args.severity)
        state = "off" if args.off else "on"
        print(f"simfleet: {n['vsn']} ({n['node_id']}) fault {args.fault} {state}; active: "
              + (", ".join(_fault_text(k, v) for k, v in sorted(active.items())) or "none"))
        return 0
    if args.cmd == "link":
        if args.profile:
            n = fleet.set_link(args.node, args.profile)
            print(f"simfleet: {n['vsn']} ({n['node_id']}) link {n['link']}")
            return 0
        n = fleet.find(args.node)
        prof = read_link(fleet.node_dir(n))
        print(json.dumps(prof, indent=1) if args.json else
              f"{n['vsn']}: {prof['name']} " + " ".join(f"{k}={v:g}" for k, v in prof.items() if k != "name"))
        return 0
    if args.cmd == "bytes":
        rows = fleet.link_bytes(args.node, reset=args.reset)
        if args.json:
            print(json.dumps(rows if args.node is None else rows[0], indent=1))
            return 0
        print(f"{'VSN':6} {'LINK':22} {'UP':>14} {'DOWN':>14} {'CONNS':>6} {'FLAPS':>6} {'STALLS':>6}")
        for r in rows:
            print(f"{r['vsn']:6} {r['link']:22} {r['up']:>14} {r['down']:>14} {r['connections']:>6} "
                  f"{r['flaps']:>6} {r['stalls']:>6}")
        return 0
    if args.cmd == "wait-devices":
        fleet.wait_devices(timeout=args.timeout)
        print(f"simfleet: device simulators of {len(fleet.nodes)} nodes are listening "
              f"{fleet.iso.devices_where}")
        return 0
    if args.cmd == "power-cut":
        n = fleet.power_cut(args.node)
        print(f"simfleet: {n['vsn']} ({n['node_id']}) power cut")
    elif args.cmd == "power-on":
        n = fleet.power_on(args.node, wait=not args.no_wait)
        print(f"simfleet: {n['vsn']} ({n['node_id']}) booted")
    elif args.cmd == "drop-tunnel":
        n = fleet.drop_tunnel(args.node)
        print(f"simfleet: {n['vsn']} ({n['node_id']}) tunnel dropped")
    elif args.cmd == "restore-tunnel":
        n = fleet.restore_tunnel(args.node, wait=not args.no_wait)
        print(f"simfleet: {n['vsn']} ({n['node_id']}) tunnel link restored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
