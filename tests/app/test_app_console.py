"""The ESP32 board's host link: the USB serial console (sys.stdin / sys.stdout) under the App, and reboot.

sys.stdin and sys.stdout are replaced by real pipes, so select.poll, the
non-blocking reads and the writes run as on the device's console.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any, Iterator

import pytest
from test_hal_esp32 import FakeMachine, esp32_cam

from vitale.app import App  # type: ignore[import-not-found,unused-ignore]
from vitale.hal.esp32 import UsbConsole, build_board  # type: ignore[import-not-found,unused-ignore]
from vitale.store import Store  # type: ignore[import-not-found,unused-ignore]


class RawStdin:
    """sys.stdin as MicroPython has it on the console: `buffer` reads the port unbuffered."""

    def __init__(self, fd: int) -> None:
        self.buffer = io.FileIO(fd, "rb")

    def fileno(self) -> int:
        """The pipe's descriptor (select.poll registers it)."""
        return self.buffer.fileno()

    def close(self) -> None:
        """Close the pipe."""
        self.buffer.close()


class Console:
    """Pipes standing in for the console: `to_device` is what the host types, `from_device` what it reads."""

    def __init__(self) -> None:
        r_in, self.w_in = os.pipe()
        self.r_out, w_out = os.pipe()
        os.set_blocking(self.r_out, False)
        self.stdin = RawStdin(r_in)
        self.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(w_out, "wb")), write_through=True)

    def type(self, data: bytes) -> None:
        """Bytes arriving from the host."""
        os.write(self.w_in, data)

    def received(self) -> bytes:
        """What the device wrote so far."""
        self.stdout.flush()
        out = b""
        while True:
            try:
                chunk = os.read(self.r_out, 65536)
            except BlockingIOError:
                return out
            if not chunk:
                return out
            out += chunk

    def close(self) -> None:
        """Close every end."""
        for f in (self.stdin, self.stdout):
            f.close()
        os.close(self.w_in)
        os.close(self.r_out)


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    c = Console()
    yield c
    monkeypatch.undo()
    c.close()


def _install(c: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    # inside the test: pytest's own capture swaps sys.stdout back between fixture setup and the call
    monkeypatch.setattr(sys, "stdin", c.stdin)
    monkeypatch.setattr(sys, "stdout", c.stdout)


def test_console_reads_never_block_and_writes_go_to_stdout(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(console, monkeypatch)
    c = UsbConsole()
    assert c.read() == b""
    console.type(b'{"id": 1')
    assert c.read() == b'{"id": 1'
    assert c.read() == b""
    console.type(b"x" * (UsbConsole.MAX_READ + 10))
    assert len(c.read()) == UsbConsole.MAX_READ and len(c.read()) == 10
    c.write(b"hello\n")
    assert console.received() == b"hello\n"


def test_esp32_board_serves_the_link_on_the_console(console: Console, tmp_path: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _install(console, monkeypatch)
    m = FakeMachine()
    resets: list[int] = []
    m.reset = lambda: resets.append(1)  # type: ignore[attr-defined]
    board = build_board(esp32_cam(), machine_mod=m, camera_mod=None, wdt_timeout_ms=0, strict=False)
    assert isinstance(board.host, UsbConsole) and board.reboot == m.reset
    app = App(board, store=Store(str(tmp_path / "store")))
    console.type(b'{"id": 1, "cmd": "info"}\nhelp\n')
    assert app.poll() == 2
    out = console.received().split(b"\n")
    reply = json.loads(out[0])
    assert reply["id"] == 1 and reply["ok"] is True and reply["result"]["board"] == "ai-thinker-esp32-cam"
    assert any(line.startswith(b"commands:") for line in out[1:])
    console.type(b'{"id": 2, "cmd": "reboot"}\n')
    app.poll()
    assert json.loads(console.received().split(b"\n")[0])["result"] == {"rebooting": True}
    assert app.reads.reboot_requested and not resets
