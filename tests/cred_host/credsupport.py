"""Shared helpers of the host credential tests (vectors, a throw-away authority)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vitale_host.verify import TrustStore
from vitale_tools.authority import Authority

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT.parent / "shared" / "vectors" / "iso18013-5"


def hexfile(rel: str) -> bytes:
    """Bytes of a `*.hex` vector file (relative to shared/vectors/iso18013-5)."""
    return bytes.fromhex((VECTORS / rel).read_text().strip())


def jsonfile(rel: str) -> Any:
    """A JSON vector file."""
    return json.loads((VECTORS / rel).read_text())


def authority_with(tmp: Path, extra_iaca_files: list[str]) -> tuple[Authority, TrustStore]:
    """A fresh authority whose trust list also trusts the given vector IACAs."""
    auth = Authority.init(tmp / "auth")
    auth.add_trusted([hexfile(f) for f in extra_iaca_files])
    auth.write_trust_list()
    return auth, TrustStore.load_dir(auth.path)
