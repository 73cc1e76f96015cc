"""AES-GCM: FIPS-197 and GCM-spec (AES-256) known answers, tampering, sizes, the AESGCM class."""

from binascii import hexlify, unhexlify

from vitale.crypto import CryptoError, aesgcm
from vitale.crypto._aes import PureAES
from vitale.crypto.aesgcm import AESGCM, CryptolibAES

_K = unhexlify("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
_P = unhexlify(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
_A = unhexlify("feedfacedeadbeeffeedfacedeadbeefabaddad2")
_IV = unhexlify("cafebabefacedbaddecaf888")

# Test cases 13-18 of the GCM specification (McGrew & Viega), AES-256:
# (key, iv, plaintext, aad, ciphertext hex, tag hex)
_GCM256 = (
    (bytes(32), bytes(12), b"", b"", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    (bytes(32), bytes(12), bytes(16), b"", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
    (
        _K,
        _IV,
        _P,
        b"",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        "b094dac5d93471bdec1a502270e3cc6c",
    ),
    (
        _K,
        _IV,
        _P[:60],
        _A,
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
    (
        _K,
        unhexlify("cafebabefacedbad"),
        _P[:60],
        _A,
        "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0"
        "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
        "3a337dbf46a792c45e454913fe2ea8f2",
    ),
    (
        _K,
        unhexlify(
            "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
            "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b"
        ),
        _P[:60],
        _A,
        "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
        "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
        "a44a8266ee1c8eb0c8b5d4cf5ae9f19a",
    ),
)


def _hex(b):
    return hexlify(b).decode()


def _refused(fn, *args):
    try:
        fn(*args)
    except CryptoError:
        return True
    return False


def test_aes_block_fips197():
    # FIPS-197 appendix C.1 / C.2 / C.3
    pt = unhexlify("00112233445566778899aabbccddeeff")
    assert _hex(PureAES(bytes(range(16))).encrypt_block(pt)) == "69c4e0d86a7b0430d8cdb78070b4c55a"
    assert _hex(PureAES(bytes(range(24))).encrypt_block(pt)) == "dda97ca4864cdfe06eaf70a0ec0d7191"
    assert _hex(PureAES(bytes(range(32))).encrypt_block(pt)) == "8ea2b7ca516745bfeafc49904b496089"


def test_gcm_spec_aes256_vectors():
    for key, iv, pt, aad, ct, tag in _GCM256:
        out = aesgcm.encrypt(key, iv, pt, aad)
        assert _hex(out) == ct + tag, (ct, _hex(out))
        assert aesgcm.decrypt(key, iv, out, aad) == pt


def test_tampering_refused():
    key, iv, pt, aad = _K, _IV, _P[:60], _A
    good = aesgcm.encrypt(key, iv, pt, aad)
    for i in (0, 30, len(good) - 17, len(good) - 16, len(good) - 1):
        bad = bytearray(good)
        bad[i] ^= 0x01
        assert _refused(aesgcm.decrypt, key, iv, bytes(bad), aad), i
    assert _refused(aesgcm.decrypt, key, iv, good, aad[:-1])
    assert _refused(aesgcm.decrypt, key, iv, good, aad + b"\x00")
    assert _refused(aesgcm.decrypt, key, iv, good[:-1], aad)
    assert _refused(aesgcm.decrypt, key, unhexlify("cafebabefacedbaddecaf889"), good, aad)
    other = bytearray(key)
    other[31] ^= 0x80
    assert _refused(aesgcm.decrypt, bytes(other), iv, good, aad)


def test_sizes_and_types_refused():
    key = bytes(32)
    iv = bytes(12)
    for n in (0, 1, 15):
        assert _refused(aesgcm.decrypt, key, iv, bytes(n), b"")
    for k in (b"", bytes(15), bytes(31), bytes(33), bytes(64)):
        assert _refused(aesgcm.encrypt, k, iv, b"x", b"")
        assert _refused(aesgcm.decrypt, k, iv, bytes(32), b"")
    assert _refused(aesgcm.encrypt, key, b"", b"x", b"")
    assert _refused(aesgcm.decrypt, key, b"", bytes(32), b"")
    assert _refused(aesgcm.encrypt, "k" * 32, iv, b"x", b"")
    assert _refused(aesgcm.encrypt, key, iv, "text", b"")
    assert _refused(aesgcm.encrypt, key, iv, b"x", 5)
    assert _refused(aesgcm.decrypt, key, None, bytes(32), b"")
    assert _refused(aesgcm.decrypt, key, iv, None, b"")


def test_empty_plaintext_and_none_aad():
    key = bytes(range(32))
    iv = bytes(12)
    out = aesgcm.encrypt(key, iv, b"", None)
    assert len(out) == 16
    assert out == aesgcm.encrypt(key, iv, b"", b"")
    assert aesgcm.decrypt(key, iv, out, None) == b""


def test_class_reuse_and_buffer_types():
    key = bytes(range(32))
    g = AESGCM(key)
    msgs = [bytes((i * 7) & 0xFF for i in range(n)) for n in (0, 1, 16, 17, 255, 1023, 1024, 1025, 2100)]
    for j in range(len(msgs)):
        iv = bytes(11) + bytes((j,))
        m = msgs[j]
        out = g.encrypt(iv, m, b"aad")
        assert len(out) == len(m) + 16
        assert out == aesgcm.encrypt(key, iv, m, b"aad")
        assert g.decrypt(iv, out, b"aad") == m
        assert g.decrypt(bytearray(iv), memoryview(out), bytearray(b"aad")) == m
        assert g.encrypt(memoryview(iv), bytearray(m), memoryview(b"aad")) == out
    # distinct ivs give distinct ciphertexts
    assert g.encrypt(bytes(12), b"same", b"") != g.encrypt(b"\x01" + bytes(11), b"same", b"")


def test_other_key_sizes_roundtrip():
    for n in (16, 24):
        key = bytes(range(n))
        out = aesgcm.encrypt(key, bytes(12), b"hello world", b"a")
        assert aesgcm.decrypt(key, bytes(12), out, b"a") == b"hello world"
        assert out != aesgcm.encrypt(bytes(range(32)), bytes(12), b"hello world", b"a")


def test_counter_wraps_at_32_bits():
    # An iv whose J0 counter is near 2**32: the keystream must wrap the low
    # 32 bits only (checked against the block cipher directly).
    key = bytes(range(32))
    g = AESGCM(key)
    prefix = b"\x11" * 12
    ks = bytearray(16 * 4)
    g._aes.ctr(prefix, 0xFFFFFFFE, ks, 4)
    a = PureAES(key)
    for i, c in enumerate((0xFFFFFFFE, 0xFFFFFFFF, 0, 1)):
        assert bytes(ks[16 * i : 16 * i + 16]) == a.encrypt_block(prefix + c.to_bytes(4, "big"))


def test_keystream_crosses_low_byte_runs():
    # The pure cipher caches rounds 1-2 per run of 256 counters: check blocks
    # on both sides of run boundaries against single-block encryption.
    key = bytes(range(100, 132))
    a = PureAES(key)
    prefix = bytes(range(12))
    start = 0x0001FFF0
    n = 0x120
    ks = bytearray(16 * n)
    a.ctr(prefix, start, ks, n)
    for i in (0, 15, 16, 17, 200, 271, 272, n - 1):
        c = (start + i) & 0xFFFFFFFF
        assert bytes(ks[16 * i : 16 * i + 16]) == a.encrypt_block(prefix + c.to_bytes(4, "big")), i


class _EcbOnPure:
    """cryptolib.aes(key, 1) look-alike built on the pure cipher (multi-block ECB)."""

    def __init__(self, key, mode):
        assert mode == 1
        self._a = PureAES(key)

    def encrypt(self, buf):
        out = bytearray(len(buf))
        for i in range(0, len(buf), 16):
            out[i : i + 16] = self._a.encrypt_block(bytes(buf[i : i + 16]))
        return bytes(out)


def test_cryptolib_adapter_matches_pure_cipher():
    key = bytes(range(32))
    c = CryptolibAES(key, _EcbOnPure)
    p = PureAES(key)
    prefix = b"\xab" * 12
    for start, n in ((1, 3), (0xFFFFFFFF, 2), (0x1234, 70)):
        k1 = bytearray(16 * n)
        k2 = bytearray(16 * n)
        c.ctr(prefix, start, k1, n)
        p.ctr(prefix, start, k2, n)
        assert k1 == k2
    assert c.encrypt_block(bytes(16)) == p.encrypt_block(bytes(16))
    # a whole GCM run through the adapter gives the spec's tag
    g = AESGCM(_K)
    g._aes = CryptolibAES(_K, _EcbOnPure)
    key, iv, pt, aad, ct, tag = _GCM256[3]
    assert _hex(g.encrypt(iv, pt, aad)) == ct + tag
