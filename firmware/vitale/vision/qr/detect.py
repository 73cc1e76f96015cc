"""Finder and alignment pattern detection on a thresholded frame.

Row scans (runs.scan_rows) propose 1:1:3:1:1 candidates; each is confirmed
by run-length cross-checks through its centre (vertical, horizontal, vertical
again, diagonal) and merged with the finders already confirmed. Alignment
patterns are searched in a small window around a predicted position.
"""

from array import array

from vitale.compat import import_hot

_runs = import_hot("vitale.vision.qr.runs")
_trace = _runs.trace
_dark_at = _runs.dark_at

_INV = 3
_MAXRUNS = 7
_MAXLEN = 8
_STOP = 9
_FIRST = 10

# finder record fields
FX = 0
FY = 1
FMS = 2  # module size estimate (px)
FHITS = 3
FINV = 4


def _pattern_ok(a, b, c, d, e, tol):
    tot = a + b + c + d + e
    if tot < 7:
        return False
    m = tot / 7.0
    lim = tol * m
    return abs(a - m) < lim and abs(b - m) < lim and abs(d - m) < lim and abs(e - m) < lim and abs(c - 3 * m) < 2 * lim


class Scene:
    """One thresholded frame: the buffers the hot functions need, and run-length probes."""

    def __init__(self, frame, thr, ctx):
        self.frame = frame
        self.thr = thr
        self.ctx = ctx
        self.tr = array("i", bytes(4 * 72))
        # column (and polarity) -> last row of a centre run whose vertical check failed:
        # rows below it on the same column would fail the same way
        self.dead = {}
        self.f0 = 0
        self.shift = 0.0

    def set_polarity(self, inv):
        """Dark means light when inv is 1 (light-on-dark symbols)."""
        self.ctx[_INV] = inv

    def dark(self, x, y):
        """1 dark, 0 light, 2 outside, for the pixel containing (x, y)."""
        return _dark_at(self.frame, self.thr, self.ctx, int(x) if x >= 0 else -1, int(y) if y >= 0 else -1)

    def runs(self, x, y, ex, ey, maxruns, maxlen):
        """Runs walking by steps (ex, ey) px from the centre of the pixel holding (x, y).

        Returns (count, first colour, complete); self.shift is where that pixel
        centre lies along the line, in steps from (x, y), so positions derived
        from the runs can be given relative to (x, y).
        """
        ctx = self.ctx
        ctx[_MAXRUNS] = maxruns
        ctx[_MAXLEN] = maxlen
        sx = int(x) + 0.5 if x >= 0 else x
        sy = int(y) + 0.5 if y >= 0 else y
        self.shift = ((sx - x) * ex + (sy - y) * ey) / (ex * ex + ey * ey)
        k = _trace(self.frame, self.thr, ctx, int(sx * 256.0), int(sy * 256.0), int(ex * 256.0), int(ey * 256.0), self.tr)
        return k, ctx[_FIRST], ctx[_STOP] == 0

    def both_ways(self, x, y, ex, ey, nruns, maxlen):
        """nruns complete runs forward and backward from a dark pixel at (x, y).

        Returns (forward runs, backward runs, shift) or None; run 0 of each
        side includes the start pixel.
        """
        tr = self.tr
        k, col, full = self.runs(x, y, ex, ey, nruns, maxlen)
        self.f0 = tr[0]
        if k < nruns or col != 1 or not full:
            return None
        fwd = tuple(tr[i] for i in range(nruns))
        sh = self.shift
        k, col, full = self.runs(x, y, -ex, -ey, nruns, maxlen)
        if k < nruns or not full:
            return None
        return fwd, tuple(tr[i] for i in range(nruns)), sh

    def cross(self, x, y, ex, ey, maxlen, tol):
        """Finder cross-check through (x, y) along (ex, ey) (max component 1).

        Returns (centre offset, total, back ring middle, front ring middle) in
        steps along the line, or None when the runs are not 1:1:3:1:1.
        """
        r = self.both_ways(x, y, ex, ey, 3, maxlen)
        if r is None:
            return None
        (f0, f1, f2), (b0, b1, b2), sh = r
        if not _pattern_ok(b2, b1, b0 + f0 - 1, f1, f2, tol):
            return None
        # ring middles: from the outer edge when the ring run looks like one
        # module, else from the inner edge (blur can merge the ring with the
        # dark modules beyond the separator)
        ms = (b1 + b0 + f0 - 1 + f1) / 5.0
        if 0.5 * ms <= f2 <= 1.6 * ms:
            mf = f0 + f1 + f2 * 0.5 - 0.5
        else:
            mf = f0 + f1 + ms * 0.5 - 0.5
        if 0.5 * ms <= b2 <= 1.6 * ms:
            mb = -(b0 + b1 + b2 * 0.5 - 0.5)
        else:
            mb = -(b0 + b1 + ms * 0.5 - 0.5)
        return (mf + mb) * 0.5 + sh, b0 + f0 - 1 + b1 + b2 + f1 + f2, mb + sh, mf + sh

    def confirm(self, x, y, size, inv):
        """A finder [x, y, module, hits, inv] around a row candidate, or None."""
        self.set_polarity(inv)
        key = int(x) * 2 + inv
        dead = self.dead
        if key in dead and y <= dead[key]:
            return None
        lim = 2 * size + 8
        r = self.cross(x, y, 0.0, 1.0, lim, 0.75)
        if r is None:
            dead[key] = y + self.f0
            return None
        y += r[0]
        vt = r[1]
        if vt * 3 < size or vt > size * 3:
            return None
        r = self.cross(x, y, 1.0, 0.0, lim, 0.75)
        if r is None:
            return None
        x += r[0]
        ht = r[1]
        r = self.cross(x, y, 0.0, 1.0, lim, 0.75)
        if r is None:
            return None
        y += r[0]
        vt = r[1]
        d1 = self.cross(x, y, 1.0, 1.0, lim, 0.75)
        if d1 is None:
            return None
        d2 = self.cross(x, y, 1.0, -1.0, lim, 0.75)
        if d2 is None:
            return None
        # a square's width through its centre varies by at most sqrt(2) with the angle
        lens = (ht, vt, d1[1] * 1.4142, d2[1] * 1.4142)
        if max(lens) > 1.8 * min(lens):
            return None
        return [x, y, (ht + vt) / 14.0, 1, inv]

    def axis(self, x, y, ux, uy, ms):
        """Ring middles of the finder at (x, y) along unit direction (ux, uy): (back pt, front pt) or None."""
        m = abs(ux) if abs(ux) > abs(uy) else abs(uy)
        ex = ux / m
        ey = uy / m
        r = self.cross(x, y, ex, ey, int(12 * ms * m) + 6, 0.8)
        if r is None:
            return None
        return (x + r[2] * ex, y + r[2] * ey), (x + r[3] * ex, y + r[3] * ey)

    def find_alignment(self, px, py, ms, radius):
        """Centre (x, y) of the alignment pattern nearest (px, py) within radius px, or None.

        Looks for light-dark-light runs of about one module, framed by dark,
        along rows; confirms along the column and re-centres on the row.
        """
        tr = self.tr
        x0 = px - radius
        best = None
        best_d = radius * radius * 2.0
        maxruns = 60
        lo = 0.45 * ms
        hi = 1.8 * ms
        y = py - radius
        ystep = 1.0 if ms < 6 else ms / 6.0
        while y <= py + radius:
            k, col, full = self.runs(x0, y, 1.0, 0.0, maxruns, int(2 * radius) + 1)
            pos = self.shift
            for i in range(k):
                # run i spans [pos, pos + tr[i]); colour alternates from col
                c = col if i % 2 == 0 else 1 - col
                ln = tr[i]
                if c == 1 and 0 < i < k - 1 and lo <= ln <= hi and lo <= tr[i - 1] <= hi and lo <= tr[i + 1] <= hi:
                    cx = x0 + pos + ln * 0.5 - 0.5
                    d = (cx - px) * (cx - px) + (y - py) * (y - py)
                    if d < best_d:
                        c2 = self._align_confirm(cx, y, ms, lo, hi)
                        if c2 is not None:
                            d = (c2[0] - px) * (c2[0] - px) + (c2[1] - py) * (c2[1] - py)
                            if d < best_d:
                                best_d = d
                                best = c2
                pos += ln
            y += ystep
        return best

    def _align_confirm(self, x, y, ms, lo, hi):
        lim = int(4 * ms) + 4
        out = [x, y]
        for axis in (1, 0, 1):
            ex = 1.0 if axis == 0 else 0.0
            r = self.both_ways(out[0], out[1], ex, 1.0 - ex, 2, lim)
            if r is None:
                return None
            (f0, f1), (b0, b1), sh = r
            mid = f0 + b0 - 1
            if not (lo <= mid <= hi and lo <= f1 <= hi and lo <= b1 <= hi):
                return None
            out[axis] = out[axis] + (f0 - b0) * 0.5 + sh
        return out
