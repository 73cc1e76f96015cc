"""PN532 chip emulator: the real host-link protocol, a modelled RF field, timing and faults.

`PN532Emulator` is the chip. It takes host bytes (HSU) or I2C transactions,
parses normal and extended frames (resynchronising on 00 FF, ignoring 0x00 and
stray 0x55 bytes anywhere between frames), ACKs, runs the command and queues
the reply, with the behaviours clients rely on (UM0701-02 as implemented by
libnfc, nfcpy and Adafruit; see shared/specs/pn532.md §5):

- a host ACK aborts the running command, a host NACK asks for the last reply
  again, a new command replaces a pending one;
- InListPassiveTarget with MxRtyPassiveActivation 0xFF stays silent until a
  phone comes (Adafruit's polling), otherwise answers NbTg=0 and leaves 0x26
  in CIU_FIFOData (nfcpy's check);
- the ATS is appended only when automatic RATS is on (SetParameters);
- InDataExchange runs the reader side of ISO-DEP against the card (I-block
  chaining by FSC, R(ACK) for chained answers, transparent S(WTX)), 262 bytes
  per reply with MI both ways; InCommunicateThru passes raw frames, with CRC
  handled as CIU_TxMode/RxMode say;
- SetSerialBaudrate switches after the host's ACK; PowerDown puts the chip to
  sleep (with `strict_wake`, the HSU then needs 0x55 and time before a frame).

The field holds zero or one `CardTarget` (nfc_target.py). Time is modelled:
UART bytes take 10 bits at the current baud rate, RF frames take 9 bits per
byte at 106 kbps plus frame delays, the card's app latency and FWT/WTX. With a
`SimClock` the in-process transports (`SimUart`, `SimI2C`) deliver bytes at
their modelled times, so a driver measuring time sees the modelled duration;
`PtyServer` serves the chip on a pseudo-terminal in real time for pyserial
clients. `Faults` injects lost, corrupted, truncated, duplicated bytes and
frames, missing ACKs, zombie commands and a phone leaving mid-exchange.

Timing constants marked [U] are assumptions, not measurements.
"""

from __future__ import annotations

import errno
import os
import random
import select
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

from vitale_tools.nfc_target import FSC_TABLE, CardRemoved, CardTarget, IsoDepPicc, ats_params, fwt_seconds

# -- timing model -----------------------------------------------------------------
FC_HZ = 13.56e6
ETU_S = 128 / FC_HZ  # one bit at 106 kbps
FDT_S = 1172 / FC_HZ  # minimum card answer delay (ISO 14443-3)
DELTA_FWT_S = 49152 / FC_HZ  # ISO 14443-4 extra waiting time
ACTIVATION_FWT_S = 65536 / FC_HZ  # waiting time for the ATS
PCD_TURNAROUND_S = 0.0003  # PN532 firmware time between RF frames [U]
ACK_DELAY_S = 0.0005  # frame received -> ACK starts [U]
CMD_DELAY_S = 0.0005  # ACK -> command starts running [U]
FIELD_ON_S = 0.005  # RF field settling before the first poll [U]
POLL_MISS_S = 0.0012  # one REQA with nobody answering [U]
WAKE_S = 0.001  # HSU: 0x55 -> ready for a frame (strict_wake) [U]
INTERBYTE_S = 0.005  # a host frame with a longer gap inside is dropped [U]
RATS = b"\xe0\x50"  # FSD 64, CID 0 [U]

FIRMWARE = b"\x32\x01\x06\x07"  # PN532, v1.6, ISO14443A + B + 18092
ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"
MAX_FRAME_DATA = 265
MAX_EXCHANGE = 262
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1288000)
I2C_ADDRESS = 0x24

_TICKS_PERIOD = 1 << 30

# CIU registers read by clients (nfcpy); others read back what was written, else 0.
REG_TX_MODE = 0x6302
REG_RX_MODE = 0x6303
REG_TX_CONTROL = 0x6304
REG_TX_AUTO = 0x6305
REG_FIFO_DATA = 0x6339
REG_FIFO_LEVEL = 0x633A
_REG_DEFAULTS = {REG_TX_MODE: 0x80, REG_RX_MODE: 0x80, REG_TX_CONTROL: 0x80, REG_TX_AUTO: 0x40, 0x6301: 0x3B}


def crc_a(data: bytes) -> bytes:
    """ISO 14443-3 CRC_A (initial 0x6363), least significant byte first."""
    crc = 0x6363
    for b in data:
        b = (b ^ crc) & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = ((crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)) & 0xFFFF
    return bytes((crc & 0xFF, crc >> 8))


def air_time(nbytes: int) -> float:
    """Seconds on air for a 106 kbps type A frame of nbytes (with parity, SOF, EOF)."""
    return (nbytes * 9 + 2) * ETU_S


def build_frame(payload: bytes) -> bytes:
    """A PN532 information frame around TFI+PD: normal up to 255 bytes, else extended."""
    n = len(payload)
    if not 1 <= n <= MAX_FRAME_DATA:
        raise ValueError("frame payload of %d bytes" % n)
    if n <= 255:
        head = bytes((0, 0, 0xFF, n, (-n) & 0xFF))
    else:
        hi, lo = n >> 8, n & 0xFF
        head = bytes((0, 0, 0xFF, 0xFF, 0xFF, hi, lo, (-(hi + lo)) & 0xFF))
    return head + payload + bytes(((-sum(payload)) & 0xFF, 0))


def timeout_code_s(code: int) -> float:
    """RFConfiguration timeout code -> seconds (100 us * 2**(n-1); 0 = none, modelled as 4.95 s)."""
    if code == 0:
        return 4.95
    return 100e-6 * (1 << (min(code, 16) - 1))


