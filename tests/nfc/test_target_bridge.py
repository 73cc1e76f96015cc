"""The target-mode APDU bridge (vitale_tools.target_bridge) without a board.

1. Below the PN532 frame layer: a `TargetLink` that plays the PN532 *and the
   reader in front of it* — the firmware's own `read_mdoc` sends its APDUs
   (split with MI chaining, as a PN532 hands long commands over), the bridge
   answers them with the phone emulator (`Wallet`, reader authentication
   enforced). The read must succeed exactly as through the chip emulator.
2. At the frame layer: the unmodified Adafruit driver (`PN532_UART` over
   pyserial over a pty) against a small scripted PN532 in target mode that
   speaks real HSU frames (pn532_sim.build_frame), to check the commands and
   parameters the bridge sends and the way it reads the answers.
(pn532_sim.py has no target mode, hence the scripted chip.)
"""

from __future__ import annotations

import os
import queue
import select
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from vitale.nfc import mdoc_nfc
from vitale_tools.bench.nfc import make_world, wallet_for
from vitale_tools.pn532_sim import build_frame
from vitale_tools.target_bridge import (TG_GET_DATA, TG_INIT_AS_TARGET, TG_SET_DATA, TG_SET_META_DATA,
                                        AdafruitTargetLink, BridgeError, TargetBridge, split_response,
                                        tg_init_params)

DOC_TYPE = mdoc_nfc.DOC_TYPE


class ReaderInFront:
    """A TargetLink: the PN532 in target mode with a reader (the test's thread) activating and sending APDUs."""

    def __init__(self, mi_part: int = 60) -> None:
        self.mi_part = mi_part
        self.to_target: queue.Queue[bytes] = queue.Queue()
        self.to_reader: queue.Queue[bytes] = queue.Queue()
        self.activated = threading.Event()
        self.partial = bytearray()
        self.calls: list[int] = []
        self.init_params = b""

    def call(self, command: int, params: bytes, response_length: int, timeout: float) -> bytes | None:
        self.calls.append(command)
        if command == TG_INIT_AS_TARGET:
            self.init_params = params
            return b"\x04\xe0\x80" if self.activated.wait(timeout) else None  # mode, the reader's RATS
        if command == TG_GET_DATA:
            try:
                return self.to_target.get(timeout=timeout)
            except queue.Empty:
                return None
        if command == TG_SET_META_DATA:
            self.partial += params
            return b"\x00"
        if command == TG_SET_DATA:
            self.to_reader.put(bytes(self.partial + params))
            self.partial.clear()
            return b"\x00"
        return b"\x27"  # not acceptable in this state

    def transceive(self, apdu: bytes) -> bytes:
        parts = [apdu[i: i + self.mi_part] for i in range(0, len(apdu), self.mi_part)]
        for i, p in enumerate(parts):
            self.to_target.put(bytes([0x40 if i < len(parts) - 1 else 0x00]) + p)
        return self.to_reader.get(timeout=10)

    def release(self) -> None:
        self.to_target.put(b"\x29")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> object:
    return make_world(tmp_path_factory.mktemp("bridge"))


def test_tg_init_params_layout() -> None:
    p = tg_init_params(b"\xaa\xbb\xcc", b"\x80\x01")
    assert p[0] == 0x05  # PassiveOnly | PICCOnly
    assert p[1:7] == b"\x04\x00\xaa\xbb\xcc\x20"  # SENS_RES, NFCID1t, SEL_RES: ISO 14443-4
    assert p[7:25] == bytes(18) and p[25:35] == bytes(10)  # FeliCa, NFCID3t unused
    assert p[35:] == b"\x00\x02\x80\x01"  # no Gt, Tk = historical bytes
    with pytest.raises(ValueError):
        tg_init_params(b"\x01\x02")
    assert split_response(b"") == [b""]
    assert [len(x) for x in split_response(bytes(600))] == [250, 250, 100]


def test_reader_reads_the_phone_through_the_bridge(world: object) -> None:
    link = ReaderInFront(mi_part=60)
    phone = wallet_for(world)  # type: ignore[arg-type]
    bridge = TargetBridge(link, phone)
    out: dict[str, object] = {}
    t = threading.Thread(target=lambda: out.update(stats=bridge.serve(activate_timeout=5, idle_timeout=5)))
    t.start()
    link.activated.set()
    try:
        resp, transcript, _ = mdoc_nfc.read_mdoc(link.transceive, world.reader_key,  # type: ignore[attr-defined]
                                                 world.reader_cert, "billing", DOC_TYPE)  # type: ignore[attr-defined]
    finally:
        link.release()
        t.join(timeout=10)
    assert not t.is_alive()
    assert mdoc_nfc.response_refusal(resp, DOC_TYPE) is None  # documents came back
    stats = out["stats"]
    assert stats.apdus >= 5 and stats.chained_in > 0 and stats.chained_out > 0  # type: ignore[attr-defined]
    assert stats.log == ["released"]  # type: ignore[attr-defined]
    # the wallet checked the reader's authentication (enforced by wallet_for) and sent the data
    assert phone.events == ["engagement", "session", "sent", "terminated"]
    assert link.init_params == tg_init_params()
    assert link.calls[0] == TG_INIT_AS_TARGET and TG_SET_META_DATA in link.calls


