"""compat: the same behaviour on CPython and in the MicroPython VM."""

from vitale import compat


def test_ticks_wrap_and_diff():
    a = compat.ticks_ms()
    b = compat.ticks_add(a, 1500)
    assert compat.ticks_diff(b, a) == 1500
    assert compat.ticks_diff(a, b) == -1500
    near_wrap = (1 << 30) - 10
    assert compat.ticks_diff(compat.ticks_add(near_wrap, 20), near_wrap) == 20


def test_random_bytes_length_and_variety():
    a = compat.random_bytes(32)
    b = compat.random_bytes(32)
    assert len(a) == 32 and len(b) == 32 and a != b


def test_ptr_fallbacks_read_unsigned_little_endian():
    buf = bytearray(b"\xff\x01\x02\x03\x04\x05\x06\x07")
    assert compat.ptr8(buf)[0] == 255
    assert compat.ptr16(buf)[1] == 0x0302
    assert compat.ptr32(buf)[1] == 0x07060504
    p = compat.ptr16(buf)
    p[0] = 0xABCD
    assert buf[0] == 0xCD and buf[1] == 0xAB


def test_zlib_roundtrip_and_error():
    # zlib stream of b"hello" (fixed; MicroPython may have no compressor)
    data = b"x\x9c\xcbH\xcd\xc9\xc9\x07\x00\x06,\x02\x15"
    assert compat.zlib_decompress(data) == b"hello"
    try:
        compat.zlib_decompress(b"not zlib at all")
    except compat.DecompressError:
        pass
    else:
        raise AssertionError("corrupt data accepted")


def test_modinv():
    p = 2**255 - 19
    assert compat.modinv(12345, p) * 12345 % p == 1


def test_const_is_identity_value():
    assert compat.const(7) == 7