class Clock(Protocol):
    """Where the emulator reads time; advance() lets blocking bus operations take time."""

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock time (for the pty server and clients that sleep for real)."""

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        """Real time passes by itself."""


class SimClock:
    """Modelled time; also ticks_ms/ticks_diff/sleep_ms for the firmware driver (MicroPython semantics)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def now(self) -> float:
        """Modelled seconds."""
        return self.t

    def advance(self, seconds: float) -> None:
        """Let modelled time pass."""
        if seconds > 0:
            self.t += seconds

    def ticks_ms(self) -> int:
        """Milliseconds, wrapping at 2**30 like MicroPython."""
        return int(self.t * 1000) & (_TICKS_PERIOD - 1)

    def ticks_us(self) -> int:
        """Microseconds, wrapping at 2**30."""
        return int(self.t * 1e6) & (_TICKS_PERIOD - 1)

    def ticks_diff(self, a: int, b: int) -> int:
        """Signed a - b, wrap-aware."""
        half = _TICKS_PERIOD >> 1
        return ((a - b + half) & (_TICKS_PERIOD - 1)) - half

    def sleep_ms(self, ms: float) -> None:
        """Advance modelled time."""
        self.advance(ms / 1000.0)


@dataclass
class Faults:
    """Fault injection. Counters count down as each fault fires."""

    lose_frames: int = 0  # host frames that never reach the chip (no ACK, no reply)
    corrupt_frames: int = 0  # host frames arriving with a bad checksum (ignored: no ACK)
    drop_acks: int = 0  # ACKs not sent (the reply still comes)
    corrupt_replies: int = 0  # replies with one byte flipped
    truncate_replies: int = 0  # replies with one byte missing
    duplicate_bytes: int = 0  # replies with one byte sent twice
    duplicate_replies: int = 0  # replies sent twice
    garbage: bytes = b""  # sent once, before the next ACK
    zombie: int = 0  # commands ACKed and never answered
    remove_after_frames: int | None = None  # the phone leaves after this many more RF frames
    noise_out: float = 0.0  # per output byte: chance of a flipped, dropped or doubled byte
    noise_in: float = 0.0  # the same on host bytes
    seed: int = 0


@dataclass
class CommandRecord:
    """One command as the chip ran it (modelled times in clock seconds)."""

    code: int
    received: float  # end of the host frame
    answered: float | None = None  # end of the reply on the wire (None: pending, aborted, zombie)
    rf_s: float = 0.0  # modelled RF time inside it
    status: int | None = None  # first reply byte for commands that return a status

    @property
    def duration_s(self) -> float | None:
        """From the end of the command frame to the end of the reply."""
        return None if self.answered is None else self.answered - self.received


@dataclass
class _Out:
    start: float
    data: bytes
    kind: str
    sent: int = 0


class _SyntaxErr(Exception):
    """The command's parameters are malformed: the chip answers with an error frame."""


@dataclass
class _Pcd:
    """The chip's reader-side ISO-DEP state for target 1."""

    iso_dep: bool = False  # the chip ran RATS itself and does ISO-DEP in InDataExchange
    deselected: bool = False
    pni: int = 0
    fsc: int = 32
    fwt: float = fwt_seconds(4)
    rx: bytearray = field(default_factory=bytearray)  # card answer bytes not yet given to the host
    chaining: bool = False  # the card has more answer blocks to send
    tx: bytearray = field(default_factory=bytearray)  # host data collected with MI


