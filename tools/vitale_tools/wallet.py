"""Phone emulator: the mdoc holder side of ISO 18013-5 over NFC (ISO-DEP APDUs), for the PN532 emulator.

`Wallet` is an `HcePhone` (nfc_target.py) with two HCE services:

- the NFC Forum Type 4 Tag (AID D2760000850101) serving a static-handover
  Handover Select message: `Hs` 1.5 with its alternative carriers (an optional
  BLE carrier "0", the NFC carrier "nfc", both pointing at "mdoc"), the
  DeviceEngagement record (ID "mdoc", a fresh ephemeral key per engagement
  unless one is fixed) and the carrier configuration records; CC as multipaz
  (MLe = MLc = max NDEF size = 0x7FFF, read-only);
- the mdoc service (AID A0000002480400): ENVELOPE (INS C3) with command
  chaining (CLA 10) and DO'53', answers cut to the last ENVELOPE's Le with 61xx
  + GET RESPONSE (C0) for the rest (like multipaz, GET RESPONSE's own Le is
  ignored unless `honour_get_response_le`), SessionEstablishment / SessionData
  with AES-256-GCM session keys, SessionData {status: 20} ends the session.

A DeviceRequest gets a DeviceResponse with only the elements that are both
requested and permitted (`WalletConfig.permitted`), deviceSignature or
deviceMac (`device_auth`), after two gates:
- reader authentication (when `reader_roots` is set): readerAuth must be
  present, its x5chain leaf must be signed by a configured reader CA, be
  valid at `now`, carry EKU 1.0.18013.5.1.6, and its signature must verify
  over ReaderAuthenticationBytes. Otherwise: no data, documentErrors
  {docType: 10} (project code, see vitale.nfc.mdoc_nfc);
- consent (`consent`: True / False / a callable taking the requested names):
  denied -> documentErrors {docType: 0} ("data not returned").
Every decision is appended to `Wallet.events`.

Faults: `remove_after_apdus` (the phone leaves the field at that APDU: CardRemoved),
`consent_delay_s` (the user's time to accept: the last ENVELOPE is slow, the
phone sends S(WTX)), `fail_decrypt` (answers SessionData {status: 10}).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vitale_host.verify import cbor_head, ecdsa_verify, item_spans, sig_structure, strict_loads, tag24

from .authority import PrivateKey, cose_key, load_private_key, new_key
from .mdoc_holder import build_device_response, doc_type_of
from .nfc_target import SW_OK, ApduService, CardRemoved, HcePhone, Type4TagService, _apdu_fields

MDOC_AID = bytes.fromhex("A0000002480400")
NDEF_AID = Type4TagService.AID
EKU_MDL_READER = x509.ObjectIdentifier("1.0.18013.5.1.6")
DOC_ERR_NOT_RETURNED = 0
DOC_ERR_READER_AUTH = 10  # project convention (vitale.nfc.mdoc_nfc)
DOC_ERR_NO_DOCUMENT = 1  # project convention: the wallet holds no such docType
DE_TYPE = b"iso.org:18013:deviceengagement"
NFC_TYPE = b"iso.org:18013:nfc"
BLE_TYPE = b"application/vnd.bluetooth.le.oob"

EphemeralKey = Union[PrivateKey, ec.EllipticCurvePublicKey]
Consent = Union[bool, Callable[[Mapping[str, list[str]]], bool]]


@dataclass
class WalletConfig:
    """What the phone holds and how it behaves."""

    issuer_signed: bytes
    device_key: PrivateKey
    reader_roots: list[x509.Certificate] | None = None  # None: reader authentication not enforced
    consent: Consent = True
    permitted: Iterable[str] | None = None  # element identifiers the user lets go (None: all)
    device_auth: str = "signature"  # or "mac"
    now: int | None = None  # time for certificate checks (None: the host clock)
    nfc_limits: tuple[int, int] = (0xFFFF, 0x10000)
    nfc_carrier: bool = True  # False: a BLE-only wallet
    ble_uuid: bytes | None = None  # adds a BLE carrier record "0" first (as multipaz)
    ephemeral_key: EphemeralKey | None = None  # fixed EDeviceKey (tests); fresh per engagement otherwise
    cc_size: int = 0x7FFF
    honour_get_response_le: bool = False
    consent_delay_s: float = 0.0
    remove_after_apdus: int | None = None
    fail_decrypt: bool = False


def _ndef(records: list[tuple[int, bytes, bytes, bytes]]) -> bytes:
    """An NDEF message of (tnf, type, id, payload) records, short form where it fits."""
    out = bytearray()
    last = len(records) - 1
    for i, (tnf, rtype, rid, payload) in enumerate(records):
        short = len(payload) < 256
        flags = (0x80 if i == 0 else 0) | (0x40 if i == last else 0) | (0x10 if short else 0) | (0x08 if rid else 0)
        out.append(flags | tnf)
        out.append(len(rtype))
        out += len(payload).to_bytes(1 if short else 4, "big")
        if rid:
            out.append(len(rid))
        out += rtype + rid + payload
    return bytes(out)


def _uint_min(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def nfc_carrier_payload(max_command: int, max_response: int) -> bytes:
    """iso.org:18013:nfc record payload: version 01, TLVs 01 (command) and 02 (response)."""
    cmd, rsp = _uint_min(max_command), _uint_min(max_response)
    return b"\x01" + bytes((len(cmd) + 1, 1)) + cmd + bytes((len(rsp) + 1, 2)) + rsp


def device_engagement(e_device_pub: ec.EllipticCurvePublicKey) -> bytes:
    """DeviceEngagement for NFC engagement: version 1.0, cipher suite 1, no retrieval methods."""
    return cbor2.dumps({0: "1.0", 1: [1, cbor2.CBORTag(24, cbor2.dumps(cose_key(e_device_pub)))]})


def handover_select(de: bytes, cfg: WalletConfig) -> bytes:
    """The static-handover Handover Select message for this engagement."""
    carriers: list[tuple[bytes, tuple[int, bytes, bytes, bytes]]] = []
    if cfg.ble_uuid is not None:
        ble = b"\x02\x1c\x03" + b"\x11\x07" + cfg.ble_uuid[::-1]
        carriers.append((b"0", (2, BLE_TYPE, b"0", ble)))
    if cfg.nfc_carrier:
        carriers.append((b"nfc", (4, NFC_TYPE, b"nfc", nfc_carrier_payload(*cfg.nfc_limits))))
    acs = [(1, b"ac", b"", b"\x01" + bytes((len(ref),)) + ref + b"\x01\x04mdoc") for ref, _ in carriers]
    hs = b"\x15" + (_ndef(acs) if acs else b"")
    return _ndef([(1, b"Hs", b"", hs), (4, DE_TYPE, b"mdoc", de)] + [rec for _, rec in carriers])


def _text(s: str) -> bytes:
    b = s.encode()
    return cbor_head(3, len(b)) + b


def do53(data: bytes) -> bytes:
    """BER-TLV DO'53' around data."""
    n = len(data)
    if n < 0x80:
        head = bytes((0x53, n))
    else:
        k = (n.bit_length() + 7) // 8
        head = bytes((0x53, 0x80 | k)) + n.to_bytes(k, "big")
    return head + data


def un_do53(data: bytes) -> bytes | None:
    """The value of DO'53' (None when malformed)."""
    if len(data) < 2 or data[0] != 0x53:
        return None
    b, i = data[1], 2
    if b >= 0x80:
        k = b - 0x80
        if not 1 <= k <= 3 or len(data) < 2 + k:
            return None
        b, i = int.from_bytes(data[2 : 2 + k], "big"), 2 + k
    return data[i:] if len(data) - i == b else None


def _session_keys(priv: PrivateKey, peer: ec.EllipticCurvePublicKey, transcript: bytes) -> tuple[bytes, bytes]:
    z = priv.exchange(ec.ECDH(), peer)
    salt = hashlib.sha256(transcript).digest()
    return tuple(HKDF(hashes.SHA256(), 32, salt, info).derive(z) for info in (b"SKReader", b"SKDevice"))  # type: ignore[return-value]


def _cose_public(key: Any) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, dict) or key.get(1) != 2 or key.get(-1) != 1:
        raise ValueError("not an EC2 P-256 COSE_Key")
    x, y = key.get(-2), key.get(-3)
    if not isinstance(x, bytes) or not isinstance(y, bytes) or len(x) != 32 or len(y) != 32:
        raise ValueError("bad COSE_Key coordinates")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


class _Session:
    """One mdoc session: transcript, keys, counters, the reader's ephemeral key."""

    def __init__(self, transcript: bytes, sk_reader: bytes, sk_device: bytes, reader_pub: ec.EllipticCurvePublicKey):
        self.transcript = transcript
        self.reader = AESGCM(sk_reader)
        self.device = AESGCM(sk_device)
        self.reader_pub = reader_pub
        self.received = 0
        self.sent = 0

    def decrypt(self, data: bytes) -> bytes:
        self.received += 1
        return self.reader.decrypt(bytes(8) + self.received.to_bytes(4, "big"), data, None)

    def encrypt(self, data: bytes) -> bytes:
        self.sent += 1
        return self.device.encrypt(b"\x00" * 7 + b"\x01" + self.sent.to_bytes(4, "big"), data, None)


