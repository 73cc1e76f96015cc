"""The QR decoding pipeline for one grayscale frame, as resumable steps.

`Decoder(width, height)` allocates every working buffer once (see
`memory()`); `decoder.steps(frame)` is a generator that does one bounded
slice of work per iteration (a band of rows, a finder, one decode attempt),
so an asyncio task can `await asyncio.sleep(0)` between slices;
`decoder.decode(frame)` runs them all. Results are `QRCode` objects.
"""

from array import array

from vitale.compat import import_hot, HAS_NATIVE_EMITTER
from vitale.vision.qr import tables, symbol, segments
from vitale.vision.qr.errors import QRError
from vitale.vision.qr.detect import Scene, FX, FY, FMS, FHITS, FINV
from vitale.vision.qr.locate import rank_triples, Layout
from vitale.vision.qr.homography import fixed_point

_bin = import_hot("vitale.vision.qr.binarize")
_runs = import_hot("vitale.vision.qr.runs")
_sample = import_hot("vitale.vision.qr.sample")
_rs = import_hot("vitale.vision.qr.rs")

MIN_SIDE = 21  # smallest frame side that can hold a symbol
MAX_SIDE = 4096
_BAND = 32  # pixel rows per scan slice
_CAP = 400  # row candidates kept per frame
_MAX_FINDERS = 12  # confirmed finders considered for grouping
_MAX_TRIPLES = 16  # triples tried per frame
_MIN_RANGE = 24  # grey-level spread below which a block is flat
ROW_STEP = 2  # finder scan looks at every ROW_STEP-th row
SCAN_TOL = 3  # row pattern: outer runs within +-SCAN_TOL/4 module
_MIN_TIMING = 0.6  # timing-pattern agreement needed before a full decode attempt


class FrameError(QRError):
    """The frame buffer does not match its stated size."""


class QRCode:
    """One decoded symbol: payload bytes and how it was read."""

    def __init__(self, payload, version, level, mask, mirrored, inverted, corrected, ecis):
        self.payload = payload
        self.version = version
        self.level = "LMQH"[level]
        self.mask = mask
        self.mirrored = mirrored
        self.inverted = inverted
        self.corrected = corrected
        self.ecis = ecis

    def __repr__(self):
        return "QRCode(V%d-%s, %d bytes)" % (self.version, self.level, len(self.payload))


