"""vitale.codec.base45: RFC 9285 examples, round trips, every error reason."""

from vitale.codec import base45
from vitale.codec.base45 import Base45Error
from vitale.compat import random_bytes


def _fails(reason, text):
    try:
        base45.decode(text)
    except Base45Error as e:
        assert e.reason == reason, "expected %s, got %s" % (reason, e.reason)
        return
    raise AssertionError("accepted %r; expected %s" % (text, reason))


def test_rfc9285_examples():
    assert base45.encode(b"AB") == "BB8"
    assert base45.encode(b"Hello!!") == "%69 VD92EX0"
    assert base45.encode(b"base-45") == "UJCLQE7W581"
    assert base45.decode("QED8WEX0") == b"ietf!"
    assert base45.decode("BB8") == b"AB"
    assert base45.decode("%69 VD92EX0") == b"Hello!!"
    assert base45.decode(b"UJCLQE7W581") == b"base-45"


def test_edges():
    assert base45.encode(b"") == "" and base45.decode("") == b""
    assert base45.encode(b"\x00") == "00" and base45.decode("00") == b"\x00"
    assert base45.encode(b"\xff\xff") == "FGW" and base45.decode("FGW") == b"\xff\xff"
    assert base45.encode(b"\xff") == "U5" and base45.decode("U5") == b"\xff"
    assert base45.encode(bytearray(b"AB")) == "BB8"
    assert base45.decode(memoryview(b"BB8")) == b"AB"


def test_roundtrip_random():
    n = 0
    for size in range(0, 64):
        data = random_bytes(size)
        assert base45.decode(base45.encode(data)) == data
        n += 1
    big = random_bytes(700)
    assert base45.decode(base45.encode(big)) == big


def test_errors():
    _fails("bad_length", "A")
    _fails("bad_length", "ABCD")
    _fails("bad_value", "GGW")  # 65536
    _fails("bad_value", ":::")
    _fails("bad_value", "V5")  # 256
    _fails("bad_value", "::")
    _fails("bad_char", "bb8")  # lower case is not in the alphabet
    _fails("bad_char", "BB8=A")
    _fails("bad_char", "B\u00e98")
    _fails("bad_char", "B\n8")
    _fails("bad_char", b"B\xff8")
    _fails("bad_input", None)
    _fails("bad_input", 123)
    try:
        base45.encode("AB")
    except Base45Error as e:
        assert e.reason == "bad_input"
    else:
        raise AssertionError("encode accepted a str")
