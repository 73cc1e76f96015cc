"""Holder side of ISO 18013-5 for tests and the phone emulator: DeviceResponse from IssuerSigned.

The phone keeps the issuer's `*.mdoc.cbor` (IssuerSigned) and its device key.
At a read it discloses the requested elements (the IssuerSignedItemBytes are
copied byte for byte, never re-encoded) and proves possession of the device
key over the SessionTranscript, by signature (deviceSignature, ES256) or by
MAC (deviceMac, HMAC-SHA-256 with EMacKey from ECDH with the reader's
ephemeral key).

API:
    session_transcript_bytes(device_engagement, e_reader_key_bytes, handover) -> bytes
    e_reader_key_bytes(pub) -> bytes
    items_request_bytes(doc_type, {ns: [names]}, intent_to_retain) -> bytes
    build_device_response(issuer_signed, device_key, session_transcript, requested=..., mac_reader_pub=...) -> bytes
    make_container(device_response, session_transcript, e_reader_key=..., items_request=...) -> bytes
    new_session() -> SimSession    (a made-up engagement + reader key, for tests)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vitale_host.verify import (
    cbor_head, device_authentication_bytes, item_spans, mac_structure, sig_structure, strict_loads, tag24,
)

from .authority import PrivateKey, cose_key, es256_sign, new_key

EMPTY_DEVICE_NAMESPACES = tag24(b"\xa0")


def _text(s: str) -> bytes:
    b = s.encode()
    return cbor_head(3, len(b)) + b


def _map(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return cbor_head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def _array(items: list[bytes]) -> bytes:
    return cbor_head(4, len(items)) + b"".join(items)


def e_reader_key_bytes(pub: ec.EllipticCurvePublicKey) -> bytes:
    """EReaderKeyBytes = #6.24(bstr .cbor COSE_Key)."""
    return tag24(cbor2.dumps(cose_key(pub)))


def session_transcript_bytes(device_engagement: bytes, e_reader_key: bytes, handover: Any) -> bytes:
    """SessionTranscriptBytes = #6.24([DeviceEngagementBytes, EReaderKeyBytes, Handover]).

    `device_engagement` is the raw DeviceEngagement as received (it gets wrapped in tag 24);
    `e_reader_key` is EReaderKeyBytes exactly as sent; `handover` a CBOR value (None for QR).
    """
    return tag24(b"\x83" + tag24(device_engagement) + e_reader_key + cbor2.dumps(handover))


def items_request_bytes(doc_type: str, names: Mapping[str, Iterable[str]], intent_to_retain: bool = False) -> bytes:
    """ItemsRequestBytes for one docType."""
    req = {"docType": doc_type, "nameSpaces": {ns: {n: intent_to_retain for n in ids} for ns, ids in names.items()}}
    return tag24(cbor2.dumps(req))


def _issuer_signed_parts(issuer_signed: bytes) -> tuple[dict[str, list[tuple[str, bytes]]], bytes]:
    """({namespace: [(element id, raw IssuerSignedItemBytes)]}, raw issuerAuth) from IssuerSigned bytes."""
    _, spans, end = item_spans(issuer_signed, 0)
    if end != len(issuer_signed):
        raise ValueError("trailing bytes after IssuerSigned")
    fields = {strict_loads(issuer_signed[a:b]): spans[i + 1] for i, (a, b) in enumerate(spans) if i % 2 == 0}
    auth = fields["issuerAuth"]
    namespaces: dict[str, list[tuple[str, bytes]]] = {}
    if "nameSpaces" in fields:
        _, ns_spans, _ = item_spans(issuer_signed, fields["nameSpaces"][0])
        for i in range(0, len(ns_spans), 2):
            ns = strict_loads(issuer_signed[ns_spans[i][0]:ns_spans[i][1]])
            _, item_list, _ = item_spans(issuer_signed, ns_spans[i + 1][0])
            out = namespaces.setdefault(ns, [])
            for a, b in item_list:
                raw = issuer_signed[a:b]
                item = cbor2.loads(strict_loads(raw).value)
                out.append((item["elementIdentifier"], raw))
    return namespaces, issuer_signed[auth[0]:auth[1]]


def doc_type_of(issuer_signed: bytes) -> str:
    """The docType signed in the MSO."""
    auth = strict_loads(issuer_signed)["issuerAuth"]
    mso = cbor2.loads(cbor2.loads(auth[2]).value)
    return str(mso["docType"])


