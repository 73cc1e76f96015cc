"""COSE interop: vitale.crypto.cose against pycose and against `cryptography` + cbor2."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from pycose.algorithms import Es256, HMAC256
from pycose.headers import KID, Algorithm
from pycose.keys import EC2Key, SymmetricKey
from pycose.keys.curves import P256
from pycose.messages import CoseMessage, Mac0Message, Sign1Message

from vitale.crypto import cose

PRIV = bytes.fromhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
_KEY = ec.derive_private_key(int.from_bytes(PRIV, "big"), ec.SECP256R1())
_NUMS = _KEY.public_key().public_numbers()
X = _NUMS.x.to_bytes(32, "big")
Y = _NUMS.y.to_bytes(32, "big")
PUB = b"\x04" + X + Y
MAC_KEY = bytes(range(32))


def _pycose_key(private: bool = True) -> EC2Key:
    return EC2Key(crv=P256, x=X, y=Y, d=PRIV if private else b"")


def _pycose_decode(enc: bytes, cls: type[Sign1Message] | type[Mac0Message]) -> CoseMessage:
    """pycose's own decode() fails with cbor2 6 (tuples and frozendicts): go through from_cose_obj."""
    obj = cbor2.loads(enc)
    assert isinstance(obj, cbor2.CBORTag) and obj.tag == cls.cbor_tag
    v = obj.value
    return cls.from_cose_obj([v[0], dict(v[1]), v[2], v[3]], True)


payloads = st.binary(max_size=200)
aads = st.binary(max_size=40)


@settings(max_examples=25, deadline=None)
@given(payloads, aads, st.booleans())
def test_our_sign1_verifies_in_pycose(payload: bytes, aad: bytes, detached: bool) -> None:
    msg = cose.Sign1.create(PRIV, payload, kid=b"kid", external_aad=aad, detached=detached, tagged=True)
    decoded = _pycose_decode(msg.encode(), Sign1Message)
    decoded.key = _pycose_key(private=False)
    decoded.external_aad = aad
    assert decoded.phdr[Algorithm] is Es256 and decoded.uhdr[KID] == b"kid"
    if detached:
        assert decoded.verify_signature(detached_payload=payload)
    else:
        assert decoded.payload == payload and decoded.verify_signature()


@settings(max_examples=25, deadline=None)
@given(payloads, aads, st.booleans())
def test_pycose_sign1_verifies_here(payload: bytes, aad: bytes, detached: bool) -> None:
    m = Sign1Message(phdr={Algorithm: Es256}, uhdr={KID: b"k"}, payload=None if detached else payload,
                     external_aad=aad)
    m.key = _pycose_key()
    enc = m.encode(detached_payload=payload) if detached else m.encode()
    ours = cose.Sign1.parse(enc)
    assert ours.tagged and ours.kid == b"k"
    if detached:
        assert ours.payload is None
        ours.verify(PUB, external_aad=aad, detached_payload=payload)
    else:
        ours.verify(PUB, external_aad=aad)
    with pytest.raises(cose.CoseError) as e:
        ours.verify(PUB, external_aad=aad + b"!", detached_payload=payload if detached else None)
    assert e.value.code == "bad_signature"


def _sig_structure(protected: bytes, aad: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, aad, payload])


def test_cryptography_made_signature_verifies_here() -> None:
    protected = cbor2.dumps({1: -7})
    der = _KEY.sign(_sig_structure(protected, b"aad", b"body"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    msg = cose.Sign1.parse(cbor2.dumps([protected, {}, b"body", raw]))
    msg.verify(PUB, external_aad=b"aad")
    # a high-S twin is also a valid ECDSA signature
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    twin = r.to_bytes(32, "big") + (n - s).to_bytes(32, "big")
    cose.Sign1.parse(cbor2.dumps([protected, {}, b"body", twin])).verify(PUB, external_aad=b"aad")


def test_our_signature_verifies_in_cryptography() -> None:
    msg = cose.Sign1.create(PRIV, b"body", external_aad=b"x")
    tbs = _sig_structure(msg.protected_raw, b"x", b"body")
    assert msg.to_be_signed(b"x") == tbs
    sig = msg.signature
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    _KEY.public_key().verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        _KEY.public_key().verify(der, tbs + b"\x00", ec.ECDSA(hashes.SHA256()))


@settings(max_examples=25, deadline=None)
@given(payloads, aads)
def test_mac0_both_ways(payload: bytes, aad: bytes) -> None:
    ours = cose.Mac0.create(MAC_KEY, payload, external_aad=aad, tagged=True)
    theirs = _pycose_decode(ours.encode(), Mac0Message)
    theirs.key = SymmetricKey(k=MAC_KEY)
    theirs.external_aad = aad
    assert theirs.verify_tag()
    m = Mac0Message(phdr={Algorithm: HMAC256}, payload=payload, external_aad=aad)
    m.key = SymmetricKey(k=MAC_KEY)
    back = cose.Mac0.parse(m.encode())
    back.verify(MAC_KEY, external_aad=aad)
    assert back.tag == ours.tag


def test_pycose_message_with_other_alg_is_refused() -> None:
    from pycose.algorithms import Es384

    key384 = ec.generate_private_key(ec.SECP384R1())
    nums = key384.private_numbers()
    k = EC2Key(
        crv="P_384",
        x=nums.public_numbers.x.to_bytes(48, "big"),
        y=nums.public_numbers.y.to_bytes(48, "big"),
        d=nums.private_value.to_bytes(48, "big"),
    )
    m = Sign1Message(phdr={Algorithm: Es384}, payload=b"p")
    m.key = k
    ours = cose.Sign1.parse(m.encode())
    with pytest.raises(cose.CoseError) as e:
        ours.verify(PUB)
    assert e.value.code == "unsupported_alg"


def test_cose_key_matches_pycose() -> None:
    ours = cose.key_to_cose(PUB)
    theirs = EC2Key(crv=P256, x=X, y=Y).encode()
    assert cbor2.loads(theirs) == ours
    assert cose.key_from_cose(theirs) == PUB
