"""`vitale`: talk to a reader, verify credentials, flash, deploy and provision.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only maps names to modules.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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
    """Entry point of `vitale`."""
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
