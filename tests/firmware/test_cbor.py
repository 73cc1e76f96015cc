"""vitale.codec.cbor: RFC 8949 Appendix A, deterministic encoding, exact spans, limits."""

import binascii
import hashlib

from fwsupport import read_hex, report
from vitale.codec import cbor
from vitale.codec.cbor import CborError, Embedded, Raw, Simple, Tag, Undefined

h = binascii.unhexlify
NAN = float("nan")
INF = float("inf")


def _fails(reason, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except CborError as e:
        assert e.reason == reason, "expected %s, got %s" % (reason, e.reason)
        return
    raise AssertionError("accepted; expected CborError " + reason)


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        if a != a:
            return b != b
        return a == b and str(a) == str(b)  # tells 0.0 from -0.0
    return type(a) is type(b) and a == b


# (value, hex) pairs of RFC 8949 Appendix A whose encoding is the deterministic one:
# decode(hex) == value and dumps(value) == hex.
_APPENDIX_A = [
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"),
    (100, "1864"), (1000, "1903e8"), (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (18446744073709551616, "c249010000000000000000"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (-18446744073709551617, "c349010000000000000000"),
    (-1, "20"), (-10, "29"), (-100, "3863"), (-1000, "3903e7"),
    (0.0, "f90000"), (-0.0, "f98000"), (1.0, "f93c00"), (1.1, "fb3ff199999999999a"),
    (1.5, "f93e00"), (65504.0, "f97bff"), (100000.0, "fa47c35000"),
    (3.4028234663852886e38, "fa7f7fffff"), (1.0e300, "fb7e37e43c8800759c"),
    (5.960464477539063e-8, "f90001"), (0.00006103515625, "f90400"), (-4.0, "f9c400"),
    (-4.1, "fbc010666666666666"), (INF, "f97c00"), (NAN, "f97e00"), (-INF, "f9fc00"),
    (False, "f4"), (True, "f5"), (None, "f6"), (Undefined, "f7"),
    (Simple(16), "f0"), (Simple(255), "f8ff"),
    (Tag(0, "2013-03-21T20:04:00Z"), "c074323031332d30332d32315432303a30343a30305a"),
    (Tag(1, 1363896240), "c11a514b67b0"),
    (Tag(1, 1363896240.5), "c1fb41d452d9ec200000"),
    (Tag(23, b"\x01\x02\x03\x04"), "d74401020304"),
    (Embedded(b"\x64IETF"), "d818456449455446"),
    (Tag(32, "http://www.example.com"), "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ("\"\\", "62225c"),
    ("\u00fc", "62c3bc"), ("\u6c34", "63e6b0b4"), ("\U00010151", "64f0908591"),
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"), ({1: 2, 3: 4}, "a201020304"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"}, "a56161614161626142616361436164614461656145"),
]

# Appendix A items with a non-deterministic encoding: decode only.
_APPENDIX_A_DECODE = [
    (INF, "fa7f800000"), (NAN, "fa7fc00000"), (-INF, "faff800000"),
    (INF, "fb7ff0000000000000"), (NAN, "fb7ff8000000000000"), (-INF, "fbfff0000000000000"),
    (b"\x01\x02\x03\x04\x05", "5f42010243030405ff"), ("streaming", "7f657374726561646d696e67ff"),
    ([], "9fff"), ([1, [2, 3], [4, 5]], "9f018202039f0405ffff"),
    ([1, [2, 3], [4, 5]], "9f01820203820405ff"), ([1, [2, 3], [4, 5]], "83018202039f0405ff"),
    ([1, [2, 3], [4, 5]], "83019f0203ff820405"),
    (list(range(1, 26)), "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff"),
    ({"a": 1, "b": [2, 3]}, "bf61610161629f0203ffff"), (["a", {"b": "c"}], "826161bf61626163ff"),
    ({"Fun": True, "Amt": -2}, "bf6346756ef563416d7421ff"),
]


def test_appendix_a_encode_and_decode():
    for value, hx in _APPENDIX_A:
        enc = h(hx)
        got = cbor.loads(enc)
        assert _same(got, value), (hx, got)
        assert cbor.dumps(value) == enc, (value, binascii.hexlify(cbor.dumps(value)))
        assert _same(cbor.loads(enc, canonical=True), value), hx
    report("cbor_appendix_a", roundtrip=len(_APPENDIX_A), decode_only=len(_APPENDIX_A_DECODE))


def test_appendix_a_decode_only():
    for value, hx in _APPENDIX_A_DECODE:
        assert _same(cbor.loads(h(hx)), value), hx
        # not deterministic: canonical mode refuses each of them
        _fails("non_canonical" if hx[0] == "f" else "indefinite", cbor.loads, h(hx), canonical=True)


def test_non_shortest_heads_decode_but_fail_canonical():
    for hx, value in (("1817", 23), ("190017", 23), ("1900ff", 255), ("1a0000ffff", 65535),
                      ("1b00000000ffffffff", 0xFFFFFFFF), ("3800", -1), ("5801ff", b"\xff"),
                      ("780161", "a"), ("9800", []), ("b800", {}), ("d80500", Tag(5, 0)),
                      ("c24101", 1), ("c2420001", 1)):
        assert cbor.loads(h(hx)) == value, hx
        _fails("non_canonical", cbor.loads, h(hx), canonical=True)
    _fails("non_canonical", cbor.loads, h("d90000" + "6161"), canonical=True)
    _fails("non_canonical", cbor.loads, h("fa3fc00000"), canonical=True)  # 1.5 fits a half
    _fails("non_canonical", cbor.loads, h("fb3ff8000000000000"), canonical=True)
    _fails("non_canonical", cbor.loads, h("f97e01"), canonical=True)  # NaN with payload
    assert cbor.loads(h("fa47c35000"), canonical=True) == 100000.0


def test_deterministic_map_order_is_bytewise():
    m = {24: "x", -1: "y", "a": 1, b"b": 2, 100: 3, "aa": 4, 0: 5, None: 6}
    enc = cbor.dumps(m)
    # keys: 0 (00) < 24 (1818) < 100 (1864) < -1 (20) < b"b" (4162) < "a" (6161) < "aa" < null (f6)
    assert enc == h("a8" "0005" "1818" "6178" "1864" "03" "20" "6179" "4162" "02"
                    "6161" "01" "626161" "04" "f6" "06"), binascii.hexlify(enc)
    assert cbor.loads(enc, canonical=True) == m
    _fails("unsorted_keys", cbor.loads, h("a2" "2000" "1818" "00"), canonical=True)
    _fails("unsorted_keys", cbor.loads, h("a2" "6161" "00" "6161" "00"), canonical=True)
    # insertion order never matters
    a = {}
    b = {}
    for k in range(20):
        a[k] = k
        b[19 - k] = 19 - k
    assert cbor.dumps(a) == cbor.dumps(b)
    assert cbor.dumps({1: 1, 2: 2}) == cbor.dumps({2: 2, 1: 1})


def test_tag24_keeps_exact_bytes():
    # non-minimal bstr length inside tag 24: a re-encoder would shorten the head
    enc = h("d818590003a10102")
    e = cbor.loads(enc)
    assert isinstance(e, Embedded)
    assert e.raw == h("a10102")
    assert e.tagged == enc
    assert e.value == {1: 2} and e.decode() == {1: 2}
    assert cbor.dumps(e) == enc
    assert cbor.dumps([e, 1]) == h("82") + enc + h("01")
    built = Embedded.of({1: 2})
    assert built.tagged == h("d81843a10102") and cbor.dumps(built) == built.tagged
    assert built == e  # equality compares the embedded bytes
    # embedded content is decoded lazily: a broken inner item only fails on access
    bad = cbor.loads(h("d81842ffff"))
    assert bad.raw == h("ffff")
    _fails("unexpected_break", lambda: bad.value)
    # content must be a definite bstr
    _fails("bad_tag_content", cbor.loads, h("d81801"))
    _fails("bad_tag_content", cbor.loads, h("d8185f41a1ff"))
    _fails("length_exceeds_input", cbor.loads, h("d81845a1"))


def test_tag24_inner_options_follow_outer():
    e = cbor.loads(h("d81843a20102"))  # inner map is cut short: a2 01 02
    _fails("length_exceeds_input", e.decode)
    dup = cbor.loads(h("d81845a201020103"), allow_duplicate_keys=True)
    assert dup.value == {1: 3}
    _fails("duplicate_key", cbor.loads(h("d81845a201020103")).decode)
    _fails("duplicate_key", dup.decode, allow_duplicate_keys=False)


def test_raw_is_embedded_verbatim():
    signed = h("a2026178016179")  # {2: "x", 1: "y"}: not in deterministic order
    assert cbor.dumps([Raw(signed), 5]) == h("82") + signed + h("05")
    assert Raw(signed).decode() == {1: "y", 2: "x"}
    assert cbor.dumps({"k": Raw(signed)}) == h("a1616b") + signed


def test_decoder_spans_and_split():
    data = h("83" "a10126" "d818590003a10102" "4401020304")
    d = cbor.Decoder(data)
    assert d.enter_array() == 3
    obj, s, e = d.decode_with_span()
    assert obj == {1: -7} and data[s:e] == h("a10126")
    raw = d.raw_item()
    assert raw == h("d818590003a10102")
    assert d.decode_item() == b"\x01\x02\x03\x04"
    assert d.at_end()
    d.finish()
    parts = cbor.split_array(data)
    assert parts == [h("a10126"), h("d818590003a10102"), h("4401020304")]
    m = cbor.split_map(h("a2" "01" "1903e8" "6161" "820102"))
    assert m == [(1, h("1903e8")), ("a", h("820102"))]
    _fails("duplicate_key", cbor.split_map, h("a2" "01" "00" "01" "00"))
    _fails("bad_type", cbor.split_array, h("a0"))
    _fails("indefinite", cbor.split_array, h("9fff"))
    _fails("trailing_data", cbor.split_array, h("8001"))
    _fails("length_exceeds_input", cbor.split_array, h("8201"))
    _fails("truncated", cbor.split_array, h("83181818"))
    d = cbor.Decoder(h("0102"))
    assert d.decode_item() == 1
    _fails("trailing_data", d.finish)


def test_integers_and_bignums():
    for v in (0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, 2**64, 2**100,
              -1, -24, -25, -256, -257, -(2**64), -(2**64) - 1, -(2**200)):
        assert cbor.loads(cbor.dumps(v), canonical=True) == v, v
    assert cbor.dumps(2**64) == h("c249010000000000000000")
    big = h("c25841") + b"\x01" * 65
    _fails("too_large", cbor.loads, big)
    _fails("bad_tag_content", cbor.loads, h("c26161"))
    assert cbor.loads(h("c340")) == -1  # empty bignum is 0


def test_floats_shortest_roundtrip():
    for x in (0.5, -0.5, 1.0 / 3, 65504.0, 65505.0, 6.103515625e-05, 6.0e-08, 1.0e-40, 3.0e38,
              1.0e39, 2.0 ** -24, 2.0 ** -25, 2.0 ** -149, 123456.789, -1.0e-300):
        enc = cbor.dumps(x)
        back = cbor.loads(enc, canonical=True)
        assert back == x, (x, binascii.hexlify(enc))
    assert len(cbor.dumps(2.0 ** -24)) == 3  # smallest half subnormal
    assert len(cbor.dumps(2.0 ** -25)) == 5
    assert len(cbor.dumps(65505.0)) == 5
    assert cbor.loads(h("f903ff")) == 1023 * 2.0 ** -24  # largest half subnormal
    assert cbor.loads(h("f97c01")) != cbor.loads(h("f97c01"))  # NaN


def test_simple_values():
    assert cbor.loads(h("e0")) == Simple(0)
    assert cbor.loads(h("f3")) == Simple(19)
    assert cbor.loads(h("f820")) == Simple(32)
    for n in range(0, 32):
        _fails("bad_simple", cbor.loads, bytes((0xF8, n)))
    for n in (0, 19, 32, 255):
        assert cbor.loads(cbor.dumps(Simple(n))) == Simple(n)
    _fails("bad_simple", Simple, 20)
    _fails("bad_simple", Simple, 256)


def test_tags_kept_and_checked():
    t = cbor.loads(h("d903ec6a323031392d31302d3230"))
    assert t == Tag(1004, "2019-10-20")
    assert cbor.dumps(t) == h("d903ec6a323031392d31302d3230")
    assert cbor.loads(h("d28440a0f640")) == Tag(18, [b"", {}, None, b""])
    _fails("bad_tag_content", cbor.loads, h("c001"))
    _fails("bad_tag_content", cbor.loads, h("c16161"))
    _fails("bad_tag_content", cbor.loads, h("c1f5"))
    _fails("bad_tag_content", cbor.loads, h("d903ec01"))
    _fails("bad_tag_content", cbor.loads, h("d201"))
    assert cbor.loads(h("db000000010000000000")) == Tag(2**32, 0)
    assert Tag(5, [1]) != Tag(5, [2]) and Tag(5, [1]) == Tag(5, [1])


def test_dates():
    assert cbor.tdate_to_epoch("2020-10-01T13:30:02Z") == 1601559002
    assert cbor.tdate_to_epoch("2020-10-01T13:30:02.123Z") == 1601559002
    assert cbor.tdate_to_epoch("2020-10-01T15:30:02+02:00") == 1601559002
    assert cbor.tdate_to_epoch("2020-10-01T12:00:02-01:30") == 1601559002
    assert cbor.tdate_to_epoch("1970-01-01T00:00:00Z") == 0
    assert cbor.full_date_to_epoch("2019-10-20") == 1571529600
    assert cbor.full_date_to_epoch("2000-02-29") == 951782400
    assert cbor.full_date_to_epoch("1969-12-31") == -86400
    for bad in ("2019-02-29", "2020-13-01", "2020-00-10", "2020-1-01", "20201001", "2020-10-32",
                "2020-10-0x", " 020-10-01", "+020-10-01", 20201001):
        _fails("bad_date", cbor.full_date_to_epoch, bad)
    for bad in ("2020-10-01T24:00:00Z", "2020-10-01T13:60:02Z", "2020-10-01T13:30:60Z",
                "2020-10-01T13:30:02", "2020-10-01 13:30:02Z", "2020-10-01T13:30:02.Z",
                "2020-10-01T13:30:02+0200", "2020-10-01T13:30:02Zjunk", "2020-10-01T1:30:02Z"):
        _fails("bad_date", cbor.tdate_to_epoch, bad)


def test_limits_depth_and_items():
    ok = b"\x81" * 32 + b"\x00"
    assert cbor.loads(ok) is not None
    _fails("too_deep", cbor.loads, b"\x81" * 33 + b"\x00")
    _fails("too_deep", cbor.loads, b"\xc6" * 33 + b"\x00")  # tags nest too
    _fails("too_deep", cbor.loads, b"\xa1\x00" * 33 + b"\x00")
    assert cbor.loads(b"\x81" * 5 + b"\x00", max_depth=5) is not None
    _fails("too_deep", cbor.loads, b"\x81" * 6 + b"\x00", max_depth=5)
    _fails("too_deep", cbor.loads, b"\x9f" * 40 + b"\xff" * 40)
    assert cbor.loads(h("83010203"), max_items=4) == [1, 2, 3]
    _fails("too_many_items", cbor.loads, h("83010203"), max_items=3)
    _fails("too_many_items", cbor.loads, h("9f010203ff"), max_items=3)
    _fails("too_many_items", cbor.loads, h("a20102030405"), max_items=4)
    nested = [[1, 2]] * 10
    _fails("too_deep", cbor.dumps, [nested], max_depth=1)
    deep = 0
    for _ in range(70):
        deep = [deep]
    _fails("too_deep", cbor.dumps, deep)


def test_limits_lengths_vs_input():
    _fails("truncated", cbor.loads, b"")
    _fails("truncated", cbor.loads, h("18"))
    _fails("truncated", cbor.loads, h("1901"))
    _fails("truncated", cbor.loads, h("1b00000000000000"))
    _fails("truncated", cbor.loads, h("83181818"))
    _fails("length_exceeds_input", cbor.loads, h("8201"))
    _fails("length_exceeds_input", cbor.loads, h("a101"))
    _fails("truncated", cbor.loads, h("9f01"))
    _fails("truncated", cbor.loads, h("5f4101"))
    _fails("length_exceeds_input", cbor.loads, h("4201"))
    _fails("length_exceeds_input", cbor.loads, h("5affffffff00"))
    _fails("length_exceeds_input", cbor.loads, h("7bffffffffffffffff"))
    _fails("length_exceeds_input", cbor.loads, h("9affffffff"))
    _fails("length_exceeds_input", cbor.loads, h("9bffffffffffffffff00"))
    _fails("length_exceeds_input", cbor.loads, h("a20102"))
    _fails("length_exceeds_input", cbor.loads, h("bbffffffffffffffff"))
    _fails("trailing_data", cbor.loads, h("0000"))
    _fails("bad_input", cbor.loads, "00")
    _fails("bad_input", cbor.loads, None)
    assert cbor.loads(memoryview(h("8101"))) == [1]
    assert cbor.loads(bytearray(h("8101"))) == [1]


def test_errors_wellformedness():
    for ib in (0x1C, 0x1D, 0x1E, 0x3C, 0x5D, 0x7E, 0x9C, 0xBD, 0xDE, 0xFC, 0xFD, 0xFE):
        _fails("reserved_ai", cbor.loads, bytes((ib,)))
    for ib in (0x1F, 0x3F, 0xDF):
        _fails("bad_indefinite", cbor.loads, bytes((ib, 0x00)))
    _fails("unexpected_break", cbor.loads, h("ff"))
    _fails("unexpected_break", cbor.loads, h("81ff"))
    _fails("unexpected_break", cbor.loads, h("bf01ff"))
    _fails("bad_chunk", cbor.loads, h("5f6161ff"))
    _fails("bad_chunk", cbor.loads, h("7f4161ff"))
    _fails("bad_chunk", cbor.loads, h("5f5fffff"))
    _fails("bad_utf8", cbor.loads, h("62c328"))
    _fails("bad_utf8", cbor.loads, h("61ff"))
    _fails("bad_utf8", cbor.loads, h("7f61c361a9ff"))  # a character split over two chunks
    _fails("bad_key", cbor.loads, h("a18001"))
    _fails("bad_key", cbor.loads, h("a1a00001"))


def test_duplicate_keys():
    _fails("duplicate_key", cbor.loads, h("a2" "01" "02" "01" "03"))
    _fails("duplicate_key", cbor.loads, h("a2" "6161" "02" "6161" "03"))
    _fails("duplicate_key", cbor.loads, h("a2" "01" "02" "1801" "03"))  # same key, longer head
    _fails("duplicate_key", cbor.loads, h("bf" "01" "02" "01" "03" "ff"))
    assert cbor.loads(h("a2010201" "03"), allow_duplicate_keys=True) == {1: 3}


def test_strict_refuses_indefinite():
    for hx in ("5f42010243030405ff", "7f657374726561646d696e67ff", "9fff", "bf616101ff"):
        assert cbor.loads(h(hx)) is not None
        _fails("indefinite", cbor.loads, h(hx), strict=True)


def test_encoder_types_and_errors():
    assert cbor.dumps((1, 2)) == h("820102")
    assert cbor.dumps(bytearray(b"\x01")) == h("4101")
    assert cbor.dumps(memoryview(b"\x01")) == h("4101")
    assert cbor.dumps({b"\x01": Undefined}) == h("a14101f7")
    assert cbor.dumps(Tag(2**40, None)) == h("db0000010000000000f6")
    assert cbor.head(2, 300) == h("59012c") and cbor.head(0, 23) == h("17")
    _fails("unsupported_type", cbor.dumps, object())
    _fails("unsupported_type", cbor.dumps, {1: {1}})
    _fails("unsupported_type", cbor.dumps, Tag(-1, 0))


def test_mdoc_vector_spans():
    # Annex D DeviceResponse: every IssuerSignedItemBytes keeps its exact bytes.
    data = read_hex("iso18013-5/annex-d/device_response.hex")
    resp = cbor.loads(data)
    doc = resp["documents"][0]
    items = doc["issuerSigned"]["nameSpaces"]["org.iso.18013.5.1"]
    n = 0
    for it in items:
        assert isinstance(it, Embedded)
        assert data.find(it.tagged) > 0  # the exact bytes occur in the input
        v = it.value
        assert "digestID" in v and "elementIdentifier" in v
        n += 1
    assert n == 6
    # the digests in the MSO cover the tag-24 items exactly as received
    mso = cbor.loads(doc["issuerSigned"]["issuerAuth"][2]).value
    digests = mso["valueDigests"]["org.iso.18013.5.1"]
    for it in items:
        assert hashlib.sha256(it.tagged).digest() == digests[it.value["digestID"]]
    # the response is not in deterministic order, yet its exact spans rebuild it
    parts = cbor.split_map(data)
    assert cbor.dumps(resp) != data
    rebuilt = cbor.head(5, len(parts)) + b"".join([cbor.dumps(k) + v for k, v in parts])
    assert rebuilt == data
    report("cbor_annex_d", issuer_signed_items=n)
