"""`vitale flash`: argument handling, image-chip detection and refusals before any write.

Images are built with esptool's own image writer (esptool.bin_image) and parsed
both by the command and by esptool's LoadFirmwareImage. Two hardware stand-ins:

* `FakeTool`: a recording fake at the esptool API boundary (the `Esptool`
  slice of esptool.cmds) whose chip objects are real esptool target classes,
  so chip names, image chip ids and bootloader offsets are esptool's;
* `FakeRom`: a serial port object with a minimal ESP ROM bootloader behind it
  (SLIP frames: SYNC, READ_REG, GET_SECURITY_INFO, FLASH_BEGIN/DATA, SPI_FLASH_MD5,
  a flash array). esptool's real detect_chip, write_flash, verify_flash and
  reset_chip run against it; only the stub upload is skipped (the ROM path is used).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from esptool.bin_image import (  # type: ignore[import-untyped]
    ESP32FirmwareImage, ESP32S3FirmwareImage, ImageSegment, LoadFirmwareImage)
from esptool.targets import ESP32ROM, ESP32S3ROM  # type: ignore[import-untyped]
from esptool import cmds  # type: ignore[import-untyped]
from esptool.util import FatalError  # type: ignore[import-untyped]

from vitale_host.cli import build_parser
from vitale_host.commands import flash

ROOT = Path(__file__).resolve().parents[2]


def make_image(tmp_path: Path, chip: str, pad_to: int = 0) -> Path:
    """A real ESP image for `chip`, written by esptool, optionally padded to pad_to bytes."""
    img = {"esp32": ESP32FirmwareImage, "esp32s3": ESP32S3FirmwareImage}[chip]()
    img.entrypoint = 0x40080000
    seg = ImageSegment(0x3FC88000, bytes(range(64)))
    seg.name = ".dram0.data"
    img.segments = [seg]
    path = tmp_path / f"{chip}-{pad_to}.bin"
    img.save(str(path))
    if pad_to:
        data = path.read_bytes()
        path.write_bytes(data + b"\xff" * (pad_to - len(data)))
    return path


class FakePort:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def fake_chip(cls: type) -> Any:
    """A real esptool target class whose serial side is replaced (no port is opened)."""

    class Fake(cls):  # type: ignore[misc]
        def __init__(self) -> None:  # no super(): ESPLoader.__init__ opens the port
            self._port = FakePort()
            self.bauds: list[int] = []

        def change_baud(self, baud: int) -> None:
            self.bauds.append(baud)

    return Fake()


class FakeTool(flash.Esptool):
    """Records every esptool call; never touches a serial port."""

    def __init__(self, chip_cls: type = ESP32ROM, flash_size: str | None = "4MB",
                 fail: str | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.esp = fake_chip(chip_cls)
        self.flash_size = flash_size
        self.fail = fail

        def rec(name: str, result: Any = None) -> Any:
            def f(*a: Any, **kw: Any) -> Any:
                self.calls.append((name, a[1:] if a and a[0] is self.esp else a))
                if name == self.fail:
                    raise FatalError(f"{name} failed")
                return result
            return f

        self.detect_chip = rec("detect_chip", self.esp)
        self.run_stub = rec("run_stub", self.esp)
        self.detect_flash_size = rec("detect_flash_size", flash_size)
        self.erase_flash = rec("erase_flash")
        self.write_flash = rec("write_flash")
        self.verify_flash = rec("verify_flash")
        self.reset_chip = rec("reset_chip")

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeRom:
    """A serial port with a minimal ESP ROM bootloader and a flash behind it."""

    name = port = "fakerom"
    is_open = True

    def __init__(self, chip_id: int | None, magic: int = 0, flash_size: int = 4 << 20) -> None:
        self.chip_id, self.magic = chip_id, magic  # chip_id None: ESP32 ROM (no security info)
        self.baudrate, self.timeout, self.write_timeout = flash.ROM_BAUD, 3.0, None
        self.dtr = self.rts = False
        self.ops: list[int] = []
        self.flash = bytearray(b"\xff" * flash_size)
        self._in, self._out = bytearray(), bytearray()
        self._begin = (0, 0)  # (address, block size) of the current FLASH_BEGIN

    def isOpen(self) -> bool:  # noqa: N802 (pyserial API)
        return True

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def setDTR(self, v: bool) -> None:  # noqa: N802
        self.dtr = v

    def setRTS(self, v: bool) -> None:  # noqa: N802
        self.rts = v

    def flushInput(self) -> None:  # noqa: N802
        pass

    reset_input_buffer = flushOutput = reset_output_buffer = flushInput

    def inWaiting(self) -> int:  # noqa: N802
        return len(self._out)

    @property
    def in_waiting(self) -> int:
        return len(self._out)

    def read(self, n: int = 1) -> bytes:
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def write(self, data: bytes) -> int:
        self._in += data
        while (start := self._in.find(0xC0)) >= 0 and (end := self._in.find(0xC0, start + 1)) >= 0:
            frame = bytes(self._in[start + 1:end]).replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
            del self._in[:end + 1]
            if len(frame) >= 8:
                self._answer(frame)
        return len(data)

    def _reply(self, op: int, val: int = 0, data: bytes = b"", status: bytes = b"\0\0\0\0") -> None:
        pkt = struct.pack("<BBHI", 1, op, len(data + status), val) + data + status
        self._out += b"\xc0" + pkt.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"

    def _answer(self, frame: bytes) -> None:
        _, op, n, _ = struct.unpack("<BBHI", frame[:8])
        body = frame[8:8 + n]
        self.ops.append(op)
        if op == 0x08:  # SYNC: the ROM answers it eight times
            for _ in range(8):
                self._reply(op, 0x12345678)
        elif op == 0x0A:  # READ_REG: the chip-detect magic, 0 elsewhere
            self._reply(op, self.magic if struct.unpack("<I", body[:4])[0] == 0x40001000 else 0)
        elif op == 0x14 and self.chip_id is None:  # GET_SECURITY_INFO unsupported (ESP32 ROM)
            self._reply(op, 0, b"", b"\x01\x05")
        elif op == 0x14:
            self._reply(op, 0, struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, self.chip_id, 0))
        elif op == 0x02:  # FLASH_BEGIN: erase size, blocks, block size, offset
            _, _, block, addr = struct.unpack("<IIII", body[:16])
            self._begin = (addr, block)
            self._reply(op)
        elif op == 0x03:  # FLASH_DATA: size, sequence, 0, 0, data
            size, seq = struct.unpack("<II", body[:8])
            at = self._begin[0] + seq * self._begin[1]
            self.flash[at:at + size] = body[16:16 + size]
            self._reply(op)
        elif op == 0x13:  # SPI_FLASH_MD5: the ROM answers in hex
            addr, size = struct.unpack("<II", body[:8])
            self._reply(op, 0, hashlib.md5(bytes(self.flash[addr:addr + size])).hexdigest().encode())
        else:  # register writes, SPI setup, baud change, flash end: accepted
            self._reply(op)


class RomTool(flash.Esptool):
    """esptool's real library functions talking to a FakeRom (stub upload skipped)."""

    def __init__(self, rom: FakeRom) -> None:
        super().__init__()
        self.rom = rom
        self.detect_chip = lambda port, baud: cmds.detect_chip(rom, baud, connect_mode="no-reset")
        self.run_stub = lambda esp: esp


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_image_chip_from_esptool_built_headers(tmp_path: Path) -> None:
    for chip, chip_id in (("esp32", 0), ("esp32s3", 9)):
        data = make_image(tmp_path, chip).read_bytes()
        assert flash.image_chip(data) == chip
        assert LoadFirmwareImage(chip, data).chip_id == chip_id  # esptool agrees on the header


