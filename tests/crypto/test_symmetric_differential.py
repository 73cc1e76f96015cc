"""Firmware AES-GCM / HKDF / HMAC against `cryptography` on random inputs."""

from __future__ import annotations

import hashlib
import hmac as std_hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from vitale.crypto import CryptoError, aesgcm
from vitale.crypto.hkdf import hkdf_sha256
from vitale.crypto.hmac import HMAC, compare_digest, hmac_sha256

keys = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
ivs96 = st.binary(min_size=12, max_size=12)
# `cryptography` accepts GCM IVs of 8..128 bytes; 12 is the common case
ivs = st.one_of(ivs96, st.binary(min_size=8, max_size=128))
messages = st.one_of(st.binary(max_size=80), st.binary(min_size=1000, max_size=2200))


def _reference(key: bytes, iv: bytes, pt: bytes, aad: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(pt) + enc.finalize()
    return ct + enc.tag


@settings(max_examples=150, deadline=None)
@given(key=keys, iv=ivs, pt=messages, aad=st.binary(max_size=70))
def test_aesgcm_matches_cryptography(key: bytes, iv: bytes, pt: bytes, aad: bytes) -> None:
    want = _reference(key, iv, pt, aad)
    assert aesgcm.encrypt(key, iv, pt, aad) == want
    assert aesgcm.decrypt(key, iv, want, aad) == pt
    g = aesgcm.AESGCM(key)
    assert g.encrypt(iv, pt, aad) == want
    assert g.decrypt(iv, want, aad) == pt


@settings(max_examples=150, deadline=None)
@given(
    key=keys,
    iv=ivs96,
    pt=st.binary(max_size=300),
    aad=st.binary(max_size=40),
    where=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
    part=st.sampled_from(["data", "aad", "iv", "truncate"]),
)
def test_aesgcm_tampering_refused(
    key: bytes, iv: bytes, pt: bytes, aad: bytes, where: int, bit: int, part: str
) -> None:
    data = bytearray(_reference(key, iv, pt, aad))
    aad2 = bytearray(aad)
    iv2 = bytearray(iv)
    if part == "data":
        data[where % len(data)] ^= 1 << bit
    elif part == "aad":
        if aad2:
            aad2[where % len(aad2)] ^= 1 << bit
        else:
            aad2 = bytearray(b"\x00")
    elif part == "iv":
        iv2[where % 12] ^= 1 << bit
    else:
        data = data[: where % len(data)]
    with pytest.raises(CryptoError):
        aesgcm.decrypt(key, bytes(iv2), bytes(data), bytes(aad2))


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200), key=st.binary(max_size=40), iv=st.binary(max_size=20))
def test_aesgcm_garbage_only_raises_crypto_error(data: bytes, key: bytes, iv: bytes) -> None:
    try:
        aesgcm.decrypt(key, iv, data, b"")
    except CryptoError:
        pass
    else:  # a random input cannot carry a valid tag
        raise AssertionError("garbage accepted")


@settings(max_examples=150, deadline=None)
@given(
    ikm=st.binary(max_size=100),
    salt=st.one_of(st.none(), st.binary(max_size=100)),
    info=st.binary(max_size=100),
    length=st.integers(min_value=1, max_value=600),
)
def test_hkdf_matches_cryptography(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> None:
    want = HKDF(hashes.SHA256(), length, salt or None, info).derive(ikm)
    assert hkdf_sha256(ikm, salt, info, length) == want


@settings(max_examples=150, deadline=None)
@given(key=st.binary(max_size=200), msg=st.binary(max_size=300))
def test_hmac_matches_stdlib(key: bytes, msg: bytes) -> None:
    want = std_hmac.new(key, msg, hashlib.sha256).digest()
    assert hmac_sha256(key, msg) == want
    assert HMAC(key).digest(msg[:7], msg[7:]) == want
    assert compare_digest(hmac_sha256(key, msg), want)
    if want:
        assert not compare_digest(hmac_sha256(key, msg + b"x"), want)
