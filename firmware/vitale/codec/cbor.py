"""CBOR (RFC 8949): a strict decoder and a deterministic encoder.

Decoding
  loads(data, **opts) -> object      exactly one item; trailing bytes are an error
  Decoder(data, **opts)              step by step, for exact byte spans of sub-items:
      decode_item()                  next item as an object
      decode_with_span()             (object, start, end) offsets into data
      raw_item()                     exact encoded bytes of the next item (fully checked)
      enter_array() / enter_map()    consume a definite array/map head, return its count
      at_end(), finish(), pos
  split_array(data, **opts)          [exact bytes of each element] of a top-level array
  split_map(data, **opts)            [(decoded key, exact bytes of value)] of a top-level map

Options (keywords, same for every entry point):
  strict=False        True refuses indefinite-length strings, arrays and maps
  canonical=False     True refuses anything that is not RFC 8949 4.2.1 core deterministic:
                      non-shortest integer/length/tag heads, non-shortest floats (and NaN
                      other than f97e00), indefinite lengths, map keys not in bytewise order,
                      bignums that fit 64 bits or have leading zero bytes
  allow_duplicate_keys=False   False refuses a map key seen twice; keys are compared as
                      Python values, so 1, 1.0 and True count as the same key
  max_depth=32        nesting of arrays, maps and tags below the top item
  max_items=100000    data items in one decode (map keys, values, string chunks count)
Every failure raises CborError with `.reason` (a short code, listed below) and `.offset`.

Types (decode -> encode round-trips):
  unsigned/negative int, bignum tags 2/3 (up to 64 bytes) -> int; bstr -> bytes;
  tstr -> str (UTF-8 checked); array -> list; map -> dict; false/true/null -> bool/None;
  undefined -> Undefined; other simple values -> Simple(n); half/single/double -> float;
  tag 24 -> Embedded (the embedded item's exact bytes in `.raw`, decoded on demand with
  `.value` / `.decode()`; `.tagged` is the whole tag-24 item exactly as received, which is
  what mdoc digests cover; its content must be a definite-length bstr);
  every other tag -> Tag(tag, value): tags 0 (tdate) and 1004 (full-date) must hold a tstr,
  tag 1 (epoch) an int or float, tag 18 (COSE_Sign1) an array. tdate_to_epoch() and
  full_date_to_epoch() convert tag 0 / tag 1004 strings.

Encoding
  head(major, n) -> bytes: just the shortest head, for building structures piecewise.
  dumps(obj) -> bytes: always deterministic (shortest heads, shortest float that keeps the
  value, NaN as f97e00, map keys sorted bytewise by their encoding; RFC 8949 4.2.1, which
  differs from the length-first order of RFC 7049 "canonical" for keys of different
  lengths). Accepts int, bool, None, float, str, bytes/bytearray/memoryview, list/tuple,
  dict, Tag, Embedded (re-emitted exactly as received), Raw (already-encoded bytes,
  emitted verbatim: re-emits signed structures unchanged), Simple, Undefined.

Reasons: bad_input, bad_type (enter_array/enter_map), truncated, trailing_data,
length_exceeds_input, too_deep, too_many_items, reserved_ai, bad_indefinite, indefinite, unexpected_break, bad_chunk,
bad_utf8, bad_simple, non_canonical, unsorted_keys, duplicate_key, bad_key,
bad_tag_content, too_large, unsupported_type, bad_date.
"""

import math
import struct

from vitale.codec import CodecError
from vitale.compat import const

_MAX_DEPTH = const(32)
_MAX_ITEMS = const(100000)
_MAX_BIGNUM = const(64)  # bytes; bigger bignums cost quadratic time on MicroPython

# True on ports whose float is a C double; False on single-precision ports (ESP32).
_F64 = (1.0 + 2.0 ** -40) != 1.0


class CborError(CodecError):
    """Malformed, non-conforming or unencodable CBOR; `.reason` says which rule failed."""


