"""vitale.codec.der: strict DER rules, typed accessors, exact raw bytes of certificates."""

import binascii

from fwsupport import read_hex, report
from vitale.codec import der
from vitale.codec.der import DerError
from vitale.crypto import p256

h = binascii.unhexlify


def _fails(reason, fn, *args):
    try:
        fn(*args)
    except DerError as e:
        assert e.reason == reason, "expected %s, got %s" % (reason, e.reason)
        return
    raise AssertionError("accepted; expected DerError " + reason)


def _el(hx):
    return der.parse(h(hx))


def test_lengths_minimal_only():
    assert len(_el("0400")) == 0
    assert _el("04027f7f").content == b"\x7f\x7f"
    long_ok = b"\x04\x81\x80" + bytes(128)
    assert len(der.parse(long_ok)) == 128
    _fails("bad_length", der.parse, b"\x04\x81\x05" + bytes(5))  # fits the short form
    _fails("bad_length", der.parse, b"\x04\x82\x00\x80" + bytes(128))  # leading zero octet
    _fails("bad_length", der.parse, h("0485010000000000"))  # more than 4 length octets
    _fails("indefinite", der.parse, h("30800000"))
    _fails("truncated", der.parse, h("040501"))
    _fails("truncated", der.parse, h("30"))
    _fails("truncated", der.parse, h(""))
    _fails("truncated", der.parse, h("0482ff"))
    _fails("truncated", der.parse, h("0484ffffffff00"))
    _fails("trailing_data", der.parse, h("050000"))
    _fails("high_tag", der.parse, h("1f0100"))
    _fails("high_tag", der.parse, h("bf8a0100"))
    _fails("bad_input", der.parse, "0500")
    assert der.encode_length(127) == h("7f")
    assert der.encode_length(200) == h("81c8")
    assert der.encode_length(300) == h("82012c")
    assert der.encode_tlv(0x04, b"\x01" * 200)[:3] == h("0481c8")


def test_read_sequence_and_children():
    data = h("3006020101020102" "0500")
    el, p = der.read(data)
    assert el.tag == der.SEQUENCE and el.constructed and el.cls == 0
    assert [c.as_int() for c in el.children()] == [1, 2]
    nul, p2 = der.read(data, p)
    assert nul.as_null() is None and p2 == len(data)
    assert el.raw == h("3006020101020102")
    assert bytes(el.view) == h("020101020102")
    _fails("truncated", lambda: _el("3003020201").children())
    _fails("not_constructed", lambda: _el("0400").children())
    _fails("bad_tag", lambda: _el("0400").expect(der.SEQUENCE))
    assert _el("3000").children() == []


def test_context_tags():
    el = _el("a003020102")
    assert el.is_context(0) and not el.is_context(1) and el.cls == 2
    assert el.explicit(0).as_int() == 2
    _fails("trailing_data", lambda: _el("a006020102020103").explicit(0))
    _fails("bad_tag", lambda: _el("a003020102").explicit(1))
    _fails("bad_tag", lambda: _el("8001ff").explicit(0))  # implicit, primitive
    assert _el("810105").as_int() == 5  # [1] IMPLICIT INTEGER
    assert _el("8203616263").is_context(2)


def test_integers():
    for hx, v in (("020100", 0), ("02017f", 127), ("02020080", 128), ("020180", -128),
                  ("0201ff", -1), ("0202ff7f", -129), ("02030100ff", 65791),
                  ("0209010000000000000000", 2**64)):
        assert _el(hx).as_int() == v, hx
    _fails("bad_int", lambda: _el("0200").as_int())
    _fails("bad_int", lambda: _el("0202007f").as_int())
    _fails("bad_int", lambda: _el("0202ff80").as_int())
    _fails("bad_tag", lambda: _el("0401ff").as_int())
    _fails("bad_tag", lambda: _el("a1030201ff").as_int())


def test_bool_null_octets():
    assert _el("0101ff").as_bool() is True
    assert _el("010100").as_bool() is False
    _fails("bad_bool", lambda: _el("010101").as_bool())
    _fails("bad_bool", lambda: _el("01020000").as_bool())
    _fails("bad_bool", lambda: _el("0100").as_bool())
    _fails("bad_null", lambda: _el("050100").as_null())
    assert _el("0403010203").as_octets() == h("010203")
    _fails("bad_tag", lambda: _el("2403040100").as_octets())  # constructed form


def test_oids():
    assert _el("06082a8648ce3d040302").as_oid() == "1.2.840.10045.4.3.2"
    assert _el("06072a8648ce3d0201").as_oid() == "1.2.840.10045.2.1"
    assert _el("0603550403").as_oid() == "2.5.4.3"
    assert _el("06028837").as_oid() == "2.999"
    assert _el("060100").as_oid() == "0.0"
    assert _el("060728818c5d050102").as_oid() == "1.0.18013.5.1.2"
    _fails("bad_oid", lambda: _el("0600").as_oid())
    _fails("bad_oid", lambda: _el("060186").as_oid())  # last arc continues
    _fails("bad_oid", lambda: _el("06032a8001").as_oid())  # non-minimal arc
    _fails("bad_oid", lambda: _el("0602802a").as_oid())


