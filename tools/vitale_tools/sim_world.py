"""A fresh simulation world: a test authority and synthetic patients `0`, `1`, `2`, ...

Used by `vitale-sim pn532` (and the virtual reader) when no authority is given.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from .authority import Authority
from .patients import synthetic_patients


def make_world(path: str | Path | None = None, patients: int = 3, seed: int = 1) -> Path:
    """Initialise an authority in `path` (a new temporary folder when None) and issue `patients` credentials.

    Patient k's files are DIR/issued/k.mdoc.cbor, k.device-key.pem, k.vqr-issuer.cbor, k.json.
    Returns the authority folder.
    """
    d = Path(path) if path is not None else Path(tempfile.mkdtemp(prefix="vitale-world-"))
    now = int(time.time())
    auth = Authority.init(d, now - 3600)
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    for k, card in enumerate(synthetic_patients(patients, seed, today)):
        auth.issue(card, now - 600, stem=str(k)).write(d / "issued")
    return d
