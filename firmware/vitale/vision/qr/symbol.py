"""Module-grid level of a QR symbol: function patterns, format and version info, codewords.

A grid is a bytearray of n*n module values (1 = dark), row-major, row 0 at
the top, as sampled from the frame.
"""

from vitale.compat import import_hot
from vitale.vision.qr import tables
from vitale.vision.qr.errors import QRError

_sample = import_hot("vitale.vision.qr.sample")


class FormatError(QRError):
    """Format or version information is unreadable."""


_func_cache = [0, None]  # type: list


def function_map(version):
    """bytearray n*n with 1 on function modules (finders, separators, timing, alignment, format, version)."""
    if _func_cache[0] == version:
        return _func_cache[1]
    n = tables.size(version)
    m = bytearray(n * n)

    def fill(r0, c0, rows, cols):
        for r in range(max(r0, 0), min(r0 + rows, n)):
            o = r * n
            for c in range(max(c0, 0), min(c0 + cols, n)):
                m[o + c] = 1

    fill(0, 0, 9, 9)  # top-left finder, separator, format
    fill(0, n - 8, 9, 8)  # top-right finder, separator, format
    fill(n - 8, 0, 8, 9)  # bottom-left finder, separator, format, dark module
    fill(6, 0, 1, n)  # timing row
    fill(0, 6, n, 1)  # timing column
    pos = tables.alignment_positions(version)
    last = len(pos) - 1
    for i in range(len(pos)):
        for j in range(len(pos)):
            if (i == 0 and j == 0) or (i == 0 and j == last) or (i == last and j == 0):
                continue
            fill(pos[i] - 2, pos[j] - 2, 5, 5)
    if version >= 7:
        fill(0, n - 11, 6, 3)
        fill(n - 11, 0, 3, 6)
    _func_cache[0] = version
    _func_cache[1] = m
    return m


def format_bits(grid, n):
    """The two 15-bit format words (copy 1 around the top-left finder, copy 2 split)."""
    a = 0
    for c in range(6):
        a = (a << 1) | grid[8 * n + c]
    a = (a << 1) | grid[8 * n + 7]
    a = (a << 1) | grid[8 * n + 8]
    a = (a << 1) | grid[7 * n + 8]
    for r in range(5, -1, -1):
        a = (a << 1) | grid[r * n + 8]
    b = 0
    for r in range(n - 1, n - 8, -1):
        b = (b << 1) | grid[r * n + 8]
    for c in range(n - 8, n):
        b = (b << 1) | grid[8 * n + c]
    return a, b


def read_format(grid, n):
    """(level index, mask id, Hamming distance) from the best of the two format copies."""
    a, b = format_bits(grid, n)
    ia, da = tables.nearest(a, tables.FORMAT_WORDS, 3)
    ib, db = tables.nearest(b, tables.FORMAT_WORDS, 3)
    if ia < 0 and ib < 0:
        raise FormatError("format information unreadable")
    if ia < 0 or (ib >= 0 and db < da):
        ia, da = ib, db
    return tables.LEVEL_FROM_BITS[ia >> 3], ia & 7, da


def version_bits(grid, n):
    """The two 18-bit version words (top-right block, bottom-left block)."""
    a = 0
    b = 0
    for k in range(17, -1, -1):
        r = k // 3
        c = n - 11 + k % 3
        a = (a << 1) | grid[r * n + c]
        b = (b << 1) | grid[c * n + r]
    return a, b


def decode_version_word(word):
    """Version (7..40) of an 18-bit version word within Hamming distance 3, else -1; and the distance."""
    i, d = tables.nearest(word, tables.VERSION_WORDS, 3)
    if i < 0:
        return -1, d
    return i + 7, d


def read_version(grid, n):
    """Version read from the grid's version blocks (V >= 7), or -1."""
    a, b = version_bits(grid, n)
    va, da = decode_version_word(a)
    vb, db = decode_version_word(b)
    if va < 0 or (vb >= 0 and db < da):
        return vb
    return va


def transpose(grid, n):
    """Mirror the grid about its main diagonal, in place (a mirrored symbol then reads normally)."""
    for r in range(n):
        o = r * n
        for c in range(r + 1, n):
            a = grid[o + c]
            grid[o + c] = grid[c * n + r]
            grid[c * n + r] = a


def codewords(grid, version, mask, out):
    """Unmasked codewords of the grid, in reading order, into out (len = total codewords)."""
    n = tables.size(version)
    return _sample.read_codewords(grid, function_map(version), n, mask, out)


def deinterleave(raw, version, level, out):
    """Copy the interleaved codewords into out block after block (data, then ECC of each).

    Returns the list of (offset in out, block length, data length).
    """
    ecc, n_short, d_short, n_long = tables.blocks(version, level)
    nb = n_short + n_long
    layout = []
    off = 0
    for i in range(nb):
        dl = d_short + (1 if i >= n_short else 0)
        layout.append((off, dl + ecc, dl))
        off += dl + ecc
    k = 0
    # data codewords: column j of every block that has it
    for j in range(d_short + 1):
        for i in range(nb):
            o, bl, dl = layout[i]
            if j < dl:
                out[o + j] = raw[k]
                k += 1
    for j in range(ecc):
        for i in range(nb):
            o, bl, dl = layout[i]
            out[o + dl + j] = raw[k]
            k += 1
    return layout
