"""`vitale-sim demo`: the README's main job — a reader reads phones, with no hardware.

What it runs today (the virtual reader on a pty comes with the host-link app):
1. a fresh test authority issues three synthetic patients (0, 1, 2) and
   revokes patient 2;
2. the firmware's PN532 driver reads patient 0's phone over ISO 18013-5
   through the PN532 chip emulator (modelled UART and 106 kbps air time);
3. patient 1's phone shows its signed QR; the camera emulator renders a tilted,
   glared VGA frame and the firmware's QR decoder reads it;
4. the firmware verifies both on "the device" (issuer chain, digests, phone
   binding, freshness, revocation) and the host reference verifier agrees;
5. refusals: patient 2 is revoked, and the same QR shown twice is a replay.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import serialization

from vitale_host.models import DOC_TYPE
from vitale_host.verify import Refused, TrustStore, verify_vqr
from vitale_tools.authority import Authority, der, load_private_key, present
from vitale_tools.camera_sim import Params, render_frame
from vitale_tools.pn532_sim import PN532Emulator, SimClock, SimUart
from vitale_tools.sim_world import make_world
from vitale_tools.wallet import card_target

from vitale.cred import mdoc as fw_mdoc  # type: ignore[import-not-found,unused-ignore]
from vitale.cred import trust as fw_trust  # type: ignore[import-not-found,unused-ignore]
from vitale.cred import vqr as fw_vqr  # type: ignore[import-not-found,unused-ignore]
from vitale.cred.policy import Policy  # type: ignore[import-not-found,unused-ignore]
from vitale.cred.result import Refusal  # type: ignore[import-not-found,unused-ignore]
from vitale.nfc import mdoc_nfc  # type: ignore[import-not-found,unused-ignore]
from vitale.nfc.pn532 import PN532  # type: ignore[import-not-found,unused-ignore]
from vitale import vision  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
from vitale.vision import qr  # type: ignore[import-not-found,unused-ignore]

SHOWN = ("family_name", "given_names", "birth_date", "nir", "regime", "caisse", "centre", "quality")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim demo`."""
    parser.add_argument("--keep", metavar="DIR", help="keep the authority and credentials in DIR")


def _print_card(title: str, card: Any, timings: list[tuple[str, float]]) -> None:
    print(f"\n  {title}: ACCEPTED ({card.channel}, device auth: {card.device_auth}, issuer: {card.issuer})")
    f = card.fields
    for k in SHOWN:
        if k in f:
            print(f"    {k:<14} {f[k]}")
    rights = f.get("amo_rights")
    if rights:
        print(f"    {'amo_rights':<14} {rights}")
    for label, ms in timings:
        print(f"    {label:<34} {ms:8.1f} ms")


