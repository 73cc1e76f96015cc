"""P-256 (secp256r1): ECDSA verify and sign (RFC 6979), ECDH, key generation.

Plain Python that runs unchanged on MicroPython and CPython. Integers are
arbitrary precision on both, and on MicroPython every big-integer operation
allocates, with `%` (a long division) costing about three multiplications;
so the formulas below are chosen to need few operations and few reductions,
reducing only where a value feeds a further multiplication.

Two kinds of point arithmetic:

* Public inputs (verification): Jacobian coordinates, a = -3 doubling, mixed
  Jacobian+affine addition, interleaved wNAF for u1*G + u2*Q with a lazily
  built affine table of the odd multiples 1..127 of G (64 points, 6.7 KB of
  heap on MicroPython) and a per-call table of the odd multiples 1..15 of
  Q kept in Jacobian form with Z^2 and Z^3 cached (an inversion costs ~200
  multiplications on MicroPython, more than it saves). No inversion at the
  end: x(R) == r is checked as X == r*Z^2 (mod p). These formulas branch,
  which is fine on public data, and they handle P+P and P+(-P).
* Secret scalars (signing, ECDH, key generation): the complete projective
  formulas of Renes-Costello-Batina (2016) for a = -3, which give the right
  result for every pair of points including the neutral one and equal
  points; so a fixed 4-bit window can run with always the same operations:
  4 doublings and 1 addition per window, where the table entry is picked by
  scanning all 16 entries with arithmetic masks, not by indexing or branching
  on the secret digit (for G that table is cached: 2.7 KB). A Montgomery
  ladder would also do, but costs a doubling and an addition per bit (by
  operation count about 1.3x this window). Python's big integers are not
  constant-time themselves, so this is best effort: no secret-dependent
  branches or table indices in the ladder, and the inversions are blinded
  with a random factor.

Signatures are not normalised to low S (RFC 6979 gives either half; both
verify here, as in the `cryptography` package and most verifiers).
"""

import hashlib

from vitale.codec.der import INTEGER as DER_INTEGER
from vitale.codec.der import SEQUENCE as DER_SEQUENCE
from vitale.codec.der import DerError
from vitale.codec.der import parse as der_parse
from vitale.compat import modinv, random_bytes
from vitale.crypto import CryptoError
from vitale.crypto.hmac import hmac_sha256

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_B3 = 3 * _B % _P
_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
_SQRT_EXP = (_P + 1) // 4  # p = 3 (mod 4)

_G_WIDTH = 8  # wNAF width for G: 2**(8-2) = 64 precomputed points
_Q_WIDTH = 5  # wNAF width for the public key: 8 points per verification

_G_AFFINE = None  # ([x], [y]) of G, 3G, ..., 127G once built
_G_WINDOW = None  # [O, G, 2G, ..., 15G] in projective coordinates once built


def _is_buf(x):
    return isinstance(x, (bytes, bytearray, memoryview))


# --- encoding -----------------------------------------------------------


def _curve_rhs(x):
    return (x * x * x - 3 * x + _B) % _P


def decode_point(data):
    """(x, y) of a SEC1 point (65-byte uncompressed or 33-byte compressed), fully validated."""
    if not _is_buf(data):
        raise CryptoError("point must be bytes")
    n = len(data)
    if n == 0:
        raise CryptoError("empty point")
    tag = data[0]
    if tag == 4 and n == 65:
        x = int.from_bytes(bytes(data[1:33]), "big")
        y = int.from_bytes(bytes(data[33:65]), "big")
        if x >= _P or y >= _P:
            raise CryptoError("coordinate not below p")
        if y * y % _P != _curve_rhs(x):
            raise CryptoError("point not on the curve")
        return x, y
    if (tag == 2 or tag == 3) and n == 33:
        x = int.from_bytes(bytes(data[1:33]), "big")
        if x >= _P:
            raise CryptoError("coordinate not below p")
        a = _curve_rhs(x)
        y = pow(a, _SQRT_EXP, _P)
        if y * y % _P != a:
            raise CryptoError("point not on the curve")
        if (y & 1) != (tag & 1):
            y = _P - y  # y != 0: the curve has no point of order 2
        return x, y
    if tag == 0 and n == 1:
        raise CryptoError("point at infinity")
    raise CryptoError("bad point encoding")


def encode_point(x, y, compressed=False):
    """SEC1 encoding of the affine point (x, y)."""
    if compressed:
        return bytes((2 | (y & 1),)) + x.to_bytes(32, "big")
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


# --- Jacobian arithmetic for public data --------------------------------
# A point is (X, Y, Z) with x = X/Z^2, y = Y/Z^3; Z == 0 is the neutral
# point. Every returned coordinate is reduced into [0, p).


