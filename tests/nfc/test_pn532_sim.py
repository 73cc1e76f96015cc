"""The PN532 emulator at the frame level: framing quirks, commands, register file, I2C, timing, card side."""

from __future__ import annotations

import pytest

from nfc_support import ECHO_AID, SELECT_ECHO, UID, Host, host, split_frames  # noqa: F401
from vitale_tools.nfc_target import (
    CardRemoved,
    EchoService,
    HcePhone,
    IsoDepPicc,
    Type4TagService,
    ats_params,
    demo_phone,
    fwt_seconds,
    pattern_bytes,
)
from vitale_tools.pn532_sim import (
    ACK,
    NACK,
    PN532Emulator,
    SimClock,
    air_time,
    build_frame,
    crc_a,
)

FW_REPLY = bytes.fromhex("D50332010607")


def test_firmware_version_exact_bytes(host: Host) -> None:
    host.write(bytes.fromhex("0000ff02fed4022a00"))
    host.clock.advance(0.1)
    assert host.chip.pop_ready() == ACK + bytes.fromhex("0000ff06fad50332010607e800")


def test_stray_wake_bytes_and_split_writes_are_ignored(host: Host) -> None:
    frame = build_frame(bytes.fromhex("D402"))
    host.write(b"\x55\x00\x00\x55")  # pn532pi writes this before every frame
    for b in frame:  # one byte per write, as pyserial may deliver it
        host.write(bytes((b,)))
    host.write(b"\x55\x55")
    assert host.read() == [b"ACK", FW_REPLY]
    assert host.command(0x02) == [b"ACK", FW_REPLY]


def test_bad_checksum_gets_no_ack_and_resync_follows(host: Host) -> None:
    bad = bytearray(build_frame(bytes.fromhex("D402")))
    bad[-2] ^= 1
    host.write(bytes(bad) + b"\x13\x37\x00\xff\x05" + build_frame(bytes.fromhex("D402")))
    assert host.read() == [b"ACK", FW_REPLY]
    assert host.chip.counters["bad_frames"] >= 1


def test_unknown_command_is_acked_then_error_frame(host: Host) -> None:
    assert host.command(0x60, b"\x01\x01\x10") == [b"ACK", b"ERR"]
    assert host.command(0x14) == [b"ACK", b"ERR"]  # SAMConfiguration without mode
    assert host.command(0x32, b"\x05\x01") == [b"ACK", b"ERR"]  # MaxRetries needs 3 bytes


def test_nack_resends_last_reply(host: Host) -> None:
    assert host.command(0x02) == [b"ACK", FW_REPLY]
    host.write(NACK)
    assert host.read() == [FW_REPLY]


def test_diagnose_line_test_echoes_an_extended_frame(host: Host) -> None:
    data = b"\x00" + bytes(i & 0xFF for i in range(262))
    host.write(build_frame(bytes((0xD4, 0x00)) + data))
    host.clock.advance(0.2)
    raw = host.chip.pop_ready()
    assert raw[6:11] == b"\x00\x00\xff\xff\xff"  # the reply is extended too
    assert split_frames(raw) == [b"ACK", b"\xd5\x01" + data]


def test_poll_waits_silently_with_infinite_retries_and_a_new_command_replaces_it() -> None:
    clock = SimClock()
    chip = PN532Emulator(clock)
    h = Host(chip, clock)
    assert h.command(0x4A, b"\x01\x00", wait=2.0) == [b"ACK"]  # Adafruit's quirk: no "0 targets"
    assert h.command(0x4A, b"\x01\x00", wait=1.0) == [b"ACK"]
    phone = demo_phone(UID)
    chip.place(phone)
    got = h.read(0.1)
    assert got == [bytes.fromhex("D54B0101000420") + bytes((4,)) + UID + phone.ats]


def test_host_ack_aborts_the_pending_poll() -> None:
    clock = SimClock()
    chip = PN532Emulator(clock)
    h = Host(chip, clock)
    assert h.command(0x4A, b"\x01\x00") == [b"ACK"]
    h.write(ACK)
    chip.place(demo_phone(UID))
    assert h.read() == []
    assert h.command(0x02) == [b"ACK", FW_REPLY]