class PN532Emulator:
    """An emulated PN532 (firmware v1.6) with an RF field holding zero or one card.

    interface: "hsu" (byte stream: receive()/pop_ready()) or "i2c"
    (i2c_write()/i2c_read()). strict_wake: power-on and PowerDown leave the
    chip asleep; on HSU it then needs a 0x55 and WAKE_S before a frame.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        card: CardTarget | None = None,
        *,
        interface: str = "hsu",
        strict_wake: bool = False,
        faults: Faults | None = None,
        baud: int = 115200,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if interface not in ("hsu", "i2c"):
            raise ValueError("interface is 'hsu' or 'i2c'")
        self.clock: Clock = clock if clock is not None else RealClock()
        self.interface = interface
        self.strict_wake = strict_wake
        self.faults = faults if faults is not None else Faults()
        self._rng = random.Random(self.faults.seed)
        self.log = log
        self.lock = threading.RLock()
        self.baud = baud
        self._pending_baud: int | None = None
        self.asleep = strict_wake
        self._wake_at = 0.0
        # chip configuration
        self.flags = 0x14  # SetParameters power-on value: automatic ATR_RES and RATS [U]
        self.sam_mode = 1
        self.rf_on = False
        self.timings = [0x00, 0x0B, 0x0A]
        self.max_rty_com = 0
        self.max_retries = [0xFF, 0x01, 0xFF]
        self.analog: dict[int, bytes] = {}
        self.regs: dict[int, int] = dict(_REG_DEFAULTS)
        self.gpio = [0xFF, 0x07, 0x00]
        self._fifo_sens_req = False
        self.last_error = 0
        # field and target
        self.card: CardTarget | None = None
        self.picc: IsoDepPicc | None = None
        self.listed = False
        self._pcd = _Pcd()
        # host link
        self._in = bytearray()
        self._in_t: list[float] = []
        self._out: deque[_Out] = deque()
        self._line_free = 0.0
        self._last_reply: bytes | None = None
        self._pending: tuple[int, bytes, CommandRecord] | None = None
        self._t = 0.0  # time cursor while a command runs
        self._rf_s = 0.0
        # accounting
        self.records: deque[CommandRecord] = deque(maxlen=10000)
        self.counters: dict[str, int] = {
            "frames": 0, "bad_frames": 0, "acks_in": 0, "nacks_in": 0, "errors": 0,
            "bytes_in": 0, "bytes_out": 0, "rf_frames": 0,
        }
        self.rf_time_s = 0.0
        if card is not None:
            self.place(card)

    # -- world ---------------------------------------------------------------------

    @property
    def byte_s(self) -> float:
        """Seconds per UART byte at the current baud rate (8N1)."""
        return 10.0 / self.baud

    def place(self, card: CardTarget) -> None:
        """A card or phone enters the field (a tap); completes a waiting poll."""
        with self.lock:
            if self.card is not None:
                self._lose_card()
            self.card = card
            self.picc = IsoDepPicc(card)
            if self.rf_on:
                self.picc.power_on()
            self._say("card placed, uid %s" % card.uid.hex())
            pending = self._pending
            if pending is not None:
                code, params, rec = pending
                self._pending = None
                self._t = max(self.clock.now(), rec.received)
                self._rf_s = 0.0
                result = self._cmd_list(params)
                if result is None:
                    self._pending = pending  # not the card it waits for
                else:
                    self._finish(code, result, rec)

    def remove(self) -> None:
        """The card or phone leaves the field."""
        with self.lock:
            self._lose_card()

    def _lose_card(self) -> None:
        if self.picc is not None:
            self.picc.deactivate("link_loss")
            self._say("card removed")
        self.card = None
        self.picc = None

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    # -- host bytes in -------------------------------------------------------------

    def receive(self, data: bytes, t0: float | None = None, byte_s: float | None = None) -> None:
        """Host bytes over HSU; byte k arrives at t0 + (k+1) * byte_s (default: all now)."""
        with self.lock:
            if t0 is None:
                t0 = self.clock.now()
            if byte_s is None:
                byte_s = 0.0
            self._feed(bytes(data), t0, byte_s)

    def _feed(self, data: bytes, t0: float, byte_s: float) -> None:
        self.counters["bytes_in"] += len(data)
        data = self._noisy(data, self.faults.noise_in)
        for k, b in enumerate(data):
            t = t0 + (k + 1) * byte_s
            if self.asleep:
                if self.strict_wake and self.interface == "hsu":
                    if b == 0x55:
                        self.asleep = False
                        self._wake_at = t + WAKE_S
                    continue
                self.asleep = False
            if t < self._wake_at:
                continue
            self._in.append(b)
            self._in_t.append(t)
        self._parse_input()

    def _noisy(self, data: bytes, rate: float) -> bytes:
        """Line noise: each byte has `rate` chance of being dropped, bit-flipped or doubled."""
        if not rate:
            return data
        out = bytearray()
        for x in data:
            if self._rng.random() < rate:
                mode = self._rng.randrange(3)
                if mode == 0:
                    continue
                if mode == 1:
                    x ^= 1 << self._rng.randrange(8)
                else:
                    out.append(x)
            out.append(x)
        return bytes(out)

    def _parse_input(self) -> None:
        buf, times = self._in, self._in_t
        i = 0
        while True:
            j = buf.find(b"\x00\xff", i)
            if j < 0:
                i = len(buf) - 1 if buf and buf[-1] == 0 else len(buf)
                break
            need = j + 4
            if len(buf) >= need:
                l1, l2 = buf[j + 2], buf[j + 3]
                if l1 == 0 and l2 == 0xFF:
                    self._host_ack(times[j + 3])
                    i = j + 4
                    continue
                if l1 == 0xFF and l2 == 0:
                    self._host_nack(times[j + 3])
                    i = j + 4
                    continue
                if l1 == 0xFF and l2 == 0xFF:
                    need = j + 7
                    if len(buf) >= need:
                        n = buf[j + 4] << 8 | buf[j + 5]
                        if (buf[j + 4] + buf[j + 5] + buf[j + 6]) & 0xFF or not 0 < n <= MAX_FRAME_DATA:
                            self.counters["bad_frames"] += 1
                            i = j + 2
                            continue
                        p = j + 7
                        need = p + n + 1
                else:
                    n = l1
                    if (l1 + l2) & 0xFF or n == 0:
                        self.counters["bad_frames"] += 1
                        i = j + 2
                        continue
                    p = j + 4
                    need = p + n + 1
            # a gap inside the candidate means the host gave up on it
            gap = next((k for k in range(j + 1, min(need, len(buf))) if times[k] - times[k - 1] > INTERBYTE_S), None)
            if gap is not None:
                self.counters["bad_frames"] += 1
                i = j + 2
                continue
            if len(buf) < need:
                i = j
                break
            payload = bytes(buf[p : p + n])
            if (sum(payload) + buf[p + n]) & 0xFF:
                self.counters["bad_frames"] += 1
                i = j + 2
                continue
            i = p + n + 1
            self._host_frame(payload, times[p + n])
        del buf[:i]
        del times[:i]

    # -- host frames ----------------------------------------------------------------

    def _host_ack(self, t: float) -> None:
        self.counters["acks_in"] += 1
        if self._pending is not None:
            self._say("ACK: pending command 0x%02X aborted" % self._pending[0])
        self._pending = None
        self._cancel_after(t)
        if self._pending_baud is not None:
            self._apply_baud()

    def _apply_baud(self) -> None:
        if self._pending_baud is not None:
            self.baud = self._pending_baud
            self._pending_baud = None
            self._say("baud rate now %d" % self.baud)

    def _host_nack(self, t: float) -> None:
        self.counters["nacks_in"] += 1
        if self._pending is not None or any(o.start > t for o in self._out):
            return  # the reply is still coming
        if self._last_reply is not None:
            if self.interface == "i2c":
                self._out.clear()  # a frame never read whole is replaced by the new copy
            self._emit(t + ACK_DELAY_S, self._last_reply, "reply")

    def _cancel_after(self, t: float) -> None:
        """Drop output not sent by t (a new command or an abort came).

        On HSU that is output not yet started; on I2C every frame still
        waiting to be read whole.
        """
        if self.interface == "i2c":
            self._out.clear()
            return
        keep = deque(o for o in self._out if o.start <= t or o.sent)
        self._out = keep
        self._line_free = max([o.start + len(o.data) * self.byte_s for o in keep] + [0.0])

    def _host_frame(self, payload: bytes, t: float) -> None:
        f = self.faults
        self.counters["frames"] += 1
        if f.lose_frames:
            f.lose_frames -= 1
            return
        if f.corrupt_frames:
            f.corrupt_frames -= 1
            self.counters["bad_frames"] += 1
            return
        self._pending = None
        self._cancel_after(t)
        if self._pending_baud is not None:
            # The host switched without its ACK reaching us: nfcpy closes the port right after
            # writing it, and the close flushes (tcflush) what the pty had not delivered yet.
            self._apply_baud()
        ack_at = t + ACK_DELAY_S
        if f.garbage:
            self._emit(ack_at, f.garbage, "garbage")
            f.garbage = b""
        if f.drop_acks:
            f.drop_acks -= 1
        else:
            self._emit(ack_at, ACK, "ack")
        code = payload[1] if len(payload) >= 2 else -1
        rec = CommandRecord(code, t)
        self.records.append(rec)
        self._t = ack_at + len(ACK) * self._link_byte_s() + CMD_DELAY_S
        self._rf_s = 0.0
        if len(payload) < 2 or payload[0] != 0xD4:
            self._error_frame(rec)
            return
        self._say("cmd %02X %s" % (code, payload[2:].hex()))
        handler = self._handlers.get(code)
        if handler is None:
            self._error_frame(rec)
            return
        try:
            result = handler(self, payload[2:])
        except _SyntaxErr:
            self._error_frame(rec)
            return
        if result is None:
            self._pending = (code, payload[2:], rec)
            return
        self._finish(code, result, rec)

    def _link_byte_s(self) -> float:
        return self.byte_s if self.interface == "hsu" else 0.0

    def _error_frame(self, rec: CommandRecord) -> None:
        self.counters["errors"] += 1
        self._last_reply = ERROR_FRAME
        end = self._emit(self._t, ERROR_FRAME, "reply")
        rec.answered = end

    def _finish(self, code: int, data: bytes, rec: CommandRecord) -> None:
        """Queue the reply of a command that has run until self._t."""
        f = self.faults
        rec.rf_s = self._rf_s
        self.rf_time_s += self._rf_s
        if code in (0x40, 0x42, 0x44, 0x52, 0x54) and data:
            rec.status = data[0]
            self.last_error = data[0] & 0x3F
        frame = build_frame(bytes((0xD5, code + 1)) + data)
        self._last_reply = frame
        if f.zombie:
            f.zombie -= 1
            return
        rec.answered = self._emit(self._t, frame, "reply")
        if f.duplicate_replies:
            f.duplicate_replies -= 1
            self._emit(self._t, frame, "reply")
        if code == 0x16:
            self.asleep = True

    def _emit(self, t: float, data: bytes, kind: str) -> float:
        """Queue output starting at t (after what is already on the line); return its end time."""
        f = self.faults
        if kind == "reply":
            b = bytearray(data)
            if f.corrupt_replies:
                f.corrupt_replies -= 1
                k = self._rng.randrange(3, len(b) - 1)
                b[k] ^= 1 << self._rng.randrange(8)
            if f.truncate_replies:
                f.truncate_replies -= 1
                del b[self._rng.randrange(3, len(b) - 1)]
            if f.duplicate_bytes:
                f.duplicate_bytes -= 1
                k = self._rng.randrange(3, len(b) - 1)
                b.insert(k, b[k])
            data = bytes(b)
        data = self._noisy(data, f.noise_out)
        if self.interface == "hsu":
            start = max(t, self._line_free)
            self._line_free = start + len(data) * self.byte_s
            end = self._line_free
        else:
            start = end = t
        self._out.append(_Out(start, data, kind))
        return end

    # -- host bytes out ---------------------------------------------------------------

    def pop_ready(self, now: float | None = None, whole: bool = False) -> bytes:
        """HSU bytes the chip has finished sending by `now` (with whole=True only whole frames)."""
        with self.lock:
            if now is None:
                now = self.clock.now()
            out = bytearray()
            bt = self.byte_s
            while self._out:
                o = self._out[0]
                if o.start > now:
                    break
                done = min(len(o.data), int((now - o.start) / bt + 1e-6))
                if whole and done < len(o.data):
                    break
                if done > o.sent:
                    out += o.data[o.sent : done]
                    o.sent = done
                if o.sent < len(o.data):
                    break
                self._out.popleft()
            self.counters["bytes_out"] += len(out)
            return bytes(out)

    def next_ready_time(self, whole: bool = False) -> float | None:
        """When pop_ready() will next have something."""
        with self.lock:
            if not self._out:
                return None
            o = self._out[0]
            if whole:
                return o.start + len(o.data) * self.byte_s
            return o.start + (o.sent + 1) * self.byte_s

    def i2c_write(self, data: bytes) -> None:
        """One I2C write transaction from the host."""
        with self.lock:
            now = self.clock.now()
            if self.asleep:
                self.asleep = False  # the address match wakes it; it stretches SCL meanwhile
                now += WAKE_S if self.strict_wake else 0.0
            if data:
                self._feed(bytes(data), now, 0.0)

    def i2c_read(self, n: int) -> bytes:
        """One I2C read of n bytes: ready byte, then the pending frame from its start, padded.

        A frame is consumed only by a read long enough to hold it whole.
        """
        with self.lock:
            now = self.clock.now()
            while self._out and self._out[0].kind == "garbage":
                self._out.popleft()
            if n <= 0:
                return b""
            if not self._out or self._out[0].start > now:
                return bytes(n)
            frame = self._out[0].data
            if n - 1 >= len(frame):
                self._out.popleft()
                self.counters["bytes_out"] += len(frame)
            return (b"\x01" + frame + bytes(n))[:n]

    # -- RF model -----------------------------------------------------------------------

    def _rf_advance(self, seconds: float) -> None:
        self._t += seconds
        self._rf_s += seconds

    def _field_on(self) -> None:
        if not self.rf_on:
            self.rf_on = True
            self._rf_advance(FIELD_ON_S)
            if self.picc is not None:
                self.picc.power_on()

    def _field_off(self) -> None:
        if self.rf_on:
            self.rf_on = False
            if self.picc is not None:
                self.picc.deactivate("link_loss")
        self.listed = False
        self._pcd = _Pcd()

    def _rf_frame(self, frame: bytes, timeout: float, crc: bool = True) -> bytes | None:
        """Send one frame to the card; its answer, or None when none comes within timeout."""
        f = self.faults
        self.counters["rf_frames"] += 1
        if f.remove_after_frames is not None:
            if f.remove_after_frames <= 0:
                f.remove_after_frames = None
                self._lose_card()
            else:
                f.remove_after_frames -= 1
        self._rf_advance(air_time(len(frame) + (2 if crc else 0)))
        if self.picc is None or not self.rf_on:
            self._rf_advance(timeout)
            return None
        try:
            reply, delay = self.picc.frame(frame)
        except CardRemoved:
            self._lose_card()
            reply, delay = None, 0.0
        delay = max(delay, FDT_S)
        if reply is None or delay > timeout:
            self._rf_advance(timeout)
            return None
        self._rf_advance(delay + air_time(len(reply) + 2) + PCD_TURNAROUND_S)
        return reply

    def _activate_106a(self, initiator: bytes) -> bytes | None:
        """REQA, anticollision, SELECT (and RATS when automatic): target data or None."""
        self._field_on()
        card, picc = self.card, self.picc
        if card is None or picc is None:
            return None
        uid = card.uid
        if initiator:
            want = bytes(b for k, b in enumerate(initiator) if not (b == 0x88 and k in (0, 4)))
            if want != uid:
                return None
        levels = {4: 1, 7: 2, 10: 3}[len(uid)]
        self._rf_advance(9 * ETU_S + FDT_S + air_time(2) + PCD_TURNAROUND_S)  # REQA, ATQA
        for _ in range(levels):  # anticollision and SELECT per cascade level
            self._rf_advance(air_time(2) + FDT_S + air_time(5) + PCD_TURNAROUND_S)
            self._rf_advance(air_time(9) + FDT_S + air_time(3) + PCD_TURNAROUND_S)
        self.counters["rf_frames"] += 2 + 2 * levels
        picc.select()
        data = card.atqa.to_bytes(2, "big") + bytes((card.sak, len(uid))) + uid
        pcd = _Pcd()
        if self.flags & 0x10 and card.sak & 0x20:
            ats = self._rf_frame(RATS, ACTIVATION_FWT_S)
            if ats is None or not ats or ats[0] != len(ats):
                return None
            fsc, fwi, _ = ats_params(ats)
            pcd = _Pcd(iso_dep=True, fsc=fsc, fwt=fwt_seconds(fwi))
            data += ats
        self._pcd = pcd
        return data

    # -- reader-side ISO-DEP (InDataExchange) -------------------------------------------------

    def _wtx(self, reply: bytes | None) -> bytes | None:
        """Answer S(WTX) requests until the card sends something else."""
        rounds = 0
        while reply is not None and reply[0] & 0xF7 == 0xF2 and len(reply) >= 2 and rounds < 64:
            m = (reply[-1] & 0x3F) or 1
            reply = self._rf_frame(reply, m * self._pcd.fwt + DELTA_FWT_S)
            rounds += 1
        return reply

    def _send_i(self, inf: bytes, chain: bool) -> bytes | None:
        pcd = self._pcd
        frame = bytes((0x02 | (0x10 if chain else 0) | pcd.pni,)) + inf
        block = frame
        for _ in range(4):
            reply = self._wtx(self._rf_frame(block, pcd.fwt + DELTA_FWT_S))
            if reply is None:
                block = bytes((0xB2 | pcd.pni,))  # R(NAK): did you get it?
                continue
            if reply[0] & 0xF6 == 0xA2 and reply[0] & 1 != pcd.pni:
                block = frame  # the card missed our block: send it again
                continue
            return reply
        return None

    def _receive_more(self) -> int:
        """Ask for the card's next chained blocks until 262 bytes wait or it is done; a status."""
        pcd = self._pcd
        while pcd.chaining and len(pcd.rx) < MAX_EXCHANGE:
            ack = bytes((0xA2 | pcd.pni,))
            reply = None
            for _ in range(3):
                reply = self._wtx(self._rf_frame(ack, pcd.fwt + DELTA_FWT_S))
                if reply is not None:
                    break
            if reply is None:
                return 0x01
            if reply[0] & 0xE2 != 0x02 or reply[0] & 1 != pcd.pni:
                return 0x13
            pcd.pni ^= 1
            pcd.rx += reply[1:]
            pcd.chaining = bool(reply[0] & 0x10)
        return 0

    def _iso_dep_exchange(self, apdu: bytes) -> int:
        """Send an APDU as I-blocks and collect the start of the answer; a status."""
        pcd = self._pcd
        pcd.rx = bytearray()
        pcd.chaining = False
        room = max(1, pcd.fsc - 3)
        pieces = [apdu[k : k + room] for k in range(0, len(apdu), room)] or [b""]
        for k, piece in enumerate(pieces):
            last = k == len(pieces) - 1
            reply = self._send_i(piece, not last)
            if reply is None:
                return 0x01
            if not last:
                if reply[0] & 0xF6 != 0xA2 or reply[0] & 1 != pcd.pni:
                    return 0x13
                pcd.pni ^= 1
                continue
            if reply[0] & 0xE2 != 0x02 or reply[0] & 1 != pcd.pni:
                return 0x13
            pcd.pni ^= 1
            pcd.rx += reply[1:]
            pcd.chaining = bool(reply[0] & 0x10)
        return self._receive_more()

    def _deliver(self, status: int) -> bytes:
        pcd = self._pcd
        if status:
            pcd.rx = bytearray()
            pcd.chaining = False
            return bytes((status,))
        chunk = bytes(pcd.rx[:MAX_EXCHANGE])
        del pcd.rx[:MAX_EXCHANGE]
        more = bool(pcd.rx) or pcd.chaining
        return bytes((0x40 if more else 0x00,)) + chunk

    # -- commands ------------------------------------------------------------------------

    def _cmd_diagnose(self, p: bytes) -> bytes:
        if not p:
            raise _SyntaxErr
        if p[0] == 0x00:
            return p  # communication line test: echo NumTst and the data
        if p[0] in (0x01, 0x02):
            return b"\x00"  # ROM / RAM test passed
        raise _SyntaxErr

    def _cmd_firmware(self, p: bytes) -> bytes:
        return FIRMWARE

    def _cmd_general_status(self, p: bytes) -> bytes:
        targets = b"\x01\x00\x00\x00" if self.listed else b""
        return bytes((self.last_error, 1 if self.rf_on else 0, 1 if self.listed else 0)) + targets + b"\x00"

    def _read_reg(self, addr: int) -> int:
        if addr == REG_TX_CONTROL:
            v = self.regs.get(addr, 0) & 0xFC
            return v | (0x03 if self.rf_on else 0)
        if addr == REG_FIFO_DATA:
            return 0x26 if self._fifo_sens_req else self.regs.get(addr, 0)
        if addr == REG_FIFO_LEVEL:
            return 0
        return self.regs.get(addr, 0)

    def _cmd_read_register(self, p: bytes) -> bytes:
        if not p or len(p) % 2:
            raise _SyntaxErr
        return bytes(self._read_reg(p[k] << 8 | p[k + 1]) for k in range(0, len(p), 2))

    def _cmd_write_register(self, p: bytes) -> bytes:
        if not p or len(p) % 3:
            raise _SyntaxErr
        for k in range(0, len(p), 3):
            self.regs[p[k] << 8 | p[k + 1]] = p[k + 2]
        return b""

    def _cmd_read_gpio(self, p: bytes) -> bytes:
        return bytes(self.gpio)

    def _cmd_write_gpio(self, p: bytes) -> bytes:
        if len(p) != 2:
            raise _SyntaxErr
        for k in range(2):
            if p[k] & 0x80:
                self.gpio[k] = p[k] & 0x7F
        return b""

    def _cmd_baudrate(self, p: bytes) -> bytes:
        if len(p) != 1 or p[0] >= len(BAUD_RATES):
            raise _SyntaxErr
        self._pending_baud = BAUD_RATES[p[0]]  # switches once the host ACKs the reply
        return b""

    def _cmd_set_parameters(self, p: bytes) -> bytes:
        if len(p) != 1:
            raise _SyntaxErr
        self.flags = p[0]
        return b""

    def _cmd_sam(self, p: bytes) -> bytes:
        if not 1 <= len(p) <= 3 or not 1 <= p[0] <= 4:
            raise _SyntaxErr
        self.sam_mode = p[0]
        return b""

    def _cmd_power_down(self, p: bytes) -> bytes:
        if not 1 <= len(p) <= 2:
            raise _SyntaxErr
        self._field_off()
        return b"\x00"

    _RF_ITEMS = {0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3, 0x0A: 11, 0x0B: 8, 0x0C: 3, 0x0D: 9}

    def _cmd_rf_configuration(self, p: bytes) -> bytes:
        if not p or self._RF_ITEMS.get(p[0]) != len(p) - 1:
            raise _SyntaxErr
        item, d = p[0], p[1:]
        if item == 0x01:
            if d[0] & 0x01:
                self._field_on()
            else:
                self._field_off()
        elif item == 0x02:
            self.timings = list(d)
        elif item == 0x04:
            self.max_rty_com = d[0]
        elif item == 0x05:
            self.max_retries = list(d)
        else:
            self.analog[item] = bytes(d)
        return b""

    def _cmd_list(self, p: bytes) -> bytes | None:
        if len(p) < 2 or not 1 <= p[0] <= 2 or p[1] > 8:
            raise _SyntaxErr
        self.listed = False
        self._pcd = _Pcd()
        self._fifo_sens_req = False
        data = self._activate_106a(p[2:]) if p[1] == 0x00 else None
        if data is not None:
            self.listed = True
            return b"\x01\x01" + data
        self._field_on()
        self._fifo_sens_req = p[1] == 0x00
        retries = self.max_retries[2]
        if retries == 0xFF:
            return None  # keep polling until a card comes
        self._rf_advance((retries + 1) * POLL_MISS_S)
        return b"\x00"

    def _target_ok(self, tg: int) -> bool:
        return self.listed and tg == 1

    def _cmd_data_exchange(self, p: bytes) -> bytes:
        if not p:
            raise _SyntaxErr
        tg, more, data = p[0] & 0x0F, p[0] & 0x40, p[1:]
        pcd = self._pcd
        if not self._target_ok(tg) or pcd.deselected:
            return b"\x27"
        if not pcd.iso_dep:
            reply = self._rf_frame(data, timeout_code_s(self.timings[2]))
            return b"\x01" if reply is None else b"\x00" + reply
        if more:
            pcd.tx += data  # sent to the card with the last piece [U]
            return b"\x00"
        apdu = bytes(pcd.tx) + data
        pcd.tx = bytearray()
        if not apdu and (pcd.rx or pcd.chaining):
            return self._deliver(self._receive_more())
        return self._deliver(self._iso_dep_exchange(apdu))

    def _cmd_communicate_thru(self, p: bytes) -> bytes:
        if not p:
            raise _SyntaxErr
        frame = p
        tx_crc = bool(self.regs.get(REG_TX_MODE, 0x80) & 0x80)
        rx_crc = bool(self.regs.get(REG_RX_MODE, 0x80) & 0x80)
        timeout = timeout_code_s(self.timings[2])
        if not tx_crc:
            if len(p) < 3 or crc_a(p[:-2]) != p[-2:]:
                self._rf_advance(air_time(len(p)) + timeout)  # the card ignores a broken frame
                return b"\x01"
            frame = p[:-2]
        reply = self._rf_frame(frame, timeout, crc=True)
        if reply is None:
            return b"\x01"
        return b"\x00" + (reply if rx_crc else reply + crc_a(reply))

    def _deselect(self) -> None:
        if self._pcd.iso_dep and not self._pcd.deselected:
            self._rf_frame(b"\xc2", self._pcd.fwt + DELTA_FWT_S)

    def _end_target(self, p: bytes, forget: bool) -> bytes:
        """InRelease (forget) / InDeselect (keep listed): S(DESELECT) to an ISO-DEP target."""
        if len(p) != 1:
            raise _SyntaxErr
        if p[0] not in (0, 1) or (p[0] == 1 and not self.listed):
            return b"\x27"
        if self.listed:
            self._deselect()
            self._pcd.deselected = True
        if forget:
            self.listed = False
            self._pcd = _Pcd()
        return b"\x00"

    def _cmd_release(self, p: bytes) -> bytes:
        return self._end_target(p, True)

    def _cmd_deselect(self, p: bytes) -> bytes:
        return self._end_target(p, False)

    def _cmd_select(self, p: bytes) -> bytes:
        if len(p) != 1:
            raise _SyntaxErr
        if not self._target_ok(p[0]):
            return b"\x27"
        if not self._pcd.deselected:
            return b"\x00"
        data = self._activate_106a(b"")
        return b"\x00" if data is not None else b"\x01"

    def _cmd_dep_peer(self, p: bytes) -> bytes:
        return b"\x01"  # no NFC-DEP peer answers [U]

    def _cmd_no_dep_target(self, p: bytes) -> bytes:
        return b"\x27"

    _handlers: dict[int, Callable[[PN532Emulator, bytes], bytes | None]] = {
        0x00: _cmd_diagnose,
        0x02: _cmd_firmware,
        0x04: _cmd_general_status,
        0x06: _cmd_read_register,
        0x08: _cmd_write_register,
        0x0C: _cmd_read_gpio,
        0x0E: _cmd_write_gpio,
        0x10: _cmd_baudrate,
        0x12: _cmd_set_parameters,
        0x14: _cmd_sam,
        0x16: _cmd_power_down,
        0x32: _cmd_rf_configuration,
        0x40: _cmd_data_exchange,
        0x42: _cmd_communicate_thru,
        0x44: _cmd_deselect,
        0x46: _cmd_dep_peer,
        0x4A: _cmd_list,
        0x4E: _cmd_no_dep_target,
        0x50: _cmd_no_dep_target,
        0x52: _cmd_release,
        0x54: _cmd_select,
        0x56: _cmd_dep_peer,
    }


