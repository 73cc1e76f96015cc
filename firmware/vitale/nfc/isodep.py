"""ISO 7816-4 APDUs over ISO-DEP: build and parse, command chaining, GET RESPONSE.

The PN532 moves at most 262 bytes each way per InDataExchange. The portable
way to move more is what ISO 7816-4 offers every card and Android HCE app:
short APDUs (Lc <= 255, Le <= 256), command chaining (CLA bit 0x10 on every
piece but the last) for long commands, and `61xx` + GET RESPONSE for long
answers. ApduLink does both over any transceive(bytes) -> bytes function,
e.g. PN532.data_exchange.
"""

from vitale.compat import const

SW_OK = const(0x9000)
_CLA_CHAIN = const(0x10)
_INS_GET_RESPONSE = const(0xC0)
_MAX_ROUNDS = const(600)  # GET RESPONSE / chaining rounds per call, whatever the sizes


class IsoDepError(ValueError):
    """An APDU-level failure; `code` names it, `sw` is the status word when the card sent one.

    Codes for status words: not_found (6A82), wrong_p1p2 (6A86, 6B00, 6Axx),
    wrong_length (6700), wrong_le (6Cxx), ins_not_supported (6D00),
    cla_not_supported (6E00), no_diagnosis (6F00), security_status (6982),
    conditions (6985), not_allowed (other 69xx), chaining_unsupported (6884),
    last_command_expected (6883), wrong_data (6A80), func_not_supported (6A81),
    warning (62xx, 63xx), exec_error (64xx, 65xx), sw_error (anything else).
    Other codes: bad_apdu (a malformed command), bad_response (shorter than a
    status word), too_long.
    """

    def __init__(self, code, sw=None, detail=None):
        msg = code
        if detail:
            msg = msg + ": " + detail
        if sw is not None:
            msg = msg + " (SW %04X)" % sw
        super().__init__(msg)
        self.code = code
        self.sw = sw


_SW_CODES = {
    0x6A82: "not_found",
    0x6A86: "wrong_p1p2",
    0x6B00: "wrong_p1p2",
    0x6700: "wrong_length",
    0x6D00: "ins_not_supported",
    0x6E00: "cla_not_supported",
    0x6F00: "no_diagnosis",
    0x6982: "security_status",
    0x6985: "conditions",
    0x6884: "chaining_unsupported",
    0x6883: "last_command_expected",
    0x6A80: "wrong_data",
    0x6A81: "func_not_supported",
}

_SW1_CODES = {
    0x62: "warning",
    0x63: "warning",
    0x64: "exec_error",
    0x65: "exec_error",
    0x69: "not_allowed",
    0x6A: "wrong_p1p2",
    0x6C: "wrong_le",
}


def sw_code(sw):
    """The IsoDepError code of a status word, or None for 9000."""
    if sw == SW_OK:
        return None
    c = _SW_CODES.get(sw)
    if c is None:
        c = _SW1_CODES.get(sw >> 8, "sw_error")
    return c


def check_sw(sw):
    """Raise the IsoDepError of a status word other than 9000."""
    code = sw_code(sw)
    if code is not None:
        raise IsoDepError(code, sw)


def build_apdu(cla, ins, p1, p2, data=None, le=None, extended=False):
    """A command APDU as bytes.

    `le` is the number of answer bytes wanted (1..65536) or None for no Le
    field. The extended form (3-byte Lc, 2/3-byte Le) is used when the data
    is over 255 bytes, le is over 256, or `extended` is set.
    """
    for v in (cla, ins, p1, p2):
        if not 0 <= v <= 255:
            raise IsoDepError("bad_apdu", None, "header byte out of range")
    nc = len(data) if data is not None else 0
    if nc > 65535:
        raise IsoDepError("too_long", None, "command data over 65535 bytes")
    if le is not None and not 1 <= le <= 65536:
        raise IsoDepError("bad_apdu", None, "Le out of range")
    ext = extended or nc > 255 or (le is not None and le > 256)
    out = bytearray((cla, ins, p1, p2))
    if nc:
        if ext:
            out.append(0)
            out.append(nc >> 8)
            out.append(nc & 0xFF)
        else:
            out.append(nc)
        out.extend(data)
    if le is not None:
        if ext:
            if not nc:
                out.append(0)
            out.append((le >> 8) & 0xFF)
            out.append(le & 0xFF)
        else:
            out.append(le & 0xFF)
    return bytes(out)


