"""nfcpy 1.0.4 (unmodified) against the emulator on a real pty.

nfcpy's `tty:` paths only look in /dev, so the device is built over its own
TTY transport (`nfc.clf.pn532.init(nfc.clf.transport.TTY(port))`) and handed
to a ContactlessFrontend. Its init needs extended frames (the 263-byte
Diagnose line test), SetSerialBaudrate with the host ACK (921600 on Linux),
SetParameters, RFConfiguration items 02/04/05/0A-0D and the field off. Sensing
needs NbTg=0 plus 0x26 in CIU_FIFOData when nobody is there; type 4A
activation runs ISO-DEP on the host through InCommunicateThru and the CIU
register file.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nfc_support import SELECT_ECHO
from vitale_tools.nfc_target import HcePhone, demo_phone, pattern_bytes
from vitale_tools.pn532_sim import PN532Emulator, PtyServer, RealClock

nfc = pytest.importorskip("nfc")
import nfc.clf  # noqa: E402
import nfc.clf.pn532  # noqa: E402
import nfc.clf.transport  # noqa: E402
import nfc.tag  # noqa: E402
import nfc.tag.tt4  # noqa: E402

Served = tuple[PN532Emulator, HcePhone, "nfc.ContactlessFrontend"]


@pytest.fixture
def served() -> Iterator[Served]:
    chip = PN532Emulator(RealClock())
    phone = demo_phone()
    with PtyServer(chip) as server:
        device = nfc.clf.pn532.init(nfc.clf.transport.TTY(server.port))
        device._path = "tty:" + server.port  # what ContactlessFrontend.open() would record
        clf = nfc.ContactlessFrontend()
        clf.device = device
        try:
            yield chip, phone, clf
        finally:
            clf.close()


def test_open_runs_the_whole_init(served: Served) -> None:
    chip, phone, clf = served
    assert clf.device.chipset_name == "PN532v1.6" and str(clf).endswith(" on tty:" + clf.device.path[4:])
    codes = [r.code for r in chip.records]
    assert codes[:4] == [0x02, 0x14, 0x10, 0x00]  # firmware, SAM, baud rate, Diagnose line test
    assert chip.baud == 921600  # switched after nfcpy's ACK
    assert chip.flags == 0x00 and chip.max_retries == [0x01, 0x00, 0x01]
    assert sorted(chip.analog) == [0x0A, 0x0B, 0x0C, 0x0D] and not chip.rf_on


def test_sense_nobody_then_the_phone(served: Served) -> None:
    chip, phone, clf = served
    assert clf.sense(nfc.clf.RemoteTarget("106A")) is None
    chip.place(phone)
    target = clf.sense(nfc.clf.RemoteTarget("106A"))
    assert target is not None
    assert bytes(target.sdd_res) == phone.uid  # no ATS glued to the UID (auto RATS is off)
    assert bytes(target.sel_res) == b"\x20" and bytes(target.sens_res) == b"\x04\x00"


def test_type4_activation_apdus_chaining_and_ndef(served: Served) -> None:
    chip, phone, clf = served
    chip.place(phone)
    target = clf.sense(nfc.clf.RemoteTarget("106A"))
    tag = nfc.tag.activate(clf, target)
    assert isinstance(tag, nfc.tag.tt4.Type4ATag)
    assert "MIU=253" in str(tag)  # FSC 256 from our ATS, FWI 7
    assert tag.transceive(SELECT_ECHO) == b"\x90\x00"
    # 256 + 2 bytes back: the card chains I-blocks, nfcpy acknowledges with R(ACK)
    assert tag.transceive(bytes.fromhex("00CA010000")) == pattern_bytes(256) + b"\x90\x00"
    # 600 bytes out: nfcpy chains I-blocks to the card (MIU 253)
    out = bytes.fromhex("00C30000000258") + pattern_bytes(600) + b"\x00\x00"
    assert tag.transceive(out) == pattern_bytes(600) + b"\x90\x00"
    # a slow app: the card asks for waiting time extensions, nfcpy answers them
    assert tag.transceive(bytes.fromhex("005A00C8")) == b"\x90\x00"
    assert tag.is_present
    # nfcpy's own NDEF discovery on the type 4 tag app
    assert tag.ndef is not None
    assert tag.ndef.records[0].uri == "https://vitale-reader.example/emulated-phone"
    thru = [r for r in chip.records if r.code == 0x42]
    assert len(thru) > 10 and all(r.status == 0 for r in thru)
    chip.remove()
    assert not tag.is_present


def test_connect_reader_loop(served: Served) -> None:
    chip, phone, clf = served
    chip.place(phone)
    seen = []

    def on_connect(tag: object) -> bool:
        seen.append(tag)
        return False

    tag = clf.connect(rdwr={"on-connect": on_connect, "iterations": 2, "interval": 0.05})
    assert tag is not None and seen and isinstance(seen[0], nfc.tag.tt4.Type4ATag)


def test_chipset_in_data_exchange_with_mi(served: Served) -> None:
    chip, phone, clf = served
    chip.place(phone)
    cs = clf.device.chipset
    cs.set_parameters(0x14)  # now the chip runs ISO-DEP itself
    cs.rf_configuration(0x05, b"\xff\x01\x01")
    rsp = cs.in_list_passive_target(1, 0, b"")
    assert bytes(rsp[4:8]) == phone.uid and bytes(rsp[8:]) == phone.ats
    assert cs.in_data_exchange(SELECT_ECHO, 1.0) == (b"\x90\x00", False)
    data, more = cs.in_data_exchange(bytes.fromhex("00CA025800025A"), 1.0)
    sizes = [len(data)]
    while more:
        piece, more = cs.in_data_exchange(b"", 1.0)
        data += piece
        sizes.append(len(piece))
    assert sizes == [262, 262, 78] and data == pattern_bytes(600) + b"\x90\x00"
    # host-side MI: a 400-byte extended ENVELOPE in two InDataExchange commands
    apdu = bytes.fromhex("00C30000000190") + pattern_bytes(400) + b"\x00\x00"
    assert cs.in_data_exchange(apdu[:262], 1.0, more=True) == (b"", False)
    data, more = cs.in_data_exchange(apdu[262:], 1.0)
    while more:
        piece, more = cs.in_data_exchange(b"", 1.0)
        data += piece
    assert data == pattern_bytes(400) + b"\x90\x00"
    chip.remove()
    with pytest.raises(nfc.clf.pn532.Chipset.Error) as e:
        cs.in_data_exchange(SELECT_ECHO, 1.0)
    assert e.value.errno == 0x01


def test_close_sequence_restores_the_baud_rate_and_sleeps() -> None:
    chip = PN532Emulator(RealClock())
    with PtyServer(chip) as server:
        device = nfc.clf.pn532.init(nfc.clf.transport.TTY(server.port))
        clf = nfc.ContactlessFrontend()
        clf.device = device
        assert chip.baud == 921600
        clf.close()
        assert chip.baud == 115200 and chip.asleep
        assert [r.code for r in chip.records][-2:] == [0x10, 0x16]
        # the emulator (not strict) lets nfcpy open it again, as it does after a power cycle
        again = nfc.clf.pn532.init(nfc.clf.transport.TTY(server.port))
        again.close()
