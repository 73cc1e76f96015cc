"""Host reference verifier for health-card credentials (ISO 18013-5 mdoc and VQR).

An independent implementation, on `cryptography` and `cbor2` only, of the
checks the reader firmware makes; it imports nothing from the firmware. The
formats are in `docs/credential-profile.md`, `docs/vqr-format.md` and
`docs/trust-and-status.md`; the refusal codes and the order in which checks
run are in `docs/refusal-codes.md` (the firmware follows the same order, so
both report the same code for the same input).

Entry points: `verify_bytes` (a `VQR1:` text or a CBOR verify container),
`verify_vqr`, `verify_device_response`, `TrustStore.load_dir`. Every
failure raises `Refused` (a `ValueError`) carrying a `Refusal`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from .models import (  # noqa: F401  (Verification, Refusal re-exported for callers)
    DOC_TYPE, ELEMENT_BY_SHORT_KEY, NAMESPACE, PROFILE_REQUIRED, PROFILES, REFUSAL_CODES,
    HealthCard, ProfileError, Refusal, Verification, card_from_values, days_to_date,
)

__all__ = [
    "Policy", "Refusal", "Refused", "ReplayCache", "StatusList", "TrustList", "TrustStore", "Verification",
    "base45_decode", "load_pinned_key", "load_status_list", "load_trust_list", "parse_time", "verify_bytes",
    "verify_container", "verify_device_response", "verify_or_refusal", "verify_vqr",
]

VQR_PREFIX = "VQR1:"
VQR_CONTEXT = b"vitale-reader:vqr1:presentation"   # 31 bytes, see docs/vqr-format.md
CLAIM_CARD = -65537
CLAIM_STATUS = -65538
TRUST_LIST_TYPE = "vitale-reader/trust-list/1"
STATUS_LIST_TYPE = "vitale-reader/status-list/1"
EKU_MDL_DS = x509.ObjectIdentifier("1.0.18013.5.1.2")
EKU_MDL_READER = x509.ObjectIdentifier("1.0.18013.5.1.6")
ALG_ES256 = -7
ALG_HMAC256 = 5
MAX_DEPTH = 32

# Semantic tags are kept as CBORTag so values are seen as sent (no date parsing by cbor2).
_KEEP_TAGS = {t: (lambda t: (lambda v, _imm: cbor2.CBORTag(t, v)))(t)
              for t in (0, 1, 2, 3, 4, 5, 24, 25, 28, 29, 30, 35, 36, 37, 100, 256, 258, 260, 261, 1004, 55799)}


class Refused(ValueError):
    """The credential (or a trust/status list) was refused; `refusal` says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.refusal = Refusal(code, REFUSAL_CODES[code], detail)
        super().__init__(f"{code}: {detail}" if detail else code)

    @property
    def code(self) -> str:
        """The refusal code."""
        return self.refusal.code


def _malformed(detail: str) -> Refused:
    return Refused("malformed", detail)


# --------------------------------------------------------------------------- CBOR

def _head(buf: bytes, off: int) -> tuple[int, int, int]:
    """(major type, argument, offset after the head); definite lengths only."""
    if off >= len(buf):
        raise _malformed("truncated CBOR")
    ib = buf[off]
    major, ai = ib >> 5, ib & 31
    off += 1
    if ai < 24:
        return major, ai, off
    if ai in (24, 25, 26, 27):
        n = 1 << (ai - 24)
        if off + n > len(buf):
            raise _malformed("truncated CBOR")
        return major, int.from_bytes(buf[off:off + n], "big"), off + n
    raise _malformed("indefinite length or reserved CBOR header")


def _skip(buf: bytes, off: int, depth: int = 0) -> int:
    """Offset just after the well-formed data item starting at `off`."""
    if depth > MAX_DEPTH:
        raise _malformed("CBOR nested too deeply")
    major, arg, off = _head(buf, off)
    if major in (2, 3):
        if arg > len(buf) - off:
            raise _malformed("truncated CBOR string")
        return off + arg
    if major == 4:
        for _ in range(arg):
            off = _skip(buf, off, depth + 1)
        return off
    if major == 5:
        for _ in range(2 * arg):
            off = _skip(buf, off, depth + 1)
        return off
    if major == 6:
        return _skip(buf, off, depth + 1)
    return off  # 0, 1 ints; 7 simple/float (argument already consumed)


def item_spans(buf: bytes, off: int = 0) -> tuple[int, list[tuple[int, int]], int]:
    """For an array (or map) at `off`: (major, spans of its items (map: keys and values alternate), end)."""
    major, arg, pos = _head(buf, off)
    if major not in (4, 5):
        raise _malformed("expected a CBOR array or map")
    spans = []
    for _ in range(arg if major == 4 else 2 * arg):
        end = _skip(buf, pos, 1)
        spans.append((pos, end))
        pos = end
    return major, spans, pos


def strict_loads(buf: bytes) -> Any:
    """Decode exactly one well-formed CBOR item: definite lengths, no duplicate keys, no trailing bytes."""
    if not isinstance(buf, (bytes, bytearray)):
        raise _malformed("expected bytes")
    buf = bytes(buf)
    if _skip(buf, 0) != len(buf):
        raise _malformed("trailing bytes after CBOR item")
    try:
        return cbor2.loads(buf, semantic_decoders=_KEEP_TAGS, allow_indefinite=False,
                           allow_duplicate_keys=False, max_depth=MAX_DEPTH + 2)
    except Exception as e:  # cbor2 raises several types; all mean "not acceptable CBOR"
        raise _malformed(f"CBOR: {e}") from None


def _tag24_content(raw: bytes, what: str) -> bytes:
    """The bytes inside an encoded `#6.24(bstr)`."""
    v = strict_loads(raw)
    if not isinstance(v, cbor2.CBORTag) or v.tag != 24 or not isinstance(v.value, bytes):
        raise _malformed(f"{what} must be a tag-24 byte string")
    return bytes(v.value)


def cbor_head(major: int, n: int) -> bytes:
    """A minimal-length CBOR head (major type, argument)."""
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    raise ValueError("length too large")


