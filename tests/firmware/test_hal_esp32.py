"""hal.esp32: Board built from a board file with fake machine / camera modules that record calls."""

from vitale.hal.esp32 import BoardError, build_board, civil_from_unix, load_board_json


class FakePin:
    OUT = 1
    IN = 0

    def __init__(self, mach, pin_id, mode=None, value=None):
        self.id = pin_id
        self.mode = mode
        self.level = value
        self.changes = 0
        mach.log.append(("Pin", pin_id, mode, value))
        mach.pins[pin_id] = self

    def value(self, v=None):
        if v is None:
            return self.level
        if v != self.level:
            self.changes += 1
        self.level = v


class FakeMachine:
    """Just the parts of `machine` build_board uses; every construction is logged."""

    def __init__(self):
        self.log = []
        self.pins = {}
        mach = self

        class Pin(FakePin):
            def __init__(self, pin_id, mode=None, value=None):
                FakePin.__init__(self, mach, pin_id, mode, value)

        class UART:
            def __init__(self, uid, baudrate=9600, tx=None, rx=None, rxbuf=256):
                self.args = (uid, baudrate, tx.id, rx.id, rxbuf)
                mach.log.append(("UART",) + self.args)

        class I2C:
            def __init__(self, iid, scl=None, sda=None, freq=400000):
                self.args = (iid, scl.id, sda.id, freq)
                mach.log.append(("I2C",) + self.args)

        class PWM:
            def __init__(self, pin, freq=0, duty_u16=0):
                self.pin = pin.id
                self.f = freq
                self.duty = duty_u16
                self.calls = []
                mach.log.append(("PWM", pin.id, freq, duty_u16))
                mach.pwms.append(self)

            def freq(self, f):
                self.f = f
                self.calls.append(("freq", f))

            def duty_u16(self, d):
                self.duty = d
                self.calls.append(("duty", d))

        class WDT:
            def __init__(self, timeout=5000):
                self.timeout = timeout
                self.fed = 0
                mach.log.append(("WDT", timeout))

            def feed(self):
                self.fed += 1

        class RTC:
            def __init__(self):
                mach.rtc = self
                self.set_to = None

            def datetime(self, t=None):
                self.set_to = t

        self.rtc = None
        self.Pin = Pin
        self.RTC = RTC
        self.UART = UART
        self.I2C = I2C
        self.PWM = PWM
        self.WDT = WDT
        self.pwms = []

    def find(self, kind):
        return [e for e in self.log if e[0] == kind]


class _Enum:
    def __init__(self, **kw):
        for k in kw:
            setattr(self, k, kw[k])


class FakeMpCamera:
    """cnadler86 `camera` module: Camera(**kw), capture() -> memoryview('b')."""

    def __init__(self, fail=False, machine=None):
        self.PixelFormat = _Enum(RGB565=0, GRAYSCALE=3, JPEG=4)
        self.FrameSize = _Enum(QVGA=6, CIF=8, HVGA=9, VGA=10, SVGA=11)
        self.made = []
        mod = self

        class Camera:
            def __init__(self, **kw):
                if fail:
                    raise OSError("Camera init failed")
                self.kw = kw
                self.frames = 0
                self.log_len = len(machine.log) if machine is not None else -1
                mod.made.append(self)

            def get_pixel_width(self):
                return 640

            def get_pixel_height(self):
                return 480

            def capture(self):
                self.frames += 1
                return memoryview(bytearray(b"\x80\x7f\x00\xff"))

        self.Camera = Camera


class FakeLemariva:
    """lemariva `camera` module: module-level init(0, **kw) and capture() -> bytes."""

    GRAYSCALE = 2
    JPEG = 5
    PSRAM = 1
    FRAME_VGA = 8
    FRAME_QVGA = 5
    XCLK_10MHz = 10000000
    XCLK_20MHz = 20000001  # distinct from the plain Hz value, to see the constant is used

    def __init__(self):
        self.inits = []
        self.frame = b"\x01\x02\x03"

    def init(self, n, **kw):
        self.inits.append((n, kw))
        return True

    def capture(self):
        return self.frame


class FakeNeoPixel:
    def __init__(self):
        self.made = []
        mod = self

        class NeoPixel:
            def __init__(self, pin, n):
                self.pin = pin.id
                self.px = [None] * n
                self.writes = []
                mod.made.append(self)

            def __setitem__(self, i, v):
                self.px[i] = v

            def write(self):
                self.writes.append(self.px[0])

        self.NeoPixel = NeoPixel


