"""PN532 NFC front-end: host-link frames and commands over HSU (UART) or I2C.

What the driver uses of the transport (MicroPython semantics):
  UART  write(buf) -> n; any() -> bytes waiting; readinto(buf) -> n or None.
        `buf` is a memoryview slice and the driver only asks for what any()
        reported, so reads never block. init(baudrate=...) is used only by
        set_serial_baudrate(). On ESP32 create the UART with rxbuf >= 1024: an
        extended reply frame is 276 bytes and the default 256-byte ring drops it.
  I2C   writeto(addr, buf) and readfrom_into(addr, buf); OSError on a NACKed
        address is retried. Every read starts with the PN532's ready byte.
Time comes from vitale.compat (ticks_ms, ticks_diff, sleep_ms) or from a
`clock` object with the same three functions (the emulator's modelled clock).

Every wait has a deadline; retries are bounded; buffers are allocated once.
"""

from vitale import compat as _compat
from vitale.compat import const

_TFI_HOST = const(0xD4)
_TFI_CHIP = const(0xD5)

# Kinds of result of parse_frame().
FRAME_NONE = const(0)  # no complete frame yet
FRAME_ACK = const(1)
FRAME_NACK = const(2)
FRAME_DATA = const(3)  # information frame: TFI + PD
FRAME_ERROR = const(4)  # the chip's error frame (syntax error)
FRAME_BAD = const(5)  # a start code whose length or checksums are wrong
_TIMEOUT = const(6)  # internal: nothing complete before the deadline
_STALL = const(7)  # internal: a broken or partial frame, then silence

MAX_FRAME_DATA = const(265)  # TFI + command code + 263 parameter bytes
MAX_EXCHANGE = const(262)  # data bytes per InDataExchange, each way
_RX_SIZE = const(512)
_TX_SIZE = const(MAX_FRAME_DATA + 11)
_IDLE_MS = const(20)  # silence after a broken frame before asking for it again
_I2C_ADDR = const(0x24)
_MAX_FRAMES = const(32)  # frames one command may wait through (stray ACKs, stale replies)

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
# 0x55 wakes the HSU; the zeros give the oscillator time to start (>= 16 bytes at 115200).
_WAKE = b"\x55\x55\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

CMD_DIAGNOSE = const(0x00)
CMD_GET_FIRMWARE_VERSION = const(0x02)
CMD_GET_GENERAL_STATUS = const(0x04)
CMD_READ_REGISTER = const(0x06)
CMD_WRITE_REGISTER = const(0x08)
CMD_SET_SERIAL_BAUDRATE = const(0x10)
CMD_SET_PARAMETERS = const(0x12)
CMD_SAM_CONFIGURATION = const(0x14)
CMD_POWER_DOWN = const(0x16)
CMD_RF_CONFIGURATION = const(0x32)
CMD_IN_DATA_EXCHANGE = const(0x40)
CMD_IN_COMMUNICATE_THRU = const(0x42)
CMD_IN_DESELECT = const(0x44)
CMD_IN_LIST_PASSIVE_TARGET = const(0x4A)
CMD_IN_RELEASE = const(0x52)
CMD_IN_SELECT = const(0x54)

# SetParameters flags
PARAM_AUTO_ATR_RES = const(0x04)
PARAM_AUTO_RATS = const(0x10)

BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1288000)


class PN532Error(ValueError):
    """A PN532 failure. `code` names it; `status` is the chip's status byte when it sent one.

    Codes: no_ack (the chip never acknowledged), timeout (no reply in time),
    checksum (replies kept arriving broken), error_frame (the chip reported a
    syntax error), bad_reply (a reply of the wrong shape), target_lost (status
    0x01: the card or phone did not answer, usually because it left),
    rf_error (RF CRC/parity/protocol errors), bad_target (status 0x27: no such
    target listed), app_error (any other status), too_long, bus (I2C errors),
    not_pn532, unsupported.
    """

    def __init__(self, code, status=None, detail=None):
        msg = code
        if detail:
            msg = msg + ": " + detail
        if status is not None:
            msg = msg + " (status 0x%02x)" % status
        super().__init__(msg)
        self.code = code
        self.status = status


def status_code(status):
    """The PN532Error code for a chip status byte (bits 0-5 of it), or None for success."""
    err = status & 0x3F
    if err == 0:
        return None
    if err == 0x01:
        return "target_lost"
    if err in (0x02, 0x03, 0x05, 0x06, 0x0B, 0x13, 0x23):
        return "rf_error"
    if err == 0x27:
        return "bad_target"
    return "app_error"