def test_finite_retries_answer_no_target_and_leave_sens_req_in_fifo() -> None:
    clock = SimClock()
    chip = PN532Emulator(clock)
    h = Host(chip, clock)
    assert h.command(0x32, b"\x05\x01\x00\x01") == [b"ACK", b"\xd5\x33"]
    assert h.command(0x4A, b"\x01\x00") == [b"ACK", b"\xd5\x4b\x00"]
    assert h.command(0x06, b"\x63\x39\x63\x04") == [b"ACK", b"\xd5\x07\x26\x83"]  # FIFO 0x26, field on
    assert h.command(0x4A, b"\x01\x03\x00") == [b"ACK", b"\xd5\x4b\x00"]  # type B: nobody


def test_no_ats_when_automatic_rats_is_off(host: Host) -> None:
    # The bug the fact sheet warns about: an appended ATS corrupts nfcpy's UID.
    assert host.command(0x12, b"\x00") == [b"ACK", b"\xd5\x13"]
    assert host.command(0x4A, b"\x01\x00") == [b"ACK", bytes.fromhex("D54B0101000420") + b"\x04" + UID]
    assert host.command(0x12, b"\x14") == [b"ACK", b"\xd5\x13"]
    reply = host.command(0x4A, b"\x01\x00")[1]
    assert reply.endswith(UID + bytes.fromhex("0578807002"))


def test_poll_for_a_specific_uid(host: Host) -> None:
    host.chip.max_retries = [0xFF, 0x01, 0x01]
    assert host.command(0x4A, b"\x01\x00" + UID)[1][2] == 1
    assert host.command(0x4A, b"\x01\x00\x08\x00\x00\x00")[1] == b"\xd5\x4b\x00"


def test_register_file_and_general_status(host: Host) -> None:
    assert host.command(0x08, bytes.fromhex("630280 630380 630540")) == [b"ACK", b"\xd5\x09"]
    assert host.command(0x06, bytes.fromhex("630263036305")) == [b"ACK", b"\xd5\x07\x80\x80\x40"]
    assert host.command(0x06, bytes.fromhex("6302 63")) == [b"ACK", b"ERR"]
    assert host.command(0x04) == [b"ACK", bytes.fromhex("D505 00 00 00 00")]
    host.command(0x4A, b"\x01\x00")
    assert host.command(0x04) == [b"ACK", bytes.fromhex("D505 00 01 01 01000000 00")]


def test_in_data_exchange_select_and_bad_target(host: Host) -> None:
    host.command(0x4A, b"\x01\x00")
    assert host.command(0x40, b"\x01" + SELECT_ECHO) == [b"ACK", b"\xd5\x41\x00\x90\x00"]
    assert host.command(0x40, b"\x02" + SELECT_ECHO) == [b"ACK", b"\xd5\x41\x27"]
    assert host.command(0x52, b"\x01") == [b"ACK", b"\xd5\x53\x00"]
    assert host.command(0x40, b"\x01" + SELECT_ECHO) == [b"ACK", b"\xd5\x41\x27"]
    assert host.command(0x52, b"\x01") == [b"ACK", b"\xd5\x53\x27"]


def test_in_data_exchange_mi_both_ways(host: Host) -> None:
    host.command(0x4A, b"\x01\x00")
    host.command(0x40, b"\x01" + SELECT_ECHO)
    # Host MI: an extended ENVELOPE of 400 bytes in two pieces
    apdu = bytes.fromhex("00C30000000190") + pattern_bytes(400) + b"\x00\x00"
    assert host.command(0x40, b"\x41" + apdu[:262]) == [b"ACK", b"\xd5\x41\x00"]
    got = host.command(0x40, b"\x01" + apdu[262:])
    assert got[1][:3] == b"\xd5\x41\x40" and len(got[1]) == 3 + 262
    data = got[1][3:]
    got = host.command(0x40, b"\x01")
    assert got[1][:3] == b"\xd5\x41\x00"
    data += got[1][3:]
    assert data == pattern_bytes(400) + b"\x90\x00"