def _cam():
    return {"driver": "mp_camera", "sensor": "OV2640", "xclk": 0, "sda": 26, "scl": 27,
            "data": [5, 18, 19, 21, 36, 39, 34, 35], "vsync": 25, "href": 23, "pclk": 22,
            "pwdn": 32, "reset": -1, "power": None, "xclk_freq_hz": 20000000, "frame_size": "VGA",
            "pixel_format": "GRAYSCALE", "fb_count": 1}


def esp32_cam():
    """The AI-Thinker ESP32-CAM parts of boards/ai-thinker-esp32-cam.json (UART PN532, GPIO LED, buzzer)."""
    return {"id": "ai-thinker-esp32-cam", "chip": "esp32", "camera": _cam(),
            "pn532": {"interface": "uart", "vcc": "3V3", "reset": -1, "irq": -1, "i2c": None,
                      "uart": {"id": 2, "tx": 14, "rx": 13, "baudrate": 115200, "rxbuf": 1024}},
            "led": {"kind": "gpio", "pin": 33, "active_low": True, "external": False},
            "buzzer": {"kind": "passive", "pin": 2}, "display": None}


def s3_shared_bus():
    """ESP32-S3-EYE style: PN532 on the camera's SCCB bus, WS2812 LED, power switch."""
    cam = _cam()
    cam.update({"xclk": 15, "sda": 4, "scl": 5, "pwdn": -1, "fb_count": 2,
                "power": {"pin": 18, "on_level": 0, "settle_ms": 1}})
    return {"id": "s3-shared", "chip": "esp32s3", "camera": cam,
            "pn532": {"interface": "i2c", "vcc": "3V3", "reset": 7, "irq": -1, "uart": None,
                      "i2c": {"id": 0, "sda": 4, "scl": 5, "freq": 100000, "address": 36,
                              "share_camera_bus": True}},
            "led": {"kind": "ws2812", "pin": 48, "active_low": False, "external": False},
            "buzzer": {"kind": "active", "pin": 3}, "display": None}


def test_uart_board_wiring_camera_led_buzzer_wdt():
    m = FakeMachine()
    cm = FakeMpCamera()
    b = build_board(esp32_cam(), machine_mod=m, camera_mod=cm)
    assert b.name == "ai-thinker-esp32-cam" and b.store_root == "/store" and b.faults == []
    assert m.find("UART") == [("UART", 2, 115200, 14, 13, 1024)]
    assert b.nfc_uart is not None and b.nfc_i2c is None
    assert len(cm.made) == 1
    kw = cm.made[0].kw
    assert kw["data_pins"] == [5, 18, 19, 21, 36, 39, 34, 35]
    assert (kw["pclk_pin"], kw["vsync_pin"], kw["href_pin"], kw["xclk_pin"]) == (22, 25, 23, 0)
    assert (kw["sda_pin"], kw["scl_pin"], kw["powerdown_pin"], kw["reset_pin"]) == (26, 27, 32, -1)
    assert kw["xclk_freq"] == 20000000 and kw["fb_count"] == 1 and "i2c" not in kw
    assert kw["pixel_format"] == 3 and kw["frame_size"] == 10
    buf, w, h = b.camera.capture()
    assert (w, h) == (640, 480) and len(buf) == 4 and bytes(buf) == b"\x80\x7f\x00\xff"
    # GPIO LED, active low: starts dark (high); dim 'idle' stays dark, 'ok' lights (low).
    led_pin = m.pins[33]
    assert led_pin.mode == FakePin.OUT and led_pin.level == 1
    b.led.show("idle")
    assert led_pin.level == 1
    b.led.show("ok")
    assert led_pin.level == 0
    b.led.show("off")
    assert led_pin.level == 1
    # passive buzzer next to a camera: CPU-toggled pin 2 (no PWM: the camera owns LEDC 0)
    assert m.pwms == []
    bz = m.pins[2]
    assert bz.mode == FakePin.OUT and bz.level == 0
    b.buzzer.play("ok")  # 2000 Hz for 80 ms: 320 edges when nothing is late
    assert 40 <= bz.changes <= 322 and bz.level == 0
    # watchdog with the default period, fed through the Board
    assert m.find("WDT") == [("WDT", 30000)]
    b.wdt.feed()
    assert b.wdt.fed == 1
    assert not b.clock.is_set() and m.rtc.set_to is None
    b.clock.set(1700000000)
    assert b.clock.now() in (1700000000, 1700000001)
    assert m.rtc.set_to == (2023, 11, 14, 1, 22, 13, 20, 0)
    b.clock.set(-10 ** 12)  # outside the calendar: the Clock is set, the RTC left alone
    assert b.clock.is_set() and m.rtc.set_to == (2023, 11, 14, 1, 22, 13, 20, 0)


