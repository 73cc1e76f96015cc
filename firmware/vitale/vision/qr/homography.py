"""Plane homographies between module coordinates (u, v) and pixel coordinates (x, y).

A homography is a list of 8 floats h with
x = (h0 u + h1 v + h2) / (h6 u + h7 v + 1), y = (h3 u + h4 v + h5) / (h6 u + h7 v + 1).
Fitting normalises both point sets first so that single-precision floats (the
ESP32 port) keep enough digits.
"""

from vitale.vision.qr.errors import QRError


class GeometryError(QRError):
    """Points do not determine a usable homography."""


def _solve8(a, b):
    # Gaussian elimination with partial pivoting on an 8x8 system (lists, modified in place)
    n = 8
    for col in range(n):
        piv = col
        best = abs(a[col][col])
        for r in range(col + 1, n):
            v = abs(a[r][col])
            if v > best:
                best = v
                piv = r
        if best < 1e-9:
            raise GeometryError("degenerate point set")
        if piv != col:
            a[col], a[piv] = a[piv], a[col]
            b[col], b[piv] = b[piv], b[col]
        inv = 1.0 / a[col][col]
        for r in range(col + 1, n):
            f = a[r][col] * inv
            if f != 0.0:
                ar = a[r]
                ac = a[col]
                for k in range(col, n):
                    ar[k] -= f * ac[k]
                b[r] -= f * b[col]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        s = b[r]
        ar = a[r]
        for k in range(r + 1, n):
            s -= ar[k] * x[k]
        x[r] = s / ar[r]
    return x


def _norm(pts):
    # centre and scale (mean distance ~1) of a list of (a, b) pairs
    m = len(pts)
    ca = 0.0
    cb = 0.0
    for p in pts:
        ca += p[0]
        cb += p[1]
    ca /= m
    cb /= m
    s = 0.0
    for p in pts:
        s += abs(p[0] - ca) + abs(p[1] - cb)
    s /= m
    if s < 1e-6:
        raise GeometryError("points coincide")
    return ca, cb, 1.0 / s


def fit(src, dst, weights=None):
    """Least-squares homography mapping src (u, v) points to dst (x, y) points (>= 4 pairs)."""
    m = len(src)
    if m < 4 or len(dst) != m:
        raise GeometryError("need four point pairs")
    cu, cv, su = _norm(src)
    cx, cy, sx = _norm(dst)
    ata = [[0.0] * 8 for _ in range(8)]
    atb = [0.0] * 8
    for i in range(m):
        u = (src[i][0] - cu) * su
        v = (src[i][1] - cv) * su
        x = (dst[i][0] - cx) * sx
        y = (dst[i][1] - cy) * sx
        wt = 1.0 if weights is None else weights[i]
        r1 = (u, v, 1.0, 0.0, 0.0, 0.0, -u * x, -v * x)
        r2 = (0.0, 0.0, 0.0, u, v, 1.0, -u * y, -v * y)
        for row, rhs in ((r1, x), (r2, y)):
            for j in range(8):
                rj = row[j] * wt
                if rj != 0.0:
                    aj = ata[j]
                    for k in range(8):
                        aj[k] += rj * row[k]
                    atb[j] += rj * rhs
    h = _solve8(ata, atb)
    # undo the normalisations: H = Tdst^-1 * Hn * Tsrc
    a0, a1, a2, a3, a4, a5, a6, a7 = h
    # Hn * Tsrc, Tsrc = [[su,0,-su*cu],[0,su,-su*cv],[0,0,1]]
    b0 = a0 * su
    b1 = a1 * su
    b2 = a2 - a0 * su * cu - a1 * su * cv
    b3 = a3 * su
    b4 = a4 * su
    b5 = a5 - a3 * su * cu - a4 * su * cv
    b6 = a6 * su
    b7 = a7 * su
    b8 = 1.0 - a6 * su * cu - a7 * su * cv
    # Tdst^-1 * B, Tdst^-1 = [[1/sx,0,cx],[0,1/sx,cy],[0,0,1]]
    isx = 1.0 / sx
    c0 = b0 * isx + cx * b6
    c1 = b1 * isx + cx * b7
    c2 = b2 * isx + cx * b8
    c3 = b3 * isx + cy * b6
    c4 = b4 * isx + cy * b7
    c5 = b5 * isx + cy * b8
    if abs(b8) < 1e-12:
        raise GeometryError("homography at infinity")
    k = 1.0 / b8
    return [c0 * k, c1 * k, c2 * k, c3 * k, c4 * k, c5 * k, b6 * k, b7 * k]


def apply(h, u, v):
    """Pixel (x, y) of module coordinates (u, v)."""
    d = h[6] * u + h[7] * v + 1.0
    if d <= 1e-9:
        raise GeometryError("point behind the camera")
    return (h[0] * u + h[1] * v + h[2]) / d, (h[3] * u + h[4] * v + h[5]) / d


def fixed_point(h, n, hp):
    """Fill hp (array('i') of 9) with the sampler's scaled integers for an n-module grid.

    Values at the centre of module (0, 0), then per-module steps along u and v.
    """
    corners = ((0.5, 0.5), (n - 0.5, 0.5), (0.5, n - 0.5), (n - 0.5, n - 0.5))
    big = 0.0
    for u, v in corners:
        d = h[6] * u + h[7] * v + 1.0
        if d <= 1e-6:
            raise GeometryError("grid crosses the horizon")
        for val in (h[0] * u + h[1] * v + h[2], h[3] * u + h[4] * v + h[5], d):
            if abs(val) > big:
                big = abs(val)
    s = float(1 << 29) / big
    hp[0] = int(s * (h[0] * 0.5 + h[1] * 0.5 + h[2]))
    hp[1] = int(s * (h[3] * 0.5 + h[4] * 0.5 + h[5]))
    hp[2] = int(s * (h[6] * 0.5 + h[7] * 0.5 + 1.0))
    hp[3] = int(s * h[0])
    hp[4] = int(s * h[3])
    hp[5] = int(s * h[6])
    hp[6] = int(s * h[1])
    hp[7] = int(s * h[4])
    hp[8] = int(s * h[7])
