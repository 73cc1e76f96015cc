"""The host's pinned reader keys: which readers' signed results this computer trusts.

A reader's public key is pinned when it is provisioned (`vitale provision`,
or the virtual reader `vitale-sim emulate`, which provisions itself). The SDK
accepts a signed result only from a pinned key (docs/host-protocol.md).

File: ``$VITALE_HOME/readers.json`` (``VITALE_HOME`` defaults to
``~/.config/vitale``)::

    {"readers": {"<kid hex>": {"public_key": "<65-byte SEC1 hex>", "board": "...",
                               "pinned_at": <unix seconds>}}}

It is written atomically (temporary file, then rename) and holds no personal data.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import ReaderError
from .signed import reader_kid as kid_of


def home() -> Path:
    """The host configuration folder (``$VITALE_HOME`` or ``~/.config/vitale``)."""
    env = os.environ.get("VITALE_HOME")
    return Path(env) if env else Path.home() / ".config" / "vitale"


class PinStore:
    """The pinned reader keys in one JSON file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else home() / "readers.json"

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"readers": {}}
        except (OSError, ValueError) as e:
            raise ReaderError("bad_host_config", f"cannot read {self.path}: {e}") from e
        if not isinstance(data, dict) or not isinstance(data.get("readers"), dict):
            raise ReaderError("bad_host_config", f"{self.path} is not a pinned-readers file")
        return data

    def readers(self) -> dict[str, dict[str, Any]]:
        """kid hex -> {"public_key", "board", "pinned_at"} for every pinned reader."""
        readers: dict[str, dict[str, Any]] = self._load()["readers"]
        return readers

    def lookup(self, kid: bytes | str) -> bytes | None:
        """The pinned public key with this kid, or None."""
        k = kid.hex() if isinstance(kid, bytes) else kid.lower()
        entry = self.readers().get(k)
        if not isinstance(entry, dict):
            return None
        try:
            key = bytes.fromhex(str(entry.get("public_key", "")))
        except ValueError:
            return None
        return key if kid_of(key).hex() == k else None  # an edited entry whose key has another kid is ignored

    def pin(self, public_key: bytes, board: str = "") -> str:
        """Pin a reader key (65-byte uncompressed SEC1); returns its kid in hex."""
        if len(public_key) != 65 or public_key[0] != 4:
            raise ReaderError("bad_args", "a reader key is a 65-byte uncompressed SEC1 P-256 point")
        data = self._load()
        kid = kid_of(public_key).hex()
        data["readers"][kid] = {"public_key": public_key.hex(), "board": board, "pinned_at": int(time.time())}
        self._write(data)
        return kid

    def unpin(self, kid: bytes | str) -> bool:
        """Forget a pinned reader; True when it was pinned."""
        k = kid.hex() if isinstance(kid, bytes) else kid.lower()
        data = self._load()
        if data["readers"].pop(k, None) is None:
            return False
        self._write(data)
        return True

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".readers-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