def test_bit_strings():
    assert _el("030100").as_bitstring() == (0, b"")
    assert _el("03020780").as_bitstring() == (7, h("80"))
    assert _el("0303000102").as_bits() == h("0102")
    _fails("bad_bitstring", lambda: _el("03020781").as_bitstring())  # unused bit set
    _fails("bad_bitstring", lambda: _el("030101").as_bitstring())
    _fails("bad_bitstring", lambda: _el("03020800").as_bitstring())
    _fails("bad_bitstring", lambda: _el("0300").as_bitstring())
    _fails("bad_bitstring", lambda: _el("03020780").as_bits())


def _time(tag, s):
    return der.parse(der.encode_tlv(tag, s.encode())).as_time()


def test_times():
    assert _time(der.UTC_TIME, "201001000000Z") == 1601510400
    assert _time(der.UTC_TIME, "491231235959Z") == 2524607999
    assert _time(der.UTC_TIME, "500101000000Z") == -631152000
    assert _time(der.GENERALIZED_TIME, "20500101000000Z") == 2524608000
    assert _time(der.GENERALIZED_TIME, "20000229120000Z") == 951825600
    for bad in ("2010010000Z", "201001000000", "201001000000+0100", "2010010000000Z",
                "201301000000Z", "200230000000Z", "201001240000Z", "201001006000Z",
                "201001000060Z", "20100100000 Z", "2O1001000000Z", "201000000000Z"):
        _fails("bad_time", _time, der.UTC_TIME, bad)
    for bad in ("20201001000000.5Z", "202010010000Z", "20201001000000", "19000229000000Z"):
        _fails("bad_time", _time, der.GENERALIZED_TIME, bad)
    _fails("bad_tag", _time, der.OCTET_STRING, "201001000000Z")
    assert der.civil_to_epoch(1970, 1, 1, 0, 0, 0) == 0
    assert der.civil_to_epoch(2038, 1, 19, 3, 14, 8) == 2**31
    _fails("bad_time", der.civil_to_epoch, 2021, 2, 29, 0, 0, 0)


def test_strings():
    assert _el("1303616263").as_str() == "abc"
    assert _el("13072d2e3a3d3f2820").as_str() == "-.:=?( "
    _fails("bad_string", lambda: _el("130140").as_str())
    assert _el("0c02c3a9").as_str() == "\u00e9"
    _fails("bad_string", lambda: _el("0c01ff").as_str())
    assert _el("160140").as_str() == "@"
    _fails("bad_string", lambda: _el("160180").as_str())
    assert _el("1e0400410042").as_str() == "AB"
    _fails("bad_string", lambda: _el("1e0100").as_str())
    _fails("bad_string", lambda: _el("1e02d800").as_str())
    assert _el("1203313233").as_str() == "123"
    _fails("bad_string", lambda: _el("120141").as_str())
    assert _el("1a0141").as_str() == "A"
    assert _el("1401e9").as_str() == "\u00e9"
    _fails("bad_tag", lambda: _el("0401ff").as_str())


def _spki_point(tbs):
    ch = tbs.children()
    i = 1 if ch[0].is_context(0) else 0
    spki = ch[i + 5].expect(der.SEQUENCE).children()
    alg = spki[0].children()
    assert alg[0].as_oid() == "1.2.840.10045.2.1"
    assert alg[1].as_oid() == "1.2.840.10045.3.1.7"
    return spki[1].as_bits()


def test_certificates_raw_tbs_verifies():
    # X.509 signatures cover the TBSCertificate exactly as received.
    n = 0
    for leaf, root in (("annex-d/ds_cert.der.hex", "annex-d/iaca_cert.der.hex"),
                       ("annex-d/reader_cert.der.hex", "annex-d/reader_root_cert.der.hex")):
        cert = der.parse(read_hex("iso18013-5/" + leaf)).expect(der.SEQUENCE)
        tbs, alg, sig = cert.children()
        assert alg.children()[0].as_oid() == "1.2.840.10045.4.3.2"
        ca = der.parse(read_hex("iso18013-5/" + root))
        ca_pub = _spki_point(ca.children()[0])
        assert p256.ecdsa_verify_der(ca_pub, tbs.raw, sig.as_bits())
        assert not p256.ecdsa_verify_der(ca_pub, tbs.raw[:-1] + b"\x00", sig.as_bits())
        ch = tbs.children()
        assert ch[0].explicit(0).as_int() == 2  # v3
        validity = [t.as_time() for t in ch[4].children()]
        assert validity[0] == 1601510400  # 2020-10-01T00:00:00Z
        assert len(_spki_point(tbs)) == 65
        n += 1
    report("der_certs", verified=n)