class HandoverTag(Type4TagService):
    """The Type 4 Tag app: a new engagement (ephemeral key + Handover Select) at each SELECT."""

    def __init__(self, wallet: Wallet) -> None:
        super().__init__(b"\xd0\x00\x00")
        self.wallet = wallet

    def process_apdu(self, apdu: bytes) -> bytes:
        """Serve CC and NDEF files; SELECT of the application starts a new engagement."""
        f = _apdu_fields(apdu)
        if f is not None and f[1] == 0xA4 and f[2] == 0x04 and f[4] == self.AID:
            msg = self.wallet.new_engagement()
            size = self.wallet.cfg.cc_size
            self.cc = (bytes.fromhex("000F20") + size.to_bytes(2, "big") * 2 + bytes.fromhex("0406E104")
                       + size.to_bytes(2, "big") + b"\x00\xff")
            self.files = {0xE103: bytearray(self.cc), 0xE104: bytearray(len(msg).to_bytes(2, "big") + msg)}
        return super().process_apdu(apdu)


class MdocService(ApduService):
    """The mdoc data-retrieval app (AID A0000002480400)."""

    def __init__(self, wallet: Wallet) -> None:
        self.wallet = wallet
        self.chain = bytearray()
        self.pending = b""
        self.chunk = 256
        self.session: _Session | None = None

    def _reset(self) -> None:
        self.chain = bytearray()
        self.pending = b""
        self.session = None

    def on_deactivated(self, reason: str) -> None:
        """Link gone or another app selected: the session is over."""
        self._reset()

    def _answer(self, body: bytes, ne: int | None) -> bytes:
        limit = ne or 256
        self.pending = body[limit:]
        if not self.pending:
            return body + SW_OK
        rest = len(self.pending)
        return body[:limit] + bytes((0x61, rest if rest < 256 else 0))

    def process_apdu(self, apdu: bytes) -> bytes:
        """SELECT, ENVELOPE (chained), GET RESPONSE."""
        f = _apdu_fields(apdu)
        if f is None:
            return b"\x67\x00"
        cla, ins, p1, _, data, ne = f
        if ins == 0xA4 and p1 == 0x04:
            self._reset()
            return SW_OK if data == MDOC_AID else b"\x6a\x82"
        if ins == 0xC0:
            if not self.pending:
                return b"\x69\x85"
            return self._answer(self.pending, ne if self.wallet.cfg.honour_get_response_le else self.chunk)
        if ins != 0xC3 or p1 != 0:
            self.pending = b""
            return b"\x6d\x00"
        self.pending = b""
        self.chain += data
        if cla & 0x10:
            return SW_OK
        msg = un_do53(bytes(self.chain))
        self.chain = bytearray()
        if msg is None:
            return b"\x6a\x80"
        reply = self.wallet.handle_message(self, msg)
        if reply is None:
            return SW_OK
        self.chunk = ne or 256
        return self._answer(do53(reply), ne)

    def apdu_latency(self, apdu: bytes) -> float | None:
        """The final ENVELOPE of the request waits for the user's consent."""
        if len(apdu) > 4 and apdu[1] == 0xC3 and not apdu[0] & 0x10 and self.session is None:
            return self.wallet.cfg.consent_delay_s or None
        return None


