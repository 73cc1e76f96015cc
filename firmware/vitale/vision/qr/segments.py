"""Data segments of a QR symbol: numeric, alphanumeric, byte, kanji, ECI.

The payload is returned as the bytes the segments carry (alphanumeric and
numeric as ASCII, kanji as Shift JIS); ECI designators are checked and
reported, not applied.
"""

from vitale.vision.qr.errors import QRError

ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


class DataError(QRError):
    """The corrected data codewords do not form valid segments."""


class _Bits:
    def __init__(self, data, nbytes):
        self.data = data
        self.pos = 0
        self.end = nbytes * 8

    def left(self):
        return self.end - self.pos

    def read(self, k):
        if k > self.end - self.pos:
            raise DataError("segment runs past the data")
        v = 0
        data = self.data
        pos = self.pos
        for _ in range(k):
            v = (v << 1) | ((data[pos >> 3] >> (7 - (pos & 7))) & 1)
            pos += 1
        self.pos = pos
        return v


def _count_bits(mode, version):
    if version <= 9:
        i = 0
    elif version <= 26:
        i = 1
    else:
        i = 2
    if mode == 1:
        return (10, 12, 14)[i]
    if mode == 2:
        return (9, 11, 13)[i]
    if mode == 4:
        return (8, 16, 16)[i]
    return (8, 10, 12)[i]  # kanji


def parse(data, nbytes, version):
    """Payload bytes and the list of ECI designators of the data codewords data[:nbytes]."""
    bits = _Bits(data, nbytes)
    out = bytearray()
    ecis = []
    while bits.left() >= 4:
        mode = bits.read(4)
        if mode == 0:
            break
        if mode == 7:  # ECI
            first = bits.read(8)
            if first & 0x80 == 0:
                eci = first
            elif first & 0xC0 == 0x80:
                eci = ((first & 0x3F) << 8) | bits.read(8)
            elif first & 0xE0 == 0xC0:
                eci = ((first & 0x1F) << 16) | bits.read(16)
                if eci > 999999:
                    raise DataError("ECI designator out of range")
            else:
                raise DataError("bad ECI designator")
            ecis.append(eci)
            continue
        if mode == 3:  # structured append: header only, payload follows in later segments
            bits.read(16)
            continue
        if mode not in (1, 2, 4, 8):
            raise DataError("unsupported segment mode %d" % mode)
        count = bits.read(_count_bits(mode, version))
        if mode == 1:
            _numeric(bits, count, out)
        elif mode == 2:
            _alnum(bits, count, out)
        elif mode == 4:
            if count * 8 > bits.left():
                raise DataError("byte segment longer than the data")
            for _ in range(count):
                out.append(bits.read(8))
        else:
            _kanji(bits, count, out)
    return bytes(out), ecis


def _numeric(bits, count, out):
    if (count // 3) * 10 + (7 if count % 3 == 2 else 4 if count % 3 else 0) > bits.left():
        raise DataError("numeric segment longer than the data")
    while count >= 3:
        v = bits.read(10)
        if v > 999:
            raise DataError("bad numeric triple")
        out.append(48 + v // 100)
        out.append(48 + v // 10 % 10)
        out.append(48 + v % 10)
        count -= 3
    if count == 2:
        v = bits.read(7)
        if v > 99:
            raise DataError("bad numeric pair")
        out.append(48 + v // 10)
        out.append(48 + v % 10)
    elif count == 1:
        v = bits.read(4)
        if v > 9:
            raise DataError("bad numeric digit")
        out.append(48 + v)


def _alnum(bits, count, out):
    if (count // 2) * 11 + (count % 2) * 6 > bits.left():
        raise DataError("alphanumeric segment longer than the data")
    while count >= 2:
        v = bits.read(11)
        if v >= 45 * 45:
            raise DataError("bad alphanumeric pair")
        out.append(ALNUM[v // 45])
        out.append(ALNUM[v % 45])
        count -= 2
    if count:
        v = bits.read(6)
        if v >= 45:
            raise DataError("bad alphanumeric character")
        out.append(ALNUM[v])


def _kanji(bits, count, out):
    if count * 13 > bits.left():
        raise DataError("kanji segment longer than the data")
    for _ in range(count):
        v = bits.read(13)
        w = (v // 0xC0) * 256 + v % 0xC0
        w += 0x8140 if w + 0x8140 <= 0x9FFC else 0xC140
        out.append(w >> 8)
        out.append(w & 0xFF)