class Tag:
    """A tagged item: tag number and decoded content."""

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self.tag, self.value))

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


class Simple:
    """A simple value other than false/true/null/undefined (0..19, 32..255)."""

    def __init__(self, value):
        if not isinstance(value, int) or value < 0 or value > 255 or 20 <= value <= 31:
            raise CborError("bad_simple")
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Simple) and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(("simple", self.value))

    def __repr__(self):
        return "Simple(%d)" % self.value


class _UndefinedType:
    def __repr__(self):
        return "Undefined"

    def __hash__(self):
        return 0x7F7


Undefined = _UndefinedType()


class _Bytes:
    """Equality, hash and repr by `.raw` for the two byte-carrying item types."""

    raw: bytes  # set by each subclass's __init__ (declaration for the type checker)

    def __eq__(self, other):
        return type(other) is type(self) and self.raw == other.raw

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.raw)

    def __repr__(self):
        return type(self).__name__ + "(" + repr(self.raw) + ")"


class Raw(_Bytes):
    """Already-encoded CBOR bytes that dumps() emits verbatim (not checked)."""

    def __init__(self, raw):
        self.raw = bytes(raw)

    def decode(self, **opts):
        """The decoded item (raises CborError when the bytes are not one valid item)."""
        return loads(self.raw, **opts)


class Embedded(_Bytes):
    """Tag 24: an encoded CBOR item carried in a byte string (#6.24(bstr .cbor X)).

    `.raw` is the embedded item's exact bytes; `.head` the exact tag and bstr head as
    received (None when built locally: the shortest head is used); `.tagged` the whole
    tag-24 item's bytes, which is what ISO 18013-5 hashes and signs.
    """

    tag = 24

    def __init__(self, raw, head=None, opts=None):
        self.raw = bytes(raw)
        self.head = head
        self._opts = opts
        self._value = None
        self._decoded = False

    @staticmethod
    def of(obj):
        """Embedded item holding the deterministic encoding of obj."""
        return Embedded(dumps(obj))

    @property
    def tagged(self):
        """Exact bytes of the whole tag-24 item."""
        if self.head is not None:
            return self.head + self.raw
        out = bytearray(b"\xd8\x18")
        _head(out, 2, len(self.raw))
        out += self.raw
        return bytes(out)

    def decode(self, **opts):
        """Decode the embedded item (decoder options default to those it arrived with)."""
        if not opts and self._opts is not None:
            return Decoder(self.raw, *self._opts).decode_all()
        return loads(self.raw, **opts)

    @property
    def value(self):
        """The decoded embedded item, decoded once and cached."""
        if not self._decoded:
            self._value = self.decode()
            self._decoded = True
        return self._value


# --- floats ---------------------------------------------------------------


def _half_to_float(h):
    # struct 'e' is missing on some MicroPython ports: IEEE 754 binary16 by hand.
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0:
        v = math.ldexp(m, -24)
    elif e == 31:
        v = float("inf") if m == 0 else float("nan")
    else:
        v = math.ldexp(m + 1024, e - 25)
    return -v if h & 0x8000 else v


def _float_to_half(x):
    """binary16 bits of x when x converts exactly, else -1 (x finite, non-zero)."""
    s = 0x8000 if x < 0 else 0
    a = -x if x < 0 else x
    if a > 65504.0 or a < 5.960464477539063e-08:  # outside the binary16 range
        return -1
    t = math.ldexp(a, 24)  # subnormal: a = f * 2**-24, f < 1024
    if t < 1024:
        f = int(t)
        return s | f if f == t else -1
    m, e = math.frexp(a)  # a = m * 2**e, 0.5 <= m < 1
    he = e + 14
    if he < 1 or he > 30:
        return -1
    t = m * 2048
    f = int(t)
    if f != t:
        return -1
    return s | (he << 10) | (f - 1024)


