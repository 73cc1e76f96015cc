"""Reed-Solomon decoding over GF(256) as QR uses it (poly 0x11D, generator roots alpha^0..).

Hot module (viper): import it with `vitale.compat.import_hot("vitale.vision.qr.rs")`.
A block is a bytearray, first transmitted codeword first (highest power).
"""

from vitale.compat import micropython
from vitale.vision.qr.errors import QRError

from vitale.vision.qr.casts import ptr8  # noqa: F401  (casts inside viper functions)


class RSError(QRError):
    """A block has more errors than its ECC codewords can correct."""


def _tables():
    exp = bytearray(512)
    log = bytearray(256)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


EXP, LOG = _tables()


def mul(a, b):
    """Product in GF(256)."""
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def div(a, b):
    """Quotient a / b in GF(256) (b != 0)."""
    if a == 0:
        return 0
    return EXP[LOG[a] + 255 - LOG[b]]


@micropython.viper
def _syndromes(block, n: int, necc: int, synd, exp, log) -> int:
    b = ptr8(block)
    s = ptr8(synd)
    ex = ptr8(exp)
    lg = ptr8(log)
    nonzero = 0
    j = 0
    while j < necc:
        acc = 0
        i = 0
        while i < n:
            if acc != 0:
                acc = int(ex[int(lg[acc]) + j])
            acc ^= int(b[i])
            i += 1
        s[j] = acc
        nonzero |= acc
        j += 1
    return nonzero


@micropython.viper
def _chien(sigma, deg: int, n: int, pos, exp, log) -> int:
    # Roots of sigma at alpha^-p for power p in 0..n-1; writes byte indexes n-1-p.
    sg = ptr8(sigma)
    ps = ptr8(pos)
    ex = ptr8(exp)
    lg = ptr8(log)
    found = 0
    p = 0
    while p < n:
        acc = int(sg[0])
        i = 1
        while i <= deg:
            c = int(sg[i])
            if c != 0:
                # alpha^(-p*i) = alpha^((255 - p) * i mod 255)
                e = (int(lg[c]) + ((255 - p) * i) % 255) % 255
                acc ^= int(ex[e])
            i += 1
        if acc == 0:
            if found < deg:
                ps[found] = n - 1 - p
            found += 1
        p += 1
    return found


class Corrector:
    """Reusable RS decoder with bounded scratch space (blocks up to 255 bytes, ECC up to 68)."""

    def __init__(self):
        self.synd = bytearray(68)
        self.sigma = bytearray(69)
        self.prev = bytearray(69)
        self.tmp = bytearray(69)
        self.pos = bytearray(68)

    def correct(self, block, necc, max_errors):
        """Correct block in place; returns the number of corrected bytes or raises RSError."""
        n = len(block)
        if necc <= 0 or necc > 68 or n <= necc or n > 255:
            raise RSError("bad block geometry")
        synd = self.synd
        if not _syndromes(block, n, necc, synd, EXP, LOG):
            return 0
        # Berlekamp-Massey: sigma (error locator), lowest degree first.
        sigma = self.sigma
        prev = self.prev
        tmp = self.tmp
        for i in range(necc + 1):
            sigma[i] = 0
            prev[i] = 0
        sigma[0] = 1
        prev[0] = 1
        deg = 0
        shift = 1
        last_d = 1
        for k in range(necc):
            d = synd[k]
            for i in range(1, deg + 1):
                if sigma[i] and synd[k - i]:
                    d ^= EXP[LOG[sigma[i]] + LOG[synd[k - i]]]
            if d == 0:
                shift += 1
                continue
            coef = div(d, last_d)
            lc = LOG[coef]
            if 2 * deg <= k:
                for i in range(necc + 1):
                    tmp[i] = sigma[i]
                for i in range(necc + 1 - shift):
                    if prev[i]:
                        sigma[i + shift] ^= EXP[lc + LOG[prev[i]]]
                for i in range(necc + 1):
                    prev[i] = tmp[i]
                deg = k + 1 - deg
                last_d = d
                shift = 1
            else:
                for i in range(necc + 1 - shift):
                    if prev[i]:
                        sigma[i + shift] ^= EXP[lc + LOG[prev[i]]]
                shift += 1
        if deg == 0 or deg > max_errors:
            raise RSError("too many errors")
        pos = self.pos
        if _chien(sigma, deg, n, pos, EXP, LOG) != deg:
            raise RSError("error locator has wrong roots")
        # omega(x) = S(x) * sigma(x) mod x^necc, kept in tmp
        for i in range(necc):
            c = 0
            for t in range(min(i, deg) + 1):
                if sigma[t] and synd[i - t]:
                    c ^= EXP[LOG[sigma[t]] + LOG[synd[i - t]]]
            tmp[i] = c
        # Forney (first root alpha^0): e = X * omega(X^-1) / sigma'(X^-1)
        for j in range(deg):
            p = n - 1 - pos[j]  # power of the error position
            xinv = (255 - p) % 255  # log of X^-1
            om = 0
            for i in range(necc):
                if tmp[i]:
                    om ^= EXP[(LOG[tmp[i]] + xinv * i) % 255]
            dv = 0
            for i in range(1, deg + 1, 2):
                if sigma[i]:
                    dv ^= EXP[(LOG[sigma[i]] + xinv * (i - 1)) % 255]
            if dv == 0:
                raise RSError("error locator derivative vanishes")
            mag = mul(div(om, dv), EXP[p])
            block[pos[j]] ^= mag
        if _syndromes(block, n, necc, synd, EXP, LOG):
            raise RSError("correction failed")
        return deg
