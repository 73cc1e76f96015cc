"""The virtual reader's parts on their own: the emulated board's device contract, the shared host link on the
pty, the control commands' errors, and the documented command line. Fast (no firmware app running)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import serial

from vitale_tools.pn532_sim import ACK, build_frame
from vitale_tools.virtual.hardware import FRAME_SIZE, VirtualHardware
from vitale_tools.virtual.reader import VirtualReader
from vitale_tools.virtual.serial import HOLD_PARTIAL, HostLink, PtyPort
from vitale_tools.virtual.world import World

from vitale.vision import qr  # type: ignore[import-not-found,unused-ignore]


def test_pn532_answers_at_once_and_counts_modelled_wire_time() -> None:
    hw = VirtualHardware("t")
    assert hw.uart_read(64) == b"" and hw.uart_any() == 0
    frame = build_frame(b"\xd4\x02")  # GetFirmwareVersion
    assert hw.uart_write(frame) == len(frame)
    n = hw.uart_any()
    got = hw.uart_read(n)
    reply = build_frame(b"\xd5\x03\x32\x01\x06\x07")
    assert got == ACK + reply
    # command, ACK and reply on the wire at 10 bits per byte, 115200 Bd, plus the chip's delays
    wire = (len(frame) + len(ACK) + len(reply)) * 10 / 115200
    assert wire <= hw.transport_s() < wire + 0.01
    assert hw.uart_read(8) == b""


def test_uart_read_returns_at_most_n() -> None:
    hw = VirtualHardware("t")
    hw.uart_write(build_frame(b"\xd4\x02"))
    a = hw.uart_read(4)
    b = hw.uart_read(1000)
    assert len(a) == 4 and a + b == ACK + build_frame(b"\xd5\x03\x32\x01\x06\x07")


def test_camera_frames_and_faults() -> None:
    hw = VirtualHardware("t", seed=3)
    w, h = FRAME_SIZE
    blank = hw.camera_capture()
    assert blank is not None and blank[1:] == (w, h) and len(blank[0]) == w * h
    assert qr.decode(blank[0], w, h) == []
    hw.show(lambda: "VQR1:HELLO", remove_after_frames=1)
    got = hw.camera_capture()
    assert got is not None
    assert [c for c in qr.decode(got[0], w, h)] == [b"VQR1:HELLO"]
    after = hw.camera_capture()  # the phone left after one frame
    assert after is not None and qr.decode(after[0], w, h) == []
    hw.set_camera(False)
    assert hw.camera_capture() is None
    hw.clear_faults()
    assert hw.camera_capture() is not None
    assert hw.camera_s() == pytest.approx(4 / hw.fps)  # four frames delivered (none while off)


def test_feedback_and_reboot_are_recorded() -> None:
    hw = VirtualHardware("t")
    calls: list[int] = []
    hw.add_reboot_listener(lambda: calls.append(1))
    hw.led(0, 96, 0)
    hw.tone(2000, 80)
    hw.display(["ok", "DUPONT"])
    hw.reboot()
    st = hw.status()
    assert st["led"] == "0,96,0" and st["display"] == "ok|DUPONT" and st["reboots"] == 1
    assert list(hw.tones) and calls == [1]


@pytest.fixture
def link() -> Iterator[HostLink]:
    ln = HostLink(PtyPort())
    yield ln
    ln.close()


def _app_read(link: HostLink, want: int, timeout: float = 5.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += link.read()
        time.sleep(0.005)
    return got


def test_host_lines_reach_the_app_whole(link: HostLink) -> None:
    with serial.Serial(link.port.path, 115200, timeout=1) as ser:
        ser.write(b'{"id": 1, "cm')
        ser.flush()
        time.sleep(0.1)
        assert link.read() == b""  # half a line is held back
        ser.write(b'd": "info"}\n')
        ser.flush()
        assert _app_read(link, 25) == b'{"id": 1, "cmd": "info"}\n'
        link.write(b'{"id": 1, "ok": true, "result": {}}\n')
        link.read()  # pushes output
        assert ser.readline() == b'{"id": 1, "ok": true, "result": {}}\n'


def test_oversized_host_line_passes_through(link: HostLink) -> None:
    import threading

    with serial.Serial(link.port.path, 115200, timeout=1, write_timeout=30) as ser:
        # the pty holds only a few KiB: write while the app side reads
        errors: list[BaseException] = []
        written: list[int] = []

        def send() -> None:
            try:
                written.append(ser.write(b"x" * (HOLD_PARTIAL * 3)) or 0)
            except BaseException as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(e)

        t = threading.Thread(target=send, daemon=True)
        t.start()
        got = _app_read(link, HOLD_PARTIAL * 3, timeout=30.0)  # generous: CI machines are loaded
        t.join(30)
        assert not errors and written == [HOLD_PARTIAL * 3], (errors, written, len(got))
        assert len(got) == HOLD_PARTIAL * 3 and got == b"x" * (HOLD_PARTIAL * 3), len(got)


def test_tail_of_an_oversized_line_is_not_held_back(link: HostLink) -> None:
    """A host that pauses mid-way through an oversized line: what follows is the same line, passed on at once
    (it used to wait for an LF that the app's line reader had already stopped waiting for)."""
    with serial.Serial(link.port.path, 115200, timeout=1) as ser:
        ser.write(b"y" * (HOLD_PARTIAL + 1))
        ser.flush()
        assert _app_read(link, HOLD_PARTIAL + 1) == b"y" * (HOLD_PARTIAL + 1)
        ser.write(b"z" * 10)
        ser.flush()
        assert _app_read(link, 10) == b"z" * 10
        ser.write(b'zz\n{"id": 2, "cm')  # ends the oversized line; the next line is held until its LF again
        ser.flush()
        assert _app_read(link, 3) == b"zz\n"
        time.sleep(0.1)
        assert link.read() == b""
        ser.write(b'd": "info"}\n')
        ser.flush()
        assert _app_read(link, 25) == b'{"id": 2, "cmd": "info"}\n'


def test_emulator_requests_share_the_link_without_reaching_the_host(link: HostLink) -> None:
    import threading

    out: dict[str, object] = {}
    with serial.Serial(link.port.path, 115200, timeout=0.5) as ser:
        link.read()  # notice the host
        t = threading.Thread(target=lambda: out.update(r=link.request("time.set", {"unix": 1800000000}, 5.0)))
        t.start()
        line = _app_read(link, 10)
        assert line.startswith(b'{"id": "ctl-') and b'"time.set"' in line
        rid = line.split(b'"id": "', 1)[1].split(b'"', 1)[0].decode()
        link.write(b'{"event": "state", "state": "idle"}\n{"ok": true, "id": "%s", "result": {"now": 5}}\n'
                   % rid.encode())
        t.join(5)
        assert out["r"] == {"now": 5}
        assert ser.readline() == b'{"event": "state", "state": "idle"}\n'
        assert ser.read(100) == b""  # the emulator's reply never reached the host


def test_host_gone_drops_its_output_and_half_line(link: HostLink) -> None:
    with serial.Serial(link.port.path, 115200, timeout=0.5) as ser:
        link.read()
        ser.write(b'{"id": 2, "cmd": "inf')
        ser.flush()
        time.sleep(0.1)
        link.read()
    time.sleep(0.05)
    link.write(b'{"event": "card", "lost": true}\n')  # nobody is there
    assert link.read() == b""
    with serial.Serial(link.port.path, 115200, timeout=0.3) as ser:
        link.read()
        ser.write(b'{"id": 3, "cmd": "info"}\n')
        ser.flush()
        assert _app_read(link, 25) == b'{"id": 3, "cmd": "info"}\n'  # not glued to the abandoned half line
        assert ser.read(100) == b""  # the event written while nobody listened is gone


@pytest.fixture(scope="module")
def idle_reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualReader]:
    vr = VirtualReader(World.create(tmp_path_factory.mktemp("w") / "authority"))
    yield vr
    vr.close()


