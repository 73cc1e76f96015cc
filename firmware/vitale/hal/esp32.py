"""Build the Board (vitale.hal.board) of an ESP32 reader from a board file.

    board = build_board(load_board_json())           # on the device
    board = build_board(cfg, machine_mod=fake, camera_mod=fake_cam)   # in tests

`machine`, the camera module and `neopixel` are imported when build_board()
runs, never at import time, so this module imports anywhere.

Camera modules (both are imported as `camera`; the module's shape picks the API):
  cnadler86 micropython-camera-API   camera.Camera(data_pins=..., ...).capture()
                                     -> memoryview of signed bytes (no copy)
  lemariva micropython-camera-driver camera.init(0, format=camera.GRAYSCALE, ...);
                                     camera.capture() -> bytes, or False

Optional parts that fail to start (camera, LED, buzzer) are left None and their
error goes to `board.faults` (an Esp32Board: [(part, message)]); strict=True
raises instead.
"""

from vitale.compat import sleep_ms, ticks_diff, ticks_ms, ticks_us
from vitale.hal.board import Board, Buzzer, Clock, Led

DEFAULT_WDT_MS = 30000
DEFAULT_STORE_ROOT = "/store"  # not /vitale: a folder named like the package at the root would hide /lib/vitale
LED_ON_LEVEL = 32  # a plain LED lights for colours at least this bright (idle stays dark)

# Frame sizes the board schema allows, in pixels (esp32-camera framesize_t).
FRAME_SIZES = {
    "QVGA": (320, 240),
    "CIF": (400, 296),
    "HVGA": (480, 320),
    "VGA": (640, 480),
    "SVGA": (800, 600),
}


