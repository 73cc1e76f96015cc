"""The firmware PN532 driver against the emulator in process (modelled time), with every fault."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nfc_support import ECHO_AID, UID
from vitale.nfc.isodep import ApduLink, IsoDepError, build_apdu
from vitale.nfc.pn532 import PN532, PN532Error, build_frame
from vitale_tools.nfc_target import CardRemoved, EchoService, HcePhone, demo_phone, pattern_bytes
from vitale_tools.pn532_sim import Faults, PN532Emulator, SimClock, SimI2C, SimUart

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pn532_transcript  # noqa: E402

SELECT = build_apdu(0, 0xA4, 4, 0, ECHO_AID)
GET_600 = build_apdu(0, 0xCA, 0x02, 0x58, None, 65536)  # one extended answer: MI pieces


class Rig:
    """Driver + emulator + phone on one modelled clock."""

    def __init__(self, interface: str = "hsu", phone: HcePhone | None = None, strict: bool = True,
                 rxbuf: int = 1024) -> None:
        self.clock = SimClock()
        self.phone = phone if phone is not None else demo_phone(UID)
        self.chip = PN532Emulator(self.clock, self.phone, interface=interface, strict_wake=strict)
        if interface == "hsu":
            self.uart: SimUart | None = SimUart(self.chip, self.clock, rxbuf=rxbuf)
            self.pn = PN532(uart=self.uart, clock=self.clock)
        else:
            self.uart = None
            self.pn = PN532(i2c=SimI2C(self.chip, self.clock), clock=self.clock)

    @property
    def faults(self) -> Faults:
        return self.chip.faults

    def ready(self) -> None:
        assert self.pn.begin() == (0x32, 1, 6, 7)
        t = self.pn.list_passive_target()
        assert t is not None and t.uid == self.phone.uid
        assert self.pn.data_exchange(SELECT) == b"\x90\x00"

    def timed(self, f, *args):  # type: ignore[no-untyped-def]
        t0 = self.clock.now()
        try:
            return f(*args)
        finally:
            self.elapsed = self.clock.now() - t0


def test_transcript_in_the_vm_test_is_current() -> None:
    import test_pn532_transcript as fw

    transcript, out = pn532_transcript.record()
    assert out["get"] == fw.pattern(600) and out["nacks"] == 1 and out["resends"] == 1
    assert tuple(transcript) == fw.TRANSCRIPT, "run: python tests/nfc/pn532_transcript.py"


@pytest.mark.parametrize("interface", ["hsu", "i2c"])
def test_session_and_modelled_duration(interface: str) -> None:
    rig = Rig(interface)
    rig.ready()
    t = rig.pn.target
    assert t is not None and t.ats == bytes.fromhex("0578807002") and t.iso_dep() and t.fwi() == 7
    data = rig.timed(rig.pn.data_exchange, GET_600)
    assert data == pattern_bytes(600) + b"\x90\x00"
    recs = [r for r in rig.chip.records if r.code == 0x40][-3:]
    modelled = sum(r.duration_s or 0 for r in recs)
    rf = sum(r.rf_s for r in recs)
    # The driver sees the modelled time: RF + bytes on the link, plus its own 1 ms polling steps
    # (and on I2C the reads themselves: about 6 ms per 275-byte frame at 400 kHz).
    assert modelled <= rig.elapsed < modelled + (0.01 if interface == "hsu" else 0.03)
    assert 0.045 < rf < 0.09
    if interface == "hsu":
        assert 0.05 < rig.elapsed - rf  # ~610 bytes at 115200 cost as much as the radio
    assert rig.pn.resends == rig.pn.nacks == 0


def test_faster_uart_saves_time() -> None:
    slow = Rig()
    slow.ready()
    slow.timed(slow.pn.data_exchange, GET_600)
    fast = Rig()
    fast.ready()
    fast.pn.set_serial_baudrate(921600)
    assert fast.chip.baud == 921600
    assert fast.pn.data_exchange(GET_600) == pattern_bytes(600) + b"\x90\x00"
    fast.timed(fast.pn.data_exchange, GET_600)
    assert fast.elapsed < slow.elapsed - 0.04


def test_isodep_chaining_and_get_response_through_the_driver() -> None:
    rig = Rig()
    rig.ready()
    link = ApduLink(lambda a: rig.pn.data_exchange(a, 2000))
    body = bytes(range(256)) * 5
    assert link.send(0, 0xC3, 0, 0, body) == body  # 6 chained commands, 4 GET RESPONSE rounds
    assert link.exchanges == 6 + 4
    with pytest.raises(IsoDepError) as e:
        link.send(0, 0x77, 0, 0)
    assert e.value.code == "ins_not_supported"


# -- faults on the host link --------------------------------------------------------

RECOVERED = [
    ("lose_frames", 1, "resends", 1),
    ("corrupt_frames", 1, "resends", 1),
    ("drop_acks", 1, "resends", 0),
    ("corrupt_replies", 1, "nacks", 1),
    ("truncate_replies", 1, "nacks", 1),
    ("duplicate_bytes", 1, "nacks", 1),
    ("duplicate_replies", 1, "nacks", 0),
    ("garbage", bytes.fromhex("00ff13370000ff05"), "nacks", 0),
]


@pytest.mark.parametrize("interface", ["hsu", "i2c"])
@pytest.mark.parametrize(("fault", "value", "counter", "count"), RECOVERED, ids=[r[0] for r in RECOVERED])
def test_fault_is_recovered(interface: str, fault: str, value: object, counter: str, count: int) -> None:
    rig = Rig(interface)
    rig.ready()
    setattr(rig.faults, fault, value)
    data = rig.timed(rig.pn.data_exchange, GET_600)
    assert data == pattern_bytes(600) + b"\x90\x00"
    assert getattr(rig.pn, counter) == count
    assert rig.elapsed < 0.5
    assert rig.pn.data_exchange(SELECT) == b"\x90\x00"


@pytest.mark.parametrize("interface", ["hsu", "i2c"])
def test_zombie_command_times_out_then_the_next_works(interface: str) -> None:
    rig = Rig(interface)
    rig.ready()
    rig.faults.zombie = 1
    with pytest.raises(PN532Error) as e:
        rig.timed(rig.pn.data_exchange, SELECT, 300)
    assert e.value.code == "timeout" and 0.299 <= rig.elapsed < 0.32
    assert rig.pn.aborts >= 1 and rig.chip.counters["acks_in"] >= 1
    assert rig.pn.data_exchange(SELECT) == b"\x90\x00"


@pytest.mark.parametrize("interface", ["hsu", "i2c"])
def test_lost_frames_beyond_retries_give_no_ack(interface: str) -> None:
    rig = Rig(interface)
    rig.ready()
    rig.faults.lose_frames = 3
    with pytest.raises(PN532Error) as e:
        rig.timed(rig.pn.firmware_version)
    assert e.value.code == "no_ack" and rig.elapsed < 0.2
    assert rig.pn.firmware_version() == (0x32, 1, 6, 7)


def test_replies_broken_beyond_retries_give_checksum() -> None:
    rig = Rig()
    rig.ready()
    rig.faults.corrupt_replies = 3
    with pytest.raises(PN532Error) as e:
        rig.timed(rig.pn.data_exchange, SELECT)
    assert e.value.code == "checksum" and rig.elapsed < 0.2
    assert rig.pn.data_exchange(SELECT) == b"\x90\x00"


def test_error_frame_and_bad_target() -> None:
    rig = Rig()
    rig.ready()
    with pytest.raises(PN532Error) as e:
        rig.pn.command(0x60, b"\x01\x01\x10")  # InAutoPoll is not emulated: syntax error frame
    assert e.value.code == "error_frame"
    with pytest.raises(PN532Error) as e:
        rig.pn.data_exchange(SELECT, tg=2)
    assert e.value.code == "bad_target" and e.value.status == 0x27
    rig.pn.release()
    with pytest.raises(PN532Error) as e:
        rig.pn.data_exchange(SELECT)
    assert e.value.code == "bad_target"


def test_slow_phone_with_wtx() -> None:
    rig = Rig()
    rig.ready()
    slow = build_apdu(0, 0x5A, 0x02, 0x58)  # the app takes 600 ms
    assert rig.timed(rig.pn.data_exchange, slow, 2000) == b"\x90\x00"
    assert 0.6 < rig.elapsed < 0.7
    with pytest.raises(PN532Error) as e:
        rig.timed(rig.pn.data_exchange, slow, 300)  # the driver gives up first
    assert e.value.code == "timeout" and rig.elapsed < 0.31
    assert rig.pn.data_exchange(SELECT) == b"\x90\x00"


@pytest.mark.parametrize("after", [0, 1, 3, 6])
def test_phone_removed_mid_exchange(after: int) -> None:
    rig = Rig()
    rig.ready()
    rig.faults.remove_after_frames = after
    with pytest.raises(PN532Error) as e:
        rig.timed(rig.pn.data_exchange, GET_600)
    assert e.value.code == "target_lost" and e.value.status == 0x01
    assert rig.elapsed < 0.5
    assert rig.phone.deactivations == ["link_loss"]
    assert rig.pn.list_passive_target(100) is None


def test_app_raising_card_removed() -> None:
    class Gone(EchoService):
        def process_apdu(self, apdu: bytes) -> bytes:
            if apdu[1] == 0xCA:
                raise CardRemoved
            return super().process_apdu(apdu)

    rig = Rig(phone=HcePhone({ECHO_AID: Gone()}, UID))
    rig.ready()
    with pytest.raises(PN532Error) as e:
        rig.pn.data_exchange(GET_600)
    assert e.value.code == "target_lost"


def test_polling_with_and_without_a_phone() -> None:
    rig = Rig()
    rig.pn.begin()
    rig.chip.remove()
    assert rig.timed(rig.pn.list_passive_target) is None
    assert rig.elapsed < 0.02  # finite retries: the chip answers "none" itself
    rig.pn.set_max_retries(passive=0xFF)
    assert rig.timed(rig.pn.list_passive_target, 150) is None  # silent chip, aborted at the timeout
    assert 0.149 <= rig.elapsed < 0.16 and rig.pn.aborts == 1
    rig.chip.place(rig.phone)
    t = rig.pn.list_passive_target(150)
    assert t is not None and t.uid == UID


def test_power_down_and_strict_wake() -> None:
    rig = Rig()
    rig.ready()
    rig.pn.power_down()
    assert rig.chip.asleep and not rig.chip.rf_on
    assert rig.phone.deactivations == ["link_loss"]
    assert rig.pn.firmware_version() == (0x32, 1, 6, 7)  # the driver wakes it first
    assert rig.pn.resends == 0


def test_small_uart_ring_overflows_when_the_reader_is_late() -> None:
    # Why the ESP32 UART wants rxbuf >= 1024: an application busy for 30 ms during a 262-byte
    # reply loses bytes from a 256-byte ring. (The driver itself drains the UART every 1 ms.)
    for rxbuf, lost in ((256, True), (1024, False)):
        rig = Rig(rxbuf=rxbuf)
        rig.ready()
        assert rig.uart is not None
        frame = bytearray(300)
        rig.uart.write(frame[: build_frame(frame, 0xD4, 0x40, b"\x01", GET_600)])
        rig.clock.advance(0.2)
        assert (rig.uart.any() < 270) == lost and (rig.uart.overflow > 0) == lost


@pytest.mark.parametrize("seed", range(12))
def test_line_noise_gives_data_or_a_clean_error(seed: int) -> None:
    rig = Rig()
    rig.ready()
    rig.chip.faults = Faults(noise_out=0.004, noise_in=0.004, seed=seed)
    ok = errors = 0
    for k in range(8):
        try:
            data = rig.timed(rig.pn.data_exchange, GET_600, 1000)
        except PN532Error as e:
            assert e.code in ("timeout", "checksum", "no_ack", "target_lost", "rf_error", "bad_reply",
                              "error_frame", "bad_target", "app_error")
            errors += 1
        else:
            assert data == pattern_bytes(600) + b"\x90\x00"
            ok += 1
        assert rig.elapsed < 4.0
    assert ok >= 1
