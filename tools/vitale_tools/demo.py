"""`vitale-sim demo`: the README's main job.

Until the virtual reader exists, the best demo is the crypto benchmark: the
on-device ECDSA/ECDH/AES-GCM/HKDF/CBOR code in CPython and in the MicroPython VM.
"""

from __future__ import annotations

import argparse

from vitale_tools.bench import crypto


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim demo`."""
    crypto.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    return crypto.run(args)