def test_pwm_buzzer_when_asked():
    m = FakeMachine()
    b = build_board(esp32_cam(), machine_mod=m, camera_mod=FakeMpCamera(), buzzer_pwm=True)
    pwm = m.pwms[0]
    assert pwm.pin == 2 and pwm.duty == 0
    b.buzzer.play("refused")
    assert pwm.calls == [("freq", 400), ("duty", 32768), ("duty", 0), ("duty", 0),
                         ("freq", 400), ("duty", 32768), ("duty", 0)]


def test_civil_from_unix():
    assert civil_from_unix(0) == (1970, 1, 1, 3, 0, 0, 0)
    assert civil_from_unix(951782400) == (2000, 2, 29, 1, 0, 0, 0)
    assert civil_from_unix(4107542399) == (2100, 2, 28, 6, 23, 59, 59)
    assert civil_from_unix(4107542400) == (2100, 3, 1, 0, 0, 0, 0)


def test_shared_i2c_bus_power_switch_neopixel_active_buzzer():
    m = FakeMachine()
    cm = FakeMpCamera(machine=m)
    npm = FakeNeoPixel()
    b = build_board(s3_shared_bus(), machine_mod=m, camera_mod=cm, neopixel_mod=npm,
                    wdt_timeout_ms=8000, store_root="/data")
    assert b.faults == [] and b.store_root == "/data"
    assert m.find("I2C") == [("I2C", 0, 5, 4, 100000)] and m.find("UART") == []
    assert b.nfc_i2c is not None and b.nfc_uart is None
    kw = cm.made[0].kw
    assert kw["i2c"] is b.nfc_i2c and "sda_pin" not in kw and "scl_pin" not in kw
    assert kw["fb_count"] == 2
    # PN532 reset held high, camera power switched on (active low) before the camera started
    assert m.pins[7].level == 1 and m.pins[18].level == 0 and m.pins[18].mode == FakePin.OUT
    power_at = [i for i in range(len(m.log)) if m.log[i][:2] == ("Pin", 18)][0]
    assert power_at < cm.made[0].log_len
    np = npm.made[0]
    assert np.pin == 48 and np.writes == [(0, 0, 0)]
    b.led.show("refused")
    assert np.writes[-1] == (96, 0, 0)
    pin = m.pins[3]
    assert pin.level == 0
    b.buzzer.play("ok")
    assert pin.level == 0 and b.buzzer.played == ["ok"]
    assert m.find("WDT") == [("WDT", 8000)]


def test_lemariva_camera_api():
    m = FakeMachine()
    lm = FakeLemariva()
    b = build_board(esp32_cam(), machine_mod=m, camera_mod=lm, wdt_timeout_ms=0)
    assert b.wdt is None and b.faults == []
    n, kw = lm.inits[0]
    assert n == 0 and kw["format"] == FakeLemariva.GRAYSCALE and kw["framesize"] == FakeLemariva.FRAME_VGA
    assert kw["fb_location"] == FakeLemariva.PSRAM and kw["xclk_freq"] == 20000001
    assert [kw["d%d" % i] for i in range(8)] == [5, 18, 19, 21, 36, 39, 34, 35]
    assert (kw["siod"], kw["sioc"], kw["pwdn"], kw["xclk"]) == (26, 27, 32, 0)
    assert b.camera.capture() == (b"\x01\x02\x03", 640, 480)
    lm.frame = False  # the driver's "no frame"
    assert b.camera.capture() is None
    # lemariva cannot share its SCCB bus with the PN532
    m2 = FakeMachine()
    try:
        build_board(s3_shared_bus(), machine_mod=m2, camera_mod=FakeLemariva(), neopixel_mod=FakeNeoPixel())
        assert False, "expected BoardError"
    except BoardError as e:
        assert e.reason == "unsupported"


