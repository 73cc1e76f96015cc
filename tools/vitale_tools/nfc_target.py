"""Cards and phones in an emulated 13.56 MHz field: the card side of ISO 14443-3 and -4.

A `CardTarget` is what a PN532 finds in its field: an anticollision identity
(UID, ATQA, SAK), an ATS, and an APDU handler `process_apdu()`. The later mdoc
phone emulator implements `process_apdu` (or registers an `ApduService` with
`HcePhone`); raising `CardRemoved` from it means "the phone left the field
right now".

`IsoDepPicc` runs the card side of the ISO-DEP block protocol over raw frames
(RATS/ATS, I/R/S blocks, chaining both ways, S(WTX) when the app is slower
than the frame waiting time, S(DESELECT)). Both the PN532's own ISO-DEP
(InDataExchange) and a host-driven one (nfcpy over InCommunicateThru) talk to
it, so one card model serves both paths.

`HcePhone` routes APDUs as Android host card emulation does; `Type4TagService`
(an NDEF type 4 tag) and `EchoService` (chaining, GET RESPONSE, slow answers)
are small apps for tests and the `vitale-sim pn532` command.
"""

from __future__ import annotations

import math
import os

FC_HZ = 13.56e6
FSC_TABLE = (16, 24, 32, 40, 48, 64, 96, 128, 256)
SW_OK = b"\x90\x00"


class CardRemoved(Exception):
    """Raised by process_apdu(): the card or phone has just left the field."""


def fwt_seconds(fwi: int) -> float:
    """Frame waiting time for an FWI: 256 * 16 / fc * 2**FWI."""
    return 4096.0 / FC_HZ * (1 << fwi)


def ats_params(ats: bytes) -> tuple[int, int, bool]:
    """(FSC in bytes, FWI, CID supported) from an ATS (TL first); ISO defaults where absent."""
    fsci, fwi, cid = 2, 4, False
    if len(ats) >= 2 and ats[0] >= 2:
        t0 = ats[1]
        fsci = min(t0 & 0x0F, 8)
        i = 2
        if t0 & 0x10:
            i += 1
        if t0 & 0x20 and i < len(ats):
            fwi = ats[i] >> 4
            if fwi > 14:
                fwi = 4
            i += 1
        if t0 & 0x40 and i < len(ats):
            cid = bool(ats[i] & 0x02)
    return FSC_TABLE[fsci], fwi, cid


def random_hce_uid() -> bytes:
    """A 4-byte random UID as HCE phones send: 0x08 (ISO "random ID") then 3 random bytes."""
    return b"\x08" + os.urandom(3)


class CardTarget:
    """A card or phone in the field. Subclass and implement process_apdu().

    Class attributes give the anticollision identity; `latency_s` models the
    app's time per APDU (override apdu_latency() for per-command times).
    """

    atqa = 0x0004  # 4-byte UID, bit frame anticollision
    sak = 0x20  # ISO 14443-4 compliant
    # TL=5, T0: TA TB TC present, FSCI 8 (256); TA 80 (106 kbps only); TB FWI 7 SFGI 0; TC CID supported
    ats = bytes.fromhex("0578807002")
    extended_apdus = True

    def __init__(self, uid: bytes | None = None, *, latency_s: float = 0.002) -> None:
        if uid is not None and len(uid) not in (4, 7, 10):
            raise ValueError("a UID has 4, 7 or 10 bytes")
        self._fixed_uid = uid
        self.uid = uid if uid is not None else random_hce_uid()
        self.latency_s = latency_s

    def on_field(self) -> None:
        """The field came on: phones pick a new random UID (unless one was fixed)."""
        if self._fixed_uid is None:
            self.uid = random_hce_uid()

    def on_activated(self) -> None:
        """ISO-DEP activation (RATS answered)."""

    def on_deactivated(self, reason: str) -> None:
        """The ISO-DEP link ended: 'link_loss' (field off, deselect, release, removal)."""

    def process_apdu(self, apdu: bytes) -> bytes:
        """Answer one command APDU with data + SW1 SW2."""
        raise NotImplementedError

    def apdu_latency(self, apdu: bytes) -> float:
        """Seconds the app takes to answer `apdu` (modelled time)."""
        return self.latency_s