def _dbl(X, Y, Z):
    # dbl-2001-b for a = -3 (Bernstein-Lange EFD), 7 reductions.
    p = _P
    zz = Z * Z % p
    yy = Y * Y % p
    b4 = (X * yy << 2) % p
    a = (X - zz) * (X + zz) * 3 % p
    X3 = (a * a - b4 - b4) % p
    return X3, (a * (b4 - X3) - (yy * yy << 3)) % p, (Y * Z << 1) % p


def _add_affine(X1, Y1, Z1, x2, y2):
    # Mixed addition (Jacobian + affine, x2 and y2 reduced), 10 reductions.
    if not Z1:
        return x2, y2, 1
    p = _P
    zz = Z1 * Z1 % p
    h = x2 * zz % p - X1  # both terms in [0, p): h == 0 iff x1 == x2
    r = y2 * (zz * Z1 % p) % p - Y1
    if not h:
        if not r:
            return _dbl(x2, y2, 1)
        return 1, 1, 0
    hh = h * h % p
    hhh = h * hh % p
    v = X1 * hh % p
    X3 = (r * r - hhh - v - v) % p
    return X3, (r * (v - X3) - Y1 * hhh) % p, Z1 * h % p


def _add_cached(X1, Y1, Z1, X2, Y2, Z2, zz2, zzz2):
    # Jacobian addition with Z2^2 and Z2^3 precomputed, 13 reductions.
    if not Z1:
        return X2, Y2, Z2
    p = _P
    zz = Z1 * Z1 % p
    u1 = X1 * zz2 % p
    s1 = Y1 * zzz2 % p
    h = X2 * zz % p - u1
    r = Y2 * (zz * Z1 % p) % p - s1
    if not h:
        if not r:
            return _dbl(X1, Y1, Z1)
        return 1, 1, 0
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    X3 = (r * r - hhh - v - v) % p
    return X3, (r * (v - X3) - s1 * hhh) % p, Z1 * Z2 % p * h % p


def _odd_multiples(x, y, count):
    """Jacobian points P, 3P, ..., (2*count-1)P of the affine point P."""
    p = _P
    X2, Y2, Z2 = _dbl(x, y, 1)
    zz2 = Z2 * Z2 % p
    zzz2 = zz2 * Z2 % p
    out = [(x, y, 1)]
    X, Y, Z = x, y, 1
    for _ in range(count - 1):
        X, Y, Z = _add_cached(X, Y, Z, X2, Y2, Z2, zz2, zzz2)
        out.append((X, Y, Z))
    return out


def _g_affine():
    """Affine odd multiples of G (built once: one inversion, Montgomery's trick)."""
    global _G_AFFINE
    if _G_AFFINE is None:
        p = _P
        pts = _odd_multiples(_GX, _GY, 1 << (_G_WIDTH - 2))
        prefix = []
        acc = 1
        for pt in pts:
            prefix.append(acc)
            acc = acc * pt[2] % p
        inv = modinv(acc, p)
        xs = [0] * len(pts)
        ys = [0] * len(pts)
        for i in range(len(pts) - 1, -1, -1):
            X, Y, Z = pts[i]
            zi = inv * prefix[i] % p
            inv = inv * Z % p
            zi2 = zi * zi % p
            # "| 0" copies a value at its exact size: on MicroPython a remainder keeps
            # the dividend's 512-bit buffer, which would double the table's RAM.
            xs[i] = (X * zi2 % p) | 0
            ys[i] = (Y * zi2 % p * zi % p) | 0
        _G_AFFINE = (xs, ys)
    return _G_AFFINE


def _wnaf(k, w):
    """Width-w NAF of 0 <= k < 2**256: 257 digits, least significant first."""
    # Worked on the bytes with small integers, which MicroPython does not allocate.
    kb = k.to_bytes(34, "big")
    full = 1 << w
    half = full >> 1
    mask = full - 1
    out = [0] * 257
    i = 0
    carry = 0
    while i < 257:
        j = 33 - (i >> 3)
        v = ((((kb[j - 1] << 8) | kb[j]) >> (i & 7)) & mask) + carry
        if v & 1:
            if v >= half:
                v -= full
                carry = 1
            else:
                carry = 0
            out[i] = v
            i += w
        else:
            i += 1  # bit + carry is 0 or 2: the carry moves on unchanged
    return out