class FakeMpCameraProps(FakeMpCamera):
    """Newer cnadler86 releases: pixel_width / pixel_height are properties."""

    def __init__(self):
        FakeMpCamera.__init__(self)
        base = self.Camera

        class Camera(base):
            @property
            def pixel_width(self):
                return 320

            @property
            def pixel_height(self):
                return 240

        self.Camera = Camera


def test_camera_size_from_driver_properties():
    b = build_board(esp32_cam(), machine_mod=FakeMachine(), camera_mod=FakeMpCameraProps())
    buf, w, h = b.camera.capture()
    assert (w, h) == (320, 240)


def test_camera_failure_is_a_fault_or_raises_when_strict():
    b = build_board(esp32_cam(), machine_mod=FakeMachine(), camera_mod=FakeMpCamera(fail=True))
    assert b.camera is None and b.nfc_uart is not None
    assert len(b.faults) == 1 and b.faults[0][0] == "camera"
    try:
        build_board(esp32_cam(), machine_mod=FakeMachine(), camera_mod=FakeMpCamera(fail=True), strict=True)
        assert False, "expected BoardError"
    except BoardError as e:
        assert e.reason == "camera_init"


def test_rgb_pwm_led():
    cfg = esp32_cam()
    cfg["led"] = {"kind": "rgb_pwm", "pins": [25, 26, 27], "active_low": False}
    m = FakeMachine()
    b = build_board(cfg, machine_mod=m, camera_mod=FakeMpCamera())
    leds = [p for p in m.pwms if p.pin in (25, 26, 27)]
    assert len(leds) == 3 and [p.duty for p in leds] == [0, 0, 0]
    b.led.show("reading")
    assert [p.duty for p in leds] == [64 * 257, 64 * 257, 0]


def test_bad_board_files_raise_board_error():
    def reason(cfg):
        try:
            build_board(cfg, machine_mod=FakeMachine(), camera_mod=FakeMpCamera())
        except BoardError as e:
            return e.reason
        return None

    assert reason([]) == "not_object"
    assert reason({}) == "missing_field"
    cfg = esp32_cam()
    cfg["pn532"]["uart"]["rxbuf"] = 256
    assert reason(cfg) == "bad_field"
    cfg = esp32_cam()
    del cfg["pn532"]["uart"]["tx"]
    assert reason(cfg) == "missing_field"
    cfg = esp32_cam()
    cfg["pn532"]["uart"]["tx"] = "14"
    assert reason(cfg) == "bad_field"
    cfg = esp32_cam()
    cfg["pn532"]["uart"]["tx"] = True
    assert reason(cfg) == "bad_field"
    cfg = esp32_cam()
    cfg["camera"]["data"] = [1, 2, 3]
    assert reason(cfg) == "bad_field"
    cfg = esp32_cam()
    cfg["camera"]["frame_size"] = "UXGA"
    assert reason(cfg) == "bad_field"
    cfg = esp32_cam()
    cfg["camera"]["xclk"] = 99
    assert reason(cfg) == "bad_pin"
    cfg = esp32_cam()
    cfg["pn532"]["uart"]["rx"] = -1
    assert reason(cfg) == "bad_pin"
    cfg = esp32_cam()
    cfg["camera"]["reset"] = -1
    cfg["camera"]["pwdn"] = -1
    assert reason(cfg) is None
    cfg = esp32_cam()
    cfg["led"]["kind"] = "laser"
    assert reason(cfg) == "bad_field"
    cfg = esp32_cam()
    cfg["pn532"]["interface"] = "spi"
    assert reason(cfg) == "bad_field"
    assert reason(esp32_cam()) is None


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_load_board_json():
    try:
        load_board_json("/no/such/board.json")
        assert False, "expected BoardError"
    except BoardError as e:
        assert e.reason == "missing"
    import os

    path = "test_hal_esp32.tmp.json"
    try:
        for text, want in (("{not json", "bad_json"), ("[1, 2]", "not_object")):
            _write(path, text)
            try:
                load_board_json(path)
                assert False, "expected BoardError"
            except BoardError as e:
                assert e.reason == want
        _write(path, '{"id": "x", "pn532": null}')
        assert load_board_json(path) == {"id": "x", "pn532": None}
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