def test_image_chip_rejects_bad_headers(tmp_path: Path) -> None:
    good = make_image(tmp_path, "esp32").read_bytes()
    bad = {
        "short": good[:10],
        "magic": b"\x00" + good[1:],
        "chip id": good[:12] + (0x7777).to_bytes(2, "little") + good[14:],
        "empty": b"",
    }
    for what, data in bad.items():
        with pytest.raises(flash.FlashError) as e:
            flash.image_chip(data)
        assert e.value.code == "bad_image", what


def test_default_offsets_per_chip_match_board_files() -> None:
    assert flash.default_offset("esp32") == 0x1000
    assert flash.default_offset("esp32s3") == 0x0
    boards = sorted((ROOT / "boards").glob("*.json"))
    checked = 0
    for path in boards:
        if path.name == "schema.json":
            continue
        board = json.loads(path.read_text(encoding="utf-8"))
        assert flash.default_offset(board["chip"]) == int(board["firmware"]["flash_offset"], 0), path.name
        checked += 1
    assert checked >= 2
    with pytest.raises(flash.FlashError):
        flash.default_offset("esp9000")


def test_argument_parsing() -> None:
    a = parse("--port", "/dev/ttyUSB0", "flash", "fw.bin", "--board", "ai-thinker-esp32-cam", "--erase",
              "--baud", "921600", "--offset", "0x1000", "--yes", "--dry-run")
    assert (a.port, a.image, a.board, a.erase, a.baud, a.offset, a.yes, a.dry_run) == (
        "/dev/ttyUSB0", Path("fw.bin"), "ai-thinker-esp32-cam", True, 921600, 0x1000, True, True)
    d = parse("flash", "fw.bin")
    assert (d.port, d.board, d.erase, d.baud, d.offset, d.yes, d.dry_run) == (
        None, None, False, flash.DEFAULT_BAUD, None, False, False)
    for argv in (["flash"], ["flash", "fw.bin", "--offset", "zero"], ["flash", "fw.bin", "--baud", "fast"]):
        with pytest.raises(SystemExit) as e:
            parse(*argv)
        assert e.value.code == 2


