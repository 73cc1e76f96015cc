"""`vitale-sim demo`: the README's main job — practice software reads phones through a virtual reader.

1. a fresh test authority issues three synthetic patients (0, 1, 2);
2. the virtual reader starts: the firmware app on an emulated board (PN532 chip
   emulator with a phone in its field, camera emulator facing a phone screen),
   its USB serial on a pty; it is provisioned through that pty (clock, pinned
   trust-list key, trust list, status list, reader certificate from a CSR made on
   the device) and its key is pinned on this host;
3. the host SDK (`vitale_host.Reader`, pyserial on the pty) asks for a card:
   patient 0 taps (ISO 18013-5 over NFC), patient 1 shows the signed QR; the
   firmware verifies on the device, signs the result, the SDK checks the
   signature against the pinned key and re-checks the raw credential with the
   host reference verifier;
4. refusals, each with its code: patient 2 is revoked, the same QR presentation
   shown twice is a replay, a screenshot of it two minutes later has expired.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vitale_host.client import CardRefused, Reader
from vitale_host.models import ReadResult
from vitale_host.verify import TrustStore

from .authority import load_private_key, present
from .virtual.reader import VirtualReader
from .virtual.world import World

SHOWN = ("family_name", "given_names", "birth_date", "nir", "regime", "caisse", "centre", "quality")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim demo`."""
    parser.add_argument("--keep", metavar="DIR", help="keep the authority and credentials in DIR")
    parser.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython",
                        help="run the firmware under CPython (default) or inside the MicroPython VM")


def _print_card(title: str, res: ReadResult, timings: list[tuple[str, float]]) -> None:
    v = res.verification
    assert v is not None and res.card is not None
    print(f"\n  {title}: ACCEPTED ({res.channel}, device auth: {v.device_auth}, issuer: {v.issuer})")
    card = res.card.to_dict()
    for k in SHOWN:
        if k in card:
            print(f"    {k:<14} {card[k]}")
    rights = ", ".join(f"{r['start']} to {r['end']}" for r in card.get("amo_rights") or [])
    if rights:
        print(f"    {'amo_rights':<14} {rights}")
    print(f"    {'signed by':<14} reader {res.reader_kid}, result #{res.counter} of this session"
          f"{', re-checked on the host' if res.host_checked else ''}")
    for label, ms in timings:
        print(f"    {label:<40} {ms:8.1f} ms")


def _timed_read(vr: VirtualReader, reader: Reader, control: str, channel: str) -> tuple[ReadResult, list[tuple[str, float]]]:
    """Present (control command), read through the SDK; the result and its timing split."""
    t_modelled = vr.hw.transport_s()
    reply = vr.command(control)
    if not reply.startswith("ok"):
        raise RuntimeError(f"{control}: {reply}")
    t0 = time.perf_counter()
    try:
        res = reader.read_card(channel=channel, timeout=20)
    finally:
        wall = (time.perf_counter() - t0) * 1000
        vr.command("remove")
    modelled = (vr.hw.transport_s() - t_modelled) * 1000
    timings = [("presented-to-result: compute + link (wall)", wall)]
    if channel == "nfc":  # the chip emulator answers at once; a real PN532 at 115200 Bd adds this
        timings.append(("+ modelled PN532 UART and radio time", modelled))
    return res, timings


def _refused(label: str, fn: Callable[[], Any], expected: str) -> bool:
    try:
        fn()
    except CardRefused as e:
        print(f"  {label}: refused {e.code} — {e.refusal.message}")
        return bool(e.code == expected)
    print(f"  {label}: ACCEPTED — expected {expected}: FAILED")
    return False


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when every step ends as expected."""
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vitale-demo-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "authority"
        os.environ.setdefault("VITALE_HOME", str(Path(tmp) / "host"))  # pinned reader keys of this demo
        print("Vitale Reader demo — no hardware: practice software reads phones through a virtual reader\n")
        world = World.create(folder)
        print(f"1. test authority in {world.path}: IACA, document signer, reader CA; patients 0, 1, 2 issued")

        t0 = time.perf_counter()
        vr = VirtualReader(world, runtime=args.runtime)
        try:
            vr.start()
            kid = vr.provisioned.get("kid", "?")
            print(f"2. virtual reader ({args.runtime} runtime) on {vr.port}: provisioned over the link in "
                  f"{time.perf_counter() - t0:.1f} s (clock, trust key, lists, reader certificate); "
                  f"reader key {kid} pinned on this host")
            ok = _demo_reads(vr, world)
        finally:
            vr.close()
    print(f"\ndemo {'finished' if ok else 'FAILED'} in {time.perf_counter() - t_start:.1f} s"
          " (`vitale-sim emulate` serves the same reader for `vitale read`; `make bench` and"
          " `vitale-sim bench e2e|nfc|qr|cred` measure it)")
    return 0 if ok else 1


def _demo_reads(vr: VirtualReader, world: World) -> bool:
    ok = True
    with Reader(vr.port, verify_raw=True, trust=TrustStore.load_dir(world.path)) as reader:
        reader.provision_config({}, attach_raw=True)
        print("3. practice software: `vitale_host.Reader` over pyserial; the reader attaches the raw credential"
              " and the host re-checks it")

        res, timings = _timed_read(vr, reader, "tap 0", "nfc")
        _print_card("patient 0 by NFC", res, timings)
        ok = ok and res.host_checked

        res, timings = _timed_read(vr, reader, "show-qr 1", "qr")
        _print_card("patient 1 by QR (camera emulator: a fresh presentation per frame, mild tilt/blur/noise)",
                    res, timings)
        ok = ok and res.host_checked

        print("\n4. refusals")
        reply = vr.command("revoke 2")
        print(f"  the authority revokes patient 2 and the new status list is provisioned: {reply}")
        ok = _refused("patient 2 by NFC", lambda: _timed_read(vr, reader, "tap 2", "nfc"), "revoked") and ok

        issued = world.path / "issued"
        issuer = (issued / "1.vqr-issuer.cbor").read_bytes()
        key = load_private_key(issued / "1.device-key.pem")
        now = int(time.time())
        text = present(issuer, key, now)
        first, _ = _timed_read(vr, reader, "show-qr --text " + text, "qr")
        print(f"  patient 1's QR presentation once: {first.status}")
        ok = ok and first.verified
        ok = _refused("the same QR presentation again", lambda: _timed_read(vr, reader, "show-qr --text " + text, "qr"),
                      "replayed") and ok
        stale = present(issuer, key, now - 120)
        ok = _refused("a screenshot of it two minutes old", lambda: _timed_read(vr, reader, "show-qr --text " + stale, "qr"),
                      "qr_expired") and ok
    return ok