class Decoder:
    """Reusable decoder for frames of one size; all working memory is allocated here."""

    def __init__(self, width, height):
        if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
            raise FrameError("unsupported frame size")
        self.w = width
        self.h = height
        self.bw = (width + 7) >> 3
        self.bh = (height + 7) >> 3
        nb = self.bw * self.bh
        self.raw = bytearray(nb)
        self.thr = bytearray(nb)
        self.sums = array("H", bytes(2 * nb))
        self.ctx = array("i", bytes(4 * _runs.CTX_SIZE))
        self.cand = array("i", bytes(16 * _CAP))
        self.hp = array("i", bytes(4 * 9))
        nmax = tables.size(tables.MAX_VERSION)
        self.grid = bytearray(nmax * nmax)
        total = tables.total_codewords(tables.MAX_VERSION)
        self.cw = bytearray(total)
        self.blk = bytearray(total)
        self.data = bytearray(total)
        self.rs = _rs.Corrector()
        self.copy = None
        self.results = []
        self.stats = {}

    def memory(self):
        """Bytes of working buffers (frame copy included when the plain fallback needs one)."""
        n = len(self.raw) + len(self.thr) + 2 * len(self.sums) + 4 * len(self.ctx) + 4 * len(self.cand)
        n += len(self.grid) + len(self.cw) + len(self.blk) + len(self.data) + 36
        n += 5 * 69
        if self.copy is not None:
            n += len(self.copy)
        return n

    def _prepare(self, frame):
        if len(frame) < self.w * self.h:
            raise FrameError("frame shorter than width*height")
        if HAS_NATIVE_EMITTER or isinstance(frame, (bytes, bytearray)):
            return frame
        # plain fallback: the hot loops index the buffer directly, so signed
        # camera memoryviews ('b') are copied once into an unsigned bytearray
        if self.copy is None:
            self.copy = bytearray(self.w * self.h)
        self.copy[:] = memoryview(frame)[: self.w * self.h]
        return self.copy

    def decode(self, frame):
        """All symbols found in the frame, as QRCode objects (empty list if none)."""
        for _ in self.steps(frame):
            pass
        return self.results

    def steps(self, frame):
        """Generator: one slice of decoding work per iteration; results land in self.results."""
        self.results = []
        self.stats = {}
        frame = self._prepare(frame)
        w = self.w
        h = self.h
        ctx = self.ctx
        ctx[0] = w
        ctx[1] = h
        ctx[2] = self.bw
        ctx[3] = 0
        ctx[4] = ROW_STEP
        ctx[5] = 0
        ctx[6] = _CAP
        ctx[11] = SCAN_TOL
        by = 0
        while by < self.bh:
            _bin.block_raw(frame, w, h, by, min(by + (_BAND >> 3), self.bh), _MIN_RANGE, self.raw)
            by += _BAND >> 3
            yield
        _bin.smooth(self.raw, self.bw, self.bh, self.sums, self.thr)
        yield
        scene = Scene(frame, self.thr, ctx)
        finders = []  # type: list
        y = 0
        step = ctx[4]
        while y < h:
            # candidates are confirmed band by band, so the buffer never fills up
            ctx[5] = 0
            _runs.scan_rows(frame, self.thr, ctx, y, min(y + _BAND, h), self.cand)
            self.stats["candidates"] = self.stats.get("candidates", 0) + ctx[5]
            y += _BAND
            # keep the row phase across bands
            y += (step - _BAND % step) % step
            self._confirm(scene, finders, ctx[5])
            yield
        finders.sort(key=lambda f: -f[FHITS])
        finders = finders[:_MAX_FINDERS]
        self.stats["finders"] = len(finders)
        triples = rank_triples(finders, _MAX_TRIPLES)
        seen = []  # type: list
        for t in triples:
            _, c, a, b = t
            if c in seen or a in seen or b in seen:
                continue
            code = None
            for code in self._try_triple(scene, c, a, b):
                yield
            if code is not None:
                self.results.append(code)
                seen.extend((c, a, b))

    def _confirm(self, scene, finders, ncand):
        cand = self.cand
        for i in range(ncand):
            k = 4 * i
            cx = cand[k] * 0.5
            cy = cand[k + 1] + 0.5
            size = cand[k + 2]
            inv = cand[k + 3]
            hit = None
            for f in finders:
                if f[FINV] == inv and abs(f[FX] - cx) < 2.5 * f[FMS] and abs(f[FY] - cy) < 2.5 * f[FMS]:
                    hit = f
                    break
            if hit is not None:
                hit[FHITS] += 1
                continue
            f = scene.confirm(cx, cy, size, inv)
            if f is not None:
                for g in finders:
                    if g[FINV] == inv and abs(g[FX] - f[FX]) < 2 * g[FMS] and abs(g[FY] - f[FY]) < 2 * g[FMS]:
                        g[FHITS] += 1
                        f = None
                        break
                if f is not None:
                    finders.append(f)

    def _try_triple(self, scene, c, a, b):
        # generator: yields None per attempt, finally the QRCode (or None)
        scene.set_polarity(c[FINV])
        try:
            lay = Layout(scene, c, a, b)
            versions = lay.version_candidates()
        except QRError:
            yield None
            return
        # the timing patterns, read through the finder-only fit, rank the versions
        # and reject triples that are not a symbol at all
        ranked = []
        for version in versions:
            try:
                h0 = lay.initial(version)
                ranked.append((lay.timing(h0, version), version, h0))
            except QRError:
                pass
        ranked.sort(key=lambda t: -t[0])
        yield None
        for score, version, h0 in ranked:
            if score < _MIN_TIMING:
                break
            try:
                hs = lay.homographies(version, h0)
            except QRError:
                yield None
                continue
            for hm in hs:
                try:
                    code = self._decode_with(scene, hm, version, c[FINV])
                except QRError:
                    code = None
                if code is not None:
                    yield code
                    return
                yield None

    def _decode_with(self, scene, hm, version, inv):
        n = tables.size(version)
        fixed_point(hm, n, self.hp)
        self.ctx[3] = inv
        outside = _sample.sample_grid(scene.frame, self.thr, self.ctx, self.hp, n, self.grid)
        if outside * 10 > n * n:
            raise FrameError("symbol mostly outside the frame")
        try:
            return self._decode_grid(self.grid, n, version, 0, inv)
        except QRError:
            # a mirrored symbol reads normally once transposed
            symbol.transpose(self.grid, n)
            return self._decode_grid(self.grid, n, version, 1, inv)

    def _decode_grid(self, grid, n, version, mirrored, inv):
        level, mask, _ = symbol.read_format(grid, n)
        if version >= 7:
            v = symbol.read_version(grid, n)
            if v > 0 and v != version:
                raise symbol.FormatError("version information disagrees with the grid size")
        total = tables.total_codewords(version)
        raw = memoryview(self.cw)[:total]
        got = symbol.codewords(grid, version, mask, raw)
        if got != total:
            raise symbol.FormatError("symbol shorter than its version")
        layout = symbol.deinterleave(raw, version, level, self.blk)
        ecc = layout[0][1] - layout[0][2]
        max_err = (ecc - tables.misdecode_protection(version, level)) // 2
        corrected = 0
        k = 0
        blk = self.blk
        data = self.data
        for off, bl, dl in layout:
            block = bytearray(blk[off : off + bl])
            corrected += self.rs.correct(block, ecc, max_err)
            for j in range(dl):
                data[k + j] = block[j]
            k += dl
        payload, ecis = segments.parse(data, k, version)
        return QRCode(payload, version, level, mask, mirrored, inv, corrected, ecis)
