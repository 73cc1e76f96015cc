"""vitale.crypto.p256 against `cryptography` (OpenSSL) and `ecdsa` (RFC 6979) on random inputs."""

from __future__ import annotations

import hashlib

import ecdsa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from vitale.crypto import CryptoError, p256

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CURVE = ec.SECP256R1()
ES256 = ec.ECDSA(hashes.SHA256())

scalars = st.integers(min_value=1, max_value=N - 1)
messages = st.binary(max_size=300)


def key(d: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(d, CURVE)


def pub_bytes(k: ec.EllipticCurvePrivateKey, compressed: bool = False) -> bytes:
    fmt = PublicFormat.CompressedPoint if compressed else PublicFormat.UncompressedPoint
    return k.public_key().public_bytes(Encoding.X962, fmt)


def raw_to_der(sig: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def crypto_verifies(k: ec.EllipticCurvePrivateKey, msg: bytes, raw: bytes) -> bool:
    try:
        k.public_key().verify(raw_to_der(raw), msg, ES256)
    except InvalidSignature:
        return False
    return True


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[(bit >> 3) % len(b)] ^= 1 << (bit & 7)
    return bytes(b)


@settings(max_examples=300, deadline=None)
@given(scalars, messages, st.integers(min_value=0, max_value=511))
def test_our_signatures_verify_with_cryptography(d: int, msg: bytes, bit: int) -> None:
    k = key(d)
    sig = p256.ecdsa_sign(d.to_bytes(32, "big"), msg)
    assert crypto_verifies(k, msg, sig)
    # RFC 6979: the same deterministic signature as the `ecdsa` package
    sk = ecdsa.SigningKey.from_secret_exponent(d, curve=ecdsa.NIST256p, hashfunc=hashlib.sha256)
    assert sk.sign_deterministic(msg) == sig
    bad = flip(sig, bit)
    assert not crypto_verifies(k, msg, bad)
    assert not p256.ecdsa_verify(pub_bytes(k), msg, bad)


@settings(max_examples=300, deadline=None)
@given(scalars, messages, st.integers(min_value=0, max_value=2047), st.booleans())
def test_cryptography_signatures_verify_with_ours(d: int, msg: bytes, bit: int, compressed: bool) -> None:
    k = key(d)
    pub = pub_bytes(k, compressed)
    der = k.sign(msg, ES256)
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert p256.ecdsa_verify(pub, msg, raw)
    assert p256.ecdsa_verify_der(pub, msg, der)
    assert p256.ecdsa_verify(pub, msg, r.to_bytes(32, "big") + (N - s).to_bytes(32, "big"))
    # a tampered message or signature fails in both
    if msg:
        bad_msg = flip(msg, bit)
        assert not p256.ecdsa_verify(pub, bad_msg, raw)
        assert not crypto_verifies(k, bad_msg, raw)
    bad = flip(raw, bit)
    assert p256.ecdsa_verify(pub, msg, bad) is crypto_verifies(k, msg, bad) is False
    # another key fails
    other = pub_bytes(key(d + 1 if d < N - 1 else 1))
    assert not p256.ecdsa_verify(other, msg, raw)


@settings(max_examples=300, deadline=None)
@given(scalars, scalars, st.booleans())
def test_ecdh_matches_cryptography(a: int, b: int, compressed: bool) -> None:
    ka, kb = key(a), key(b)
    ours = p256.ecdh(a.to_bytes(32, "big"), pub_bytes(kb, compressed))
    assert ours == ka.exchange(ec.ECDH(), kb.public_key())
    assert p256.public_key(a.to_bytes(32, "big")) == pub_bytes(ka)


@settings(max_examples=300, deadline=None)
@given(scalars)
def test_point_decoding_matches_cryptography(d: int) -> None:
    nums = key(d).public_key().public_numbers()
    for compressed in (False, True):
        enc = pub_bytes(key(d), compressed)
        assert p256.decode_point(enc) == (nums.x, nums.y)
        assert p256.encode_point(nums.x, nums.y, compressed) == enc


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(min_size=33, max_size=33), st.binary(min_size=65, max_size=65), st.binary(max_size=70)),
       st.sampled_from([b"\x02", b"\x03", b"\x04", b""]))
def test_random_points_accepted_iff_cryptography_accepts(body: bytes, tag: bytes) -> None:
    data = tag + body[len(tag):] if len(body) in (33, 65) else tag + body
    try:
        theirs = ec.EllipticCurvePublicKey.from_encoded_point(CURVE, data).public_numbers()
    except ValueError:
        theirs = None
    try:
        ours = p256.decode_point(data)
    except CryptoError:
        ours = None
    assert ours == (None if theirs is None else (theirs.x, theirs.y))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=70), st.binary(max_size=8))
def test_verify_never_raises(pub: bytes, sig: bytes, msg: bytes) -> None:
    # random keys and signatures: never valid, never an exception
    assert p256.ecdsa_verify(pub, msg, sig) is False
    assert p256.ecdsa_verify(pub, msg, sig[:64].ljust(64, b"\x01")) is False
    assert p256.ecdsa_verify_der(pub, msg, sig) is False


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1 << 270), st.integers(0, 1 << 270),
       st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=3),
       st.binary(max_size=3))
def test_der_parser_matches_cryptography(r: int, s: int, edits: list[tuple[int, int]], tail: bytes) -> None:
    der = bytearray(encode_dss_signature(r, s))
    for pos, val in edits:
        if pos < len(der):
            der[pos] = val
    data = bytes(der) + tail
    ours = p256.parse_der_signature(data)
    try:
        theirs: tuple[int, int] | None = decode_dss_signature(data)
    except ValueError:
        theirs = None
    assert ours == theirs
