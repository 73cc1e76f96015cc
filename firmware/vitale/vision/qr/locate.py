"""From three finder patterns to module-to-pixel homographies.

Triples of finders are ranked (right angle, equal legs, plausible size). For
a triple, each finder is probed along the code's two axes: the middles of the
finder's dark ring give points at known module coordinates that are not
biased by how much the threshold thickens or thins dark areas. The version
comes from the finder spacing, corrected by the version information blocks
(V >= 7) read through each finder's local frame. A first homography fitted to
the finder points predicts the bottom-right alignment pattern; the found
pattern (and, for V >= 7, every other alignment pattern) refines the fit by
least squares, with outliers dropped. No iterative "jiggle" search.
"""

from vitale.vision.qr import tables
from vitale.vision.qr.detect import FX, FY, FMS, FHITS, FINV
from vitale.vision.qr.homography import fit, apply, GeometryError
from vitale.vision.qr.symbol import decode_version_word


def rank_triples(finders, limit):
    """Up to `limit` plausible (score, corner, a, b) finder triples, best first."""
    out = []
    nf = len(finders)
    for i in range(nf):
        fi = finders[i]
        for j in range(i + 1, nf):
            fj = finders[j]
            if fj[FINV] != fi[FINV]:
                continue
            for k in range(j + 1, nf):
                fk = finders[k]
                if fk[FINV] != fi[FINV]:
                    continue
                ms = (fi[FMS], fj[FMS], fk[FMS])
                if max(ms) > 1.7 * min(ms):
                    continue
                best = None
                for c, a, b in ((fi, fj, fk), (fj, fi, fk), (fk, fi, fj)):
                    s = _corner_score(c, a, b)
                    if s is not None and (best is None or s < best[0]):
                        best = (s, c, a, b)
                if best is not None:
                    # finders confirmed on several rows are likelier to be real
                    q = 0.1 * (1.0 / fi[FHITS] + 1.0 / fj[FHITS] + 1.0 / fk[FHITS])
                    out.append((best[0] + q, best[1], best[2], best[3]))
    out.sort(key=lambda t: t[0])
    return out[:limit]


def _corner_score(c, a, b):
    ax = a[FX] - c[FX]
    ay = a[FY] - c[FY]
    bx = b[FX] - c[FX]
    by = b[FY] - c[FY]
    la = (ax * ax + ay * ay) ** 0.5
    lb = (bx * bx + by * by) ** 0.5
    ms = (a[FMS] + b[FMS] + 2 * c[FMS]) / 4.0
    if la < 10 * ms or lb < 10 * ms:
        return None
    if la > 1.7 * lb or lb > 1.7 * la:
        return None
    cos = (ax * bx + ay * by) / (la * lb)
    if cos > 0.5 or cos < -0.5:
        return None
    dim = (la + lb) * 0.5 / ms + 7
    if dim < 17 or dim > 200:
        return None
    return abs(cos) + abs(la / lb - 1.0)


def _unit(x, y):
    d = (x * x + y * y) ** 0.5
    if d < 1e-6:
        raise GeometryError("finders coincide")
    return x / d, y / d


