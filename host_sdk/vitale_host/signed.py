"""Check device-signed results (docs/host-protocol.md, "Device-signed results").

Independent of the firmware code: `cryptography` for ES256, `cbor2` for CBOR.

    result, counter = verify_signed_event(event, pinned_public_key, expected_nonce, last_counter)

Only the signed copy of the result is trusted; the plain `result` of the event must be
identical to it. Every refusal raises ForgedResult (code ``forged_result``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .errors import ForgedResult

ALG_ES256 = -7
_HDR_ALG = 1
_HDR_CRIT = 2
_HDR_KID = 4
_TAG_SIGN1 = 18
_PAYLOAD_KEYS = frozenset(("result", "nonce", "counter", "reader"))

__all__ = ["ALG_ES256", "reader_kid", "verify_signed_event"]


def _forged(message: str) -> ForgedResult:
    return ForgedResult("forged_result", message)


def reader_kid(public_key: bytes) -> bytes:
    """Key id of a reader public key: first 8 bytes of SHA-256 of the 65-byte SEC1 point."""
    return hashlib.sha256(public_key).digest()[:8]


def _load_key(public_key: bytes) -> ec.EllipticCurvePublicKey:
    if not isinstance(public_key, bytes) or len(public_key) != 65 or public_key[0] != 4:
        raise ValueError("pinned reader key must be a 65-byte uncompressed P-256 point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)


def _same(a: Any, b: Any) -> bool:
    """JSON-value equality that does not let True stand for 1 (Python's == does)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and bool(a == b)


def _decode_sign1(text: Any) -> list[Any]:
    if not isinstance(text, str):
        raise _forged("no device signature (cose field)")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        obj = cbor2.loads(raw)
    except (cbor2.CBORError, ValueError, binascii.Error, UnicodeError, TypeError, OverflowError, RecursionError):
        raise _forged("device signature is not base64 CBOR") from None
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != _TAG_SIGN1:
            raise _forged("not a COSE_Sign1 (tag %d)" % obj.tag)
        obj = obj.value
    # cbor2 decodes the content of a tag as immutable values (tuple, frozendict)
    if not isinstance(obj, (list, tuple)) or len(obj) != 4:
        raise _forged("not a COSE_Sign1 array")
    prot, unprot, payload, sig = obj
    if not (isinstance(prot, bytes) and isinstance(unprot, Mapping) and isinstance(payload, bytes)
            and isinstance(sig, bytes)):
        raise _forged("malformed COSE_Sign1")
    return [prot, unprot, payload, sig]


def _protected(prot: bytes, unprot: Mapping[Any, Any]) -> dict[Any, Any]:
    try:
        ph = cbor2.loads(prot)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError):
        raise _forged("protected header is not CBOR") from None
    if not isinstance(ph, dict):
        raise _forged("protected header is not a map")
    alg = ph.get(_HDR_ALG)
    if _HDR_ALG in unprot or isinstance(alg, bool) or alg != ALG_ES256:
        raise _forged("algorithm is not ES256 in the protected header")
    if _HDR_CRIT in ph or _HDR_CRIT in unprot:
        raise _forged("critical headers are not accepted")
    return ph


def _check_signature(key: ec.EllipticCurvePublicKey, prot: bytes, payload: bytes, sig: bytes) -> None:
    if len(sig) != 64:
        raise _forged("ES256 signature is not 64 bytes")
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _forged("signature does not verify with the pinned reader key") from None


def verify_signed_event(event: dict[str, Any], pinned_public_key: bytes, expected_nonce: bytes,
                        last_counter: int) -> tuple[dict[str, Any], int]:
    """(signed result, its counter) of a device-signed event; raises ForgedResult otherwise.

    `pinned_public_key` is the reader's 65-byte SEC1 key pinned at provisioning,
    `expected_nonce` the nonce this host gave the session, `last_counter` the counter of
    the last result accepted in this session (0 before the first). A bad pinned key is
    the caller's error (ValueError), not a forgery.
    """
    key = _load_key(pinned_public_key)
    kid = reader_kid(pinned_public_key)
    if not isinstance(event, dict):
        raise _forged("event is not an object")
    prot, unprot, payload, sig = _decode_sign1(event.get("cose"))
    ph = _protected(prot, unprot)
    if ph.get(_HDR_KID) != kid:
        raise _forged("signed by another reader (kid does not match the pinned key)")
    _check_signature(key, prot, payload, sig)
    try:
        p = cbor2.loads(payload)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError):
        raise _forged("signed payload is not CBOR") from None
    if not isinstance(p, dict) or set(p) != _PAYLOAD_KEYS:
        raise _forged("signed payload is not a result map")
    if p["reader"] != kid:
        raise _forged("signed payload names another reader")
    nonce = p["nonce"]
    if not isinstance(nonce, bytes) or not hmac.compare_digest(nonce, expected_nonce):
        raise _forged("nonce is not this session's (replayed from another session)")
    counter = p["counter"]
    if not isinstance(counter, int) or isinstance(counter, bool) or counter <= last_counter:
        raise _forged("counter did not increase (result replayed within the session)")
    result = p["result"]
    if not isinstance(result, dict):
        raise _forged("signed result is not a map")
    if "result" in event and not _same(event["result"], result):
        raise _forged("plain result differs from the signed one")
    return result, counter
