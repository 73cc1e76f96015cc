# P-256 ECDSA/ECDH: known answers, round trips and rejection of every kind of bad input.
# MicroPython-compatible: runs under pytest and inside the VM.
import binascii
import hashlib

from vitale.crypto import CryptoError, p256

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

# RFC 6979 A.2.5 (P-256, SHA-256)
RFC_X = binascii.unhexlify("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
RFC_PUB = binascii.unhexlify(
    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
    "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
)
RFC_SIGS = (
    (b"sample", "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
                "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"),
    (b"test", "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367"
              "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083"),
)


def b32(n):
    return n.to_bytes(32, "big")


def point(x, y):
    return b"\x04" + b32(x) + b32(y)


def raises(fn, *args):
    try:
        fn(*args)
    except CryptoError:
        return True
    return False


def sig_of(r, s):
    return b32(r) + b32(s)


def test_rfc6979_known_answers():
    assert p256.public_key(RFC_X) == RFC_PUB
    for msg, hexsig in RFC_SIGS:
        sig = binascii.unhexlify(hexsig)
        assert p256.ecdsa_sign(RFC_X, msg) == sig
        assert p256.ecdsa_verify(RFC_PUB, msg, sig)
        assert p256.ecdsa_verify_digest(RFC_PUB, hashlib.sha256(msg).digest(), sig)
        assert p256.ecdsa_sign_digest(RFC_X, hashlib.sha256(msg).digest()) == sig


def test_public_key_small_and_edge_scalars():
    assert p256.public_key(b32(1)) == point(GX, GY)
    assert p256.public_key(b32(N - 1)) == point(GX, P - GY)
    two = p256.decode_point(p256.public_key(b32(2)))
    # 2G from the affine doubling formula
    lam = (3 * GX * GX - 3) * pow(2 * GY, P - 2, P) % P
    x2 = (lam * lam - 2 * GX) % P
    assert two == (x2, (lam * (GX - x2) - GY) % P)


def test_sign_verify_roundtrip_and_tampering():
    keys = [b32(1), b32(N - 1), RFC_X, bytes(range(1, 33)), b"\x00" * 31 + b"\x03", b"\xfe" * 16 + b"\x00" * 16]
    msgs = [b"", b"a", b"x" * 200, bytearray(b"bytearray msg")]
    for priv in keys:
        pub = p256.public_key(priv)
        for msg in msgs:
            sig = p256.ecdsa_sign(priv, msg)
            assert len(sig) == 64
            assert p256.ecdsa_verify(pub, msg, sig)
            assert p256.ecdsa_verify(pub, memoryview(bytes(msg)), bytearray(sig))
            assert not p256.ecdsa_verify(pub, bytes(msg) + b"!", sig)
            for pos in (0, 31, 32, 63):
                bad = bytearray(sig)
                bad[pos] ^= 1
                assert not p256.ecdsa_verify(pub, msg, bytes(bad))
            # the other half of the signature pair (n - s) is valid too
            r = int.from_bytes(sig[:32], "big")
            s = int.from_bytes(sig[32:], "big")
            assert p256.ecdsa_verify(pub, msg, sig_of(r, N - s))
            assert not p256.ecdsa_verify(pub, msg, sig_of(s, r))


def test_compressed_public_keys():
    for priv in (b32(1), b32(N - 1), RFC_X, bytes(range(7, 39))):
        pub = p256.public_key(priv)
        x, y = p256.decode_point(pub)
        comp = p256.encode_point(x, y, compressed=True)
        assert len(comp) == 33 and comp[0] == 2 + (y & 1)
        assert p256.decode_point(comp) == (x, y)
        sig = p256.ecdsa_sign(priv, b"compressed")
        assert p256.ecdsa_verify(comp, b"compressed", sig)
        # the other parity is the negated key: the signature must fail
        other = bytes((comp[0] ^ 1,)) + comp[1:]
        assert p256.decode_point(other) == (x, P - y)
        assert not p256.ecdsa_verify(other, b"compressed", sig)


def smallest_x(square):
    """Smallest x >= 0 whose x^3 - 3x + b is (square=True) or is not a square mod p."""
    x = 0
    while True:
        rhs = (x * x * x - 3 * x + p256._B) % P
        if (pow(rhs, (P - 1) // 2, P) != P - 1) == square:
            return x
        x += 1


def test_decode_point_rejects():
    x, y = GX, GY
    # a valid point with a small x: x + p still fits in 32 bytes and is congruent to x
    x0 = smallest_x(True)
    y0 = p256.decode_point(b"\x02" + b32(x0))[1]
    assert p256.decode_point(point(x0, y0)) == (x0, y0)
    nx = smallest_x(False)
    cases = [
        b"", b"\x00", b"\x04", point(x, y)[:64], point(x, y) + b"\x00",
        point(x, (y + 1) % P),  # off curve
        point(P, y), point(x, P), point(x, (1 << 256) - 1),  # coordinate >= p
        point(x0 + P, y0), b"\x02" + b32(x0 + P), b"\x03" + b32(x0 + P),  # x + p, congruent to a valid x
        b"\x02" + b32(nx), b"\x03" + b32(nx),  # no y for this x
        b"\x05" + b32(x) + b32(y), b"\x06" + b32(x) + b32(y), b"\x07" + b32(x) + b32(y),  # hybrid/unknown
        b"\x02" + b32(x)[:31], b"\x02" + b32(x) + b"\x00",
        b"\x00" * 65, b"\x00" * 33, b"\x01" + b32(x),
        "04" * 65, None, 5, [4] * 65,
    ]
    for c in cases:
        assert raises(p256.decode_point, c), c


def test_verify_rejects_bad_r_s():
    msg = b"range"
    sig = p256.ecdsa_sign(RFC_X, msg)
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    top = (1 << 256) - 1
    for rr, ss in ((0, s), (r, 0), (0, 0), (N, s), (r, N), (N + 1, s), (r, N + 1), (top, s), (r, top)):
        assert not p256.ecdsa_verify(RFC_PUB, msg, sig_of(rr, ss))


def test_verify_rejects_bad_keys():
    msg = b"keys"
    sig = p256.ecdsa_sign(RFC_X, msg)
    x, y = p256.decode_point(RFC_PUB)
    bad_keys = [
        b"", b"\x00", point(x, (y + 1) % P), point(P, y), point(x, P),
        RFC_PUB[:64], RFC_PUB + b"\x00", b"\x06" + RFC_PUB[1:], b"\x02" + b32(P),
        point(GX, GY),  # valid point, wrong key
    ]
    for k in bad_keys:
        assert not p256.ecdsa_verify(k, msg, sig)
    assert p256.ecdsa_verify(RFC_PUB, msg, sig)


def test_verify_never_raises_on_garbage():
    sig = p256.ecdsa_sign(RFC_X, b"g")
    junk = [None, 0, 1, -1, "text", "04", 3.5, [], [1, 2], {}, (b"a",), object(), b"", b"\x00" * 64, bytearray(65)]
    for j in junk:
        assert p256.ecdsa_verify(j, b"g", sig) is False
        assert p256.ecdsa_verify(RFC_PUB, j, sig) is False
        assert p256.ecdsa_verify(RFC_PUB, b"g", j) is False
        assert p256.ecdsa_verify_der(j, b"g", j) is False
        assert p256.ecdsa_verify_der(RFC_PUB, b"g", j) is False
        assert p256.ecdsa_verify_digest(RFC_PUB, j, sig) is False
    for n in (0, 1, 63, 65, 128):
        assert p256.ecdsa_verify(RFC_PUB, b"g", sig[:n] if n <= 64 else sig + bytes(n - 64)) is False


def der_int(v, pad=False):
    b = v.to_bytes(33, "big")
    i = 0
    while i < 32 and b[i] == 0 and not b[i + 1] & 0x80:
        i += 1
    b = b[i:]
    if pad:
        b = b"\x00" + b
    return b"\x02" + bytes((len(b),)) + b


def der_sig(r, s, pad_r=False):
    body = der_int(r, pad_r) + der_int(s)
    return b"\x30" + bytes((len(body),)) + body


def test_der_signatures_strict():
    i = 0
    while True:  # an r with its top bit clear, so a padded r is 33 bytes, not 34
        msg = b"der %d" % i
        raw = p256.ecdsa_sign(RFC_X, msg)
        if raw[0] < 0x80:
            break
        i += 1
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:], "big")
    good = der_sig(r, s)
    assert p256.parse_der_signature(good) == (r, s)
    assert p256.ecdsa_verify_der(RFC_PUB, msg, good)
    assert not p256.ecdsa_verify_der(RFC_PUB, msg + b"x", good)
    body = good[2:]
    bad = [
        good + b"\x00",  # trailing byte
        good[:-1],  # truncated
        b"\x31" + good[1:],  # SET, not SEQUENCE
        b"\x30\x81" + bytes((len(body),)) + body,  # long length form for a short length
        b"\x30" + bytes((len(body) + 1,)) + body,  # length beyond the data
        der_sig(r, s, pad_r=True),  # non-minimal integer
        b"\x30" + bytes((len(body) + 3,)) + body + b"\x02\x01\x01",  # third integer
        b"\x30\x06\x02\x01\x01\x02\x01\x00",  # s = 0
        b"\x30\x06\x02\x01\x00\x02\x01\x01",  # r = 0
        b"\x30\x06\x02\x01\x81\x02\x01\x01",  # negative r
        b"\x30\x05\x02\x00\x02\x01\x01",  # empty integer
    ]
    for b in bad:
        assert not p256.ecdsa_verify_der(RFC_PUB, msg, b), b
    assert p256.parse_der_signature(good + b"\x00") is None


def test_ecdh_agreement_and_known_relations():
    a, pa = p256.generate_keypair()
    b, pb = p256.generate_keypair()
    assert len(a) == 32 and len(pa) == 65 and pa == p256.public_key(a)
    s1 = p256.ecdh(a, pb)
    assert len(s1) == 32
    assert s1 == p256.ecdh(b, pa)
    # compressed peer key gives the same secret
    x, y = p256.decode_point(pb)
    assert p256.ecdh(a, p256.encode_point(x, y, True)) == s1
    # d * G computed by ECDH equals the public key's x
    assert p256.ecdh(RFC_X, point(GX, GY)) == RFC_PUB[1:33]
    assert p256.ecdh(b32(1), pb) == pb[1:33]
    assert p256.ecdh(b32(N - 1), pb) == pb[1:33]  # -Q has the same x
    sig = p256.ecdsa_sign(a, b"kp")
    assert p256.ecdsa_verify(pa, b"kp", sig)


def test_ecdh_rejects():
    pub = p256.public_key(RFC_X)
    x, y = p256.decode_point(pub)
    for priv in (b32(0), b32(N), b"\xff" * 32, RFC_X[:31], RFC_X + b"\x00", "k" * 32, None, 7):
        assert raises(p256.ecdh, priv, pub)
        assert raises(p256.public_key, priv)
    for q in (point(x, (y + 1) % P), b"\x00", b"", pub[:64], b"\x04" + b32(P) + b32(y), None, "pub", 4):
        assert raises(p256.ecdh, RFC_X, q)


def test_sign_rejects_bad_input():
    for priv in (b32(0), b32(N), RFC_X[:31], None):
        assert raises(p256.ecdsa_sign, priv, b"m")
    assert raises(p256.ecdsa_sign, RFC_X, "text")
    assert raises(p256.ecdsa_sign, RFC_X, None)
    assert raises(p256.ecdsa_sign_digest, RFC_X, b"")


def test_point_special_cases_in_verification():
    # Q = G and Q = -G make the G and Q table points coincide or cancel during
    # the interleaved multiplication; every signature must still verify.
    for priv in (b32(1), b32(2), b32(N - 1), b32(N - 2)):
        pub = p256.public_key(priv)
        for i in range(4):
            msg = b"special %d" % i
            assert p256.ecdsa_verify(pub, msg, p256.ecdsa_sign(priv, msg))
    # u1*G + u2*Q = O: with Q = G choose r, s so that e/s + r/s = 0 (mod n)
    e = int.from_bytes(hashlib.sha256(b"zero").digest(), "big") % N
    r = (N - e) % N
    assert not p256.ecdsa_verify(point(GX, GY), b"zero", sig_of(r, 12345))


def jacobian(x, y, z):
    return x * z * z % P, y * z * z * z % P, z


def affine(X, Y, Z):
    zi = pow(Z, P - 2, P)
    return X * zi * zi % P, Y * zi * zi * zi % P


def test_jacobian_addition_special_cases():
    x2, y2 = p256.decode_point(p256.public_key(b32(2)))
    X, Y, Z = jacobian(GX, GY, 12345)
    assert affine(*p256._add_affine(X, Y, Z, GX, GY)) == (x2, y2)  # P + P
    assert p256._add_affine(X, Y, Z, GX, P - GY)[2] == 0  # P + (-P)
    assert p256._add_affine(1, 1, 0, GX, GY) == (GX, GY, 1)  # O + P
    zz = Z * Z % P
    cached = (X, Y, Z, zz, zz * Z % P)
    X1, Y1, Z1 = jacobian(GX, GY, 777)
    assert affine(*p256._add_cached(X1, Y1, Z1, *cached)) == (x2, y2)
    X1, Y1, Z1 = jacobian(GX, P - GY, 777)
    assert p256._add_cached(X1, Y1, Z1, *cached)[2] == 0
    assert p256._add_cached(1, 1, 0, *cached) == (X, Y, Z)


def crafted_signature(q, target):
    """(digest, r||s) for public key q*G whose verification meets a G-table point equal (target = (n+1)/2)
    or opposite (target = (n-1)/2) to the accumulator: the wNAF digit of u1 at bit 0 is 1, u2's is 1,
    and the accumulator before the last G addition is 2*((u1-1)/2 + q*(u2-1)/2)*G = (+-1)*G."""
    j = 1
    while True:
        t = j * 0x9E3779B97F4A7C15F39CC0605CEDC8341082276BF3A27251F86C6A11D0C18E95 % (N >> 6)
        u2 = 32 * t + 1
        a = (target - q * 16 * t) % N
        if a % 128 == 0 and 2 * a + 1 < N:
            break
        j += 1
    u1 = 2 * a + 1
    x = int.from_bytes(p256.public_key(b32((u1 + q * u2) % N))[1:33], "big")
    r = x % N
    s = r * pow(u2, N - 2, N) % N
    return b32(u1 * s % N), sig_of(r, s)


def test_verification_meets_equal_and_opposite_points():
    # q must be large: with a small q, a + q*(u2-1)/2 cannot wrap mod n and a = target (mod 16) is odd
    for q in (int.from_bytes(RFC_X, "big"), int.from_bytes(hashlib.sha256(b"q").digest(), "big") % N):
        pub = p256.public_key(b32(q))
        for target in ((N + 1) // 2, (N - 1) // 2):
            digest, sig = crafted_signature(q, target)
            assert p256.ecdsa_verify_digest(pub, digest, sig)
            bad = bytearray(digest)
            bad[31] ^= 2
            assert not p256.ecdsa_verify_digest(pub, bytes(bad), sig)