def parse_command(apdu):
    """Split a command APDU: (cla, ins, p1, p2, data, le, extended).

    `le` is None when absent, else 1..256 (short) or 1..65536 (extended).
    """
    n = len(apdu)
    if n < 4:
        raise IsoDepError("bad_apdu", None, "shorter than a header")
    cla = apdu[0]
    ins = apdu[1]
    p1 = apdu[2]
    p2 = apdu[3]
    if n == 4:
        return (cla, ins, p1, p2, b"", None, False)
    b = apdu[4]
    if n == 5:
        return (cla, ins, p1, p2, b"", b or 256, False)
    if b:
        if n == 5 + b:
            return (cla, ins, p1, p2, bytes(apdu[5:n]), None, False)
        if n == 6 + b:
            return (cla, ins, p1, p2, bytes(apdu[5:n - 1]), apdu[n - 1] or 256, False)
        raise IsoDepError("bad_apdu", None, "length does not match Lc")
    if n < 7:
        raise IsoDepError("bad_apdu", None, "bad extended length")
    x = (apdu[5] << 8) | apdu[6]
    if n == 7:
        return (cla, ins, p1, p2, b"", x or 65536, True)
    if x == 0:
        raise IsoDepError("bad_apdu", None, "extended Lc of 0")
    if n == 7 + x:
        return (cla, ins, p1, p2, bytes(apdu[7:n]), None, True)
    if n == 9 + x:
        le = (apdu[n - 2] << 8) | apdu[n - 1]
        return (cla, ins, p1, p2, bytes(apdu[7:n - 2]), le or 65536, True)
    raise IsoDepError("bad_apdu", None, "length does not match extended Lc")


def parse_response(resp):
    """Split a response APDU: (data, sw)."""
    n = len(resp)
    if n < 2:
        raise IsoDepError("bad_response", None, "%d bytes" % n)
    return (bytes(resp[0:n - 2]), (resp[n - 2] << 8) | resp[n - 1])


class ApduLink:
    """APDUs over a `transceive(apdu) -> response` function (e.g. PN532.data_exchange).

    `max_command`: the longest APDU one transceive may carry (262 for a
    PN532 InDataExchange; more when the transport chains with MI).
    `max_total`: the longest answer data accepted across GET RESPONSE rounds.
    `extended`: use extended-length APDUs (only for cards known to take them).
    """

    def __init__(self, transceive, max_command=261, max_total=65536, extended=False):
        if max_command < 6:
            raise IsoDepError("bad_apdu", None, "max_command too small")
        self._transceive = transceive
        self.max_command = max_command
        self.max_total = max_total
        self.extended = extended
        self.exchanges = 0

    def _raw(self, apdu):
        if len(apdu) > self.max_command:
            raise IsoDepError("too_long", None, "APDU of %d bytes" % len(apdu))
        self.exchanges += 1
        return parse_response(self._transceive(apdu))

    def exchange(self, apdu):
        """Send one APDU; follow 61xx with GET RESPONSE and retry once on 6Cxx.

        Returns (data, sw) with the data of every round joined. Any chunk size
        is accepted (some cards ignore the Le of GET RESPONSE).
        """
        data, sw = self._raw(apdu)
        if sw >> 8 == 0x6C:
            cla, ins, p1, p2, cdata, le, ext = parse_command(apdu)
            if cdata:
                return (data, sw)
            data, sw = self._raw(build_apdu(cla, ins, p1, p2, None, (sw & 0xFF) or 256, ext))
        if sw >> 8 != 0x61:
            return (data, sw)
        out = bytearray(data)
        gr = bytearray((apdu[0] & 0x03, _INS_GET_RESPONSE, 0, 0, 0))
        rounds = 0
        while sw >> 8 == 0x61:
            rounds += 1
            if rounds > _MAX_ROUNDS:
                raise IsoDepError("too_long", sw, "endless GET RESPONSE")
            gr[4] = sw & 0xFF
            data, sw = self._raw(gr)
            out.extend(data)
            if len(out) > self.max_total:
                raise IsoDepError("too_long", None, "answer over %d bytes" % self.max_total)
        return (bytes(out), sw)

    def send(self, cla, ins, p1, p2, data=None, le=256, check=True):
        """Send a command of any length; return the answer data (SW 9000 required when `check`).

        Data that does not fit one APDU goes out with command chaining; every
        intermediate piece must be answered 9000. With check=False returns
        (data, sw) instead.
        """
        nc = len(data) if data is not None else 0
        ext = self.extended and (nc > 255 or (le is not None and le > 256))
        if le is not None and le > 256 and not ext:
            le = 256
        # room for data in one APDU: header, Lc (1 or 3) and Le (0..3)
        lc_len = 3 if ext else 1
        le_len = 0 if le is None else (2 if ext else 1)
        room = self.max_command - 4 - lc_len - le_len
        cap = 65535 if ext else 255
        if room > cap:
            room = cap
        if room < 1:
            raise IsoDepError("too_long", None, "max_command too small")
        if nc > room:
            if cla & _CLA_CHAIN:
                raise IsoDepError("bad_apdu", None, "CLA already chained")
            mv = memoryview(data)
            chunk = self.max_command - 4 - lc_len
            if chunk > cap:
                chunk = cap
            pos = 0
            rounds = 0
            while nc - pos > room:
                rounds += 1
                if rounds > _MAX_ROUNDS:
                    raise IsoDepError("too_long", None, "too many chained pieces")
                piece = build_apdu(cla | _CLA_CHAIN, ins, p1, p2, mv[pos:pos + chunk], None, ext)
                _, sw = self._raw(piece)
                if sw != SW_OK:
                    raise IsoDepError(sw_code(sw), sw, "chained piece refused")
                pos += chunk
            data = mv[pos:nc]
        out, sw = self.exchange(build_apdu(cla, ins, p1, p2, data, le, ext))
        if not check:
            return (out, sw)
        check_sw(sw)
        return out
