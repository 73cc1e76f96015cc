"""vitale.hal.vm in the VM device drives the virtual reader's real emulated hardware over the bridge."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from vitale_tools.mpvm.device import VM_APP_MAIN, PtyPair, VMDevice
from vitale_tools.virtual.hardware import FRAME_SIZE, VirtualHardware

from .support import CTRL_D, Term

pytestmark = pytest.mark.vm

APP_BANNER = b"vitale: reader app on this serial line"


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[VMDevice, VirtualHardware, PtyPair]]:
    pty = PtyPair()
    hw = VirtualHardware("freenove-esp32-s3-wroom-cam", seed=3)
    dev = VMDevice(pty, hw, files={"/main.py": VM_APP_MAIN})
    dev.start()
    yield dev, hw, pty
    dev.stop()
    pty.close()


@pytest.fixture
def term(rig: tuple[VMDevice, VirtualHardware, PtyPair]) -> Iterator[Term]:
    t = Term(rig[2].path)
    t.friendly()
    yield t
    t.close()


def test_board_parts_reach_the_emulated_hardware(rig: tuple[VMDevice, VirtualHardware, PtyPair],
                                                 term: Term) -> None:
    dev, hw, _ = rig
    out, err = term.raw_exec(
        b"from vitale.hal import vm\nfrom vitale.nfc.pn532 import PN532\n"
        b"b = vm.build_board()\nprint(b.name)\n"
        b"pn = PN532(uart=b.nfc_uart, clock=b.nfc_clock)\npn.begin()\nprint(pn.firmware_version())\n"
        b"f = b.camera.capture()\nprint(len(f[0]), f[1], f[2], type(f[0]).__name__)\n"
        b"b.feedback('refused')\nb.display.text(['hello', 'vm'])\n"
        b"print(b.nfc_uart.any(), b.nfc_uart.read(), b.host.read())\n", timeout=30)
    assert err == b"", err
    lines = out.decode().splitlines()
    assert lines[0] == "freenove-esp32-s3-wroom-cam"
    assert lines[1].startswith("(50, ")  # a PN532 (IC 0x32) answered through the real driver
    assert lines[2] == "%d %d %d bytes" % (FRAME_SIZE[0] * FRAME_SIZE[1], FRAME_SIZE[0], FRAME_SIZE[1])
    assert lines[3] == "0 None b''"
    assert hw.leds[-1][1] == (96, 0, 0)
    assert [t[1:] for t in list(hw.tones)[-3:]] == [(400, 150), (0, 60), (400, 150)]
    assert hw.displays[-1][1] == ["hello", "vm"]
    assert dev.calls > 5


def _request(term: Term, rid: int, cmd: str, args: dict[str, object] | None = None) -> dict[str, object]:
    term.send(json.dumps({"id": rid, "cmd": cmd, "args": args or {}}).encode() + b"\n")
    while True:
        line = term.until(b"\n", 30).strip()
        if line.startswith(b"{"):
            msg = json.loads(line)
            if msg.get("id") == rid:
                return dict(msg)


def test_reboot_is_a_hard_reset_over_the_same_flash(rig: tuple[VMDevice, VirtualHardware, PtyPair],
                                                    term: Term) -> None:
    dev, hw, _ = rig
    term.send(CTRL_D)  # soft reboot: main.py starts the reader app
    term.until(APP_BANNER)
    first = _request(term, 1, "hello", {"nonce": "11" * 16})
    resets, reboots = dev.resets, hw.reboots
    assert _request(term, 2, "reboot")["result"] == {"rebooting": True}
    term.until(APP_BANNER)  # the device came back by itself and runs the app again
    assert hw.reboots == reboots + 1
    deadline = time.monotonic() + 10
    while dev.resets != resets + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dev.resets == resets + 1
    again = _request(term, 3, "hello", {"nonce": "22" * 16})
    assert again["result"]["reader_kid"] == first["result"]["reader_kid"]  # type: ignore[index]
    # a reset from the emulator's side (the control channel) restarts it too
    hw.reboot()
    term.until(APP_BANNER)
    assert _request(term, 4, "info")["ok"] is True
    assert dev.alive() and dev.error is None


class SlowDisplay(VirtualHardware):
    """The real hardware with a display that answers too late once (a stuck host side)."""

    def __init__(self) -> None:
        super().__init__("slow")
        self.delay = 1.0

    def display(self, lines: list[str]) -> None:
        delay, self.delay = self.delay, 0.0
        time.sleep(delay)
        super().display(lines)


def test_a_call_past_its_deadline_fails_cleanly_and_the_bridge_goes_on(tmp_path: object) -> None:
    pty = PtyPair()
    hw = SlowDisplay()
    dev = VMDevice(pty, hw, files={"/main.py": ""}, rpc_timeout=0.3)
    dev.start()
    term = Term(pty.path)
    try:
        term.friendly()
        out, err = term.raw_exec(b"from vitale.hal import vm\nb = vm.build_board()\n"
                                 b"try:\n b.display.text(['late'])\nexcept OSError as e:\n print('failed', e.errno)\n")
        assert (out, err) == (b"failed 5\r\n", b"")
        time.sleep(1.0)  # the late reply arrives meanwhile and must be skipped
        out, err = term.raw_exec(b"b.display.text(['on time'])\nprint(b.nfc_uart.any())")
        assert (out, err) == (b"0\r\n", b"")
        assert hw.displays[-1][1] == ["on time"]
        assert dev.alive()
    finally:
        term.close()
        dev.stop()
        pty.close()
