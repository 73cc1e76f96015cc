"""Base45 (RFC 9285): the alphanumeric-mode QR encoding of binary data.

  encode(data) -> str          bytes-like -> Base45 text
  decode(text) -> bytes        str (or ASCII bytes) -> bytes
Base45Error reasons: bad_input, bad_char (outside the 45-character alphabet), bad_length
(length % 3 == 1), bad_value (a 3-character group above 65535 or a final pair above 255).
"""

from vitale.codec import CodecError

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_LOOKUP = None


class Base45Error(CodecError):
    """Text that is not valid Base45; `.reason` says why."""


def _lookup():
    global _LOOKUP
    if _LOOKUP is None:
        t = bytearray(b"\xff" * 256)
        for i in range(45):
            t[ord(_ALPHABET[i])] = i
        _LOOKUP = bytes(t)
    return _LOOKUP


def encode(data):
    """Base45 text of data."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise Base45Error("bad_input")
    n = len(data)
    out = []
    a = _ALPHABET
    for i in range(0, n - 1, 2):
        v = (data[i] << 8) | data[i + 1]
        e, v = divmod(v, 2025)
        d, c = divmod(v, 45)
        out.append(a[c] + a[d] + a[e])
    if n & 1:
        d, c = divmod(data[n - 1], 45)
        out.append(a[c] + a[d])
    return "".join(out)


def decode(text):
    """Bytes encoded by the Base45 text (str, or bytes holding ASCII)."""
    if isinstance(text, str):
        n = len(text)
        try:
            text = text.encode("ascii")
        except (UnicodeError, ValueError):
            raise Base45Error("bad_char")
        if len(text) != n:  # MicroPython encodes as UTF-8 whatever the codec
            raise Base45Error("bad_char")
    elif not isinstance(text, (bytes, bytearray, memoryview)):
        raise Base45Error("bad_input")
    n = len(text)
    if n % 3 == 1:
        raise Base45Error("bad_length")
    t = _lookup()
    out = bytearray((n // 3) * 2 + (1 if n % 3 else 0))
    o = 0
    i = 0
    while i < n:
        c = t[text[i]]
        d = t[text[i + 1]]
        if c == 0xFF:
            raise Base45Error("bad_char", i)
        if d == 0xFF:
            raise Base45Error("bad_char", i + 1)
        if i + 2 < n:
            e = t[text[i + 2]]
            if e == 0xFF:
                raise Base45Error("bad_char", i + 2)
            v = c + d * 45 + e * 2025
            if v > 0xFFFF:
                raise Base45Error("bad_value", i)
            out[o] = v >> 8
            out[o + 1] = v & 0xFF
            o += 2
            i += 3
        else:
            v = c + d * 45
            if v > 0xFF:
                raise Base45Error("bad_value", i)
            out[o] = v
            o += 1
            i += 2
    return bytes(out)
