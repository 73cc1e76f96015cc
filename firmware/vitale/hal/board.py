"""The Board: everything the application may touch of the hardware.

The app never imports `machine`; it is handed a Board. `vitale.hal.esp32`
builds one from `machine` and a board file; the virtual reader builds one from
emulated chips. Each attribute below is either an object with the described
methods or None when the board lacks it.

  name          board name (str)
  nfc_uart      UART-like: write(buf) -> n, readinto(buf) -> n or None, any() -> n
                (MicroPython machine.UART semantics; reads return early on timeout)
  nfc_i2c       I2C-like: writeto(addr, buf), readfrom_into(addr, buf)
                (exactly one of nfc_uart / nfc_i2c is set when a PN532 is fitted)
  camera        capture() -> (buffer, width, height): 8-bit grayscale frame;
                the buffer may be a memoryview of signed bytes
  led           Led (below) or None
  buzzer        Buzzer (below) or None
  display       object with text(lines) or None
  wdt           object with feed() or None
  clock         Clock (below)
  store_root    folder on flash for vitale.store
  host          the host link stream: read() -> bytes (what arrived, b"" when
                nothing; never blocks) and write(buf); on a board, the USB serial
                that the REPL shares; None when the app has no link
  reboot        callable that resets the board (machine.reset), or None
"""


class Led:
    """A status light: colour names map to RGB on an RGB LED, or on/off on a plain one."""

    COLOURS = {
        "off": (0, 0, 0),
        "idle": (0, 0, 16),
        "scanning": (0, 0, 64),
        "reading": (64, 64, 0),
        "ok": (0, 96, 0),
        "refused": (96, 0, 0),
        "error": (96, 0, 48),
    }

    def __init__(self, set_rgb):
        self._set_rgb = set_rgb
        self.state = "off"

    def show(self, name):
        """Show a named state ('idle', 'scanning', 'reading', 'ok', 'refused', 'error', 'off')."""
        rgb = self.COLOURS.get(name)
        if rgb is None:
            rgb = self.COLOURS["error"]
        self.state = name
        self._set_rgb(rgb)


class Buzzer:
    """A buzzer that plays short patterns: a list of (frequency Hz, milliseconds); 0 Hz is silence."""

    PATTERNS = {
        "ok": ((2000, 80),),
        "refused": ((400, 150), (0, 60), (400, 150)),
        "error": ((300, 400),),
    }

    def __init__(self, tone):
        self._tone = tone  # tone(freq_hz, ms); freq 0 = silent for ms
        self.played = []

    def play(self, name):
        """Play a named pattern ('ok', 'refused', 'error')."""
        pattern = self.PATTERNS.get(name, ())
        self.played.append(name)
        for freq, ms in pattern:
            self._tone(freq, ms)


class Clock:
    """Wall-clock time for certificate and credential checks.

    The reader's clock is trusted only after the host set it (`set`); until
    then `now()` returns None and the policy refuses results with
    `clock_unset`. Time advances with the tick counter between sets.
    """

    def __init__(self, ticks_ms, ticks_diff):
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._base = None
        self._base_ticks = 0
        self.set_at_ticks = None

    def set(self, unix_seconds):
        """Set the wall clock (seconds since 1970, UTC)."""
        self._base = int(unix_seconds)
        self._base_ticks = self._ticks_ms()
        self.set_at_ticks = self._base_ticks

    def is_set(self):
        """True once the host has set the clock."""
        return self._base is not None

    def now(self):
        """Seconds since 1970 (UTC), or None when the clock was never set."""
        if self._base is None:
            return None
        return self._base + self._ticks_diff(self._ticks_ms(), self._base_ticks) // 1000


class Board:
    """A bag of the parts above; unset parts are None."""

    def __init__(self, name, clock, nfc_uart=None, nfc_i2c=None, camera=None, led=None,
                 buzzer=None, display=None, wdt=None, store_root="/store", host=None, reboot=None):
        self.name = name
        self.clock = clock
        self.nfc_uart = nfc_uart
        self.nfc_i2c = nfc_i2c
        self.camera = camera
        self.led = led
        self.buzzer = buzzer
        self.display = display
        self.wdt = wdt
        self.store_root = store_root
        self.host = host
        self.reboot = reboot

    def feedback(self, state):
        """Show a reader state on whatever the board has (LED, buzzer, display)."""
        if self.led is not None:
            self.led.show(state)
        if self.buzzer is not None and state in Buzzer.PATTERNS:
            self.buzzer.play(state)
        if self.display is not None:
            self.display.text([state])
