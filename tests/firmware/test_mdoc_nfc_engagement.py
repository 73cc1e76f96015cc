"""nfc.ndef / nfc.engagement: NDEF, CC and Handover Select parsing; the static-handover APDU transcript."""

import binascii

from fwsupport import load_json, read_hex, report

from vitale.nfc import engagement, ndef
from vitale.nfc.isodep import ApduLink, IsoDepError

M = "iso18013-5/multipaz-nfc-engagement/"


def _h(s):
    return binascii.unhexlify(s)


class Replay:
    """transceive() that checks each command against a recorded transcript and answers as recorded."""

    def __init__(self, exchanges):
        self.ex = exchanges
        self.i = 0

    def __call__(self, apdu):
        assert self.i < len(self.ex), "command after the transcript: " + binascii.hexlify(apdu).decode()
        cmd, resp = self.ex[self.i]
        self.i += 1
        assert bytes(apdu) == cmd, binascii.hexlify(apdu).decode() + " != " + binascii.hexlify(cmd).decode()
        return resp


def _static():
    t = load_json(M + "static_handover_apdus.json")
    return [(_h(e["command"]), _h(e["response"])) for e in t["exchanges"]], t


def test_static_handover_transcript_byte_for_byte():
    ex, t = _static()
    rp = Replay(ex)
    hs = engagement.read_handover_select(ApduLink(rp))
    assert rp.i == len(ex)
    assert hs == ex[-1][1][:-2]
    eng = engagement.parse_engagement(hs)
    assert eng.nfc_limits == (0xFFFF, 0x10000)
    x = t["note"].split("x=")[1].split()[0]
    assert eng.device_engagement.e_device_key[1:33] == _h(x)
    recs = ndef.parse_handover_select(hs)
    assert [c.carrier_ref for c in recs.carriers] == [b"0", b"nfc"]
    assert recs.carriers[0].aux_refs == [b"mdoc"]
    ble = recs.find(ndef.TNF_MIME, b"application/vnd.bluetooth.le.oob", b"0")
    assert ble is not None and ble.payload[:3] == b"\x02\x1c\x03"
    report("ndef multipaz static", apdus=len(ex))


def test_locked_phone_then_unlocked():
    ex, _ = _static()
    ex = [(ex[0][0], b"\x6a\x82")] + ex
    rp = Replay(ex)
    sleeps = []
    hs = engagement.read_handover_select(ApduLink(rp), 3, sleeps.append)
    assert sleeps == [100] and hs == ex[-1][1][:-2]
    rp = Replay([(ex[0][0], b"\x6a\x82")] * 2)
    try:
        engagement.read_handover_select(ApduLink(rp), 2)
        raise AssertionError("no error")
    except IsoDepError as e:
        assert e.code == "not_found"


def test_synthetic_handover_select():
    hs = read_hex("iso18013-5/synthetic-vitale-nfc-session/handover_select_ndef.hex")
    eng = engagement.parse_engagement(hs)
    assert eng.nfc_limits == (255, 256)
    assert eng.device_engagement.raw == read_hex("iso18013-5/synthetic-vitale-nfc-session/device_engagement.hex")


def test_record_round_trip():
    a = ndef.build_record(1, b"T", b"x" * 3, first=True)
    b = ndef.build_record(4, b"iso.org:18013:nfc", b"\x01" * 300, rid=b"nfc", last=True)
    recs = ndef.parse_message(a + b)
    assert [(r.tnf, r.type, r.id, len(r.payload)) for r in recs] == [(1, b"T", b"", 3),
                                                                     (4, b"iso.org:18013:nfc", b"nfc", 300)]
    assert ndef.build_record(1, b"T", b"xyz", first=True, last=True)[0] == 0xD1


def _refused(f, arg):
    try:
        f(arg)
    except ndef.NdefError:
        return True
    except engagement.EngagementError:
        return True
    return False


def test_malformed_inputs_refused():
    one = ndef.build_record(1, b"T", b"abc", first=True, last=True)
    bad_messages = [
        b"",
        one[:-1],  # truncated payload
        one + b"\x00",  # bytes after ME
        bytes((one[0] & 0x7F,)) + one[1:],  # no MB
        bytes((one[0] & 0xBF,)) + one[1:],  # no ME
        bytes((one[0] | 0x20,)) + one[1:],  # chunked
        b"\xd7\x00\x00",  # reserved TNF
        b"\xd0\x01\x00T",  # empty TNF with a type
        b"\xc1\x01\x00\x00",  # long form truncated
    ]
    for m in bad_messages:
        assert _refused(ndef.parse_message, m), m
    cc = _h("000f207fff7fff0406e1047fff00ff")
    assert ndef.parse_cc(cc).file_id == 0xE104
    for bad in (cc[:14], _h("000e") + cc[2:], cc[:2] + b"\x10" + cc[3:], cc[:7] + b"\x05" + cc[8:],
                cc[:9] + b"\xe1\x03" + cc[11:]):
        assert _refused(ndef.parse_cc, bad)
    assert _refused(ndef.parse_handover_select, one)  # no Hs
    hs_bad_ver = ndef.build_record(1, b"Hs", b"\x25", first=True, last=True)
    assert _refused(ndef.parse_handover_select, hs_bad_ver)
    hs_ok = ndef.build_record(1, b"Hs", b"\x15", first=True, last=True)
    assert _refused(engagement.parse_engagement, hs_ok)  # no DE record
    for p in (b"", b"\x02", b"\x01\x02\x01", b"\x01\x03\x01\x00\x10", b"\x01\x04\x01\x01\x00\x00"):
        assert _refused(ndef.parse_nfc_carrier, p), p
    for de in (b"", b"\xa0", b"\xa2\x00\x632.0\x01\x82\x01\x00", b"\xa2\x00\x631.0\x01\x82\x02\x00",
               b"\xa2\x00\x631.0\x01\x82\x01\x41\x00", b"\xa2\x00\x631.0\x01\x82\x01\xd8\x18\x41\xa0", b"\xff"):
        assert _refused(engagement.parse_device_engagement, de), de
