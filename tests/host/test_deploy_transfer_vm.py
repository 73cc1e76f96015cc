"""`vitale deploy` against the MicroPython VM behaving as a board on a pty (vitale_tools.mpvm.device).

The real firmware is built for the VM (`--board micropython-vm`: bytecode .mpy,
viper/native modules as source), copied over the VM's raw REPL, and the VM's
flash (a host folder written through at every close/rename/unlink) is compared
file by file with the build. A power cut is a stop() of the VM device (node is
killed) at a chosen point of the transfer; the device is then powered on again
over the same flash and must boot the previous or the new version, complete.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rawrepl_peer import device_state  # noqa: E402

from vitale_host import deploy  # noqa: E402
from vitale_host.cli import main as vitale_main  # noqa: E402
from vitale_host.rawrepl import DeviceExecError, RawRepl, RawReplError  # noqa: E402

pytestmark = [pytest.mark.vm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class Cut(Exception):
    """The power goes (raised from the deploy's progress callback)."""


class Device:
    """A VM device on a pty over a flash folder; `power_cycle()` keeps the flash."""

    def __init__(self, flash: Path) -> None:
        self.flash = flash
        self.dev: Any = None
        self.pty: Any = None
        self.power_on()

    def power_on(self) -> None:
        from vitale_tools.mpvm.device import PtyPair, VMDevice

        self.pty = PtyPair()
        self.dev = VMDevice(self.pty, fs_dir=self.flash, log=None)
        self.dev.start()

    @property
    def port(self) -> str:
        return str(self.pty.path)

    def power_off(self) -> None:
        if self.dev is not None:
            self.dev.stop()
            self.dev = None
        if self.pty is not None:
            self.pty.close()
            self.pty = None

    def power_cycle(self) -> None:
        self.power_off()
        self.power_on()


def _firmware_variant(dst: Path) -> Path:
    """The real firmware with a new version string, one changed module and one added module."""
    shutil.copytree(ROOT / "firmware", dst, ignore=shutil.ignore_patterns("__pycache__", "package.json"))
    init = dst / "vitale" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "([^"]+)"', r'__version__ = "\1+deploytest"', init.read_text()))
    store = dst / "vitale" / "store.py"
    store.write_text("# changed by the deploy test\n" + store.read_text())
    (dst / "vitale" / "deploy_probe.py").write_text("PROBE = 2\n")
    return dst


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, deploy.Build]:
    base = tmp_path_factory.mktemp("vmfw")
    fw2 = _firmware_variant(base / "fw2")
    return {1: deploy.build(deploy.VM_BOARD_ID, base / "b1"),
            2: deploy.build(deploy.VM_BOARD_ID, base / "b2", fw2)}


def installed(flash: Path, builds: dict[int, deploy.Build]) -> int:
    """Which build the flash holds exactly, manifest included (0: a mix or something else)."""
    state = device_state(flash)
    mf = flash / "vitale-manifest.json"
    manifest = deploy.parse_manifest(mf.read_text() if mf.is_file() else None)
    state.pop(deploy.DEVICE_MANIFEST, None)
    for v, b in builds.items():
        # the device's own files (e.g. the app's store) are not the firmware's business
        mine = {p: h for p, h in state.items() if p in b.manifest or p.startswith(deploy.DEVICE_LIB + "/")}
        if mine == b.manifest and manifest == b.manifest:
            return v
    return 0


def booted_version(d: "Device") -> str:
    """Power on over the flash: main.py runs (finishing a committed journal), then the app; its hello's firmware."""
    hello = deploy.wait_for_app(d.port, timeout=60)
    assert not (d.flash / "vitale-journal.json").exists()
    return str(hello["firmware"])


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    d = Device(tmp_path_factory.mktemp("vmdev") / "flash")
    yield d
    d.power_off()


def test_raw_repl_client_on_the_vm(device: Device) -> None:
    """The client's primitives on the real MicroPython REPL (also mpremote's, in the VM device's tests)."""
    data = bytes(range(256)) * 20
    with RawRepl(device.port, chunk=1000) as r:
        assert r.exec("print(6 * 7)").strip() == b"42"
        assert r.stats.raw_paste is not None
        assert r.eval("{'a': [1, 2], 'b': None}") == {"a": [1, 2], "b": None}
        with pytest.raises(DeviceExecError) as e:
            r.exec("import os\nos.remove('/no-such-file')")
        assert e.value.exc_type == "OSError" and e.value.errno == 2
        r.mkdir_p("/t/a/b")
        r.mkdir_p("/t/a/b")
        assert r.write_file("/t/a/b/x.bin", data) == len(data)
        assert (device.flash / "t/a/b/x.bin").read_bytes() == data  # written through to the flash
        assert r.read_file("/t/a/b/x.bin") == data
        assert r.sha256("/t/a/b/x.bin") == hashlib.sha256(data).hexdigest()
        assert r.walk("/t") == ["/t/a/b/x.bin"]
        r.write_file("/t/y", b"y")
        r.rename("/t/y", "/t/a/b/x.bin")
        assert r.read_file("/t/a/b/x.bin") == b"y" and not r.exists("/t/y")
        with pytest.raises(RawReplError) as e2:
            r.read_file("/t/y")
        assert e2.value.code == "not_found"
        r.soft_reset()
        assert r.exec("print('after reset')").strip() == b"after reset"
        r.rmtree("/t")
        assert not r.exists("/t")


