"""HKDF with SHA-256 (RFC 5869)."""

from vitale.crypto import CryptoError
from vitale.crypto.hmac import HMAC, hmac_sha256

_HASH_LEN = 32
_MAX_OUT = 255 * 32
_BYTES = (bytes, bytearray, memoryview)


def _check(name, v):
    if not isinstance(v, _BYTES):
        raise CryptoError("hkdf: " + name + " must be bytes")


def hkdf_extract(salt, ikm):
    """PRK = HMAC-SHA256(salt, ikm); an empty or None salt means 32 zero bytes."""
    _check("ikm", ikm)
    if salt is not None:
        _check("salt", salt)
    if not salt:
        salt = bytes(_HASH_LEN)
    return hmac_sha256(salt, ikm)


def hkdf_expand(prk, info, length):
    """length bytes of output keying material from prk and info."""
    if info is None:
        info = b""
    _check("prk", prk)
    _check("info", info)
    if not isinstance(length, int) or length < 0 or length > _MAX_OUT:
        raise CryptoError("hkdf: output length out of range")
    mac = HMAC(prk)
    out = bytearray()
    t = b""
    i = 1
    while len(out) < length:
        t = mac.digest(t, info, bytes((i,)))
        out.extend(t)
        i += 1
    return bytes(out[:length])


def hkdf_sha256(ikm, salt, info, length):
    """HKDF-SHA256(ikm, salt, info) -> length bytes (length <= 8160)."""
    if not isinstance(length, int) or length < 0 or length > _MAX_OUT:
        raise CryptoError("hkdf: output length out of range")
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)
