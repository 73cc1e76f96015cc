"""`vitale flash IMAGE`: write a MicroPython image onto a board with esptool.

The image is a file the user provides: the camera-enabled MicroPython builds
of cnadler86/micropython-camera-API (see docs/hardware.md, "Flashing
MicroPython with a camera module"). Before anything is written the command
reads the chip id from the image header, detects the connected chip and
refuses an image built for another chip (or another board, with --board), or
one that does not fit in the flash. Then it optionally erases the flash,
writes at the chip's bootloader offset (0x1000 on the ESP32, 0x0 on the
ESP32-S3) with esptool's progress bar, verifies the flash contents against
the image and resets the board.

Exit codes: 0 done, 1 refused or failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vitale_host.errors import ReaderError

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

IMAGE_MAGIC = 0xE9  # first byte of every ESP32-family application/bootloader image
_HEADER_LEN = 24  # 8-byte common header + 16-byte extended header
_CHIP_ID_AT = 12  # little-endian u16 in the extended header
ROM_BAUD = 115200  # the ROM bootloader's baud rate, used to connect
DEFAULT_BAUD = 460800


class FlashError(Exception):
    """A refusal or failure of `vitale flash`; `code` is stable, `exit_code` is the process status."""

    def __init__(self, code: str, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.exit_code = exit_code


ESPTOOL_PIN = "esptool==5.6.0"  # the version this command is written and tested against


def _esptool(module: str) -> Any:
    """An esptool module (imported lazily: `vitale` starts fast and esptool ships no type hints)."""
    try:
        return importlib.import_module(f"esptool.{module}")
    except ModuleNotFoundError as e:
        if e.name not in ("esptool", f"esptool.{module}"):
            raise
        raise FlashError("no_esptool", f"esptool is not installed: pip install {ESPTOOL_PIN}", EXIT_USAGE) from None


def _chip_defs() -> dict[str, Any]:
    """esptool's chip classes by short name ("esp32", "esp32s3", ...)."""
    defs: dict[str, Any] = dict(_esptool("targets").CHIP_DEFS)
    return defs


def chip_name(chip: str) -> str:
    """esptool's display name of a chip ("esp32s3" -> "ESP32-S3")."""
    cls = _chip_defs().get(chip)
    return str(cls.CHIP_NAME) if cls is not None else chip


def image_chip(data: bytes) -> str:
    """The chip ("esp32", "esp32s3", ...) an image is built for, from its header's chip id."""
    if len(data) < _HEADER_LEN:
        raise FlashError("bad_image", f"image too short ({len(data)} bytes) for an ESP image header")
    if data[0] != IMAGE_MAGIC:
        raise FlashError("bad_image", f"not an ESP image (magic 0x{data[0]:02X}, expected 0x{IMAGE_MAGIC:02X})")
    chip_id = int.from_bytes(data[_CHIP_ID_AT:_CHIP_ID_AT + 2], "little")
    for name, cls in _chip_defs().items():
        if name != "esp8266" and cls.IMAGE_CHIP_ID == chip_id:
            return name
    raise FlashError("bad_image", f"unknown chip id {chip_id} in the image header")


def default_offset(chip: str) -> int:
    """Where a merged MicroPython image (bootloader first) goes on this chip."""
    cls = _chip_defs().get(chip)
    if cls is None:
        raise FlashError("unknown_chip", f"esptool does not know the chip {chip!r}")
    return int(cls.BOOTLOADER_FLASH_OFFSET)


def _parse_int(text: str) -> int:
    """An integer written in decimal or with a 0x prefix (argparse type)."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vitale flash` (the port comes from the top-level --port)."""
    parser.add_argument("image", metavar="IMAGE", type=Path,
                        help="MicroPython firmware.bin with camera support (see docs/hardware.md)")
    parser.add_argument("--board", metavar="NAME",
                        help="board id (boards/NAME.json) or path to a board file: checks chip, flash size, offset")
    parser.add_argument("--erase", action="store_true", help="erase the whole flash before writing")
    parser.add_argument("--baud", type=_parse_int, default=DEFAULT_BAUD,
                        help=f"baud rate while writing (default {DEFAULT_BAUD})")
    parser.add_argument("--offset", type=_parse_int, default=None,
                        help="flash offset (default: 0x1000 on the ESP32, 0x0 on the ESP32-S3)")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--dry-run", action="store_true",
                        help="detect the chip and run every check, but write nothing")


def _load_board(name: str) -> dict[str, Any]:
    """A validated board file, by id or path."""
    try:
        from vitale_tools.boards import BOARDS_DIR, load_board
    except ImportError as e:
        raise FlashError("board_unavailable", f"--board needs the vitale_tools package ({e})", EXIT_USAGE) from None
    path = Path(name)
    if not path.suffix:
        path = BOARDS_DIR / f"{name}.json"
    if not path.is_file():
        raise FlashError("no_board", f"no board file {path}", EXIT_USAGE)
    try:
        board: dict[str, Any] = load_board(path)
        return board
    except ValueError as e:
        raise FlashError("bad_board", f"{path}:\n{e}", EXIT_USAGE) from None


class Plan:
    """What will be written where, checked against the image and the board before connecting."""

    def __init__(self, data: bytes, chip: str, offset: int, board: dict[str, Any] | None) -> None:
        self.data = data
        self.chip = chip
        self.offset = offset
        self.board = board