def _float_bytes(x):
    """Shortest CBOR encoding of float x that decodes to the same value."""
    if x != x:
        return b"\xf9\x7e\x00"
    if x == 0:
        return b"\xf9\x80\x00" if math.copysign(1.0, x) < 0 else b"\xf9\x00\x00"
    if math.isinf(x):
        return b"\xf9\xfc\x00" if x < 0 else b"\xf9\x7c\x00"
    h = _float_to_half(x)
    if h >= 0:
        return bytes((0xF9, h >> 8, h & 0xFF))
    try:
        b = struct.pack(">f", x)
        if struct.unpack(">f", b)[0] == x:
            return b"\xfa" + b
    except (OverflowError, ValueError):
        pass
    return b"\xfb" + struct.pack(">d", x)


# --- decoding -------------------------------------------------------------


class Decoder:
    """Decodes items one after the other from a bytes-like buffer (see module notes)."""

    def __init__(self, data, strict=False, canonical=False, allow_duplicate_keys=False,
                 max_depth=_MAX_DEPTH, max_items=_MAX_ITEMS):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise CborError("bad_input")
        self._mv = memoryview(data)
        self._n = len(self._mv)
        self.pos = 0
        self._canon = bool(canonical)
        self._indef = not (strict or canonical)
        self._dups = bool(allow_duplicate_keys)
        self._max_depth = max_depth
        self._max_items = max_items
        self._items = 0
        self._depth = 0
        # what a tag-24 item decoded later from this input inherits
        self._optt = (strict, canonical, allow_duplicate_keys, max_depth, max_items)

    # -- public --

    def at_end(self):
        """True when every byte has been consumed."""
        return self.pos >= self._n

    def finish(self):
        """Raise CborError('trailing_data') unless every byte has been consumed."""
        if self.pos != self._n:
            raise CborError("trailing_data", self.pos)

    def decode_item(self):
        """Decode the next item and move past it."""
        return self._item(self._depth)

    def decode_all(self):
        """Decode exactly one item that spans the rest of the buffer."""
        v = self._item(self._depth)
        self.finish()
        return v

    def decode_with_span(self):
        """(item, start, end): the next item and the offsets of its exact encoding."""
        start = self.pos
        v = self._item(self._depth)
        return v, start, self.pos

    def raw_item(self):
        """Exact encoded bytes of the next item (decoded and checked, then dropped)."""
        start = self.pos
        self._item(self._depth)
        return bytes(self._mv[start:self.pos])

    def enter_array(self):
        """Consume a definite-length array head; return its element count."""
        return self._enter(4)

    def enter_map(self):
        """Consume a definite-length map head; return its number of pairs."""
        return self._enter(5)

    # -- internals --

    def _enter(self, major):
        start = self.pos
        self._count()
        mj, ai, n = self._read_head()
        if mj != major:
            self.pos = start
            raise CborError("bad_type", start)
        if n < 0:
            raise CborError("indefinite", start)
        self._check_len(n if major == 4 else 2 * n, start)
        self._depth += 1
        if self._depth > self._max_depth:
            raise CborError("too_deep", start)
        return n

    def _count(self):
        self._items += 1
        if self._items > self._max_items:
            raise CborError("too_many_items", self.pos)

    def _check_len(self, need, start):
        if need > self._n - self.pos:
            raise CborError("length_exceeds_input", start)

    def _read_head(self):
        """(major, ai, argument); argument is -1 for ai 31 (indefinite/break)."""
        mv = self._mv
        p = self.pos
        n = self._n
        if p >= n:
            raise CborError("truncated", p)
        ib = mv[p]
        p += 1
        major = ib >> 5
        ai = ib & 31
        if ai < 24:
            val = ai
        elif ai < 28:
            k = 1 << (ai - 24)
            if p + k > n:
                raise CborError("truncated", self.pos)
            val = 0
            for i in range(p, p + k):
                val = (val << 8) | mv[i]
            p += k
            if self._canon and major != 7:
                if val < 24 or (ai > 24 and val < (1 << (8 << (ai - 25)))):
                    raise CborError("non_canonical", self.pos)
        elif ai == 31:
            if major == 0 or major == 1 or major == 6:
                raise CborError("bad_indefinite", self.pos)
            val = -1
        else:
            raise CborError("reserved_ai", self.pos)
        self.pos = p
        return major, ai, val

    def _take(self, n, start):
        self._check_len(n, start)
        p = self.pos
        self.pos = p + n
        return self._mv[p:p + n]

    def _text(self, mv, start):
        try:
            return str(mv, "utf-8")
        except (UnicodeError, ValueError, TypeError):
            raise CborError("bad_utf8", start)

    def _is_break(self):
        if self.pos >= self._n:
            raise CborError("truncated", self.pos)
        if self._mv[self.pos] == 0xFF:
            self.pos += 1
            return True
        return False

    def _chunks(self, major, start):
        if not self._indef:
            raise CborError("indefinite", start)
        buf = bytearray()
        while not self._is_break():
            cs = self.pos
            self._count()
            mj, ai, n = self._read_head()
            if mj != major or n < 0:
                raise CborError("bad_chunk", cs)
            mv = self._take(n, cs)
            if major == 3:
                self._text(mv, cs)  # every chunk must be valid UTF-8 on its own
            buf += mv
        return buf

    def _item(self, depth):
        start = self.pos
        if depth > self._max_depth:
            raise CborError("too_deep", start)
        # _count() and the one-byte head inlined: this runs once per item
        self._items += 1
        if self._items > self._max_items:
            raise CborError("too_many_items", start)
        if start >= self._n:
            raise CborError("truncated", start)
        ib = self._mv[start]
        if ib & 31 < 24:
            self.pos = start + 1
            major = ib >> 5
            ai = val = ib & 31
        else:
            major, ai, val = self._read_head()
        if major == 0:
            return val
        if major == 1:
            return -1 - val
        if major == 2:
            if val < 0:
                return bytes(self._chunks(2, start))
            return bytes(self._take(val, start))
        if major == 3:
            if val < 0:
                return self._text(self._chunks(3, start), start)
            return self._text(self._take(val, start), start)
        if major == 4:
            if val < 0:
                if not self._indef:
                    raise CborError("indefinite", start)
                out = []
                while not self._is_break():
                    out.append(self._item(depth + 1))
                return out
            self._check_len(val, start)
            if val > self._max_items - self._items:
                raise CborError("too_many_items", start)
            out = []
            for _ in range(val):
                out.append(self._item(depth + 1))
            return out
        if major == 5:
            return self._map(depth, val, start)
        if major == 6:
            return self._tag(depth, val, start)
        return self._simple(ai, val, start)

    def _map(self, depth, count, start):
        if count < 0:
            if not self._indef:
                raise CborError("indefinite", start)
        else:
            self._check_len(2 * count, start)
            if 2 * count > self._max_items - self._items:
                raise CborError("too_many_items", start)
        out = {}
        canon = self._canon
        prev = None
        i = 0
        while True:
            if count < 0:
                if self._is_break():
                    break
            elif i >= count:
                break
            i += 1
            ks = self.pos
            k = self._item(depth + 1)
            if canon:
                kb = bytes(self._mv[ks:self.pos])
                if prev is not None and kb <= prev:
                    raise CborError("unsorted_keys", ks)
                prev = kb
            try:
                hash(k)  # MicroPython skips hashing when probing an empty dict
            except TypeError:
                raise CborError("bad_key", ks)
            if k in out and not self._dups:
                raise CborError("duplicate_key", ks)
            out[k] = self._item(depth + 1)
        return out

    def _tag(self, depth, tag, start):
        if tag == 24:
            if depth + 1 > self._max_depth:
                raise CborError("too_deep", self.pos)
            cs = self.pos
            self._count()
            mj, ai, n = self._read_head()
            if mj != 2 or n < 0:
                raise CborError("bad_tag_content", cs)
            body = self.pos
            self._take(n, cs)
            mv = self._mv
            return Embedded(mv[body:self.pos], bytes(mv[start:body]), self._optt)
        v = self._item(depth + 1)
        if tag == 2 or tag == 3:
            if not isinstance(v, bytes):
                raise CborError("bad_tag_content", start)
            if len(v) > _MAX_BIGNUM:
                raise CborError("too_large", start)
            if self._canon and (len(v) <= 8 or v[0] == 0):
                raise CborError("non_canonical", start)
            n = int.from_bytes(v, "big")
            return n if tag == 2 else -1 - n
        if tag == 0 or tag == 1004:
            ok = isinstance(v, str)
        elif tag == 1:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        elif tag == 18:
            ok = isinstance(v, list)
        else:
            ok = True
        if not ok:
            raise CborError("bad_tag_content", start)
        return Tag(tag, v)

    def _simple(self, ai, val, start):
        if ai < 20:
            return Simple(ai)
        if ai == 20:
            return False
        if ai == 21:
            return True
        if ai == 22:
            return None
        if ai == 23:
            return Undefined
        if ai == 24:
            if val < 32:
                raise CborError("bad_simple", start)
            return Simple(val)
        if ai == 31:
            raise CborError("unexpected_break", start)
        if ai == 25:
            x = _half_to_float(val)
        else:
            raw = bytes(self._mv[start + 1:self.pos])
            x = struct.unpack(">f" if ai == 26 else ">d", raw)[0]
        if self._canon and (ai != 27 or _F64):
            if _float_bytes(x) != bytes(self._mv[start:self.pos]):
                raise CborError("non_canonical", start)
        return x


