"""Hardware in the loop: `pytest -m hil --hil-port PORT [--hil-board NAME] [--hil-phone-port PORT2]`.

A real reader on --hil-port (docs/hardware.md §7). Without --hil-port every test
here is collected and skipped with the reason NO_PORT, so a normal `pytest` run
lists them as skipped.

In order: deploy (and a second deploy that copies nothing), selftest, clock,
provisioning round trip through the SDK, an NFC read where a second PN532 on
--hil-phone-port plays the phone (target mode, vitale_tools.target_bridge),
and a QR read from a code shown on the host's screen. Timings are printed
(`-s` shows them); nothing asserts on speed.

State kept between runs: the suite's test authority (whose trust-list key the
board pins once, for good) lives in `$VITALE_HIL_HOME` (default
`~/.cache/vitale-hil`), so a board provisioned by an earlier run accepts the
next run's lists. The host's pinned reader keys go to a temporary store.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vitale_host import deploy, provision
from vitale_host.client import Reader

NO_PORT = ("hardware-in-the-loop: no board attached; run `pytest -m hil --hil-port PORT "
           "[--hil-board NAME] [--hil-phone-port PORT2]` with a reader on PORT")

# The options are registered in tests/conftest.py: pytest takes command-line options only from the
# root conftest or plugins. No conftest.py here: the tests import `conftest` by name (tests/conftest.py).
pytestmark = [pytest.mark.hil, pytest.mark.slow,
              pytest.mark.skipif("not config.getoption('--hil-port')", reason=NO_PORT)]

PATIENT = "0"


@pytest.fixture(scope="session")
def hil_port(request: pytest.FixtureRequest) -> str:
    """The reader's serial port (--hil-port)."""
    port = request.config.getoption("--hil-port")
    if not port:
        pytest.skip(NO_PORT)
    return str(port)


@pytest.fixture(scope="session")
def hil_board(request: pytest.FixtureRequest) -> str:
    """The board id (--hil-board), needed to build and deploy the firmware."""
    name = request.config.getoption("--hil-board")
    if not name:
        pytest.skip("give --hil-board NAME (boards/NAME.json) to deploy the firmware onto the board")
    return str(name)


@pytest.fixture(scope="session")
def phone_port(request: pytest.FixtureRequest) -> str:
    """The serial port of the second PN532 that plays the phone (--hil-phone-port)."""
    port = request.config.getoption("--hil-phone-port")
    if not port:
        pytest.skip("NFC reads need a second PN532 on a USB-UART playing the phone: give --hil-phone-port PORT2")
    return str(port)


@pytest.fixture(scope="session")
def hil_home() -> Path:
    """Where the suite keeps its test authority between runs."""
    home = Path(os.environ.get("VITALE_HIL_HOME", Path.home() / ".cache" / "vitale-hil"))
    home.mkdir(parents=True, exist_ok=True)
    return home


@pytest.fixture(scope="session")
def authority(hil_home: Path) -> object:
    """The suite's test authority (made on the first run) with patient 0 issued."""
    from vitale_tools.authority import Authority
    from vitale_tools.sim_world import make_world

    path = hil_home / "authority"
    if not (path / "authority.json").exists():
        make_world(path, patients=1)
    return Authority(path)


