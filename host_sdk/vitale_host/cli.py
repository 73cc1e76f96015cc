"""`vitale`: talk to a reader, verify credentials, flash, deploy and provision.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only maps names to modules.
"""

from __future__ import annotations

import argparse
import sys

from vitale_host.plugins import add_plugins, run_parsed

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("vitale_host.commands.info", "show the reader's state"),
    "read": ("vitale_host.commands.read", "read a card (NFC tap or QR)"),
    "console": ("vitale_host.commands.console", "interactive serial console"),
    "verify": ("vitale_host.verify_cli", "verify a credential offline, on the host"),
    "flash": ("vitale_host.commands.flash", "flash MicroPython onto a board (esptool)"),
    "deploy": ("vitale_host.commands.deploy", "copy the compiled firmware onto a board"),
    "provision": ("vitale_host.commands.provision", "provision clock, trust list, status list, reader key"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="vitale", description=__doc__.splitlines()[0])
    parser.add_argument("--port", help="serial port of the reader (auto-detected when one is plugged in)")
    add_plugins(parser.add_subparsers(dest="command", metavar="COMMAND"), COMMANDS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `vitale`."""
    return run_parsed(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
