"""Every board file in boards/ builds a Board through vitale.hal.esp32 with fake machine/camera modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_hal_esp32 import FakeMachine, FakeMpCamera, FakeNeoPixel  # tests/firmware is on sys.path

from vitale.hal.esp32 import FRAME_SIZES, build_board, load_board_json
from vitale_tools.boards import board_files

FILES = board_files()


def test_boards_found() -> None:
    assert len(FILES) >= 6


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_board_file_builds(path: Path) -> None:
    cfg: dict[str, Any] = json.loads(path.read_text())
    assert load_board_json(str(path)) == cfg
    m = FakeMachine()
    cm = FakeMpCamera(machine=m)
    npm = FakeNeoPixel()
    b = build_board(cfg, machine_mod=m, camera_mod=cm, neopixel_mod=npm)
    assert b.faults == [] and b.name == cfg["id"] and b.store_root == "/store"

    pn = cfg["pn532"]
    if pn["interface"] == "uart":
        u = pn["uart"]
        assert m.find("UART") == [("UART", u["id"], 115200, u["tx"], u["rx"], u["rxbuf"])]
        assert u["rxbuf"] >= 1024 and b.nfc_uart is not None and b.nfc_i2c is None
    else:
        c = pn["i2c"]
        assert m.find("I2C") == [("I2C", c["id"], c["scl"], c["sda"], c["freq"])]
        assert c["address"] == 0x24 and b.nfc_i2c is not None and b.nfc_uart is None

    cam = cfg["camera"]
    assert len(cm.made) == 1
    kw = cm.made[0].kw
    assert kw["data_pins"] == cam["data"]
    assert (kw["pclk_pin"], kw["vsync_pin"], kw["href_pin"], kw["xclk_pin"]) == (
        cam["pclk"], cam["vsync"], cam["href"], cam["xclk"])
    assert (kw["powerdown_pin"], kw["reset_pin"]) == (cam["pwdn"], cam["reset"])
    assert kw["xclk_freq"] == cam["xclk_freq_hz"] and kw["fb_count"] == cam["fb_count"]
    assert kw["pixel_format"] == cm.PixelFormat.GRAYSCALE
    assert kw["frame_size"] == getattr(cm.FrameSize, cam["frame_size"])
    if pn["i2c"] is not None and pn["i2c"]["share_camera_bus"]:
        assert kw["i2c"] is b.nfc_i2c and "sda_pin" not in kw
    else:
        assert (kw["sda_pin"], kw["scl_pin"]) == (cam["sda"], cam["scl"]) and "i2c" not in kw
    if cam["power"] is not None:
        p = cam["power"]
        assert m.pins[p["pin"]].level == p["on_level"]
        powered = [i for i, e in enumerate(m.log) if e[:2] == ("Pin", p["pin"])][0]
        assert powered < cm.made[0].log_len
    assert b.camera is not None
    frame = b.camera.capture()
    assert frame is not None and frame[1:] == FRAME_SIZES[cam["frame_size"]]

    led = cfg["led"]
    if led is None:
        assert b.led is None
    elif led["kind"] == "gpio":
        assert b.led is not None
        pin = m.pins[led["pin"]]
        b.led.show("ok")
        assert pin.level == (0 if led["active_low"] else 1)
        b.led.show("off")
        assert pin.level == (1 if led["active_low"] else 0)
    else:
        assert b.led is not None
        b.led.show("ok")
        assert npm.made[0].pin == led["pin"] and npm.made[0].writes[-1] == (0, 96, 0)

    bz = cfg["buzzer"]
    if bz is None:
        assert b.buzzer is None and m.pwms == []
    else:
        assert b.buzzer is not None
        # every board has a camera, so the tone is CPU-toggled, not LEDC PWM
        assert bz["kind"] == "passive" and m.pwms == []
        b.buzzer.play("ok")
        assert m.pins[bz["pin"]].changes > 0 and m.pins[bz["pin"]].level == 0

    assert m.find("WDT") == [("WDT", 30000)] and b.wdt is not None
    b.clock.set(1_700_000_000)
    assert m.rtc is not None and m.rtc.set_to == (2023, 11, 14, 1, 22, 13, 20, 0)
    assert b.display is None  # no display driver yet (esp32-s3-eye has an ST7789)


def test_civil_from_unix_matches_datetime() -> None:
    import datetime as dt

    from vitale.hal.esp32 import civil_from_unix

    for t in list(range(0, 5_000_000_000, 7_777_777)) + [951_782_399, 951_782_400, 4_107_542_400]:
        x = dt.datetime.fromtimestamp(t, dt.timezone.utc)
        assert civil_from_unix(t) == (x.year, x.month, x.day, x.weekday(), x.hour, x.minute, x.second)
