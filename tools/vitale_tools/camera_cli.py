"""`vitale-sim qr-corpus`: write synthetic phone-screen QR frames and their manifest."""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

from vitale_tools import camera_sim


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim qr-corpus`."""
    parser.add_argument("--out", type=Path, required=True, help="folder for the frames and manifest.json")
    parser.add_argument("--count", type=int, default=300, help="number of frames")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (frame i uses [seed, i])")
    parser.add_argument("--size", choices=sorted(camera_sim.SIZES), default="vga", help="frame size")
    parser.add_argument(
        "--payload-bytes",
        type=int,
        default=None,
        help="bytes before base45 (default: 350-400 at VGA, 40-100 at QVGA)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the corpus and print what it holds."""
    if args.count <= 0:
        raise SystemExit("--count must be positive")
    t0 = time.perf_counter()
    manifest = camera_sim.write_corpus(args.out, args.count, args.seed, args.size, args.payload_bytes)
    entries = camera_sim.load_corpus(manifest)
    buckets = collections.Counter(e["bucket"] for e in entries)
    symbols = collections.Counter(e["symbol"] for e in entries)
    print(f"wrote {len(entries)} {args.size} frames and {manifest} in {time.perf_counter() - t0:.1f} s")
    print("buckets: " + ", ".join(f"{b} {buckets[b]}" for b in camera_sim.BUCKETS if buckets[b]))
    print("symbols: " + ", ".join(f"{s} {c}" for s, c in sorted(symbols.items())))
    return 0