@pytest.mark.parametrize("line,code", [
    ("frobnicate", "unknown_command"),
    ("tap 9", "unknown_patient"),
    ("tap", "bad_command"),
    ("tap 0 --remove-after many", "bad_command"),
    ("tap --credential /nonexistent.mdoc.cbor", "bad_file"),
    ("show-qr 0 --bogus", "bad_command"),
    ("fault sideways", "bad_command"),
    ("set-time yesterday", "bad_command"),
    ("tap 'unbalanced", "bad_command"),
    ("inject {}", "no_host"),
])
def test_control_errors_have_codes(idle_reader: VirtualReader, line: str, code: str) -> None:
    reply = idle_reader.command(line)
    assert reply.startswith(f"error {code}: "), reply


def test_control_commands_change_the_world(idle_reader: VirtualReader) -> None:
    vr = idle_reader
    assert vr.command("tap 1").startswith("ok tapped 1")
    assert vr.hw.status()["phone_in_field"] is True
    assert vr.command("show-qr --text VQR1:A B C") == "ok showing a fixed text (10 chars)"
    assert vr.hw.screen is not None and vr.hw.screen() == "VQR1:A B C"
    assert vr.hw.status()["phone_in_field"] is False
    assert vr.command("remove") == "ok removed"
    assert vr.hw.screen is None
    assert vr.command("fault camera-off").startswith("ok")
    assert vr.hw.camera_capture() is None
    assert vr.command("fault clear").startswith("ok")
    nir = vr.world.meta("2")["card"]["nir"]
    assert vr.command(f"tap {nir}").startswith(f"ok tapped {nir}")