def test_happy_path_order_offset_and_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for chip, cls, offset in (("esp32", ESP32ROM, 0x1000), ("esp32s3", ESP32S3ROM, 0x0)):
        img = make_image(tmp_path, chip)
        tool = FakeTool(cls)
        assert flash.run(parse("--port", "/dev/x", "flash", str(img), "--yes", "--erase"), tool) == 0
        assert tool.names() == ["detect_chip", "run_stub", "detect_flash_size", "erase_flash",
                                "write_flash", "verify_flash", "reset_chip"]
        assert tool.calls[0][1] == ("/dev/x", flash.ROM_BAUD)
        assert tool.calls[4][1] == ([(offset, img.read_bytes())],)
        assert tool.calls[5][1] == ([(offset, img.read_bytes())],)
        assert tool.esp.bauds == [flash.DEFAULT_BAUD]
        assert tool.esp._port.closed
    assert "flashed and verified" in capsys.readouterr().out


def test_no_erase_and_offset_override(tmp_path: Path) -> None:
    img = make_image(tmp_path, "esp32")
    tool = FakeTool()
    assert flash.run(parse("--port", "p", "flash", str(img), "-y", "--offset", "0x10000", "--baud", "115200"), tool) == 0
    assert "erase_flash" not in tool.names()
    assert tool.calls[3] == ("write_flash", ([(0x10000, img.read_bytes())],))
    assert tool.esp.bauds == []  # already at the ROM baud rate


def test_wrong_chip_detected_refused_before_any_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = make_image(tmp_path, "esp32s3")
    tool = FakeTool(ESP32ROM)
    assert flash.run(parse("--port", "p", "flash", str(img), "--yes", "--erase"), tool) == 1
    assert tool.names() == ["detect_chip"]
    assert "wrong_chip: image is for ESP32-S3, board is ESP32" in capsys.readouterr().err
    assert tool.esp._port.closed