def check_status(status):
    """Raise the PN532Error matching a non-zero chip status byte."""
    code = status_code(status)
    if code is not None:
        raise PN532Error(code, status & 0x3F)


def build_frame(out, tfi, cmd, head=b"", data=b""):
    """Write an information frame TFI, cmd, head, data into `out`; return its length.

    A normal frame when TFI+PD fits in 255 bytes, else an extended frame (up
    to MAX_FRAME_DATA). `out` must hold len + 11 bytes.
    """
    n = 2 + len(head) + len(data)
    if n > MAX_FRAME_DATA:
        raise PN532Error("too_long", None, "%d frame bytes" % n)
    out[0] = 0
    out[1] = 0
    out[2] = 0xFF
    if n <= 255:
        out[3] = n
        out[4] = (256 - n) & 0xFF
        p = 5
    else:
        out[3] = 0xFF
        out[4] = 0xFF
        out[5] = n >> 8
        out[6] = n & 0xFF
        out[7] = (512 - out[5] - out[6]) & 0xFF
        p = 8
    out[p] = tfi
    out[p + 1] = cmd
    s = tfi + cmd
    p += 2
    for part in (head, data):
        k = len(part)
        if k:
            out[p:p + k] = part
            for i in range(p, p + k):
                s += out[i]
            p += k
    out[p] = (256 - (s & 0xFF)) & 0xFF
    out[p + 1] = 0
    return p + 2


def parse_frame(buf, start=0, end=-1, maxlen=MAX_FRAME_DATA):
    """Find the first frame in buf[start:end]; return (kind, a, b, nxt).

    Skips anything before a 00 FF start code (preambles, 0x55 wake bytes,
    noise). Kinds:
      FRAME_NONE   nothing complete: a = first index worth keeping,
                   b = index the buffer must reach for the candidate (0 if unknown)
      FRAME_ACK, FRAME_NACK   nxt = index after it
      FRAME_DATA, FRAME_ERROR a = index of TFI, b = TFI+PD length, nxt = after DCS
      FRAME_BAD    wrong length checksum, length or data checksum; resume at nxt
    """
    if end < 0:
        end = len(buf)
    last = end - 1
    i = start
    while i < last:
        if buf[i] == 0 and buf[i + 1] == 0xFF:
            break
        i += 1
    if i >= last:
        keep = last if (last >= start and buf[last] == 0) else end
        if keep < start:
            keep = start
        return (FRAME_NONE, keep, 0, keep)
    if i + 4 > end:
        return (FRAME_NONE, i, i + 4, i)
    l1 = buf[i + 2]
    l2 = buf[i + 3]
    if l1 == 0 and l2 == 0xFF:
        return (FRAME_ACK, i, 0, i + 4)
    if l1 == 0xFF and l2 == 0:
        return (FRAME_NACK, i, 0, i + 4)
    if l1 == 0xFF and l2 == 0xFF:
        if i + 7 > end:
            return (FRAME_NONE, i, i + 7, i)
        if (buf[i + 4] + buf[i + 5] + buf[i + 6]) & 0xFF:
            return (FRAME_BAD, i, 0, i + 2)
        n = (buf[i + 4] << 8) | buf[i + 5]
        p = i + 7
    else:
        if (l1 + l2) & 0xFF:
            return (FRAME_BAD, i, 0, i + 2)
        n = l1
        p = i + 4
    if n == 0 or n > maxlen:
        return (FRAME_BAD, i, 0, i + 2)
    if p + n + 1 > end:
        return (FRAME_NONE, i, p + n + 1, i)
    s = 0
    for k in range(p, p + n + 1):
        s += buf[k]
    if s & 0xFF:
        return (FRAME_BAD, i, 0, i + 2)
    if n == 1 and buf[p] == 0x7F:
        return (FRAME_ERROR, p, n, p + n + 1)
    return (FRAME_DATA, p, n, p + n + 1)


