"""nfc.pn532: frame building and parsing, checksums, extended frames, target data, status codes."""

from vitale.nfc.pn532 import (
    ACK,
    FRAME_ACK,
    FRAME_BAD,
    FRAME_DATA,
    FRAME_ERROR,
    FRAME_NACK,
    FRAME_NONE,
    NACK,
    PN532Error,
    build_frame,
    check_status,
    parse_frame,
    parse_target,
    status_code,
)

import binascii


def h(s):
    return binascii.unhexlify(s.replace(" ", ""))


def test_build_get_firmware_version_matches_the_manual_example():
    out = bytearray(20)
    n = build_frame(out, 0xD4, 0x02)
    assert bytes(out[:n]) == h("00 00 FF 02 FE D4 02 2A 00")


def test_build_sam_configuration_as_adafruit_sends_it():
    out = bytearray(20)
    n = build_frame(out, 0xD4, 0x14, b"\x01\x14\x01")
    assert bytes(out[:n]) == h("00 00 FF 05 FB D4 14 01 14 01 02 00")


def test_build_head_and_data_parts_are_joined():
    out = bytearray(40)
    n = build_frame(out, 0xD4, 0x40, b"\x01", h("00A4040007F0010203040506"))
    kind, a, b, nxt = parse_frame(out, 0, n)
    assert kind == FRAME_DATA and nxt == n - 1
    assert bytes(out[a:a + b]) == h("D4 40 01 00A4040007F0010203040506")


def test_extended_frame_for_more_than_255_bytes():
    out = bytearray(300)
    params = bytes(i & 0xFF for i in range(263))
    n = build_frame(out, 0xD4, 0x00, params)
    assert bytes(out[:5]) == h("00 00 FF FF FF")
    assert (out[5] << 8 | out[6]) == 265 and (out[5] + out[6] + out[7]) & 0xFF == 0
    assert n == 8 + 265 + 2
    kind, a, b, nxt = parse_frame(out, 0, n)
    assert kind == FRAME_DATA and b == 265 and bytes(out[a + 2:a + b]) == params


def test_255_bytes_stay_a_normal_frame():
    out = bytearray(300)
    n = build_frame(out, 0xD5, 0x41, bytes(253))
    assert out[3] == 0xFF and out[4] == 0x01  # LEN FF, LCS 01: not the extended marker
    kind, a, b, nxt = parse_frame(out, 0, n)
    assert kind == FRAME_DATA and b == 255


def test_too_long_frame_is_refused():
    out = bytearray(300)
    try:
        build_frame(out, 0xD4, 0x00, bytes(264))
    except PN532Error as e:
        assert e.code == "too_long"
    else:
        raise AssertionError("no error")


def test_ack_nack_and_error_frame():
    assert parse_frame(ACK)[0] == FRAME_ACK
    assert parse_frame(NACK)[0] == FRAME_NACK
    kind, a, b, nxt = parse_frame(h("00 00 FF 01 FF 7F 81 00"))
    assert kind == FRAME_ERROR and b == 1


def test_reply_after_garbage_and_wake_bytes_is_found():
    frame = h("00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
    buf = h("55 55 13 FF 00 37") + ACK + frame
    kind, a, b, nxt = parse_frame(buf)
    assert kind == FRAME_ACK
    kind, a, b, nxt = parse_frame(buf, nxt)
    assert kind == FRAME_DATA and bytes(buf[a:a + b]) == h("D5 03 32 01 06 07")


def test_bad_checksums_are_skipped_and_scanning_resumes():
    good = h("00 00 FF 02 FE D5 15 16 00")
    bad_lcs = h("00 00 FF 02 FD D5 15 16 00")
    bad_dcs = h("00 00 FF 02 FE D5 15 17 00")
    for bad in (bad_lcs, bad_dcs):
        buf = bad + good
        kind, a, b, nxt = parse_frame(buf)
        assert kind == FRAME_BAD and nxt <= len(bad)
        kind, a, b, nxt = parse_frame(buf, nxt)
        assert kind == FRAME_DATA and bytes(buf[a:a + b]) == h("D5 15")


def test_zero_length_and_over_long_frames_are_bad():
    assert parse_frame(h("00 00 FF 00 00 00 00"))[0] == FRAME_BAD
    ext = h("00 00 FF FF FF 01 0A F5") + bytes(300)  # LEN 266 > 265
    assert parse_frame(ext)[0] == FRAME_BAD


def test_partial_frames_ask_for_more_and_say_how_much():
    frame = h("00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
    for cut in range(1, len(frame) - 1):
        kind, a, b, nxt = parse_frame(frame, 0, cut)
        assert kind == FRAME_NONE, cut
        assert a <= 1  # the candidate (or its preamble) is kept
        if cut >= 5:
            assert b == 12  # DCS index + 1
    kind, a, b, nxt = parse_frame(h("AA BB 00"))
    assert kind == FRAME_NONE and a == 2  # a trailing 00 may start a frame
    kind, a, b, nxt = parse_frame(h("AA BB CC"))
    assert kind == FRAME_NONE and a == 3


def test_parse_target_with_ats():
    data = h("01 01 00 04 20 04 08 12 34 56 05 78 80 70 02")
    t = parse_target(data)
    assert t.tg == 1 and t.sens_res == h("0004") and t.sel_res == 0x20
    assert t.uid == h("08123456") and t.ats == h("0578807002")
    assert t.iso_dep() and t.fwi() == 7 and t.fwt_ms() == 39


def test_parse_target_without_auto_rats_ignores_trailing_bytes_as_ats():
    data = h("01 01 00 44 00 07 04 11 22 33 44 55 66")
    t = parse_target(data, auto_rats=False)
    assert t.uid == h("04112233445566") and t.ats is None and not t.iso_dep()
    assert t.fwi() == 4


def test_parse_target_none_and_malformed():
    assert parse_target(b"\x00") is None
    for bad in ("", "01 01 00 04 20", "01 01 00 04 20 05 01 02 03 04 05", "01 01 00 04 20 04 08 12 34",
                "01 01 00 04 20 04 08 12 34 56 09 78"):
        try:
            parse_target(h(bad))
        except PN532Error as e:
            assert e.code == "bad_reply"
        else:
            raise AssertionError(bad)


def test_status_codes():
    assert status_code(0x00) is None and status_code(0x40) is None  # MI bit alone is success
    assert status_code(0x01) == "target_lost"
    assert status_code(0x41) == "target_lost"
    assert status_code(0x02) == "rf_error" and status_code(0x13) == "rf_error"
    assert status_code(0x27) == "bad_target"
    assert status_code(0x0E) == "app_error"
    try:
        check_status(0x27)
    except PN532Error as e:
        assert e.code == "bad_target" and e.status == 0x27 and isinstance(e, ValueError)
    else:
        raise AssertionError("no error")
