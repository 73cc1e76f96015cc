"""`vitale-sim`: the simulation, test-authority and benchmark tools.

Each subcommand lives in its own module exposing
``add_arguments(parser)`` and ``run(args) -> int``; this file only maps names
to modules, so tools are loaded lazily and independently.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "mpvm": ("vitale_tools.mpvm.cli", "run firmware code inside the MicroPython VM"),
    "bench": ("vitale_tools.bench.cli", "benchmarks: crypto, cred, nfc, qr, e2e"),
    "authority": ("vitale_tools.authority_cli", "test authority: keys, credentials, trust and status lists"),
    "pn532": ("vitale_tools.pn532_cli", "serve an emulated PN532 (and phone) on a pty"),
    "qr-corpus": ("vitale_tools.camera_cli", "write a corpus of synthetic phone-screen QR frames"),
    "emulate": ("vitale_tools.emulate", "run the virtual reader with its USB serial on a pty"),
    "boards": ("vitale_tools.boards", "check the board definitions in boards/"),
    "demo": ("vitale_tools.demo", "the whole story: authority, virtual reader, NFC and QR reads"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="vitale-sim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (modname, help_text) in COMMANDS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name is None or not modname.startswith(e.name):
                raise
            continue  # not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `vitale-sim`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 0
    code: int = run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
