"""The HIL suite itself, no board needed: it skips cleanly; it runs green on the virtual reader and the VM."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_hil_suite_collects_and_skips_with_its_reason() -> None:
    r = subprocess.run([sys.executable, "-m", "pytest", "tests/hil/test_hil.py", "-q", "-rs", "-p", "no:cacheprovider"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "6 skipped" in r.stdout and "passed" not in r.stdout and "error" not in r.stdout.lower()
    assert "hardware-in-the-loop: no board attached; run `pytest -m hil --hil-port PORT" in r.stdout
    # and `-m hil` selects exactly those tests
    r = subprocess.run([sys.executable, "-m", "pytest", "tests/hil", "-q", "-m", "hil", "--collect-only",
                        "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    selected = [line for line in r.stdout.splitlines() if "::" in line]
    assert len(selected) == 6 and all(line.startswith("tests/hil/test_hil.py::") for line in selected), r.stdout


def _start_emulator(tmp_path: Path, runtime: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, VITALE_HOME=str(tmp_path / "vitale-home"))
    proc = subprocess.Popen([sys.executable, "-m", "vitale_tools.cli", "emulate", "--runtime", runtime,
                             "--no-provision"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("port:"):
            return proc, line.split()[1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("the virtual reader did not print its port")


@pytest.mark.slow
def test_hil_suite_runs_against_the_virtual_reader(tmp_path: Path) -> None:
    """The HIL tests that need no board-specific hardware run green against `vitale-sim emulate`."""
    proc, port = _start_emulator(tmp_path, "cpython")
    try:
        env = dict(os.environ, VITALE_HIL_HOME=str(tmp_path / "hil-home"))
        r = subprocess.run([sys.executable, "-m", "pytest", "tests/hil/test_hil.py", "-m", "hil", "--hil-port", port,
                            "-q", "-rs", "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr
    # selftest, clock and the provisioning round trip ran; deploy (no --hil-board), NFC (no phone PN532)
    # and QR (no display) skipped with their reasons
    assert "3 passed, 3 skipped" in r.stdout, r.stdout
    assert "give --hil-board NAME" in r.stdout and "--hil-phone-port" in r.stdout


@pytest.mark.vm
@pytest.mark.slow
def test_hil_suite_with_deploy_against_the_vm_device(tmp_path: Path) -> None:
    """The MicroPython VM as the board: deploy (and the no-op second deploy), selftest, clock, provisioning."""
    from vitale_tools.mpvm.device import PtyPair, VMDevice

    pty = PtyPair()
    dev = VMDevice(pty, fs_dir=tmp_path / "flash", log=None)
    dev.start()
    try:
        env = dict(os.environ, VITALE_HIL_HOME=str(tmp_path / "hil-home"))
        r = subprocess.run([sys.executable, "-m", "pytest", "tests/hil/test_hil.py", "-m", "hil", "--hil-port",
                            pty.path, "--hil-board", "micropython-vm", "-q", "-rs", "-s", "-p", "no:cacheprovider"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    finally:
        dev.stop()
        pty.close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 passed, 2 skipped" in r.stdout, r.stdout
    assert "second deploy: 1 ops, 0 B" in r.stdout
    assert (tmp_path / "flash" / "vitale-manifest.json").is_file()
