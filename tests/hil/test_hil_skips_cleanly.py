"""The HIL suite itself, without a board: it must collect and skip with its reason (an ordinary test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert "6/7 tests collected (1 deselected)" in r.stdout, r.stdout
