"""`vitale-sim pn532`: serves on a pty, `tap`/`remove`/`status`/`quit` on stdin."""

from __future__ import annotations

import subprocess
import sys

import serial

from adafruit_pn532.uart import PN532_UART


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def _say(proc: subprocess.Popen[str], text: str) -> str:
    assert proc.stdin is not None
    proc.stdin.write(text + "\n")
    proc.stdin.flush()
    return _line(proc)


def test_serve_tap_remove_quit() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vitale_tools.cli", "pn532", "--test-phone", "--no-phone", "--uid", "08a1b2c3",
         "--strict-wake"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = _line(proc)
        assert first.startswith("port: /dev/pts/")
        port = serial.Serial(first.split(": ", 1)[1], 115200, timeout=0.1)
        pn = PN532_UART(port)
        assert pn.firmware_version == (0x32, 1, 6, 7)
        assert pn.read_passive_target(timeout=0.15) is None
        assert _say(proc, "tap") == "tapped: uid 08a1b2c3"
        uid = pn.read_passive_target(timeout=0.5)
        assert uid is not None and bytes(uid).hex() == "08a1b2c3"
        assert _say(proc, "status").startswith("card 08a1b2c3, field on")
        assert _say(proc, "remove") == "removed"
        assert pn.read_passive_target(timeout=0.15) is None
        assert _say(proc, "help") == "commands: tap, remove, status, quit"
        port.close()
        assert proc.stdin is not None
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unknown_patient_is_a_clear_error(tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vitale_tools.cli", "pn532", "--phone", "nobody", "--authority", str(tmp_path)],
        input="quit\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "cannot load the phone" in proc.stderr and "nobody" in proc.stderr
    assert proc.stdout == ""


def test_default_serves_a_fresh_authoritys_patient_wallet() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "vitale_tools.cli", "pn532", "--uid", "08010203"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        auth_line = _line(proc)
        assert auth_line.startswith("authority: ") and auth_line.endswith("(patients 0, 1, 2)")
        folder = auth_line.split(": ", 1)[1].split(" (")[0]
        import os

        for k in "012":
            assert os.path.exists(os.path.join(folder, "issued", k + ".mdoc.cbor"))
        port_line = _line(proc)
        assert port_line.startswith("port: /dev/pts/")
        port = serial.Serial(port_line.split(": ", 1)[1], 115200, timeout=0.1)
        pn = PN532_UART(port)
        uid = pn.read_passive_target(timeout=0.5)
        assert uid is not None and bytes(uid).hex() == "08010203"
        # SELECT the ISO 18013-5 mdoc AID through InDataExchange: the wallet answers 9000
        select = bytes.fromhex("00A4040007A000000248040000")
        resp = pn.call_function(0x40, params=bytes([1]) + select, response_length=64)
        assert resp is not None and resp[0] == 0 and bytes(resp[-2:]) == b"\x90\x00"
        port.close()
        assert proc.stdin is not None
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