class Wallet(HcePhone):
    """An Android phone with an mdoc wallet app answering over NFC (see the module docstring)."""

    def __init__(self, cfg: WalletConfig, uid: bytes | None = None, *, latency_s: float = 0.002,
                 extended_apdus: bool = True) -> None:
        self.cfg = cfg
        self.tag = HandoverTag(self)
        self.mdoc = MdocService(self)
        super().__init__({NDEF_AID: self.tag, MDOC_AID: self.mdoc}, uid, latency_s=latency_s,
                         extended_apdus=extended_apdus)
        self.doc_type = doc_type_of(cfg.issuer_signed)
        self.events: list[str] = []
        self.apdu_count = 0
        self.e_device: EphemeralKey | None = None
        self.de = b""
        self.hs = b""
        self.last_request: dict[str, list[str]] | None = None
        self.last_response: bytes | None = None

    def process_apdu(self, apdu: bytes) -> bytes:
        """Route as HcePhone does; the phone may leave the field at a chosen APDU."""
        self.apdu_count += 1
        if self.cfg.remove_after_apdus is not None and self.apdu_count >= self.cfg.remove_after_apdus:
            self.events.append("removed")
            raise CardRemoved()
        return super().process_apdu(apdu)

    def new_engagement(self) -> bytes:
        """A fresh EDeviceKey (unless fixed), DeviceEngagement and Handover Select."""
        self.e_device = self.cfg.ephemeral_key if self.cfg.ephemeral_key is not None else new_key()
        pub = self.e_device if isinstance(self.e_device, ec.EllipticCurvePublicKey) else self.e_device.public_key()
        self.de = device_engagement(pub)
        self.hs = handover_select(self.de, self.cfg)
        self.mdoc.session = None
        self.events.append("engagement")
        return self.hs

    # -- messages

    def _status(self, code: int) -> bytes:
        self.events.append("status %d" % code)
        return cbor2.dumps({"status": code})

    def handle_message(self, svc: MdocService, msg: bytes) -> bytes | None:
        """One SessionEstablishment or SessionData in, the SessionData answer out (None: none)."""
        try:
            top = strict_loads(msg)
        except Exception:  # noqa: BLE001 - any decoding failure is status 11
            return self._status(11)
        if not isinstance(top, dict):
            return self._status(11)
        if svc.session is None:
            return self._establish(svc, msg, top)
        if top.get("status") == 20:
            self.events.append("terminated")
            svc.session = None
            return None
        data = top.get("data")
        if not isinstance(data, bytes):
            return self._status(11)
        return self._request(svc.session, data)

    def _establish(self, svc: MdocService, msg: bytes, top: dict[str, Any]) -> bytes:
        if not isinstance(top.get("data"), bytes) or not isinstance(top.get("eReaderKey"), cbor2.CBORTag):
            return self._status(11)
        if not isinstance(self.e_device, ec.EllipticCurvePrivateKey):
            return self._status(10)
        _, spans, _ = item_spans(msg, 0)
        raw = {strict_loads(msg[spans[i][0]:spans[i][1]]): msg[spans[i + 1][0]:spans[i + 1][1]]
               for i in range(0, len(spans), 2)}
        erk = raw["eReaderKey"]
        try:
            reader_pub = _cose_public(cbor2.loads(top["eReaderKey"].value))
        except (ValueError, TypeError, cbor2.CBORDecodeError):
            return self._status(11)
        transcript = tag24(b"\x83" + tag24(self.de) + erk + cbor2.dumps([self.hs, None]))
        sk_r, sk_d = _session_keys(self.e_device, reader_pub, transcript)
        svc.session = _Session(transcript, sk_r, sk_d, reader_pub)
        self.events.append("session")
        return self._request(svc.session, top["data"])

    def _request(self, s: _Session, data: bytes) -> bytes:
        if self.cfg.fail_decrypt:
            return self._status(10)
        try:
            request = s.decrypt(data)
        except Exception:  # noqa: BLE001 - InvalidTag and friends
            return self._status(10)
        response = self.respond(request, s)
        self.last_response = response
        return cbor2.dumps({"data": s.encrypt(response)})

    def _no_data(self, doc_type: str, code: int, event: str) -> bytes:
        self.events.append(event)
        return cbor2.dumps({"version": "1.0", "documentErrors": [{doc_type: code}], "status": 0})

    def respond(self, request: bytes, s: _Session) -> bytes:
        """The DeviceResponse for a decrypted DeviceRequest."""
        try:
            req = strict_loads(request)
            docs = req["docRequests"]
            doc_req = docs[0]
            irb_tag = doc_req["itemsRequest"]
            items = cbor2.loads(irb_tag.value)
            doc_type = items["docType"]
            names = {ns: list(v) for ns, v in items["nameSpaces"].items()}
        except Exception:  # noqa: BLE001 - a request we cannot read
            self.events.append("bad request")
            return cbor2.dumps({"version": "1.0", "status": 12})
        self.last_request = names
        irb = tag24(irb_tag.value)
        if self.cfg.reader_roots is not None:
            why = self.check_reader(doc_req.get("readerAuth"), s.transcript, irb)
            if why:
                return self._no_data(doc_type, DOC_ERR_READER_AUTH, "reader_not_trusted: " + why)
        if doc_type != self.doc_type:
            return self._no_data(doc_type, DOC_ERR_NO_DOCUMENT, "no such document")
        consent = self.cfg.consent
        if not (consent(names) if callable(consent) else consent):
            return self._no_data(doc_type, DOC_ERR_NOT_RETURNED, "consent_denied")
        permitted = None if self.cfg.permitted is None else set(self.cfg.permitted)
        chosen = {ns: [n for n in v if permitted is None or n in permitted] for ns, v in names.items()}
        mac = s.reader_pub if self.cfg.device_auth == "mac" else None
        self.events.append("sent")
        return build_device_response(self.cfg.issuer_signed, self.cfg.device_key, s.transcript,
                                     requested=chosen, mac_reader_pub=mac)

    def check_reader(self, reader_auth: Any, transcript: bytes, irb: bytes) -> str:
        """'' when readerAuth is good and chains to a configured reader CA, else the reason."""
        if not isinstance(reader_auth, list) or len(reader_auth) != 4:
            return "no readerAuth"
        prot, unprot, payload, sig = reader_auth
        if not isinstance(prot, bytes) or not isinstance(unprot, dict) or payload is not None \
                or not isinstance(sig, bytes):
            return "malformed readerAuth"
        try:
            if cbor2.loads(prot).get(1) != -7:
                return "alg is not ES256"
        except Exception:  # noqa: BLE001
            return "malformed protected header"
        chain = unprot.get(33)
        leaf_der = chain if isinstance(chain, bytes) else chain[0] if isinstance(chain, list) and chain else None
        if not isinstance(leaf_der, bytes):
            return "no x5chain"
        try:
            leaf = x509.load_der_x509_certificate(leaf_der)
        except ValueError:
            return "bad certificate"
        now = self.cfg.now if self.cfg.now is not None else int(time.time())
        if not self._chains(leaf, now):
            return "certificate does not chain to a trusted reader CA"
        try:
            eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return "no EKU"
        if EKU_MDL_READER not in eku:
            return "EKU is not mdoc reader"
        pub = leaf.public_key()
        if not isinstance(pub, ec.EllipticCurvePublicKey):
            return "not an EC key"
        rab = tag24(b"\x83" + _text("ReaderAuthentication") + strict_loads(transcript).value + irb)
        if not ecdsa_verify(pub, sig, sig_structure(prot, rab)):
            return "readerAuth signature does not verify"
        return ""

    def _chains(self, leaf: x509.Certificate, now: int) -> bool:
        if not leaf.not_valid_before_utc.timestamp() <= now <= leaf.not_valid_after_utc.timestamp():
            return False
        for root in self.cfg.reader_roots or ():
            if root.subject != leaf.issuer:
                continue
            key = root.public_key()
            if not isinstance(key, ec.EllipticCurvePublicKey):
                continue
            try:
                key.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            if root.not_valid_before_utc.timestamp() <= now <= root.not_valid_after_utc.timestamp():
                return True
        return False


