"""HMAC-SHA256 (RFC 2104) on hashlib.sha256, and a constant-time compare.

MicroPython has hashlib.sha256 on every port but no `hmac` module, so HMAC
is built here from the hash.
"""

import hashlib

from vitale.crypto import CryptoError

_BLOCK = 64  # SHA-256 block size in bytes
_BYTES = (bytes, bytearray, memoryview)


def _check(v):
    # MicroPython's hashlib would take a str as its UTF-8 bytes; CPython's refuses.
    if not isinstance(v, _BYTES):
        raise CryptoError("hmac: key and message must be bytes")


def sha256(data):
    """SHA-256 digest of data."""
    _check(data)
    return hashlib.sha256(data).digest()


def _pads(key):
    _check(key)
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    n = len(key)
    for i in range(_BLOCK):
        k = key[i] if i < n else 0
        ipad[i] = k ^ 0x36
        opad[i] = k ^ 0x5C
    return ipad, opad


def hmac_sha256(key, msg):
    """HMAC-SHA256 of msg under key (32 bytes)."""
    _check(msg)
    ipad, opad = _pads(key)
    h = hashlib.sha256(ipad)
    h.update(msg)
    inner = h.digest()
    h = hashlib.sha256(opad)
    h.update(inner)
    return h.digest()


class HMAC:
    """Reusable HMAC-SHA256 key: precomputed pads for many messages."""

    def __init__(self, key):
        self._ipad, self._opad = _pads(key)

    def digest(self, *parts):
        """HMAC-SHA256 of the concatenation of parts."""
        h = hashlib.sha256(self._ipad)
        for p in parts:
            _check(p)
            h.update(p)
        inner = h.digest()
        h = hashlib.sha256(self._opad)
        h.update(inner)
        return h.digest()


def compare_digest(a, b):
    """True when a == b; time depends only on the lengths, not the contents."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0
