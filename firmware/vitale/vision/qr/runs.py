"""Run-length scans over a thresholded frame (hot module, viper).

`ctx` is an array('i') shared by the decoder's stages (indexes below). A pixel
is dark when it is <= the threshold of its 8x8 block; with ctx[INV] = 1 the
colours are swapped (light-on-dark codes).

Import with `vitale.compat.import_hot("vitale.vision.qr.runs")`.
"""

from vitale.compat import micropython, const

from vitale.vision.qr.casts import ptr8, ptr32  # noqa: F401  (casts inside viper functions)


# ctx layout
W = const(0)
H = const(1)
BW = const(2)
INV = const(3)
STEP = const(4)  # row step of the finder scan
NCAND = const(5)  # candidates written so far
CAP = const(6)  # candidate capacity (records of 4 ints)
MAXRUNS = const(7)  # runs trace() may record
MAXLEN = const(8)  # pixels trace() may walk
STOP = const(9)  # set by trace(): 1 when it stopped at the frame edge or MAXLEN
FIRST = const(10)  # set by trace(): colour of the first run (1 = dark)
TOL = const(11)  # scan_rows: outer runs within +-TOL/4 module (centre run within +-1.5 modules)
CTX_SIZE = const(12)


@micropython.viper
def scan_rows(frame, thr, ctx, y0: int, y1: int, out) -> int:
    """Rows y0, y0+step, ... < y1: record 1:1:3:1:1 run patterns of either polarity.

    Each record in out is (2*centre_x, y, width, polarity) with polarity 0 for a
    dark finder and 1 for a light one. Returns the number of records so far.
    """
    f = ptr8(frame)
    t = ptr8(thr)
    c = ptr32(ctx)
    o = ptr32(out)
    w = int(c[0])
    bw = int(c[2])
    step = int(c[4])
    n = int(c[5])
    cap = int(c[6])
    tol = int(c[11])
    y = y0
    while y < y1 and n < cap:
        base = y * w
        tb = (y >> 3) * bw
        r0 = 0
        r1 = 0
        r2 = 0
        r3 = 0
        run = 0
        cur = 2
        x = 0
        while x < w:
            d = 0
            if int(f[base + x]) <= int(t[tb + (x >> 3)]):
                d = 1
            if d == cur:
                run += 1
            else:
                if r0 != 0:
                    tot = r0 + r1 + r2 + r3 + run
                    if tot >= 7:
                        t3 = tol * tot
                        t4 = tot << 2
                        a = (r0 * 28) - t4
                        b = (r1 * 28) - t4
                        e = (r3 * 28) - t4
                        g = (run * 28) - t4
                        m = (r2 * 14) - 6 * tot
                        if (
                            a < t3
                            and a > 0 - t3
                            and b < t3
                            and b > 0 - t3
                            and e < t3
                            and e > 0 - t3
                            and g < t3
                            and g > 0 - t3
                            and m < 3 * tot
                            and m > 0 - 3 * tot
                        ):
                            if n < cap:
                                k = n << 2
                                o[k] = 2 * x - tot
                                o[k + 1] = y
                                o[k + 2] = tot
                                o[k + 3] = 1 - cur
                                n += 1
                r0 = r1
                r1 = r2
                r2 = r3
                r3 = run
                run = 1
                cur = d
            x += 1
        y += step
    c[5] = n
    return n


@micropython.viper
def trace(frame, thr, ctx, x: int, y: int, dx: int, dy: int, out) -> int:
    """Walk from (x, y) by (dx, dy) (all in 1/256 px) and record run lengths in out.

    out[0] is the run containing the start pixel; ctx[FIRST] gets its colour
    (1 = dark after ctx[INV]). Stops after ctx[MAXRUNS] complete runs, at the
    frame edge or after ctx[MAXLEN] steps (then ctx[STOP] = 1 and the last
    run in out is cut short). Returns the number of runs written.
    """
    f = ptr8(frame)
    t = ptr8(thr)
    c = ptr32(ctx)
    o = ptr32(out)
    w = int(c[0])
    h = int(c[1])
    bw = int(c[2])
    inv = int(c[3])
    maxruns = int(c[7])
    maxlen = int(c[8])
    c[9] = 1
    nr = 0
    run = 0
    cur = 2
    steps = 0
    while steps < maxlen:
        if x < 0 or y < 0:
            break
        px = x >> 8
        py = y >> 8
        if px >= w or py >= h:
            break
        d = inv
        if int(f[py * w + px]) <= int(t[(py >> 3) * bw + (px >> 3)]):
            d = 1 - inv
        if cur == 2:
            cur = d
            c[10] = d
        if d == cur:
            run += 1
        else:
            o[nr] = run
            nr += 1
            if nr >= maxruns:
                c[9] = 0
                return nr
            run = 1
            cur = d
        x += dx
        y += dy
        steps += 1
    if run > 0:
        o[nr] = run
        nr += 1
    return nr


@micropython.viper
def dark_at(frame, thr, ctx, x: int, y: int) -> int:
    """1 if pixel (x, y) is dark (after ctx[INV]), 0 if light, 2 if outside the frame."""
    f = ptr8(frame)
    t = ptr8(thr)
    c = ptr32(ctx)
    w = int(c[0])
    if x < 0 or y < 0 or x >= w or y >= int(c[1]):
        return 2
    inv = int(c[3])
    if int(f[y * w + x]) <= int(t[(y >> 3) * int(c[2]) + (x >> 3)]):
        return 1 - inv
    return inv
