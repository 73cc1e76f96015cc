"""QR data segments: every supported mode, and hostile bit streams refused with DataError."""

from vitale.vision.qr import segments
from vitale.vision.qr.segments import DataError


class Bits:
    """MSB-first bit writer, padded like a QR symbol (terminator, 0xEC/0x11)."""

    def __init__(self):
        self.bits = []

    def put(self, value, n):
        for i in range(n - 1, -1, -1):
            self.bits.append((value >> i) & 1)
        return self

    def data(self, capacity):
        b = list(self.bits)
        b += [0] * min(4, capacity * 8 - len(b))
        b += [0] * (-len(b) % 8)
        out = bytearray()
        for i in range(0, len(b), 8):
            v = 0
            for bit in b[i : i + 8]:
                v = (v << 1) | bit
            out.append(v)
        pad = (0xEC, 0x11)
        k = 0
        while len(out) < capacity:
            out.append(pad[k & 1])
            k += 1
        return out


def _parse(bits, capacity=64, version=5):
    data = bits.data(capacity)
    return segments.parse(data, len(data), version)


def _refused(bits, capacity=64, version=5):
    try:
        _parse(bits, capacity, version)
    except DataError:
        return True
    return False


def test_numeric_alnum_byte_kanji():
    b = Bits().put(1, 4).put(8, 10).put(123, 10).put(456, 10).put(78, 7)
    assert _parse(b) == (b"12345678", [])
    b = Bits().put(2, 4).put(5, 9).put(45 * 31 + 26, 11).put(0 * 45 + 44, 11).put(36, 6)
    assert _parse(b) == (b"VQ0: ", [])
    b = Bits().put(4, 4).put(3, 8).put(0, 8).put(0xFF, 8).put(0x41, 8)
    assert _parse(b) == (b"\x00\xffA", [])
    # kanji 0x935F (ISO 18004 example): 0x935F - 0x8140 = 0x121F -> 0x12 * 0xC0 + 0x1F
    b = Bits().put(8, 4).put(1, 8).put(0x12 * 0xC0 + 0x1F, 13)
    assert _parse(b) == (b"\x93\x5f", [])


def test_count_field_width_depends_on_version():
    b = Bits().put(4, 4).put(2, 16).put(0x61, 8).put(0x62, 8)
    assert _parse(b, version=10) == (b"ab", [])
    b = Bits().put(2, 4).put(1, 13).put(10, 6)
    assert _parse(b, version=27) == (b"A", [])


def test_mixed_segments_and_eci():
    b = Bits().put(7, 4).put(26, 8).put(4, 4).put(2, 8).put(0xC3, 8).put(0xA9, 8)
    b.put(2, 4).put(2, 9).put(10 * 45 + 11, 11)
    assert _parse(b) == (b"\xc3\xa9AB", [26])
    b = Bits().put(7, 4).put(0x80 | 1, 8).put(0x23, 8).put(1, 4).put(1, 10).put(7, 4)
    assert _parse(b) == (b"7", [0x123])
    b = Bits().put(7, 4).put(0xC0 | 0x0F, 8).put(0x423F, 16).put(1, 4).put(1, 10).put(0, 4)
    assert _parse(b) == (b"0", [999999])


def test_terminator_may_be_cut_at_the_end():
    b = Bits().put(1, 4).put(3, 10).put(123, 10)
    data = bytearray(b.data(3))
    assert len(data) == 3
    assert segments.parse(data, 3, 1) == (b"123", [])


def test_structured_append_header_is_skipped():
    b = Bits().put(3, 4).put(0x12, 8).put(0x34, 8).put(4, 4).put(1, 8).put(0x5A, 8)
    assert _parse(b) == (b"Z", [])


def test_impossible_lengths_are_refused():
    assert _refused(Bits().put(4, 4).put(200, 8), capacity=20)
    assert _refused(Bits().put(1, 4).put(1000, 10), capacity=20)
    assert _refused(Bits().put(2, 4).put(500, 9), capacity=20)
    assert _refused(Bits().put(8, 4).put(200, 8), capacity=20)
    assert _refused(Bits().put(4, 4).put(0xFFFF, 16), capacity=40, version=20)


def test_bad_values_are_refused():
    assert _refused(Bits().put(1, 4).put(3, 10).put(1000, 10))
    assert _refused(Bits().put(1, 4).put(2, 10).put(100, 7))
    assert _refused(Bits().put(1, 4).put(1, 10).put(10, 4))
    assert _refused(Bits().put(2, 4).put(2, 9).put(45 * 45, 11))
    assert _refused(Bits().put(2, 4).put(1, 9).put(45, 6))


def test_bogus_eci_and_unknown_modes_are_refused():
    assert _refused(Bits().put(7, 4).put(0xE0, 8))
    assert _refused(Bits().put(7, 4).put(0xDF, 8).put(0xFFFF, 16))
    assert _refused(Bits().put(7, 4).put(0xCF, 8).put(0x4240, 16))  # 1000000 > 999999
    for mode in (5, 6, 9, 10, 11, 12, 13, 14, 15):
        assert _refused(Bits().put(mode, 4).put(0, 20)), mode


def test_every_short_stream_parses_or_is_refused():
    # exhaustive over 2-byte streams: never anything but a result or DataError
    ok = 0
    for v in range(0, 65536, 37):
        data = bytearray((v >> 8, v & 0xFF))
        try:
            segments.parse(data, 2, 1)
            ok += 1
        except DataError:
            pass
    assert ok > 0
