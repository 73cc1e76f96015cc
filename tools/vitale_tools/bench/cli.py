"""`vitale-sim bench NAME`: run one benchmark (crypto, cred, nfc, qr, e2e)."""

from __future__ import annotations

import argparse
import importlib

BENCHES: dict[str, str] = {
    "crypto": "vitale_tools.bench.crypto",
    "cred": "vitale_tools.bench.cred",
    "nfc": "vitale_tools.bench.nfc",
    "qr": "vitale_tools.bench.qr",
    "e2e": "vitale_tools.bench.e2e",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim bench`."""
    sub = parser.add_subparsers(dest="bench", required=True)
    for name, modname in BENCHES.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name is None or not modname.startswith(e.name):
                raise
            continue
        p = sub.add_parser(name, help=(mod.__doc__ or name).splitlines()[0])
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)


def run(args: argparse.Namespace) -> int:  # replaced by the chosen bench's run
    raise SystemExit("choose a benchmark")
