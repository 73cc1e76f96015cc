"""Subcommands as plug-in modules, loaded lazily (shared by `vitale` and `vitale-sim`).

A plug-in module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
A module that is not built yet (missing) is skipped, so the CLI still works.
"""

from __future__ import annotations

import argparse
import importlib


def add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser],  # noqa: SLF001
                commands: dict[str, tuple[str, str]]) -> None:
    """Add one subparser per available plug-in; commands maps name -> (module, help)."""
    for name, (modname, help_text) in commands.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name is None or not modname.startswith(e.name):
                raise
            continue  # not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)


def run_parsed(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse argv and run the chosen plug-in (help when none was chosen)."""
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 0
    code: int = run(args)
    return code
