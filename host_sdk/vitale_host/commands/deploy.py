"""`vitale [--port PORT] deploy --board NAME`: compile the firmware and copy what changed onto a board.

Builds the firmware for the board (mpy-cross, the board's architecture),
enters the board's raw REPL (Ctrl-C stops the app), finishes any install a
power cut interrupted, compares the build with the device's hash manifest,
copies only new and changed files (staged, hash-checked on the board, then
installed through a journal: see `vitale_host.deploy`), writes `board.json`
and `main.py`, resets the board and waits for the app's `hello` reply.

`--dry-run` prints the plan without writing anything: against the board when
`--port` is given, else against `--device-manifest FILE` (or an empty device).

Exit codes: 0 deployed (or plan printed), 1 refused or failed (build, port,
raw REPL, transfer, app not answering), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from vitale_host import deploy
from vitale_host.errors import ReaderError

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vitale deploy`."""
    parser.epilog = ("The board's port is the global --port (auto-detected when one reader is plugged in). "
                     f"--board {deploy.VM_BOARD_ID} targets the MicroPython VM of the virtual reader.")
    parser.add_argument("--board", required=True, metavar="NAME",
                        help=f"board id (boards/NAME.json), a board file path, or {deploy.VM_BOARD_ID}")
    parser.add_argument("--dry-run", action="store_true",
                        help="build and print what would be copied/deleted; writes nothing")
    parser.add_argument("--device-manifest", type=Path, metavar="FILE",
                        help="with --dry-run and no --port: the device's /vitale-manifest.json from a file")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="keep the compiled tree in DIR (default: a temporary folder)")
    parser.add_argument("--steps", action="store_true", help="with --dry-run, also print every operation")
    parser.add_argument("--source", action="store_true",
                        help="copy the modules as .py source instead of compiled .mpy")
    parser.add_argument("--verify", action="store_true",
                        help="hash every file on the board instead of trusting its manifest "
                             "(repairs files changed by hand)")
    parser.add_argument("--no-reset", action="store_true",
                        help="leave the board at its REPL after copying (no reset, no hello)")
    parser.add_argument("--ready-timeout", type=float, default=30.0, metavar="S",
                        help="seconds to wait for the app's hello after the reset (default 30)")
    parser.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    parser.add_argument("--no-raw-paste", action="store_true",
                        help="use the plain raw REPL only (for a MicroPython whose raw-paste mode misbehaves)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-file progress")


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


def _progress(build: deploy.Build) -> deploy.Progress:
    def show(i: int, n: int, op: deploy.Op) -> None:
        size = ""
        if op.kind == "put":
            size = f" ({build.local_path('/' + op.source).stat().st_size} B)"
        print(f"[{i + 1}/{n}] {op.kind} {op.path}{size}", flush=True)
    return show


def _device_manifest_dry(args: argparse.Namespace, build: deploy.Build) -> tuple[dict[str, str], list[str]]:
    if args.port:
        from vitale_host.rawrepl import RawRepl

        with RawRepl(args.port, args.baud, raw_paste=not args.no_raw_paste) as r:
            device = deploy.read_device_manifest(r, build.manifest, bool(args.verify))
            return device, r.walk(deploy.DEVICE_LIB)
    if args.device_manifest is not None:
        return deploy.parse_manifest(args.device_manifest.read_text(encoding="utf-8")), []
    return {}, []


def run(args: argparse.Namespace) -> int:
    """Entry point of `vitale deploy`."""
    if args.device_manifest is not None and not args.dry_run:
        print("vitale deploy: --device-manifest only goes with --dry-run", file=sys.stderr)
        return EXIT_USAGE
    if args.device_manifest is not None and not args.device_manifest.is_file():
        print(f"vitale deploy: cannot read {args.device_manifest}", file=sys.stderr)
        return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="vitale-deploy-") as tmp:
        out = args.out if args.out is not None else Path(tmp) / "build"
        try:
            build = deploy.build(args.board, out, source=bool(args.source))
        except deploy.DeployError as e:
            print(f"vitale deploy: {e}", file=sys.stderr)
            return EXIT_USAGE if e.code in ("unknown_board", "bad_board") else EXIT_REFUSED
        try:
            if args.dry_run:
                device, files = _device_manifest_dry(args, build)
                _print_plan(build, deploy.plan(build.manifest, device, files), bool(args.steps))
                return EXIT_OK
            from vitale_host.transport import auto_port

            port = args.port or auto_port()
            res = deploy.deploy_to_device(
                port, build, verify=bool(args.verify), reset=not args.no_reset,
                ready_timeout=float(args.ready_timeout), baudrate=int(args.baud),
                raw_paste=not args.no_raw_paste,
                progress=None if args.quiet else _progress(build))
        except (ReaderError, deploy.DeployError) as e:
            print(f"vitale deploy: {e}", file=sys.stderr)
            return EXIT_REFUSED
    if res.recovered >= 0:
        print(f"finished an interrupted install first ({res.recovered} journal entries)")
    p = res.plan
    print(f"board {build.board_id}, -march={build.arch}: {len(p.copy)} copied ({res.file_bytes} B), "
          f"{len(p.delete)} deleted, {len(p.unchanged)} unchanged; {res.ops} ops in {res.seconds:.1f} s")
    if res.hello is not None:
        fw = res.hello.get("firmware", "?")
        print(f"app ready: hello answered (firmware {fw})")
    elif args.no_reset:
        print("not reset (--no-reset): the board is at its REPL")
    return EXIT_OK
