"""HMAC-SHA256 (RFC 4231), HKDF-SHA256 (RFC 5869), compare_digest."""

from binascii import hexlify, unhexlify

from vitale.crypto import CryptoError
from vitale.crypto.hkdf import hkdf_expand, hkdf_extract, hkdf_sha256
from vitale.crypto.hmac import HMAC, compare_digest, hmac_sha256, sha256

# RFC 4231 section 4: (key, data, HMAC-SHA-256; case 5 is truncated to 128 bits)
_RFC4231 = (
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
)

# RFC 5869 appendix A.1-A.3: (ikm, salt, info, L, PRK, OKM)
_RFC5869 = (
    (
        b"\x0b" * 22,
        bytes(range(13)),
        bytes(range(0xF0, 0xFA)),
        42,
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(80)),
        bytes(range(0x60, 0xB0)),
        bytes(range(0xB0, 0x100)),
        82,
        "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        b"\x0b" * 22,
        b"",
        b"",
        42,
        "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
)


def _hex(b):
    return hexlify(b).decode()


def test_hmac_rfc4231():
    for key, data, want in _RFC4231:
        got = _hex(hmac_sha256(key, data))
        assert got[: len(want)] == want, (key, got)


def test_hmac_class_matches_function_and_parts():
    for key, data, want in _RFC4231:
        mac = HMAC(key)
        assert _hex(mac.digest(data))[: len(want)] == want
        assert mac.digest(data[:3], data[3:]) == hmac_sha256(key, data)
        assert mac.digest(data) == mac.digest(data)  # reusable


def test_hmac_key_exactly_one_block_is_not_hashed():
    k64 = bytes(range(64))
    # a 64-byte key is used as is; a 65-byte key is hashed first
    assert hmac_sha256(k64, b"m") != hmac_sha256(sha256(k64), b"m")
    k65 = bytes(range(65))
    assert hmac_sha256(k65, b"m") == hmac_sha256(sha256(k65), b"m")


def test_sha256_known_answer():
    assert _hex(sha256(b"abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_compare_digest():
    assert compare_digest(b"abc", b"abc")
    assert compare_digest(b"", b"")
    assert not compare_digest(b"abc", b"abd")
    assert not compare_digest(b"abc", b"ab")
    assert not compare_digest(b"\x00" * 16, b"\x00" * 15 + b"\x80")
    assert compare_digest(bytearray(b"xy"), memoryview(b"xy"))


def test_hkdf_rfc5869():
    for ikm, salt, info, n, prk, okm in _RFC5869:
        assert _hex(hkdf_extract(salt, ikm)) == prk
        assert _hex(hkdf_expand(unhexlify(prk), info, n)) == okm
        assert _hex(hkdf_sha256(ikm, salt, info, n)) == okm


def test_hkdf_none_salt_is_zero_salt_and_none_info_is_empty():
    ikm = b"\x0b" * 22
    assert hkdf_sha256(ikm, None, b"", 42) == hkdf_sha256(ikm, bytes(32), b"", 42)
    assert hkdf_sha256(ikm, b"", None, 42) == hkdf_sha256(ikm, b"", b"", 42)


def test_hkdf_lengths():
    ikm = b"k" * 32
    assert hkdf_sha256(ikm, b"s", b"i", 0) == b""
    full = hkdf_sha256(ikm, b"s", b"i", 255 * 32)
    assert len(full) == 8160
    # outputs are prefixes of one another
    assert hkdf_sha256(ikm, b"s", b"i", 33) == full[:33]
    for bad in (255 * 32 + 1, -1):
        try:
            hkdf_sha256(ikm, b"s", b"i", bad)
        except CryptoError:
            pass
        else:
            raise AssertionError("length %d accepted" % bad)
    try:
        hkdf_expand(b"p" * 32, b"", 8161)
    except CryptoError:
        pass
    else:
        raise AssertionError("expand accepted 8161")


def test_non_bytes_refused_with_crypto_error():
    calls = (
        (hmac_sha256, ("key", b"m")),
        (hmac_sha256, (b"key", "m")),
        (sha256, ("abc",)),
        (HMAC, (None,)),
        (HMAC(b"k").digest, (b"a", "b")),
        (hkdf_sha256, (None, b"", b"", 32)),
        (hkdf_sha256, (b"ikm", "salt", b"", 32)),
        (hkdf_sha256, (b"ikm", b"", 5, 32)),
        (hkdf_sha256, (b"ikm", b"", b"", "32")),
        (hkdf_expand, ("prk", b"", 32)),
    )
    for fn, args in calls:
        try:
            fn(*args)
        except CryptoError:
            pass
        else:
            raise AssertionError("accepted %r" % (args,))
