"""Scan the camera for a signed QR credential ("VQR1:" text).

What this module needs from the Board (vitale.hal.board):

    board.camera.capture() -> (buffer, width, height)
        one 8-bit grayscale frame, row-major; the buffer may be bytes, a
        bytearray or a memoryview of signed bytes (the cnadler86 ESP32 camera
        driver's frame buffer); it only has to stay valid until the next
        capture(). May return None (or raise OSError) when no frame is ready.

The scan loop decodes frame after frame, hands every "VQR1:" text to a
callback of the credential layer and stops as soon as the callback returns
True, or at the timeout. This module never decides whether a credential is
valid. QR codes with other contents are reported as `not_a_credential`.

    result = await scan(board, on_text, timeout_ms)     # asyncio
    result = scan_sync(board, on_text, timeout_ms)      # blocking

The async variant yields to the event loop between slices of decoding work
(bands of rows, finder checks, decode attempts), so NFC polling keeps running.
"""

from vitale.compat import ticks_ms, ticks_diff, sleep_ms
from vitale.vision import qr

PREFIX = b"VQR1:"

# result statuses (the last three are refusal codes of vitale.cred.result)
ACCEPTED = "accepted"  # the callback accepted a VQR text
REJECTED = "rejected"  # VQR texts were seen, the callback accepted none, time ran out
NOT_A_CREDENTIAL = "not_a_credential"  # only QR codes with other contents were seen
TIMEOUT = "timeout"  # no QR code at all before the timeout
CAMERA_ERROR = "camera_error"  # the camera gave no frame at all


class ScanResult:
    """How a scan ended: status (above), the accepted/last text, the last other payload, counters."""

    def __init__(self, status, text=None, other=None, frames=0, codes=0, elapsed_ms=0):
        self.status = status
        self.text = text
        self.other = other
        self.frames = frames
        self.codes = codes
        self.elapsed_ms = elapsed_ms

    def __repr__(self):
        return "ScanResult(%s, frames=%d, codes=%d, %d ms)" % (self.status, self.frames, self.codes, self.elapsed_ms)


def vqr_text(payload):
    """The credential text of a QR payload, or None when it is not a VQR credential."""
    if not payload.startswith(PREFIX):
        return None
    try:
        return payload.decode("ascii")
    except (UnicodeError, ValueError):
        return None


class _Scan:
    # shared state of the sync and async loops
    def __init__(self, on_text, timeout_ms, on_other):
        self.on_text = on_text
        self.on_other = on_other
        self.timeout_ms = timeout_ms
        self.start = ticks_ms()
        self.frames = 0
        self.codes = 0
        self.last_text = None
        self.other = None
        self.no_frame = 0

    def expired(self):
        return ticks_diff(ticks_ms(), self.start) >= self.timeout_ms

    def frame(self, camera):
        """(decoder, buffer) for the next frame, or None when the camera has none."""
        try:
            got = camera.capture()
        except OSError:
            got = None
        if not got:
            self.no_frame += 1
            return None
        buf, w, h = got
        try:
            dec = qr.decoder_for(w, h)
        except qr.QRError:
            self.no_frame += 1
            return None
        self.frames += 1
        return dec, buf

    def handle(self, codes):
        """Feed decoded symbols to the callbacks; True when one was accepted."""
        for c in codes:
            self.codes += 1
            text = vqr_text(c.payload)
            if text is None:
                self.other = c.payload
                if self.on_other is not None:
                    self.on_other(c.payload)
                continue
            self.last_text = text
            if self.on_text(text):
                return True
        return False

    def result(self, accepted):
        el = ticks_diff(ticks_ms(), self.start)
        if accepted:
            st = ACCEPTED
        elif self.last_text is not None:
            st = REJECTED
        elif self.other is not None:
            st = NOT_A_CREDENTIAL
        elif self.frames == 0 and self.no_frame > 0:
            st = CAMERA_ERROR
        else:
            st = TIMEOUT
        return ScanResult(st, self.last_text, self.other, self.frames, self.codes, el)


def scan_sync(board, on_text, timeout_ms, on_other=None):
    """Blocking scan: decode frames until on_text(text) returns True or timeout_ms passes."""
    s = _Scan(on_text, timeout_ms, on_other)
    while not s.expired():
        got = s.frame(board.camera)
        if got is None:
            sleep_ms(10)
            continue
        dec, buf = got
        try:
            codes = dec.decode(buf)
        except qr.QRError:
            continue
        if s.handle(codes):
            return s.result(True)
    return s.result(False)


async def scan(board, on_text, timeout_ms, on_other=None):
    """asyncio scan: like scan_sync, yielding to the event loop between slices of work."""
    import asyncio

    s = _Scan(on_text, timeout_ms, on_other)
    while not s.expired():
        got = s.frame(board.camera)
        if got is None:
            await asyncio.sleep(0.01)
            continue
        dec, buf = got
        timed_out = False
        try:
            for _ in dec.steps(buf):
                await asyncio.sleep(0)
                if s.expired():
                    timed_out = True
                    break
        except qr.QRError:
            continue
        if timed_out:
            break
        if s.handle(dec.results):
            return s.result(True)
        await asyncio.sleep(0)
    return s.result(False)
