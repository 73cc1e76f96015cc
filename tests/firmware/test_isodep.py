"""nfc.isodep: APDU encoding (short, extended), parsing, chaining and GET RESPONSE logic."""

import binascii

from fwsupport import load_json, report
from vitale.nfc.isodep import (
    ApduLink,
    IsoDepError,
    build_apdu,
    check_sw,
    parse_command,
    parse_response,
    sw_code,
)


def h(s):
    return binascii.unhexlify(s.replace(" ", ""))


def raises(code, f, *args):
    try:
        f(*args)
    except IsoDepError as e:
        assert e.code == code, (e.code, code)
        return e
    raise AssertionError("no IsoDepError " + code)


def test_build_all_cases_short():
    assert build_apdu(0, 0xB0, 0, 0) == h("00B00000")
    assert build_apdu(0, 0xB0, 0, 0, le=15) == h("00B000000F")
    assert build_apdu(0, 0xB0, 0, 0, le=256) == h("00B0000000")
    assert build_apdu(0, 0xA4, 4, 0, h("D2760000850101")) == h("00A4040007D2760000850101")
    assert build_apdu(0, 0xA4, 4, 0, h("D2760000850101"), 256) == h("00A4040007D276000085010100")


def test_build_all_cases_extended():
    assert build_apdu(0, 0xB0, 0, 0, le=257) == h("00B00000000101")
    assert build_apdu(0, 0xB0, 0, 0, le=65536) == h("00B00000000000")
    d = bytes(300)
    a = build_apdu(0, 0xC3, 0, 0, d)
    assert a[:7] == h("00C30000 00012C") and len(a) == 307
    a = build_apdu(0, 0xC3, 0, 0, d, 65536)
    assert a[-2:] == h("0000") and len(a) == 309
    assert build_apdu(0, 0xC3, 0, 0, h("01"), 10, extended=True) == h("00C30000 000001 01 000A")


def test_build_rejects_bad_fields():
    raises("bad_apdu", build_apdu, 256, 0, 0, 0)
    raises("bad_apdu", build_apdu, 0, 0, 0, 0, None, 0)
    raises("bad_apdu", build_apdu, 0, 0, 0, 0, None, 65537)
    raises("too_long", build_apdu, 0, 0, 0, 0, bytes(65536))


def test_parse_round_trips_every_case():
    cases = [
        (0x00, 0xB0, 1, 2, b"", None),
        (0x00, 0xB0, 1, 2, b"", 1),
        (0x00, 0xB0, 1, 2, b"", 256),
        (0x80, 0xA4, 4, 0, b"\x01", None),
        (0x00, 0xA4, 4, 0, bytes(255), 256),
        (0x00, 0xB0, 0, 0, b"", 257),
        (0x00, 0xB0, 0, 0, b"", 65536),
        (0x10, 0xC3, 0, 0, bytes(256), None),
        (0x00, 0xC3, 0, 0, bytes(1000), 65536),
    ]
    for cla, ins, p1, p2, data, le in cases:
        apdu = build_apdu(cla, ins, p1, p2, data, le)
        c = parse_command(apdu)
        assert c[:6] == (cla, ins, p1, p2, data, le), (apdu, c)
        assert c[6] == (len(apdu) > 4 and apdu[4] == 0 and len(apdu) >= 7)


def test_parse_rejects_malformed_commands():
    for bad in ("00A404", "00A4040002AA", "00A40400 0000", "00A40400 000002 AA",
                "00A40400 000000 AA", "00A40400 02 AABBCCDD"):
        raises("bad_apdu", parse_command, h(bad))


def test_parse_response_and_status_words():
    assert parse_response(h("01029000")) == (h("0102"), 0x9000)
    assert parse_response(h("6A82")) == (b"", 0x6A82)
    raises("bad_response", parse_response, h("90"))
    assert sw_code(0x9000) is None
    assert sw_code(0x6A82) == "not_found" and sw_code(0x6F00) == "no_diagnosis"
    assert sw_code(0x6D00) == "ins_not_supported" and sw_code(0x6700) == "wrong_length"
    assert sw_code(0x6C10) == "wrong_le" and sw_code(0x6985) == "conditions"
    assert sw_code(0x63C1) == "warning" and sw_code(0x6A88) == "wrong_p1p2"
    assert sw_code(0x9100) == "sw_error"
    e = raises("not_found", check_sw, 0x6A82)
    assert e.sw == 0x6A82 and isinstance(e, ValueError)
    check_sw(0x9000)