def _mul2(u1, u2, qx, qy):
    """Jacobian u1*G + u2*Q for public scalars (interleaved wNAF, shared doublings)."""
    p = _P
    gx, gy = _g_affine()
    qX = []
    qY = []
    qZ = []
    qZZ = []
    qZZZ = []
    for X, Y, Z in _odd_multiples(qx, qy, 1 << (_Q_WIDTH - 2)):
        zz = Z * Z % p
        qX.append(X)
        qY.append(Y)
        qZ.append(Z)
        qZZ.append(zz)
        qZZZ.append(zz * Z % p)
    ng = _wnaf(u1, _G_WIDTH)
    nq = _wnaf(u2, _Q_WIDTH)
    dbl = _dbl
    add_a = _add_affine
    add_c = _add_cached
    X = Y = 1
    Z = 0
    for i in range(256, -1, -1):
        if Z:
            X, Y, Z = dbl(X, Y, Z)
        d = ng[i]
        if d:
            if d > 0:
                d >>= 1
                X, Y, Z = add_a(X, Y, Z, gx[d], gy[d])
            else:
                d = -d >> 1
                X, Y, Z = add_a(X, Y, Z, gx[d], p - gy[d])
        d = nq[i]
        if d:
            if d > 0:
                d >>= 1
                X, Y, Z = add_c(X, Y, Z, qX[d], qY[d], qZ[d], qZZ[d], qZZZ[d])
            else:
                d = -d >> 1
                X, Y, Z = add_c(X, Y, Z, qX[d], p - qY[d], qZ[d], qZZ[d], qZZZ[d])
    return X, Y, Z


# --- complete projective arithmetic for secret scalars ------------------
# A point is (X, Y, Z) with x = X/Z, y = Y/Z; the neutral point is (0, 1, 0).


def _padd(X1, Y1, Z1, X2, Y2, Z2):
    # Renes-Costello-Batina complete addition with a = -3; also doubles.
    p = _P
    t0 = X1 * X2 % p
    t1 = Y1 * Y2 % p
    t2 = Z1 * Z2 % p
    u = (X1 * Z2 + X2 * Z1) % p
    v = (X1 * Y2 + X2 * Y1) % p
    w = (Y1 * Z2 + Y2 * Z1) % p
    bt2 = _B3 * t2 % p
    u3 = u * 3
    e = t1 + u3 - bt2  # Y1Y2 - a*u - 3b*t2
    f = t1 - u3 + bt2  # Y1Y2 + a*u + 3b*t2
    g = _B3 * u % p - (t0 + t2 * 3) * 3  # a*t0 + 3b*u - a^2*t2
    h = (t0 - t2) * 3  # 3*t0 + a*t2
    return (v * e - w * g) % p, (f * e + h * g) % p, (w * f + v * h) % p


def _window_table(x, y):
    """[O, P, 2P, ..., 15P] in projective coordinates."""
    tab = [(0, 1, 0), (x, y, 1)]
    X, Y, Z = x, y, 1
    for _ in range(14):
        X, Y, Z = _padd(X, Y, Z, x, y, 1)
        tab.append((X, Y, Z))
    return tab


def _blinded_inverse(a, m):
    # Inverts a*beta with a random beta, so the inversion never sees the secret-derived value.
    beta = int.from_bytes(random_bytes(32), "big") % (m - 1) + 1
    return modinv(a * beta % m, m) * beta % m


def _ct_mul(k, tab):
    """Affine k*P for a secret 0 < k < n, tab = _window_table(P): fixed operation sequence."""
    padd = _padd
    kb = k.to_bytes(32, "big")
    X, Y, Z = 0, 1, 0
    for i in range(64):
        if i:  # public loop index: the first window starts from O
            X, Y, Z = padd(X, Y, Z, X, Y, Z)
            X, Y, Z = padd(X, Y, Z, X, Y, Z)
            X, Y, Z = padd(X, Y, Z, X, Y, Z)
            X, Y, Z = padd(X, Y, Z, X, Y, Z)
        d = (kb[i >> 1] >> (4 - ((i & 1) << 2))) & 15
        sx = sy = sz = 0
        for j in range(16):
            m = ((d ^ j) - 1) >> 8  # -1 for the entry j == d, else 0
            e = tab[j]
            sx |= e[0] & m
            sy |= e[1] & m
            sz |= e[2] & m
        X, Y, Z = padd(X, Y, Z, sx, sy, sz)
    if not Z:
        raise CryptoError("result is the point at infinity")
    zi = _blinded_inverse(Z, _P)
    return X * zi % _P, Y * zi % _P


def _g_window():
    global _G_WINDOW
    if _G_WINDOW is None:
        _G_WINDOW = [(X | 0, Y | 0, Z | 0) for X, Y, Z in _window_table(_GX, _GY)]
    return _G_WINDOW


# --- keys ---------------------------------------------------------------


def _private_scalar(private_key):
    if not _is_buf(private_key) or len(private_key) != 32:
        raise CryptoError("private key must be 32 bytes")
    d = int.from_bytes(bytes(private_key), "big")
    if not 0 < d < _N:
        raise CryptoError("private key out of range")
    return d


def public_key(private_key):
    """Uncompressed SEC1 public key (65 bytes) of a 32-byte private key."""
    x, y = _ct_mul(_private_scalar(private_key), _g_window())
    return encode_point(x, y)