def loads(data, **opts):
    """Decode exactly one CBOR item from data (bytes-like); options as for Decoder."""
    return Decoder(data, **opts).decode_all()


def split_array(data, **opts):
    """Exact encoded bytes of each element of the definite array that is all of data."""
    d = Decoder(data, **opts)
    n = d.enter_array()
    out = []
    for _ in range(n):
        out.append(d.raw_item())
    d.finish()
    return out


def split_map(data, **opts):
    """[(key, exact encoded bytes of its value)] of the definite map that is all of data."""
    d = Decoder(data, **opts)
    n = d.enter_map()
    out = []
    seen = {}
    for _ in range(n):
        ks = d.pos
        k = d.decode_item()
        try:
            hash(k)
        except TypeError:
            raise CborError("bad_key", ks)
        if k in seen and not d._dups:
            raise CborError("duplicate_key", ks)
        seen[k] = True
        out.append((k, d.raw_item()))
    d.finish()
    return out


# --- encoding -------------------------------------------------------------


def _head(out, major, n):
    mb = major << 5
    if n < 24:
        out.append(mb | n)
    elif n < 0x100:
        out.append(mb | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(mb | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x100000000:
        out.append(mb | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(mb | 27)
        out += n.to_bytes(8, "big")


def head(major, n):
    """Encoded head (shortest form) of major type 0..7 with argument n, e.g. a bstr length."""
    out = bytearray()
    _head(out, major, n)
    return bytes(out)


def _enc(obj, out, depth):
    if depth < 0:
        raise CborError("too_deep")
    if obj is None:
        out.append(0xF6)
    elif obj is False:
        out.append(0xF4)
    elif obj is True:
        out.append(0xF5)
    elif isinstance(obj, int):
        if obj >= 0:
            major, n = 0, obj
        else:
            major, n = 1, -1 - obj
        if n < 0x10000000000000000:
            _head(out, major, n)
        else:
            k = 0
            t = n
            while t:
                t >>= 8
                k += 1
            out.append(0xC2 + major)
            _head(out, 2, k)
            out += n.to_bytes(k, "big")
    elif isinstance(obj, str):
        try:
            b = obj.encode("utf-8")
        except UnicodeError:
            raise CborError("bad_utf8")
        _head(out, 3, len(b))
        out += b
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        _head(out, 2, len(obj))
        out += obj
    elif isinstance(obj, (list, tuple)):
        _head(out, 4, len(obj))
        for x in obj:
            _enc(x, out, depth - 1)
    elif isinstance(obj, dict):
        keys = []
        for k in obj:
            kb = bytearray()  # type: bytes | bytearray
            _enc(k, kb, depth - 1)
            keys.append((bytes(kb), k))
        keys.sort(key=_first)
        _head(out, 5, len(keys))
        prev = None
        for kb, k in keys:
            if kb == prev:
                raise CborError("duplicate_key")
            prev = kb
            out += kb
            _enc(obj[k], out, depth - 1)
    elif isinstance(obj, float):
        out += _float_bytes(obj)
    elif isinstance(obj, Embedded):
        out += obj.tagged
    elif isinstance(obj, Raw):
        out += obj.raw
    elif isinstance(obj, Tag):
        if not isinstance(obj.tag, int) or obj.tag < 0 or obj.tag >= 0x10000000000000000:
            raise CborError("unsupported_type")
        _head(out, 6, obj.tag)
        _enc(obj.value, out, depth - 1)
    elif isinstance(obj, Simple):
        if obj.value < 24:
            out.append(0xE0 | obj.value)
        else:
            out.append(0xF8)
            out.append(obj.value)
    elif obj is Undefined:
        out.append(0xF7)
    else:
        raise CborError("unsupported_type")


def _first(t):
    return t[0]


def dumps(obj, max_depth=64):
    """Deterministic CBOR encoding of obj (see the module notes for accepted types)."""
    out = bytearray()
    _enc(obj, out, max_depth)
    return bytes(out)


# --- dates ----------------------------------------------------------------


def _digits(s, i, n):
    v = 0
    for j in range(i, i + n):
        c = ord(s[j]) - 48
        if c < 0 or c > 9:
            raise CborError("bad_date")
        v = v * 10 + c
    return v


def full_date_to_epoch(s):
    """Seconds since 1970-01-01T00:00:00Z of a full-date "YYYY-MM-DD" (tag 1004)."""
    from vitale.codec.der import DerError, civil_to_epoch

    if not isinstance(s, str) or len(s) != 10 or s[4] != "-" or s[7] != "-":
        raise CborError("bad_date")
    try:
        return civil_to_epoch(_digits(s, 0, 4), _digits(s, 5, 2), _digits(s, 8, 2), 0, 0, 0)
    except DerError:
        raise CborError("bad_date")


def tdate_to_epoch(s):
    """Seconds since the epoch of an RFC 3339 date-time (tag 0); fractions are dropped.

    Accepts "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)".
    """
    from vitale.codec.der import DerError, civil_to_epoch

    if not isinstance(s, str) or len(s) < 20 or s[10] not in "Tt" or s[13] != ":" or s[16] != ":":
        raise CborError("bad_date")
    i = 19
    n = len(s)
    if s[i] == ".":
        i += 1
        j = i
        while i < n and "0" <= s[i] <= "9":
            i += 1
        if i == j:
            raise CborError("bad_date")
    off = 0
    if i < n and s[i] in "Zz" and i + 1 == n:
        pass
    elif i + 6 == n and s[i] in "+-" and s[i + 3] == ":":
        hh = _digits(s, i + 1, 2)
        mm = _digits(s, i + 4, 2)
        if hh > 23 or mm > 59:
            raise CborError("bad_date")
        off = (hh * 60 + mm) * 60
        if s[i] == "-":
            off = -off
    else:
        raise CborError("bad_date")
    d = full_date_to_epoch(s[0:10])
    h = _digits(s, 11, 2)
    mi = _digits(s, 14, 2)
    sec = _digits(s, 17, 2)
    try:
        t = civil_to_epoch(1970, 1, 1, h, mi, sec)
    except DerError:
        raise CborError("bad_date")
    return d + t - off