class Target:
    """A target found by InListPassiveTarget at 106 kbps type A."""

    def __init__(self, tg, sens_res, sel_res, uid, ats):
        self.tg = tg
        self.sens_res = sens_res  # 2 bytes as the PN532 gives them (ATQA, most significant first)
        self.sel_res = sel_res  # SAK
        self.uid = uid
        self.ats = ats  # bytes starting with TL, or None

    def iso_dep(self):
        """True when the target speaks ISO 14443-4 (SAK bit 0x20)."""
        return bool(self.sel_res & 0x20)

    def fwi(self):
        """Frame waiting time integer from the ATS (ISO default 4 when absent)."""
        ats = self.ats
        if not ats or len(ats) < 2:
            return 4
        t0 = ats[1]
        i = 2
        if t0 & 0x10:
            i += 1
        if t0 & 0x20 and i < len(ats):
            f = ats[i] >> 4
            return f if f <= 14 else 4
        return 4

    def fwt_ms(self):
        """Frame waiting time in ms: 256 * 16 / fc * 2**FWI, rounded up."""
        return (302 * (1 << self.fwi()) + 999) // 1000


def parse_target(buf, off=0, n=-1, auto_rats=True):
    """Parse InListPassiveTarget 106A reply data (NbTg ...); None when NbTg is 0.

    The ATS is taken only when the chip sends one: the target is ISO-DEP
    capable and automatic RATS is on.
    """
    if n < 0:
        n = len(buf) - off
    if n < 1:
        raise PN532Error("bad_reply", None, "empty target list")
    if buf[off] == 0:
        return None
    if n < 6:
        raise PN532Error("bad_reply", None, "short target data")
    tg = buf[off + 1]
    sens = bytes(buf[off + 2:off + 4])
    sel = buf[off + 4]
    ulen = buf[off + 5]
    if ulen not in (4, 7, 10) or 6 + ulen > n:
        raise PN532Error("bad_reply", None, "bad UID length")
    uid = bytes(buf[off + 6:off + 6 + ulen])
    ats = None
    rest = n - 6 - ulen
    if auto_rats and sel & 0x20 and rest > 0:
        p = off + 6 + ulen
        tl = buf[p]
        if tl < 1 or tl > rest:
            raise PN532Error("bad_reply", None, "bad ATS length")
        ats = bytes(buf[p:p + tl])
    return Target(tg, sens, sel, uid, ats)


class HsuLink:
    """PN532 frames over a UART."""

    def __init__(self, uart, clock):
        self.uart = uart
        self._clock = clock
        self.buf = bytearray(_RX_SIZE)
        self._mv = memoryview(self.buf)
        self._n = 0
        self._start = 0

    def wake(self):
        """Send the HSU wake-up sequence and give the oscillator time to start."""
        self.uart.write(_WAKE)
        self._clock.sleep_ms(2)

    def send(self, data):
        """Write a whole frame."""
        self.uart.write(data)

    def flush(self):
        """Drop everything received so far (late replies, noise)."""
        self._n = 0
        self._start = 0
        for _ in range(16):
            k = self.uart.any()
            if not k:
                return
            if k > _RX_SIZE:
                k = _RX_SIZE
            self.uart.readinto(self._mv[0:k])

    def _compact(self, keep):
        n = self._n
        if keep >= n:
            self._n = 0
        elif keep > 0:
            b = self.buf
            for i in range(n - keep):
                b[i] = b[keep + i]
            self._n = n - keep
        self._start = 0

    def _fill(self):
        k = self.uart.any()
        if not k:
            return 0
        space = _RX_SIZE - self._n
        if space <= 0:
            self._n = 0
            self._start = 0
            space = _RX_SIZE
        if k > space:
            k = space
        r = self.uart.readinto(self._mv[self._n:self._n + k])
        if not r:
            return 0
        self._n += r
        return r

    def read_frame(self, timeout_ms, hint):
        """Wait for the next frame: (kind, a, b) with positions in self.buf.

        kind _TIMEOUT has a = 1 when broken bytes were seen; _STALL means a
        broken or partial frame was followed by _IDLE_MS of silence.
        """
        clock = self._clock
        t0 = clock.ticks_ms()
        last_rx = t0
        dirty = False
        burst = 0
        while True:
            kind, a, b, nxt = parse_frame(self.buf, self._start, self._n)
            if kind == FRAME_BAD or kind == FRAME_NACK:
                dirty = dirty or kind == FRAME_BAD
                self._start = nxt
                continue
            if kind != FRAME_NONE:
                self._start = nxt
                return (kind, a, b)
            self._compact(a)
            partial = b > 0
            now = clock.ticks_ms()
            if burst < 16 and self._fill():
                burst += 1
                last_rx = now
                continue
            burst = 0
            if clock.ticks_diff(now, t0) >= timeout_ms:
                return (_TIMEOUT, 1 if (dirty or partial) else 0, 0)
            if (dirty or partial) and clock.ticks_diff(now, last_rx) >= _IDLE_MS:
                self._n = 0
                self._start = 0
                return (_STALL, 0, 0)
            clock.sleep_ms(1)