class BoardError(ValueError):
    """A board file that cannot be read or used; `reason` is a short code."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.detail = detail


def load_board_json(path="/board.json"):
    """Read and parse the board file; BoardError('missing'|'bad_json'|'not_object')."""
    import json

    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise BoardError("missing", "%s: %s" % (path, e))
    try:
        cfg = json.loads(text)
    except ValueError as e:
        raise BoardError("bad_json", "%s: %s" % (path, e))
    if not isinstance(cfg, dict):
        raise BoardError("not_object", path)
    return cfg


# -- board-file access: every wrong shape becomes a BoardError ---------------

def _get(d, key, kinds, where, nullable=False):
    if not isinstance(d, dict) or key not in d:
        raise BoardError("missing_field", where + "." + key)
    v = d[key]
    if v is None and nullable:
        return None
    if isinstance(v, bool) and bool not in kinds:
        raise BoardError("bad_field", where + "." + key)
    if not isinstance(v, kinds):
        raise BoardError("bad_field", where + "." + key)
    return v


def _pin_no(d, key, where, wired=False):
    """A GPIO number from the file; -1 (not wired) is allowed unless `wired`."""
    v = _get(d, key, (int,), where)
    if v < (0 if wired else -1) or v > 48:
        raise BoardError("bad_pin", "%s.%s = %d" % (where, key, v))
    return v


def _gpio(d, key, where):
    """A GPIO number that must be wired."""
    return _pin_no(d, key, where, True)


# -- parts --------------------------------------------------------------------

def _make_nfc(machine, pn):
    """(uart, i2c) for the PN532; one of them is None."""
    iface = _get(pn, "interface", (str,), "pn532")
    reset = _pin_no(pn, "reset", "pn532") if "reset" in pn else -1
    if reset >= 0:
        # RSTPDN is active low: hold it high so the chip runs.
        machine.Pin(reset, machine.Pin.OUT, value=1)
    if iface == "uart":
        u = _get(pn, "uart", (dict,), "pn532")
        rxbuf = _get(u, "rxbuf", (int,), "pn532.uart")
        if rxbuf < 1024:
            # a 276-byte extended frame overruns a smaller ring buffer
            raise BoardError("bad_field", "pn532.uart.rxbuf < 1024")
        uart = machine.UART(_get(u, "id", (int,), "pn532.uart"),
                            baudrate=_get(u, "baudrate", (int,), "pn532.uart"),
                            tx=machine.Pin(_gpio(u, "tx", "pn532.uart")),
                            rx=machine.Pin(_gpio(u, "rx", "pn532.uart")),
                            rxbuf=rxbuf)
        return uart, None
    if iface == "i2c":
        return None, _make_i2c(machine, _get(pn, "i2c", (dict,), "pn532"))
    raise BoardError("bad_field", "pn532.interface = " + iface)


def _make_i2c(machine, c):
    return machine.I2C(_get(c, "id", (int,), "pn532.i2c"),
                       scl=machine.Pin(_gpio(c, "scl", "pn532.i2c")),
                       sda=machine.Pin(_gpio(c, "sda", "pn532.i2c")),
                       freq=_get(c, "freq", (int,), "pn532.i2c"))


class FrameSource:
    """capture() -> (buffer, width, height) over a driver's grab function, or None.

    cnadler86: grab = cam.capture, a memoryview of signed bytes valid until the
    next capture (no copy). lemariva: grab = camera.capture, bytes or False.
    """

    def __init__(self, grab, width, height):
        self.grab = grab
        self.width = width
        self.height = height

    def capture(self):
        """One 8-bit grayscale frame, or None when the driver had none."""
        buf = self.grab()
        if buf is None or buf is False or len(buf) == 0:
            return None
        return buf, self.width, self.height


def _dims(cam, frame_size):
    # The driver knows the real size; the file's frame size is the fallback.
    w, h = FRAME_SIZES[frame_size]
    for wn, hn in (("pixel_width", "pixel_height"), ("get_pixel_width", "get_pixel_height")):
        a = getattr(cam, wn, None)
        b = getattr(cam, hn, None)
        if a is None or b is None:
            continue
        try:
            if callable(a):
                a = a()
                b = b()
        except (OSError, TypeError, ValueError, AttributeError):
            continue
        if isinstance(a, int) and isinstance(b, int) and a > 0 and b > 0:
            return a, b
    return w, h


def _make_camera(machine, camera_mod, c, shared_i2c):
    """Power the sensor and start the driver; returns an object with capture()."""
    where = "camera"
    frame_size = _get(c, "frame_size", (str,), where)
    if frame_size not in FRAME_SIZES:
        raise BoardError("bad_field", "camera.frame_size = " + frame_size)
    if _get(c, "pixel_format", (str,), where) != "GRAYSCALE":
        raise BoardError("bad_field", "camera.pixel_format must be GRAYSCALE")
    data = _get(c, "data", (list,), where)
    if len(data) != 8:
        raise BoardError("bad_field", "camera.data needs 8 pins")
    for i in range(8):
        if not isinstance(data[i], int) or isinstance(data[i], bool) or data[i] < 0 or data[i] > 48:
            raise BoardError("bad_pin", "camera.data[%d]" % i)
    power = _get(c, "power", (dict,), where, nullable=True)
    if power is not None:
        level = _get(power, "on_level", (int,), "camera.power")
        machine.Pin(_gpio(power, "pin", "camera.power"), machine.Pin.OUT, value=level)
        sleep_ms(_get(power, "settle_ms", (int,), "camera.power"))
    fb_count = _get(c, "fb_count", (int,), where)
    xclk_freq = _get(c, "xclk_freq_hz", (int,), where)
    w, h = FRAME_SIZES[frame_size]

    if hasattr(camera_mod, "Camera"):
        kw = {
            "data_pins": list(data),
            "pclk_pin": _gpio(c, "pclk", where),
            "vsync_pin": _gpio(c, "vsync", where),
            "href_pin": _gpio(c, "href", where),
            "xclk_pin": _gpio(c, "xclk", where),
            "xclk_freq": xclk_freq,
            "powerdown_pin": _pin_no(c, "pwdn", where),
            "reset_pin": _pin_no(c, "reset", where),
            "pixel_format": camera_mod.PixelFormat.GRAYSCALE,
            "frame_size": getattr(camera_mod.FrameSize, frame_size),
            "fb_count": fb_count,
        }
        if shared_i2c is not None:
            kw["i2c"] = shared_i2c
        else:
            kw["sda_pin"] = _gpio(c, "sda", where)
            kw["scl_pin"] = _gpio(c, "scl", where)
        cam = camera_mod.Camera(**kw)
        w, h = _dims(cam, frame_size)
        return FrameSource(cam.capture, w, h)

    if hasattr(camera_mod, "init") and hasattr(camera_mod, "capture"):
        if shared_i2c is not None:
            raise BoardError("unsupported", "this camera module cannot share the PN532 I2C bus")
        # init() accepts only its own XCLK_10MHz / XCLK_20MHz constants
        xclk_name = "XCLK_%dMHz" % (xclk_freq // 1000000)
        if xclk_freq % 1000000 == 0 and hasattr(camera_mod, xclk_name):
            xclk_freq = getattr(camera_mod, xclk_name)
        kw = {
            "format": camera_mod.GRAYSCALE,
            "framesize": getattr(camera_mod, "FRAME_" + frame_size),
            "xclk_freq": xclk_freq,
            "fb_size": fb_count,
            "xclk": _gpio(c, "xclk", where),
            "siod": _gpio(c, "sda", where),
            "sioc": _gpio(c, "scl", where),
            "vsync": _gpio(c, "vsync", where),
            "href": _gpio(c, "href", where),
            "pclk": _gpio(c, "pclk", where),
            "pwdn": _pin_no(c, "pwdn", where),
            "reset": _pin_no(c, "reset", where),
        }
        if hasattr(camera_mod, "PSRAM"):
            # the driver defaults to DRAM, too small for a grayscale VGA frame
            kw["fb_location"] = camera_mod.PSRAM
        for i in range(8):
            kw["d%d" % i] = data[i]
        ok = camera_mod.init(0, **kw)
        if ok is False:
            raise OSError("camera.init failed")
        return FrameSource(camera_mod.capture, w, h)

    raise BoardError("unsupported", "unknown camera module API")


def _make_led(machine, neopixel_mod, c):
    """A board.Led driving a plain GPIO, a WS2812 or three PWM channels."""
    kind = _get(c, "kind", (str,), "led")
    if kind == "gpio":
        low = bool(_get(c, "active_low", (bool,), "led"))
        pin = machine.Pin(_gpio(c, "pin", "led"), machine.Pin.OUT, value=1 if low else 0)

        def set_gpio(rgb):
            on = max(rgb) >= LED_ON_LEVEL
            pin.value(1 if on != low else 0)

        return Led(set_gpio)
    if kind == "ws2812":
        if neopixel_mod is None:
            import neopixel as neopixel_mod
        np = neopixel_mod.NeoPixel(machine.Pin(_gpio(c, "pin", "led"), machine.Pin.OUT), 1)

        def set_np(rgb):
            np[0] = (rgb[0], rgb[1], rgb[2])
            np.write()

        set_np((0, 0, 0))
        return Led(set_np)
    if kind == "rgb_pwm":
        # not in boards/schema.json yet: {"kind": "rgb_pwm", "pins": [r, g, b], "active_low": bool}
        low = bool(_get(c, "active_low", (bool,), "led"))
        pins = _get(c, "pins", (list,), "led")
        if len(pins) != 3:
            raise BoardError("bad_field", "led.pins needs 3 pins")
        pwms = []
        for i in range(3):
            if not isinstance(pins[i], int) or pins[i] < 0 or pins[i] > 48:
                raise BoardError("bad_pin", "led.pins[%d]" % i)
            pwms.append(machine.PWM(machine.Pin(pins[i]), freq=1000, duty_u16=65535 if low else 0))

        def set_pwm(rgb):
            for i in range(3):
                d = (rgb[i] & 0xFF) * 257
                pwms[i].duty_u16(65535 - d if low else d)

        return Led(set_pwm)
    raise BoardError("bad_field", "led.kind = " + kind)


def _soft_tone(pin):
    """tone(freq, ms) as a square wave toggled by the CPU: no LEDC channel taken."""

    def tone(freq, ms):
        if freq > 0:
            half = 500000 // freq
            end = ms * 1000
            t0 = ticks_us()
            level = 0
            nxt = 0
            while True:
                now = ticks_diff(ticks_us(), t0)
                if now >= end:
                    break
                if now >= nxt:
                    level ^= 1
                    pin.value(level)
                    nxt += half
        else:
            sleep_ms(ms)
        pin.value(0)

    return tone


def _make_buzzer(machine, c, use_pwm):
    """A board.Buzzer: tones on a passive buzzer (PWM or CPU), on/off on an active one."""
    kind = _get(c, "kind", (str,), "buzzer")
    pin_no = _gpio(c, "pin", "buzzer")
    if kind == "passive" and not use_pwm:
        return Buzzer(_soft_tone(machine.Pin(pin_no, machine.Pin.OUT, value=0)))
    if kind == "passive":
        pwm = machine.PWM(machine.Pin(pin_no), freq=2000, duty_u16=0)

        def tone(freq, ms):
            if freq > 0:
                pwm.freq(freq)
                pwm.duty_u16(32768)
            sleep_ms(ms)
            pwm.duty_u16(0)

        return Buzzer(tone)
    if kind == "active":
        pin = machine.Pin(pin_no, machine.Pin.OUT, value=0)

        def beep(freq, ms):
            pin.value(1 if freq > 0 else 0)
            sleep_ms(ms)
            pin.value(0)

        return Buzzer(beep)
    raise BoardError("bad_field", "buzzer.kind = " + kind)


class UsbConsole:
    """The host link over the USB serial REPL console: sys.stdin / sys.stdout, never blocking.

    read() returns what arrived (b"" when nothing) using select.poll on
    sys.stdin; write() goes to sys.stdout.buffer. Ctrl-C still raises
    KeyboardInterrupt (the console driver sees it), so deploy tools get the
    REPL back. The poll object is made on first use, so building a Board
    never touches the console.
    """

    MAX_READ = 512  # bytes per read(): the app loop stays responsive during a long upload

    def __init__(self):
        self._io = None  # (poll, stdin bytes, stdout bytes) once opened

    def _open(self):
        import select
        import sys

        p = select.poll()
        p.register(sys.stdin, select.POLLIN)
        io = (p, getattr(sys.stdin, "buffer", sys.stdin), getattr(sys.stdout, "buffer", sys.stdout))
        self._io = io
        return io

    def read(self):
        """The bytes waiting on the console (b"" when none); never blocks."""
        p, inp, _ = self._io if self._io is not None else self._open()
        out = bytearray()
        while len(out) < self.MAX_READ and p.poll(0):
            b = inp.read(1)
            if not b:
                break
            out.extend(b)
        return bytes(out)

    def write(self, buf):
        """Write bytes to the console."""
        _, _, outp = self._io if self._io is not None else self._open()
        outp.write(buf)


class Esp32Board(Board):
    """A Board plus `faults`: [(part, message)] for optional parts that failed to start."""

    def __init__(self, name, clock, faults=None, **parts):
        super().__init__(name, clock, **parts)
        self.faults = faults if faults is not None else []


def civil_from_unix(secs):
    """(year, month, day, weekday Monday=0, hours, minutes, seconds) of a UTC Unix time (years 1..9999)."""
    from vitale.cred.policy import days_to_date  # the firmware's one civil-calendar routine

    days, rem = divmod(int(secs), 86400)
    ymd = days_to_date(days)
    return int(ymd[0:4]), int(ymd[5:7]), int(ymd[8:10]), (days + 3) % 7, rem // 3600, rem // 60 % 60, rem % 60


class RtcClock(Clock):
    """A Clock that also sets the chip's RTC when the host sets the time.

    The RTC is never read back as trusted time: after a reset the reader waits
    for the host again (board.Clock's rule).
    """

    def __init__(self, rtc):
        super().__init__(ticks_ms, ticks_diff)
        self.rtc = rtc

    def set(self, unix_seconds):
        """Set the wall clock and the RTC (seconds since 1970, UTC)."""
        super().set(unix_seconds)
        try:
            y, mo, d, wd, h, mi, s = civil_from_unix(unix_seconds)
            self.rtc.datetime((y, mo, d, wd, h, mi, s, 0))
        except (OSError, ValueError, TypeError):
            pass  # the RTC only serves file times; the Clock stays right


def _optional(faults, strict, part, make, *args):
    try:
        return make(*args)
    except BoardError:
        raise
    except Exception as e:  # driver errors vary by port and version
        if strict:
            raise BoardError(part + "_init", repr(e))
        faults.append((part, repr(e)))
        return None


def build_board(board_json, machine_mod=None, camera_mod=None, neopixel_mod=None,
                wdt_timeout_ms=None, store_root=DEFAULT_STORE_ROOT, strict=False, buzzer_pwm=None):
    """The Board described by a board file (dict), wired with `machine`.

    wdt_timeout_ms: watchdog period (default DEFAULT_WDT_MS; 0 = no watchdog).
    buzzer_pwm: drive a passive buzzer with machine.PWM (True) or a CPU-toggled
    pin (False); default: PWM only when no camera runs (the camera's XCLK holds
    LEDC timer 0 / channel 0, which machine.PWM would hand out again).
    Raises BoardError for a malformed file; see the module docstring for faults.
    """
    if not isinstance(board_json, dict):
        raise BoardError("not_object", "board file")
    name = _get(board_json, "id", (str,), "board")
    if machine_mod is None:
        import machine as machine_mod
    machine = machine_mod
    faults = []  # type: list

    pn = _get(board_json, "pn532", (dict,), "board", nullable=True)
    uart = i2c = None
    if pn is not None:
        uart, i2c = _make_nfc(machine, pn)

    cam = None
    c = _get(board_json, "camera", (dict,), "board", nullable=True)
    if c is not None:
        shared = None
        if i2c is not None and pn["i2c"].get("share_camera_bus"):
            shared = i2c
        if camera_mod is None:
            _get(c, "driver", (str,), "camera")
            try:
                camera_mod = __import__("camera")
            except ImportError as e:
                if strict:
                    raise BoardError("camera_init", repr(e))
                faults.append(("camera", repr(e)))
        if camera_mod is not None:
            cam = _optional(faults, strict, "camera", _make_camera, machine, camera_mod, c, shared)

    led = None
    c = _get(board_json, "led", (dict,), "board", nullable=True)
    if c is not None:
        led = _optional(faults, strict, "led", _make_led, machine, neopixel_mod, c)

    buzzer = None
    c = _get(board_json, "buzzer", (dict,), "board", nullable=True)
    if c is not None:
        if buzzer_pwm is None:
            # esp32-camera drives XCLK from LEDC timer 0 / channel 0, which
            # machine.PWM does not know is taken: a PWM tone would retune XCLK.
            buzzer_pwm = cam is None
        buzzer = _optional(faults, strict, "buzzer", _make_buzzer, machine, c, buzzer_pwm)

    if wdt_timeout_ms is None:
        wdt_timeout_ms = DEFAULT_WDT_MS
    wdt = machine.WDT(timeout=wdt_timeout_ms) if wdt_timeout_ms > 0 else None

    rtc = None
    if hasattr(machine, "RTC"):
        try:
            rtc = machine.RTC()
        except (OSError, ValueError, TypeError):
            rtc = None
    clock = RtcClock(rtc) if rtc is not None else Clock(ticks_ms, ticks_diff)
    return Esp32Board(name, clock, nfc_uart=uart, nfc_i2c=i2c, camera=cam,
                      led=led, buzzer=buzzer, display=None, wdt=wdt, store_root=store_root,
                      faults=faults, host=UsbConsole(), reboot=getattr(machine, "reset", None))
