"""Local block thresholds for an 8-bit grayscale frame (hot module, viper).

The frame is cut into 8x8-pixel blocks. A block whose pixels span more than
`min_range` grey levels gets the raw threshold (min + max) / 2; a flat block
is "unknown" (0). Each block's final threshold is the mean of the known raw
thresholds in its 5x5 block neighbourhood; blocks with none take the value of
the nearest filled block along rows, then columns. A pixel is dark when it is
<= its block's threshold. This survives glare and vignetting, where a single
global threshold does not.

Import with `vitale.compat.import_hot("vitale.vision.qr.binarize")`.
Buffers: frame (w*h bytes, unsigned reads), raw/thr (bw*bh bytes),
sums (array("H") of bw*bh).
"""

from vitale.compat import micropython

from vitale.vision.qr.casts import ptr8, ptr16  # noqa: F401  (casts inside viper functions)


@micropython.viper
def block_raw(frame, w: int, h: int, by0: int, by1: int, min_range: int, raw) -> int:
    """Raw thresholds of block rows by0..by1-1 into raw; returns the number of known blocks.

    Looks at every other row of a block (a module is at least ~1.5 px, so a
    dark or light feature still shows in the block's extremes).
    """
    f = ptr8(frame)
    r = ptr8(raw)
    bw = (w + 7) >> 3
    known = 0
    by = by0
    while by < by1:
        ys = by << 3
        ye = ys + 8
        if ye > h:
            ye = h
        bx = 0
        while bx < bw:
            xs = bx << 3
            xe = xs + 8
            if xe > w:
                xe = w
            mn = 255
            mx = 0
            y = ys
            while y < ye:
                o = y * w
                for x in range(o + xs, o + xe):
                    v = int(f[x])
                    if v < mn:
                        mn = v
                    if v > mx:
                        mx = v
                y += 2
            if mx - mn > min_range:
                r[by * bw + bx] = (mn + mx + 1) >> 1
                known += 1
            else:
                r[by * bw + bx] = 0
            bx += 1
        by += 1
    return known


@micropython.viper
def smooth(raw, bw: int, bh: int, sums, thr) -> int:
    """5x5 mean of known raw thresholds into thr, then fill unknown blocks; returns unknown count."""
    r = ptr8(raw)
    s = ptr16(sums)
    t = ptr8(thr)
    # horizontal pass: sum and count of known values over bx-2..bx+2
    # (sum in the low 13 bits, count in the top 3)
    by = 0
    while by < bh:
        o = by * bw
        bx = 0
        while bx < bw:
            acc = 0
            cnt = 0
            k = bx - 2
            while k <= bx + 2:
                if k >= 0 and k < bw:
                    v = int(r[o + k])
                    if v != 0:
                        acc += v
                        cnt += 1
                k += 1
            s[o + bx] = acc | (cnt << 13)
            bx += 1
        by += 1
    # vertical pass
    unknown = 0
    bx = 0
    while bx < bw:
        by = 0
        while by < bh:
            acc = 0
            cnt = 0
            k = by - 2
            while k <= by + 2:
                if k >= 0 and k < bh:
                    v = int(s[k * bw + bx])
                    acc += v & 0x1FFF
                    cnt += v >> 13
                k += 1
            if cnt != 0:
                t[by * bw + bx] = acc // cnt
            else:
                t[by * bw + bx] = 0
                unknown += 1
            by += 1
        bx += 1
    if unknown == 0:
        return 0
    # fill: forward along rows, then backward, then down and up the columns
    by = 0
    while by < bh:
        o = by * bw
        last = 0
        bx = 0
        while bx < bw:
            v = int(t[o + bx])
            if v != 0:
                last = v
            elif last != 0:
                t[o + bx] = last
            bx += 1
        last = 0
        bx = bw - 1
        while bx >= 0:
            v = int(t[o + bx])
            if v != 0:
                last = v
            elif last != 0:
                t[o + bx] = last
            bx -= 1
        by += 1
    bx = 0
    while bx < bw:
        last = 0
        by = 0
        while by < bh:
            v = int(t[by * bw + bx])
            if v != 0:
                last = v
            elif last != 0:
                t[by * bw + bx] = last
            by += 1
        last = 0
        by = bh - 1
        while by >= 0:
            v = int(t[by * bw + bx])
            if v != 0:
                last = v
            elif last != 0:
                t[by * bw + bx] = last
            by -= 1
        bx += 1
    return unknown
