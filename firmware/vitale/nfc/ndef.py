"""NFC Forum NDEF records, the Type 4 Tag capability container, and Connection Handover.

  parse_message(data) -> [Record]        an NDEF message (chunked records are refused)
  build_record(tnf, type, payload, id=b"", first=False, last=False) -> bytes
  parse_cc(data) -> CapabilityContainer  the 15-byte CC file of a Type 4 Tag (mapping 2.0)
  parse_handover_select(data) -> HandoverSelect
      the Hs record (version, alternative carriers), found by type, plus every
      record of the message, so the caller finds carrier configurations by ID
  parse_nfc_carrier(payload) -> (max_command, max_response)   iso.org:18013:nfc record

Every failure raises NdefError (a ValueError) with a reason string.
"""

from vitale.compat import const

TNF_WELL_KNOWN = const(1)
TNF_MIME = const(2)
TNF_EXTERNAL = const(4)

_MB = const(0x80)
_ME = const(0x40)
_CF = const(0x20)
_SR = const(0x10)
_IL = const(0x08)
_MAX_RECORDS = const(64)
_MAX_DEPTH = const(2)  # a Handover Select embeds one level of records


class NdefError(ValueError):
    """An NDEF message, CC file or handover record that cannot be used; `.reason` says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Record:
    """One NDEF record: tnf (0..7), type, id and payload (bytes)."""

    def __init__(self, tnf, rtype, rid, payload):
        self.tnf = tnf
        self.type = rtype
        self.id = rid
        self.payload = payload

    def __repr__(self):
        return "Record(%d, %r, %r, %d bytes)" % (self.tnf, self.type, self.id, len(self.payload))


def parse_message(data):
    """The records of an NDEF message that is all of `data` (MB on the first, ME on the last)."""
    n = len(data)
    if n == 0:
        raise NdefError("empty message")
    out = []  # type: list
    i = 0
    while i < n:
        if len(out) >= _MAX_RECORDS:
            raise NdefError("too many records")
        h = data[i]
        if bool(h & _MB) != (i == 0):
            raise NdefError("message begin flag misplaced")
        if h & _CF:
            raise NdefError("chunked records are not supported")
        tnf = h & 0x07
        i += 1
        if i + 1 > n:
            raise NdefError("truncated header")
        tlen = data[i]
        i += 1
        if h & _SR:
            if i + 1 > n:
                raise NdefError("truncated header")
            plen = data[i]
            i += 1
        else:
            if i + 4 > n:
                raise NdefError("truncated header")
            plen = (data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]
            i += 4
        ilen = 0
        if h & _IL:
            if i + 1 > n:
                raise NdefError("truncated header")
            ilen = data[i]
            i += 1
        if tnf == 0 and (tlen or ilen or plen):
            raise NdefError("empty record with content")
        if tnf in (5, 6) and tlen:
            raise NdefError("unknown/unchanged record with a type")
        if tnf == 7:
            raise NdefError("reserved TNF")
        end = i + tlen + ilen + plen
        if end > n:
            raise NdefError("record longer than the message")
        rtype = bytes(data[i:i + tlen])
        i += tlen
        rid = bytes(data[i:i + ilen])
        i += ilen
        out.append(Record(tnf, rtype, rid, bytes(data[i:end])))
        i = end
        if h & _ME:
            if i != n:
                raise NdefError("bytes after the message end")
            return out
    raise NdefError("no message end flag")


def build_record(tnf, rtype, payload, rid=b"", first=False, last=False):
    """Encode one record (short form when the payload is under 256 bytes)."""
    h = tnf & 0x07
    if first:
        h |= _MB
    if last:
        h |= _ME
    n = len(payload)
    out = bytearray()
    if n < 256:
        h |= _SR
    if rid:
        h |= _IL
    out.append(h)
    out.append(len(rtype))
    if n < 256:
        out.append(n)
    else:
        out.extend(n.to_bytes(4, "big"))
    if rid:
        out.append(len(rid))
    out.extend(rtype)
    out.extend(rid)
    out.extend(payload)
    return bytes(out)


class CapabilityContainer:
    """A Type 4 Tag CC: mapping version, MLe, MLc, NDEF file id, max size, access bytes."""

    def __init__(self, version, mle, mlc, file_id, max_size, read_access, write_access):
        self.version = version
        self.mle = mle
        self.mlc = mlc
        self.file_id = file_id
        self.max_size = max_size
        self.read_access = read_access
        self.write_access = write_access


def parse_cc(data):
    """Parse the CC file: needs CCLEN >= 15, mapping 2.x or 3.x, an NDEF File Control TLV."""
    if len(data) < 15:
        raise NdefError("CC shorter than 15 bytes")
    cclen = (data[0] << 8) | data[1]
    if cclen < 15:
        raise NdefError("CCLEN below 15")
    version = data[2]
    if version >> 4 not in (2, 3):
        raise NdefError("unsupported mapping version")
    mle = (data[3] << 8) | data[4]
    mlc = (data[5] << 8) | data[6]
    if mle < 0x0F or mlc < 1:
        raise NdefError("MLe/MLc out of range")
    if data[7] != 0x04 or data[8] != 0x06:
        raise NdefError("no NDEF File Control TLV")
    fid = (data[9] << 8) | data[10]
    if fid in (0x0000, 0xE102, 0xE103, 0x3F00, 0x3FFF, 0xFFFF):
        raise NdefError("reserved NDEF file id")
    size = (data[11] << 8) | data[12]
    if size < 5:
        raise NdefError("NDEF file too small")
    return CapabilityContainer(version, mle, mlc, fid, size, data[13], data[14])


class AlternativeCarrier:
    """An `ac` record: carrier power state, carrier data reference, auxiliary references."""

    def __init__(self, cps, carrier_ref, aux_refs):
        self.cps = cps
        self.carrier_ref = carrier_ref
        self.aux_refs = aux_refs


class HandoverSelect:
    """A Handover Select message: version byte, alternative carriers, every record of the message."""

    def __init__(self, version, carriers, records):
        self.version = version
        self.carriers = carriers
        self.records = records

    def find(self, tnf, rtype, rid=None):
        """The first record with this TNF and type (and ID when given), or None."""
        for r in self.records:
            if r.tnf == tnf and r.type == rtype and (rid is None or r.id == rid):
                return r
        return None


def _parse_ac(p):
    if len(p) < 2:
        raise NdefError("short ac record")
    cps = p[0] & 0x03
    n = p[1]
    i = 2 + n
    if i + 1 > len(p):
        raise NdefError("truncated ac record")
    ref = bytes(p[2:i])
    count = p[i]
    i += 1
    aux = []
    for _ in range(count):
        if i + 1 > len(p):
            raise NdefError("truncated ac record")
        m = p[i]
        if i + 1 + m > len(p):
            raise NdefError("truncated ac record")
        aux.append(bytes(p[i + 1:i + 1 + m]))
        i += 1 + m
    return AlternativeCarrier(cps, ref, aux)


def parse_handover_select(data):
    """A Handover Select message (the Hs record anywhere; version 1.x) with its carriers."""
    records = parse_message(data)
    hs = None
    for r in records:
        if r.tnf == TNF_WELL_KNOWN and r.type == b"Hs":
            hs = r
            break
    if hs is None:
        raise NdefError("no Handover Select record")
    p = hs.payload
    if len(p) < 1:
        raise NdefError("empty Hs record")
    if p[0] >> 4 != 1:
        raise NdefError("unsupported handover version")
    carriers = []
    if len(p) > 1:
        for r in parse_message(memoryview(p)[1:]):
            if r.tnf == TNF_WELL_KNOWN and r.type == b"ac":
                carriers.append(_parse_ac(r.payload))
    return HandoverSelect(p[0], carriers, records)


def _tlv_uint(v, lo, hi):
    if not lo <= len(v) <= hi:
        raise NdefError("bad NFC carrier length field")
    x = 0
    for b in v:
        x = (x << 8) | b
    return x


def parse_nfc_carrier(payload):
    """(max command data length, max response data length) of an iso.org:18013:nfc record.

    Payload: version 01, then TLVs [len][type][value]; type 01 (1..2 bytes) and
    type 02 (1..3 bytes). Missing values default to the minimum (255 / 256).
    """
    if len(payload) < 1 or payload[0] != 0x01:
        raise NdefError("unsupported NFC carrier version")
    cmd = 255
    rsp = 256
    i = 1
    n = len(payload)
    while i < n:
        ln = payload[i]
        if ln < 1 or i + 1 + ln > n:
            raise NdefError("bad NFC carrier TLV")
        t = payload[i + 1]
        v = payload[i + 2:i + 1 + ln]
        if t == 0x01:
            cmd = _tlv_uint(v, 1, 2)
        elif t == 0x02:
            rsp = _tlv_uint(v, 1, 3)
        i += 1 + ln
    if cmd < 255 or rsp < 256:
        raise NdefError("NFC carrier limits below the minimum")
    return (cmd, rsp)
