"""Firmware runtimes of the virtual reader: where `vitale.app.App` runs against a `VirtualHardware`.

    class Runtime:
        name: str
        start(board_hw: VirtualHardware, serial: HostLink) -> None   # returns once the app is starting
        stop() -> None                                                # bounded: returns within a few seconds
        alive() -> bool

`serial` is the firmware's host stream (`HostLink`: `read() -> bytes`, never
blocking, b"" when nothing; `write(buf) -> int`). A reboot (the firmware's
`board.reboot()`, or `VirtualHardware.reboot()` from the control channel)
restarts the app with the same flash (store) and a clock that is unset again,
as a real board's reset does.

- `CPythonRuntime`: a thread running asyncio with `App(board).run()`, the
  Board built by `cpython_board()` from the hardware.
- `micropython`: `vitale_tools.mpvm.device.VMDevice` (the firmware in the
  MicroPython WebAssembly VM, calling the hardware's methods over RPC); see
  `make_runtime()`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from vitale.compat import ticks_diff, ticks_ms  # type: ignore[import-not-found,unused-ignore]
from vitale.hal.board import Board, Buzzer, Clock, Led  # type: ignore[import-not-found,unused-ignore]

from .hardware import VirtualHardware
from .serial import HostLink

__all__ = ["Runtime", "CPythonRuntime", "make_runtime", "cpython_board", "RUNTIMES"]

RUNTIMES = ("cpython", "micropython")


class Runtime(Protocol):
    """A firmware runtime driving a VirtualHardware (module docstring)."""

    name: str

    def start(self, board_hw: VirtualHardware, serial: HostLink) -> None: ...

    def stop(self) -> None: ...

    def alive(self) -> bool: ...


class _Reboot(SystemExit):
    """Raised by the CPython board's reset: ends the app's event loop, the runtime starts it again."""


class UartAdapter:
    """machine.UART semantics over VirtualHardware.uart_*: write, readinto (None when nothing), any, read."""

    def __init__(self, hw: VirtualHardware) -> None:
        self.hw = hw
        self.baudrate = 115200

    def init(self, baudrate: int = 115200, **_: object) -> None:
        """Change the baud rate (the chip's modelled rate follows its own SetSerialBaudrate)."""
        self.baudrate = baudrate

    def write(self, buf: bytes | bytearray | memoryview) -> int:
        """Bytes to the PN532."""
        return self.hw.uart_write(bytes(buf))

    def any(self) -> int:
        """Bytes waiting."""
        return self.hw.uart_any()

    def readinto(self, buf: bytearray | memoryview, nbytes: int | None = None) -> int | None:
        """Copy waiting bytes into buf; None when there are none."""
        n = len(buf) if nbytes is None else min(nbytes, len(buf))
        data = self.hw.uart_read(n)
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes | None:
        """Up to n waiting bytes (all with -1); None when there are none."""
        data = self.hw.uart_read(n if n >= 0 else 1 << 20)
        return data or None


class CameraAdapter:
    """board.camera: capture() -> (buffer, width, height) or None."""

    def __init__(self, hw: VirtualHardware) -> None:
        self.hw = hw

    def capture(self) -> tuple[bytes, int, int] | None:
        """One frame from the virtual camera."""
        return self.hw.camera_capture()


class DisplayAdapter:
    """board.display: text(lines)."""

    def __init__(self, hw: VirtualHardware) -> None:
        self.hw = hw

    def text(self, lines: Any) -> None:
        """Show lines of text."""
        self.hw.display([str(x) for x in lines])


class Watchdog:
    """board.wdt: records feeds (the virtual board does not reset on a missed feed; `status` shows the age)."""

    def __init__(self) -> None:
        self.last_feed: float | None = None
        self.feeds = 0

    def feed(self) -> None:
        """The app is alive."""
        self.last_feed = time.monotonic()
        self.feeds += 1


def cpython_board(hw: VirtualHardware, serial: HostLink, store_root: str, reboot: Callable[[], None]) -> Any:
    """A firmware Board (vitale.hal.board) whose parts (those in hw.parts) call the VirtualHardware; host = the link."""
    has = hw.parts
    return Board(hw.board_name, Clock(ticks_ms, ticks_diff),
                 nfc_uart=UartAdapter(hw) if has.get("nfc") else None,
                 camera=CameraAdapter(hw) if has.get("camera") else None,
                 led=Led(lambda rgb: hw.led(*rgb)) if has.get("led") else None,
                 buzzer=Buzzer(hw.tone) if has.get("buzzer") else None,
                 display=DisplayAdapter(hw) if has.get("display") else None,
                 wdt=Watchdog(), store_root=store_root, host=serial, reboot=reboot)


class CPythonRuntime:
    """The firmware app under CPython in a thread with its own asyncio loop."""

    name = "cpython"

    def __init__(self, store_root: str | None = None, log: Callable[[str], None] | None = None) -> None:
        self._own_store = store_root is None
        self.store_root = store_root if store_root is not None else tempfile.mkdtemp(prefix="vitale-flash-")
        self.log = log
        self.hw: VirtualHardware | None = None
        self.serial: HostLink | None = None
        self.board: Any = None
        self.app: Any = None
        self.starts = 0
        self.crashes = 0
        self.last_crash = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._running = threading.Event()

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def start(self, board_hw: VirtualHardware, serial: HostLink) -> None:
        """Start the app thread; returns once the app's loop runs (or after 10 s)."""
        self.hw, self.serial = board_hw, serial
        board_hw.add_reboot_listener(self._on_reboot)
        self._stop.clear()
        self._thread = threading.Thread(target=self._main, name="vitale-app", daemon=True)
        self._thread.start()
        self._running.wait(10)

    def _on_reboot(self) -> None:
        self._restart.set()
        self._cancel()

    def _cancel(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass

    def _board_reboot(self) -> None:
        # returns, as the app expects of a virtual board: run() then returns and _main starts a new App
        assert self.hw is not None
        self.hw.reboot()

    def _main(self) -> None:
        while not self._stop.is_set():
            self._restart.clear()
            self.starts += 1
            try:
                self._run_once()
            except _Reboot:
                pass
            except BaseException:  # noqa: BLE001 - a crashed app is restarted like a board after a panic
                self.crashes += 1
                self.last_crash = traceback.format_exc()
                self._say("app crashed:\n" + self.last_crash)
                if not self._stop.is_set():
                    time.sleep(0.2)
            if not self._stop.is_set() and not self._restart.is_set():
                # the app returned or crashed without a reset: a board would be reset by its watchdog
                self._say("app ended; restarting it")
                time.sleep(0.05)

    def _run_once(self) -> None:
        assert self.hw is not None and self.serial is not None
        app_mod = importlib.import_module("vitale.app")
        self.board = cpython_board(self.hw, self.serial, self.store_root, self._board_reboot)
        self.app = app_mod.App(self.board)
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            async def main() -> None:
                self._task = asyncio.current_task()
                self._running.set()
                res = self.app.run()
                if inspect.isawaitable(res):
                    await res

            try:
                loop.run_until_complete(main())
            except asyncio.CancelledError:
                pass
        finally:
            self._task = None
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            except BaseException:  # noqa: BLE001 - tearing down a dead app
                pass
            loop.close()
            self._loop = None

    def stop(self) -> None:
        """Stop the app (bounded wait) and remove the flash folder when it was ours."""
        self._stop.set()
        self._cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.hw is not None:
            self.hw.remove_reboot_listener(self._on_reboot)
        if self._own_store:
            shutil.rmtree(self.store_root, ignore_errors=True)

    def alive(self) -> bool:
        """True while the app thread runs."""
        return self._thread is not None and self._thread.is_alive()


def make_runtime(name: str, log: Callable[[str], None] | None = None, **options: Any) -> Runtime:
    """The runtime called `name` ("cpython" or "micropython"); ValueError when it is not available."""
    if name == "cpython":
        return CPythonRuntime(log=log, **options)
    if name == "micropython":
        try:
            mod = importlib.import_module("vitale_tools.mpvm.device")
        except ImportError as e:
            raise ValueError("the MicroPython runtime (vitale_tools.mpvm.device) is not available: %s" % e) from e
        factory = getattr(mod, "VMDevice")
        main = getattr(mod, "VM_APP_MAIN", None)  # a main.py serving the app with the VM Board (vitale.hal.vm)
        if isinstance(main, str) and "files" not in options:
            options["files"] = {"/main.py": main}
        rt: Runtime = factory(log=log, **options)
        return rt
    raise ValueError("unknown runtime %r (choose from %s)" % (name, ", ".join(RUNTIMES)))