# -- in-process transports -----------------------------------------------------------------


class SimUart:
    """A machine.UART stand-in wired to an emulator (HSU) in modelled time.

    write() returns at once; the bytes reach the chip one by one at the baud
    rate. any()/readinto() see the chip's bytes once modelled time (advanced
    by the caller's sleep_ms) has passed. The receive ring holds `rxbuf` bytes;
    more is dropped, as on an ESP32. A baud-rate mismatch garbles bytes.
    """

    def __init__(self, chip: PN532Emulator, clock: SimClock, baudrate: int = 115200, rxbuf: int = 1024) -> None:
        self.chip = chip
        self.clock = clock
        self.baudrate = baudrate
        self.rxbuf = rxbuf
        self._rx = bytearray()
        self._tx_free = 0.0
        self.overflow = 0

    def init(self, baudrate: int = 115200, **_: object) -> None:
        """Change the baud rate (as machine.UART.init)."""
        self.baudrate = baudrate

    def _garble(self, data: bytes) -> bytes:
        if self.baudrate == self.chip.baud:
            return data
        return bytes((b * 37 + 11) & 0xFF for b in data[: max(1, len(data) * self.baudrate // self.chip.baud)])

    def write(self, buf: bytes | bytearray | memoryview) -> int:
        """Queue bytes to the chip; returns how many."""
        data = bytes(buf)
        bt = 10.0 / self.baudrate
        t0 = max(self.clock.now(), self._tx_free)
        self._tx_free = t0 + len(data) * bt
        self.chip.receive(self._garble(data), t0, bt)
        return len(data)

    def _pull(self) -> None:
        new = self._garble(self.chip.pop_ready(self.clock.now()))
        room = self.rxbuf - len(self._rx)
        if len(new) > room:
            self.overflow += len(new) - room
            new = new[:room]
        self._rx += new

    def any(self) -> int:
        """Bytes waiting."""
        self._pull()
        return len(self._rx)

    def readinto(self, buf: bytearray | memoryview, nbytes: int | None = None) -> int | None:
        """Copy waiting bytes into buf; None when there are none (a timeout)."""
        self._pull()
        n = min(len(buf), len(self._rx), nbytes if nbytes is not None else len(buf))
        if n == 0:
            return None
        buf[:n] = self._rx[:n]
        del self._rx[:n]
        return n

    def read(self, n: int = -1) -> bytes | None:
        """Up to n waiting bytes (all with -1); None when there are none."""
        self._pull()
        if not self._rx:
            return None
        k = len(self._rx) if n < 0 else min(n, len(self._rx))
        out = bytes(self._rx[:k])
        del self._rx[:k]
        return out


class SimI2C:
    """An I2C bus with an emulator (interface "i2c") at 0x24.

    Speaks machine.I2C (writeto, readfrom_into, scan) and enough of busio.I2C
    (try_lock, unlock, start/end keywords) for adafruit_pn532.i2c.PN532_I2C.
    Each transaction takes (bytes + 1) * 9 bits of bus time on the clock.
    """

    def __init__(self, chip: PN532Emulator, clock: Clock | None = None, freq: int = 400_000,
                 address: int = I2C_ADDRESS) -> None:
        self.chip = chip
        self.clock = clock if clock is not None else chip.clock
        self.freq = freq
        self.address = address
        self.transactions = 0

    def _bus(self, addr: int, nbytes: int) -> None:
        self.transactions += 1
        self.clock.advance((nbytes + 1) * 9 / self.freq)
        if addr != self.address:
            raise OSError(errno.ENODEV, "no I2C device at 0x%02x" % addr)

    def writeto(self, addr: int, buf: bytes | bytearray | memoryview, stop: bool = True, *,
                start: int = 0, end: int | None = None) -> int:
        """Write buf[start:end] in one transaction."""
        data = bytes(memoryview(buf)[start:end])
        self._bus(addr, len(data))
        self.chip.i2c_write(data)
        return len(data) + 1

    def readfrom_into(self, addr: int, buf: bytearray | memoryview, stop: bool = True, *,
                      start: int = 0, end: int | None = None) -> None:
        """Read into buf[start:end] in one transaction."""
        mv = memoryview(buf)[start:end]
        self._bus(addr, len(mv))
        mv[:] = self.chip.i2c_read(len(mv))

    def writeto_then_readfrom(self, addr: int, out_buf: bytes | bytearray | memoryview,
                              in_buf: bytearray | memoryview, *, out_start: int = 0, out_end: int | None = None,
                              in_start: int = 0, in_end: int | None = None) -> None:
        """busio.I2C's combined transaction."""
        self.writeto(addr, out_buf, start=out_start, end=out_end)
        self.readfrom_into(addr, in_buf, start=in_start, end=in_end)

    def scan(self) -> list[int]:
        """The emulated chip's address."""
        return [self.address]

    def try_lock(self) -> bool:
        """busio.I2C locking: always free."""
        return True

    def unlock(self) -> None:
        """busio.I2C locking."""


class RecordingUart:
    """Wraps a UART and records what was written and read (for transcripts)."""

    def __init__(self, uart: SimUart) -> None:
        self.uart = uart
        self.events: list[tuple[str, bytes]] = []

    def _add(self, kind: str, data: bytes) -> None:
        if data and self.events and self.events[-1][0] == kind:
            self.events[-1] = (kind, self.events[-1][1] + data)
        elif data:
            self.events.append((kind, data))

    def init(self, baudrate: int = 115200, **kw: object) -> None:
        """Pass through."""
        self.uart.init(baudrate, **kw)

    def write(self, buf: bytes | bytearray | memoryview) -> int:
        """Record and pass through."""
        self._add("w", bytes(buf))
        return self.uart.write(buf)

    def any(self) -> int:
        """Pass through."""
        return self.uart.any()

    def readinto(self, buf: bytearray | memoryview, nbytes: int | None = None) -> int | None:
        """Record and pass through."""
        n = self.uart.readinto(buf, nbytes)
        if n:
            self._add("r", bytes(memoryview(buf)[:n]))
        return n


# -- pseudo-terminal server ------------------------------------------------------------------


class PtyServer:
    """Serves an HSU emulator on a pseudo-terminal; `port` is the path clients open.

    The emulator should use a RealClock. Replies are written when the
    modelled time of their last byte has come (UART pacing at the chip's baud
    rate). Our own slave fd stays open so clients may close and reopen.
    """

    def __init__(self, chip: PN532Emulator) -> None:
        self.chip = chip
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # a cooked pty would echo the chip's output back
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pn532-pty", daemon=True)

    def start(self) -> PtyServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def poke(self) -> None:
        """Wake the serving loop (after place()/remove())."""
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def close(self) -> None:
        """Stop serving and close the pty."""
        self._stop.set()
        self.poke()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self.master, self._slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> PtyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        chip = self.chip
        pending = bytearray()
        while not self._stop.is_set():
            nxt = chip.next_ready_time(whole=True)
            wait = 0.05 if nxt is None else min(0.05, max(0.0, nxt - chip.clock.now()))
            try:
                r, _, _ = select.select([self.master, self._wake_r], [], [], wait)
            except (OSError, ValueError):
                return
            if self._wake_r in r:
                try:
                    os.read(self._wake_r, 64)
                except OSError:
                    pass
            if self.master in r:
                try:
                    data = os.read(self.master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:
                    return
                if data:
                    bt = chip.byte_s
                    chip.receive(data, chip.clock.now() - len(data) * bt, bt)
            pending += chip.pop_ready(whole=True)
            if pending:
                try:
                    k = os.write(self.master, pending)
                    del pending[:k]
                except BlockingIOError:
                    pass
                except OSError:
                    return
