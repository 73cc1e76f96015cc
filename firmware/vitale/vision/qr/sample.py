"""Module sampling through a fixed-point homography, and codeword read-out (hot module, viper).

Import with `vitale.compat.import_hot("vitale.vision.qr.sample")`.

`hp` (array('i'), 9 values, see `grid.fixed_point`) holds the homography's
numerators x*d, y*d and denominator d at the centre of module (0, 0), then
their increments per module along a row (u) and down a column (v). Every
value is scaled so that it stays below 2**30: the integer arithmetic is the
same in viper (32-bit words) and in plain Python.
"""

from vitale.compat import micropython

from vitale.vision.qr.casts import ptr8, ptr32  # noqa: F401  (casts inside viper functions)


@micropython.viper
def sample_grid(frame, thr, ctx, hp, n: int, grid) -> int:
    """Fill grid (n*n bytes, row-major) with 1 for dark modules; returns modules outside the frame."""
    f = ptr8(frame)
    t = ptr8(thr)
    c = ptr32(ctx)
    p = ptr32(hp)
    g = ptr8(grid)
    w = int(c[0])
    h = int(c[1])
    bw = int(c[2])
    inv = int(c[3])
    nx0 = int(p[0])
    ny0 = int(p[1])
    d0 = int(p[2])
    xu = int(p[3])
    yu = int(p[4])
    du = int(p[5])
    xv = int(p[6])
    yv = int(p[7])
    dv = int(p[8])
    outside = 0
    r = 0
    while r < n:
        nx = nx0
        ny = ny0
        d = d0
        o = r * n
        col = 0
        while col < n:
            v = 0
            if d > 0 and nx >= 0 and ny >= 0:
                px = nx // d
                py = ny // d
                if px < w and py < h:
                    if int(f[py * w + px]) <= int(t[(py >> 3) * bw + (px >> 3)]):
                        v = 1
                else:
                    outside += 1
            else:
                outside += 1
            g[o + col] = v ^ inv
            nx += xu
            ny += yu
            d += du
            col += 1
        nx0 += xv
        ny0 += yv
        d0 += dv
        r += 1
    return outside


@micropython.viper
def read_codewords(grid, func, n: int, mask: int, out) -> int:
    """Unmask the data modules and pack them, in reading order, into out; returns bytes written."""
    g = ptr8(grid)
    fn = ptr8(func)
    o = ptr8(out)
    nbytes = int(len(out))
    acc = 0
    nbits = 0
    k = 0
    right = n - 1
    while right >= 1 and k < nbytes:
        if right == 6:
            right = 5
        up = 0
        if ((right + 1) & 2) == 0:
            up = 1
        vert = 0
        while vert < n:
            row = vert
            if up:
                row = n - 1 - vert
            j = 0
            while j < 2:
                col = right - j
                idx = row * n + col
                if int(fn[idx]) == 0:
                    bit = int(g[idx])
                    m = 0
                    if mask == 0:
                        m = (row + col) & 1
                    elif mask == 1:
                        m = row & 1
                    elif mask == 2:
                        m = col % 3
                    elif mask == 3:
                        m = (row + col) % 3
                    elif mask == 4:
                        m = ((row >> 1) + col // 3) & 1
                    elif mask == 5:
                        m = (row * col) % 2 + (row * col) % 3
                    elif mask == 6:
                        m = ((row * col) % 2 + (row * col) % 3) & 1
                    else:
                        m = ((row + col) % 2 + (row * col) % 3) & 1
                    if m == 0:
                        bit ^= 1
                    acc = (acc << 1) | bit
                    nbits += 1
                    if nbits == 8:
                        if k < nbytes:
                            o[k] = acc
                        k += 1
                        acc = 0
                        nbits = 0
                j += 1
            vert += 1
        right -= 2
    return k