class ApduService:
    """An HCE app registered for AIDs in an HcePhone."""

    def process_apdu(self, apdu: bytes) -> bytes:
        """Answer one command APDU (the routing SELECT included) with data + SW."""
        raise NotImplementedError

    def on_deactivated(self, reason: str) -> None:
        """'deselected' (another AID was selected) or 'link_loss'."""

    def apdu_latency(self, apdu: bytes) -> float | None:
        """Seconds to answer, or None for the phone's default."""
        return None


class HcePhone(CardTarget):
    """An Android phone doing host card emulation, with APDU routing by AID.

    As AOSP's HostEmulationManager: a SELECT is CLA 00, INS A4, P1 04 with a
    short Lc of 5..16; an unknown AID gets 6A82; anything before a successful
    SELECT gets 6F00; the Android AID gets 14 81 00 00 90 00. Extended-length
    APDUs get 6700 when `extended_apdus` is False.
    """

    ANDROID_AID = bytes.fromhex("A000000476416E64726F6964484345")

    def __init__(
        self,
        services: dict[bytes, ApduService],
        uid: bytes | None = None,
        *,
        latency_s: float = 0.002,
        extended_apdus: bool = True,
    ) -> None:
        super().__init__(uid, latency_s=latency_s)
        self.services = dict(services)
        self.extended_apdus = extended_apdus
        self.current: ApduService | None = None
        self.deactivations: list[str] = []

    @staticmethod
    def select_aid(apdu: bytes) -> bytes | None:
        """The AID of a routing SELECT, or None."""
        if len(apdu) < 10 or apdu[0] != 0x00 or apdu[1] != 0xA4 or apdu[2] != 0x04:
            return None
        lc = apdu[4]
        if not 5 <= lc <= 16 or len(apdu) < 5 + lc:
            return None
        return bytes(apdu[5 : 5 + lc])

    def process_apdu(self, apdu: bytes) -> bytes:
        """Route `apdu` to the selected service."""
        aid = self.select_aid(apdu)
        if aid is not None:
            if aid == self.ANDROID_AID:
                return b"\x14\x81\x00\x00\x90\x00"
            svc = self.services.get(aid)
            if svc is None:
                return b"\x6a\x82"
            if self.current is not None and self.current is not svc:
                self.current.on_deactivated("deselected")
            self.current = svc
            return svc.process_apdu(apdu)
        if self.current is None:
            return b"\x6f\x00"
        if len(apdu) >= 7 and apdu[4] == 0 and not self.extended_apdus:
            return b"\x67\x00"
        return self.current.process_apdu(apdu)

    def apdu_latency(self, apdu: bytes) -> float:
        """The routed service's time, else the phone's default."""
        aid = self.select_aid(apdu)
        svc = self.services.get(aid) if aid is not None else self.current
        t = svc.apdu_latency(apdu) if svc is not None else None
        return self.latency_s if t is None else t

    def on_deactivated(self, reason: str) -> None:
        """Tell the routed service the link is gone."""
        self.deactivations.append(reason)
        if self.current is not None:
            self.current.on_deactivated("link_loss")
        self.current = None


def _apdu_fields(apdu: bytes) -> tuple[int, int, int, int, bytes, int | None] | None:
    """(cla, ins, p1, p2, data, ne) of a well-formed APDU, else None (ne None = no Le)."""
    n = len(apdu)
    if n < 4:
        return None
    cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
    if n == 4:
        return cla, ins, p1, p2, b"", None
    b = apdu[4]
    if n == 5:
        return cla, ins, p1, p2, b"", b or 256
    if b:
        if n == 5 + b:
            return cla, ins, p1, p2, apdu[5:], None
        if n == 6 + b:
            return cla, ins, p1, p2, apdu[5:-1], apdu[-1] or 256
        return None
    if n < 7:
        return None
    x = apdu[5] << 8 | apdu[6]
    if n == 7:
        return cla, ins, p1, p2, b"", x or 65536
    if x and n == 7 + x:
        return cla, ins, p1, p2, apdu[7:], None
    if x and n == 9 + x:
        return cla, ins, p1, p2, apdu[7:-2], (apdu[-2] << 8 | apdu[-1]) or 65536
    return None


