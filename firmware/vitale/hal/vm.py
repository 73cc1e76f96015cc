"""The Board of the VM device: MicroPython's WebAssembly VM run as a board.

    if vm.available():          # only inside the VM device (tools/vitale_tools/mpvm/device.py)
        board = vm.build_board()

The VM device gives the firmware a JavaScript module `vmdev`; this module
imports anywhere, but only there does `available()` say True. Every part
forwards to the emulated hardware on the host over that bridge:

  nfc_uart   machine.UART semantics: write, readinto (None when nothing), any, read, init
  camera     capture() -> (bytes, width, height) or None (camera off)
  led, buzzer, display   Led / Buzzer / text(lines)
  host       the serial line the REPL shares: read() -> bytes (never blocks), write(buf);
             Ctrl-C from the host raises KeyboardInterrupt in the app, as on a board
  reboot     a hard reset (the VM restarts over the same flash); never returns
  nfc_clock  ticks and sleep_ms for the PN532 driver, sleeping in the bridge (Ctrl-C still works)

Binary data crosses the bridge as hex text.
"""

import json

try:
    import vmdev
except ImportError:  # not the VM device
    vmdev = None

from vitale.compat import const, ticks_diff, ticks_ms
from vitale.hal.board import Board, Buzzer, Clock, Led

_EIO = const(5)
STORE_ROOT = "/store"  # not /vitale: a folder there would shadow the package in /lib ('' is first in sys.path)
HOST_READ_MAX = 512  # bytes per host read(): the app loop stays responsive during a long upload


def available():
    """True inside the VM device (its bridge module is there)."""
    return vmdev is not None


def call(method, *args):
    """One hardware call to the host side; its result (str, int, None or JSON text).

    OSError(EIO) with the host side's message when the call failed there.
    """
    r = vmdev.call(method, json.dumps(args))
    if isinstance(r, str) and r[:1] == "\0":
        raise OSError(_EIO, r[1:])
    return r


def _hex(buf):
    return bytes(buf).hex()


class VmUart:
    """The PN532's UART on the host side (machine.UART semantics)."""

    def __init__(self):
        self.baudrate = 115200

    def init(self, baudrate=115200, **kwargs):
        """Change the baud rate (the emulated chip follows its own SetSerialBaudrate)."""
        self.baudrate = baudrate

    def write(self, buf):
        """Send bytes; returns the count."""
        return int(call("uart_write", _hex(buf)))

    def any(self):
        """Bytes waiting."""
        return int(call("uart_any"))

    def read(self, n=-1):
        """Up to n bytes (all waiting when n < 0), or None when nothing came."""
        if n is None or n < 0:
            n = self.any()
        data = bytes.fromhex(call("uart_read", n)) if n else b""
        return data if data else None

    def readinto(self, buf, nbytes=-1):
        """Read into buf; the count, or None when nothing came."""
        n = len(buf) if nbytes is None or nbytes < 0 else nbytes
        data = bytes.fromhex(call("uart_read", n)) if n else b""
        k = len(data)
        if not k:
            return None
        buf[0:k] = data
        return k


class VmCamera:
    """The camera on the host side: 8-bit grayscale frames."""

    def capture(self):
        """(bytes, width, height), or None when no frame (camera off)."""
        r = call("camera_capture")
        if not r:
            return None
        w, h, data = r.split(" ", 2)
        return bytes.fromhex(data), int(w), int(h)


class VmDisplay:
    """A small text display on the host side."""

    def text(self, lines):
        """Show these lines."""
        call("display", [str(x) for x in lines])


class VmHost:
    """The host link: the device's serial line, shared with the REPL."""

    def read(self):
        """What the host sent (b"" when nothing); never blocks."""
        h = vmdev.host_read(HOST_READ_MAX)
        if not h:
            return b""
        data = bytes.fromhex(h)
        if b"\x03" in data:  # the bridge turns Ctrl-C into KeyboardInterrupt; never pass one on
            raise KeyboardInterrupt
        return data

    def write(self, buf):
        """Send bytes to the host."""
        return vmdev.host_write(_hex(buf))


class VmClock:
    """Ticks and sleeps for the PN532 driver (sleeps wait in the bridge, not in a busy loop)."""

    def ticks_ms(self):
        """Millisecond tick counter."""
        return ticks_ms()

    def ticks_diff(self, a, b):
        """Signed difference of two tick values."""
        return ticks_diff(a, b)

    def sleep_ms(self, ms):
        """Sleep for ms milliseconds."""
        vmdev.sleep_ms(ms)


def reboot():
    """Hard reset of the VM device; does not return."""
    vmdev.reset()
    raise SystemExit  # not reached: the VM process ends in reset()


def _rgb(rgb):
    call("led", rgb[0], rgb[1], rgb[2])


def _tone(freq, ms):
    call("tone", freq, ms)


def build_board():
    """The Board of this VM device, with the parts its host side has (RuntimeError elsewhere)."""
    if vmdev is None:
        raise RuntimeError("not the VM device: no vmdev bridge")
    info = json.loads(call("info"))
    parts = info.get("parts", [])
    board = Board(
        info.get("board", "vm"),
        Clock(ticks_ms, ticks_diff),
        nfc_uart=VmUart() if "nfc_uart" in parts else None,
        camera=VmCamera() if "camera" in parts else None,
        led=Led(_rgb) if "led" in parts else None,
        buzzer=Buzzer(_tone) if "buzzer" in parts else None,
        display=VmDisplay() if "display" in parts else None,
        store_root=STORE_ROOT,
        host=VmHost(),
        reboot=reboot,
    )
    setattr(board, "nfc_clock", VmClock())  # optional part the app reads (vitale.app)
    return board