def tag24(inner: bytes) -> bytes:
    """Encode `#6.24(bstr)` around already-encoded CBOR, minimal headers."""
    return b"\xd8\x18" + cbor_head(2, len(inner)) + inner


def _bstr(b: bytes) -> bytes:
    return cbor_head(2, len(b)) + b


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """COSE Sig_structure for COSE_Sign1 with empty external_aad (minimal-length headers)."""
    return b"\x84\x6aSignature1" + _bstr(protected) + b"\x40" + _bstr(payload)


def mac_structure(protected: bytes, payload: bytes) -> bytes:
    """COSE MAC_structure for COSE_Mac0 with empty external_aad."""
    return b"\x84\x64MAC0" + _bstr(protected) + b"\x40" + _bstr(payload)


def device_authentication_bytes(transcript: bytes, doc_type: str, device_ns_bytes: bytes) -> bytes:
    """DeviceAuthenticationBytes from the raw SessionTranscript array and DeviceNameSpacesBytes."""
    inner = (b"\x84\x74DeviceAuthentication" + transcript + cbor2.dumps(doc_type) + device_ns_bytes)
    return tag24(inner)


def vqr_presentation_tbs(presented_at: int, issuer_part: bytes) -> bytes:
    """The 71 bytes the phone signs: context || uint64be(presented_at) || SHA-256(issuer part)."""
    return VQR_CONTEXT + presented_at.to_bytes(8, "big") + hashlib.sha256(issuer_part).digest()


# --------------------------------------------------------------------------- base45

B45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_VALUE = {c: i for i, c in enumerate(B45_ALPHABET)}


def base45_decode(text: str) -> bytes:
    """RFC 9285 base45 decoding; raises Refused('malformed') on bad input."""
    if len(text) % 3 == 1:
        raise _malformed("base45 length")
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = text[i:i + 3]
        try:
            vals = [_B45_VALUE[c] for c in chunk]
        except KeyError:
            raise _malformed("character outside base45") from None
        n = sum(v * 45 ** j for j, v in enumerate(vals))
        if len(chunk) == 3:
            if n > 0xFFFF:
                raise _malformed("base45 group out of range")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise _malformed("base45 group out of range")
            out.append(n)
    return bytes(out)


# --------------------------------------------------------------------------- COSE

@dataclass(frozen=True)
class Sign1:
    """A parsed COSE_Sign1 (or COSE_Mac0: `signature` is then the tag)."""

    protected_raw: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes | None
    signature: bytes

    @property
    def alg(self) -> Any:
        """The protected `alg` (label 1)."""
        return self.protected.get(1)


def parse_sign1(value: Any, what: str, tag: int = 18) -> Sign1:
    """A decoded COSE_Sign1 (or COSE_Mac0 with tag=17) array, optionally under its tag -> Sign1.

    Structure errors are `malformed`.
    """
    if isinstance(value, cbor2.CBORTag) and value.tag == tag:
        value = value.value
    if not isinstance(value, list) or len(value) != 4:
        raise _malformed(f"{what} is not a COSE array of 4")
    prot_raw, unprot, payload, sig = value
    if not isinstance(prot_raw, bytes) or not isinstance(unprot, dict) or not isinstance(sig, bytes):
        raise _malformed(f"{what} has wrong COSE field types")
    if payload is not None and not isinstance(payload, bytes):
        raise _malformed(f"{what} payload must be a byte string or null")
    prot = strict_loads(prot_raw) if prot_raw else {}
    if not isinstance(prot, dict):
        raise _malformed(f"{what} protected header is not a map")
    if set(prot) & set(unprot):
        raise _malformed(f"{what} has a header label both protected and unprotected")
    if 1 in unprot:
        raise _malformed(f"{what} alg must be protected")
    return Sign1(bytes(prot_raw), prot, unprot, payload, bytes(sig))


def ecdsa_verify(pub: ec.EllipticCurvePublicKey, sig: bytes, data: bytes) -> bool:
    """ES256 verify of a raw r||s signature (64 bytes)."""
    if len(sig) != 64:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    try:
        pub.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def cose_key_public(key: Any, what: str) -> ec.EllipticCurvePublicKey:
    """A COSE_Key EC2 P-256 (y as 32 bytes, or as the sign bool of a compressed point)."""
    if not isinstance(key, dict):
        raise _malformed(f"{what} is not a COSE_Key")
    if key.get(1) != 2 or key.get(-1) != 1:
        raise Refused("unsupported_alg", f"{what}: only EC2 keys on P-256")
    x, y = key.get(-2), key.get(-3)
    if not isinstance(x, bytes) or len(x) != 32:
        raise _malformed(f"{what}: x must be 32 bytes")
    if isinstance(y, bool):
        point = bytes([3 if y else 2]) + x
    elif isinstance(y, bytes) and len(y) == 32:
        point = b"\x04" + x + y
    else:
        raise _malformed(f"{what}: y must be 32 bytes or a bool")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise _malformed(f"{what}: not a point on P-256") from None


