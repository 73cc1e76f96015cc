"""Helpers and fixtures for the PN532 emulator tests (imported by the test files): hosts, pty servers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))

from vitale_tools.nfc_target import HcePhone, demo_phone  # noqa: E402
from vitale_tools.pn532_sim import PN532Emulator, PtyServer, RealClock, SimClock, build_frame  # noqa: E402

UID = bytes.fromhex("08a1b2c3")
ECHO_AID = bytes.fromhex("F0010203040506")
SELECT_ECHO = bytes.fromhex("00A4040007F0010203040506")


def split_frames(data: bytes) -> list[bytes]:
    """Chip output as a list: b"ACK", b"ERR", or each frame's TFI+PD; raises on anything else."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        if data[i] == 0 and (i + 1 == len(data) or data[i + 1] == 0):
            i += 1  # preamble / postamble
            continue
        assert data[i : i + 2] == b"\x00\xff", data[i:].hex()
        if data[i + 2 : i + 4] == b"\x00\xff":
            out.append(b"ACK")
            i += 4
            continue
        if data[i + 2 : i + 4] == b"\xff\xff":
            n = data[i + 4] << 8 | data[i + 5]
            assert (data[i + 4] + data[i + 5] + data[i + 6]) & 0xFF == 0
            p = i + 7
        else:
            n = data[i + 2]
            assert (n + data[i + 3]) & 0xFF == 0
            p = i + 4
        payload = data[p : p + n]
        assert len(payload) == n and (sum(payload) + data[p + n]) & 0xFF == 0
        out.append(b"ERR" if payload == b"\x7f" else payload)
        i = p + n + 1
    return out


class Host:
    """Drives an HSU emulator in modelled time with raw frames."""

    def __init__(self, chip: PN532Emulator, clock: SimClock) -> None:
        self.chip = chip
        self.clock = clock

    def write(self, data: bytes) -> None:
        bt = self.chip.byte_s
        self.chip.receive(data, self.clock.now(), bt)
        self.clock.advance(len(data) * bt)

    def command(self, code: int, params: bytes = b"", wait: float = 0.5) -> list[bytes]:
        """Send a command frame, let `wait` seconds pass, return what came back."""
        self.write(build_frame(bytes((0xD4, code)) + params))
        return self.read(wait)

    def read(self, wait: float = 0.5) -> list[bytes]:
        self.clock.advance(wait)
        return split_frames(self.chip.pop_ready())


@pytest.fixture
def host() -> Host:
    clock = SimClock()
    return Host(PN532Emulator(clock, demo_phone(UID)), clock)


@pytest.fixture
def pty_chip() -> Iterator[tuple[PN532Emulator, PtyServer, HcePhone]]:
    chip = PN532Emulator(RealClock())
    phone = demo_phone()
    with PtyServer(chip) as server:
        yield chip, server, phone
