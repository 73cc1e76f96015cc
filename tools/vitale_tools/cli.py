"""`vitale-sim`: the simulation, test-authority and benchmark tools.

Each subcommand lives in its own module exposing
``add_arguments(parser)`` and ``run(args) -> int``; this file only maps names
to modules, so tools are loaded lazily and independently.
"""

from __future__ import annotations

import argparse
import sys

from vitale_host.plugins import add_plugins, run_parsed

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "mpvm": ("vitale_tools.mpvm.cli", "run firmware code inside the MicroPython VM"),
    "bench": ("vitale_tools.bench.cli", "benchmarks: crypto, cred, nfc, qr, e2e"),
    "authority": ("vitale_tools.authority_cli", "test authority: keys, credentials, trust and status lists"),
    "pn532": ("vitale_tools.pn532_cli", "serve an emulated PN532 (and phone) on a pty"),
    "qr-corpus": ("vitale_tools.camera_cli", "write a corpus of synthetic phone-screen QR frames"),
    "emulate": ("vitale_tools.emulate", "run the virtual reader with its USB serial on a pty"),
    "boards": ("vitale_tools.boards", "check the board definitions in boards/"),
    "demo": ("vitale_tools.demo", "the main job: authority, NFC and QR reads through emulated chips, refusals"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="vitale-sim", description=__doc__.splitlines()[0])
    add_plugins(parser.add_subparsers(dest="command", metavar="COMMAND"), COMMANDS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `vitale-sim`."""
    return run_parsed(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