class I2cLink:
    """PN532 frames over I2C: status-byte polling, one read transaction per frame."""

    def __init__(self, i2c, address, clock):
        self.i2c = i2c
        self.address = address
        self._clock = clock
        self.buf = bytearray(_TX_SIZE + 1)
        self._mv = memoryview(self.buf)
        self._status = bytearray(1)

    def wake(self):
        """Address the chip once (it stretches the clock while waking), then wait."""
        try:
            self.i2c.writeto(self.address, b"")
        except OSError:
            pass
        self._clock.sleep_ms(2)

    def send(self, data):
        """Write a whole frame in one transaction (3 tries, as libnfc does)."""
        for attempt in range(3):
            try:
                self.i2c.writeto(self.address, data)
                return
            except OSError:
                self._clock.sleep_ms(2)
        raise PN532Error("bus", None, "write failed")

    def _ready(self):
        try:
            self.i2c.readfrom_into(self.address, self._status)
        except OSError:
            return False
        return bool(self._status[0] & 1)

    def flush(self):
        """Read and drop a frame the chip may still hold."""
        for _ in range(3):
            if not self._ready():
                return
            try:
                self.i2c.readfrom_into(self.address, self._mv)
            except OSError:
                return

    def read_frame(self, timeout_ms, hint):
        """Poll the ready byte, then read status + frame: (kind, a, b) as HsuLink."""
        clock = self._clock
        t0 = clock.ticks_ms()
        cap = len(self.buf)
        while True:
            want = hint + 1
            if want > cap:
                want = cap
            for _ in range(3):  # header, then the whole frame
                if not self._ready():
                    break
                try:
                    self.i2c.readfrom_into(self.address, self._mv[0:want])
                except OSError:
                    break
                if not self.buf[0] & 1:
                    break
                kind, a, b, nxt = parse_frame(self.buf, 1, want)
                if kind == FRAME_NONE and want < b <= cap:
                    # Longer than guessed: the chip repeats the frame from its
                    # start until it has been read whole, so read it again.
                    want = b
                    continue
                if kind == FRAME_ACK or kind == FRAME_DATA or kind == FRAME_ERROR:
                    return (kind, a, b)
                return (_STALL, 0, 0)
            if clock.ticks_diff(clock.ticks_ms(), t0) >= timeout_ms:
                return (_TIMEOUT, 0, 0)
            clock.sleep_ms(1)


