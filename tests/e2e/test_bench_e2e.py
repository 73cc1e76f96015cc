"""`vitale-sim bench e2e` measures real reads (a smoke run with one read per channel under CPython)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vitale_tools.bench import e2e


@pytest.mark.slow
def test_bench_e2e_measures_both_channels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALE_HOME", str(tmp_path))
    rows = e2e.measure("cpython", 1, 60.0)
    assert [(r.channel, r.error, len(r.samples)) for r in rows] == [("nfc", "", 1), ("qr", "", 1)]
    nfc, qr = rows[0].samples[0], rows[1].samples[0]
    # NFC: a modelled ISO 18013-5 exchange over 115200 Bd takes well over 100 ms of wire time
    assert nfc.transport > 0.1 and nfc.link_bytes > 1000 and nfc.wall > 0
    assert qr.transport >= 1 / 15 and qr.emulator > 0  # at least one rendered frame
    text = e2e.report(rows)
    assert "cpython      nfc    1" in text and "cpython      qr     1" in text
    assert os.environ["VITALE_HOME"] == str(tmp_path)