def test_deselect_select_and_release_reach_the_phone(host: Host) -> None:
    phone = host.chip.card
    assert isinstance(phone, HcePhone)
    host.command(0x4A, b"\x01\x00")
    host.command(0x40, b"\x01" + SELECT_ECHO)
    assert host.command(0x44, b"\x01") == [b"ACK", b"\xd5\x45\x00"]
    assert phone.deactivations == ["link_loss"]
    assert host.command(0x40, b"\x01" + SELECT_ECHO) == [b"ACK", b"\xd5\x41\x27"]
    assert host.command(0x54, b"\x01") == [b"ACK", b"\xd5\x55\x00"]
    assert host.command(0x40, b"\x01" + SELECT_ECHO) == [b"ACK", b"\xd5\x41\x00\x90\x00"]
    host.command(0x32, b"\x01\x00")  # field off drops the link
    assert phone.deactivations == ["link_loss", "link_loss"]


def test_communicate_thru_with_and_without_crc(host: Host) -> None:
    host.command(0x12, b"\x00")
    host.command(0x4A, b"\x01\x00")
    assert host.command(0x42, b"\xe0\x80") == [b"ACK", b"\xd5\x43\x00" + bytes.fromhex("0578807002")]
    host.command(0x08, bytes.fromhex("630200 630300"))  # CRC off both ways: the host handles CRC_A
    block = b"\x02" + SELECT_ECHO
    assert host.command(0x42, block) == [b"ACK", b"\xd5\x43\x01"]  # no CRC: the card ignores it
    got = host.command(0x42, block + crc_a(block))
    assert got[1] == b"\xd5\x43\x00\x02\x90\x00" + crc_a(b"\x02\x90\x00")


def test_set_serial_baudrate_switches_after_the_host_ack(host: Host) -> None:
    assert host.command(0x10, b"\x07") == [b"ACK", b"\xd5\x11"]
    assert host.chip.baud == 115200
    host.write(ACK)
    assert host.chip.baud == 921600
    assert host.command(0x02) == [b"ACK", FW_REPLY]  # the host now writes at 921600 too
    bt = 10 / 921600
    assert host.chip.records[-1].duration_s == pytest.approx(0.0005 + 6 * bt + 0.0005 + 13 * bt, rel=0.01)


def test_power_down_then_strict_wake_needs_0x55_and_time() -> None:
    clock = SimClock()
    chip = PN532Emulator(clock, strict_wake=True)
    h = Host(chip, clock)
    assert h.command(0x02) == []  # LowVbat at power-on: no 0x55, nothing heard
    h.write(b"\x55" + build_frame(bytes.fromhex("D402")))  # too soon after the 0x55
    assert h.read() == []
    h.write(b"\x55\x55" + bytes(14))  # the wake-up sequence of the driver
    assert h.command(0x02) == [b"ACK", FW_REPLY]
    assert h.command(0x16, b"\xb0\x00") == [b"ACK", b"\xd5\x17\x00"]
    assert h.command(0x02) == []
    h.write(b"\x55\x55" + bytes(15))  # Adafruit's 17 bytes
    assert h.command(0x14, b"\x01\x14\x01") == [b"ACK", b"\xd5\x15"]


def test_i2c_status_byte_semantics() -> None:
    clock = SimClock()
    chip = PN532Emulator(clock, interface="i2c")
    chip.i2c_write(build_frame(bytes.fromhex("D402")))
    assert chip.i2c_read(1) == b"\x00"  # busy until the ACK is ready
    clock.advance(0.01)
    assert chip.i2c_read(1) == b"\x01"  # a status-only read does not consume
    assert chip.i2c_read(7) == b"\x01" + ACK
    assert chip.i2c_read(5) == b"\x01\x00\x00\xff\x06"  # a short read leaves the frame
    full = chip.i2c_read(20)
    assert full[:14] == b"\x01" + bytes.fromhex("0000ff06fad50332010607e800") and full[14:] == bytes(6)
    assert chip.i2c_read(3) == b"\x00\x00\x00"


def test_timing_model_uart_and_rf() -> None:
    clock = SimClock()
    chip = PN532Emulator(clock, demo_phone(UID, latency_s=0.004))
    h = Host(chip, clock)
    h.command(0x02)
    rec = chip.records[-1]
    bt = 10 / 115200
    # ACK delay + ACK on the wire, then the 13-byte reply
    assert rec.duration_s == pytest.approx(0.0005 + 6 * bt + 0.0005 + 13 * bt, rel=0.01)
    assert rec.rf_s == 0
    h.command(0x4A, b"\x01\x00")
    h.command(0x40, b"\x01" + SELECT_ECHO)
    rec = chip.records[-1]
    air = air_time(1 + len(SELECT_ECHO) + 2) + air_time(1 + 2 + 2)
    assert rec.rf_s == pytest.approx(air + 0.004 + 0.0002 + 0.0003, rel=0.02)
    h.command(0x40, b"\x01" + bytes.fromhex("00CA0258") + b"\x00")  # 256 bytes back in 5 blocks of 61
    rec = chip.records[-1]
    assert 0.020 < rec.rf_s < 0.035  # 106 kbps: about 85 us per byte, plus per-block costs
    assert rec.duration_s is not None and rec.duration_s > rec.rf_s + 260 * bt


