"""Provisioning a reader, step by step (library functions; `vitale provision` is built on them).

Each function takes anything with ``request(cmd, args, timeout)`` — a `vitale_host.Reader`
or a `Connection` — and runs one step of docs/host-protocol.md ("Commands", "Reads"):

    set_clock(r)                          time.set to the host clock
    pin_trust_key(r, key)                 provision.pin (once per reader)
    upload_list(r, "trust_list", data)    provision.trust_list, chunked when larger than one line
    upload_list(r, "status_list", data)   provision.status_list
    set_config(r, policy, passthrough=…, attach_raw=…)
    install_reader_cert(r, sign)          reader.csr -> sign(csr_der) -> provision.reader_cert
    pin_reader(r, pins)                   reader.public_key -> the host's PinStore

Errors are `ReaderError`s with the device's code (``rollback``, ``bad_list_signature``,
``bad_reader_cert``, ...) or one of this module's (``bad_csr``, ``reader_key_mismatch``,
``bad_trust_key``, ``too_large``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import ReaderError
from .pins import PinStore
from .signed import reader_kid

# Raw bytes per piece of a chunked upload: 60 000 base64 characters, well under the
# 65 536-byte line of the link with the JSON around it.
CHUNK = 45_000
MAX_UPLOAD = 262_144        # the reader assembles a chunked trust list in RAM (commands.MAX_UPLOAD)
MAX_STATUS_UPLOAD = 2_097_152  # a chunked status list is streamed to flash (commands.MAX_STREAM)
LIST_TIMEOUT = 60.0          # installing a list verifies its signature on the device

Progress = Callable[[int, int], None]   # (bytes sent, total)
Signer = Callable[[bytes], bytes]       # CSR DER -> certificate DER


class Requester(Protocol):
    """What the steps need: one command, its result, errors as ReaderError."""

    def request(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        """Send one command and return its result."""


def set_clock(r: Requester, unix: int | None = None) -> int:
    """Set the reader clock (default: the host's); returns the reader's new time."""
    res = r.request("time.set", {"unix": int(time.time()) if unix is None else unix})
    now = res.get("now") if isinstance(res, dict) else None
    return now if isinstance(now, int) else 0


def trust_key_bytes(data: bytes) -> bytes:
    """The 65-byte SEC1 trust-list key from a PEM public key, raw SEC1 bytes or their hex."""
    raw = data.strip()
    try:
        if raw.startswith(b"-----"):
            key = serialization.load_pem_public_key(raw)
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
                raise ValueError("not a P-256 key")
            return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        if len(raw) != 65:
            raw = bytes.fromhex(raw.decode("ascii"))
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except (ValueError, UnicodeError) as e:
        raise ReaderError("bad_trust_key", f"not a P-256 public key (PEM, SEC1 or hex): {e}") from None
    if len(raw) != 65 or raw[0] != 4:
        raise ReaderError("bad_trust_key", "the trust-list key must be an uncompressed P-256 point")
    return raw


def pin_trust_key(r: Requester, key: bytes) -> bool:
    """Pin the trust-list key on the reader; True when pinned now, False when this key already was.

    A reader that has another key pinned answers `already_pinned` (raised: it belongs to another
    authority and must be reset, not silently re-provisioned).
    """
    res = r.request("provision.pin", {"key": trust_key_bytes(key).hex()})
    return not (isinstance(res, dict) and res.get("already") is True)


def upload_list(r: Requester, kind: str, data: bytes, progress: Progress | None = None,
                chunk: int = CHUNK) -> dict[str, Any]:
    """Install a signed trust list (kind "trust_list") or status list ("status_list").

    A list that fits one line is sent whole; a larger one in pieces of `chunk` bytes
    (offset/total, docs/host-protocol.md "Chunked upload"). `progress(sent, total)` is
    called after every piece. Returns the reader's final reply ({complete, seq, ...}).
    """
    if kind not in ("trust_list", "status_list"):
        raise ValueError("kind must be trust_list or status_list")
    if not data:
        raise ReaderError("bad_args", "the list is empty")
    limit = MAX_STATUS_UPLOAD if kind == "status_list" else MAX_UPLOAD
    if len(data) > limit:
        raise ReaderError("too_large", f"a {kind.replace('_', ' ')} is at most {limit} bytes "
                                       f"(this one is {len(data)})")
    cmd = "provision." + kind
    total = len(data)
    if total <= chunk:
        res = r.request(cmd, {"data": base64.b64encode(data).decode()}, timeout=LIST_TIMEOUT)
        if progress is not None:
            progress(total, total)
        return dict(res) if isinstance(res, dict) else {}
    res = None
    for off in range(0, total, chunk):
        piece = data[off:off + chunk]
        res = r.request(cmd, {"data": base64.b64encode(piece).decode(), "offset": off, "total": total},
                        timeout=LIST_TIMEOUT)
        if progress is not None:
            progress(off + len(piece), total)
    if not isinstance(res, dict) or res.get("complete") is not True:
        raise ReaderError("bad_reply", f"the reader did not complete the {kind} upload")
    return res


def set_config(r: Requester, policy: dict[str, Any], passthrough: bool | None = None,
               attach_raw: bool | None = None) -> dict[str, Any]:
    """Set the reader's verification policy and the passthrough / attach_raw switches."""
    args: dict[str, Any] = {"policy": dict(policy)}
    if passthrough is not None:
        args["passthrough"] = passthrough
    if attach_raw is not None:
        args["attach_raw"] = attach_raw
    res = r.request("provision.config", args)
    return dict(res) if isinstance(res, dict) else {}


def reader_public_key(r: Requester) -> bytes:
    """The reader's 65-byte SEC1 signing key, checked against the kid it reports."""
    res = r.request("reader.public_key")
    try:
        pub = bytes.fromhex(str(res["public_key"]))
        kid = str(res["kid"]).lower()
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    except (KeyError, TypeError, ValueError):
        raise ReaderError("bad_reply", "reader.public_key did not return a P-256 key and its kid") from None
    if len(pub) != 65 or reader_kid(pub).hex() != kid:
        raise ReaderError("reader_key_mismatch", "the reader's key does not match its kid")
    return pub


def request_csr(r: Requester, cn: str | None = None) -> bytes:
    """A PKCS#10 request (DER) made and signed by the reader for its own key; checked here."""
    res = r.request("reader.csr", {"cn": cn} if cn else {}, timeout=30.0)
    try:
        der = bytes.fromhex(str(res["csr"]))
        csr = x509.load_der_x509_csr(der)
        valid = csr.is_signature_valid
        key = csr.public_key()
    except (KeyError, TypeError, ValueError):
        raise ReaderError("bad_csr", "the reader's certificate request does not parse") from None
    if not valid:
        raise ReaderError("bad_csr", "the reader's certificate request is not signed by its key")
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ReaderError("bad_csr", "the certificate request is not for a P-256 key")
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if point != reader_public_key(r):
        raise ReaderError("reader_key_mismatch", "the certificate request is not for the reader's key")
    return der


def install_reader_cert(r: Requester, sign: Signer, cn: str | None = None) -> dict[str, Any]:
    """reader.csr, have `sign` (a reader CA) certify it, then provision.reader_cert."""
    csr = request_csr(r, cn)
    try:
        cert = sign(csr)
    except ValueError as e:
        raise ReaderError("bad_csr", f"the reader CA refused the request: {e}") from None
    res = r.request("provision.reader_cert", {"cert": cert.hex()}, timeout=30.0)
    return dict(res) if isinstance(res, dict) else {}


def authority_signer(path: str | Path) -> Signer:
    """A signer backed by a test authority folder's reader CA (development only)."""
    try:
        from vitale_tools.authority import Authority
    except ImportError:  # pragma: no cover - the tools ship in the same distribution
        raise ReaderError("no_authority", "the test authority tools (vitale_tools) are not installed") from None
    try:
        auth = Authority(path)
    except (OSError, ValueError, KeyError) as e:
        raise ReaderError("no_authority", f"{path} is not a test authority folder: {e}") from None

    def sign(csr_der: bytes) -> bytes:
        return auth.issue_reader_cert(csr_der)

    return sign


def pin_reader(r: Requester, pins: PinStore | None = None, board: str = "",
               expected_kid: str | None = None) -> tuple[str, bytes]:
    """Read the reader's key and pin it in the host's PinStore; returns (kid hex, key).

    `expected_kid` (the kid the reader gave at `hello`) guards against a reader swapped meanwhile.
    """
    pub = reader_public_key(r)
    kid = reader_kid(pub).hex()
    if expected_kid is not None and expected_kid.lower() != kid:
        raise ReaderError("reader_key_mismatch", "the reader's key changed during provisioning")
    (pins or PinStore()).pin(pub, board)
    return kid, pub