@pytest.fixture(scope="session")
def pins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary host pin store (the suite never touches the user's $VITALE_HOME)."""
    yield tmp_path_factory.mktemp("pins") / "readers.json"


@pytest.fixture(scope="module")
def deployed(hil_port: str, hil_board: str, tmp_path_factory: pytest.TempPathFactory) -> deploy.DeployResult:
    """The firmware for --hil-board deployed onto the board (what is already there is kept)."""
    b = deploy.build(hil_board, tmp_path_factory.mktemp("hil-build") / "build")
    res = deploy.deploy_to_device(hil_port, b, ready_timeout=60, verify=True,
                                  progress=lambda i, n, op: print(f"[{i + 1}/{n}] {op.kind} {op.path}"))
    print(f"deploy: {len(res.plan.copy)} files, {res.file_bytes} B in {res.seconds:.1f} s")
    return res


def test_deploy_then_a_second_deploy_copies_nothing(deployed: deploy.DeployResult, hil_port: str,
                                                    hil_board: str, tmp_path: Path) -> None:
    assert deployed.hello is not None and "error" not in deployed.hello, deployed.hello
    again = deploy.deploy_to_device(hil_port, deploy.build(hil_board, tmp_path / "b"), ready_timeout=60)
    print(f"second deploy: {again.ops} ops, {again.file_bytes} B in {again.seconds:.1f} s")
    assert again.plan.empty and again.file_bytes == 0
    assert again.hello is not None and again.hello.get("firmware") == deployed.hello.get("firmware")


@pytest.fixture(scope="module")
def reader(request: pytest.FixtureRequest, hil_port: str, pins: Path) -> Iterator[Reader]:
    """The SDK on the board (deployed first when --hil-board is given; else as found)."""
    if request.config.getoption("--hil-board"):
        request.getfixturevalue("deployed")
    with Reader(hil_port, pins=pins, require_pin=False, timeout=10, connect_timeout=30) as r:
        yield r


def test_selftest(reader: Reader) -> None:
    res = reader.request("selftest", timeout=120)
    print(f"selftest: {res}")
    assert res["ok"] is True and res["checks"] and all(res["checks"].values())


def test_clock(reader: Reader) -> None:
    now = reader.provision_clock()
    info = reader.info()
    assert info.clock_set and abs(now - time.time()) < 5
    assert info.clock_now is not None and abs(info.clock_now - time.time()) < 5


@pytest.fixture(scope="module")
def provisioned(reader: Reader, authority: Any, pins: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization

    reader.provision_clock()
    key = authority.keys["trust-list"].public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    provision.pin_trust_key(reader, key)  # False when this board already pinned it (an earlier run)
    tl = reader.provision_trust_list(authority.write_trust_list())
    sl = reader.provision_status_list(authority.write_status_list())
    cert = reader.provision_reader_cert(authority.issue_reader_cert)
    kid = reader.pin_reader_key()
    return {"trust_list": tl, "status_list": sl, "cert": cert, "kid": kid,
            "seq": (authority.config["trust_seq"], authority.config["status_seq"])}


def test_provisioning_round_trip(provisioned: dict[str, Any], hil_port: str, pins: Path, reader: Reader) -> None:
    reader.close()  # the pinned reader now connects with the pin required
    with Reader(hil_port, pins=pins, require_pin=True, timeout=10) as r:
        info = r.info()
        assert info.reader_pinned and info.trust_key_pinned and info.clock_set
        assert info.reader_kid == provisioned["kid"]
        assert info.trust_list is not None and info.trust_list["seq"] == provisioned["seq"][0]
        assert info.status_list is not None and info.status_list["seq"] == provisioned["seq"][1]
        assert info.raw.get("reader_cert") is True


def _patient(authority: Any) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((Path(authority.path) / "issued" / f"{PATIENT}.json").read_text())
    return meta


def test_nfc_read_with_a_pn532_playing_the_phone(provisioned: dict[str, Any], hil_port: str, pins: Path,
                                                 phone_port: str, authority: Any) -> None:
    import serial
    from adafruit_pn532.uart import PN532_UART

    from vitale_tools.target_bridge import AdafruitTargetLink, TargetBridge
    from vitale_tools.wallet import card_target

    phone = card_target(PATIENT, str(authority.path))  # reader authentication enforced
    port = serial.Serial(phone_port, 115200, timeout=0.1)
    stats: dict[str, Any] = {}
    errors: list[BaseException] = []
    try:
        pn = PN532_UART(port, debug=False)
        pn.SAM_configuration()
        bridge = TargetBridge(AdafruitTargetLink(pn), phone)

        def serve() -> None:
            try:
                stats["s"] = bridge.serve(activate_timeout=30, idle_timeout=10)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        with Reader(hil_port, pins=pins, timeout=10) as r:
            t0 = time.monotonic()
            res = r.read_card(channel="nfc", timeout=40)
            print(f"NFC read through the PN532 target: {time.monotonic() - t0:.2f} s")
        t.join(timeout=15)
    finally:
        port.close()
    assert res.status == "verified" and res.card is not None
    assert res.card.nir == _patient(authority)["card"].get("nir")
    assert not errors, errors
    print(f"bridge: {stats.get('s')}")


def _display_available() -> str | None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY/WAYLAND_DISPLAY unset): the QR read shows a code on the host screen"
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return "tkinter is not installed: the QR read shows the code in a Tk window"
    return None


def test_qr_read_from_a_code_on_the_host_screen(provisioned: dict[str, Any], hil_port: str, pins: Path,
                                                authority: Any, tmp_path: Path) -> None:
    reason = _display_available()
    if reason:
        pytest.skip(reason)
    import tkinter

    import segno

    from vitale_tools.authority import load_private_key, present

    issued = Path(authority.path) / "issued"
    text = present((issued / f"{PATIENT}.vqr-issuer.cbor").read_bytes(),
                   load_private_key(issued / f"{PATIENT}.device-key.pem"), int(time.time()))
    png = tmp_path / "vqr.png"
    segno.make(text, error="m", micro=False).save(str(png), scale=8, border=4)
    root = tkinter.Tk()
    root.title("vitale HIL: hold the reader's camera ~10 cm from this code")
    img = tkinter.PhotoImage(file=str(png))
    tkinter.Label(root, image=img).pack()
    result: dict[str, Any] = {}

    def read() -> None:
        try:
            with Reader(hil_port, pins=pins, timeout=10) as r:
                t0 = time.monotonic()
                result["res"] = r.read_card(channel="qr", timeout=60)
                result["s"] = time.monotonic() - t0
        except BaseException as e:  # noqa: BLE001 - reported below
            result["error"] = e
        finally:
            root.after(0, root.destroy)

    threading.Thread(target=read, daemon=True).start()
    root.mainloop()
    assert "error" not in result, result.get("error")
    res = result["res"]
    print(f"QR read from the screen: {result['s']:.2f} s")
    assert res.status == "verified" and res.card is not None
    assert res.card.nir == _patient(authority)["card"].get("nir")