def test_wrong_chip_for_board_refused_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = make_image(tmp_path, "esp32")
    tool = FakeTool(ESP32ROM)
    code = flash.run(parse("--port", "p", "flash", str(img), "--board", "freenove-esp32-s3-wroom-cam", "-y"), tool)
    assert code == 1 and tool.calls == []
    assert "wrong_chip: image is for ESP32, board freenove-esp32-s3-wroom-cam is ESP32-S3" in capsys.readouterr().err


def test_board_checks_offset_and_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = make_image(tmp_path, "esp32")
    tool = FakeTool()
    a = parse("--port", "p", "flash", str(img), "--board", "ai-thinker-esp32-cam", "-y", "--offset", "0x0")
    assert flash.run(a, tool) == 1 and tool.calls == []
    assert "wrong_offset" in capsys.readouterr().err
    big = make_image(tmp_path, "esp32", pad_to=4 << 20)
    assert flash.run(parse("--port", "p", "flash", str(big), "--board", "ai-thinker-esp32-cam", "-y"), tool) == 1
    assert tool.calls == [] and "too_big" in capsys.readouterr().err
    assert flash.run(parse("--port", "p", "flash", str(img), "--board", "no-such-board"), tool) == 2
    assert flash.run(parse("--port", "p", "flash", str(img), "--board", "ai-thinker-esp32-cam", "-y"), tool) == 0


def test_image_too_big_for_detected_flash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = make_image(tmp_path, "esp32s3", pad_to=(2 << 20) + 1)
    tool = FakeTool(ESP32S3ROM, flash_size="2MB")
    assert flash.run(parse("--port", "p", "flash", str(img), "-y"), tool) == 1
    assert "write_flash" not in tool.names() and "too_big" in capsys.readouterr().err
    unknown = FakeTool(ESP32S3ROM, flash_size=None)  # size unknown: no size refusal
    assert flash.run(parse("--port", "p", "flash", str(img), "-y"), unknown) == 0


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = make_image(tmp_path, "esp32")
    tool = FakeTool()
    assert flash.run(parse("--port", "p", "flash", str(img), "--dry-run", "--erase"), tool) == 0
    assert tool.names() == ["detect_chip", "run_stub", "detect_flash_size"]
    assert "dry run" in capsys.readouterr().out


def test_confirmation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = make_image(tmp_path, "esp32")
    a = parse("--port", "p", "flash", str(img))
    tool = FakeTool()
    with pytest.raises(flash.FlashError) as e:
        flash.flash(flash.make_plan(a), "p", a, tool, confirm=lambda q: False)
    assert e.value.code == "cancelled" and "write_flash" not in tool.names()
    tool = FakeTool()
    asked: list[str] = []

    def yes(question: str) -> bool:
        asked.append(question)
        return True

    assert flash.flash(flash.make_plan(a), "p", a, tool, confirm=yes) == 0
    assert "0x1000" in asked[0] and "write_flash" in tool.names()
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    tool = FakeTool()
    assert flash.run(a, tool) == 2 and "write_flash" not in tool.names()  # no terminal and no --yes


def test_errors_and_port_autodetection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert flash.run(parse("--port", "p", "flash", str(tmp_path / "missing.bin")), FakeTool()) == 2
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"MZ" + bytes(100))
    assert flash.run(parse("--port", "p", "flash", str(junk)), FakeTool()) == 1
    assert "bad_image" in capsys.readouterr().err
    img = make_image(tmp_path, "esp32")
    tool = FakeTool(fail="write_flash")
    assert flash.run(parse("--port", "p", "flash", str(img), "-y"), tool) == 1
    assert "esptool: write_flash failed" in capsys.readouterr().err and "verify_flash" not in tool.names()
    monkeypatch.setattr("vitale_host.transport.auto_port", lambda: "/dev/auto")
    tool = FakeTool()
    assert flash.run(parse("flash", str(img), "--dry-run"), tool) == 0
    assert tool.calls[0][1][0] == "/dev/auto"


