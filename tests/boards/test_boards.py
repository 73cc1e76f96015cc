"""Board definitions: every file validates, and each kind of broken board is caught with its code."""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from vitale_tools import boards
from vitale_tools.boards import Problem

FILES = boards.board_files()
REQUIRED_BOARDS = {
    "ai-thinker-esp32-cam",
    "esp32-s3-eye",
    "freenove-esp32-s3-wroom-cam",
    "seeed-xiao-esp32s3-sense",
    "m5stack-atoms3r-cam",
}
DOCS = boards.ROOT / "docs" / "hardware.md"


def load(board_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((boards.BOARDS_DIR / f"{board_id}.json").read_text())
    return data


def problems_of(board_id: str, mutate: Callable[[dict[str, Any]], None]) -> list[Problem]:
    data = copy.deepcopy(load(board_id))
    mutate(data)
    return boards.validate_board(data, f"{board_id}.json", expected_id=board_id)


def codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems}


def set_field(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets one field, addressed as 'a/b/0/c'."""

    def mutate(b: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = b
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


# --- the real files ---------------------------------------------------------------------------


def test_schema_is_a_valid_2020_12_schema() -> None:
    schema = boards.load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_required_boards_are_defined() -> None:
    ids = {p.stem for p in FILES}
    assert REQUIRED_BOARDS <= ids, REQUIRED_BOARDS - ids


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_board_file_validates_without_problems(path: Path) -> None:
    problems = boards.check_file(path)
    assert problems == [], "\n".join(map(str, problems))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_board_file_names_its_sources_and_reasons(path: Path) -> None:
    board = boards.load_board(path)
    assert board["sources"] and all(s["ref"] for s in board["sources"])
    text = " ".join(board["notes"])
    assert "PN532" in text  # the PN532 pin choice is explained
    for key, why in board["allowed_strapping"].items():
        assert int(key) in boards.CHIPS[board["chip"]].strapping and len(why) >= 20


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_camera_pin_is_counted(path: Path) -> None:
    board = boards.load_board(path)
    cam = board["camera"]
    wired = [cam[k] for k in ("xclk", "sda", "scl", "vsync", "href", "pclk", "pwdn", "reset")] + cam["data"]
    if cam["power"] is not None:
        wired.append(cam["power"]["pin"])
    uses = [u for u in boards.pin_uses(board) if u.function.startswith("camera.")]
    assert sorted(u.pin for u in uses) == sorted(p for p in wired if p >= 0)


def test_chip_tables_hold_the_datasheet_facts() -> None:
    esp32, s3 = boards.CHIPS["esp32"], boards.CHIPS["esp32s3"]
    assert esp32.strapping == {0, 2, 5, 12, 15}
    assert esp32.memory_pins("quad") == {6, 7, 8, 9, 10, 11, 16, 17}
    assert esp32.input_only == {34, 35, 36, 37, 38, 39}
    assert 20 not in esp32.gpios and 24 not in esp32.gpios and 28 not in esp32.gpios
    assert s3.strapping == {0, 3, 45, 46}
    assert s3.memory_pins("quad") == set(range(26, 33))
    assert s3.memory_pins("octal") == set(range(26, 38))
    assert s3.usb == {19, 20} and s3.uart0 == {43, 44}
    assert 22 not in s3.gpios and 48 in s3.gpios


def test_shared_camera_bus_is_accepted_on_the_s3_eye() -> None:
    board = load("esp32-s3-eye")
    assert board["pn532"]["i2c"]["share_camera_bus"] is True
    assert boards.validate_board(board, expected_id="esp32-s3-eye") == []


# --- deliberately broken copies: each caught with the right code -------------------------------


def test_two_functions_on_one_pin() -> None:
    def mutate(b: dict[str, Any]) -> None:
        b["pn532"]["uart"]["rx"] = b["camera"]["pclk"]

    problems = problems_of("freenove-esp32-s3-wroom-cam", mutate)
    assert codes(problems) == {boards.PIN_CONFLICT}
    assert "camera.pclk" in problems[0].message and "pn532.uart.rx" in problems[0].message


def test_buzzer_on_the_led_pin() -> None:
    def mutate(b: dict[str, Any]) -> None:
        b["buzzer"]["pin"] = b["led"]["pin"]

    assert codes(problems_of("seeed-xiao-esp32s3-sense", mutate)) == {boards.PIN_CONFLICT}


def test_i2c_on_camera_pins_without_declaring_the_shared_bus() -> None:
    def mutate(b: dict[str, Any]) -> None:
        b["pn532"]["i2c"]["share_camera_bus"] = False

    problems = problems_of("esp32-s3-eye", mutate)
    assert codes(problems) == {boards.PIN_CONFLICT}
    assert {p.where for p in problems} == {"gpio/4", "gpio/5"}


# (board, field, new value, the only code expected); None = the change is legal.
ONE_FIELD_CASES = [
    ("ai-thinker-esp32-cam", "pn532/uart/tx", 4, boards.PIN_CONFLICT),  # the flash LED (onboard)
    ("esp32-s3-eye", "pn532/i2c/sda", 40, boards.SHARED_BUS_MISMATCH),  # shared bus, other pin
    ("ai-thinker-esp32-cam", "pn532/uart/tx", 16, boards.FLASH_PIN),  # ESP32 PSRAM chip select
    ("ai-thinker-esp32-cam", "pn532/uart/tx", 9, boards.FLASH_PIN),  # ESP32 SPI flash
    ("seeed-xiao-esp32s3-sense", "pn532/uart/tx", 30, boards.FLASH_PIN),  # ESP32-S3 flash/PSRAM
    ("seeed-xiao-esp32s3-sense", "pn532/uart/tx", 35, boards.FLASH_PIN),  # ESP32-S3 octal PSRAM
    ("seeed-xiao-esp32s3-sense", "buzzer/pin", 46, boards.STRAPPING_PIN),
    ("ai-thinker-esp32-cam", "allowed_strapping/12", "GPIO12 is not used on this board", boards.STRAPPING_UNUSED),
    ("ai-thinker-esp32-cam", "allowed_strapping/4", "GPIO4 is no strapping pin at all", boards.STRAPPING_UNUSED),
    ("ai-thinker-esp32-cam", "pn532/uart/tx", 20, boards.INVALID_PIN),  # no GPIO20 on the ESP32
    ("seeed-xiao-esp32s3-sense", "buzzer/pin", 22, boards.INVALID_PIN),  # no GPIO22 on the ESP32-S3
    ("ai-thinker-esp32-cam", "pn532/uart/tx", 38, boards.INPUT_ONLY),
    ("ai-thinker-esp32-cam", "pn532/uart/rx", 38, None),  # an input on an input-only pin is fine
    ("seeed-xiao-esp32s3-sense", "buzzer/pin", 19, boards.USB_PIN),
    ("ai-thinker-esp32-cam", "pn532/uart/tx", 1, boards.CONSOLE_PIN),
    ("freenove-esp32-s3-wroom-cam", "buzzer/pin", 43, boards.CONSOLE_PIN),  # CH343 on UART0
    ("seeed-xiao-esp32s3-sense", "pn532/uart/tx", 43, None),  # no bridge: UART0 pins are free
    ("ai-thinker-esp32-cam", "usb/kind", "native", boards.USB_KIND),
    ("esp32-s3-eye", "usb/kind", "uart_bridge", boards.USB_KIND),  # but no bridge chip
    ("m5stack-timercam", "firmware/build", "ESP32_GENERIC_S3-SPIRAM_OCT", boards.FIRMWARE_MISMATCH),
    ("m5stack-atoms3r-cam", "firmware/flash_offset", "0x1000", boards.FIRMWARE_MISMATCH),
    ("freenove-esp32-s3-wroom-cam", "pn532/interface", "i2c", boards.SCHEMA),  # only uart wiring given
    ("freenove-esp32-s3-wroom-cam", "pn532/uart/rxbuf", 256, boards.SCHEMA),  # overruns on long frames
    ("esp32-s3-eye", "flash_mb", "8", boards.SCHEMA),
    ("esp32-s3-eye", "colour", "red", boards.SCHEMA),
    ("esp32-s3-eye", "camera/xclk", 49, boards.SCHEMA),
    ("esp32-s3-eye", "led/kind", "rgb", boards.SCHEMA),
    ("esp32-s3-eye", "id", "ESP32 S3 EYE", boards.BAD_FORMAT),
    ("esp32-s3-eye", "usb/ids/1/pid", "0x100", boards.BAD_FORMAT),
]


@pytest.mark.parametrize("board_id,path,value,code", ONE_FIELD_CASES,
                         ids=[f"{c[0]}:{c[1]}={c[2]}" for c in ONE_FIELD_CASES])
def test_one_field_change(board_id: str, path: str, value: object, code: str | None) -> None:
    problems = problems_of(board_id, set_field(path, value))
    assert codes(problems) == ({code} if code else set()), "\n".join(map(str, problems))


def test_quad_psram_s3_may_use_gpio35() -> None:
    def mutate(b: dict[str, Any]) -> None:
        b["psram_mode"] = "quad"
        b["firmware"]["build"] = "ESP32_GENERIC_S3"
        b["pn532"]["uart"]["tx"] = 35

    assert problems_of("seeed-xiao-esp32s3-sense", mutate) == []


def test_unjustified_strapping_pin() -> None:
    def mutate(b: dict[str, Any]) -> None:
        del b["allowed_strapping"]["0"]  # camera XCLK on GPIO0

    problems = problems_of("ai-thinker-esp32-cam", mutate)
    assert codes(problems) == {boards.STRAPPING_PIN}
    assert problems[0].where == "gpio/0" and "camera.xclk" in problems[0].message


def test_missing_field() -> None:
    problems = problems_of("esp32-s3-eye", lambda b: b.pop("pn532"))
    assert codes(problems) == {boards.MISSING_FIELD}
    assert "pn532" in problems[0].message


def test_missing_nested_field() -> None:
    problems = problems_of("m5stack-timercam", lambda b: b["camera"].pop("xclk"))
    assert codes(problems) == {boards.MISSING_FIELD}
    assert problems[0].where == "camera"


@pytest.mark.parametrize("vid", ["1A86", "0x1a86", "0x1A8", "0x1A86 ", "0X1A86"])
def test_wrong_usb_vid_format(vid: str) -> None:
    def mutate(b: dict[str, Any]) -> None:
        b["usb"]["ids"][0]["vid"] = vid

    problems = problems_of("ai-thinker-esp32-cam", mutate)
    assert codes(problems) == {boards.BAD_FORMAT}
    assert problems[0].where == "usb/ids/0/vid"


def test_octal_psram_on_an_esp32() -> None:
    problems = problems_of("m5stack-timercam", set_field("psram_mode", "octal"))
    assert boards.PSRAM_MODE in codes(problems)


def test_file_level_errors(tmp_path: Path) -> None:
    renamed = tmp_path / "other-name.json"
    renamed.write_text((boards.BOARDS_DIR / "esp32-s3-eye.json").read_text())
    assert codes(boards.check_file(renamed)) == {boards.ID_MISMATCH}
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "broken",')
    assert codes(boards.check_file(broken)) == {boards.JSON_SYNTAX}
    assert codes(boards.validate_board([1, 2, 3])) == {boards.SCHEMA}


def test_load_board_refuses_a_broken_file(tmp_path: Path) -> None:
    data = load("m5stack-timercam")
    data["pn532"]["uart"]["rx"] = 21  # camera PCLK
    path = tmp_path / "m5stack-timercam.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="PIN_CONFLICT"):
        boards.load_board(path)


def test_cli_reports_ok_and_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    boards.add_arguments(parser)
    assert boards.run(parser.parse_args([])) == 0
    out = capsys.readouterr().out
    assert out.count(": ok") == len(FILES)
    data = load("esp32-s3-eye")
    data["buzzer"] = {"kind": "passive", "pin": 0}
    bad = tmp_path / "esp32-s3-eye.json"
    bad.write_text(json.dumps(data))
    assert boards.run(parser.parse_args([str(bad)])) == 1
    assert "STRAPPING_PIN" in capsys.readouterr().out


# --- docs stay in step with the files ------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_docs_print_the_current_wiring_of_every_board(path: Path) -> None:
    board = boards.load_board(path)
    text = DOCS.read_text(encoding="utf-8")
    assert board["name"] in text
    assert boards.wiring_markdown(board) in text, (
        f"docs/hardware.md is out of date for {path.name}; paste:\n" + boards.wiring_markdown(board))
