"""Shared pytest setup: the report lines firmware tests print, and HIL options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VM_REPORTS: list[str] = []

sys.path.insert(0, str(ROOT / "tests" / "firmware"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vitale")
    group.addoption("--hil-port", default=None, help="serial port of a real reader (runs -m hil)")
    group.addoption("--hil-board", default=None, help="board name of the real reader")
    group.addoption("--hil-phone-port", default=None, help="serial port of a PN532 playing the phone")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    import fwsupport  # tests/firmware/fwsupport.py

    lines = list(fwsupport.REPORTS) + VM_REPORTS
    if lines:
        terminalreporter.section("vector and benchmark counts")
        for line in lines:
            terminalreporter.write_line(line)