def test_deploy_copies_the_firmware_then_nothing(device: Device, builds: dict[int, deploy.Build],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    res = deploy.deploy_to_device(device.port, builds[1], ready_timeout=60)
    full_s = time.monotonic() - t0
    assert installed(device.flash, builds) == 1
    assert res.files == len(builds[1].manifest) and res.file_bytes > 0
    assert res.hello is not None and res.hello["firmware"] == deploy.firmware_version()  # the app answers
    board = json.loads((device.flash / "board.json").read_text())
    assert board["id"] == deploy.VM_BOARD_ID and board["hal"] == "vm"
    assert (device.flash / "lib/vitale/codec/cbor.mpy").is_file()  # compiled
    assert (device.flash / "lib/vitale/vision/qr/binarize.py").is_file()  # viper: source for the VM
    before = {p: p.stat().st_mtime_ns for p in device.flash.rglob("*")
              if p.is_file() and p.is_relative_to(device.flash / "lib")}
    t0 = time.monotonic()
    again = deploy.deploy_to_device(device.port, builds[1], ready_timeout=60)
    second_s = time.monotonic() - t0
    assert again.plan.empty and again.file_bytes == 0 and again.files == 0
    assert again.hello is not None and again.hello["firmware"] == deploy.firmware_version()
    after = {p: p.stat().st_mtime_ns for p in device.flash.rglob("*")
             if p.is_file() and p.is_relative_to(device.flash / "lib")}
    assert after == before  # not one firmware file rewritten
    # an incremental deploy copies the changed files only
    t0 = time.monotonic()
    inc = deploy.deploy_to_device(device.port, builds[2], ready_timeout=60)
    inc_s = time.monotonic() - t0
    assert sorted(inc.plan.copy) == ["/lib/vitale/__init__.mpy", "/lib/vitale/deploy_probe.mpy",
                                     "/lib/vitale/store.mpy"]
    assert installed(device.flash, builds) == 2
    assert inc.hello is not None and str(inc.hello["firmware"]).endswith("+deploytest")
    device.power_cycle()  # boots from the flash
    assert booted_version(device).endswith("+deploytest")
    with capsys.disabled():
        print(f"\nVM deploy (each with reset + hello): full {res.files} files {res.file_bytes} B in {full_s:.1f} s "
              f"(raw-paste: {res.raw_paste}), second 0 B in {second_s:.1f} s, "
              f"incremental {inc.files} files {inc.file_bytes} B in {inc_s:.1f} s")


def test_cli_deploy_onto_the_vm(device: Device, capsys: pytest.CaptureFixture[str]) -> None:
    # whatever the device holds (factory image, or the test variant): the CLI puts the real firmware there
    assert vitale_main(["--port", device.port, "deploy", "--board", deploy.VM_BOARD_ID, "--no-reset", "-q"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"-march=bytecode: [1-9]\d* copied \([1-9]\d* B\)", out), out
    assert "not reset (--no-reset)" in out
    assert vitale_main(["--port", device.port, "deploy", "--board", deploy.VM_BOARD_ID, "--dry-run"]) == 0
    assert "0 to copy, 0 to delete" in capsys.readouterr().out


def test_interrupted_deploy_boots_the_previous_or_the_new_version(tmp_path: Path,
                                                                   builds: dict[int, deploy.Build]) -> None:
    """Power cut before op k of a v1 -> v2 deploy, for several k; power on: main.py boots v1 or v2, complete."""
    base = tmp_path / "v1"
    d = Device(base)
    try:
        deploy.deploy_to_device(d.port, builds[1], reset=False)
    finally:
        d.power_off()
    n = len(deploy.steps(deploy.plan(builds[2].manifest, builds[1].manifest)))
    cuts = sorted({1, n // 3, n // 2, (2 * n) // 3, n - 1, n})
    outcomes: dict[int, int] = {}
    version = {1: builds[1], 2: builds[2]}
    for k in cuts:
        flash = tmp_path / f"cut{k}"
        shutil.copytree(base, flash)
        d = Device(flash)
        try:
            def cut_at(i: int, total: int, op: deploy.Op, k: int = k) -> None:
                if i == k:
                    d.power_off()  # node killed: whatever the VM committed stays, nothing else
                    raise Cut
            if k < n:
                with pytest.raises((Cut, Exception)):
                    deploy.deploy_to_device(d.port, builds[2], reset=False, progress=cut_at)
            else:
                deploy.deploy_to_device(d.port, builds[2], reset=False)
            d.power_cycle()  # boot: main.py's prelude finishes a committed journal, then the app
            v = booted_version(d)
            state = installed(flash, version)
            assert state in (1, 2), f"a cut before op {k} of {n} left a mix"
            assert v.endswith("+deploytest") == (state == 2), (k, v, state)
            outcomes[k] = state
            deploy.deploy_to_device(d.port, builds[2], reset=False)  # the next deploy completes
            assert installed(flash, version) == 2
        finally:
            d.power_off()
            shutil.rmtree(flash, ignore_errors=True)
    print(f"v1 -> v2 on the VM: {n} ops; cut before op k -> version booted: {outcomes}")
    assert set(outcomes.values()) == {1, 2}  # both sides of the commit point were cut
