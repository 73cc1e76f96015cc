"""QR benchmark: our decoder (CPython, MicroPython VM) beside zxing-cpp, OpenCV and zbar on synthetic camera frames.

Every decoder reads the same frames of a `vitale-sim qr-corpus` corpus
(generated on the fly unless --corpus is given). Printed: decode rate and
median time per frame per decoder and frame size, decode rate per difficulty
bucket, wrong payloads (must be zero), the acceptance ratio against zxing-cpp
on VGA, and the time and memory of our decoder per frame inside the
MicroPython VM on a subset.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vitale_tools import camera_sim, mpvm

Decoder = Callable[[np.ndarray[Any, np.dtype[np.uint8]]], list[bytes]]

ACCEPT_RATIO = 0.95

# Runs inside the MicroPython VM: decodes the mounted frames, one result line each.
VM_SCRIPT = """
import gc
import time
from vitale.vision.qr.decoder import Decoder

def readpgm(path):
    with open(path, "rb") as f:
        data = f.read()
    head = data.split(b"\\n", 3)
    w, h = [int(x) for x in head[1].split()]
    return data[len(data) - w * h:], w, h

decoders = {}
for name in ARGV[1:]:
    frame, w, h = readpgm("/frames/" + name)
    d = decoders.get((w, h))
    if d is None:
        d = Decoder(w, h)
        decoders[(w, h)] = d
    gc.collect()
    base = gc.mem_alloc()
    t = time.ticks_us()
    codes = d.decode(frame)
    us = time.ticks_diff(time.ticks_us(), t)
    alloc = gc.mem_alloc() - base
    out = ",".join("".join("%02x" % b for b in c.payload) for c in codes)
    print("VMFRAME", name, us, d.memory(), alloc, out or "-")
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim bench qr`."""
    parser.add_argument("--count", type=int, default=300, help="frames per size when generating (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed")
    parser.add_argument("--sizes", default="vga,qvga", help="comma-separated frame sizes to generate")
    parser.add_argument("--corpus", type=Path, action="append", default=None, help="existing corpus folder(s)")
    parser.add_argument("--vm-frames", type=int, default=6, help="QVGA frames decoded inside the VM (0: none)")
    parser.add_argument("--vm-vga-frames", type=int, default=2, help="VGA frames decoded inside the VM")
    parser.add_argument("--no-vm", action="store_true", help="skip the MicroPython VM runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")


def _decoders() -> dict[str, Decoder]:
    """Available decoders by name; ours first."""
    # the firmware package (MicroPython code, not type-checked with the host tools)
    qr = importlib.import_module("vitale.vision.qr")

    out: dict[str, Decoder] = {}

    def ours(img: np.ndarray[Any, np.dtype[np.uint8]]) -> list[bytes]:
        h, w = img.shape
        return [bytes(p) for p in qr.decode(img.tobytes(), w, h)]

    out["ours"] = ours
    try:
        import zxingcpp

        qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

        def zx(img: np.ndarray[Any, np.dtype[np.uint8]]) -> list[bytes]:
            return [bytes(r.bytes) for r in zxingcpp.read_barcodes(img, formats=qr_only)]

        out["zxing-cpp"] = zx
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(1)
        det = cv2.QRCodeDetector()

        def ocv(img: np.ndarray[Any, np.dtype[np.uint8]]) -> list[bytes]:
            text, _, _ = det.detectAndDecode(img)
            return [text.encode("latin-1", "replace")] if text else []

        out["opencv"] = ocv
        if hasattr(cv2, "QRCodeDetectorAruco"):
            det2 = cv2.QRCodeDetectorAruco()

            def ocv2(img: np.ndarray[Any, np.dtype[np.uint8]]) -> list[bytes]:
                text, _, _ = det2.detectAndDecode(img)
                return [text.encode("latin-1", "replace")] if text else []

            out["opencv-aruco"] = ocv2
    except ImportError:
        pass
    try:
        from pyzbar import pyzbar  # type: ignore[import-not-found,unused-ignore]

        def zbar(img: np.ndarray[Any, np.dtype[np.uint8]]) -> list[bytes]:
            return [bytes(r.data) for r in pyzbar.decode(img, symbols=[pyzbar.ZBarSymbol.QRCODE])]

        out["zbar"] = zbar
    except Exception:  # pyzbar missing, or libzbar0 not installed
        pass
    return out


def _corpora(args: argparse.Namespace, tmp: Path) -> list[Path]:
    if args.corpus:
        return [c / "manifest.json" if c.is_dir() else c for c in args.corpus]
    out = []
    for size in args.sizes.split(","):
        size = size.strip()
        t0 = time.perf_counter()
        out.append(camera_sim.write_corpus(tmp / size, args.count, args.seed, size))
        print(f"generated {args.count} {size} frames (seed {args.seed}) in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def _run_decoders(entries: list[dict[str, Any]], decs: dict[str, Decoder]) -> dict[str, list[dict[str, Any]]]:
    res: dict[str, list[dict[str, Any]]] = {name: [] for name in decs}
    for e in entries:
        want = e["payload"].encode()
        img = e["image"]
        for name, fn in decs.items():
            t = time.perf_counter()
            try:
                got = fn(img)
            except Exception as ex:  # a reference decoder crashing counts as a miss
                got = []
                print(f"  {name} raised {ex!r} on {e['file']}", file=sys.stderr)
            ms = (time.perf_counter() - t) * 1000
            res[name].append({"ok": want in got, "wrong": sum(1 for g in got if g != want), "ms": ms})
    return res


def _table(size: str, entries: list[dict[str, Any]], res: dict[str, list[dict[str, Any]]]) -> list[str]:
    names = list(res)
    lines = [f"\n== {size}: {len(entries)} frames ==", f"{'decoder':<14}{'decoded':>9}{'rate':>8}{'wrong':>7}{'median ms':>11}"]
    for name in names:
        r = res[name]
        hits = sum(x["ok"] for x in r)
        wrong = sum(x["wrong"] for x in r)
        med = statistics.median(x["ms"] for x in r)
        lines.append(f"{name:<14}{hits:>9}{hits / len(r):>8.1%}{wrong:>7}{med:>11.1f}")
    lines.append(f"\nper bucket ({size}): decoded / frames")
    lines.append(f"{'bucket':<13}{'n':>4}" + "".join(f"{n:>14}" for n in names))
    for b in camera_sim.BUCKETS:
        idx = [i for i, e in enumerate(entries) if e["bucket"] == b]
        if not idx:
            continue
        cells = "".join(f"{sum(res[n][i]['ok'] for i in idx):>14}" for n in names)
        lines.append(f"{b:<13}{len(idx):>4}" + cells)
    return lines


def _vm(frames: list[Path], entries: dict[str, dict[str, Any]], label: str, host_ok: dict[str, bool]) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="qrvm-") as t:
        script = Path(t) / "qr_vm.py"
        script.write_text(VM_SCRIPT)
        mounts: dict[str, str | os.PathLike[str]] = {f"/frames/{f.name}": f for f in frames}
        res = mpvm.run_file(script, args=[f.name for f in frames], mounts=mounts, timeout=1800)
    if res.returncode != 0:
        return [f"VM run failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"]
    lines = []
    times = []
    ok = 0
    for line in res.lines:
        if not line.startswith("VMFRAME"):
            continue
        _, name, us, mem, alloc, out = line.split()
        want = entries[name]["payload"].encode().hex()
        good = want in out.split(",")
        ok += good
        times.append(int(us) / 1000)
        same = "same as CPython" if good == host_ok[name] else "DIFFERS from CPython"
        lines.append(
            f"  {name}: {int(us) / 1000:8.0f} ms  {'ok  ' if good else 'MISS'} ({same}, {entries[name]['bucket']})"
            f"  buffers {int(mem)} B, allocated during decode {int(alloc)} B"
        )
    if times:
        lines.insert(0, f"VM ({label}): {ok}/{len(times)} decoded, median {statistics.median(times):.0f} ms/frame")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the tables and the acceptance ratio."""
    decs = _decoders()
    print("decoders: " + ", ".join(decs) + ("" if "zbar" in decs else " (zbar: pyzbar/libzbar0 not installed)"))
    summary: dict[str, Any] = {}
    status = 0
    with tempfile.TemporaryDirectory(prefix="qrbench-") as tmp:
        for manifest in _corpora(args, Path(tmp)):
            meta = json.loads(manifest.read_text())
            size = meta["size"]
            entries = camera_sim.load_corpus(manifest)
            t0 = time.perf_counter()
            res = _run_decoders(entries, decs)
            for line in _table(size, entries, res):
                print(line)
            print(f"(decoding took {time.perf_counter() - t0:.0f} s)")
            rates = {n: sum(x["ok"] for x in r) / len(r) for n, r in res.items()}
            wrong = sum(x["wrong"] for x in res["ours"])
            summary[size] = {
                "frames": len(entries),
                "rates": rates,
                "wrong": {n: sum(x["wrong"] for x in r) for n, r in res.items()},
                "median_ms": {n: statistics.median(x["ms"] for x in r) for n, r in res.items()},
            }
            if "zxing-cpp" in rates and rates["zxing-cpp"] > 0:
                ratio = rates["ours"] / rates["zxing-cpp"]
                summary[size]["ratio_vs_zxing"] = ratio
                verdict = "PASS" if ratio >= ACCEPT_RATIO and wrong == 0 else "FAIL"
                if size == "vga":
                    print(f"\nACCEPTANCE (VGA): ours/zxing-cpp = {ratio:.3f} (need >= {ACCEPT_RATIO}), wrong payloads {wrong}: {verdict}")
                    if verdict == "FAIL":
                        status = 1
                else:
                    print(f"\n{size}: ours/zxing-cpp = {ratio:.3f}, wrong payloads {wrong}")
            if not args.no_vm:
                k = args.vm_vga_frames if size == "vga" else args.vm_frames
                if k > 0:
                    by_name = {e["file"]: e for e in entries}
                    host_ok = {e["file"]: r["ok"] for e, r in zip(entries, res["ours"])}
                    picks = [manifest.parent / e["file"] for e in entries[:k]]
                    try:
                        for line in _vm(picks, by_name, size, host_ok):
                            print(line)
                    except mpvm.VMError as ex:
                        print(f"VM skipped: {ex}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return status
