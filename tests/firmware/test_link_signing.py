"""Device-signed results: the reader key is made once and kept; results are COSE_Sign1 over result+nonce+counter."""

import binascii
import hashlib

from test_store import MemFs
from vitale.codec import cbor
from vitale.crypto import cose, p256
from vitale.link.signing import KEY_FILE, ReaderKey, SignedSession, SigningError, kid_of
from vitale.store import Store

_NONCE = b"\x11" * 16
_RESULT = {"fields": {"nir": "1840512345678", "amo_rights": [{"start": "2025-01-01", "end": "2026-12-31"}]},
           "channel": "nfc", "status_index": None, "signed": 1750000000, "ok": True}


def _key(fs=None):
    fs = fs if fs is not None else MemFs()
    return ReaderKey(Store("/data", fs)), fs


def _decode(fields):
    return cose.Sign1.parse(binascii.a2b_base64(fields["cose"].encode()))


def test_key_generated_once_then_reloaded():
    rk, fs = _key()
    pub = rk.public_key()
    assert len(pub) == 65 and pub[0] == 4
    assert "/data/" + KEY_FILE in fs.files
    again = ReaderKey(Store("/data", fs))
    assert again.public_key() == pub
    assert again.kid == kid_of(pub) == hashlib.sha256(pub).digest()[:8]
    other, _ = _key()
    assert other.public_key() != pub


def test_corrupt_stored_key_is_refused():
    fs = MemFs()
    Store("/data", fs).write(KEY_FILE, b"\x00" * 32)  # scalar 0: not a key
    try:
        ReaderKey(Store("/data", fs))
        assert False, "zero key accepted"
    except SigningError:
        pass


def test_signed_result_verifies_and_carries_nonce_counter_kid():
    rk, _ = _key()
    fields = rk.sign_result(_RESULT, _NONCE, 3)
    assert fields["result"] == _RESULT
    assert "\n" not in fields["cose"]
    msg = _decode(fields)
    assert msg.tagged
    assert msg.protected == {1: -7, 4: rk.kid}
    assert msg.verify(rk.public_key())
    p = cbor.loads(msg.payload)
    assert p == {"result": _RESULT, "nonce": _NONCE, "counter": 3, "reader": rk.kid}
    assert msg.payload == cbor.dumps(p)  # deterministic encoding


def test_signature_fails_with_another_key_or_tampered_payload():
    rk, _ = _key()
    other, _ = _key()
    msg = _decode(rk.sign_result(_RESULT, _NONCE, 1))
    for key in (other.public_key(),):
        try:
            msg.verify(key)
            assert False, "verified with another key"
        except cose.CoseError as e:
            assert e.code == "bad_signature"
    p = cbor.loads(msg.payload)
    p["counter"] = 2
    msg.payload = cbor.dumps(p)
    try:
        msg.verify(rk.public_key())
        assert False, "tampered payload verified"
    except cose.CoseError as e:
        assert e.code == "bad_signature"


def test_session_counts_up_from_one():
    rk, _ = _key()
    s = SignedSession(rk, _NONCE)
    c = [cbor.loads(_decode(s.sign({"n": i})).payload)["counter"] for i in range(3)]
    assert c == [1, 2, 3]


def test_bad_inputs_raise_signing_error():
    rk, _ = _key()
    bad = ((["not", "a", "dict"], _NONCE, 1), (_RESULT, b"short", 1), (_RESULT, "text nonce" * 2, 1),
           (_RESULT, b"\x00" * 65, 1), (_RESULT, _NONCE, 0), (_RESULT, _NONCE, -1), (_RESULT, _NONCE, True),
           (_RESULT, _NONCE, "1"), ({"x": object()}, _NONCE, 1))
    for result, nonce, counter in bad:
        try:
            rk.sign_result(result, nonce, counter)
            assert False, "accepted %r" % ((result, nonce, counter),)
        except SigningError:
            pass


def test_signature_matches_p256_directly():
    rk, _ = _key()
    msg = _decode(rk.sign_result({"a": 1}, _NONCE, 1))
    digest = hashlib.sha256(msg.to_be_signed()).digest()
    assert p256.ecdsa_verify_digest(rk.public_key(), digest, msg.signature)