def make_plan(args: argparse.Namespace) -> Plan:
    """Read the image and the board, and check them against each other (no hardware needed)."""
    try:
        data = Path(args.image).read_bytes()
    except OSError as e:
        raise FlashError("no_image", f"cannot read {args.image}: {e.strerror or e}", EXIT_USAGE) from None
    chip = image_chip(data)
    board = _load_board(args.board) if args.board else None
    if board is not None and board["chip"] != chip:
        raise FlashError("wrong_chip", f"image is for {chip_name(chip)}, board {board['id']} is {chip_name(board['chip'])}")
    offset = default_offset(chip) if args.offset is None else int(args.offset)
    if offset < 0 or offset % 0x1000:
        raise FlashError("bad_offset", f"offset 0x{offset:X} is not a multiple of 0x1000", EXIT_USAGE)
    if board is not None:
        board_offset = int(str(board["firmware"]["flash_offset"]), 0)
        if offset != board_offset:
            raise FlashError("wrong_offset", f"offset 0x{offset:X} differs from board {board['id']}'s 0x{board_offset:X}")
        _check_fits(offset, len(data), int(board["flash_mb"]) << 20, f"board {board['id']}'s flash")
    return Plan(data, chip, offset, board)


def _check_fits(offset: int, size: int, flash_bytes: int, what: str) -> None:
    """Refuse an image that runs past the end of the flash."""
    if offset + size > flash_bytes:
        raise FlashError("too_big", f"0x{offset:X} + {size} bytes does not fit in {what} ({flash_bytes >> 20} MB)")


class Esptool:
    """The slice of esptool's public library API this command uses (tests replace it)."""

    def __init__(self) -> None:
        cmds = _esptool("cmds")
        self.detect_chip: Callable[..., Any] = cmds.detect_chip
        self.run_stub: Callable[..., Any] = cmds.run_stub
        self.detect_flash_size: Callable[..., Any] = cmds.detect_flash_size
        self.erase_flash: Callable[..., Any] = cmds.erase_flash
        self.write_flash: Callable[..., Any] = cmds.write_flash
        self.verify_flash: Callable[..., Any] = cmds.verify_flash
        self.reset_chip: Callable[..., Any] = cmds.reset_chip


def _flash_size_bytes(text: str | None) -> int | None:
    """esptool's "4MB"-style flash size in bytes (None when unknown)."""
    if not text:
        return None
    size = _esptool("util").flash_size_bytes(text)
    return int(size) if size else None


def _confirm(prompt: str) -> bool:
    """Ask a yes/no question on the terminal."""
    if not sys.stdin.isatty():
        raise FlashError("needs_yes", "not a terminal: pass --yes to write without confirmation", EXIT_USAGE)
    return input(f"{prompt} [y/N] ").strip().lower() in ("y", "yes")


def flash(plan: Plan, port: str, args: argparse.Namespace, tool: Esptool,
          confirm: Callable[[str], bool] = _confirm) -> int:
    """Connect, check the detected chip against the plan, then erase/write/verify unless dry-run."""
    esp = tool.detect_chip(port, ROM_BAUD)
    try:
        if int(esp.IMAGE_CHIP_ID) != int(_chip_defs()[plan.chip].IMAGE_CHIP_ID):
            raise FlashError("wrong_chip", f"image is for {chip_name(plan.chip)}, board is {esp.CHIP_NAME}")
        esp = tool.run_stub(esp)
        size = _flash_size_bytes(tool.detect_flash_size(esp))
        if size is not None:
            _check_fits(plan.offset, len(plan.data), size, "the detected flash")
        what = f"{len(plan.data)} bytes at 0x{plan.offset:X} on {esp.CHIP_NAME} ({port})"
        if args.dry_run:
            print(f"dry run: checks passed, would {'erase the flash and ' if args.erase else ''}write {what}")
            return EXIT_OK
        if not args.yes and not confirm(f"{'Erase the flash and w' if args.erase else 'W'}rite {what}?"):
            raise FlashError("cancelled", "nothing written")
        if args.baud != ROM_BAUD:
            esp.change_baud(args.baud)
        if args.erase:
            tool.erase_flash(esp)
        tool.write_flash(esp, [(plan.offset, plan.data)])
        tool.verify_flash(esp, [(plan.offset, plan.data)])
        tool.reset_chip(esp, "hard-reset")
        print(f"flashed and verified {what}")
        return EXIT_OK
    finally:
        port_obj = getattr(esp, "_port", None)
        if port_obj is not None:
            port_obj.close()


def run(args: argparse.Namespace, tool: Esptool | None = None) -> int:
    """Entry point of `vitale flash`."""
    try:
        plan = make_plan(args)
        port = args.port
        if port is None:
            from vitale_host.transport import auto_port

            port = auto_port()
        fatal: type[Exception] = _esptool("util").FatalError
        try:
            return flash(plan, port, args, tool or Esptool())
        except fatal as e:
            raise FlashError("esptool", str(e).strip()) from None
        except OSError as e:  # includes serial.SerialException: the board went away mid-way
            raise FlashError("serial", str(e)) from None
    except FlashError as e:
        print(f"vitale flash: {e}", file=sys.stderr)
        return e.exit_code
    except ReaderError as e:
        print(f"vitale flash: {e}", file=sys.stderr)
        return EXIT_USAGE
