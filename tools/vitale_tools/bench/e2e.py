"""End-to-end latency in the virtual reader: tap-to-result (NFC) and QR-shown-to-result, per firmware runtime.

One virtual reader per runtime (`vitale_tools.virtual.VirtualReader`, provisioned
through its pty), read through the SDK (`vitale_host.client.Reader`, pyserial on
the pty) as practice software would. For each read the SDK starts `read_card`;
when the reader reports `scanning`, the phone is tapped (or its QR shown) and
the clock starts; it stops when the SDK has the verified, signature-checked
result. Split:

- **transport (modelled)**: NFC — PN532 UART bytes at 115200 Bd plus 106 kbps air
  time and the phone's modelled delays (the emulator's model clock, which the
  emulator does not sleep through); QR — one camera frame period (1/15 s) per
  frame captured.
- **compute**: wall time minus the emulator's own work (chip, phone and camera
  rendering, measured inside the board calls): the firmware on this machine
  (app loop, NFC protocol, QR decode, verification, result signing) plus the
  SDK's checks. For the MicroPython runtime it includes the VM bridge's calls.
- **link (modelled)**: the bytes of the read on the host link (request, state
  and result events) at 115200 Bd, a USB-UART bridge's rate (native USB is faster).

`device estimate = compute + transport + link`. Ratios are taken within this run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from vitale_host.client import Reader
from vitale_host.models import ReadProgress
from vitale_host.pins import PinStore
from vitale_tools.virtual.reader import VirtualReader
from vitale_tools.virtual.world import World

LINK_BAUD = 115200


@dataclass
class Sample:
    """One read's measurements (seconds)."""

    wall: float
    transport: float
    emulator: float
    link_bytes: int

    @property
    def link(self) -> float:
        """Modelled host-link time."""
        return self.link_bytes * 10.0 / LINK_BAUD

    @property
    def compute(self) -> float:
        """Wall time less the emulator's own work."""
        return max(0.0, self.wall - self.emulator)


