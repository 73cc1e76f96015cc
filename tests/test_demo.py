"""The README's main job runs and ends as it says."""

from __future__ import annotations

import subprocess
import sys


def test_demo_reads_nfc_and_qr_and_refuses_revoked_and_replayed() -> None:
    proc = subprocess.run([sys.executable, "-m", "vitale_tools.cli", "demo"], capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "patient 0 by NFC: ACCEPTED (nfc, device auth: signature" in out
    assert "patient 1 by QR (" in out and "ACCEPTED (qr, device auth: presentation" in out
    assert "gives the same card: yes" in out
    assert "patient 2 by NFC: refused revoked" in out
    assert "refused replayed" in out and "refused qr_expired" in out
    assert "demo finished" in out
