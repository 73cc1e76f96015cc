"""ISO 18013-5 NFC engagement: DeviceEngagement and static handover over a Type 4 Tag.

  parse_device_engagement(data) -> DeviceEngagement   version, EDeviceKeyBytes, public key
  parse_engagement(hs_message) -> Engagement           DE + NFC carrier limits from a Handover Select
  read_handover_select(link, tries=3, sleep_ms=None) -> bytes
      SELECT the NDEF application, read the CC, SELECT the NDEF file, read
      NLEN and the message in short READ BINARYs (Le <= 255 fits the PN532).

Failures: EngagementError (a ValueError) with `.reason`; NdefError and
IsoDepError pass through from the NDEF parser and the APDU link.
"""

from vitale.codec import cbor
from vitale.compat import const
from vitale.crypto import cose
from vitale.nfc import ndef
from vitale.nfc.isodep import IsoDepError, check_sw

NDEF_AID = b"\xd2\x76\x00\x00\x85\x01\x01"
CC_FILE = b"\xe1\x03"
DE_TYPE = b"iso.org:18013:deviceengagement"
NFC_TYPE = b"iso.org:18013:nfc"
_READ_MAX = const(255)  # READ BINARY Le: 255 data + SW stays inside one PN532 frame
_MAX_NDEF = const(8192)  # refuse larger handover messages (a phone sends < 1 KB)


class EngagementError(ValueError):
    """A DeviceEngagement or handover that cannot be used; `.reason` says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class DeviceEngagement:
    """version (str), e_device_key_bytes (the exact tag-24 item), e_device_key (65-byte SEC1)."""

    def __init__(self, raw, version, e_device_key_bytes, e_device_key):
        self.raw = raw
        self.version = version
        self.e_device_key_bytes = e_device_key_bytes
        self.e_device_key = e_device_key


def parse_device_engagement(data):
    """Check a DeviceEngagement (version 1.x, cipher suite 1, a P-256 EDeviceKey); unknown keys ignored."""
    try:
        de = cbor.loads(data)
    except cbor.CborError as e:
        raise EngagementError("DeviceEngagement CBOR: " + e.reason)
    if not isinstance(de, dict):
        raise EngagementError("DeviceEngagement is not a map")
    version = de.get(0)
    if not isinstance(version, str) or not version.startswith("1."):
        raise EngagementError("unsupported DeviceEngagement version")
    sec = de.get(1)
    if not isinstance(sec, list) or len(sec) < 2:
        raise EngagementError("no Security array")
    if sec[0] != 1 or isinstance(sec[0], bool):
        raise EngagementError("unsupported cipher suite")
    ek = sec[1]
    if not isinstance(ek, cbor.Embedded):
        raise EngagementError("EDeviceKeyBytes is not tag 24")
    try:
        pub = cose.key_from_cose(ek)
    except cose.CoseError as e:
        raise EngagementError("EDeviceKey: " + str(e))
    return DeviceEngagement(bytes(data), version, ek.tagged, pub)


class Engagement:
    """What a Handover Select gives: the DeviceEngagement and the NFC carrier limits.

    nfc_limits is (max command data, max response data), or None when the phone
    offers no NFC carrier (a BLE-only wallet).
    """

    def __init__(self, handover_select, device_engagement, nfc_limits):
        self.handover_select = handover_select
        self.device_engagement = device_engagement
        self.nfc_limits = nfc_limits


def parse_engagement(hs_message):
    """Find the DeviceEngagement record and the NFC carrier in a Handover Select message."""
    hs = ndef.parse_handover_select(hs_message)
    rec = hs.find(ndef.TNF_EXTERNAL, DE_TYPE, b"mdoc")
    if rec is None:
        rec = hs.find(ndef.TNF_EXTERNAL, DE_TYPE)
    if rec is None:
        raise EngagementError("no DeviceEngagement record")
    de = parse_device_engagement(rec.payload)
    limits = None
    for ac in hs.carriers:
        r = hs.find(ndef.TNF_EXTERNAL, NFC_TYPE, ac.carrier_ref)
        if r is not None and ac.cps != 0:
            limits = ndef.parse_nfc_carrier(r.payload)
            break
    return Engagement(bytes(hs_message), de, limits)


def read_handover_select(link, tries=3, sleep_ms=None):
    """Read the static-handover NDEF message from a Type 4 Tag through an isodep.ApduLink.

    A locked Android phone answers 6A82 to the NDEF SELECT: it is tried `tries`
    times, with sleep_ms(100) between tries when a sleep function is given.
    """
    n = 0
    while True:
        n += 1
        data, sw = link.send(0x00, 0xA4, 0x04, 0x00, NDEF_AID, None, False)
        if sw == 0x9000:
            break
        if sw != 0x6A82 or n >= tries:
            check_sw(sw)
            raise IsoDepError("not_found", sw, "NDEF application")
        if sleep_ms is not None:
            sleep_ms(100)
    link.send(0x00, 0xA4, 0x00, 0x0C, CC_FILE, None)
    cc = ndef.parse_cc(link.send(0x00, 0xB0, 0x00, 0x00, None, 15))
    if cc.read_access != 0x00:
        raise EngagementError("NDEF file not readable")
    fid = bytes((cc.file_id >> 8, cc.file_id & 0xFF))
    link.send(0x00, 0xA4, 0x00, 0x0C, fid, None)
    nlen = link.send(0x00, 0xB0, 0x00, 0x00, None, 2)
    if len(nlen) != 2:
        raise EngagementError("bad NLEN read")
    size = (nlen[0] << 8) | nlen[1]
    if size == 0:
        raise EngagementError("empty NDEF file (negotiated handover is not supported)")
    if size > _MAX_NDEF or size + 2 > cc.max_size:
        raise EngagementError("NDEF message too large")
    step = cc.mle if cc.mle < _READ_MAX else _READ_MAX
    out = bytearray()
    while len(out) < size:
        off = 2 + len(out)
        want = size - len(out)
        if want > step:
            want = step
        chunk = link.send(0x00, 0xB0, off >> 8, off & 0xFF, None, want)
        if not chunk:
            raise EngagementError("empty READ BINARY answer")
        out.extend(chunk[:size - len(out)])
    return bytes(out)
