"""QR symbol constants: block structure, alignment positions, format and version words.

Everything is derived from ISO/IEC 18004 rules at import time; only the two
per-level tables (ECC codewords per block, number of blocks) are stored.
Level index: 0 = L, 1 = M, 2 = Q, 3 = H (the order of increasing redundancy);
the format word's two level bits map to it through LEVEL_FROM_BITS.
"""

from vitale.compat import const

MAX_VERSION = const(40)

LEVEL_NAMES = "LMQH"
# format bits (01=L, 00=M, 11=Q, 10=H) -> level index
LEVEL_FROM_BITS = (1, 0, 3, 2)

# ECC codewords per block, versions 1..40, per level L, M, Q, H
_ECC_PER_BLOCK = (
    b"\x07\x0a\x0f\x14\x1a\x12\x14\x18\x1e\x12\x14\x18\x1a\x1e\x16\x18\x1c\x1e\x1c\x1c"
    b"\x1c\x1c\x1e\x1e\x1a\x1c\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e",
    b"\x0a\x10\x1a\x12\x18\x10\x12\x16\x16\x1a\x1e\x16\x16\x18\x18\x1c\x1c\x1a\x1a\x1a"
    b"\x1a\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c\x1c",
    b"\x0d\x16\x12\x1a\x12\x18\x12\x16\x14\x18\x1c\x1a\x18\x14\x1e\x18\x1c\x1c\x1a\x1e"
    b"\x1c\x1e\x1e\x1e\x1e\x1c\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e",
    b"\x11\x1c\x16\x10\x16\x1c\x1a\x1a\x18\x1c\x18\x1c\x16\x18\x18\x1e\x1c\x1c\x1a\x1c"
    b"\x1e\x18\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e",
)

# number of RS blocks, versions 1..40, per level L, M, Q, H
_NUM_BLOCKS = (
    b"\x01\x01\x01\x01\x01\x02\x02\x02\x02\x04\x04\x04\x04\x04\x06\x06\x06\x06\x07\x08"
    b"\x08\x09\x09\x0a\x0c\x0c\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x13\x14\x15\x16\x18\x19",
    b"\x01\x01\x01\x02\x02\x04\x04\x04\x05\x05\x05\x08\x09\x09\x0a\x0a\x0b\x0d\x0e\x10"
    b"\x11\x11\x12\x14\x15\x17\x19\x1a\x1c\x1d\x1f\x21\x23\x25\x26\x28\x2b\x2d\x2f\x31",
    b"\x01\x01\x02\x02\x04\x04\x06\x06\x08\x08\x08\x0a\x0c\x10\x0c\x11\x10\x12\x15\x14"
    b"\x17\x17\x19\x1b\x1d\x22\x22\x23\x26\x28\x2b\x2d\x30\x33\x35\x38\x3b\x3e\x41\x44",
    b"\x01\x01\x02\x04\x04\x04\x05\x06\x08\x08\x0b\x0b\x10\x10\x12\x10\x13\x15\x19\x19"
    b"\x19\x22\x1e\x20\x23\x25\x28\x2a\x2d\x30\x33\x36\x39\x3c\x3f\x42\x46\x4a\x4d\x51",
)


def size(version):
    """Modules per side of a symbol of this version."""
    return 4 * version + 17


def raw_modules(version):
    """Data + ECC modules of a version (everything but function patterns)."""
    r = (16 * version + 128) * version + 64
    if version >= 2:
        k = version // 7 + 2
        r -= (25 * k - 10) * k - 55
        if version >= 7:
            r -= 36
    return r


def total_codewords(version):
    """Codewords (data + ECC) of a version; remainder bits are dropped."""
    return raw_modules(version) >> 3


def misdecode_protection(version, level):
    """Codewords ISO 18004 reserves against mis-decoding (small symbols only)."""
    if version == 1:
        return (3, 2, 1, 1)[level]
    if version == 2 and level == 0:
        return 2
    if version == 3 and level == 0:
        return 1
    return 0


def blocks(version, level):
    """RS block layout: (ecc_per_block, n_short, data_short, n_long).

    Long blocks carry one more data codeword than short ones and come last.
    """
    ecc = _ECC_PER_BLOCK[level][version - 1]
    nb = _NUM_BLOCKS[level][version - 1]
    data = total_codewords(version) - nb * ecc
    n_long = data % nb
    return ecc, nb - n_long, data // nb, n_long


def data_codewords(version, level):
    """Data codewords a version/level symbol carries."""
    ecc, n_short, d_short, n_long = blocks(version, level)
    return n_short * d_short + n_long * (d_short + 1)


def alignment_positions(version):
    """Row/column coordinates of alignment pattern centres (empty for V1)."""
    if version == 1:
        return ()
    k = version // 7 + 2
    last = 4 * version + 10
    if version == 32:
        step = 26
    else:
        step = (version * 4 + k * 2 + 1) // (k * 2 - 2) * 2
    out = [6]
    pos = last - step * (k - 2)
    while pos <= last:
        out.append(pos)
        pos += step
    return tuple(out)


def _bch(value, nbits, gen, gen_deg):
    v = value << gen_deg
    top = nbits + gen_deg - 1
    while top >= gen_deg:
        if v >> top & 1:
            v ^= gen << (top - gen_deg)
        top -= 1
    return (value << gen_deg) | v


def _format_words():
    return tuple(_bch(i, 5, 0x537, 10) ^ 0x5412 for i in range(32))


def _version_words():
    return tuple(_bch(v, 6, 0x1F25, 12) for v in range(7, MAX_VERSION + 1))


# index = 5 data bits (2 level bits, 3 mask bits)
FORMAT_WORDS = _format_words()
# index = version - 7
VERSION_WORDS = _version_words()


def popcount(x):
    """Number of set bits of a non-negative int."""
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


def nearest(word, table, max_dist):
    """Index of the table entry nearest to word in Hamming distance, and that distance.

    Returns (-1, distance) when nothing is within max_dist.
    """
    best = -1
    best_d = max_dist + 1
    for i in range(len(table)):
        d = popcount(word ^ table[i])
        if d < best_d:
            best_d = d
            best = i
    if best < 0:
        return -1, best_d
    return best, best_d