class Layout:
    """Geometry of one finder triple: module frames at the finders, version candidates, homographies."""

    def __init__(self, scene, tl, tr, bl):
        # orientation: (tr - tl) x (bl - tl) > 0 in image coordinates (y down)
        if (tr[FX] - tl[FX]) * (bl[FY] - tl[FY]) - (tr[FY] - tl[FY]) * (bl[FX] - tl[FX]) < 0:
            tr, bl = bl, tr
        self.scene = scene
        self.tl = tl
        self.tr = tr
        self.bl = bl
        u = _unit(tr[FX] - tl[FX], tr[FY] - tl[FY])
        v = _unit(bl[FX] - tl[FX], bl[FY] - tl[FY])
        self.probes = {}
        # (finder, axis): (back point, front point) of the ring middles
        for name, f in (("tl", tl), ("tr", tr), ("bl", bl)):
            for ax, d in (("u", u), ("v", v)):
                p = scene.axis(f[FX], f[FY], d[0], d[1], f[FMS])
                if p is None:
                    ms = f[FMS] * 3.0
                    p = ((f[FX] - d[0] * ms, f[FY] - d[1] * ms), (f[FX] + d[0] * ms, f[FY] + d[1] * ms))
                self.probes[name + ax] = p
        self.u = u
        self.v = v

    def _ms(self, key):
        b, f = self.probes[key]
        return ((f[0] - b[0]) ** 2 + (f[1] - b[1]) ** 2) ** 0.5 / 6.0

    def estimated_version(self):
        """Version from the finder spacing (may be off by one or two on tilted codes)."""
        tl, tr, bl = self.tl, self.tr, self.bl
        du = ((tr[FX] - tl[FX]) ** 2 + (tr[FY] - tl[FY]) ** 2) ** 0.5 / ((self._ms("tlu") + self._ms("tru")) * 0.5)
        dv = ((bl[FX] - tl[FX]) ** 2 + (bl[FY] - tl[FY]) ** 2) ** 0.5 / ((self._ms("tlv") + self._ms("blv")) * 0.5)
        n = (du + dv) * 0.5 + 7
        v = int((n - 17) / 4.0 + 0.5)
        return min(max(v, 1), tables.MAX_VERSION)

    def _frame(self, name):
        bu, fu = self.probes[name + "u"]
        bv, fv = self.probes[name + "v"]
        ux = (fu[0] - bu[0]) / 6.0
        uy = (fu[1] - bu[1]) / 6.0
        vx = (fv[0] - bv[0]) / 6.0
        vy = (fv[1] - bv[1]) / 6.0
        cx = (fu[0] + bu[0] + fv[0] + bv[0]) * 0.25
        cy = (fu[1] + bu[1] + fv[1] + bv[1]) * 0.25
        return cx, cy, ux, uy, vx, vy

    def _read_word(self, name, transposed):
        cx, cy, ux, uy, vx, vy = self._frame(name)
        scene = self.scene
        word = 0
        for k in range(17, -1, -1):
            a = -7 + k % 3
            b = k // 3 - 3
            if transposed:
                a, b = b, a
            x = cx + a * ux + b * vx
            y = cy + a * uy + b * vy
            d = scene.dark(x, y)
            if d == 2:
                return -1
            word = (word << 1) | d
        return word

    def read_version(self):
        """Version from the version information blocks next to the top-right and bottom-left finders, or -1."""
        best = -1
        best_d = 4
        for name, transposed in (("tr", False), ("bl", True)):
            w = self._read_word(name, transposed)
            if w < 0:
                continue
            v, d = decode_version_word(w)
            if v > 0 and d < best_d:
                best = v
                best_d = d
        return best

    def version_candidates(self):
        """Versions to try, most likely first."""
        est = self.estimated_version()
        out = []
        if est >= 6:
            v = self.read_version()
            if v > 0:
                out.append(v)
        for d in (0, -1, 1, -2, 2) if est >= 10 else (0, -1, 1):
            v = est + d
            if 1 <= v <= tables.MAX_VERSION and v not in out and (v < 7 or not out):
                out.append(v)
        return out

    def _finder_points(self, n):
        src = []
        dst = []
        spots = (("tl", 3.5, 3.5), ("tr", n - 3.5, 3.5), ("bl", 3.5, n - 3.5))
        for name, cu, cv in spots:
            bu, fu = self.probes[name + "u"]
            bv, fv = self.probes[name + "v"]
            src.append((cu - 3.0, cv))
            dst.append(bu)
            src.append((cu + 3.0, cv))
            dst.append(fu)
            src.append((cu, cv - 3.0))
            dst.append(bv)
            src.append((cu, cv + 3.0))
            dst.append(fv)
        return src, dst

    def initial(self, version):
        """Homography fitted to the finder rings only, for this version's grid size."""
        n = tables.size(version)
        src, dst = self._finder_points(n)
        h0 = fit(src, dst)
        # re-probe the finders along the axes h0 predicts, then refit
        scene = self.scene
        spots = (("tr", n - 3.5, 3.5, "v"), ("bl", 3.5, n - 3.5, "u"))
        changed = False
        for name, cu, cv, ax in spots:
            c = apply(h0, cu, cv)
            p = apply(h0, cu + (3.0 if ax == "u" else 0.0), cv + (3.0 if ax == "v" else 0.0))
            d = _unit(p[0] - c[0], p[1] - c[1])
            ms = ((p[0] - c[0]) ** 2 + (p[1] - c[1]) ** 2) ** 0.5 / 3.0
            r = scene.axis(c[0], c[1], d[0], d[1], ms)
            if r is not None:
                self.probes[name + ax] = r
                changed = True
        if changed:
            src, dst = self._finder_points(n)
            h0 = fit(src, dst)
        return h0

    def timing(self, h, version):
        """Agreement (0..1) of the better of the two timing patterns read through h."""
        n = tables.size(version)
        scene = self.scene
        good_r = 0
        good_c = 0
        for i in range(8, n - 8):
            want = 1 - (i & 1)
            try:
                x, y = apply(h, i + 0.5, 6.5)
                if scene.dark(x, y) == want:
                    good_r += 1
                x, y = apply(h, 6.5, i + 0.5)
                if scene.dark(x, y) == want:
                    good_c += 1
            except GeometryError:
                return 0.0
        return max(good_r, good_c) / (n - 16.0)

    def homographies(self, version, h0):
        """Homographies (module -> pixel) to try for this version, best first, refining h0."""
        n = tables.size(version)
        src, dst = self._finder_points(n)
        out = [h0]
        if version < 2:
            return out
        pos = tables.alignment_positions(version)
        last = len(pos) - 1
        weights = [1.0] * len(src)
        # bottom-right alignment pattern first: it fixes the perspective
        h = h0
        found = self._align(h, pos[last] + 0.5, pos[last] + 0.5, 4.0)
        if found is not None:
            src.append((pos[last] + 0.5, pos[last] + 0.5))
            dst.append(found)
            weights.append(4.0)
            h = fit(src, dst, weights)
        if version >= 7:
            # remaining alignment patterns, nearest to the finders first
            order = []
            for i in range(len(pos)):
                for j in range(len(pos)):
                    if (i == 0 and j == 0) or (i == 0 and j == last) or (i == last and j == 0) or (i == last and j == last):
                        continue
                    order.append((i + j, pos[j] + 0.5, pos[i] + 0.5))
            order.sort(key=lambda t: t[0])
            nfound = 0
            for _, au, av in order:
                p = self._align(h, au, av, 2.0)
                if p is not None:
                    src.append((au, av))
                    dst.append(p)
                    weights.append(2.0)
                    nfound += 1
                    if nfound % 4 == 0:
                        h = fit(src, dst, weights)
            if nfound:
                h = fit(src, dst, weights)
            h = _drop_outliers(h, src, dst, weights)
        out.insert(0, h)
        return out

    def _align(self, h, u, v, radius_modules):
        try:
            px, py = apply(h, u, v)
            qx, qy = apply(h, u + 1.0, v)
            rx, ry = apply(h, u, v + 1.0)
        except GeometryError:
            return None
        ms = (((qx - px) ** 2 + (qy - py) ** 2) ** 0.5 + ((rx - px) ** 2 + (ry - py) ** 2) ** 0.5) * 0.5
        if ms < 1.0:
            return None
        return self.scene.find_alignment(px, py, ms, radius_modules * ms)


def _drop_outliers(h, src, dst, weights):
    # refit without points more than ~0.75 module from where h puts them
    keep_s = []
    keep_d = []
    keep_w = []
    dropped = 0
    for i in range(len(src)):
        u, v = src[i]
        try:
            x, y = apply(h, u, v)
            x1, y1 = apply(h, u + 1.0, v)
        except GeometryError:
            dropped += 1
            continue
        ms2 = (x1 - x) ** 2 + (y1 - y) ** 2
        e2 = (dst[i][0] - x) ** 2 + (dst[i][1] - y) ** 2
        if e2 > 0.56 * ms2:
            dropped += 1
            continue
        keep_s.append(src[i])
        keep_d.append(dst[i])
        keep_w.append(weights[i])
    if dropped == 0 or len(keep_s) < 6:
        return h
    try:
        return fit(keep_s, keep_d, keep_w)
    except GeometryError:
        return h
