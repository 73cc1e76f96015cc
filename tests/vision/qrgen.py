"""A small independent QR encoder for the decoder's tests (host side, numpy).

It places arbitrary data codewords into a symbol (so tests can build damaged
and hostile symbols segno refuses to make). Block structure comes from
segno's tables, not from the firmware's; `test_qr_matrix.py` checks that this
encoder reproduces segno's symbols bit for bit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import segno.consts as sc

U8 = npt.NDArray[np.uint8]
LEVELS = "LMQH"
_LEVEL_BITS = {"L": 1, "M": 0, "Q": 3, "H": 2}
_SEGNO_LEVEL = {"L": sc.ERROR_LEVEL_L, "M": sc.ERROR_LEVEL_M, "Q": sc.ERROR_LEVEL_Q, "H": sc.ERROR_LEVEL_H}


def _gf_tables() -> tuple[list[int], list[int]]:
    exp = [0] * 512
    log = [0] * 256
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


EXP, LOG = _gf_tables()


def gmul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else EXP[LOG[a] + LOG[b]]


def rs_ecc(data: bytes, necc: int) -> bytes:
    """ECC codewords of data (generator roots alpha^0 .. alpha^(necc-1))."""
    g = [1]
    for i in range(necc):
        ng = [0] * (len(g) + 1)
        for j, c in enumerate(g):
            ng[j] ^= c
            ng[j + 1] ^= gmul(c, EXP[i])
        g = ng
    msg = list(data) + [0] * necc
    for i in range(len(data)):
        c = msg[i]
        if c:
            for j in range(1, len(g)):
                msg[i + j] ^= gmul(g[j], c)
    return bytes(msg[len(data) :])


def blocks(version: int, level: str) -> list[tuple[int, int]]:
    """(total, data) codewords of every RS block, in order."""
    out: list[tuple[int, int]] = []
    for ec in sc.ECC[version][_SEGNO_LEVEL[level]]:
        out += [(ec.num_total, ec.num_data)] * ec.num_blocks
    return out


def data_capacity(version: int, level: str) -> int:
    return sum(d for _, d in blocks(version, level))


def split_blocks(data: bytes, version: int, level: str) -> list[tuple[bytes, bytes]]:
    """(data, ecc) of each block for the data codewords."""
    out = []
    pos = 0
    for total, dl in blocks(version, level):
        d = data[pos : pos + dl]
        pos += dl
        out.append((d, rs_ecc(d, total - dl)))
    return out


def interleave(parts: list[tuple[bytes, bytes]]) -> bytes:
    """The transmitted codeword order of blocks given as (data, ecc)."""
    out = bytearray()
    for i in range(max(len(d) for d, _ in parts)):
        for d, _ in parts:
            if i < len(d):
                out.append(d[i])
    for i in range(len(parts[0][1])):
        for _, e in parts:
            out.append(e[i])
    return bytes(out)


def _bch(value: int, gen: int, deg: int) -> int:
    v = value << deg
    for top in range(v.bit_length() - 1, deg - 1, -1):
        if v >> top & 1:
            v ^= gen << (top - deg)
    return (value << deg) | v


def format_word(level: str, mask: int) -> int:
    return _bch((_LEVEL_BITS[level] << 3) | mask, 0x537, 10) ^ 0x5412


def version_word(version: int) -> int:
    return _bch(version, 0x1F25, 12)


def alignment_centres(version: int) -> list[int]:
    if version == 1:
        return []
    return list(sc.ALIGNMENT_POS[version - 2])


def _mask(mask: int, r: int, c: int) -> bool:
    if mask == 0:
        return (r + c) % 2 == 0
    if mask == 1:
        return r % 2 == 0
    if mask == 2:
        return c % 3 == 0
    if mask == 3:
        return (r + c) % 3 == 0
    if mask == 4:
        return (r // 2 + c // 3) % 2 == 0
    if mask == 5:
        return (r * c) % 2 + (r * c) % 3 == 0
    if mask == 6:
        return ((r * c) % 2 + (r * c) % 3) % 2 == 0
    return ((r + c) % 2 + (r * c) % 3) % 2 == 0


def function_patterns(version: int) -> tuple[U8, U8]:
    """(module values, 1 where a module is a function module) without format/version bits set."""
    n = 4 * version + 17
    m = np.zeros((n, n), np.uint8)
    f = np.zeros((n, n), np.uint8)
    for r0, c0 in ((0, 0), (0, n - 7), (n - 7, 0)):
        for r in range(-1, 8):
            for c in range(-1, 8):
                rr, cc = r0 + r, c0 + c
                if 0 <= rr < n and 0 <= cc < n:
                    ring = max(abs(r - 3), abs(c - 3))
                    m[rr, cc] = 1 if ring in (0, 1, 3) else 0
                    f[rr, cc] = 1
    for i in range(8, n - 8):
        m[6, i] = m[i, 6] = 1 if i % 2 == 0 else 0
        f[6, i] = f[i, 6] = 1
    pos = alignment_centres(version)
    corners = {(pos[0], pos[0]), (pos[0], pos[-1]), (pos[-1], pos[0])} if pos else set()
    for r in pos:
        for c in pos:
            if (r, c) in corners:
                continue
            for dr in range(-2, 3):
                for dc in range(-2, 3):
                    m[r + dr, c + dc] = 1 if max(abs(dr), abs(dc)) != 1 else 0
                    f[r + dr, c + dc] = 1
    # format areas, dark module, version areas
    f[8, 0:9] = 1
    f[0:9, 8] = 1
    f[8, n - 8 :] = 1
    f[n - 8 :, 8] = 1
    m[n - 8, 8] = 1
    if version >= 7:
        f[0:6, n - 11 : n - 8] = 1
        f[n - 11 : n - 8, 0:6] = 1
    return m, f


def data_positions(version: int) -> list[tuple[int, int]]:
    """(row, col) of every data module in reading order."""
    n = 4 * version + 17
    _, f = function_patterns(version)
    out = []
    right = n - 1
    while right >= 1:
        if right == 6:
            right = 5
        upward = ((right + 1) & 2) == 0
        for vert in range(n):
            r = n - 1 - vert if upward else vert
            for j in range(2):
                c = right - j
                if not f[r, c]:
                    out.append((r, c))
        right -= 2
    return out


def place(version: int, level: str, mask: int, codewords: bytes) -> U8:
    """Full module matrix carrying the interleaved codewords (remainder bits 0)."""
    n = 4 * version + 17
    m, _ = function_patterns(version)
    fw = format_word(level, mask)
    bits = [(fw >> (14 - i)) & 1 for i in range(15)]
    copy1 = [(8, 0), (8, 1), (8, 2), (8, 3), (8, 4), (8, 5), (8, 7), (8, 8), (7, 8)] + [(r, 8) for r in range(5, -1, -1)]
    copy2 = [(r, 8) for r in range(n - 1, n - 8, -1)] + [(8, c) for c in range(n - 8, n)]
    for (r, c), b in zip(copy1, bits):
        m[r, c] = b
    for (r, c), b in zip(copy2, bits):
        m[r, c] = b
    if version >= 7:
        vw = version_word(version)
        for k in range(18):
            b = (vw >> k) & 1
            m[k // 3, n - 11 + k % 3] = b
            m[n - 11 + k % 3, k // 3] = b
    pos = data_positions(version)
    for i, (r, c) in enumerate(pos):
        b = (codewords[i >> 3] >> (7 - (i & 7))) & 1 if (i >> 3) < len(codewords) else 0
        m[r, c] = b ^ (1 if _mask(mask, r, c) else 0)
    return m


def read_codewords(m: U8, version: int, mask: int) -> bytes:
    """The interleaved codeword stream of a module matrix (unmasked, remainder bits dropped)."""
    pos = data_positions(version)
    out = bytearray()
    acc = 0
    for i, (r, c) in enumerate(pos):
        acc = (acc << 1) | (int(m[r, c]) ^ (1 if _mask(mask, r, c) else 0))
        if i % 8 == 7:
            out.append(acc)
            acc = 0
    return bytes(out)


def deinterleave_data(stream: bytes, version: int, level: str) -> bytes:
    """Data codewords of an interleaved stream; ValueError when a block's ECC does not match."""
    bl = blocks(version, level)
    datas: list[bytearray] = [bytearray() for _ in bl]
    eccs: list[bytearray] = [bytearray() for _ in bl]
    k = 0
    for i in range(max(d for _, d in bl)):
        for j, (_, d) in enumerate(bl):
            if i < d:
                datas[j].append(stream[k])
                k += 1
    for i in range(bl[0][0] - bl[0][1]):
        for j in range(len(bl)):
            eccs[j].append(stream[k])
            k += 1
    for d, e in zip(datas, eccs):
        if rs_ecc(bytes(d), len(e)) != bytes(e):
            raise ValueError("ECC block does not verify")
    return b"".join(bytes(d) for d in datas)