@dataclass
class Row:
    """The samples of one (runtime, channel)."""

    runtime: str
    channel: str
    samples: list[Sample] = field(default_factory=list)
    error: str = ""

    def med(self, attr: str) -> float:
        """Median of one attribute over the samples."""
        return statistics.median(float(getattr(s, attr)) for s in self.samples) if self.samples else float("nan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim bench e2e`."""
    parser.add_argument("--runtimes", default="cpython,micropython",
                        help="comma-separated runtimes to measure (default cpython,micropython)")
    parser.add_argument("--reads", type=int, default=5, help="reads per channel under CPython (default 5)")
    parser.add_argument("--vm-reads", type=int, default=2, help="reads per channel in the MicroPython VM (default 2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per read (default 120)")


def _one_read(vr: VirtualReader, reader: Reader, channel: str, action: str, timeout: float) -> Sample:
    scanning = threading.Event()
    out: dict[str, Any] = {}

    def progress(p: ReadProgress) -> None:
        if p.state == "scanning":
            scanning.set()

    def run() -> None:
        try:
            out["result"] = reader.read_card(channel=channel, timeout=timeout, on_progress=progress)
            out["t1"] = time.perf_counter()
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    if not scanning.wait(timeout):
        raise RuntimeError("the reader never started scanning")
    hw, link = vr.hw, vr.link
    tr0 = hw.transport_s() if channel == "nfc" else hw.camera_s()
    em0, b0 = hw.emul_s, link.bytes_in + link.bytes_out
    t0 = time.perf_counter()
    reply = vr.command(action)
    if not reply.startswith("ok"):
        raise RuntimeError(f"{action}: {reply}")
    t.join(timeout + 15)
    vr.command("remove")
    if "error" in out:
        raise RuntimeError(f"{channel} read failed: {out['error']}")
    if "result" not in out:
        raise RuntimeError(f"{channel} read did not finish in {timeout} s")
    tr1 = hw.transport_s() if channel == "nfc" else hw.camera_s()
    # request and state events before the tap are part of the read's link traffic too
    link_bytes = link.bytes_in + link.bytes_out - b0 + 200
    return Sample(out["t1"] - t0, tr1 - tr0, hw.emul_s - em0, link_bytes)


def measure(runtime: str, reads: int, timeout: float, log: Any = None) -> list[Row]:
    """Start a virtual reader on `runtime` and time `reads` NFC and QR reads."""
    rows = [Row(runtime, "nfc"), Row(runtime, "qr")]
    world = World.create()
    vr = VirtualReader(world, runtime=runtime, log=log, seed=7)
    try:
        vr.start(provision_timeout=max(60.0, timeout))
        with Reader(vr.port, timeout=max(15.0, timeout / 4), connect_timeout=60.0) as reader:
            for row in rows:
                try:
                    for k in range(reads):
                        patient = str(k % 3)  # a QR of the same patient within a second would be a replay
                        action = ("tap " if row.channel == "nfc" else "show-qr ") + patient
                        row.samples.append(_one_read(vr, reader, row.channel, action, timeout))
                except Exception as e:  # noqa: BLE001 - reported in the table
                    row.error = str(e)
    except Exception as e:  # noqa: BLE001 - a runtime that does not start is reported, not fatal
        for row in rows:
            row.error = row.error or f"{type(e).__name__}: {e}"
    finally:
        vr.close()
    return rows


def _ms(x: float) -> str:
    return "%8.0f" % (x * 1000) if x == x else "%8s" % "-"


def report(rows: list[Row]) -> str:
    """The table (medians, milliseconds) and the ratios."""
    head = ("%-12s %-4s %3s %8s %8s %8s %8s %8s %8s" %
            ("runtime", "read", "n", "wall", "compute", "transp.", "link", "emulator", "device~"))
    lines = [head, "-" * len(head)]
    for r in rows:
        if not r.samples:
            lines.append("%-12s %-4s   0  failed: %s" % (r.runtime, r.channel, r.error))
            continue
        device = r.med("compute") + r.med("transport") + r.med("link")
        lines.append("%-12s %-4s %3d %s %s %s %s %s %s" % (
            r.runtime, r.channel, len(r.samples), _ms(r.med("wall")), _ms(r.med("compute")),
            _ms(r.med("transport")), _ms(r.med("link")), _ms(r.med("emulator")), _ms(device)))
        if r.error:
            lines.append("%-12s %-4s     (stopped early: %s)" % ("", "", r.error))
    by = {(r.runtime, r.channel): r for r in rows if r.samples}
    lines.append("")
    lines.append("ratios (medians, this run):")
    for ch in ("nfc", "qr"):
        c, m = by.get(("cpython", ch)), by.get(("micropython", ch))
        if c is not None and m is not None and c.med("compute") > 0:
            lines.append("  %s compute, MicroPython VM / CPython: %.1fx" % (ch, m.med("compute") / c.med("compute")))
    for rt in ("cpython", "micropython"):
        n, q = by.get((rt, "nfc")), by.get((rt, "qr"))
        if n is not None and q is not None and n.med("wall") > 0:
            lines.append("  %s QR-to-result / tap-to-result (wall): %.1fx" % (rt, q.med("wall") / n.med("wall")))
        for one in (n, q):
            if one is not None:
                dev = one.med("compute") + one.med("transport") + one.med("link")
                if dev > 0:
                    lines.append("  %s %s share of the device estimate: compute %.0f%%, transport %.0f%%, "
                                 "link %.0f%%" % (rt, one.channel, 100 * one.med("compute") / dev,
                                                  100 * one.med("transport") / dev, 100 * one.med("link") / dev))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Measure each runtime and print the table; exit 1 when a runtime could not read."""
    runtimes = [x.strip() for x in args.runtimes.split(",") if x.strip()]
    rows: list[Row] = []
    old_home = os.environ.get("VITALE_HOME")
    with tempfile.TemporaryDirectory(prefix="vitale-bench-e2e-") as home:
        os.environ["VITALE_HOME"] = home  # the virtual reader's key is pinned here, not in the user's config
        PinStore()  # resolved from the environment
        try:
            for rt in runtimes:
                n = args.reads if rt == "cpython" else args.vm_reads
                print(f"measuring {rt}: {n} NFC and {n} QR reads ...", file=sys.stderr, flush=True)
                rows += measure(rt, n, args.timeout)
        finally:
            if old_home is None:
                os.environ.pop("VITALE_HOME", None)
            else:
                os.environ["VITALE_HOME"] = old_home
    print("vitale-sim bench e2e: latency in the virtual reader (medians, ms)")
    print(report(rows))
    print("\nwall: tap/QR shown -> verified result in the SDK. compute = wall - emulator (chip, phone, camera "
          "rendering).\ntransport: modelled PN532 UART (115200 Bd) + 106 kbps air + phone delays, or camera frame "
          "periods (15 fps).\nlink: the read's host-link bytes at 115200 Bd. device~ = compute + transport + link.")
    return 0 if all(r.samples and not r.error for r in rows) else 1
