"""The same reads with the firmware in the MicroPython VM (`vitale-sim emulate --runtime micropython`)."""

from __future__ import annotations

from collections.abc import Iterator

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
