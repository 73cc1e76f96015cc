"""Strict DER (ITU-T X.690) reader for the X.509 subset the reader needs.

  parse(data) -> Element           one element that spans all of data
  read(data, pos=0) -> (Element, next_pos)
  Element: .tag (identifier octet, e.g. 0x30, 0xA0), .cls (0 universal, 1 application,
      2 context, 3 private), .constructed, .number (tag number), .buf (memoryview of the
      whole input), .start / .body / .end (offsets: element, content, end)
    .raw        exact bytes of the whole TLV (X.509 signatures cover the raw TBSCertificate)
    .content / .view   content octets as bytes / as a memoryview (no copy)
    .children() / .expect(tag) / .is_context(n) / .explicit(n)
    .as_int() .as_bool() .as_null() .as_oid() .as_bitstring() .as_bits() .as_octets()
    .as_time() (UTCTime / GeneralizedTime -> seconds since 1970-01-01Z) .as_str()
  civil_to_epoch(y, mo, d, h, mi, s) -> seconds since 1970-01-01T00:00:00Z
  encode_tlv(tag, content) -> bytes   (for building test inputs and small structures)

Rules enforced (DerError reasons): truncated, trailing_data, high_tag (tag numbers >= 31
need multi-byte identifiers, which X.509 never uses: refused), indefinite (length 0x80),
bad_length (non-minimal long form, or more than 4 length octets), not_constructed,
bad_tag (expect() or a typed accessor on the wrong tag), bad_int (empty or non-minimal),
bad_bool (only 00 / FF), bad_null, bad_oid (empty, non-minimal arc, truncated arc),
bad_bitstring (unused > 7, unused bits not zero, unused bits when as_bits() wants none),
bad_time (format other than YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ, or an impossible date),
bad_string (charset of PrintableString/IA5String/..., bad UTF-8), bad_input.
"""

from vitale.codec import CodecError
from vitale.compat import const

INTEGER = const(0x02)
BIT_STRING = const(0x03)
OCTET_STRING = const(0x04)
NULL = const(0x05)
OID = const(0x06)
BOOLEAN = const(0x01)
UTF8_STRING = const(0x0C)
PRINTABLE_STRING = const(0x13)
T61_STRING = const(0x14)
IA5_STRING = const(0x16)
UTC_TIME = const(0x17)
GENERALIZED_TIME = const(0x18)
NUMERIC_STRING = const(0x12)
VISIBLE_STRING = const(0x1A)
BMP_STRING = const(0x1E)
SEQUENCE = const(0x30)
SET = const(0x31)

_PRINTABLE_EXTRA = " '()+,-./:=?"


class DerError(CodecError):
    """Input that is not strict DER, or not the expected element; `.reason` says why."""


def _buf(data):
    if isinstance(data, memoryview):
        return data
    if isinstance(data, (bytes, bytearray)):
        return memoryview(data)
    raise DerError("bad_input")


def _read(mv, pos, end):
    """Element at mv[pos:end] and the offset just after it."""
    if pos >= end:
        raise DerError("truncated", pos)
    t = mv[pos]
    if t & 0x1F == 0x1F:
        raise DerError("high_tag", pos)
    p = pos + 1
    if p >= end:
        raise DerError("truncated", pos)
    b = mv[p]
    p += 1
    if b < 0x80:
        n = b
    elif b == 0x80:
        raise DerError("indefinite", pos)
    else:
        k = b & 0x7F
        if k > 4:
            raise DerError("bad_length", pos)
        if p + k > end:
            raise DerError("truncated", pos)
        if mv[p] == 0:
            raise DerError("bad_length", pos)
        n = 0
        for i in range(p, p + k):
            n = (n << 8) | mv[i]
        p += k
        if n < 0x80:
            raise DerError("bad_length", pos)
    if n > end - p:
        raise DerError("truncated", pos)
    return Element(mv, t, pos, p, p + n), p + n


def read(data, pos=0):
    """(Element at data[pos:], offset after it)."""
    mv = _buf(data)
    return _read(mv, pos, len(mv))


def parse(data):
    """The single DER element that is all of data."""
    mv = _buf(data)
    el, p = _read(mv, 0, len(mv))
    if p != len(mv):
        raise DerError("trailing_data", p)
    return el


