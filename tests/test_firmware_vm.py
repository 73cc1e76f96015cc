"""Runs every tests/firmware/test_*.py file inside the MicroPython VM.

A file may declare `VM_SHARDS = N` (split into N VM runs) and
`VM_SKIP = ("test_name", ...)` (tests that cannot run in the VM; each is
reported as skipped, never as passed).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, SHARED, VM_REPORTS
from vitale_tools import mpvm

FW_TESTS = ROOT / "tests" / "firmware"
FWTEST = Path(mpvm.__file__).with_name("fwtest.py")


def _cases() -> list[object]:
    cases: list[object] = []
    for f in sorted(FW_TESTS.glob("test_*.py")):
        text = f.read_text()
        m = re.search(r"^VM_SHARDS\s*=\s*(\d+)", text, re.M)
        shards = int(m.group(1)) if m else 1
        for k in range(shards):
            label = f.stem if shards == 1 else f"{f.stem}[{k + 1}/{shards}]"
            cases.append(pytest.param(f, k, shards, id=label))
    return cases


def _vm_skip(text: str) -> list[str]:
    m = re.search(r"^VM_SKIP\s*=\s*\(([^)]*)\)", text, re.M)
    return re.findall(r"['\"](test_\w+)['\"]", m.group(1)) if m else []


@pytest.mark.vm
@pytest.mark.slow
@pytest.mark.parametrize(("path", "shard", "shards"), _cases())
def test_firmware_file_in_vm(path: Path, shard: int, shards: int) -> None:
    skip = _vm_skip(path.read_text())
    args = [path.stem, "--shard", f"{shard}/{shards}"]
    if skip:
        args += ["--skip", ",".join(skip)]
    mounts: dict[str, str | Path] = {"/tests": FW_TESTS}
    if (SHARED / "vectors").is_dir():
        mounts["/vectors"] = SHARED / "vectors"
    res = mpvm.run_file(FWTEST, args=args, mounts=mounts, timeout=900)
    VM_REPORTS.extend(f"{line} (VM)" for line in res.lines if line.startswith("REPORT "))
    failing = [line.split()[1] for line in res.lines if line.startswith("FAIL ")]
    summary = [line for line in res.lines if line.startswith("fwtest:")]
    assert res.returncode == 0 and not failing and summary, (
        f"in the MicroPython VM, {path.name} failed: {failing or 'no summary'}\n"
        f"--- stdout ---\n{res.stdout[-6000:]}\n--- stderr ---\n{res.stderr[-4000:]}"
    )