def test_slow_app_gets_waiting_time_extensions(host: Host) -> None:
    host.command(0x4A, b"\x01\x00")
    host.command(0x40, b"\x01" + SELECT_ECHO)
    frames0 = host.chip.counters["rf_frames"]
    got = host.command(0x40, b"\x01" + bytes.fromhex("005A01F4"), wait=1.0)  # 500 ms in the app
    assert got == [b"ACK", b"\xd5\x41\x00\x90\x00"]
    rec = host.chip.records[-1]
    assert rec.rf_s > 0.5
    assert host.chip.counters["rf_frames"] - frames0 >= 2  # the I-block and an S(WTX) answer at least


def test_phone_leaving_mid_exchange_times_out_with_status_01(host: Host) -> None:
    host.command(0x4A, b"\x01\x00")
    host.command(0x40, b"\x01" + SELECT_ECHO)
    host.chip.faults.remove_after_frames = 2
    got = host.command(0x40, b"\x01" + bytes.fromhex("00CA025800"))
    assert got == [b"ACK", b"\xd5\x41\x01"]
    assert host.chip.card is None


def test_card_removed_exception_from_the_app() -> None:
    class Leaving(EchoService):
        def process_apdu(self, apdu: bytes) -> bytes:
            if apdu[1] == 0xCA:
                raise CardRemoved
            return super().process_apdu(apdu)

    clock = SimClock()
    chip = PN532Emulator(clock, HcePhone({ECHO_AID: Leaving()}, UID))
    h = Host(chip, clock)
    h.command(0x4A, b"\x01\x00")
    assert h.command(0x40, b"\x01" + SELECT_ECHO)[1] == b"\xd5\x41\x00\x90\x00"
    assert h.command(0x40, b"\x01" + bytes.fromhex("00CA000400"))[1] == b"\xd5\x41\x01"


# -- card side -----------------------------------------------------------------


def _active_picc(phone: HcePhone | None = None) -> IsoDepPicc:
    picc = IsoDepPicc(phone or demo_phone(UID))
    picc.power_on()
    assert picc.select()
    ats, _ = picc.frame(b"\xe0\x80")
    assert ats == bytes.fromhex("0578807002")
    return picc


def test_picc_block_numbers_chaining_and_presence_check() -> None:
    picc = _active_picc()
    assert picc.frame(b"\x02" + SELECT_ECHO)[0] == b"\x02\x90\x00"
    assert picc.frame(b"\xb2")[0] == b"\x02\x90\x00"  # R(NAK) with its number: the answer again
    assert picc.frame(b"\xb3")[0] == b"\xa2"  # R(NAK) with the next number (presence check): R(ACK)
    # command chaining from the reader: R(ACK) per piece
    apdu = bytes.fromhex("00C30000") + bytes((100,)) + pattern_bytes(100) + b"\x00"
    assert picc.frame(b"\x13" + apdu[:50])[0] == b"\xa3"
    reply, _ = picc.frame(b"\x02" + apdu[50:])
    assert reply is not None and reply[0] == 0x02 and reply[1:] == pattern_bytes(100) + b"\x90\x00"


def test_picc_chains_long_answers_by_fsd() -> None:
    picc = IsoDepPicc(demo_phone(UID))
    picc.power_on()
    picc.select()
    picc.frame(b"\xe0\x50")  # FSD 64
    picc.frame(b"\x02" + SELECT_ECHO)
    first, _ = picc.frame(b"\x03" + bytes.fromhex("00CA010000"))
    assert first is not None and first[0] == 0x13 and len(first) == 62
    got = bytearray(first[1:])
    pcb = 0xA2
    for _ in range(10):
        block, _ = picc.frame(bytes((pcb,)))
        assert block is not None
        got += block[1:]
        if not block[0] & 0x10:
            break
        pcb ^= 1
    assert bytes(got) == pattern_bytes(256) + b"\x90\x00"


