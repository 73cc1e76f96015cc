"""`vitale-sim mpvm run FILE`: run a file inside the MicroPython VM."""

from __future__ import annotations

import argparse
import sys

from . import DEFAULT_HEAP, run_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim mpvm`."""
    sub = parser.add_subparsers(dest="mpvm_command", required=True)
    p = sub.add_parser("run", help="run FILE with the vitale package importable; exits with FILE's status")
    p.add_argument("file")
    p.add_argument("args", nargs="*", help="passed to the script as the global ARGV[1:]")
    p.add_argument("--heap", type=int, default=DEFAULT_HEAP, help="VM heap size in bytes")
    p.add_argument("--mount", action="append", default=[], metavar="VMPATH=HOSTPATH",
                   help="copy a host file or folder into the VM's filesystem")
    p.add_argument("--time", action="store_true", help="print the script's wall time in the VM")


def run(args: argparse.Namespace) -> int:
    """Run the file and relay its output and exit status."""
    mounts = {}
    for m in args.mount:
        vm, _, host = m.partition("=")
        if not host:
            print(f"vitale-sim mpvm: --mount needs VMPATH=HOSTPATH, got {m!r}", file=sys.stderr)
            return 2
        mounts[vm] = host
    res = run_file(args.file, args=args.args, mounts=mounts, heap=args.heap)
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    if args.time:
        print(f"wall time in VM: {res.wall_ms:.1f} ms", file=sys.stderr)
    return res.returncode
