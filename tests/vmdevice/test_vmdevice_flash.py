"""The VM device's flash (a host folder) keeps what was committed across power cycles, and only that."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vitale_tools.mpvm.device import PtyPair, VMDevice

from .support import Term

pytestmark = pytest.mark.vm

MAIN_V1 = "import version\nprint('running', version.V)\n"


@pytest.fixture
def pty() -> Iterator[PtyPair]:
    p = PtyPair()
    yield p
    p.close()


def _boot(pty: PtyPair, flash: Path, files: dict[str, bytes | str] | None = None) -> tuple[VMDevice, Term, bytes]:
    dev = VMDevice(pty, fs_dir=flash, files=files)
    term = Term(pty.path)
    dev.start()
    term.send(b"\r")
    return dev, term, term.until(b">>> ")


def test_deploy_interrupted_half_way_boots_the_previous_version(pty: PtyPair, tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    dev, term, banner = _boot(pty, flash, {"/main.py": MAIN_V1, "/lib/version.py": "V = 1\n"})
    assert b"running 1\r\n" in banner
    # A deploy of version 2 cut off by a power loss: one file fully written to a temporary
    # name but not yet renamed into place, another left open mid-write.
    out, err = term.raw_exec(
        b"f = open('/lib/version.py.new', 'w')\nf.write('V = 2\\n')\nf.close()\n"
        b"g = open('/lib/big.py', 'w')\ng.write('# ' + 'x' * 1000)\nprint('written')"
    )
    assert (out, err) == (b"written\r\n", b"")
    term.close()
    dev.stop()  # power cut: nothing more reaches the flash
    assert (flash / "lib" / "version.py.new").read_text() == "V = 2\n"
    assert not (flash / "lib" / "big.py").exists()  # never closed: never committed

    dev, term, banner = _boot(pty, flash)
    assert b"running 1\r\n" in banner  # the previous version boots
    # the deploy completes this time: the rename commits version 2
    out, err = term.raw_exec(b"import os\nos.rename('/lib/version.py.new', '/lib/version.py')\n"
                             b"print(sorted(os.listdir('/lib')))")
    assert (out, err) == (b"['version.py', 'vitale']\r\n", b"")  # vitale: the factory image
    term.close()
    dev.stop()

    dev, term, banner = _boot(pty, flash)
    assert b"running 2\r\n" in banner
    assert sorted(p.name for p in (flash / "lib").iterdir()) == ["version.py", "vitale"]
    term.close()
    dev.stop()


def test_directories_and_removals_are_written_through(pty: PtyPair, tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    dev, term, banner = _boot(pty, flash, {"/main.py": "print('main')\n"})
    assert (flash / "lib" / "vitale" / "app.py").is_file()  # the factory image
    assert b"main\r\n" in banner
    out, err = term.raw_exec(
        b"import os\nos.mkdir('/data')\nos.mkdir('/data/sub')\n"
        b"with open('/data/sub/a.bin', 'wb') as f:\n f.write(bytes(range(256)))\n"
        b"open('/gone.txt', 'w').write('x')\nos.remove('/gone.txt')\n"
        b"os.mkdir('/empty')\nos.rmdir('/empty')\n"
        b"os.rename('/data/sub', '/data/moved')\nprint(os.listdir('/data'))"
    )
    assert (out, err) == (b"['moved']\r\n", b"")
    assert (flash / "data" / "moved" / "a.bin").read_bytes() == bytes(range(256))
    assert not (flash / "gone.txt").exists() and not (flash / "empty").exists()
    term.close()
    dev.stop()
    dev, term, _ = _boot(pty, flash)
    out, err = term.raw_exec(b"print(len(open('/data/moved/a.bin', 'rb').read()))")
    assert (out, err) == (b"256\r\n", b"")
    term.close()
    dev.stop()


def test_a_bare_device_reports_missing_hardware_clearly(pty: PtyPair, tmp_path: Path) -> None:
    dev, term, _ = _boot(pty, tmp_path / "flash", {"/main.py": ""})
    out, err = term.raw_exec(b"from vitale.hal import vm\nprint(vm.available())\nvm.call('uart_any')")
    assert out == b"True\r\n"
    assert b"this device has no hardware for uart_any" in err
    out, err = term.raw_exec(b"b = vm.build_board()\nprint(b.nfc_uart, b.camera, b.led, b.host is not None)")
    assert (out, err) == (b"None None None True\r\n", b"")
    term.close()
    dev.stop()
    assert not dev.alive()