def _nfc_read(auth: Authority, patient: str) -> tuple[bytes, bytes, bytes, float, float]:
    """Tap patient's phone on the emulated PN532; returns response, transcript, eReader key, wire s, compute s."""
    phone = card_target(patient, str(auth.path))
    clock = SimClock()
    chip = PN532Emulator(clock, phone)
    pn = PN532(uart=SimUart(chip, clock), clock=clock)
    reader_key = auth.keys["reader"].private_numbers().private_value.to_bytes(32, "big")
    pn.begin()
    if pn.list_passive_target(500) is None:
        raise Refusal("timeout", "no phone in the field")
    c0 = time.process_time()
    m0 = clock.now()
    resp, st, ekey = mdoc_nfc.read_mdoc(lambda apdu: pn.data_exchange(apdu, 3000), reader_key, der(auth.reader_cert),
                                        "billing", DOC_TYPE, clock=clock)
    return resp, st, ekey, clock.now() - m0, time.process_time() - c0


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when every step ends as expected."""
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vitale-demo-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "authority"
        print("Vitale Reader demo — no hardware: the firmware runs against emulated chips and phones\n")
        auth_dir = make_world(folder)
        auth = Authority(auth_dir)
        now = int(time.time())
        meta = __import__("json").loads((auth_dir / "issued" / "2.json").read_text())
        auth.revoke(int(meta["statusIndex"]))
        auth.write_status_list(now - 60)
        print(f"1. test authority in {auth_dir}: IACA, document signer, reader CA; patients 0, 1, 2 issued;"
              f" patient 2 revoked")

        pinned = auth.keys["trust-list"].public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        trust_bytes = (auth_dir / "trust-list.cose").read_bytes()
        status_bytes = (auth_dir / "status-list.cose").read_bytes()
        trust = fw_trust.Trust.load(trust_bytes, pinned, status_bytes)
        host_trust = TrustStore.load_dir(auth_dir)
        policy = Policy()
        ok = True

        # 2. NFC
        print("2. patient 0 taps the phone on the reader (ISO 18013-5 over the emulated PN532)")
        resp, st, ekey, wire_s, read_cpu = _nfc_read(auth, "0")
        c0 = time.perf_counter()
        card = fw_mdoc.verify(resp, st, trust, policy, now, e_reader_key=ekey)
        verify_ms = (time.perf_counter() - c0) * 1000
        _print_card("patient 0 by NFC", card, [("modelled wire time (UART + air, 115200 Bd)", wire_s * 1000),
                                                 ("firmware NFC compute (CPython)", read_cpu * 1000),
                                                 ("firmware verification (CPython)", verify_ms)])

        # 3. QR
        print("\n3. patient 1 shows the signed QR on an iPhone; the camera sees it tilted, with glare")
        issued = auth_dir / "issued"
        text = present((issued / "1.vqr-issuer.cbor").read_bytes(), load_private_key(issued / "1.device-key.pem"), now)
        img, symbol = render_frame(text, Params(tilt_x=18, roll=9, glare=0.35, glare_x=0.3, noise=3.0),
                                   np.random.default_rng(7))
        c0 = time.perf_counter()
        found = qr.decode(img.tobytes(), img.shape[1], img.shape[0])
        decode_ms = (time.perf_counter() - c0) * 1000
        if not found or found[0].decode() != text:
            print("  QR not decoded from the frame: FAILED")
            return 1
        c0 = time.perf_counter()
        card = fw_vqr.verify(found[0].decode(), trust, policy, now, replay=fw_vqr.ReplayCache())
        verify_ms = (time.perf_counter() - c0) * 1000
        _print_card(f"patient 1 by QR ({symbol}, {len(text)} chars)", card,
                    [("QR decode of a VGA frame (CPython)", decode_ms), ("firmware verification (CPython)", verify_ms)])
        host = verify_vqr(text, host_trust, now)
        agree = host.card is not None and host.card.to_dict() == card.fields
        print(f"    host reference verifier (cryptography + cbor2) gives the same card: {'yes' if agree else 'NO'}")
        ok = ok and agree

        # 4. refusals
        print("\n4. refusals")
        try:
            resp, st, ekey, _, _ = _nfc_read(auth, "2")
            fw_mdoc.verify(resp, st, trust, policy, now, e_reader_key=ekey)
            print("  patient 2: ACCEPTED — expected revoked: FAILED")
            ok = False
        except Refusal as e:
            print(f"  patient 2 by NFC: refused {e.code} — {e.message}")
            ok = ok and e.code == "revoked"
        cache = fw_vqr.ReplayCache()
        fw_vqr.verify(text, trust, policy, now, replay=cache)
        try:
            fw_vqr.verify(text, trust, policy, now + 2, replay=cache)
            ok = False
        except Refusal as e:
            print(f"  the same QR shown again: refused {e.code} — {e.message}")
            ok = ok and e.code == "replayed"
        try:
            fw_vqr.verify(text, trust, policy, now + 120, replay=fw_vqr.ReplayCache())
            ok = False
        except Refusal as e:
            print(f"  a screenshot of it two minutes later: refused {e.code} — {e.message}")
            ok = ok and e.code == "qr_expired"
        try:
            verify_vqr(text, host_trust, now + 120)
            ok = False
        except Refused as e:
            ok = ok and e.refusal.code == "qr_expired"
    print(f"\ndemo {'finished' if ok else 'FAILED'} in {time.perf_counter() - t_start:.1f} s"
          " (`make bench` for the crypto benchmark; `vitale-sim bench nfc|qr|cred` for the others)")
    return 0 if ok else 1