def generate_keypair():
    """New (private_key 32 bytes, uncompressed public_key 65 bytes) from the platform's randomness."""
    while True:
        priv = random_bytes(32)
        d = int.from_bytes(priv, "big")
        if 0 < d < _N:
            return priv, public_key(priv)


def ecdh(private_key, public_key):
    """32-byte shared x-coordinate of private_key * public_key (SEC1 point, validated)."""
    d = _private_scalar(private_key)
    x, y = decode_point(public_key)
    sx, _ = _ct_mul(d, _window_table(x, y))
    return sx.to_bytes(32, "big")


# --- ECDSA --------------------------------------------------------------


def _digest_int(digest):
    # bits2int for a 256-bit group: the leftmost 256 bits of the hash
    if len(digest) > 32:
        digest = digest[:32]
    return int.from_bytes(bytes(digest), "big")


def _verify(public_key, digest, r, s):
    if not (0 < r < _N and 0 < s < _N):
        return False
    if not _is_buf(digest) or len(digest) == 0:
        return False
    try:
        qx, qy = decode_point(public_key)
    except CryptoError:
        return False
    w = modinv(s, _N)
    X, _, Z = _mul2(_digest_int(digest) * w % _N, r * w % _N, qx, qy)
    if not Z:
        return False
    zz = Z * Z % _P
    # x(R) mod n == r with x(R) = X/Z^2 in [0, p): x(R) is r or r + n
    if (r * zz - X) % _P == 0:
        return True
    return r + _N < _P and ((r + _N) * zz - X) % _P == 0


def _sha256(message):
    if isinstance(message, memoryview):
        message = bytes(message)
    return hashlib.sha256(message).digest()


def ecdsa_verify_digest(public_key, digest, signature):
    """True iff signature (raw r||s, 64 bytes) is valid for the hash digest; never raises."""
    if not _is_buf(signature) or len(signature) != 64:
        return False
    r = int.from_bytes(bytes(signature[:32]), "big")
    s = int.from_bytes(bytes(signature[32:]), "big")
    return _verify(public_key, digest, r, s)


def ecdsa_verify(public_key, message, signature):
    """True iff signature (raw r||s, 64 bytes) is a valid ES256 signature of message; never raises."""
    if not _is_buf(message):
        return False
    return ecdsa_verify_digest(public_key, _sha256(message), signature)


def parse_der_signature(der):
    """(r, s) of a strict DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs), or None when malformed."""
    try:
        ints = der_parse(der).expect(DER_SEQUENCE).children()
        if len(ints) != 2:
            return None
        r = ints[0].expect(DER_INTEGER).as_int()
        s = ints[1].expect(DER_INTEGER).as_int()
    except DerError:
        return None
    if r < 0 or s < 0:
        return None
    return r, s


def ecdsa_verify_der(public_key, message, der_signature):
    """True iff der_signature (strict DER SEQUENCE of r, s) is valid for message; never raises."""
    if not _is_buf(message):
        return False
    rs = parse_der_signature(der_signature)
    if rs is None:
        return False
    return _verify(public_key, _sha256(message), rs[0], rs[1])


def _rfc6979_nonces(d, digest):
    """The RFC 6979 (HMAC-SHA256) candidate nonces for key d and a 32-byte digest."""
    x = d.to_bytes(32, "big")
    h = (_digest_int(digest) % _N).to_bytes(32, "big")
    v = b"\x01" * 32
    k = bytes(32)
    k = hmac_sha256(k, v + b"\x00" + x + h)
    v = hmac_sha256(k, v)
    k = hmac_sha256(k, v + b"\x01" + x + h)
    v = hmac_sha256(k, v)
    while True:
        v = hmac_sha256(k, v)
        c = int.from_bytes(v, "big")
        if 0 < c < _N:
            yield c
        k = hmac_sha256(k, v + b"\x00")
        v = hmac_sha256(k, v)


def ecdsa_sign_digest(private_key, digest):
    """Raw r||s (64 bytes) signature of a hash digest, deterministic nonce (RFC 6979)."""
    d = _private_scalar(private_key)
    if not _is_buf(digest) or len(digest) == 0:
        raise CryptoError("digest must be bytes")
    e = _digest_int(digest)
    for k in _rfc6979_nonces(d, bytes(digest)):
        x, _ = _ct_mul(k, _g_window())
        r = x % _N
        if not r:
            continue
        s = _blinded_inverse(k, _N) * (e + r * d) % _N
        if s:
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ecdsa_sign(private_key, message):
    """Raw r||s (64 bytes) ES256 signature of message (SHA-256, RFC 6979 nonce)."""
    if not _is_buf(message):
        raise CryptoError("message must be bytes")
    return ecdsa_sign_digest(private_key, _sha256(message))
