"""GF(256) Reed-Solomon decoding and the QR constant tables (format/version BCH, blocks, alignment)."""

from fwsupport import report
from test_qr_support import Lcg

from vitale.compat import import_hot
from vitale.vision.qr import tables

rs = import_hot("vitale.vision.qr.rs")


def _generator(ecc):
    g = [1]
    for i in range(ecc):
        ng = [0] * (len(g) + 1)
        for j in range(len(g)):
            ng[j] ^= g[j]
            ng[j + 1] ^= rs.mul(g[j], rs.EXP[i])
        g = ng
    return g


def encode(data, ecc):
    """data + its RS ECC codewords (QR convention: generator roots alpha^0..alpha^(ecc-1))."""
    g = _generator(ecc)
    msg = list(data) + [0] * ecc
    for i in range(len(data)):
        c = msg[i]
        if c:
            for j in range(1, len(g)):
                msg[i + j] ^= rs.mul(g[j], c)
    return bytes(data) + bytes(msg[len(data) :])


def _corrupt(block, k, rng):
    positions = []
    while len(positions) < k:
        p = rng.below(len(block))
        if p not in positions:
            positions.append(p)
    for p in positions:
        block[p] ^= 1 + rng.below(255)


def test_field_tables():
    for a in range(1, 256):
        assert rs.EXP[rs.LOG[a]] == a
        assert rs.mul(a, rs.div(1, a)) == 1
    assert rs.EXP[8] == 0x1D  # alpha^8 = x^4 + x^3 + x^2 + 1 (poly 0x11D)
    assert rs.mul(0, 7) == 0 and rs.div(0, 7) == 0


def test_corrects_up_to_capacity():
    rng = Lcg(11)
    dec = rs.Corrector()
    checked = 0
    for ecc in (7, 10, 13, 17, 22, 24, 26, 28, 30):
        for dlen in (1, 9, 40, 100):
            data = bytes(rng.below(256) for _ in range(dlen))
            cw = encode(data, ecc)
            for k in range(ecc // 2 + 1):
                b = bytearray(cw)
                _corrupt(b, k, rng)
                assert dec.correct(b, ecc, ecc // 2) == k
                assert bytes(b) == cw
                checked += 1
    report("qr rs corrections", blocks=checked)


def test_refuses_one_error_more_than_capacity():
    rng = Lcg(5)
    dec = rs.Corrector()
    refused = 0
    for ecc in (7, 10, 16, 22, 24, 30):
        for trial in range(6):
            cw = encode(bytes(rng.below(256) for _ in range(30)), ecc)
            b = bytearray(cw)
            _corrupt(b, ecc // 2 + 1, rng)
            try:
                dec.correct(b, ecc, ecc // 2)
            except rs.RSError:
                refused += 1
            else:
                raise AssertionError("t+1 errors accepted")
    report("qr rs refusals", blocks=refused)


def test_limit_below_capacity_is_enforced():
    # ISO 18004 reserves misdecode-protection codewords in small symbols (V1-L corrects 2, not 3)
    rng = Lcg(3)
    cw = encode(bytes(range(19)), 7)
    b = bytearray(cw)
    _corrupt(b, 3, rng)
    try:
        rs.Corrector().correct(b, 7, (7 - tables.misdecode_protection(1, 0)) // 2)
    except rs.RSError:
        pass
    else:
        raise AssertionError("3 errors corrected in a V1-L block")


def test_bad_geometry_is_refused():
    dec = rs.Corrector()
    for blk, ecc in ((bytearray(5), 5), (bytearray(300), 10), (bytearray(20), 0)):
        try:
            dec.correct(blk, ecc, 2)
        except rs.RSError:
            pass
        else:
            raise AssertionError("bad block accepted")


def _min_distance(words):
    best = 99
    for i in range(len(words)):
        for j in range(i + 1, len(words)):
            d = tables.popcount(words[i] ^ words[j])
            if d < best:
                best = d
    return best


def test_format_and_version_words():
    assert tables.FORMAT_WORDS[0] == 0x5412 and tables.FORMAT_WORDS[31] == 0x2BED
    assert tables.VERSION_WORDS[0] == 0x07C94 and tables.VERSION_WORDS[-1] == 0x28C69
    assert _min_distance(tables.FORMAT_WORDS) >= 7
    assert _min_distance(tables.VERSION_WORDS) >= 8
    assert tables.nearest(0x5412 ^ 0b101, tables.FORMAT_WORDS, 3) == (0, 2)
    assert tables.nearest(0x5412 ^ 0b1111, tables.FORMAT_WORDS, 3)[0] == -1


def test_block_tables_and_alignment():
    # ISO 18004 Table 9 spot checks: (total codewords, data codewords for L, M, Q, H)
    known = {
        1: (26, (19, 16, 13, 9)),
        5: (134, (108, 86, 62, 46)),
        10: (346, (274, 216, 154, 122)),
        15: (655, (523, 415, 295, 223)),
        25: (1588, (1276, 1000, 718, 538)),
        40: (3706, (2956, 2334, 1666, 1276)),
    }
    for v in known:
        total, data = known[v]
        assert tables.total_codewords(v) == total, v
        for level in range(4):
            assert tables.data_codewords(v, level) == data[level], (v, level)
    for v in range(1, 41):
        for level in range(4):
            ecc, n_short, d_short, n_long = tables.blocks(v, level)
            assert (n_short + n_long) * ecc + tables.data_codewords(v, level) == tables.total_codewords(v)
    assert tables.alignment_positions(1) == ()
    assert tables.alignment_positions(2) == (6, 18)
    assert tables.alignment_positions(15) == (6, 26, 48, 70)
    assert tables.alignment_positions(32) == (6, 34, 60, 86, 112, 138)
    assert tables.alignment_positions(40) == (6, 30, 58, 86, 114, 142, 170)
