"""The virtual reader's board: an emulated PN532 with a phone in its field, a camera seeing the phone's
screen, and recorded LED, buzzer and display output.

`VirtualHardware` is what a firmware runtime drives. Its *device-side* methods
are a stable contract called by name (plain types only, so they also work over
the MicroPython VM bridge's RPC):

    board_name: str
    uart_write(data: bytes) -> int            # bytes to the PN532 (HSU, 115200 Bd)
    uart_read(n: int) -> bytes                # up to n bytes the chip has sent; b"" when none; never blocks
    uart_any() -> int                         # bytes waiting
    camera_capture() -> (bytes, w, h) | None  # one 8-bit grayscale frame; None: the camera gives no frame
    led(r, g, b) -> None
    tone(freq, ms) -> None                    # recorded; never sleeps
    display(lines: list[str]) -> None
    reboot() -> None                          # recorded; listeners (the runtime) restart the app

Every device-side method is thread-safe and returns at once (camera_capture
takes the time to render one frame, about 0.2 s at VGA under CPython).

**Time.** The PN532 emulator answers at once but keeps a modelled clock
(`transport_s()`): host bytes take 10 bits each at the chip's baud rate, RF
frames 9 bits per byte at 106 kbps plus the card's delays (pn532_sim's timing
model). The modelled clock only moves with wire and RF time, never with wall
time, so the difference of two readings is the read's modelled transport
time. Camera frames add 1/fps each (sensor readout) to `camera_s()`.

The *control side* (`tap`, `show`, `remove`, `set_camera`, `uart_noise`,
`status`) is called by the emulator's control channel, never by the firmware.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from vitale_tools.camera_sim import Params, render_frame
from vitale_tools.nfc_target import CardTarget
from vitale_tools.pn532_sim import PN532Emulator, SimClock

__all__ = ["VirtualHardware", "Screen", "FRAME_SIZE", "ALL_PARTS", "board_parts"]

ALL_PARTS = {"nfc": True, "camera": True, "led": True, "buzzer": True, "display": True}

FRAME_SIZE = (640, 480)  # VGA: the VQR symbols (versions 12-16) need it
RX_BUFFER = 4096  # bytes the UART keeps before dropping (an ESP32 driver ring)
HISTORY = 256  # recorded LED/tone/display entries kept

# What the phone screen shows: a callable giving the QR text of the next frame
# (a fresh presentation each call for a patient's dynamic QR).
Screen = Callable[[], str]


class VirtualHardware:
    """The emulated board (see the module docstring for the device-side contract)."""

    def __init__(self, board_name: str = "virtual", *, fps: float = 15.0, seed: int | None = None,
                 log: Callable[[str], None] | None = None, parts: dict[str, bool] | None = None) -> None:
        self.board_name = board_name
        self.parts = dict(ALL_PARTS if parts is None else parts)  # what a runtime fits on its Board
        self.fps = fps
        self.log = log
        self.lock = threading.RLock()
        self.model = SimClock(0.0)
        self.chip = PN532Emulator(self.model, interface="hsu", log=None)
        self._tx_free = 0.0
        self._rx = bytearray()
        self.uart_overflow = 0
        self._rng = np.random.default_rng(seed)
        # camera and screen
        self.screen: Screen | None = None
        self.camera_on = True
        self._frames_left: int | None = None  # `fault remove-after N` on the QR side
        self._blank: bytes | None = None
        self.frames = 0
        self._camera_s = 0.0
        self.render_s = 0.0  # real time spent rendering frames (emulation overhead)
        self.emul_s = 0.0  # real time spent emulating (chip, phone, camera) inside device-side calls
        # recorded outputs
        self.leds: deque[tuple[float, tuple[int, int, int]]] = deque(maxlen=HISTORY)
        self.tones: deque[tuple[float, int, int]] = deque(maxlen=HISTORY)
        self.displays: deque[tuple[float, list[str]]] = deque(maxlen=HISTORY)
        self.reboots = 0
        self._reboot_listeners: list[Callable[[], None]] = []
        self._changed = threading.Condition(self.lock)

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    # ------------------------------------------------------------------ device side: PN532 UART

    def uart_write(self, data: bytes) -> int:
        """Host bytes to the PN532; they take modelled wire time at the chip's baud rate. Returns len(data)."""
        data = bytes(data)
        if not data:
            return 0
        c0 = time.perf_counter()
        with self.lock:
            bt = self.chip.byte_s
            t0 = max(self.model.now(), self._tx_free)
            self._tx_free = t0 + len(data) * bt
            self.chip.receive(data, t0, bt)  # the chip (and the phone behind it) run here
            self._pull()
            self.emul_s += time.perf_counter() - c0
        return len(data)

    def _pull(self) -> None:
        """Move every whole frame the chip has queued into the RX ring, advancing modelled time to its end."""
        chip = self.chip
        while True:
            t = chip.next_ready_time(whole=True)
            if t is None:
                return
            self.model.t = max(self.model.t, t)
            out = chip.pop_ready(self.model.t, whole=True)
            if not out:
                return
            room = RX_BUFFER - len(self._rx)
            if len(out) > room:
                self.uart_overflow += len(out) - room
                out = out[:room]
            self._rx += out

    def uart_read(self, n: int) -> bytes:
        """Up to n bytes the chip has sent; b"" when none (never blocks)."""
        with self.lock:
            self._pull()
            k = min(max(0, int(n)), len(self._rx))
            out = bytes(self._rx[:k])
            del self._rx[:k]
            return out

    def uart_any(self) -> int:
        """How many bytes uart_read would return now."""
        with self.lock:
            self._pull()
            return len(self._rx)

    # ------------------------------------------------------------------ device side: camera, feedback, reset

    def camera_capture(self) -> tuple[bytes, int, int] | None:
        """One VGA 8-bit grayscale frame of what is in front of the camera; None when the camera is off."""
        with self.lock:
            if not self.camera_on:
                return None
            screen = self.screen
            self.frames += 1
            self._camera_s += 1.0 / self.fps
            if screen is not None and self._frames_left is not None:
                if self._frames_left <= 0:
                    self.screen = screen = None
                    self._frames_left = None
                    self._say("phone left the camera (fault)")
                else:
                    self._frames_left -= 1
            seed = int(self._rng.integers(0, 1 << 62))
        t0 = time.perf_counter()
        w, h = FRAME_SIZE
        if screen is None:
            if self._blank is None:
                self._blank = _desk_frame(w, h)
            frame = self._blank
        else:
            text = screen()
            rng = np.random.default_rng(seed)
            img, _ = render_frame(text, _mild_params(rng, w, h), rng)
            frame = img.tobytes()
        with self.lock:
            dt = time.perf_counter() - t0
            self.render_s += dt
            self.emul_s += dt
        return frame, w, h

    def led(self, r: int, g: int, b: int) -> None:
        """The status LED's colour (0-255 each)."""
        with self.lock:
            self.leds.append((time.monotonic(), (int(r), int(g), int(b))))
            self._changed.notify_all()

    def tone(self, freq: int, ms: int) -> None:
        """The buzzer plays freq Hz for ms (0 Hz: silence); recorded, never sleeps."""
        with self.lock:
            self.tones.append((time.monotonic(), int(freq), int(ms)))

    def display(self, lines: list[str]) -> None:
        """The small display's text."""
        with self.lock:
            self.displays.append((time.monotonic(), [str(x) for x in lines]))

    def reboot(self) -> None:
        """The board resets: the UART receive buffer is cleared and the listeners (the runtime) restart the app."""
        with self.lock:
            self.reboots += 1
            self._rx.clear()
            listeners = list(self._reboot_listeners)
        self._say("board reboot #%d" % self.reboots)
        for fn in listeners:
            fn()

    # ------------------------------------------------------------------ control side

    def add_reboot_listener(self, fn: Callable[[], None]) -> None:
        """Call fn (from the rebooting thread) whenever the firmware resets the board."""
        with self.lock:
            self._reboot_listeners.append(fn)

    def remove_reboot_listener(self, fn: Callable[[], None]) -> None:
        """Stop calling fn on reboot."""
        with self.lock:
            if fn in self._reboot_listeners:
                self._reboot_listeners.remove(fn)

    def tap(self, phone: CardTarget, remove_after_frames: int | None = None) -> None:
        """The phone enters the NFC field (and stops showing a QR); optionally leaves after N RF frames."""
        with self.lock:
            self.screen = None
            self._frames_left = None
            self.chip.faults.remove_after_frames = remove_after_frames
            self.chip.place(phone)
        self._say("phone tapped")

    def show(self, screen: Screen, remove_after_frames: int | None = None) -> None:
        """The phone (out of the NFC field) shows a QR to the camera; optionally leaves after N camera frames."""
        with self.lock:
            self.chip.remove()
            self.chip.faults.remove_after_frames = None
            self.screen = screen
            self._frames_left = remove_after_frames
        self._say("phone shows a QR")

    def remove(self) -> None:
        """The phone leaves the field and the camera's view."""
        with self.lock:
            self.chip.remove()
            self.chip.faults.remove_after_frames = None
            self.screen = None
            self._frames_left = None
        self._say("phone removed")

    def set_camera(self, on: bool) -> None:
        """Camera working (frames) or broken (capture() gives None)."""
        with self.lock:
            self.camera_on = on

    def uart_noise(self, replies: int) -> None:
        """The next `replies` chip replies arrive damaged (corrupted, truncated, doubled byte) after garbage."""
        with self.lock:
            f = self.chip.faults
            f.garbage = b"\x00\xff\x13\x37\x55"
            f.corrupt_replies = (replies + 2) // 3
            f.truncate_replies = (replies + 1) // 3
            f.duplicate_bytes = replies // 3

    def clear_faults(self) -> None:
        """Camera on, no pending UART or removal faults."""
        with self.lock:
            self.camera_on = True
            self._frames_left = None
            f = self.chip.faults
            f.garbage = b""
            f.corrupt_replies = f.truncate_replies = f.duplicate_bytes = 0
            f.remove_after_frames = None

    def transport_s(self) -> float:
        """Modelled PN532 wire + RF seconds so far (monotonic)."""
        with self.lock:
            return self.model.now()

    def camera_s(self) -> float:
        """Modelled camera readout seconds so far (1/fps per frame)."""
        with self.lock:
            return self._camera_s

    def led_state(self) -> tuple[int, int, int]:
        """The LED's current colour."""
        with self.lock:
            return self.leds[-1][1] if self.leds else (0, 0, 0)

    def status(self) -> dict[str, Any]:
        """A plain summary for `status` on the control channel."""
        with self.lock:
            c = self.chip.counters
            return {
                "board": self.board_name,
                "phone_in_field": self.chip.card is not None,
                "screen": self.screen is not None,
                "camera": "on" if self.camera_on else "off",
                "rf_field": self.chip.rf_on,
                "frames": self.frames,
                "pn532_frames": c["frames"],
                "bad_frames": c["bad_frames"],
                "rf_frames": c["rf_frames"],
                "transport_ms": round(self.model.now() * 1000, 1),
                "led": "%d,%d,%d" % self.led_state(),
                "display": "|".join(self.displays[-1][1]) if self.displays else "",
                "reboots": self.reboots,
                "uart_faults_pending": self.chip.faults.corrupt_replies + self.chip.faults.truncate_replies
                + self.chip.faults.duplicate_bytes + (1 if self.chip.faults.garbage else 0),
            }


