"""adafruit-circuitpython-pn532 (unmodified) against the emulator: UART over a real pty, and I2C.

Its quirks the emulator must honour: the exact 6 ACK bytes, silence instead
of "0 targets" while polling (it has no MaxRetries call and calls NbTg=0 "More
than one card"), a new InListPassiveTarget sent over a pending one without an
abort, reads sized by the expected length, and the 0x55 wake-up after
power_down().
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import serial

from nfc_support import SELECT_ECHO
from vitale_tools.nfc_target import HcePhone, demo_phone, pattern_bytes
from vitale_tools.pn532_sim import PN532Emulator, PtyServer, RealClock, SimI2C

from adafruit_pn532.adafruit_pn532 import PN532 as AdafruitPN532  # noqa: E402  (after the emulator imports)
from adafruit_pn532.i2c import PN532_I2C
from adafruit_pn532.uart import PN532_UART

SELECT_NDEF = bytes.fromhex("00A4040007D276000085010100")


@pytest.fixture
def served() -> Iterator[tuple[PN532Emulator, PtyServer, HcePhone, serial.Serial]]:
    chip = PN532Emulator(RealClock(), strict_wake=True)  # Adafruit sends 55 55 + zeros first
    phone = demo_phone()
    with PtyServer(chip) as server:
        port = serial.Serial(server.port, 115200, timeout=0.1)
        try:
            yield chip, server, phone, port
        finally:
            port.close()


def apdu(pn: AdafruitPN532, command: bytes, expect: int = 64) -> bytes:
    r = pn.call_function(0x40, params=b"\x01" + command, response_length=expect + 1)
    assert r is not None and r[0] == 0x00, r
    return bytes(r[1:])


def test_uart_firmware_sam_uid_and_select(served: tuple[PN532Emulator, PtyServer, HcePhone, serial.Serial]) -> None:
    chip, server, phone, port = served
    pn = PN532_UART(port, debug=False)
    assert pn.firmware_version == (0x32, 0x01, 0x06, 0x07)
    pn.SAM_configuration()
    chip.place(phone)
    uid = pn.read_passive_target(timeout=0.5)
    assert uid is not None and bytes(uid) == phone.uid and phone.uid[0] == 0x08
    assert apdu(pn, SELECT_ECHO) == b"\x90\x00"
    assert apdu(pn, bytes.fromhex("00CA00F0F0"), 242) == pattern_bytes(0xF0) + b"\x90\x00"
    assert apdu(pn, SELECT_NDEF) == b"\x90\x00"
    assert apdu(pn, bytes.fromhex("00A4000C02E103")) == b"\x90\x00"
    assert apdu(pn, bytes.fromhex("00B000000F"))[:3] == bytes.fromhex("000F20")
    assert chip.counters["acks_in"] == 0  # Adafruit never aborts


def test_uart_polling_quirk_silence_then_a_new_command(
        served: tuple[PN532Emulator, PtyServer, HcePhone, serial.Serial]) -> None:
    chip, server, phone, port = served
    pn = PN532_UART(port, debug=False)
    for _ in range(3):
        t0 = time.monotonic()
        assert pn.read_passive_target(timeout=0.15) is None  # no "More than one card detected!"
        assert time.monotonic() - t0 < 0.6
    polls = [r for r in chip.records if r.code == 0x4A]
    assert len(polls) == 3 and all(r.answered is None for r in polls)  # each replaced the last
    chip.place(phone)
    uid = pn.read_passive_target(timeout=0.5)
    assert uid is not None and bytes(uid) == phone.uid
    chip.remove()
    assert pn.read_passive_target(timeout=0.15) is None


def test_uart_power_down_and_wake_again(served: tuple[PN532Emulator, PtyServer, HcePhone, serial.Serial]) -> None:
    chip, server, phone, port = served
    pn = PN532_UART(port, debug=False)
    assert pn.power_down() is True
    assert chip.asleep
    chip.place(phone)
    uid = pn.read_passive_target(timeout=0.5)  # sends 55 55 00.. + SAMConfiguration first
    assert uid is not None and bytes(uid) == phone.uid
    assert pn.firmware_version == (0x32, 0x01, 0x06, 0x07)


def test_uart_long_reply_needs_extended_frames_adafruit_lacks(
        served: tuple[PN532Emulator, PtyServer, HcePhone, serial.Serial]) -> None:
    # Documented limit of the client, not of the emulator: > 252 data bytes need an extended frame.
    chip, server, phone, port = served
    pn = PN532_UART(port, debug=False)
    chip.place(phone)
    assert pn.read_passive_target(timeout=0.5) is not None
    apdu(pn, SELECT_ECHO)
    with pytest.raises(RuntimeError, match="length checksum"):
        pn.call_function(0x40, params=b"\x01" + bytes.fromhex("00CA010000"), response_length=300)


def test_i2c_firmware_uid_and_select() -> None:
    chip = PN532Emulator(RealClock(), interface="i2c", strict_wake=True)
    phone = demo_phone()
    bus = SimI2C(chip)
    pn = PN532_I2C(bus, debug=False)  # probes with an empty write, then SAMConfiguration
    assert pn.firmware_version == (0x32, 0x01, 0x06, 0x07)
    assert pn.read_passive_target(timeout=0.1) is None
    chip.place(phone)
    uid = pn.read_passive_target(timeout=0.5)
    assert uid is not None and bytes(uid) == phone.uid
    assert apdu(pn, SELECT_ECHO) == b"\x90\x00"
    assert apdu(pn, bytes.fromhex("00CA004040"), 66) == pattern_bytes(64) + b"\x90\x00"
    assert pn.power_down() is True
    assert pn.firmware_version == (0x32, 0x01, 0x06, 0x07)
    assert bus.transactions > 10
    with pytest.raises(ValueError, match="No I2C device"):
        PN532_I2C(bus, address=0x25)
