"""The README's main job runs and ends as it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_reads_nfc_and_qr_through_the_sdk_and_refuses(tmp_path: Path) -> None:
    env = dict(os.environ, VITALE_HOME=str(tmp_path / "host"))
    proc = subprocess.run([sys.executable, "-m", "vitale_tools.cli", "demo"], capture_output=True, text=True,
                          timeout=300, env=env)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "provisioned over the link" in out
    assert "patient 0 by NFC: ACCEPTED (nfc, device auth: signature" in out
    assert "patient 1 by QR (" in out and "ACCEPTED (qr, device auth: presentation" in out
    assert out.count("re-checked on the host") == 2
    assert "patient 2 by NFC: refused revoked" in out
    assert "refused replayed" in out and "refused qr_expired" in out
    assert "demo finished" in out