def wallet_from_files(mdoc_path: str, device_key_path: str, reader_ca: list[x509.Certificate] | None = None,
                      uid: bytes | None = None, **options: Any) -> Wallet:
    """A Wallet for an issued credential (`*.mdoc.cbor` + `*.device-key.pem`), e.g. for `vitale-sim pn532`."""
    with open(mdoc_path, "rb") as f:
        issued = f.read()
    cfg = WalletConfig(issued, load_private_key(device_key_path), reader_ca, **options)
    return Wallet(cfg, uid)


def card_target(patient: str, authority: str | None, uid: bytes | None = None) -> Wallet:
    """The wallet for `vitale-sim pn532 --phone PATIENT --authority DIR`.

    PATIENT is a `*.mdoc.cbor` path, or a stem found in DIR/issued, DIR or the
    current folder (`STEM.mdoc.cbor` next to `STEM.device-key.pem`). With DIR,
    reader authentication is enforced against DIR/reader-ca.pem.
    """
    candidates = [patient] if patient.endswith(".mdoc.cbor") else [
        os.path.join(d, patient + ".mdoc.cbor") for d in
        ([os.path.join(authority, "issued"), authority] if authority else []) + ["."]]
    mdoc_path = next((c for c in candidates if os.path.exists(c)), None)
    if mdoc_path is None:
        raise FileNotFoundError("no credential for %s (looked at %s)" % (patient, ", ".join(candidates)))
    roots = None
    if authority:
        with open(os.path.join(authority, "reader-ca.pem"), "rb") as f:
            roots = [x509.load_pem_x509_certificate(f.read())]
    return wallet_from_files(mdoc_path, mdoc_path[: -len(".mdoc.cbor")] + ".device-key.pem", roots, uid)
