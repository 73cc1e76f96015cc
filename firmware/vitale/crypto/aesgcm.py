"""AES-GCM (NIST SP 800-38D) with 16-byte tags.

The block cipher is `cryptolib.aes` in ECB mode where the runtime has it
(ESP32 MicroPython), else the pure-Python AES of `_aes`. GHASH uses one
256-entry table of 128-bit ints per key (byte times H, built once in
`AESGCM`). XORs of whole chunks are done as big-int XORs, which the VM
runs in C.

Keys of 16, 24 or 32 bytes; IVs of any non-zero length (12 bytes is the
normal case; other lengths go through GHASH as the standard says).
Note: table lookups are not constant-time; the tag compare is.
"""

import struct

from vitale.compat import import_hot
from vitale.crypto import CryptoError
from vitale.crypto.hmac import compare_digest

_hot = import_hot("vitale.crypto._gcm_hot")
_ghash = _hot.ghash

try:
    import cryptolib as _cryptolib
except ImportError:
    try:
        import ucryptolib as _cryptolib  # type: ignore[no-redef]  # older firmware name
    except ImportError:
        _cryptolib = None  # type: ignore[assignment]  # no hardware AES: plain-code path

TAG_LEN = 16
_CHUNK = 1024  # keystream bytes produced per step: bounds the temporary buffers
_BYTES = (bytes, bytearray, memoryview)
_R = 0xE1 << 120  # x^128 = x^7 + x^2 + x + 1, in GCM's reflected bit order


class CryptolibAES:
    """Forward AES on a MicroPython `cryptolib.aes(key, 1)`-like ECB object."""

    def __init__(self, key, factory):
        self._aes = factory(key, 1)

    def encrypt_block(self, block):
        """Encrypt one 16-byte block."""
        return bytes(self._aes.encrypt(block))

    def ctr(self, prefix, ctr, out, nblocks):
        """Write E(prefix || (ctr + i) mod 2**32) for i < nblocks into out."""
        _hot.fill_counters(out, prefix, ctr, nblocks)
        mv = memoryview(out)[: 16 * nblocks]
        mv[:] = self._aes.encrypt(mv)


def _block_cipher(key):
    if _cryptolib is not None and len(key) != 24:
        try:
            return CryptolibAES(key, _cryptolib.aes)
        except (ValueError, OSError, TypeError):
            pass  # a port that refuses this key size: use the pure cipher
    from vitale.crypto._aes import PureAES

    return PureAES(key)


def _mulx(v):
    return (v >> 1) ^ _R if v & 1 else v >> 1


def _byte_table(v):
    """t[b] = (polynomial of byte b, reflected, at x^0..x^7) * v."""
    t = [0] * 256
    b = 0x80
    while b:
        t[b] = v
        v = _mulx(v)
        b >>= 1
    p = 2
    while p < 256:
        tp = t[p]
        for j in range(1, p):
            t[p + j] = tp ^ t[j]
        p <<= 1
    return t


def _check_bytes(name, v):
    if not isinstance(v, _BYTES):
        raise CryptoError("aes-gcm: " + name + " must be bytes")


class AESGCM:
    """AES-GCM under one key; the key schedule and GHASH table are kept for reuse."""

    def __init__(self, key):
        _check_bytes("key", key)
        if len(key) not in (16, 24, 32):
            raise CryptoError("aes-gcm: key must be 16, 24 or 32 bytes")
        self._aes = _block_cipher(bytes(key))
        h = int.from_bytes(self._aes.encrypt_block(bytes(16)), "big")
        self._m = _byte_table(h)

    def _start(self, iv):
        # (counter prefix, first data counter, E(J0) as an int)
        _check_bytes("iv", iv)
        if len(iv) == 12:
            prefix = bytes(iv)
            c = 1
        elif len(iv) == 0:
            raise CryptoError("aes-gcm: empty iv")
        else:
            s = _ghash(self._m, 0, iv)
            j0 = _ghash(self._m, s, struct.pack(">QQ", 0, 8 * len(iv))).to_bytes(16, "big")
            prefix = j0[:12]
            c = struct.unpack(">I", j0[12:])[0]
        ek = bytearray(16)
        self._aes.ctr(prefix, c, ek, 1)
        return prefix, (c + 1) & 0xFFFFFFFF, int.from_bytes(ek, "big")

    def _ctr_xor(self, prefix, ctr, src, dst, n):
        # dst[:n] = src[:n] XOR keystream, one chunk at a time
        ks = bytearray(min(_CHUNK, (n + 15) & ~15))
        mk = memoryview(ks)
        ms = memoryview(src)
        i = 0
        while i < n:
            c = n - i
            if c > _CHUNK:
                c = _CHUNK
            nb = (c + 15) >> 4
            self._aes.ctr(prefix, ctr, ks, nb)
            ctr = (ctr + nb) & 0xFFFFFFFF
            v = int.from_bytes(ms[i : i + c], "big") ^ int.from_bytes(mk[:c], "big")
            dst[i : i + c] = v.to_bytes(c, "big")
            i += c

    def _tag(self, aad, ct, ek):
        m = self._m
        y = _ghash(m, 0, aad)
        y = _ghash(m, y, ct)
        y = _ghash(m, y, struct.pack(">QQ", 8 * len(aad), 8 * len(ct)))
        return (y ^ ek).to_bytes(16, "big")

    def encrypt(self, iv, plaintext, aad=b""):
        """ciphertext || 16-byte tag of plaintext under iv, authenticating aad."""
        if aad is None:
            aad = b""
        _check_bytes("plaintext", plaintext)
        _check_bytes("aad", aad)
        prefix, ctr, ek = self._start(iv)
        n = len(plaintext)
        out = bytearray(n + TAG_LEN)
        self._ctr_xor(prefix, ctr, plaintext, out, n)
        out[n:] = self._tag(aad, memoryview(out)[:n], ek)
        return bytes(out)

    def decrypt(self, iv, data, aad=b""):
        """Plaintext of data (ciphertext || tag); CryptoError if the tag does not verify."""
        if aad is None:
            aad = b""
        _check_bytes("data", data)
        _check_bytes("aad", aad)
        n = len(data) - TAG_LEN
        if n < 0:
            raise CryptoError("aes-gcm: input shorter than the tag")
        prefix, ctr, ek = self._start(iv)
        mv = memoryview(data)
        if not compare_digest(self._tag(aad, mv[:n], ek), mv[n:]):
            raise CryptoError("aes-gcm: authentication failed")
        out = bytearray(n)
        self._ctr_xor(prefix, ctr, data, out, n)
        return bytes(out)


def encrypt(key, iv, plaintext, aad=b""):
    """AES-GCM encrypt: ciphertext || 16-byte tag."""
    return AESGCM(key).encrypt(iv, plaintext, aad)


def decrypt(key, iv, data, aad=b""):
    """AES-GCM decrypt of ciphertext || tag; raises CryptoError on a bad tag or size."""
    return AESGCM(key).decrypt(iv, data, aad)