def build_device_response(issuer_signed: bytes, device_key: PrivateKey, session_transcript: bytes, *,
                          requested: Mapping[str, Iterable[str]] | None = None,
                          mac_reader_pub: ec.EllipticCurvePublicKey | None = None,
                          doc_type: str | None = None, device_namespaces: bytes = EMPTY_DEVICE_NAMESPACES,
                          device_protected: dict[int, Any] | None = None) -> bytes:
    """A DeviceResponse (status 0, one document) disclosing `requested` (all elements when None).

    deviceSignature by default; deviceMac when `mac_reader_pub` (the reader's ephemeral public key) is given.
    `doc_type` overrides Document.docType (default: the MSO's); `device_protected` the protected header.
    """
    namespaces, auth_raw = _issuer_signed_parts(issuer_signed)
    dt = doc_type or doc_type_of(issuer_signed)
    ns_pairs = []
    for ns, items in namespaces.items():
        wanted = None if requested is None else set(requested.get(ns, ()))
        chosen = [raw for name, raw in items if wanted is None or name in wanted]
        if chosen:
            ns_pairs.append((_text(ns), _array(chosen)))
    transcript = strict_loads(session_transcript).value
    dab = device_authentication_bytes(transcript, dt, device_namespaces)
    if mac_reader_pub is None:
        prot = cbor2.dumps(device_protected if device_protected is not None else {1: -7})
        sig = es256_sign(device_key, sig_structure(prot, dab))
        device_auth = _map([(_text("deviceSignature"), cbor2.dumps([prot, {}, None, sig]))])
    else:
        prot = cbor2.dumps(device_protected if device_protected is not None else {1: 5})
        z = device_key.exchange(ec.ECDH(), mac_reader_pub)
        key = HKDF(hashes.SHA256(), 32, hashlib.sha256(session_transcript).digest(), b"EMacKey").derive(z)
        tag = hmac.new(key, mac_structure(prot, dab), hashlib.sha256).digest()
        device_auth = _map([(_text("deviceMac"), cbor2.dumps([prot, {}, None, tag]))])
    issuer = _map([(_text("nameSpaces"), _map(ns_pairs)), (_text("issuerAuth"), auth_raw)])
    device = _map([(_text("nameSpaces"), device_namespaces), (_text("deviceAuth"), device_auth)])
    document = _map([(_text("docType"), _text(dt)), (_text("issuerSigned"), issuer), (_text("deviceSigned"), device)])
    return _map([(_text("version"), _text("1.0")), (_text("documents"), _array([document])),
                 (_text("status"), b"\x00")])


def make_container(device_response: bytes, session_transcript: bytes, e_reader_key: bytes | None = None,
                   items_request: bytes | None = None) -> bytes:
    """The verify container for `vitale verify` (docs/credential-profile.md §6)."""
    c: dict[str, bytes] = {"deviceResponse": device_response, "sessionTranscript": session_transcript}
    if e_reader_key is not None:
        c["eReaderKey"] = e_reader_key
    if items_request is not None:
        c["itemsRequest"] = items_request
    return bytes(cbor2.dumps(c))


@dataclass
class SimSession:
    """A made-up NFC static-handover session: what a reader and a phone would share."""

    e_reader_key: PrivateKey
    e_device_key: PrivateKey
    device_engagement: bytes
    handover_select: bytes
    transcript: bytes

    @property
    def e_reader_scalar(self) -> bytes:
        """The reader's ephemeral private scalar (for deviceMac verification)."""
        return self.e_reader_key.private_numbers().private_value.to_bytes(32, "big")


def new_session() -> SimSession:
    """A fresh session transcript: DeviceEngagement (no retrieval methods), Handover [HS, null]."""
    erk, edk = new_key(), new_key()
    de = cbor2.dumps({0: "1.0", 1: [1, cbor2.CBORTag(24, cbor2.dumps(cose_key(edk.public_key())))]})
    # A minimal Handover Select NDEF message: 'Hs' version 1.5 with no carriers (enough for a transcript).
    hs = bytes([0xD1, 0x02, 0x01]) + b"Hs" + b"\x15"
    st = session_transcript_bytes(de, e_reader_key_bytes(erk.public_key()), [hs, None])
    return SimSession(erk, edk, de, hs, st)
