"""The firmware type-checks against the MicroPython ESP32 stubs (firmware/mypy.ini)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from conftest import ROOT

BOARD_STUBS = "micropython-esp32-stubs"  # machine, esp32, micropython, port builds of hashlib, time...
STDLIB_STUBS = "micropython-stdlib-stubs"  # a reduced typeshed: builtins, typing, io, sys...


def _tops(dist: metadata.Distribution) -> dict[str, Path]:
    """Top-level entries (modules, packages) a stub wheel installed, by file name."""
    out: dict[str, Path] = {}
    for f in dist.files or ():
        top = f.parts[0]
        if not top.endswith(".dist-info") and top != "__pycache__":
            out[top] = Path(str(dist.locate_file(top)))
    return out


def make_typeshed(dest: Path) -> Path:
    """A typeshed folder mypy can use as --custom-typeshed-dir: MicroPython's stdlib plus the ESP32 modules.

    The wheels install bare .pyi files at the top of site-packages, where mypy does not look for
    them (and it refuses site-packages on MYPYPATH). Placed in typeshed's stdlib folder and listed
    in its VERSIONS file they are found, and their own errors are not reported as ours.
    """
    stdlib_dist = _tops(metadata.distribution(STDLIB_STUBS))
    board = _tops(metadata.distribution(BOARD_STUBS))
    stdlib = dest / "stdlib"
    stdlib.mkdir(parents=True)
    (dest / "stubs").symlink_to(stdlib_dist["stubs"])
    src = stdlib_dist["stdlib"]
    for entry in src.iterdir():
        if entry.name != "VERSIONS" and entry.name not in board and entry.name != "__pycache__":
            (stdlib / entry.name).symlink_to(entry)
    versions = (src / "VERSIONS").read_text()
    listed = {line.split(":")[0].strip() for line in versions.splitlines() if ":" in line}
    extra = []
    for name, path in board.items():
        (stdlib / name).symlink_to(path)  # the port's module wins over the generic stdlib one
        mod = name[:-4] if name.endswith(".pyi") else name
        if mod not in listed:
            extra.append(mod + ": 3.0-")
    (stdlib / "VERSIONS").write_text(versions + "\n" + "\n".join(sorted(extra)) + "\n")
    return dest


@pytest.mark.slow
def test_firmware_is_mypy_clean_against_micropython_stubs(tmp_path: Path) -> None:
    try:
        typeshed = make_typeshed(tmp_path / "typeshed")
    except metadata.PackageNotFoundError as e:
        pytest.fail(f"stub package missing (install the dev extra): {e}")
    cmd = [sys.executable, "-m", "mypy", "--config-file", "firmware/mypy.ini", "--custom-typeshed-dir", str(typeshed),
           "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