def test_emulate_help_documents_the_control_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "vitale_tools.cli", "emulate", "--help"], capture_output=True,
                         text=True, timeout=60).stdout
    for word in ("--runtime", "--board", "--authority", "port: /dev/pts/N", "control: 127.0.0.1:PORT",
                 "tap PATIENT", "tap --credential FILE", "show-qr PATIENT", "show-qr --text TEXT", "remove",
                 "fault remove-after N", "fault consent-deny", "fault camera-off", "fault uart-noise",
                 "revoke PATIENT", "set-time", "inject LINE", "reboot", "quit"):
        assert word in out, word


def test_passthrough_link_for_a_repl_keeps_emulator_lines_between_host_lines() -> None:
    import threading

    link = HostLink(PtyPort(), whole_lines=False)
    try:
        with serial.Serial(link.port.path, 115200, timeout=0.5) as ser:
            link.read()
            ser.write(b"\x03\x01imp")  # Ctrl-C, Ctrl-A and half a line reach a REPL at once
            ser.flush()
            assert _app_read(link, 5) == b"\x03\x01imp"
            out: dict[str, object] = {}
            t = threading.Thread(target=lambda: out.update(r=link.request("info", None, 5.0)))
            t.start()
            time.sleep(0.1)
            assert link.read() == b""  # not in the middle of the host's line
            ser.write(b"ort os\n")
            ser.flush()
            assert _app_read(link, 7) == b"ort os\n"
            line = _app_read(link, 10)
            assert line.startswith(b'{"id": "ctl-')
            rid = line.split(b'"id": "', 1)[1].split(b'"', 1)[0]
            link.write(b">>> ")  # a prompt without LF passes at once
            link.write(b'{"id": "' + rid + b'", "ok": true, "result": {"board": "x"}}\n')
            t.join(5)
            assert out["r"] == {"board": "x"}
            link.read()
            assert ser.read(100) == b">>> "
    finally:
        link.close()


def test_board_files_choose_the_parts_of_the_cpython_board(tmp_path: object) -> None:
    from vitale_tools.virtual.hardware import ALL_PARTS, board_parts
    from vitale_tools.virtual.runtime import cpython_board

    assert board_parts("virtual-devkit") == ALL_PARTS
    atom = board_parts("m5stack-atoms3r-cam")
    assert atom == {"nfc": True, "camera": True, "led": False, "buzzer": False, "display": False}
    hw = VirtualHardware("m5stack-atoms3r-cam", parts=atom)
    link = HostLink(PtyPort())
    try:
        b = cpython_board(hw, link, str(tmp_path), hw.reboot)
        assert b.name == "m5stack-atoms3r-cam" and b.nfc_uart is not None and b.camera is not None
        assert b.led is None and b.buzzer is None and b.display is None
    finally:
        link.close()
