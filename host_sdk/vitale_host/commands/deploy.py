"""`vitale deploy --board NAME`: compile the firmware and plan the copy onto a board.

Builds the firmware for the board (mpy-cross, the board's architecture),
compares it with the device's hash manifest and prints the plan. Only
`--dry-run` works today: the transfer over the raw REPL is not implemented
yet, so without it the command exits 1 and says so.

Exit codes: 0 plan printed, 1 refused (no transfer yet, build failed), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from vitale_host import deploy

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
NOT_IMPLEMENTED = "device transfer not implemented yet; use --dry-run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vitale deploy`."""
    parser.epilog = ("Only --dry-run works for now: the device transfer (raw REPL) is not implemented yet, "
                     "so without --dry-run the command exits 1.")
    parser.add_argument("--board", required=True, metavar="NAME",
                        help="board id (boards/NAME.json) or a board file path")
    parser.add_argument("--dry-run", action="store_true",
                        help="build and print what would be copied/deleted (the only mode that works today: "
                             "the device transfer is not implemented yet)")
    parser.add_argument("--device-manifest", type=Path, metavar="FILE",
                        help="the device's /vitale-manifest.json, read from a file (default: none, copy all)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="keep the compiled tree in DIR (default: a temporary folder)")
    parser.add_argument("--steps", action="store_true", help="with --dry-run, also print every operation")


def _print_plan(build: deploy.Build, p: deploy.Plan, show_steps: bool) -> None:
    print(f"board {build.board_id}, mpy-cross -march={build.arch}, {len(build.manifest)} files")
    for path in p.copy:
        print(f"copy   {path}")
    for path in p.delete:
        print(f"delete {path}")
    print(f"{len(p.copy)} to copy, {len(p.delete)} to delete, {len(p.unchanged)} unchanged")
    if show_steps:
        for op in deploy.steps(p):
            extra = f" <- {op.source}" if op.source else ""
            print(f"  {op.kind} {op.path}{extra}")


def run(args: argparse.Namespace) -> int:
    """Entry point of `vitale deploy`."""
    device: dict[str, str] = {}
    if args.device_manifest is not None:
        try:
            device = deploy.parse_manifest(args.device_manifest.read_text(encoding="utf-8"))
        except OSError as e:
            print(f"vitale deploy: cannot read {args.device_manifest}: {e}", file=sys.stderr)
            return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="vitale-deploy-") as tmp:
        out = args.out if args.out is not None else Path(tmp) / "build"
        try:
            build = deploy.build(args.board, out)
        except deploy.DeployError as e:
            print(f"vitale deploy: {e}", file=sys.stderr)
            return EXIT_USAGE if e.code in ("unknown_board", "bad_board") else EXIT_REFUSED
        p = deploy.plan(build.manifest, device)
        _print_plan(build, p, bool(args.steps))
    if not args.dry_run:
        print(f"vitale deploy: {NOT_IMPLEMENTED}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK
