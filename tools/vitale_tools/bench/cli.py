"""`vitale-sim bench NAME`: run one benchmark (crypto, cred, nfc, qr, e2e)."""

from __future__ import annotations

import argparse

from vitale_host.plugins import add_plugins

BENCHES: dict[str, tuple[str, str]] = {
    "crypto": ("vitale_tools.bench.crypto", "ECDSA, ECDH, AES-GCM, HKDF, CBOR in CPython and the MicroPython VM"),
    "cred": ("vitale_tools.bench.cred", "VQR and mdoc verification, status-list lookups (70 M credentials)"),
    "nfc": ("vitale_tools.bench.nfc", "an ISO 18013-5 read over the emulated PN532: APDUs, bytes, wire time"),
    "qr": ("vitale_tools.bench.qr", "QR decode rate and time against zxing-cpp and OpenCV"),
    "e2e": ("vitale_tools.bench.e2e", "tap-to-result and QR-to-result latency in the virtual reader"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim bench`."""
    add_plugins(parser.add_subparsers(dest="bench", required=True), BENCHES)


def run(args: argparse.Namespace) -> int:  # replaced by the chosen bench's run
    raise SystemExit("choose a benchmark")
