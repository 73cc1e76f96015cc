"""The virtual reader's world: a test authority, its patients, their phones, and what the authority publishes.

Patients are the credentials in DIR/issued (`0`, `1`, `2` made by
`sim_world.make_world`), named by their file stem, their NIR or their status
index. A patient's phone is the mdoc wallet (reader authentication enforced
against the authority's reader CA) and, for the camera, a screen showing a
fresh VQR presentation at every frame.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vitale_host.models import HealthCard

from ..authority import DAY, Authority, IssuedCredential, load_private_key, present
from ..sim_world import make_world
from ..wallet import Wallet, card_target, wallet_from_files

__all__ = ["World", "WorldError"]


class WorldError(ValueError):
    """A control request the world cannot satisfy (unknown patient, unreadable file); `code` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class World:
    """A test authority folder and the patients issued in it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.auth = Authority(self.path)
        self.lock = threading.RLock()
        self._expired: dict[str, IssuedCredential] = {}

    @classmethod
    def create(cls, path: str | Path | None = None, patients: int = 3) -> World:
        """A fresh authority with `patients` synthetic patients (in a new temporary folder when path is None)."""
        return cls(make_world(path, patients))

    # ---------------------------------------------------------------- published material

    def trust_key_sec1(self) -> bytes:
        """The 65-byte SEC1 trust-list public key a reader pins."""
        pub = self.auth.keys["trust-list"].public_key()
        return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def trust_list(self) -> bytes:
        """The current signed trust list."""
        return (self.path / "trust-list.cose").read_bytes()

    def status_list(self) -> bytes:
        """The current signed status list."""
        return (self.path / "status-list.cose").read_bytes()

    def reader_roots(self) -> list[x509.Certificate]:
        """The reader CA phones check reader authentication against."""
        return [self.auth.reader_ca_cert]

    # ---------------------------------------------------------------- patients

    def patients(self) -> list[str]:
        """Stems of the issued credentials, in order."""
        stems = [p.name[: -len(".mdoc.cbor")] for p in (self.path / "issued").glob("*.mdoc.cbor")]
        stems = [s for s in stems if not s.startswith("expired-")]
        return sorted(stems, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))

    def meta(self, stem: str) -> dict[str, Any]:
        """The issued credential's metadata (DIR/issued/STEM.json)."""
        data: dict[str, Any] = json.loads((self.path / "issued" / f"{stem}.json").read_text())
        return data

    def resolve(self, patient: str) -> str:
        """A patient's stem from its stem, NIR or status index; WorldError(unknown_patient) otherwise."""
        stems = self.patients()
        if patient in stems:
            return patient
        for s in stems:
            m = self.meta(s)
            if patient in (str(m.get("card", {}).get("nir", "")), str(m.get("statusIndex"))):
                return s
        raise WorldError("unknown_patient", f"no patient {patient!r} (have {', '.join(stems)}, or a NIR)")

    def _files(self, stem: str) -> tuple[Path, Path, Path]:
        d = self.path / "issued"
        return d / f"{stem}.mdoc.cbor", d / f"{stem}.device-key.pem", d / f"{stem}.vqr-issuer.cbor"

    def _expired_stem(self, stem: str) -> str:
        """A credential of the same card issued so long ago that it has expired (made once, cached)."""
        with self.lock:
            if stem in self._expired:
                return self._expired[stem].stem
            card = HealthCard.from_dict(self.meta(stem)["card"])
            signed = int(self.auth.ds_cert.not_valid_before_utc.timestamp()) + 60
            if signed + DAY >= int(time.time()):
                raise WorldError("not_possible", "the document signer is less than a day old: no credential "
                                                 "signed within its validity can have expired yet")
            cred = self.auth.issue(card, signed, valid_days=1, stem=f"expired-{stem}")
            cred.write(self.path / "issued")
            self._expired[stem] = cred
            return cred.stem

    def phone(self, patient: str, *, expired: bool = False, consent: bool = True,
              credential: str | None = None) -> Wallet:
        """The patient's phone (mdoc wallet) for a tap; `credential`: a `*.mdoc.cbor` with its device key beside."""
        if credential is not None:
            if not credential.endswith(".mdoc.cbor") or not os.path.exists(credential):
                raise WorldError("bad_file", f"{credential}: need an existing *.mdoc.cbor (with *.device-key.pem)")
            try:
                w = wallet_from_files(credential, credential[: -len(".mdoc.cbor")] + ".device-key.pem",
                                      self.reader_roots())
            except (OSError, ValueError) as e:
                raise WorldError("bad_file", f"{credential}: {e}") from e
        else:
            stem = self.resolve(patient)
            if expired:
                stem = self._expired_stem(stem)
            w = card_target(stem, str(self.path))
        w.cfg.consent = consent
        return w

    def screen(self, patient: str | None = None, *, expired: bool = False, credential: str | None = None,
               text: str | None = None) -> Callable[[], str]:
        """What the phone screen shows: a fixed text, or a fresh VQR presentation of the patient at each frame.

        `credential`: a `*.vqr-issuer.cbor` with its `*.device-key.pem` beside.
        """
        if text is not None:
            fixed = text
            return lambda: fixed
        if credential is not None:
            if not credential.endswith(".vqr-issuer.cbor") or not os.path.exists(credential):
                raise WorldError("bad_file", f"{credential}: need an existing *.vqr-issuer.cbor "
                                             "(with *.device-key.pem)")
            issuer_path = Path(credential)
            key_path = Path(credential[: -len(".vqr-issuer.cbor")] + ".device-key.pem")
        else:
            stem = self.resolve(patient or "0")
            if expired:
                stem = self._expired_stem(stem)
            _, key_path, issuer_path = self._files(stem)
        try:
            issuer = issuer_path.read_bytes()
            key = load_private_key(key_path)
        except (OSError, ValueError) as e:
            raise WorldError("bad_file", f"{issuer_path}: {e}") from e
        return lambda: present(issuer, key, int(time.time()))

    # ---------------------------------------------------------------- the authority's actions

    def revoke(self, patient: str, now: int | None = None) -> bytes:
        """Revoke the patient's credential (status index) and sign a new status list; returns it."""
        with self.lock:
            stem = self.resolve(patient)
            idx = int(self.meta(stem)["statusIndex"])
            self.auth.revoke(idx)
            return self.auth.write_status_list(now)

    def new_status_list(self, issued_at: int, next_update_s: int = DAY) -> bytes:
        """A freshly signed status list issued at `issued_at` (next sequence number)."""
        with self.lock:
            return self.auth.write_status_list(issued_at, next_update_s=next_update_s)

    def issue_reader_cert(self, csr_der: bytes) -> bytes:
        """The reader CA's certificate for a device's CSR."""
        with self.lock:
            return self.auth.issue_reader_cert(csr_der)