def encode_length(n):
    """DER length octets for n."""
    if n < 0x80:
        return bytes((n,))
    b = b""
    while n:
        b = bytes((n & 0xFF,)) + b
        n >>= 8
    return bytes((0x80 | len(b),)) + b


def encode_tlv(tag, content):
    """DER element with identifier octet tag and the given content."""
    return bytes((tag,)) + encode_length(len(content)) + bytes(content)


def _days_from_civil(y, m, d):
    # Proleptic Gregorian day count from 1970-01-01 (H. Hinnant's algorithm).
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_days(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def civil_to_epoch(y, mo, d, h, mi, s):
    """Seconds since 1970-01-01T00:00:00Z of a UTC date and time (validated, no leap seconds)."""
    if not (0 <= y <= 9999 and 1 <= mo <= 12 and 0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 59):
        raise DerError("bad_time")
    if not 1 <= d <= _month_days(y, mo):
        raise DerError("bad_time")
    return _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


class Element:
    """One DER element inside a buffer (see the module notes)."""

    def __init__(self, buf, tag, start, body, end):
        self.buf = buf
        self.tag = tag
        self.cls = tag >> 6
        self.constructed = bool(tag & 0x20)
        self.number = tag & 0x1F
        self.start = start
        self.body = body
        self.end = end

    def __repr__(self):
        return "Element(tag=0x%02x, len=%d)" % (self.tag, self.end - self.body)

    @property
    def raw(self):
        """Exact bytes of the whole element (identifier, length, content)."""
        return bytes(self.buf[self.start:self.end])

    @property
    def content(self):
        """Content octets as bytes."""
        return bytes(self.buf[self.body:self.end])

    @property
    def view(self):
        """Content octets as a memoryview into the input (no copy)."""
        return self.buf[self.body:self.end]

    def __len__(self):
        return self.end - self.body

    def expect(self, tag):
        """self when its identifier octet is tag, else DerError('bad_tag')."""
        if self.tag != tag:
            raise DerError("bad_tag", self.start)
        return self

    def is_context(self, n):
        """True for a context-specific tag [n] (primitive or constructed)."""
        return self.cls == 2 and self.number == n

    def children(self):
        """The elements of a constructed element's content, in order."""
        if not self.constructed:
            raise DerError("not_constructed", self.start)
        out = []
        p = self.body
        while p < self.end:
            el, p = _read(self.buf, p, self.end)
            out.append(el)
        return out

    def explicit(self, n):
        """The single element inside an EXPLICIT context tag [n]."""
        if not (self.is_context(n) and self.constructed):
            raise DerError("bad_tag", self.start)
        el, p = _read(self.buf, self.body, self.end)
        if p != self.end:
            raise DerError("trailing_data", p)
        return el

    def as_int(self):
        """Signed value of a minimal INTEGER, or of a primitive [n] IMPLICIT INTEGER."""
        if self.tag != INTEGER and (self.cls != 2 or self.constructed):
            raise DerError("bad_tag", self.start)
        mv = self.buf
        b, e = self.body, self.end
        if e == b:
            raise DerError("bad_int", self.start)
        if e - b > 1:
            if (mv[b] == 0 and mv[b + 1] < 0x80) or (mv[b] == 0xFF and mv[b + 1] >= 0x80):
                raise DerError("bad_int", self.start)
        v = int.from_bytes(bytes(mv[b:e]), "big")
        if mv[b] & 0x80:
            v -= 1 << (8 * (e - b))
        return v

    def as_bool(self):
        """Value of a BOOLEAN (DER allows only 00 and FF)."""
        self.expect(BOOLEAN)
        if self.end - self.body != 1:
            raise DerError("bad_bool", self.start)
        v = self.buf[self.body]
        if v == 0:
            return False
        if v == 0xFF:
            return True
        raise DerError("bad_bool", self.start)

    def as_null(self):
        """None for a NULL with empty content."""
        self.expect(NULL)
        if self.end != self.body:
            raise DerError("bad_null", self.start)
        return None

    def as_oid(self):
        """Dotted string of an OBJECT IDENTIFIER, e.g. '1.2.840.10045.2.1'."""
        self.expect(OID)
        mv = self.buf
        if self.end == self.body:
            raise DerError("bad_oid", self.start)
        arcs = []
        v = 0
        first = True
        fresh = True
        for i in range(self.body, self.end):
            c = mv[i]
            if fresh and c == 0x80:
                raise DerError("bad_oid", i)
            fresh = False
            v = (v << 7) | (c & 0x7F)
            if c & 0x80:
                continue
            if first:
                if v < 40:
                    arcs.append("0")
                    arcs.append(str(v))
                elif v < 80:
                    arcs.append("1")
                    arcs.append(str(v - 40))
                else:
                    arcs.append("2")
                    arcs.append(str(v - 80))
                first = False
            else:
                arcs.append(str(v))
            v = 0
            fresh = True
        if not fresh:
            raise DerError("bad_oid", self.start)
        return ".".join(arcs)

    def as_bitstring(self):
        """(unused_bits, bytes) of a BIT STRING; unused bits must be zero (DER)."""
        self.expect(BIT_STRING)
        mv = self.buf
        b, e = self.body, self.end
        if e == b:
            raise DerError("bad_bitstring", self.start)
        unused = mv[b]
        if unused > 7 or (unused and e - b == 1):
            raise DerError("bad_bitstring", self.start)
        if unused and mv[e - 1] & ((1 << unused) - 1):
            raise DerError("bad_bitstring", self.start)
        return unused, bytes(mv[b + 1:e])

    def as_bits(self):
        """Bytes of a BIT STRING with no unused bits (keys, signatures)."""
        unused, data = self.as_bitstring()
        if unused:
            raise DerError("bad_bitstring", self.start)
        return data

    def as_octets(self):
        """Content of an OCTET STRING."""
        self.expect(OCTET_STRING)
        return self.content

    def as_time(self):
        """Seconds since 1970-01-01Z of a UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ)."""
        mv = self.buf
        b, e = self.body, self.end
        if self.tag == UTC_TIME:
            if e - b != 13:
                raise DerError("bad_time", self.start)
            y = _num(mv, b, 2, self.start)
            y += 1900 if y >= 50 else 2000  # RFC 5280 4.1.2.5.1
            p = b + 2
        elif self.tag == GENERALIZED_TIME:
            if e - b != 15:
                raise DerError("bad_time", self.start)
            y = _num(mv, b, 4, self.start)
            p = b + 4
        else:
            raise DerError("bad_tag", self.start)
        if mv[e - 1] != 0x5A:  # 'Z'
            raise DerError("bad_time", self.start)
        mo = _num(mv, p, 2, self.start)
        d = _num(mv, p + 2, 2, self.start)
        h = _num(mv, p + 4, 2, self.start)
        mi = _num(mv, p + 6, 2, self.start)
        s = _num(mv, p + 8, 2, self.start)
        try:
            return civil_to_epoch(y, mo, d, h, mi, s)
        except DerError:
            raise DerError("bad_time", self.start)

    def as_str(self):
        """Text of a UTF8String, PrintableString, IA5String, VisibleString, NumericString,
        T61String (read as Latin-1) or BMPString."""
        t = self.tag
        mv = self.buf
        b, e = self.body, self.end
        if t == UTF8_STRING:
            try:
                return str(mv[b:e], "utf-8")
            except (UnicodeError, ValueError):
                raise DerError("bad_string", self.start)
        if t == BMP_STRING:
            if (e - b) & 1:
                raise DerError("bad_string", self.start)
            out = []
            for i in range(b, e, 2):
                c = (mv[i] << 8) | mv[i + 1]
                if 0xD800 <= c <= 0xDFFF:
                    raise DerError("bad_string", self.start)
                out.append(chr(c))
            return "".join(out)
        if t == T61_STRING:
            return "".join([chr(mv[i]) for i in range(b, e)])
        if t not in (PRINTABLE_STRING, IA5_STRING, VISIBLE_STRING, NUMERIC_STRING):
            raise DerError("bad_tag", self.start)
        for i in range(b, e):
            c = mv[i]
            if t == IA5_STRING:
                ok = c < 0x80
            elif t == VISIBLE_STRING:
                ok = 0x20 <= c < 0x7F
            elif t == NUMERIC_STRING:
                ok = c == 0x20 or 0x30 <= c <= 0x39
            else:
                ch = chr(c)
                ok = ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9") or ch in _PRINTABLE_EXTRA
            if not ok:
                raise DerError("bad_string", self.start)
        return str(bytes(mv[b:e]), "ascii")


def _num(mv, p, n, at):
    v = 0
    for i in range(p, p + n):
        c = mv[i] - 48
        if c < 0 or c > 9:
            raise DerError("bad_time", at)
        v = v * 10 + c
    return v