class Script:
    """A scripted transceive: checks each command, returns the scripted answer."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.sent = []

    def __call__(self, apdu):
        self.sent.append(bytes(apdu))
        assert self.steps, "unexpected APDU " + binascii.hexlify(apdu).decode()
        want, answer = self.steps.pop(0)
        if want is not None:
            assert bytes(apdu) == want, (binascii.hexlify(apdu), binascii.hexlify(want))
        return answer


def test_get_response_rounds_are_joined():
    s = Script([
        (h("00C30000 03 530100 00"), bytes(range(256)) + h("6110")),
        (h("00C00000 10"), bytes(16) + h("6100")),
        (h("00C00000 00"), b"\x07" * 300 + h("9000")),  # a card ignoring Le: any size is accepted
    ])
    link = ApduLink(s)
    out = link.send(0, 0xC3, 0, 0, h("530100"))
    assert out == bytes(range(256)) + bytes(16) + b"\x07" * 300
    assert not s.steps and link.exchanges == 3


def test_command_chaining_splits_long_data():
    data = bytes(i & 0xFF for i in range(600))
    s = Script([
        (b"\x10\xC3\x00\x00\xFF" + data[:255], h("9000")),
        (b"\x10\xC3\x00\x00\xFF" + data[255:510], h("9000")),
        (b"\x00\xC3\x00\x00\x5A" + data[510:] + b"\x00", h("AABB9000")),
    ])
    assert ApduLink(s).send(0, 0xC3, 0, 0, data) == h("AABB")
    assert max(len(a) for a in s.sent) <= 261


def test_chaining_fits_a_smaller_max_command():
    data = bytes(100)
    s = Script([(None, h("9000"))] * 3)
    ApduLink(s, max_command=40).send(0, 0xC3, 0, 0, data, le=None)
    assert all(len(a) <= 40 for a in s.sent)
    assert [a[0] for a in s.sent] == [0x10, 0x10, 0x00]
    assert b"".join(a[5:] for a in s.sent) == data


def test_chained_piece_refused_raises_with_its_status():
    s = Script([(None, h("6884"))])
    e = raises("chaining_unsupported", ApduLink(s).send, 0, 0xC3, 0, 0, bytes(400))
    assert e.sw == 0x6884


def test_wrong_le_is_retried_once_with_the_right_le():
    s = Script([(h("00B0000000"), h("6C0F")), (h("00B000000F"), bytes(15) + h("9000"))])
    assert ApduLink(s).send(0, 0xB0, 0, 0) == bytes(15)
    s = Script([(None, h("6C0F")), (None, h("6C0E"))])
    raises("wrong_le", ApduLink(s).send, 0, 0xB0, 0, 0)


def test_errors_and_limits():
    raises("not_found", ApduLink(Script([(None, h("6A82"))])).send, 0, 0xA4, 4, 0, h("A0000002480400"))
    data, sw = ApduLink(Script([(None, h("6A82"))])).send(0, 0xA4, 4, 0, h("A0000002480400"), None, False)
    assert sw == 0x6A82 and data == b""
    raises("bad_response", ApduLink(Script([(None, b"\x90")])).send, 0, 0xB0, 0, 0)
    endless = Script([(None, bytes(200) + h("6100"))] * 400)
    raises("too_long", ApduLink(endless, max_total=10000).send, 0, 0xC0, 0, 0)
    raises("too_long", ApduLink(Script([])).exchange, bytes(300))
    raises("bad_apdu", ApduLink(Script([])).send, 0x10, 0xC3, 0, 0, bytes(300))


def test_extended_mode_uses_one_apdu():
    data = bytes(1000)
    s = Script([(None, bytes(700) + h("9000"))])
    out = ApduLink(s, max_command=2000, extended=True).send(0, 0xC3, 0, 0, data, le=65536)
    assert len(out) == 700 and s.sent[0][4:7] == h("0003E8") and s.sent[0][-2:] == h("0000")


def test_real_session_apdus_parse_and_rebuild():
    n = 0
    for rel in ("iso18013-5/synthetic-vitale-nfc-session/nfc_data_transfer_apdus.json",
                "iso18013-5/multipaz-nfc-engagement/static_handover_apdus.json",
                "iso18013-5/multipaz-nfc-engagement/negotiated_handover_apdus.json"):
        for ex in load_json(rel)["exchanges"]:
            apdu = binascii.unhexlify(ex["command"])
            cla, ins, p1, p2, data, le, ext = parse_command(apdu)
            assert build_apdu(cla, ins, p1, p2, data or None, le, ext) == apdu
            resp, sw = parse_response(binascii.unhexlify(ex["response"]))
            assert sw >> 8 in (0x90, 0x61, 0x6A)
            n += 1
    assert n > 20
    report("isodep session APDUs", apdus=n)
