"""Fuzzing the NDEF, CC, handover, DeviceEngagement and DO'53' parsers and the whole NFC read.

Property: bad input only raises the module's own error (NdefError,
EngagementError, MdocNfcError; read_mdoc only Refusal with a known code),
and valid structures round-trip.
"""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitale.cred.result import REFUSALS, Refusal
from vitale.nfc import engagement, mdoc_nfc, ndef

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "iso18013-5"
FAST = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MEDIUM = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HS_MESSAGES = [
    bytes.fromhex((VECTORS / p).read_text().strip())
    for p in ("annex-d/derived_handover_select_ndef.hex", "synthetic-vitale-nfc-session/handover_select_ndef.hex")
]
OWN = (ndef.NdefError, engagement.EngagementError)


def mutate(data: bytes, rnd: random.Random, n: int) -> bytes:
    b = bytearray(data)
    for _ in range(n):
        op = rnd.randrange(4)
        i = rnd.randrange(len(b) + 1)
        if op == 0 and b:
            b[i % len(b)] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            b[i % len(b)] = rnd.randrange(256)
        elif op == 2:
            b.insert(i, rnd.randrange(256))
        elif b:
            del b[i % len(b)]
    return bytes(b)


@FAST
@given(st.binary(max_size=300))
def test_ndef_parsers_on_noise(data: bytes) -> None:
    for f in (ndef.parse_message, ndef.parse_cc, ndef.parse_handover_select, ndef.parse_nfc_carrier,
              engagement.parse_engagement, engagement.parse_device_engagement):
        try:
            f(data)
        except OWN:
            pass


@FAST
@given(st.integers(0, 1), st.randoms(use_true_random=False), st.integers(1, 6))
def test_mutated_handover_select(which: int, rnd: random.Random, n: int) -> None:
    data = mutate(HS_MESSAGES[which], rnd, n)
    try:
        eng = engagement.parse_engagement(data)
    except OWN:
        return
    assert len(eng.device_engagement.e_device_key) == 65


record = st.tuples(st.sampled_from([1, 2, 4]), st.binary(max_size=40), st.binary(max_size=300),
                   st.binary(max_size=10))


@MEDIUM
@given(st.lists(record, min_size=1, max_size=6))
def test_records_round_trip(recs: list[tuple[int, bytes, bytes, bytes]]) -> None:
    msg = b"".join(ndef.build_record(tnf, t, p, rid, i == 0, i == len(recs) - 1)
                   for i, (tnf, t, p, rid) in enumerate(recs))
    got = ndef.parse_message(msg)
    assert [(r.tnf, r.type, r.payload, r.id) for r in got] == recs


@FAST
@given(st.binary(max_size=300))
def test_do53_and_response_refusal(data: bytes) -> None:
    try:
        mdoc_nfc.un_do53(data)
    except mdoc_nfc.MdocNfcError as e:
        assert e.code == "mdoc_error"
    assert mdoc_nfc.response_refusal(data, "x") in (None, "mdoc_error", "consent_denied", "reader_not_trusted")
    assert mdoc_nfc.un_do53(mdoc_nfc.do53(data)) == data


class Clock:
    def __init__(self) -> None:
        self.t = 0

    def ticks_ms(self) -> int:
        return self.t

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b

    def sleep_ms(self, ms: int) -> None:
        self.t += ms


@MEDIUM
@given(st.lists(st.binary(max_size=280), min_size=1, max_size=30))
def test_read_against_a_random_phone(answers: list[bytes]) -> None:
    """Whatever the phone answers (random bytes, then silence), the read ends in a Refusal."""
    it = iter(answers)
    clock = Clock()

    def tx(apdu: bytes) -> bytes:
        clock.t += 5
        assert len(apdu) <= 261
        return next(it, b"\x6f\x00")

    try:
        mdoc_nfc.read_mdoc(tx, None, None, "billing", clock=clock, e_reader_key=b"\x01" * 32, timeout_ms=5000)
    except Refusal as e:
        assert e.code in REFUSALS and e.code != "internal", e


@MEDIUM
@given(st.integers(0, 1), st.randoms(use_true_random=False), st.integers(1, 4), st.integers(0, 2))
def test_read_with_a_mutated_engagement(which: int, rnd: random.Random, n: int, split: int) -> None:
    """A Type 4 Tag serving a damaged Handover Select: a Refusal, never another exception."""
    hs = mutate(HS_MESSAGES[which], rnd, n)
    files = {b"\xe1\x03": bytes.fromhex("000f2000ff00ff0406e104100000ff"),
             b"\xe1\x04": len(hs).to_bytes(2, "big") + hs}
    cur = [b""]

    def tx(apdu: bytes) -> bytes:
        if apdu[1] == 0xA4:
            cur[0] = apdu[5:7] if apdu[2] == 0 else b""
            return b"\x90\x00"
        if apdu[1] == 0xB0:
            off = apdu[2] << 8 | apdu[3]
            body = files.get(cur[0], b"")
            return body[off:off + max(1, apdu[4] >> split)] + b"\x90\x00"
        return b"\x6a\x80"

    try:
        mdoc_nfc.read_mdoc(tx, None, None, ["nir"], clock=Clock(), e_reader_key=b"\x02" * 32)
    except Refusal as e:
        assert e.code in ("nfc_error", "mdoc_error"), e