def test_picc_ignores_blocks_before_rats_and_after_deselect() -> None:
    picc = IsoDepPicc(demo_phone(UID))
    picc.power_on()
    picc.select()
    assert picc.frame(b"\x02" + SELECT_ECHO)[0] is None
    picc.frame(b"\xe0\x80")
    assert picc.frame(b"\xc2")[0] == b"\xc2"
    assert picc.frame(b"\x02" + SELECT_ECHO)[0] is None
    assert picc.frame(b"\xe0\x80")[0] is None  # HALT until selected again


def test_picc_wtx_rounds_cover_the_latency() -> None:
    picc = _active_picc()
    picc.frame(b"\x02" + SELECT_ECHO)
    fwt = fwt_seconds(7)
    block, delay = picc.frame(b"\x03" + bytes.fromhex("005A0190"))  # 400 ms
    total = delay
    rounds = 0
    while block is not None and block[0] == 0xF2:
        assert delay < fwt
        m = block[1]
        block, delay = picc.frame(block)
        assert delay < m * fwt
        total += delay
        rounds += 1
    assert block == b"\x03\x90\x00" and rounds >= 1 and total == pytest.approx(0.4 + 0.0002, rel=0.01)


def test_hce_routing() -> None:
    phone = demo_phone(UID, extended_apdus=False)
    assert phone.process_apdu(bytes.fromhex("00B000000F")) == b"\x6f\x00"  # before any SELECT
    assert phone.process_apdu(bytes.fromhex("00A4040007A0000002480400")) == b"\x6a\x82"
    assert phone.process_apdu(bytes.fromhex("00A404000F") + HcePhone.ANDROID_AID) == bytes.fromhex("148100009000")
    assert phone.process_apdu(SELECT_ECHO) == b"\x90\x00"
    assert phone.process_apdu(bytes.fromhex("00CA0000000005")) == b"\x67\x00"  # extended refused
    assert phone.process_apdu(bytes.fromhex("00CA000305")) == pattern_bytes(3) + b"\x90\x00"
    assert phone.process_apdu(bytes.fromhex("00A4040007D2760000850101")) == b"\x90\x00"
    echo = phone.services[ECHO_AID]
    assert isinstance(echo, EchoService) and echo.deactivations == ["deselected"]


def test_type4_tag_files() -> None:
    t4 = Type4TagService(b"\xd1\x01\x04U\x00abc", mle=0x3B)
    assert t4.process_apdu(bytes.fromhex("00A4040007D276000085010100")) == b"\x90\x00"
    assert t4.process_apdu(bytes.fromhex("00A4000C02E103")) == b"\x90\x00"
    cc = t4.process_apdu(bytes.fromhex("00B000000F"))
    assert cc[:7] == bytes.fromhex("000F20003B003B") and cc[-2:] == b"\x90\x00"
    assert t4.process_apdu(bytes.fromhex("00A4000C02E104")) == b"\x90\x00"
    assert t4.process_apdu(bytes.fromhex("00B0000002")) == b"\x00\x08\x90\x00"
    assert t4.process_apdu(bytes.fromhex("00D6000001FF")) == b"\x69\x82"
    assert t4.process_apdu(bytes.fromhex("00A4000C02E105")) == b"\x6a\x82"


def test_ats_params_and_crc() -> None:
    assert ats_params(bytes.fromhex("0578807002")) == (256, 7, True)
    assert ats_params(b"\x01") == (32, 4, False)
    assert crc_a(b"\x00\x00") == b"\xa0\x1e"  # ISO 14443-3 annex example
    assert crc_a(b"\x50\x00") == b"\x57\xcd"  # HLTA as every trace shows it
    assert crc_a(b"\xe0\x80") == b"\x31\x73"  # RATS FSD 256


def test_uid_changes_per_tap_unless_fixed() -> None:
    phone = demo_phone()
    first = phone.uid
    assert first[0] == 0x08 and len(first) == 4
    uids = set()
    for _ in range(5):
        phone.on_field()
        uids.add(phone.uid)
    assert len(uids) > 1
    fixed = demo_phone(UID)
    fixed.on_field()
    assert fixed.uid == UID
    with pytest.raises(ValueError):
        demo_phone(b"\x01\x02")