class PN532:
    """PN532 commands over a UART (HSU) or an I2C bus.

    `clock`: object with ticks_ms, ticks_diff and sleep_ms (default
    vitale.compat). `retries`: how often a lost command is sent again and a
    broken reply asked for again (NACK). `passive_retries`: MxRtyPassiveActivation
    set by begin() (0xFF would make InListPassiveTarget wait for a card).
    """

    def __init__(self, uart=None, i2c=None, address=_I2C_ADDR, clock=None, ack_timeout_ms=50,
                 retries=2, passive_retries=2):
        if clock is None:
            clock = _compat
        self._clock = clock
        if uart is not None:
            self._link = HsuLink(uart, clock)  # type: HsuLink | I2cLink
        elif i2c is not None:
            self._link = I2cLink(i2c, address, clock)
        else:
            raise PN532Error("unsupported", None, "needs a UART or an I2C bus")
        self._buf = self._link.buf
        self._tx = bytearray(_TX_SIZE)
        self._txmv = memoryview(self._tx)
        self._hdr = bytearray(1)
        self.ack_timeout_ms = ack_timeout_ms
        self.retries = retries
        self.passive_retries = passive_retries
        self.auto_rats = True
        self.asleep = True
        self.target = None
        # Counters for tests and diagnostics.
        self.resends = 0
        self.nacks = 0
        self.aborts = 0

    # -- link layer --------------------------------------------------------

    def wake(self):
        """Wake the chip (HSU 0x55 preamble or an I2C address probe)."""
        self._link.wake()
        self.asleep = False

    def abort(self):
        """Send an ACK frame: the chip drops the command it is running."""
        self.aborts += 1
        self._link.send(ACK)

    def _transact(self, cmd, head, data, timeout_ms, hint):
        """Send one command; return (offset, length) of the reply data after the code."""
        if self.asleep:
            self.wake()
        link = self._link
        clock = self._clock
        n = build_frame(self._tx, _TFI_HOST, cmd, head, data)
        frame = self._txmv[0:n]
        attempt = 0
        while True:
            link.flush()
            link.send(frame)
            t0 = clock.ticks_ms()
            kind, a, b = link.read_frame(self.ack_timeout_ms, 6)
            if kind == _STALL or (kind == _TIMEOUT and a):
                kind = FRAME_ACK  # a broken ACK: the chip heard us, wait for its reply
                break
            if kind != _TIMEOUT:
                break
            attempt += 1
            self.aborts += 1
            link.send(ACK)
            if attempt > self.retries:
                raise PN532Error("no_ack", None, "command 0x%02x" % cmd)
            self.resends += 1
        nacks = 0
        frames = 0
        while True:
            frames += 1
            if frames > _MAX_FRAMES:
                self.abort()
                raise PN532Error("bad_reply", None, "stray frames, command 0x%02x" % cmd)
            if kind == FRAME_DATA:
                buf = self._buf
                if b >= 2 and buf[a] == _TFI_CHIP and buf[a + 1] == cmd + 1:
                    return (a + 2, b - 2)
                # a reply to something else (stale, duplicated): keep waiting
            elif kind == FRAME_ERROR:
                raise PN532Error("error_frame", None, "command 0x%02x" % cmd)
            elif kind == _STALL:
                if nacks >= self.retries:
                    self.abort()
                    raise PN532Error("checksum", None, "command 0x%02x" % cmd)
                nacks += 1
                self.nacks += 1
                link.send(NACK)
            left = timeout_ms - clock.ticks_diff(clock.ticks_ms(), t0)
            if kind == _TIMEOUT or left <= 0:
                self.abort()
                raise PN532Error("timeout", None, "command 0x%02x" % cmd)
            kind, a, b = link.read_frame(left, hint + 12)

    def command(self, cmd, params=b"", timeout_ms=500, hint=32):
        """Run one command; return the reply's data (after the reply code) as bytes."""
        off, n = self._transact(cmd, params, b"", timeout_ms, hint)
        return bytes(self._buf[off:off + n])

    def _simple(self, cmd, params, timeout_ms=500):
        self._transact(cmd, params, b"", timeout_ms, 4)

    # -- general commands ----------------------------------------------------

    def begin(self):
        """Wake, configure for reading phones and cards; return the firmware version tuple."""
        self.wake()
        self.sam_configuration()
        fw = self.firmware_version()
        if fw[0] != 0x32:
            raise PN532Error("not_pn532", None, "IC 0x%02x" % fw[0])
        self.set_parameters(PARAM_AUTO_ATR_RES | PARAM_AUTO_RATS)
        self.set_max_retries(0xFF, 0x01, self.passive_retries)
        return fw

    def firmware_version(self):
        """(IC, Ver, Rev, Support): (0x32, 1, 6, 7) for a PN532 v1.6."""
        off, n = self._transact(CMD_GET_FIRMWARE_VERSION, b"", b"", 200, 4)
        if n < 4:
            raise PN532Error("bad_reply", None, "firmware version")
        b = self._buf
        return (b[off], b[off + 1], b[off + 2], b[off + 3])

    def sam_configuration(self, mode=1, timeout=0x14, irq=1):
        """SAMConfiguration: mode 1 = normal (no SAM)."""
        self._simple(CMD_SAM_CONFIGURATION, bytes((mode, timeout, irq)))

    def set_parameters(self, flags):
        """SetParameters; remembers whether the chip sends RATS itself."""
        self._simple(CMD_SET_PARAMETERS, bytes((flags,)))
        self.auto_rats = bool(flags & PARAM_AUTO_RATS)

    def rf_configuration(self, item, data):
        """RFConfiguration item with its data bytes."""
        self._simple(CMD_RF_CONFIGURATION, bytes((item,)) + bytes(data))

    def rf_field(self, on):
        """Switch the RF field on or off (off drops any phone's link)."""
        self.rf_configuration(0x01, b"\x01" if on else b"\x00")

    def set_timeouts(self, atr_res=0x0B, retry=0x0A):
        """Various timings: codes n mean 100 us * 2**(n-1)."""
        self.rf_configuration(0x02, bytes((0, atr_res, retry)))

    def set_com_retries(self, n):
        """MaxRtyCOM: retries of InDataExchange after an RF timeout."""
        self.rf_configuration(0x04, bytes((n,)))

    def set_max_retries(self, atr=0xFF, psl=0x01, passive=0xFF):
        """MaxRetries: 0xFF for `passive` makes polling wait until a card comes."""
        self.rf_configuration(0x05, bytes((atr, psl, passive)))

    def set_serial_baudrate(self, baud):
        """Switch the HSU speed (both sides); the UART must have init(baudrate=...)."""
        if not isinstance(self._link, HsuLink):
            raise PN532Error("unsupported", None, "baud rate on I2C")
        if baud not in BAUD_RATES:
            raise PN532Error("unsupported", None, "baud %d" % baud)
        self._simple(CMD_SET_SERIAL_BAUDRATE, bytes((BAUD_RATES.index(baud),)))
        self._link.send(ACK)  # the chip switches once the host acknowledged the reply
        self._clock.sleep_ms(1)
        self._link.uart.init(baudrate=baud)

    def power_down(self, wake_sources=0xB0):
        """PowerDown (wake on I2C, SPI, HSU by default); the next command wakes it first."""
        off, n = self._transact(CMD_POWER_DOWN, bytes((wake_sources,)), b"", 200, 4)
        if n >= 1:
            check_status(self._buf[off])
        self.asleep = True
        self.target = None

    # -- initiator commands --------------------------------------------------

    def list_passive_target(self, timeout_ms=500):
        """Poll once for a 106 kbps type A target; return a Target or None.

        With finite passive retries the chip answers "none" by itself; with
        0xFF it stays silent until a card comes, and the timeout aborts it.
        """
        try:
            off, n = self._transact(CMD_IN_LIST_PASSIVE_TARGET, b"\x01\x00", b"", timeout_ms, 64)
        except PN532Error as e:
            if e.code == "timeout":
                return None
            raise
        t = parse_target(self._buf, off, n, self.auto_rats)
        self.target = t
        return t

    def data_exchange(self, data, timeout_ms=1000, tg=1, max_len=65538):
        """InDataExchange: send `data` to target `tg`, return its whole answer as bytes.

        Data over 262 bytes goes out in pieces with the MI bit; answers over
        262 bytes come back in pieces (MI in the status) and are joined.
        """
        total = len(data)
        mv = memoryview(data)
        hdr = self._hdr
        pos = 0
        while True:
            end = pos + MAX_EXCHANGE
            more = end < total
            if not more:
                end = total
            hdr[0] = (tg & 0x0F) | (0x40 if more else 0)
            off, n = self._transact(CMD_IN_DATA_EXCHANGE, hdr, mv[pos:end], timeout_ms, MAX_EXCHANGE + 1)
            if n < 1:
                raise PN532Error("bad_reply", None, "no status")
            status = self._buf[off]
            check_status(status)
            if not more:
                break
            pos = end
        out = bytearray(self._buf[off + 1:off + n])
        empty = 0
        hdr[0] = tg & 0x0F
        while status & 0x40:
            if len(out) > max_len:
                raise PN532Error("too_long", None, "answer over %d bytes" % max_len)
            off, n = self._transact(CMD_IN_DATA_EXCHANGE, hdr, b"", timeout_ms, MAX_EXCHANGE + 1)
            if n < 1:
                raise PN532Error("bad_reply", None, "no status")
            status = self._buf[off]
            check_status(status)
            if n == 1:
                empty += 1
                if empty > 2:
                    raise PN532Error("bad_reply", None, "empty MI pieces")
            out.extend(self._buf[off + 1:off + n])
        if len(out) > max_len:
            raise PN532Error("too_long", None, "answer over %d bytes" % max_len)
        return bytes(out)

    def communicate_thru(self, data, timeout_ms=500):
        """InCommunicateThru: raw bytes to the current target; its raw answer."""
        off, n = self._transact(CMD_IN_COMMUNICATE_THRU, data, b"", timeout_ms, MAX_EXCHANGE + 1)
        if n < 1:
            raise PN532Error("bad_reply", None, "no status")
        check_status(self._buf[off])
        return bytes(self._buf[off + 1:off + n])

    def release(self, tg=0):
        """InRelease: deselect and forget the target (0 = all)."""
        self._status_command(CMD_IN_RELEASE, tg)
        self.target = None

    def deselect(self, tg=0):
        """InDeselect: deselect the target but keep it listed."""
        self._status_command(CMD_IN_DESELECT, tg)

    def _status_command(self, cmd, tg):
        self._hdr[0] = tg
        off, n = self._transact(cmd, self._hdr, b"", 500, 4)
        if n < 1:
            raise PN532Error("bad_reply", None, "no status")
        check_status(self._buf[off])