class Type4TagService(ApduService):
    """An NFC Forum type 4 tag (NDEF application D2760000850101, CC file E103, NDEF file E104)."""

    AID = bytes.fromhex("D2760000850101")

    def __init__(self, ndef_message: bytes, *, writable: bool = False, mle: int = 0x00FF) -> None:
        size = len(ndef_message) + 2
        self.writable = writable
        self.cc = (
            bytes.fromhex("000F20")
            + mle.to_bytes(2, "big")
            + mle.to_bytes(2, "big")
            + bytes.fromhex("0406E104")
            + max(size, 0x0080).to_bytes(2, "big")
            + (b"\x00\x00" if writable else b"\x00\xff")
        )
        self.files = {0xE103: bytearray(self.cc), 0xE104: bytearray(len(ndef_message).to_bytes(2, "big") + ndef_message)}
        self.selected: int | None = None

    def process_apdu(self, apdu: bytes) -> bytes:
        """SELECT (by AID or file id), READ BINARY, UPDATE BINARY."""
        f = _apdu_fields(apdu)
        if f is None:
            return b"\x67\x00"
        cla, ins, p1, p2, data, ne = f
        if ins == 0xA4 and p1 == 0x04:
            self.selected = None
            return SW_OK if data == self.AID else b"\x6a\x82"
        if ins == 0xA4 and p1 == 0x00:
            fid = int.from_bytes(data, "big") if len(data) == 2 else -1
            if fid not in self.files:
                return b"\x6a\x82"
            self.selected = fid
            return SW_OK
        if ins in (0xB0, 0xD6):
            if self.selected is None:
                return b"\x69\x86"
            body = self.files[self.selected]
            off = p1 << 8 | p2
            if off > len(body):
                return b"\x6b\x00"
            if ins == 0xB0:
                return bytes(body[off : off + (ne or 256)]) + SW_OK
            if not self.writable or self.selected != 0xE104:
                return b"\x69\x82"
            body[off : off + len(data)] = data
            return SW_OK
        return b"\x6d\x00"


def pattern_bytes(n: int) -> bytes:
    """n bytes of a fixed pattern (what EchoService's GET DATA returns)."""
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


class EchoService(ApduService):
    """A test app (AID F0010203040506) for chaining, long answers and slow answers.

    - SELECT: 9000.
    - GET DATA `CA`, P1P2 = size: `size` bytes of pattern_bytes().
    - ENVELOPE `C3`: echoes the data; pieces with CLA bit 0x10 are collected
      (9000 each) and echoed whole after the last one.
    - `5A`, P1P2 = milliseconds: answers 9000 after that long (modelled).
    Answers longer than Ne come as Ne bytes + 61xx, then GET RESPONSE `C0`.
    """

    AID = bytes.fromhex("F0010203040506")

    def __init__(self) -> None:
        self.pending = b""
        self.chain = bytearray()
        self.apdus: list[bytes] = []
        self.deactivations: list[str] = []

    def _answer(self, body: bytes, ne: int | None) -> bytes:
        limit = ne if ne is not None else 256
        if len(body) <= limit:
            self.pending = b""
            return body + SW_OK
        self.pending = body[limit:]
        rest = len(self.pending)
        return body[:limit] + bytes((0x61, rest if rest < 256 else 0))

    def process_apdu(self, apdu: bytes) -> bytes:
        """Answer one APDU (see the class docstring)."""
        self.apdus.append(bytes(apdu))
        f = _apdu_fields(apdu)
        if f is None:
            return b"\x67\x00"
        cla, ins, p1, p2, data, ne = f
        if ins != 0xC0:
            self.pending = b""
        if ins == 0xA4 and p1 == 0x04:
            return SW_OK if data == self.AID else b"\x6a\x82"
        if ins == 0xCA:
            return self._answer(pattern_bytes(p1 << 8 | p2), ne)
        if ins == 0xC0:
            if not self.pending:
                return b"\x69\x85"
            return self._answer(self.pending, ne)
        if ins == 0xC3:
            self.chain.extend(data)
            if cla & 0x10:
                return SW_OK
            body = bytes(self.chain)
            self.chain.clear()
            return self._answer(body, ne)
        if ins == 0x5A:
            return SW_OK
        return b"\x6d\x00"

    def apdu_latency(self, apdu: bytes) -> float | None:
        """INS 5A takes P1P2 milliseconds."""
        if len(apdu) >= 4 and apdu[1] == 0x5A:
            return (apdu[2] << 8 | apdu[3]) / 1000.0
        return None

    def on_deactivated(self, reason: str) -> None:
        """Forget half-received chains."""
        self.deactivations.append(reason)
        self.chain.clear()
        self.pending = b""


