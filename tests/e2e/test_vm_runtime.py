"""The same reads with the firmware in the MicroPython VM (`vitale-sim emulate --runtime micropython`)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Emulator, start_emulator
from .test_reads import read_ok, refused

pytestmark = [pytest.mark.vm, pytest.mark.slow]


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One virtual reader running the firmware in the MicroPython VM."""
    e = start_emulator(tmp_path_factory.mktemp("vm"), "--runtime", "micropython")
    try:
        yield e
    finally:
        e.close()


def test_vm_nfc_read_verified(vm: Emulator) -> None:
    vm.ok("remove")
    res = read_ok(vm, "nfc", "tap 0", "0")
    assert vm.status()["runtime"] == "micropython"
    assert res.verification is not None and res.verification.format == "mdoc"


def test_vm_qr_read_verified(vm: Emulator) -> None:
    vm.ok("remove")
    res = read_ok(vm, "qr", "show-qr 1", "1")
    assert res.verification is not None and res.verification.format == "vqr"


def test_vm_revoked_refused_then_reads(vm: Emulator) -> None:
    vm.ok("remove")
    vm.ok("revoke 2")
    assert refused(vm, "nfc", "tap 2") == "revoked"
    read_ok(vm, "nfc", "tap 0", "0")


def _tool(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_vm_pty_is_a_board_for_mpremote_and_deploy(vm: Emulator, tmp_path: Path) -> None:
    """Last in this module (it replaces the firmware): the virtual reader's pty carries the VM's own REPL."""
    port = vm.info["port"]
    # mpremote interrupts the running app (Ctrl-C) and works in the raw REPL, as on a board
    assert "app.py" in _tool("mpremote", "connect", port, "fs", "ls", "/lib/vitale").stdout
    note = tmp_path / "note.txt"
    note.write_text("from the host\n")
    _tool("mpremote", "connect", port, "fs", "cp", str(note), ":note.txt")
    assert _tool("mpremote", "connect", port, "fs", "cat", ":note.txt").stdout.endswith("from the host\n")
    # vitale deploy: compiled firmware copied, reset, the app answers hello; a second deploy copies nothing
    first = _tool("vitale_host.cli", "--port", port, "deploy", "--board", "micropython-vm", "-q").stdout
    assert re.search(r": [1-9]\d* copied", first) and "app ready" in first, first
    second = _tool("vitale_host.cli", "--port", port, "deploy", "--board", "micropython-vm", "-q").stdout
    assert ": 0 copied" in second and "app ready" in second, second
    # the deployed (.mpy) firmware reads a card once the clock is set again (a reset loses it)
    vm.ok("set-time now")
    read_ok(vm, "nfc", "tap 0", "0")
