"""honeycomb-build: build a deterministic, optionally signed, v2 Honeycomb payload from a directory.

Same builder code as the waggle.honeycomb.upgrade_build module. Exit status: 0 built (or
unchanged), 1 refused (message on stderr names the file and the problem), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build as hcbuild
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as hcpayload


def _usage(message: str) -> SystemExit:
    print(f"honeycomb-build: {message}", file=sys.stderr)
    return SystemExit(2)


def _phase_ints(values: list[str] | None, what: str) -> dict[str, int] | None:
    if not values:
        return None
    out: dict[str, int] = {}
    for item in values:
        phase, sep, number = item.partition("=")
        if not sep or phase not in hcpayload.PHASES:
            raise _usage(f"--{what} wants PHASE=N with PHASE one of {', '.join(hcpayload.PHASES)}, got {item!r}")
        try:
            out[phase] = int(number)
        except ValueError:
            raise _usage(f"--{what} {item!r}: {number!r} is not an integer") from None
    return out


def _codes(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip() != ""]
    except ValueError:
        raise _usage(f"exit codes must be comma-separated integers, got {value!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="honeycomb-build",
        description="Build a deterministic v2 Honeycomb upgrade payload (.tar.gz) from SRC_DIR. Options override "
                    "SRC_DIR/honeycomb.yml (see docs/payload-format.md).")
    p.add_argument("src", metavar="SRC_DIR", help="directory with hc_state_check.sh, hc_install_upgrade.sh, "
                   "hc_verify_upgrade.sh, optional hc_rollback_upgrade.sh and any other files")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tar.gz", help="archive to write")
    p.add_argument("--sign-key", metavar="KEY", help="OpenSSH private key (ed25519) to sign manifest.json with")
    p.add_argument("--name")
    p.add_argument("--version", dest="payload_version", metavar="VERSION", help="payload version (required unless "
                   "honeycomb.yml or a 2021 metadata.json has one)")
    p.add_argument("--peripheral")
    p.add_argument("--description")
    p.add_argument("--timeout", action="append", metavar="PHASE=SECONDS", help="per-phase timeout (repeatable)")
    p.add_argument("--retries", action="append", metavar="PHASE=N", help="per-phase retries (repeatable)")
    p.add_argument("--needed-codes", metavar="CODES", help="state-check exit codes meaning 'upgrade needed' (default 0)")
    p.add_argument("--already-applied-codes", metavar="CODES", help="state-check exit codes meaning 'already in the "
                   "target state' (default 100)")
    p.add_argument("--retry-later-codes", metavar="CODES", help="state-check exit codes meaning 'not now' (default 21)")
    p.add_argument("--backup-path", action="append", metavar="PATH", help="absolute path snapshotted before install "
                   "(repeatable)")
    p.add_argument("--restart-unit", action="append", metavar="UNIT", help="systemd unit stopped/started around a "
                   "restore (repeatable)")
    p.add_argument("--parameters", metavar="JSON", help="parameter schema as JSON, or @file.json")
    p.add_argument("--exclude", action="append", metavar="GLOB", help="leave matching files out (repeatable)")
    p.add_argument("--source-date-epoch", type=int, metavar="SECONDS", help="member mtime (default: "
                   "$SOURCE_DATE_EPOCH or 0)")
    p.add_argument("--check", action="store_true", help="do not write; exit 0 and say whether OUT would change")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    codes = {k: v for k, v in (("needed", _codes(args.needed_codes)),
                               ("already_applied", _codes(args.already_applied_codes)),
                               ("retry_later", _codes(args.retry_later_codes))) if v is not None}
    parameters = None
    if args.parameters:
        text = args.parameters
        try:
            if text.startswith("@"):
                with open(text[1:], encoding="utf-8") as handle:
                    text = handle.read()
            parameters = json.loads(text)
        except (OSError, ValueError) as exc:
            print(f"honeycomb-build: --parameters: {exc}", file=sys.stderr)
            return 2
    options = {
        "name": args.name, "version": args.payload_version, "peripheral": args.peripheral,
        "description": args.description, "timeouts": _phase_ints(args.timeout, "timeout"),
        "retries": _phase_ints(args.retries, "retries"), "state_check_codes": codes or None,
        "backup_paths": args.backup_path, "restart_units": args.restart_unit, "parameters": parameters,
        "exclude": args.exclude,
    }
    if codes:
        # a partial set on the command line starts from the defaults for the others
        full = {k: list(v) for k, v in hcpayload.DEFAULT_STATE_CHECK_CODES.items()}
        full.update(codes)
        options["state_check_codes"] = full
    try:
        result = hcbuild.build_payload(args.src, args.output, options, sign_key=args.sign_key,
                                       source_date_epoch=args.source_date_epoch, check_mode=args.check)
    except hcpayload.PayloadError as exc:
        print(f"honeycomb-build: refused: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        state = "would change" if args.check and result["changed"] else ("written" if result["changed"] else "unchanged")
        print(f"{result['dest']}: {state}, sha256 {result['sha256']}, {len(result['files'])} files, "
              f"{'signed' if result['signed'] else 'unsigned'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