def test_no_reader_and_a_silent_chip_are_errors_with_codes(world: object) -> None:
    link = ReaderInFront()
    bridge = TargetBridge(link, wallet_for(world))  # type: ignore[arg-type]
    with pytest.raises(BridgeError) as e:
        bridge.serve(activate_timeout=0.1)
    assert e.value.code == "no_reader"
    link.activated.set()
    with pytest.raises(BridgeError) as e:
        bridge.serve(activate_timeout=1, idle_timeout=0.2)  # activated, then nothing comes
    assert e.value.code == "pn532_timeout"


# ---- frame level: Adafruit's driver against a scripted target-mode PN532 on a pty ---------------------

ACK = b"\x00\x00\xff\x00\xff\x00"


class ScriptedTargetChip:
    """HSU frames in, ACK + response frames out; answers the commands a target-mode session needs."""

    def __init__(self, apdus: list[bytes]) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.apdus = list(apdus)  # what the "reader" sends, in order (each answered before the next)
        self.responses: list[bytes] = []
        self.commands: list[tuple[int, bytes]] = []
        self._meta = bytearray()
        self._buf = bytearray()
        self._stop = False
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def close(self) -> None:
        self._stop = True
        self._t.join(timeout=2)
        os.close(self.master)
        os.close(self._slave)

    def _serve(self) -> None:
        while not self._stop:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            self._buf.extend(os.read(self.master, 4096))
            while True:
                i = self._buf.find(b"\x00\xff")
                if i < 0 or len(self._buf) < i + 4:
                    break
                n = self._buf[i + 2]
                if n == 0 and self._buf[i + 3] == 0xFF:  # an ACK from the host
                    del self._buf[: i + 4]
                    continue
                if len(self._buf) < i + 4 + n + 2:
                    break
                body = bytes(self._buf[i + 4: i + 4 + n])
                del self._buf[: i + 4 + n + 2]
                assert body[0] == 0xD4
                os.write(self.master, ACK)
                os.write(self.master, build_frame(bytes([0xD5, body[1] + 1]) + self._answer(body[1], body[2:])))

    def _answer(self, cmd: int, p: bytes) -> bytes:
        self.commands.append((cmd, p))
        if cmd == 0x02:
            return b"\x32\x01\x06\x07"  # GetFirmwareVersion
        if cmd == 0x14:
            return b""  # SAMConfiguration
        if cmd == TG_INIT_AS_TARGET:
            return b"\x04\xe0\x80"
        if cmd == TG_GET_DATA:
            return b"\x00" + self.apdus.pop(0) if self.apdus else b"\x29"
        if cmd == TG_SET_META_DATA:
            self._meta += p
            return b"\x00"
        if cmd == TG_SET_DATA:
            self.responses.append(bytes(self._meta + p))
            self._meta.clear()
            return b"\x00"
        return b"\x27"


class EchoPhone:
    """A card that answers every APDU with a long pattern (to force TgSetMetaData) and 9000."""

    def __init__(self) -> None:
        self.deactivated = ""

    def on_field(self) -> None:
        pass

    def on_activated(self) -> None:
        pass

    def on_deactivated(self, reason: str) -> None:
        self.deactivated = reason

    def process_apdu(self, apdu: bytes) -> bytes:
        return bytes(range(256)) * 2 + apdu + b"\x90\x00"


@pytest.fixture
def chip() -> Iterator[ScriptedTargetChip]:
    c = ScriptedTargetChip([bytes.fromhex("00a4040007a0000002480400"), bytes.fromhex("00b0000010")])
    yield c
    c.close()


def test_adafruit_driver_carries_the_bridge(chip: ScriptedTargetChip) -> None:
    from adafruit_pn532.uart import PN532_UART

    port = serial.Serial(chip.path, 115200, timeout=0.1)
    try:
        pn = PN532_UART(port, debug=False)
        pn.SAM_configuration()
        phone = EchoPhone()
        stats = TargetBridge(AdafruitTargetLink(pn), phone).serve(activate_timeout=2, idle_timeout=2)  # type: ignore[arg-type]
    finally:
        port.close()
    assert stats.apdus == 2 and stats.log == ["released"] and phone.deactivated == "released"
    sent = [c for c, _ in chip.commands]
    assert sent[sent.index(TG_INIT_AS_TARGET):] == [TG_INIT_AS_TARGET, TG_GET_DATA, TG_SET_META_DATA,
                                                    TG_SET_META_DATA, TG_SET_DATA, TG_GET_DATA,
                                                    TG_SET_META_DATA, TG_SET_META_DATA, TG_SET_DATA, TG_GET_DATA]
    assert dict(chip.commands)[TG_INIT_AS_TARGET] == tg_init_params()
    assert chip.responses == [EchoPhone().process_apdu(bytes.fromhex("00a4040007a0000002480400")),
                              EchoPhone().process_apdu(bytes.fromhex("00b0000010"))]


