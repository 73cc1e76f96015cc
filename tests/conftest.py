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


REPORT_KEY = "vitale_report"
_reported = {"fw": 0, "vm": 0}  # lines of each list already attached to a test report
_summary: list[str] = []  # lines collected from the test reports (of every xdist worker)


def _new_report_lines() -> list[str]:
    import fwsupport  # tests/firmware/fwsupport.py

    fw, vm = fwsupport.REPORTS[_reported["fw"] :], VM_REPORTS[_reported["vm"] :]
    _reported["fw"] += len(fw)
    _reported["vm"] += len(vm)
    return list(fw) + list(vm)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Carry the REPORT lines a test printed on its own report: with xdist they reach the controller that way."""
    rep: pytest.TestReport = yield
    lines = _new_report_lines()
    if lines:
        rep.user_properties = list(rep.user_properties) + [(REPORT_KEY, line) for line in lines]
    return rep


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _summary.extend(str(v) for k, v in report.user_properties if k == REPORT_KEY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = _summary + _new_report_lines()  # and any printed outside a test (module teardown)
    if lines:
        terminalreporter.section("vector and benchmark counts")
        for line in lines:
            terminalreporter.write_line(line)
