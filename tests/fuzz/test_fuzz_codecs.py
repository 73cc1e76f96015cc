"""Fuzzing the firmware parsers: random and mutated inputs may only raise the module's own error.

cbor.loads (all option sets) / Decoder / split_*; base45.decode; der.parse and every typed
accessor over the whole tree; cose.Sign1/Mac0 parse + verify; cose.key_from_cose.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from vitale.codec import base45, cbor, der
from vitale.crypto import cose, p256

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "iso18013-5"
PRIV = bytes.fromhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
PUB = p256.public_key(PRIV)
MAC_KEY = b"\x42" * 32

_OPTION_SETS: list[dict[str, Any]] = [
    {},
    {"strict": True},
    {"canonical": True},
    {"allow_duplicate_keys": True, "max_depth": 4, "max_items": 50},
]


def _hex(rel: str) -> bytes:
    return bytes.fromhex("".join((VECTORS / rel).read_text().split()))


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to four byte-level mutations: flip, set, insert, delete, truncate, duplicate a span."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if not b:
            b.append(rng.randrange(256))
            continue
        i = rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice((0x00, 0x17, 0x18, 0x1F, 0x5F, 0x7F, 0x9F, 0xBF, 0xFF, 0x80, 0x81, 0x84))
        elif op == 2:
            b.insert(i, rng.randrange(256))
        elif op == 3:
            del b[i]
        elif op == 4:
            del b[i:]
        elif op == 5:
            j = rng.randrange(i, min(len(b), i + 16) + 1)
            b[i:i] = b[i:j]
        else:
            b[i] = rng.randrange(256)
    return bytes(b)


def _walk_cbor(x: Any, depth: int = 0) -> None:
    """Touch every lazily decoded part (tag-24 contents)."""
    if depth > 40:
        return
    if isinstance(x, cbor.Embedded):
        try:
            _walk_cbor(x.value, depth + 1)
        except cbor.CborError:
            pass
    elif isinstance(x, list):
        for v in x:
            _walk_cbor(v, depth + 1)
    elif isinstance(x, dict):
        for v in x.values():
            _walk_cbor(v, depth + 1)
    elif isinstance(x, cbor.Tag):
        _walk_cbor(x.value, depth + 1)


def cbor_target(data: bytes) -> None:
    for opts in _OPTION_SETS:
        try:
            _walk_cbor(cbor.loads(data, **opts))
        except cbor.CborError:
            pass
    for split in (cbor.split_array, cbor.split_map):
        try:
            for part in split(data):
                cbor.loads(part[1] if isinstance(part, tuple) else part)
        except cbor.CborError:
            pass


_ACCESSORS = ("as_int", "as_bool", "as_null", "as_oid", "as_bitstring", "as_bits", "as_octets",
              "as_time", "as_str")


def _walk_der(el: der.Element, depth: int = 0) -> None:
    for name in _ACCESSORS:
        try:
            getattr(el, name)()
        except der.DerError:
            pass
    assert el.raw == bytes(el.buf[el.start:el.end])
    if el.constructed and depth < 30:
        try:
            children = el.children()
        except der.DerError:
            return
        for c in children:
            _walk_der(c, depth + 1)
        try:
            el.explicit(el.number)
        except der.DerError:
            pass


def der_target(data: bytes) -> None:
    try:
        _walk_der(der.parse(data))
    except der.DerError:
        pass
    try:
        el, _ = der.read(data)
        _walk_der(el)
    except der.DerError:
        pass


def cose_target(data: bytes) -> None:
    try:
        s = cose.Sign1.parse(data)
        _ = (s.alg, s.kid, s.x5chain, s.encode())
        s.verify(PUB, detached_payload=b"d" if s.payload is None else None)
    except cose.CoseError:
        pass
    try:
        m = cose.Mac0.parse(data)
        _ = (m.alg, m.kid, m.x5chain, m.encode())
        m.verify(MAC_KEY, detached_payload=b"d" if m.payload is None else None)
    except cose.CoseError:
        pass
    try:
        cose.key_from_cose(data)
    except cose.CoseError:
        pass


def base45_target(data: bytes) -> None:
    for text in (data, data.decode("latin-1")):
        try:
            out = base45.decode(text)
        except base45.Base45Error:
            continue
        assert base45.encode(out) == (text if isinstance(text, str) else text.decode())


def _corpus_cbor() -> list[bytes]:
    resp = _hex("annex-d/device_response.hex")
    doc = cbor.loads(resp)["documents"][0]
    items = [it.tagged for it in doc["issuerSigned"]["nameSpaces"]["org.iso.18013.5.1"]][:3]
    return [
        _hex("annex-d/device_engagement_qr.hex"),
        _hex("annex-d/items_request.hex"),
        _hex("annex-d/session_transcript_bytes.hex"),
        _hex("annex-d/reader_auth.hex")[:200],
        bytes.fromhex("9f018202039f0405ffff"),
        bytes.fromhex("bf6346756ef563416d7421ff"),
        bytes.fromhex("5f42010243030405ff"),
        bytes.fromhex("c249010000000000000000"),
        bytes.fromhex("82fb3ff199999999999af97e00"),
    ] + items


def _corpus_cose() -> list[bytes]:
    return [
        cose.Sign1.create(PRIV, b"payload", kid=b"k", x5chain=[b"c1", b"c2"]).encode(),
        cose.Sign1.create(PRIV, b"d", detached=True, tagged=True).encode(),
        cose.Mac0.create(MAC_KEY, b"payload", kid=b"m").encode(),
        cose.Mac0.create(MAC_KEY, b"d", detached=True, tagged=True).encode(),
        cbor.dumps(cose.key_to_cose(PUB, kid=b"k", alg=-7)),
    ]


def _corpus_der() -> list[bytes]:
    return [_hex("annex-d/ds_cert.der.hex"), _hex("annex-d/reader_cert.der.hex")]


def _run_mutations(target: Callable[[bytes], None], corpus: list[bytes], n: int, seed: int) -> int:
    rng = random.Random(seed)
    for i in range(n):
        target(mutate(rng, corpus[i % len(corpus)]))
    return n


def test_cbor_mutations() -> None:
    assert _run_mutations(cbor_target, _corpus_cbor(), 6000, 1) == 6000


def test_cbor_truncations_of_a_device_response() -> None:
    resp = _hex("annex-d/device_response.hex")
    for end in range(0, len(resp), 7):
        try:
            cbor.loads(resp[:end])
        except cbor.CborError as e:
            assert e.reason in ("truncated", "length_exceeds_input"), e.reason
        else:
            raise AssertionError("a strict prefix decoded")


def test_cbor_resource_limits() -> None:
    nested = b"\x00"
    for _ in range(200):  # tag 24 inside tag 24 ...: each level decodes lazily
        nested = b"\xd8\x18" + cbor.head(2, len(nested)) + nested
    e = cbor.loads(nested)
    for _ in range(200):
        e = e.value
    assert e == 0
    for data, reason in (
        (b"\x81" * 100000 + b"\x00", "too_deep"),
        (b"\x9f" * 100000, "too_deep"),
        (nested, None),
        (b"\xc6" * 100000, "too_deep"),
        (b"\x9b" + b"\xff" * 8, "length_exceeds_input"),
        (b"\x5b" + b"\x7f" + b"\xff" * 7, "length_exceeds_input"),
        (b"\x9f" + b"\x00" * 200000 + b"\xff", "too_many_items"),
    ):
        try:
            cbor.loads(data)
        except cbor.CborError as e:
            assert reason is not None and e.reason == reason, (e.reason, reason)
        else:
            assert reason is None


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=120))
def test_cbor_random_bytes(data: bytes) -> None:
    cbor_target(data)


def test_der_mutations() -> None:
    assert _run_mutations(der_target, _corpus_der(), 2500, 2) == 2500


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=80))
def test_der_random_bytes(data: bytes) -> None:
    der_target(data)


def test_cose_mutations() -> None:
    assert _run_mutations(cose_target, _corpus_cose(), 3000, 3) == 3000


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=120))
def test_cose_random_bytes(data: bytes) -> None:
    cose_target(data)


_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.text(alphabet=_B45 + "a=\n\u00e9", max_size=40).map(lambda s: s.encode("utf-8")),
                 st.binary(max_size=40)))
def test_base45_random(data: bytes) -> None:
    base45_target(data)