def uri_ndef(uri: str) -> bytes:
    """A one-record NDEF message with a URI record (no prefix abbreviation)."""
    payload = b"\x00" + uri.encode()
    if len(payload) > 255:
        raise ValueError("URI too long for a short record")
    return bytes((0xD1, 0x01, len(payload))) + b"U" + payload


def demo_phone(uid: bytes | None = None, *, latency_s: float = 0.002, extended_apdus: bool = True) -> HcePhone:
    """A phone with a type 4 tag (a URI) and the EchoService, as `vitale-sim pn532` serves."""
    return HcePhone(
        {
            Type4TagService.AID: Type4TagService(uri_ndef("https://vitale-reader.example/emulated-phone")),
            EchoService.AID: EchoService(),
        },
        uid,
        latency_s=latency_s,
        extended_apdus=extended_apdus,
    )


# -- ISO 14443-4 card side ------------------------------------------------------

_IDLE, _ACTIVE, _PROTOCOL, _HALT = "idle", "active", "protocol", "halt"
BLOCK_TURNAROUND_S = 0.0002  # card-side time to answer a protocol-only block [U]


class IsoDepPicc:
    """The card side of ISO 14443-3 activation state and ISO 14443-4 blocks.

    frame(data) takes one frame from the reader (CRC already checked and
    removed) and returns (answer or None, seconds before the answer starts).
    None means the card stays silent (not activated, malformed block, HALT).
    """

    def __init__(self, card: CardTarget) -> None:
        self.card = card
        self.state = _IDLE
        self.fsd = 256
        self.fwt = fwt_seconds(ats_params(card.ats)[1])
        self._reset_blocks()
        self.apdus = 0

    def _reset_blocks(self) -> None:
        self.bn = 1  # the card's block number (ISO 14443-4 rule C)
        self.rx = bytearray()
        self.tx: list[bytes] = []  # answer blocks still to send (chaining)
        self.last: bytes | None = None
        self.wtx_left = 0.0
        self.wtx_answer: bytes | None = None
        self.cid: int | None = None

    @property
    def iso_dep_active(self) -> bool:
        """True once RATS was answered and until deselection or power loss."""
        return self.state == _PROTOCOL

    def power_on(self) -> None:
        """The field came on."""
        self.state = _IDLE
        self._reset_blocks()
        self.card.on_field()

    def deactivate(self, reason: str = "link_loss") -> None:
        """The link ended (field off, removal): back to IDLE, tell the card."""
        was = self.state == _PROTOCOL
        self.state = _IDLE
        self._reset_blocks()
        if was:
            self.card.on_deactivated(reason)

    def select(self) -> bool:
        """A reader's poll and anticollision reached this card: it is now ACTIVE (layer 3).

        Models the PN532 as waking a halted card too, so repeated polls find it [U].
        """
        if self.state == _PROTOCOL:
            self.card.on_deactivated("link_loss")
        self.state = _ACTIVE
        self._reset_blocks()
        return True

    def _pcb(self, base: int) -> bytes:
        if self.cid is None:
            return bytes((base | self.bn,))
        return bytes((base | 0x08 | self.bn, self.cid))

    def _send(self, block: bytes, delay: float) -> tuple[bytes | None, float]:
        self.last = block
        return block, delay

    def frame(self, data: bytes) -> tuple[bytes | None, float]:
        """Answer one reader frame."""
        if not data:
            return None, 0.0
        if self.state == _ACTIVE:
            if data[0] == 0xE0 and len(data) == 2:
                fsdi = data[1] >> 4
                self.fsd = FSC_TABLE[min(fsdi, 8)]
                self.state = _PROTOCOL
                self._reset_blocks()
                self.card.on_activated()
                return self.card.ats, BLOCK_TURNAROUND_S
            if data[0] == 0x50 and len(data) == 2:
                self.state = _HALT
            return None, 0.0
        if self.state != _PROTOCOL:
            return None, 0.0
        pcb = data[0]
        i = 1
        cid: int | None = None
        if pcb & 0x08:  # CID follows (same bit in I, R and S blocks)
            if len(data) < 2:
                return None, 0.0
            cid = data[1] & 0x0F
            i = 2
        self.cid = cid
        if pcb & 0xE2 == 0x02:  # I-block
            if pcb & 0x04:  # NAD: not supported by phones; skip it
                i += 1
            if i > len(data):
                return None, 0.0
            return self._i_block(pcb, bytes(data[i:]))
        if pcb & 0xE6 == 0xA2:  # R-block
            if len(data) != i:
                return None, 0.0
            return self._r_block(pcb)
        if pcb & 0xC7 == 0xC2:  # S-block
            return self._s_block(pcb, bytes(data[i:]))
        return None, 0.0

    def _i_block(self, pcb: int, inf: bytes) -> tuple[bytes | None, float]:
        self.bn ^= 1  # rule D: toggle on every I-block received
        self.tx = []
        self.wtx_answer = None
        if pcb & 0x10:
            self.rx.extend(inf)
            return self._send(self._pcb(0xA2), BLOCK_TURNAROUND_S)
        apdu = bytes(self.rx) + inf
        self.rx = bytearray()
        self.apdus += 1
        latency = max(0.0, self.card.apdu_latency(apdu))
        answer = self.card.process_apdu(apdu)
        room = self.fsd - 3 - (1 if self.cid is not None else 0)
        pieces = [answer[k : k + room] for k in range(0, len(answer), room)] or [b""]
        self.tx = pieces
        first = self._next_i_block()
        return self._maybe_wtx(first, latency)

    def _next_i_block(self) -> bytes:
        piece = self.tx.pop(0)
        chain = 0x10 if self.tx else 0
        return self._pcb(0x02 | chain) + piece

    def _maybe_wtx(self, block: bytes, latency: float) -> tuple[bytes | None, float]:
        """Answer after `latency`, asking for waiting time extensions when it exceeds the FWT."""
        window = 0.75 * self.fwt
        if latency <= window:
            return self._send(block, latency + BLOCK_TURNAROUND_S)
        self.wtx_answer = block
        self.wtx_left = latency - window
        return self._wtx_request(window)

    def _wtx_request(self, after: float) -> tuple[bytes | None, float]:
        m = max(1, min(59, math.ceil(self.wtx_left / (0.75 * self.fwt))))
        return self._send(self._pcb_s(0xF2) + bytes((m,)), after)

    def _pcb_s(self, base: int) -> bytes:
        if self.cid is None:
            return bytes((base,))
        return bytes((base | 0x08, self.cid))

    def _r_block(self, pcb: int) -> tuple[bytes | None, float]:
        bn = pcb & 1
        if pcb & 0x10:  # R(NAK)
            if bn != self.bn:
                return self._send(self._pcb(0xA2), BLOCK_TURNAROUND_S)
            return self.last, BLOCK_TURNAROUND_S
        if bn == self.bn:  # R(ACK) for our current block: it was lost, send it again
            return self.last, BLOCK_TURNAROUND_S
        if not self.tx:
            return self.last, BLOCK_TURNAROUND_S
        self.bn ^= 1
        return self._send(self._next_i_block(), BLOCK_TURNAROUND_S)

    def _s_block(self, pcb: int, inf: bytes) -> tuple[bytes | None, float]:
        if pcb & 0x30 == 0x00:  # DESELECT
            self._reset_blocks()
            self.state = _HALT
            self.card.on_deactivated("link_loss")
            return bytes((pcb,)), BLOCK_TURNAROUND_S
        if pcb & 0x30 == 0x30 and self.wtx_answer is not None and inf:  # WTX response
            m = inf[0] & 0x3F
            window = 0.75 * self.fwt * max(1, m)
            if self.wtx_left <= window:
                block, self.wtx_answer = self.wtx_answer, None
                left, self.wtx_left = self.wtx_left, 0.0
                return self._send(block, left + BLOCK_TURNAROUND_S)
            self.wtx_left -= window
            return self._wtx_request(window)
        return None, 0.0