def byte_mode_data(payload: bytes, version: int, level: str) -> bytes:
    """Data codewords of a byte-mode segment, terminated and padded."""
    cap = data_capacity(version, level)
    bits: list[int] = []

    def put(v: int, k: int) -> None:
        bits.extend((v >> (k - 1 - i)) & 1 for i in range(k))

    put(4, 4)
    put(len(payload), 8 if version <= 9 else 16)
    for b in payload:
        put(b, 8)
    if len(bits) > cap * 8:
        raise ValueError("payload too long")
    put(0, min(4, cap * 8 - len(bits)))
    bits += [0] * (-len(bits) % 8)
    out = bytearray(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
    pad = (0xEC, 0x11)
    while len(out) < cap:
        out.append(pad[(len(out) - len(bits) // 8) % 2])
    return bytes(out)


def symbol(data_codewords: bytes, version: int, level: str, mask: int) -> U8:
    """Module matrix for these data codewords (ECC computed, interleaved, placed)."""
    return place(version, level, mask, interleave(split_blocks(data_codewords, version, level)))


def to_image(m: U8, scale: int = 2, border: int = 4, invert: bool = False) -> U8:
    """Axis-aligned grayscale image of a module matrix: dark 20, light 235, quiet zone border."""
    n = m.shape[0]
    img = np.full((n + 2 * border, n + 2 * border), 235, np.uint8)
    img[border : border + n, border : border + n] = np.where(m > 0, 20, 235)
    if invert:
        img = 255 - img
    out: U8 = np.kron(img, np.ones((scale, scale), np.uint8))
    return out
