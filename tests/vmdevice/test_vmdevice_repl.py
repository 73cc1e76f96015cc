"""The VM device on a pty behaves like a MicroPython board: friendly and raw REPL, Ctrl-C, soft reboot,
raw paste, the real reader app on the line, and mpremote itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vitale_tools.mpvm.device import VM_APP_MAIN, PtyPair, VMDevice
from vitale_tools.virtual.hardware import VirtualHardware

from .support import CTRL_A, CTRL_B, CTRL_C, CTRL_D, RAW_BANNER, Term

pytestmark = pytest.mark.vm

BOOT_PY = "print('boot.py ran')\n"
APP_BANNER = b"vitale: reader app on this serial line"
MPREMOTE = [sys.executable, "-m", "mpremote"]


@pytest.fixture(scope="module")
def device() -> Iterator[tuple[VMDevice, PtyPair]]:
    pty = PtyPair()
    hw = VirtualHardware("esp32-s3-eye", seed=7)
    dev = VMDevice(pty, hw, files={"/main.py": VM_APP_MAIN, "/boot.py": BOOT_PY})
    dev.start()
    yield dev, pty
    dev.stop()
    pty.close()
    assert dev.error is None, dev.error


@pytest.fixture
def term(device: tuple[VMDevice, PtyPair]) -> Iterator[Term]:
    t = Term(device[1].path)
    t.friendly()
    yield t
    t.close()


def test_friendly_repl_echoes_and_evaluates(term: Term) -> None:
    term.send(b"6 * 7\r")
    assert term.until(b">>> ") == b"6 * 7\r\n42\r\n>>> "
    term.send(b"def f(x): return x + 1\r")
    term.until(b"... ")
    term.send(b"\r")
    term.until(b">>> ")
    term.send(b"f(1)\r")
    assert b"\r\n2\r\n>>> " in term.until(b">>> ")


def test_errors_are_printed_and_errno_is_micropythons(term: Term) -> None:
    term.send(b"1/0\r")
    assert b"ZeroDivisionError" in term.until(b">>> ")
    out, err = term.raw_exec(b"import errno\ntry:\n open('/nope')\nexcept OSError as e:\n"
                             b" print(e.errno, e.errno == errno.ENOENT)")
    assert (out, err) == (b"2 True\r\n", b"")


def test_raw_repl_exec_output_and_error_frames(term: Term) -> None:
    term.send(CTRL_A)
    assert term.until(RAW_BANNER).endswith(b"\r\n" + RAW_BANNER)
    term.send(b"print('a')\nprint('b')" + CTRL_D)
    assert term.until(b">") == b"OKa\r\nb\r\n\x04\x04>"
    term.send(b"raise ValueError('bad')" + CTRL_D)
    got = term.until(b"\x04>")
    assert got.startswith(b"OK\x04Traceback (most recent call last):\r\n")
    assert got.endswith(b"ValueError: bad\r\n\x04>")
    term.send(CTRL_B)
    assert term.until(b">>> ").endswith(b'Type "help()" for more information.\r\n>>> ')


def test_raw_paste_with_flow_control(term: Term) -> None:
    term.send(CTRL_C + CTRL_A)
    term.until(RAW_BANNER)
    term.send(b"\x05A\x01")
    head = term.port.read(2)
    assert head == b"R\x01"
    window = int.from_bytes(term.port.read(2), "little")
    assert window > 0 and term.port.read(1) == b"\x01"
    code = b"x = 0\n" + b"x += 1\n" * (3 * window // 7) + b"print('x =', x)\n"
    credit = 2 * window  # the initial window plus the one the \x01 granted
    sent = 0
    while sent < len(code):
        while credit == 0:
            c = term.port.read(1)
            assert c == b"\x01", c
            credit += window
        chunk = code[sent:sent + credit]
        term.send(chunk)
        sent += len(chunk)
        credit -= len(chunk)
    term.send(CTRL_D)
    rest = term.until(b"\x04>")
    assert rest.replace(b"\x01", b"").endswith(b"\x04x = %d\r\n\x04\x04>" % (3 * window // 7))
    assert b"OK" not in rest


def test_unknown_raw_repl_command_is_refused(term: Term) -> None:
    term.send(CTRL_C + CTRL_A)
    term.until(RAW_BANNER)
    term.send(b"\x05Z\x01")
    assert term.until(b">") == b"R\x00>"
    term.send(b"print(5)" + CTRL_D)
    assert term.until(b"\x04>") == b"OK5\r\n\x04\x04>"


def test_soft_reboot_in_raw_mode_skips_main_py(term: Term, device: tuple[VMDevice, PtyPair]) -> None:
    dev = device[0]
    boots = dev.boots
    term.send(b"keep = 1\r")
    term.until(b">>> ")
    term.send(CTRL_A)
    term.until(RAW_BANNER)
    term.send(CTRL_D)
    got = term.until(RAW_BANNER)
    assert got == b"OK\r\nMPY: soft reboot\r\nboot.py ran\r\n" + RAW_BANNER
    assert APP_BANNER not in got
    out, err = term.raw_exec(b"print('keep' in globals())")
    assert out == b"False\r\n" and err == b""  # a fresh VM
    assert dev.boots == boots + 1


def test_ctrl_c_stops_the_app_and_gives_the_repl(term: Term) -> None:
    term.send(CTRL_D)  # soft reboot in friendly mode: boot.py, then main.py (the reader app)
    got = term.until(APP_BANNER)
    assert got.startswith(b"\r\nMPY: soft reboot\r\nboot.py ran\r\n")
    term.until(b"\n")
    req = {"id": 1, "cmd": "hello", "args": {"nonce": "00" * 16}}
    term.send(json.dumps(req).encode() + b"\n")
    reply = json.loads(term.until(b"\n"))
    assert reply["id"] == 1 and reply["ok"] is True and reply["result"]["board"] == "esp32-s3-eye"
    term.send(CTRL_C)
    got = term.until(b">>> ")
    assert b"KeyboardInterrupt: \r\n" in got
    assert got.endswith(b'Type "help()" for more information.\r\n>>> ')
    term.send(b"'back'\r")
    assert term.until(b">>> ").endswith(b"'back'\r\n>>> ")


def test_bytes_after_ctrl_c_in_the_same_write_reach_the_repl(term: Term) -> None:
    """mpremote sends Ctrl-C and Ctrl-A back to back: when both arrive in one read, the app being interrupted
    must not swallow the Ctrl-A (a board's UART keeps it for the REPL)."""
    for _ in range(3):
        term.send(CTRL_D)
        term.until(APP_BANNER)
        term.until(b"\n")
        term.send(b"\r" + CTRL_C + b"\r" + CTRL_A)  # one write, so one read on the device
        got = term.until(RAW_BANNER)
        assert b"KeyboardInterrupt: \r\n" in got
        term.send(CTRL_B)
        term.until(b">>> ")


def _mpremote(pty: PtyPair, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*MPREMOTE, "connect", pty.path, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.slow
def test_mpremote_against_the_running_app(device: tuple[VMDevice, PtyPair], tmp_path: Path) -> None:
    dev, pty = device
    t = Term(pty.path)
    t.friendly()
    t.send(CTRL_D)  # the app runs on the line when mpremote connects
    t.until(APP_BANNER)
    t.close()
    names = _mpremote(pty, "fs", "ls").stdout.split()
    assert {"main.py", "boot.py", "board.json", "lib/"} <= set(names)
    src = tmp_path / "data.bin"
    payload = bytes(range(256)) * 12 + b"end"
    src.write_bytes(payload)
    _mpremote(pty, "fs", "cp", str(src), ":data.bin")
    assert (dev.flash / "data.bin").read_bytes() == payload  # written through to the flash
    back = tmp_path / "back.bin"
    _mpremote(pty, "fs", "cp", ":data.bin", str(back))
    assert back.read_bytes() == payload
    (tmp_path / "note.txt").write_text("hello from the host\n")
    _mpremote(pty, "fs", "cp", str(tmp_path / "note.txt"), ":note.txt")
    assert _mpremote(pty, "fs", "cat", ":note.txt").stdout.endswith("hello from the host\n")
    assert _mpremote(pty, "exec", "print(sum(range(10)))").stdout.strip() == "45"
    _mpremote(pty, "fs", "rm", ":data.bin")
    assert not (dev.flash / "data.bin").exists()
    _mpremote(pty, "soft-reset")


def test_ctrl_c_interrupts_a_sleep_at_the_repl(term: Term) -> None:
    out, err = term.raw_exec(b"import time\nt = time.ticks_ms()\ntime.sleep(0.2)\ntime.sleep_ms(50)\n"
                             b"print(time.ticks_diff(time.ticks_ms(), t) >= 250)")
    assert (out, err) == (b"True\r\n", b"")
    term.send(b"\x02")
    term.until(b">>> ")
    term.send(b"time.sleep(600)\r")
    term.until(b"time.sleep(600)\r\n")
    term.send(CTRL_C)
    got = term.until(b">>> ", timeout=10)
    assert b"KeyboardInterrupt: \r\n" in got