def test_real_esptool_writes_and_verifies_at_the_chip_offset(tmp_path: Path) -> None:
    img = make_image(tmp_path, "esp32", pad_to=20000)
    rom = FakeRom(None, magic=ESP32ROM.MAGIC_VALUE)
    assert flash.run(parse("--port", "p", "flash", str(img), "-y", "--baud", "921600"), RomTool(rom)) == 0
    data = img.read_bytes()
    assert bytes(rom.flash[0x1000:0x1000 + len(data)]) == data
    assert rom.flash[:0x1000] == b"\xff" * 0x1000 and rom.flash[0x1000 + len(data)] == 0xFF
    assert rom.baudrate == 921600 and 0x13 in rom.ops  # baud switched, MD5 verified
    rom = FakeRom(9)  # ESP32-S3 ROM: identified through GET_SECURITY_INFO
    s3 = make_image(tmp_path, "esp32s3", pad_to=5000)
    assert flash.run(parse("--port", "p", "flash", str(s3), "-y"), RomTool(rom)) == 0
    assert bytes(rom.flash[:5000]) == s3.read_bytes()


def test_real_esptool_wrong_chip_refused_before_any_write(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    for image_chip, rom, board in (("esp32s3", FakeRom(None, magic=ESP32ROM.MAGIC_VALUE), "ESP32"),
                                   ("esp32", FakeRom(9), "ESP32-S3")):
        img = make_image(tmp_path, image_chip)
        assert flash.run(parse("--port", "p", "flash", str(img), "-y", "--erase"), RomTool(rom)) == 1
        assert f"wrong_chip: image is for {flash.chip_name(image_chip)}, board is {board}" in capsys.readouterr().err
        assert not {0x02, 0x03, 0xD0} & set(rom.ops)  # no FLASH_BEGIN, FLASH_DATA or ERASE_FLASH
        assert rom.flash == b"\xff" * len(rom.flash)


def test_real_esptool_verify_catches_a_bad_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class FlakyRom(FakeRom):
        def _answer(self, frame: bytes) -> None:
            if frame[1] == 0x13:  # before every MD5: one byte did not keep its value
                self.flash[0x1000 + 7999] = 0x00  # last padding byte, 0xFF in the image
            super()._answer(frame)

    img = make_image(tmp_path, "esp32", pad_to=8000)
    rom = FlakyRom(None, magic=ESP32ROM.MAGIC_VALUE)
    assert flash.run(parse("--port", "p", "flash", str(img), "-y"), RomTool(rom)) == 1
    err = capsys.readouterr().err
    assert "esptool:" in err and "MD5" in err, err


def test_real_esptool_erase_comes_before_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = make_image(tmp_path, "esp32s3", pad_to=3000)
    rom = FakeRom(9)
    rom.flash[0x300000:0x300004] = b"old!"  # a previous firmware's data
    assert flash.run(parse("--port", "p", "flash", str(img), "-y"), RomTool(rom)) == 0
    assert bytes(rom.flash[:3000]) == img.read_bytes() and bytes(rom.flash[0x300000:0x300004]) == b"old!"
    # esptool erases the whole chip only through the stub (which `vitale flash` always loads and
    # RomTool skips): the ROM-only path must fail at the erase, before anything is written.
    rom = FakeRom(9)
    assert flash.run(parse("--port", "p", "flash", str(img), "-y", "--erase"), RomTool(rom)) == 1
    assert "does not support function erase_flash" in capsys.readouterr().err
    assert 0x02 not in rom.ops and rom.flash == b"\xff" * len(rom.flash)


def test_esptool_pin_and_missing_esptool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert flash.ESPTOOL_PIN == f"esptool=={version('esptool')}"
    img = make_image(tmp_path, "esp32")
    monkeypatch.setitem(sys.modules, "esptool.targets", None)  # import now raises ModuleNotFoundError
    assert flash.run(parse("--port", "p", "flash", str(img), "-y"), FakeTool()) == 2
    assert "no_esptool" in capsys.readouterr().err