def _desk_frame(w: int, h: int) -> bytes:
    """An empty desk under the camera: smooth shading with a little fixed noise."""
    rng = np.random.default_rng(0)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    base = 80.0 + 30.0 * x + 15.0 * y
    img = base + rng.normal(0.0, 2.0, (h, w)).astype(np.float32)
    out: bytes = np.clip(img, 0, 255).astype(np.uint8).tobytes()
    return out


def _mild_params(rng: np.random.Generator, w: int, h: int) -> Params:
    """A phone held reasonably in front of the camera: small tilt and roll, a little blur, noise and glare."""
    return Params(width=w, height=h, code_frac=float(rng.uniform(0.55, 0.75)),
                  roll=float(rng.uniform(-12, 12)), tilt_x=float(rng.uniform(-12, 12)),
                  tilt_y=float(rng.uniform(-8, 8)), shift_x=float(rng.uniform(-0.3, 0.3)),
                  shift_y=float(rng.uniform(-0.3, 0.3)), defocus=float(rng.uniform(0.0, 0.6)),
                  noise=float(rng.uniform(1.0, 3.0)),
                  glare=float(rng.uniform(0.0, 0.25)) if rng.random() < 0.3 else 0.0,
                  vignette=float(rng.uniform(0.0, 0.2)), gamma=float(math.exp(rng.uniform(-0.1, 0.1))))


def board_parts(name: str) -> dict[str, bool]:
    """Which parts a board of `boards/NAME.json` has (all of them for a name with no board file).

    A PN532 wired over I2C is emulated on the UART all the same (the virtual board has one PN532 link).
    """
    from vitale_tools.boards import BOARDS_DIR

    path = BOARDS_DIR / f"{name}.json"
    if not path.is_file():
        return dict(ALL_PARTS)
    data = json.loads(path.read_text())
    return {"nfc": bool(data.get("pn532")), "camera": bool(data.get("camera")), "led": bool(data.get("led")),
            "buzzer": bool(data.get("buzzer")), "display": bool(data.get("display"))}
