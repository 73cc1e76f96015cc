"""Board definitions (`boards/*.json`): schema validation and pin checks.

Each board file is validated against `boards/schema.json` (JSON Schema
2020-12, with the `jsonschema` library) and then checked against the facts
of its chip: every GPIO exists, no pin carries two functions (except the
PN532 declared on the camera's SCCB bus), no flash/PSRAM pin is used, no
strapping pin is used without a written justification, no output sits on an
input-only pin, and the USB/console pins stay free. Problems come back as a
list of `Problem(code, message, file, where)`; an empty list means the board
is good.

Also a `vitale-sim` plug-in (`add_arguments`/`run`): `vitale-sim boards
[FILE ...]` prints the problems of every board file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
BOARDS_DIR = ROOT / "boards"
SCHEMA_PATH = BOARDS_DIR / "schema.json"

# Problem codes.
JSON_SYNTAX = "JSON_SYNTAX"  # the file is not JSON
MISSING_FIELD = "MISSING_FIELD"  # a required field is absent
BAD_FORMAT = "BAD_FORMAT"  # a string does not match its pattern (USB IDs, ids, versions)
SCHEMA = "SCHEMA"  # any other schema violation (type, enum, range, unknown field)
ID_MISMATCH = "ID_MISMATCH"  # "id" differs from the file name
INVALID_PIN = "INVALID_PIN"  # the chip has no such GPIO
PIN_CONFLICT = "PIN_CONFLICT"  # two functions on one pin
FLASH_PIN = "FLASH_PIN"  # a pin wired to the module's flash or PSRAM
STRAPPING_PIN = "STRAPPING_PIN"  # a strapping pin used without a justification
STRAPPING_UNUSED = "STRAPPING_UNUSED"  # a justification for a pin that is unused or no strap
INPUT_ONLY = "INPUT_ONLY"  # an output function on an input-only pin
USB_PIN = "USB_PIN"  # native USB D-/D+ used while the host link is native USB
CONSOLE_PIN = "CONSOLE_PIN"  # UART0 TX/RX used while a USB-UART bridge sits on them
SHARED_BUS_MISMATCH = "SHARED_BUS_MISMATCH"  # PN532 declared on the camera bus with other pins
USB_KIND = "USB_KIND"  # USB description impossible for the chip
FIRMWARE_MISMATCH = "FIRMWARE_MISMATCH"  # firmware build or offset for another chip/PSRAM
PSRAM_MODE = "PSRAM_MODE"  # PSRAM mode the chip cannot have

CODES = (
    JSON_SYNTAX, MISSING_FIELD, BAD_FORMAT, SCHEMA, ID_MISMATCH, INVALID_PIN, PIN_CONFLICT,
    FLASH_PIN, STRAPPING_PIN, STRAPPING_UNUSED, INPUT_ONLY, USB_PIN, CONSOLE_PIN,
    SHARED_BUS_MISMATCH, USB_KIND, FIRMWARE_MISMATCH, PSRAM_MODE,
)


@dataclass(frozen=True)
class ChipFacts:
    """Pin facts of one SoC family (from Espressif's datasheets)."""

    name: str
    gpios: frozenset[int]
    strapping: frozenset[int]
    flash: frozenset[int]  # SPI0/1 to the module's flash (and quad PSRAM data lines)
    psram_quad: frozenset[int]  # extra pins taken by quad PSRAM
    psram_octal: frozenset[int]  # extra pins taken by octal PSRAM
    input_only: frozenset[int]
    usb: frozenset[int]  # native USB D-/D+
    uart0: frozenset[int]  # UART0 TX/RX (console, ROM download)
    builds: Mapping[str, str]  # psram_mode -> firmware build name
    flash_offset: str

    def memory_pins(self, psram_mode: str) -> frozenset[int]:
        """Pins taken by flash and PSRAM for this PSRAM mode."""
        extra = self.psram_octal if psram_mode == "octal" else self.psram_quad
        return self.flash | extra


def _r(a: int, b: int) -> frozenset[int]:
    return frozenset(range(a, b + 1))


# ESP32 datasheet ("Strapping Pins": MTDI/GPIO12, GPIO0, GPIO2, MTDO/GPIO15, GPIO5;
# GPIO6-11 to the integrated SPI flash; GPIO34-39 input only; UART0 on GPIO1/3).
# PSRAM on ESP32-D0WD designs: CS GPIO16, CLK GPIO17 (ESP-IDF CONFIG_D0WD_PSRAM_CS_IO /
# _CLK_IO defaults; Espressif FAQ "GPIO6-11 and GPIO16-17 ... SPI flash and PSRAM").
ESP32 = ChipFacts(
    name="esp32",
    gpios=_r(0, 19) | _r(21, 23) | _r(25, 27) | _r(32, 39),
    strapping=frozenset({0, 2, 5, 12, 15}),
    flash=_r(6, 11),
    psram_quad=frozenset({16, 17}),
    psram_octal=frozenset(),
    input_only=_r(34, 39),
    usb=frozenset(),
    uart0=frozenset({1, 3}),
    builds={"quad": "ESP32_GENERIC-SPIRAM"},
    flash_offset="0x1000",
)

# ESP32-S3 datasheet: GPIO0-21 and GPIO26-48; strapping GPIO0, GPIO3, GPIO45, GPIO46;
# GPIO26-32 to the in-package/module flash and PSRAM (SPICS1 = PSRAM CS is GPIO26),
# GPIO33-37 also taken with octal flash or PSRAM (esp-idf issue #10605, esp-idf-hal
# pin table); USB D-/D+ on GPIO19/20; UART0 on GPIO43/44.
ESP32S3 = ChipFacts(
    name="esp32s3",
    gpios=_r(0, 21) | _r(26, 48),
    strapping=frozenset({0, 3, 45, 46}),
    flash=_r(26, 32),
    psram_quad=frozenset(),
    psram_octal=_r(33, 37),
    input_only=frozenset(),
    usb=frozenset({19, 20}),
    uart0=frozenset({43, 44}),
    builds={"quad": "ESP32_GENERIC_S3", "octal": "ESP32_GENERIC_S3-SPIRAM_OCT"},
    flash_offset="0x0",
)

CHIPS: dict[str, ChipFacts] = {c.name: c for c in (ESP32, ESP32S3)}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a board file."""

    code: str
    message: str
    file: str = ""
    where: str = ""  # JSON path in the file ("usb/ids/0/vid"), or "gpio/N" for pin checks

    def __str__(self) -> str:
        loc = self.file + (":" + self.where if self.where else "")
        return f"{loc}: {self.code}: {self.message}" if loc else f"{self.code}: {self.message}"


@dataclass(frozen=True)
class PinUse:
    """One function on one GPIO."""

    pin: int
    function: str  # e.g. "camera.data[3]", "pn532.uart.tx"
    output: bool  # drives the pin (checked against input-only pins)
    bus: str | None = None  # functions with the same bus name may share a pin


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The board schema (checked to be a valid 2020-12 schema)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def board_files(directory: Path = BOARDS_DIR) -> list[Path]:
    """Every board file in a folder (all *.json except the schema), sorted."""
    return sorted(p for p in directory.glob("*.json") if p.name != SCHEMA_PATH.name)


def _schema_code(error: ValidationError) -> tuple[str, ValidationError]:
    # For oneOf/anyOf, report the sub-error that explains most (e.g. the bad field inside).
    while error.validator in ("oneOf", "anyOf") and error.context:
        error = best_match(error.context)
    if error.validator == "required":
        return MISSING_FIELD, error
    if error.validator == "pattern":
        return BAD_FORMAT, error
    return SCHEMA, error


def schema_problems(data: object, file: str = "") -> list[Problem]:
    """Schema violations of one parsed board."""
    validator = jsonschema.Draft202012Validator(load_schema())
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        code, detail = _schema_code(error)
        where = "/".join(str(p) for p in detail.absolute_path)
        problems.append(Problem(code, detail.message, file, where))
    return problems


def pin_uses(board: Mapping[str, Any]) -> list[PinUse]:
    """Every (pin, function) of a schema-valid board; unwired (-1) entries are skipped."""
    uses: list[PinUse] = []

    def add(pin: int, function: str, output: bool, bus: str | None = None) -> None:
        if pin >= 0:
            uses.append(PinUse(pin, function, output, bus))

    cam = board["camera"]
    add(cam["xclk"], "camera.xclk", True)
    add(cam["sda"], "camera.sda", True, "camera-sccb-sda")
    add(cam["scl"], "camera.scl", True, "camera-sccb-scl")
    for i, pin in enumerate(cam["data"]):
        add(pin, f"camera.data[{i}]", False)
    for key in ("vsync", "href", "pclk"):
        add(cam[key], f"camera.{key}", False)
    for key in ("pwdn", "reset"):
        add(cam[key], f"camera.{key}", True)
    if cam["power"] is not None:
        add(cam["power"]["pin"], "camera.power", True)

    nfc = board["pn532"]
    if nfc["uart"] is not None:
        add(nfc["uart"]["tx"], "pn532.uart.tx", True)
        add(nfc["uart"]["rx"], "pn532.uart.rx", False)
    if nfc["i2c"] is not None:
        shared = bool(nfc["i2c"]["share_camera_bus"])
        add(nfc["i2c"]["sda"], "pn532.i2c.sda", True, "camera-sccb-sda" if shared else None)
        add(nfc["i2c"]["scl"], "pn532.i2c.scl", True, "camera-sccb-scl" if shared else None)
    add(nfc["reset"], "pn532.reset", True)
    add(nfc["irq"], "pn532.irq", False)

    if board["led"] is not None:
        add(board["led"]["pin"], "led", True)
    if board["buzzer"] is not None:
        add(board["buzzer"]["pin"], "buzzer", True)
    disp = board["display"]
    if disp is not None:
        for key in ("sck", "mosi", "cs", "dc", "rst", "backlight"):
            add(disp[key], f"display.{key}", True)
    for n, part in enumerate(board["onboard"]):
        for pin in part["pins"]:
            # Direction unknown (and fixed by the board), so never an input-only error.
            add(pin, f"onboard[{n}] {part['function']}", False)
    return uses


def _by_pin(uses: Iterable[PinUse]) -> dict[int, list[PinUse]]:
    table: dict[int, list[PinUse]] = {}
    for use in uses:
        table.setdefault(use.pin, []).append(use)
    return table


def _names(uses: Sequence[PinUse]) -> str:
    return ", ".join(u.function for u in uses)


def _chip_problems(board: Mapping[str, Any], chip: ChipFacts, file: str) -> Iterator[Problem]:
    if chip.name == "esp32" and board["psram_mode"] != "quad":
        yield Problem(PSRAM_MODE, "the ESP32 has no octal PSRAM bus", file, "psram_mode")
    usb = board["usb"]
    if usb["kind"] == "native" and not chip.usb:
        yield Problem(USB_KIND, f"{chip.name} has no native USB", file, "usb/kind")
    if usb["kind"] == "uart_bridge" and usb["uart_bridge_chip"] is None:
        yield Problem(USB_KIND, "kind is uart_bridge but uart_bridge_chip is null", file, "usb")
    fw = board["firmware"]
    want = chip.builds.get(board["psram_mode"])
    if fw["build"] != want:
        yield Problem(FIRMWARE_MISMATCH, f"{chip.name} with {board['psram_mode']} PSRAM needs build "
                      f"{want}, not {fw['build']}", file, "firmware/build")
    if fw["flash_offset"] != chip.flash_offset:
        yield Problem(FIRMWARE_MISMATCH, f"{chip.name} images go at {chip.flash_offset}, not "
                      f"{fw['flash_offset']}", file, "firmware/flash_offset")


def _pin_problems(board: Mapping[str, Any], chip: ChipFacts, file: str) -> Iterator[Problem]:
    uses = pin_uses(board)
    table = _by_pin(uses)
    memory = chip.memory_pins(board["psram_mode"])
    allowed: Mapping[str, str] = board["allowed_strapping"]
    usb = board["usb"]
    for pin in sorted(table):
        here = table[pin]
        names = _names(here)
        if pin not in chip.gpios:
            yield Problem(INVALID_PIN, f"{chip.name} has no GPIO{pin} ({names})", file, f"gpio/{pin}")
            continue
        buses = {u.bus for u in here}
        if len(here) > 1 and (len(buses) > 1 or None in buses):
            yield Problem(PIN_CONFLICT, f"GPIO{pin} has {len(here)} functions: {names}", file, f"gpio/{pin}")
        if pin in memory:
            yield Problem(FLASH_PIN, f"GPIO{pin} is wired to the module's flash/PSRAM ({names})",
                          file, f"gpio/{pin}")
        if pin in chip.strapping and str(pin) not in allowed:
            yield Problem(STRAPPING_PIN, f"GPIO{pin} is a strapping pin ({names}); justify it in "
                          "allowed_strapping or move the function", file, f"gpio/{pin}")
        if pin in chip.input_only:
            outs = [u for u in here if u.output]
            if outs:
                yield Problem(INPUT_ONLY, f"GPIO{pin} is input-only but drives {_names(outs)}",
                              file, f"gpio/{pin}")
        if usb["kind"] == "native" and pin in chip.usb:
            yield Problem(USB_PIN, f"GPIO{pin} is native USB D-/D+, used by the host link ({names})",
                          file, f"gpio/{pin}")
        if usb["uart_bridge_chip"] is not None and pin in chip.uart0:
            yield Problem(CONSOLE_PIN, f"GPIO{pin} is UART0, wired to the {usb['uart_bridge_chip']} "
                          f"bridge ({names})", file, f"gpio/{pin}")
    for key in sorted(allowed, key=int):
        pin = int(key)
        if pin not in chip.strapping:
            yield Problem(STRAPPING_UNUSED, f"GPIO{pin} is not a strapping pin of {chip.name}",
                          file, f"allowed_strapping/{key}")
        elif pin not in table:
            yield Problem(STRAPPING_UNUSED, f"GPIO{pin} is justified but not used", file,
                          f"allowed_strapping/{key}")
    nfc_i2c = board["pn532"]["i2c"]
    if nfc_i2c is not None and nfc_i2c["share_camera_bus"]:
        cam = board["camera"]
        if (nfc_i2c["sda"], nfc_i2c["scl"]) != (cam["sda"], cam["scl"]):
            yield Problem(SHARED_BUS_MISMATCH, "share_camera_bus needs the camera's SDA/SCL "
                          f"({cam['sda']}/{cam['scl']}), got {nfc_i2c['sda']}/{nfc_i2c['scl']}",
                          file, "pn532/i2c")


def validate_board(data: object, file: str = "", expected_id: str | None = None) -> list[Problem]:
    """All problems of one parsed board: schema first, then (if the schema passes) chip and pin checks."""
    problems = schema_problems(data, file)
    if problems:
        return problems
    assert isinstance(data, dict)  # guaranteed by the schema
    if expected_id is not None and data["id"] != expected_id:
        problems.append(Problem(ID_MISMATCH, f"id {data['id']!r} but file is {expected_id}.json", file, "id"))
    chip = CHIPS[data["chip"]]
    problems.extend(_chip_problems(data, chip, file))
    problems.extend(_pin_problems(data, chip, file))
    return problems


def check_file(path: Path) -> list[Problem]:
    """All problems of one board file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return [Problem(JSON_SYNTAX, str(e), path.name)]
    return validate_board(data, path.name, expected_id=path.stem)


def check_all(directory: Path = BOARDS_DIR) -> dict[str, list[Problem]]:
    """Problems of every board file in a folder, by file name."""
    return {p.name: check_file(p) for p in board_files(directory)}


def load_board(path: Path) -> dict[str, Any]:
    """A board file that passed every check (ValueError listing the problems otherwise)."""
    problems = check_file(path)
    if problems:
        raise ValueError("\n".join(map(str, problems)))
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def wiring_markdown(board: Mapping[str, Any]) -> str:
    """The builder's wiring table of a board (Markdown), as printed in docs/hardware.md."""
    nfc = board["pn532"]
    if nfc["vcc"] == "3V3":
        rows = [("3V3", "PN532 VCC", "3.3 V keeps the module's signals at 3.3 V")]
    else:
        rows = [("5V", "PN532 VCC", "check that TXD idles at 3.3 V or less before wiring it to the ESP32")]
    rows.append(("GND", "PN532 GND", ""))
    if nfc["uart"] is not None:
        u = nfc["uart"]
        rows.append((f"GPIO{u['tx']}", "PN532 RXD", f"UART{u['id']} TX, {u['baudrate']} 8N1"))
        rows.append((f"GPIO{u['rx']}", "PN532 TXD", f"UART{u['id']} RX"))
        dip = "HSU: SW1 off, SW2 off"
    else:
        i = nfc["i2c"]
        shared = " (camera SCCB bus, shared)" if i["share_camera_bus"] else ""
        rows.append((f"GPIO{i['sda']}", "PN532 SDA", f"I2C{i['id']} SDA{shared}, address 0x24"))
        rows.append((f"GPIO{i['scl']}", "PN532 SCL", f"I2C{i['id']} SCL{shared}, {i['freq'] // 1000} kHz"))
        dip = "I2C: SW1 on, SW2 off"
    if nfc["reset"] >= 0:
        rows.append((f"GPIO{nfc['reset']}", "PN532 RSTPDN", "reset, active low"))
    if nfc["irq"] >= 0:
        rows.append((f"GPIO{nfc['irq']}", "PN532 IRQ", "low = frame ready"))
    led = board["led"]
    if led is not None:
        what = "WS2812 RGB LED" if led["kind"] == "ws2812" else (
            "LED, lit when low" if led["active_low"] else "LED, lit when high")
        rows.append((f"GPIO{led['pin']}", "status LED" if led["external"] else "(on the board)", what))
    buzzer = board["buzzer"]
    if buzzer is not None:
        rows.append((f"GPIO{buzzer['pin']}", "buzzer driver",
                     f"{buzzer['kind']} buzzer through an NPN transistor (1 kOhm base, 10 kOhm pull-down)"))
    lines = [f"PN532 DIP switches: {dip}.", "", "| Board pin | Goes to | Note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vitale-sim boards`."""
    parser.add_argument("files", nargs="*", type=Path,
                        help="board files to check (default: every file in boards/)")


def run(args: argparse.Namespace) -> int:
    """Print every problem; exit 1 if there is any."""
    files: list[Path] = list(args.files) or board_files()
    bad = 0
    for path in files:
        problems = check_file(path)
        if problems:
            bad += 1
            for p in problems:
                print(p)
        else:
            print(f"{path.name}: ok")
    return 1 if bad else 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m vitale_tools.boards", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