def public_key_from_sec1(point: Any, what: str) -> ec.EllipticCurvePublicKey:
    """A 65-byte uncompressed SEC1 P-256 point."""
    if not isinstance(point, bytes) or len(point) != 65 or point[0] != 4:
        raise _malformed(f"{what} must be a 65-byte uncompressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise _malformed(f"{what}: not a point on P-256") from None


def kid_of(cert_der: bytes) -> bytes:
    """The VQR `kid` of a document-signer certificate: first 8 bytes of SHA-256(DER)."""
    return hashlib.sha256(cert_der).digest()[:8]


# --------------------------------------------------------------------------- time

_TDATE_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$")


def tdate_to_unix(value: Any, what: str) -> int:
    """`#6.0("YYYY-MM-DDTHH:MM:SSZ")` -> Unix seconds (no fractions, no offsets)."""
    if not isinstance(value, cbor2.CBORTag) or value.tag != 0 or not isinstance(value.value, str):
        raise _malformed(f"{what} must be a tdate (tag 0)")
    m = _TDATE_RE.fullmatch(value.value)
    if not m:
        raise _malformed(f"{what} must be YYYY-MM-DDTHH:MM:SSZ")
    y, mo, d, h, mi, sec = (int(g) for g in m.groups())
    try:
        t = _dt.datetime(y, mo, d, h, mi, sec, tzinfo=_dt.timezone.utc)
    except ValueError:
        raise _malformed(f"{what} is not a real time") from None
    return int(t.timestamp())


def iso(ts: int) -> str:
    """Unix seconds -> 'YYYY-MM-DDTHH:MM:SSZ'."""
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> int:
    """ISO 8601 time ('Z' or offset; a bare date means midnight UTC) -> Unix seconds."""
    t = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return int(t.timestamp())


def _uint(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64


# --------------------------------------------------------------------------- trust

def _cert_times(cert: x509.Certificate) -> tuple[int, int]:
    return int(cert.not_valid_before_utc.timestamp()), int(cert.not_valid_after_utc.timestamp())


def _load_cert(der: Any, what: str) -> x509.Certificate:
    if not isinstance(der, bytes):
        raise _malformed(f"{what} must be a DER byte string")
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion):
        raise _malformed(f"{what} is not a DER certificate") from None


def _country(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    return str(attrs[0].value) if attrs else None


def _ext(cert: x509.Certificate, cls: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        raise _malformed("certificate extensions cannot be parsed") from None


def cert_public_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    """The certificate's P-256 key (`unsupported_alg` for any other key, `malformed` if unreadable)."""
    try:
        key = cert.public_key()
    except Exception:  # cryptography raises ValueError or UnsupportedAlgorithm for odd keys
        raise _malformed("certificate public key cannot be read") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise Refused("unsupported_alg", "certificate key is not P-256")
    return key


def subject(cert: x509.Certificate) -> str:
    """The subject as RFC 4514 text."""
    try:
        return cert.subject.rfc4514_string()
    except Exception:  # an undecodable name must not stop the verdict
        return "?"


def check_document_signer(ds: x509.Certificate, iacas: list[x509.Certificate]) -> x509.Certificate:
    """The IACA that issued `ds`, after the 18013-5 profile checks (no time checks); else `untrusted_issuer`."""
    cert_public_key(ds)
    issuer: x509.Certificate | None = None
    for iaca in iacas:
        try:
            if iaca.subject != ds.issuer:
                continue
            ds.verify_directly_issued_by(iaca)
        except Exception:  # InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm: not its issuer
            continue
        issuer = iaca
        break
    if issuer is None:
        raise Refused("untrusted_issuer", "document signer not issued by a trusted IACA")
    bc = _ext(issuer, x509.BasicConstraints)
    ku = _ext(issuer, x509.KeyUsage)
    if bc is None or not bc.ca or ku is None or not ku.key_cert_sign:
        raise Refused("untrusted_issuer", "trusted IACA is not a CA certificate")
    ku = _ext(ds, x509.KeyUsage)
    if ku is None or not ku.digital_signature or ku.key_cert_sign or ku.crl_sign:
        raise Refused("untrusted_issuer", "document signer key usage is not digitalSignature")
    eku = _ext(ds, x509.ExtendedKeyUsage)
    if eku is None or EKU_MDL_DS not in list(eku):
        raise Refused("untrusted_issuer", "document signer lacks EKU 1.0.18013.5.1.2")
    bc = _ext(ds, x509.BasicConstraints)
    if bc is not None and bc.ca:
        raise Refused("untrusted_issuer", "document signer is a CA")
    c_ds, c_iaca = _country(ds.subject), _country(issuer.subject)
    if c_ds is not None and c_iaca is not None and c_ds != c_iaca:
        raise Refused("untrusted_issuer", "document signer country differs from the IACA's")
    return issuer


def check_cert_times(now: int, *certs: x509.Certificate) -> None:
    """Each certificate valid at `now` (inclusive), else `expired` / `not_yet_valid`."""
    for c in certs:
        nb, na = _cert_times(c)
        if now < nb:
            raise Refused("not_yet_valid", f"certificate {subject(c)} not valid before {iso(nb)}")
        if now > na:
            raise Refused("expired", f"certificate {subject(c)} expired {iso(na)}")


def _verify_list(data: bytes, key: ec.EllipticCurvePublicKey, list_type: str) -> tuple[dict[Any, Any], bytes]:
    """A signed list (COSE_Sign1 by `key`) -> (its payload map with the type checked, the payload bytes)."""
    s1 = parse_sign1(strict_loads(data), list_type)
    if s1.alg != ALG_ES256:
        raise Refused("unsupported_alg", f"{list_type} alg {s1.alg!r}")
    if s1.payload is None:
        raise _malformed(f"{list_type} payload is detached")
    if not ecdsa_verify(key, s1.signature, sig_structure(s1.protected_raw, s1.payload)):
        raise Refused("bad_list_signature", f"{list_type} signature")
    payload = strict_loads(s1.payload)
    if not isinstance(payload, dict) or payload.get(1) != list_type:
        raise _malformed(f"payload is not a {list_type}")
    for k in (2, 3):
        if not _uint(payload.get(k)):
            raise _malformed(f"{list_type} key {k} must be a uint")
    return payload, s1.payload


def _check_seq(what: str, seq: int, payload_hash: bytes, current: tuple[int, bytes] | None) -> None:
    if current is None:
        return
    cur_seq, cur_hash = current
    if seq < cur_seq or (seq == cur_seq and payload_hash != cur_hash):
        raise Refused("rollback", f"{what} sequence {seq} after {cur_seq}")


def _cert_list(v: Any, what: str, allow_empty: bool = True) -> list[x509.Certificate]:
    if not isinstance(v, list) or (not v and not allow_empty):
        raise _malformed(f"{what} must be a list of certificates")
    return [_load_cert(d, what) for d in v]


@dataclass
class StatusList:
    """A verified status list; lookups decode one chunk only (as the reader does from flash)."""

    seq: int
    issued_at: int
    next_update: int
    size: int
    revoked_count: int
    rice_k: int
    chunk_shift: int
    directory: bytes
    data: bytes
    payload_hash: bytes = b""

    def chunk(self, i: int) -> tuple[int, int, int]:
        """(byte offset, byte length, count) of chunk i."""
        d = self.directory
        off = int.from_bytes(d[8 * i:8 * i + 4], "big")
        count = int.from_bytes(d[8 * i + 4:8 * i + 8], "big")
        end = int.from_bytes(d[8 * i + 8:8 * i + 12], "big") if 8 * i + 8 < len(d) else len(self.data)
        return off, end - off, count

    def chunk_indices(self, i: int) -> list[int]:
        """The revoked indices of chunk i, decoded (Rice-coded gaps, MSB-first bits)."""
        off, length, count = self.chunk(i)
        bits = self.data[off:off + length]
        k, base, limit = self.rice_k, i << self.chunk_shift, min(self.size, (i + 1) << self.chunk_shift)
        out: list[int] = []
        pos, nbits, prev = 0, 8 * len(bits), base - 1
        for _ in range(count):
            q = 0
            while True:
                if pos >= nbits:
                    raise _malformed("status chunk truncated")
                bit = bits[pos >> 3] >> (7 - (pos & 7)) & 1
                pos += 1
                if not bit:
                    break
                q += 1
                if q > 1 << self.chunk_shift:
                    raise _malformed("status chunk gap too large")
            if pos + k > nbits:
                raise _malformed("status chunk truncated")
            r = 0
            for _ in range(k):
                r = r << 1 | (bits[pos >> 3] >> (7 - (pos & 7)) & 1)
                pos += 1
            idx = prev + 1 + (q << k | r)
            if idx >= limit:
                raise _malformed("status index outside its chunk")
            out.append(idx)
            prev = idx
        if nbits - pos >= 8:
            raise _malformed("status chunk has trailing bytes")
        return out

    def is_revoked(self, index: int) -> bool:
        """Whether `index` is revoked; `stale_status_list` if the list does not cover it."""
        if index >= self.size:
            raise Refused("stale_status_list", f"status list covers {self.size} indices, not {index}")
        return index in self.chunk_indices(index >> self.chunk_shift)


def load_status_list(data: bytes, signer: ec.EllipticCurvePublicKey,
                     current: tuple[int, bytes] | None = None) -> StatusList:
    """Verify a status list file (`status-list.cose`) and check its layout."""
    p, raw = _verify_list(data, signer, STATUS_LIST_TYPE)
    if list(p) != list(range(1, 11)):
        raise _malformed("status list keys must be 1..10 in this order")
    for k in (4, 5, 6, 7, 8):
        if not _uint(p.get(k)):
            raise _malformed(f"status list key {k} must be a uint")
    if not isinstance(p.get(9), bytes) or not isinstance(p.get(10), bytes):
        raise _malformed("status list directory and data must be byte strings")
    sl = StatusList(p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], hashlib.sha256(raw).digest())
    if not 8 <= sl.chunk_shift <= 24 or sl.rice_k > 24 or sl.size >= 1 << 32 or sl.revoked_count > sl.size:
        raise _malformed("status list parameters out of range")
    chunks = (sl.size + (1 << sl.chunk_shift) - 1) >> sl.chunk_shift
    if len(sl.directory) != 8 * chunks:
        raise _malformed("status list directory size")
    prev, total = 0, 0
    for i in range(chunks):
        off, length, count = sl.chunk(i)
        if off != prev or length < 0 or off + length > len(sl.data) or count > 1 << sl.chunk_shift:
            raise _malformed("status list directory offsets")
        prev, total = off + length, total + count
    if prev != len(sl.data) or total != sl.revoked_count:
        raise _malformed("status list directory does not match the data")
    _check_seq("status list", sl.seq, sl.payload_hash, current)
    return sl


@dataclass
class TrustList:
    """A verified trust list."""

    seq: int
    issued_at: int
    iaca: list[x509.Certificate]
    ds: list[x509.Certificate]
    status_signer: ec.EllipticCurvePublicKey | None
    readers: list[x509.Certificate]
    reader_cas: list[x509.Certificate]
    payload_hash: bytes = b""


def load_trust_list(data: bytes, pinned: ec.EllipticCurvePublicKey,
                    current: tuple[int, bytes] | None = None) -> TrustList:
    """Verify a trust list file (`trust-list.cose`) against the pinned key; `rollback` if older than `current`."""
    p, raw = _verify_list(data, pinned, TRUST_LIST_TYPE)
    signer = public_key_from_sec1(p[6], "status-list signer") if 6 in p else None
    tl = TrustList(p[2], p[3], _cert_list(p.get(4), "IACA list", allow_empty=False),
                   _cert_list(p.get(5, []), "document-signer list"), signer,
                   _cert_list(p.get(7, []), "reader list"), _cert_list(p.get(8, []), "reader CA list"),
                   hashlib.sha256(raw).digest())
    _check_seq("trust list", tl.seq, tl.payload_hash, current)
    return tl


def load_pinned_key(pem_or_sec1: bytes) -> ec.EllipticCurvePublicKey:
    """The pinned trust-list key: a PEM SubjectPublicKeyInfo or a raw 65-byte SEC1 point."""
    if pem_or_sec1.startswith(b"-----"):
        key = serialization.load_pem_public_key(pem_or_sec1)
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise _malformed("pinned key is not P-256")
        return key
    return public_key_from_sec1(pem_or_sec1, "pinned key")


@dataclass
class TrustStore:
    """What the verifier trusts: the verified trust list and (optionally) the status list."""

    trust: TrustList
    status: StatusList | None = None
    status_error: Refused | None = None

    @classmethod
    def load(cls, trust_list: bytes, pinned: ec.EllipticCurvePublicKey, status_list: bytes | None = None,
             trust_current: tuple[int, bytes] | None = None,
             status_current: tuple[int, bytes] | None = None) -> TrustStore:
        """Verify the lists. A bad status list is remembered (reported when a credential needs it)."""
        tl = load_trust_list(trust_list, pinned, trust_current)
        store = cls(tl)
        if status_list is not None:
            if tl.status_signer is None:
                store.status_error = Refused("stale_status_list", "trust list names no status-list signer")
            else:
                try:
                    store.status = load_status_list(status_list, tl.status_signer, status_current)
                except Refused as e:
                    store.status_error = e
        return store

    @classmethod
    def load_dir(cls, path: str | Path) -> TrustStore:
        """Load `trust-list-key.pem` (pinned), `trust-list.cose` and, if present, `status-list.cose`."""
        d = Path(path)
        pinned = load_pinned_key((d / "trust-list-key.pem").read_bytes())
        status = d / "status-list.cose"
        return cls.load((d / "trust-list.cose").read_bytes(), pinned,
                        status.read_bytes() if status.exists() else None)


@dataclass
class Policy:
    """Reader policy (defaults as in docs/refusal-codes.md)."""

    qr_window_s: int = 30
    clock_skew_s: int = 5
    status_max_age_s: int = 72 * 3600
    doc_type: str | None = None          # required docType (None: any docType the trust list covers)
    profile: str | None = None           # "billing", "identity", "full": required elements must be present


@dataclass
class ReplayCache:
    """VQR replay cache: per credential `cti`, the newest accepted presentation time."""

    entries: dict[bytes, int] = field(default_factory=dict)

    def check(self, cti: bytes, presented_at: int) -> None:
        """`replayed` if this presentation is not newer than one already accepted."""
        last = self.entries.get(cti)
        if last is not None and presented_at <= last:
            raise Refused("replayed", f"presentation at {presented_at} already seen (last {last})")

    def add(self, cti: bytes, presented_at: int, now: int, keep_s: int) -> None:
        """Remember an accepted presentation; forget entries older than `keep_s`."""
        self.entries[cti] = presented_at
        for k in [k for k, t in self.entries.items() if t < now - keep_s]:
            del self.entries[k]


# --------------------------------------------------------------------------- card values

def _full_date_value(v: Any) -> str:
    if not isinstance(v, cbor2.CBORTag) or v.tag != 1004 or not isinstance(v.value, str):
        raise ProfileError("date must be a full-date (tag 1004)")
    return str(v.value)


def _days_value(v: Any) -> str:
    if not isinstance(v, cbor2.CBORTag) or v.tag != 100:
        raise ProfileError("date must be a tag-100 day count")
    return days_to_date(v.value)


def normalise_mdoc_value(name: str, v: Any) -> Any:
    """An mdoc element value -> the normalised form of models.check_value."""
    if name == "amo_rights":
        if not isinstance(v, list):
            raise ProfileError("amo_rights must be an array")
        out = []
        for p in v:
            if not isinstance(p, dict) or set(p) != {"start", "end"}:
                raise ProfileError("a rights period is {start, end}")
            out.append({"start": _full_date_value(p["start"]), "end": _full_date_value(p["end"])})
        return out
    if name == "amc":
        if not isinstance(v, dict):
            raise ProfileError("amc must be a map")
        return {k: (_full_date_value(x) if k in ("start", "end") else x) for k, x in v.items()}
    return v


_AMC_SHORT = {1: "org", 2: "contract", 3: "start", 4: "end"}


def normalise_vqr_value(name: str, v: Any) -> Any:
    """A VQR card-claim value -> the normalised form of models.check_value."""
    if name == "amo_rights":
        if not isinstance(v, list):
            raise ProfileError("amo_rights must be an array")
        out = []
        for p in v:
            if not isinstance(p, list) or len(p) != 2:
                raise ProfileError("a rights period is [start, end]")
            out.append({"start": _days_value(p[0]), "end": _days_value(p[1])})
        return out
    if name == "amc":
        if not isinstance(v, dict) or not set(v) <= set(_AMC_SHORT):
            raise ProfileError("amc must be a map with keys 1..4")
        return {_AMC_SHORT[k]: (_days_value(x) if k in (3, 4) else x) for k, x in v.items()}
    return v


def to_json(v: Any) -> Any:
    """A decoded CBOR value as JSON (bytes as hex, tags 0/1004 as their text)."""
    if isinstance(v, cbor2.CBORTag):
        if v.tag in (0, 1004) and isinstance(v.value, str):
            return v.value
        if v.tag == 100 and isinstance(v.value, int):
            try:
                return days_to_date(v.value)
            except ProfileError:
                pass
        return {"tag": v.tag, "value": to_json(v.value)}
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {str(k): to_json(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def _card(values: dict[str, Any], policy: Policy) -> HealthCard:
    try:
        card = card_from_values(values)
    except ProfileError as e:
        raise Refused("invalid_element", str(e)) from None
    if policy.profile is not None:
        missing = [n for n in PROFILE_REQUIRED[policy.profile] if n not in values]
        if missing:
            raise Refused("missing_element", ", ".join(missing))
    return card


def _check_status(store: TrustStore, index: int, now: int, policy: Policy) -> None:
    if store.status is None:
        why = f"status list refused ({store.status_error})" if store.status_error else "no status list"
        raise Refused("stale_status_list", why)
    sl = store.status
    if sl.issued_at > now + policy.clock_skew_s:
        raise Refused("stale_status_list", f"status list issued in the future ({iso(sl.issued_at)})")
    if now - sl.issued_at > policy.status_max_age_s:
        raise Refused("stale_status_list", f"status list issued {iso(sl.issued_at)}")
    try:
        revoked = sl.is_revoked(index)
    except Refused as e:
        if e.code != "malformed":
            raise
        raise Refused("stale_status_list", f"status list chunk unusable: {e.refusal.detail}") from None
    if revoked:
        raise Refused("revoked", f"status index {index}")


# --------------------------------------------------------------------------- VQR

def verify_vqr(text: str, store: TrustStore, now: int | None, policy: Policy | None = None,
               replay: ReplayCache | None = None) -> Verification:
    """Verify a `VQR1:` text at reader time `now` (Unix seconds; None = clock not set)."""
    policy = policy or Policy()
    if now is None:
        raise Refused("clock_unset")
    text = text.strip()
    if not text.startswith(VQR_PREFIX):
        raise _malformed("not a VQR1 text")
    top = strict_loads(base45_decode(text[len(VQR_PREFIX):]))
    if not isinstance(top, list) or len(top) != 3:
        raise _malformed("VQR is not [issuer, presented_at, signature]")
    issuer_part, presented_at, dsig = top
    if not isinstance(issuer_part, bytes) or not _uint(presented_at) or not isinstance(dsig, bytes):
        raise _malformed("VQR field types")
    s1 = parse_sign1(strict_loads(issuer_part), "VQR issuer part")
    if s1.alg != ALG_ES256:
        raise Refused("unsupported_alg", f"issuer alg {s1.alg!r}")
    kid = s1.protected.get(4)
    if not isinstance(kid, bytes) or len(kid) != 8:
        raise _malformed("protected kid must be 8 bytes")
    if s1.payload is None:
        raise _malformed("VQR issuer payload is detached")
    candidates = [c for c in store.trust.ds if kid_of(c.public_bytes(serialization.Encoding.DER)) == kid]
    if not candidates:
        raise Refused("untrusted_issuer", f"unknown kid {kid.hex()}")
    tbs = sig_structure(s1.protected_raw, s1.payload)
    first_error: Refused | None = None
    ds = iaca = None
    for cand in candidates:
        try:
            issuer_ca = check_document_signer(cand, store.trust.iaca)
        except Refused as e:
            first_error = first_error or e
            continue
        if ecdsa_verify(cert_public_key(cand), s1.signature, tbs):
            ds, iaca = cand, issuer_ca
            break
        first_error = Refused("bad_issuer_signature", "VQR issuer signature")
    if ds is None or iaca is None:
        raise first_error or Refused("bad_issuer_signature")
    check_cert_times(now, iaca, ds)
    claims = strict_loads(s1.payload)
    if not isinstance(claims, dict):
        raise _malformed("CWT claims are not a map")
    iss, exp, iat, cti, cnf = claims.get(1), claims.get(4), claims.get(6), claims.get(7), claims.get(8)
    card_raw, status_idx = claims.get(CLAIM_CARD), claims.get(CLAIM_STATUS)
    if not isinstance(iss, str) or not _uint(exp) or not _uint(iat) or not isinstance(cti, bytes) \
            or not 8 <= len(cti) <= 32 or not isinstance(cnf, dict) or not isinstance(card_raw, dict) \
            or not _uint(status_idx) or exp <= iat:
        raise _malformed("CWT claims missing or of the wrong type")
    nb, na = _cert_times(ds)
    if not nb <= iat <= na:
        raise Refused("untrusted_issuer", "issued outside the document signer's validity")
    if iat > now + policy.clock_skew_s:
        raise Refused("not_yet_valid", f"issued at {iso(iat)}")
    if now >= exp:
        raise Refused("expired", f"credential expired {iso(exp)}")
    device_key = cose_key_public(cnf.get(1), "cnf key")
    if not ecdsa_verify(device_key, dsig, vqr_presentation_tbs(presented_at, issuer_part)):
        raise Refused("device_auth_failed", "presentation signature")
    if presented_at > now + policy.clock_skew_s:
        raise Refused("qr_not_yet_valid", f"presented at {iso(presented_at)}")
    if now - presented_at > policy.qr_window_s:
        raise Refused("qr_expired", f"presented at {iso(presented_at)}, {now - presented_at} s ago")
    if policy.doc_type is not None and policy.doc_type != DOC_TYPE:
        raise Refused("wrong_doctype", f"a VQR carries {DOC_TYPE!r}, not {policy.doc_type!r}")
    values: dict[str, Any] = {}
    try:
        for k, v in card_raw.items():
            name = ELEMENT_BY_SHORT_KEY.get(k) if isinstance(k, int) and not isinstance(k, bool) else None
            if name is not None:
                values[name] = normalise_vqr_value(name, v)
    except ProfileError as e:
        raise Refused("invalid_element", str(e)) from None
    card = _card(values, policy)
    _check_status(store, status_idx, now, policy)
    if replay is not None:
        replay.check(cti, presented_at)
        replay.add(cti, presented_at, now, policy.qr_window_s + policy.clock_skew_s)
    if policy.profile is not None:
        card = _card({n: v for n, v in values.items() if n in PROFILES[policy.profile]}, policy)
    return Verification(
        format="vqr", doc_type=DOC_TYPE, card=card, elements={NAMESPACE: card.to_dict()},
        issuer=subject(ds), kid=kid.hex(), status_index=status_idx, valid_until=iso(exp),
        device_auth="presentation", verified_at=now, presented_at=presented_at,
        extra={"iss": iss, "cti": cti.hex()})


# --------------------------------------------------------------------------- mdoc

def _text_key_map(buf: bytes, off: int, what: str) -> dict[str, tuple[int, int]]:
    """A CBOR map with text keys at `off` -> {key: raw value span}."""
    major, spans, _ = item_spans(buf, off)
    if major != 5:
        raise _malformed(f"{what} is not a map")
    out: dict[str, tuple[int, int]] = {}
    for i in range(0, len(spans), 2):
        k = strict_loads(buf[spans[i][0]:spans[i][1]])
        if not isinstance(k, str):
            raise _malformed(f"{what} has a non-text key")
        out[k] = spans[i + 1]
    return out


def _array_spans(buf: bytes, off: int, what: str) -> list[tuple[int, int]]:
    major, spans, _ = item_spans(buf, off)
    if major != 4:
        raise _malformed(f"{what} is not an array")
    return spans


def verify_device_response(device_response: bytes, session_transcript: bytes, store: TrustStore,
                           now: int | None, policy: Policy | None = None, e_reader_key: bytes | None = None,
                           items_request: bytes | None = None) -> Verification:
    """Verify a DeviceResponse given SessionTranscriptBytes (tag 24 as sent).

    `e_reader_key` is the reader's ephemeral private scalar (32 bytes), needed only for deviceMac;
    `items_request` the ItemsRequestBytes the reader sent (returned elements must be requested).
    """
    policy = policy or Policy()
    if now is None:
        raise Refused("clock_unset")
    buf = bytes(device_response)
    top = strict_loads(buf)
    if not isinstance(top, dict) or top.get("version") not in ("1.0", "1.1") or not _uint(top.get("status")):
        raise _malformed("DeviceResponse needs version and status")
    docs = top.get("documents")
    if top["status"] != 0 or not docs:
        raise Refused("no_document", f"status {top['status']}")
    if not isinstance(docs, list) or len(docs) != 1:
        raise _malformed("exactly one document expected")
    spans = _text_key_map(buf, 0, "DeviceResponse")
    doc_off = _array_spans(buf, spans["documents"][0], "documents")[0][0]
    doc_spans = _text_key_map(buf, doc_off, "Document")
    doc = docs[0]
    if not isinstance(doc, dict) or not isinstance(doc.get("docType"), str) \
            or not isinstance(doc.get("issuerSigned"), dict) or not isinstance(doc.get("deviceSigned"), dict):
        raise _malformed("Document needs docType, issuerSigned and deviceSigned")
    doc_type: str = doc["docType"]
    issuer_signed = doc["issuerSigned"]

    # Issuer data authentication.
    s1 = parse_sign1(issuer_signed.get("issuerAuth"), "issuerAuth")
    if s1.alg != ALG_ES256:
        raise Refused("unsupported_alg", f"issuerAuth alg {s1.alg!r}")
    x5 = s1.unprotected.get(33, s1.protected.get(33))
    if isinstance(x5, list) and x5:
        x5 = x5[0]
    ds = _load_cert(x5, "x5chain")
    iaca = check_document_signer(ds, store.trust.iaca)
    if s1.payload is None:
        raise _malformed("issuerAuth payload is detached")
    if not ecdsa_verify(cert_public_key(ds), s1.signature, sig_structure(s1.protected_raw, s1.payload)):
        raise Refused("bad_issuer_signature", "issuerAuth")
    check_cert_times(now, iaca, ds)
    mso = strict_loads(_tag24_content(s1.payload, "MobileSecurityObjectBytes"))
    if not isinstance(mso, dict) or mso.get("version") != "1.0" or not isinstance(mso.get("docType"), str) \
            or not isinstance(mso.get("valueDigests"), dict) or not isinstance(mso.get("deviceKeyInfo"), dict) \
            or not isinstance(mso.get("validityInfo"), dict):
        raise _malformed("MSO structure")
    if mso.get("digestAlgorithm") != "SHA-256":
        raise Refused("unsupported_alg", f"digestAlgorithm {mso.get('digestAlgorithm')!r}")

    # Digests over the exact IssuerSignedItemBytes received.
    digests = mso["valueDigests"]
    elements: dict[str, dict[str, Any]] = {}
    is_spans = _text_key_map(buf, doc_spans["issuerSigned"][0], "issuerSigned")
    if "nameSpaces" in is_spans:
        for ns, (ns_off, _) in _text_key_map(buf, is_spans["nameSpaces"][0], "nameSpaces").items():
            ns_digests = digests.get(ns)
            seen: set[int] = set()
            for a, b in _array_spans(buf, ns_off, f"nameSpaces[{ns}]"):
                raw = buf[a:b]
                item = strict_loads(_tag24_content(raw, "IssuerSignedItemBytes"))
                if not isinstance(item, dict) or not _uint(item.get("digestID")) \
                        or not isinstance(item.get("random"), bytes) \
                        or not isinstance(item.get("elementIdentifier"), str) or "elementValue" not in item:
                    raise _malformed("IssuerSignedItem structure")
                did, name = item["digestID"], item["elementIdentifier"]
                if not isinstance(ns_digests, dict) or did in seen:
                    raise Refused("digest_mismatch", f"{ns}/{name}: namespace unknown or digestID repeated")
                seen.add(did)
                expected = ns_digests.get(did)
                if not isinstance(expected, bytes) or \
                        not hmac.compare_digest(expected, hashlib.sha256(raw).digest()):
                    raise Refused("digest_mismatch", f"{ns}/{name}")
                if name in elements.setdefault(ns, {}):
                    raise Refused("digest_mismatch", f"{ns}/{name} returned twice")
                elements[ns][name] = item["elementValue"]

    if mso["docType"] != doc_type:
        raise Refused("wrong_doctype", f"document {doc_type!r}, MSO {mso['docType']!r}")
    if policy.doc_type is not None and doc_type != policy.doc_type:
        raise Refused("wrong_doctype", f"{doc_type!r} is not {policy.doc_type!r}")

    vi = mso["validityInfo"]
    signed = tdate_to_unix(vi.get("signed"), "signed")
    valid_from = tdate_to_unix(vi.get("validFrom"), "validFrom")
    valid_until = tdate_to_unix(vi.get("validUntil"), "validUntil")
    if valid_from > valid_until:
        raise _malformed("validFrom after validUntil")
    nb, na = _cert_times(ds)
    if not nb <= signed <= na:
        raise Refused("untrusted_issuer", "MSO signed outside the document signer's validity")
    if now < valid_from:
        raise Refused("not_yet_valid", f"MSO valid from {iso(valid_from)}")
    if now > valid_until:
        raise Refused("expired", f"MSO valid until {iso(valid_until)}")

    # mdoc authentication.
    device_key = cose_key_public(mso["deviceKeyInfo"].get("deviceKey"), "deviceKey")
    ds_spans = _text_key_map(buf, doc_spans["deviceSigned"][0], "deviceSigned")
    if "nameSpaces" not in ds_spans:
        raise _malformed("deviceSigned.nameSpaces missing")
    dns_raw = buf[ds_spans["nameSpaces"][0]:ds_spans["nameSpaces"][1]]
    dns = strict_loads(_tag24_content(dns_raw, "DeviceNameSpacesBytes"))
    if not isinstance(dns, dict):
        raise _malformed("DeviceNameSpaces is not a map")
    transcript = _tag24_content(session_transcript, "SessionTranscriptBytes")
    st = strict_loads(transcript)
    if not isinstance(st, list) or len(st) != 3:
        raise _malformed("SessionTranscript is not an array of 3")
    da_bytes = device_authentication_bytes(transcript, doc_type, dns_raw)
    auth = doc["deviceSigned"].get("deviceAuth")
    if not isinstance(auth, dict) or len(auth) != 1:
        raise _malformed("deviceAuth must hold one of deviceSignature, deviceMac")
    if "deviceSignature" in auth:
        dsig = parse_sign1(auth["deviceSignature"], "deviceSignature")
        if dsig.alg != ALG_ES256:
            raise Refused("unsupported_alg", f"deviceSignature alg {dsig.alg!r}")
        if dsig.payload is not None and dsig.payload != da_bytes:
            raise Refused("device_auth_failed", "deviceSignature payload is not DeviceAuthenticationBytes")
        if not ecdsa_verify(device_key, dsig.signature, sig_structure(dsig.protected_raw, da_bytes)):
            raise Refused("device_auth_failed", "deviceSignature")
        mode = "signature"
    elif "deviceMac" in auth:
        mac = parse_sign1(auth["deviceMac"], "deviceMac", tag=17)
        if mac.alg != ALG_HMAC256:
            raise Refused("unsupported_alg", f"deviceMac alg {mac.alg!r}")
        if e_reader_key is None or len(e_reader_key) != 32:
            raise Refused("device_auth_failed", "deviceMac needs the reader's ephemeral key")
        try:
            priv = ec.derive_private_key(int.from_bytes(e_reader_key, "big"), ec.SECP256R1())
        except ValueError:
            raise _malformed("reader ephemeral key out of range") from None
        z = priv.exchange(ec.ECDH(), device_key)
        key = HKDF(hashes.SHA256(), 32, hashlib.sha256(session_transcript).digest(), b"EMacKey").derive(z)
        tag = hmac.new(key, mac_structure(mac.protected_raw, da_bytes), hashlib.sha256).digest()
        if (mac.payload is not None and mac.payload != da_bytes) or not hmac.compare_digest(tag, mac.signature):
            raise Refused("device_auth_failed", "deviceMac")
        mode = "mac"
    else:
        raise _malformed("deviceAuth must hold one of deviceSignature, deviceMac")
    if dns:
        raise Refused("not_requested", "device-signed elements are not accepted")

    if items_request is not None:
        req = strict_loads(_tag24_content(items_request, "ItemsRequestBytes"))
        if not isinstance(req, dict) or not isinstance(req.get("nameSpaces"), dict):
            raise _malformed("ItemsRequest structure")
        for ns, names in elements.items():
            asked = req["nameSpaces"].get(ns)
            extra = [n for n in names if not isinstance(asked, dict) or n not in asked]
            if extra:
                raise Refused("not_requested", f"{ns}: {', '.join(extra)}")

    card: HealthCard | None = None
    status_index: int | None = None
    out_elements = {ns: {n: to_json(v) for n, v in items.items()} for ns, items in elements.items()}
    if doc_type == DOC_TYPE:
        try:
            values = {n: normalise_mdoc_value(n, v) for n, v in elements.get(NAMESPACE, {}).items()
                      if n in PROFILES["full"]}
        except ProfileError as e:
            raise Refused("invalid_element", str(e)) from None
        card = _card(values, policy)
        out_elements[NAMESPACE] = card.to_dict()
        st_map = mso.get("status")
        sl_ref = st_map.get("status_list") if isinstance(st_map, dict) else None
        status_index = sl_ref.get("idx") if isinstance(sl_ref, dict) else None
        if not _uint(status_index):
            raise _malformed("MSO status.status_list.idx missing")
        assert status_index is not None
        _check_status(store, status_index, now, policy)
    return Verification(
        format="mdoc", doc_type=doc_type, card=card, elements=out_elements,
        issuer=subject(ds), kid=kid_of(ds.public_bytes(serialization.Encoding.DER)).hex(),
        status_index=status_index, valid_until=iso(valid_until), device_auth=mode, verified_at=now)


def verify_container(data: bytes, store: TrustStore, now: int | None, policy: Policy | None = None) -> Verification:
    """Verify a verify container (docs/credential-profile.md §6): DeviceResponse + SessionTranscript."""
    c = strict_loads(data)
    if not isinstance(c, dict) or not isinstance(c.get("deviceResponse"), bytes) \
            or not isinstance(c.get("sessionTranscript"), bytes):
        raise _malformed("container needs deviceResponse and sessionTranscript byte strings")
    erk, req = c.get("eReaderKey"), c.get("itemsRequest")
    if (erk is not None and not isinstance(erk, bytes)) or (req is not None and not isinstance(req, bytes)):
        raise _malformed("container eReaderKey/itemsRequest must be byte strings")
    return verify_device_response(c["deviceResponse"], c["sessionTranscript"], store, now, policy, erk, req)


def verify_bytes(data: bytes, store: TrustStore, now: int | None, policy: Policy | None = None,
                 replay: ReplayCache | None = None) -> Verification:
    """Verify a file's content: a `VQR1:` text, or a CBOR verify container."""
    head = data.lstrip()[:len(VQR_PREFIX)]
    if head == VQR_PREFIX.encode():
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise _malformed("VQR text is not ASCII") from None
        return verify_vqr(text, store, now, policy, replay)
    return verify_container(data, store, now, policy)


def verify_or_refusal(data: bytes, store: TrustStore, now: int | None, policy: Policy | None = None,
                      replay: ReplayCache | None = None) -> Verification | Refusal:
    """Like `verify_bytes`, returning the Refusal instead of raising it."""
    try:
        return verify_bytes(data, store, now, policy, replay)
    except Refused as e:
        return e.refusal
