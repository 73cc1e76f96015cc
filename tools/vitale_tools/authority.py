"""Test authority: keys and X.509 certificates, mdoc and VQR credentials, trust and status lists.

TEST ONLY. It plays the issuer of `org.vitale-reader.hic.1` credentials
(docs/credential-profile.md, docs/vqr-format.md) and the operator of the
trust and status lists (docs/trust-and-status.md). Built on `cryptography`
and `cbor2`. The low-level builders take every parameter explicitly so the
refusal cases (`cred_cases.py`) can forge exactly one defect at a time.

Directory layout made by `Authority.init(DIR)`:

    DIR/authority.json        configuration and state (sequence numbers, next status index, revoked set)
    DIR/iaca.pem ds.pem reader-ca.pem reader.pem      certificates
    DIR/trust-list-key.pem    public key a reader pins at provisioning
    DIR/trust-list.cose       signed trust list
    DIR/status-list.cose      signed status list
    DIR/private/*.key.pem     private keys (PKCS#8, unencrypted: test only)

A reader or `vitale verify --trust DIR` needs only the three trust files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from vitale_host.models import DOC_TYPE, NAMESPACE, PROFILES, SHORT_KEYS, HealthCard, date_to_days
from vitale_host.verify import (
    B45_ALPHABET, CLAIM_CARD, CLAIM_STATUS, EKU_MDL_DS, EKU_MDL_READER, STATUS_LIST_TYPE, TRUST_LIST_TYPE,
    VQR_PREFIX, kid_of, sig_structure, tag24, vqr_presentation_tbs,
)

PrivateKey = ec.EllipticCurvePrivateKey
DAY = 86400
STATUS_CHUNK_SHIFT = 16

# --------------------------------------------------------------------------- primitives


def new_key() -> PrivateKey:
    """A fresh P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def es256_sign(key: PrivateKey, data: bytes) -> bytes:
    """ECDSA P-256 / SHA-256 signature as raw r||s (64 bytes)."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sec1(pub: ec.EllipticCurvePublicKey, compressed: bool = False) -> bytes:
    """SEC1 point encoding."""
    fmt = serialization.PublicFormat.CompressedPoint if compressed else serialization.PublicFormat.UncompressedPoint
    return pub.public_bytes(serialization.Encoding.X962, fmt)


def cose_key(pub: ec.EllipticCurvePublicKey, compressed: bool = False) -> dict[int, Any]:
    """COSE_Key EC2 P-256; compressed: y is the sign bool (RFC 9053 §7.1.1)."""
    n = pub.public_numbers()
    y: Any = bool(n.y & 1) if compressed else n.y.to_bytes(32, "big")
    return {1: 2, -1: 1, -2: n.x.to_bytes(32, "big"), -3: y}


def cose_sign1(key: PrivateKey, payload: bytes, protected: dict[int, Any] | None = None,
               unprotected: dict[int, Any] | None = None) -> bytes:
    """An untagged COSE_Sign1, ES256, attached payload. `protected` defaults to {1: -7}."""
    prot = cbor2.dumps(protected if protected is not None else {1: -7})
    sig = es256_sign(key, sig_structure(prot, payload))
    return bytes(cbor2.dumps([prot, unprotected or {}, payload, sig]))


def base45_encode(data: bytes) -> str:
    """RFC 9285 base45."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] << 8 | data[i + 1]
        out.append(B45_ALPHABET[n % 45] + B45_ALPHABET[n // 45 % 45] + B45_ALPHABET[n // 2025])
    if len(data) % 2:
        n = data[-1]
        out.append(B45_ALPHABET[n % 45] + B45_ALPHABET[n // 45])
    return "".join(out)


def tdate(ts: int) -> cbor2.CBORTag:
    """`#6.0("YYYY-MM-DDTHH:MM:SSZ")`."""
    return cbor2.CBORTag(0, dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


def utc(ts: int) -> dt.datetime:
    """Unix seconds -> aware UTC datetime."""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


def now_s() -> int:
    """The host clock, Unix seconds."""
    return int(dt.datetime.now(dt.timezone.utc).timestamp())


# --------------------------------------------------------------------------- certificates

def _name(country: str, org: str, cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _base_cert(subject: x509.Name, issuer: x509.Name, pub: ec.EllipticCurvePublicKey, not_before: int,
               not_after: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(utc(not_before)).not_valid_after(utc(not_after))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False))


def _ku(**on: bool) -> x509.KeyUsage:
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                 encipher_only=False, decipher_only=False)
    flags.update(on)
    return x509.KeyUsage(**flags)


def make_ca_cert(key: PrivateKey, cn: str, not_before: int, not_after: int, country: str = "FR",
                 org: str = "Vitale Reader Test", url: str = "https://vitale-reader.invalid") -> x509.Certificate:
    """A self-signed root: an IACA (18013-5 Annex B profile) or the reader CA."""
    name = _name(country, org, cn)
    b = (_base_cert(name, name, key.public_key(), not_before, not_after)
         .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
         .add_extension(_ku(key_cert_sign=True, crl_sign=True), critical=True)
         .add_extension(x509.IssuerAlternativeName([x509.UniformResourceIdentifier(url)]), critical=False)
         .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
             [x509.UniformResourceIdentifier(url + "/crl/" + cn.replace(" ", "-").lower() + ".crl")],
             None, None, None)]), critical=False))
    return b.sign(key, hashes.SHA256())


def make_leaf_cert(pub: ec.EllipticCurvePublicKey, ca_key: PrivateKey, ca_cert: x509.Certificate, cn: str,
                   not_before: int, not_after: int, eku: x509.ObjectIdentifier | None = EKU_MDL_DS,
                   country: str = "FR", org: str = "Vitale Reader Test",
                   url: str = "https://vitale-reader.invalid", key_usage: x509.KeyUsage | None = None
                   ) -> x509.Certificate:
    """A leaf signed by a CA: document signer (EKU 1.0.18013.5.1.2) or reader (EKU 1.0.18013.5.1.6)."""
    b = (_base_cert(_name(country, org, cn), ca_cert.subject, pub, not_before, not_after)
         .add_extension(key_usage or _ku(digital_signature=True), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
         .add_extension(x509.IssuerAlternativeName([x509.UniformResourceIdentifier(url)]), critical=False)
         .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
             [x509.UniformResourceIdentifier(url + "/crl/ca.crl")], None, None, None)]), critical=False))
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
    return b.sign(ca_key, hashes.SHA256())


def der(cert: x509.Certificate) -> bytes:
    """DER of a certificate."""
    return cert.public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------- card encodings

def mdoc_elements(card: HealthCard) -> dict[str, Any]:
    """The card as mdoc element values (full-dates as tag 1004)."""
    out: dict[str, Any] = {}
    for name, v in card.to_dict().items():
        if name == "amo_rights":
            v = [{"start": cbor2.CBORTag(1004, p["start"]), "end": cbor2.CBORTag(1004, p["end"])} for p in v]
        elif name == "amc":
            v = {k: (cbor2.CBORTag(1004, x) if k in ("start", "end") else x) for k, x in v.items()}
        out[name] = v
    return out


def vqr_card_claim(card: HealthCard, profile: str = "billing") -> dict[int, Any]:
    """The card's elements of `profile` as the VQR card claim: short keys, dates as tag 100 day counts."""
    out: dict[int, Any] = {}
    for name, v in card.to_dict().items():
        if name not in PROFILES[profile]:
            continue
        if name == "amo_rights":
            v = [[cbor2.CBORTag(100, date_to_days(p["start"])), cbor2.CBORTag(100, date_to_days(p["end"]))]
                 for p in v]
        elif name == "amc":
            keys = {"org": 1, "contract": 2, "start": 3, "end": 4}
            v = {keys[k]: (cbor2.CBORTag(100, date_to_days(x)) if k in ("start", "end") else x)
                 for k, x in v.items()}
        out[SHORT_KEYS[name]] = v
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- mdoc issuance

@dataclass
class MdocParams:
    """Everything that goes into one IssuerSigned; cases change one field at a time."""

    elements: dict[str, Any]                  # element identifier -> mdoc value
    device_pub: ec.EllipticCurvePublicKey
    ds_key: PrivateKey
    ds_cert: x509.Certificate
    signed: int
    valid_from: int
    valid_until: int
    status_index: int | None
    status_uri: str = "urn:vitale-reader:status:1"
    doc_type: str = DOC_TYPE
    namespace: str = NAMESPACE
    digest_algorithm: str = "SHA-256"
    protected: dict[int, Any] = field(default_factory=lambda: {1: -7})
    shuffle_seed: int | None = None


def make_issuer_signed(p: MdocParams) -> bytes:
    """IssuerSigned = {"nameSpaces": {ns: [IssuerSignedItemBytes]}, "issuerAuth": COSE_Sign1(MSOBytes)}."""
    rng = random.Random(p.shuffle_seed) if p.shuffle_seed is not None else random.SystemRandom()
    ids = list(range(len(p.elements)))
    rng.shuffle(ids)
    items, digests = [], {}
    for did, (name, value) in zip(ids, p.elements.items()):
        item = cbor2.dumps({"digestID": did, "random": os.urandom(16), "elementIdentifier": name,
                            "elementValue": value})
        raw = tag24(item)
        items.append(cbor2.CBORTag(24, item))
        digests[did] = hashlib.sha256(raw).digest()
    mso: dict[str, Any] = {
        "version": "1.0",
        "digestAlgorithm": p.digest_algorithm,
        "valueDigests": {p.namespace: dict(sorted(digests.items()))},
        "deviceKeyInfo": {"deviceKey": cose_key(p.device_pub)},
        "docType": p.doc_type,
        "validityInfo": {"signed": tdate(p.signed), "validFrom": tdate(p.valid_from),
                         "validUntil": tdate(p.valid_until)},
    }
    if p.status_index is not None:
        mso["status"] = {"status_list": {"idx": p.status_index, "uri": p.status_uri}}
    payload = tag24(cbor2.dumps(mso))
    auth = cose_sign1(p.ds_key, payload, p.protected, {33: der(p.ds_cert)})
    return bytes(cbor2.dumps({"nameSpaces": {p.namespace: items}, "issuerAuth": cbor2.loads(auth)}))


# --------------------------------------------------------------------------- VQR issuance

@dataclass
class VqrParams:
    """Everything that goes into one VQR issuer part."""

    card_claim: dict[int, Any]
    device_pub: ec.EllipticCurvePublicKey
    ds_key: PrivateKey
    ds_cert: x509.Certificate
    iat: int
    exp: int
    cti: bytes
    status_index: int
    iss: str = "VR-TEST"
    protected: dict[int, Any] | None = None   # default {1: -7, 4: kid}
    compressed_cnf: bool = True


def make_vqr_issuer(p: VqrParams) -> bytes:
    """The VQR issuer part: COSE_Sign1 (ES256, kid) over the CWT claims."""
    claims = {1: p.iss, 4: p.exp, 6: p.iat, 7: p.cti, 8: {1: cose_key(p.device_pub, p.compressed_cnf)},
              CLAIM_CARD: p.card_claim, CLAIM_STATUS: p.status_index}
    prot = p.protected if p.protected is not None else {1: -7, 4: kid_of(der(p.ds_cert))}
    return cose_sign1(p.ds_key, cbor2.dumps(claims), prot)


def present(issuer_part: bytes, device_key: PrivateKey, at: int, signature: bytes | None = None) -> str:
    """The phone's presentation at time `at`: `VQR1:` + base45([issuer part, at, signature])."""
    sig = signature if signature is not None else es256_sign(device_key, vqr_presentation_tbs(at, issuer_part))
    return VQR_PREFIX + base45_encode(cbor2.dumps([issuer_part, at, sig]))


# --------------------------------------------------------------------------- trust and status lists

def make_trust_list(key: PrivateKey, seq: int, issued_at: int, iacas: list[bytes], dss: list[bytes],
                    status_signer: ec.EllipticCurvePublicKey | None, readers: list[bytes],
                    reader_cas: list[bytes], list_type: str = TRUST_LIST_TYPE) -> bytes:
    """A signed trust list (docs/trust-and-status.md §2)."""
    payload: dict[int, Any] = {1: list_type, 2: seq, 3: issued_at, 4: iacas, 5: dss}
    if status_signer is not None:
        payload[6] = sec1(status_signer)
    payload[7] = readers
    payload[8] = reader_cas
    return cose_sign1(key, cbor2.dumps(payload))


def _rice_bits(values: list[int], k: int) -> int:
    return sum((v >> k) + 1 + k for v in values)


def best_rice_k(gaps: list[int]) -> int:
    """The Rice parameter giving the fewest bits for these gaps."""
    if not gaps:
        return 0
    mean = sum(gaps) / len(gaps)
    guess = max(0, int(math.log2(mean * math.log(2))) if mean > 1 else 0)
    return min(range(max(0, guess - 2), guess + 3), key=lambda k: _rice_bits(gaps, k))


def rice_encode(values: list[int], k: int) -> bytes:
    """Rice code: per value q = v >> k one-bits, a zero, then k remainder bits; MSB-first, zero-padded."""
    fmt = "0%db" % k
    bits = "".join("1" * (v >> k) + "0" + (format(v & ((1 << k) - 1), fmt) if k else "") for v in values)
    if not bits:
        return b""
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def status_chunks(revoked: list[int], size: int, shift: int = STATUS_CHUNK_SHIFT) -> list[list[int]]:
    """Per chunk the gaps to encode: first index − chunk base, then index − previous − 1."""
    chunks: list[list[int]] = [[] for _ in range((size + (1 << shift) - 1) >> shift)]
    prev_chunk, prev = -1, 0
    for idx in sorted(set(revoked)):
        if not 0 <= idx < size:
            raise ValueError(f"revoked index {idx} outside 0..{size - 1}")
        c = idx >> shift
        gap = idx - (c << shift) if c != prev_chunk else idx - prev - 1
        chunks[c].append(gap)
        prev_chunk, prev = c, idx
    return chunks


def status_payload(revoked: list[int], size: int, seq: int, issued_at: int, next_update: int,
                   shift: int = STATUS_CHUNK_SHIFT, k: int | None = None) -> dict[int, Any]:
    """The status-list payload map (docs/trust-and-status.md §3)."""
    chunks = status_chunks(revoked, size, shift)
    if k is None:
        k = best_rice_k([g for c in chunks for g in c])
    directory, data = bytearray(), bytearray()
    for gaps in chunks:
        directory += len(data).to_bytes(4, "big") + len(gaps).to_bytes(4, "big")
        data += rice_encode(gaps, k)
    return {1: STATUS_LIST_TYPE, 2: seq, 3: issued_at, 4: next_update, 5: size,
            6: sum(len(c) for c in chunks), 7: k, 8: shift, 9: bytes(directory), 10: bytes(data)}


def make_status_list(key: PrivateKey, revoked: list[int], size: int, seq: int, issued_at: int,
                     next_update: int, shift: int = STATUS_CHUNK_SHIFT) -> bytes:
    """A signed status list."""
    return cose_sign1(key, cbor2.dumps(status_payload(revoked, size, seq, issued_at, next_update, shift)))


# --------------------------------------------------------------------------- the authority on disk

def _write_pem_key(path: Path, key: PrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def load_private_key(path: str | Path) -> PrivateKey:
    """A P-256 private key from a PEM file."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def _load_cert_pem(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@dataclass
class IssuedCredential:
    """One issued credential: both formats share the device key and the status index."""

    stem: str
    card: HealthCard
    status_index: int
    cti: bytes
    issuer_signed: bytes
    vqr_issuer: bytes
    device_key: PrivateKey
    valid_from: int
    valid_until: int

    def write(self, out: Path) -> dict[str, str]:
        """Write `<stem>.mdoc.cbor`, `<stem>.device-key.pem`, `<stem>.vqr-issuer.cbor`, `<stem>.json`."""
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "mdoc": out / f"{self.stem}.mdoc.cbor",
            "device_key": out / f"{self.stem}.device-key.pem",
            "vqr_issuer": out / f"{self.stem}.vqr-issuer.cbor",
            "meta": out / f"{self.stem}.json",
        }
        files["mdoc"].write_bytes(self.issuer_signed)
        _write_pem_key(files["device_key"], self.device_key)
        files["vqr_issuer"].write_bytes(self.vqr_issuer)
        files["meta"].write_text(json.dumps({
            "docType": DOC_TYPE, "statusIndex": self.status_index, "cti": self.cti.hex(),
            "validFrom": utc(self.valid_from).isoformat(), "validUntil": utc(self.valid_until).isoformat(),
            "card": self.card.to_dict()}, indent=1, ensure_ascii=False) + "\n")
        return {k: str(v) for k, v in files.items()}


class Authority:
    """A test authority kept in a directory (see the module docstring for the layout)."""

    KEYS = ("iaca", "ds", "reader-ca", "reader", "trust-list", "status-list")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config: dict[str, Any] = json.loads((self.path / "authority.json").read_text())
        priv = self.path / "private"
        self.keys = {n: load_private_key(priv / f"{n}.key.pem") for n in self.KEYS}
        self.iaca_cert = _load_cert_pem(self.path / "iaca.pem")
        self.ds_cert = _load_cert_pem(self.path / "ds.pem")
        self.reader_ca_cert = _load_cert_pem(self.path / "reader-ca.pem")
        self.reader_cert = _load_cert_pem(self.path / "reader.pem")

    @classmethod
    def init(cls, path: str | Path, now: int | None = None, *, name: str = "Vitale Reader Test",
             iss: str = "VR-TEST", country: str = "FR", ds_days: int = 457, iaca_years: int = 9,
             status_capacity: int = 1 << STATUS_CHUNK_SHIFT) -> Authority:
        """Make the keys, certificates, first trust list (seq 1) and empty status list (seq 1)."""
        t = now_s() if now is None else now
        d = Path(path)
        if (d / "authority.json").exists():
            raise FileExistsError(f"{d} already holds an authority")
        (d / "private").mkdir(parents=True, exist_ok=True)
        keys = {n: new_key() for n in cls.KEYS}
        for n, k in keys.items():
            _write_pem_key(d / "private" / f"{n}.key.pem", k)
        start = t - DAY
        iaca = make_ca_cert(keys["iaca"], f"{name} IACA", start, t + iaca_years * 365 * DAY, country, name)
        ds = make_leaf_cert(keys["ds"].public_key(), keys["iaca"], iaca, f"{name} Document Signer",
                            start, t + ds_days * DAY, EKU_MDL_DS, country, name)
        reader_ca = make_ca_cert(keys["reader-ca"], f"{name} Reader CA", start, t + iaca_years * 365 * DAY,
                                 country, name)
        reader = make_leaf_cert(keys["reader"].public_key(), keys["reader-ca"], reader_ca, f"{name} Reader",
                                start, t + 1187 * DAY, EKU_MDL_READER, country, name)
        for fname, cert in (("iaca", iaca), ("ds", ds), ("reader-ca", reader_ca), ("reader", reader)):
            (d / f"{fname}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / "trust-list-key.pem").write_bytes(keys["trust-list"].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        config = {"name": name, "iss": iss, "country": country, "status_uri": f"urn:vitale-reader:status:{iss}",
                  "status_capacity": status_capacity, "next_index": 0, "trust_seq": 0, "status_seq": 0,
                  "revoked": [], "extra_iaca": [], "extra_ds": []}
        (d / "authority.json").write_text(json.dumps(config, indent=1) + "\n")
        auth = cls(d)
        auth.write_trust_list(t)
        auth.write_status_list(t)
        return auth

    def save(self) -> None:
        """Write the configuration and state back."""
        (self.path / "authority.json").write_text(json.dumps(self.config, indent=1) + "\n")

    # -- credentials

    def issue(self, card: HealthCard, now: int | None = None, valid_days: int = 365, stem: str | None = None,
              device_key: PrivateKey | None = None, vqr_profile: str = "billing") -> IssuedCredential:
        """Issue one credential in both formats (one status index, one device key).

        The mdoc carries every element of `card`; the VQR only those of `vqr_profile` (QR size).
        """
        t = now_s() if now is None else now
        index = int(self.config["next_index"])
        self.config["next_index"] = index + 1
        if index >= int(self.config["status_capacity"]):
            self.config["status_capacity"] = ((index >> STATUS_CHUNK_SHIFT) + 1) << STATUS_CHUNK_SHIFT
        self.save()
        dkey = device_key or new_key()
        until = t + valid_days * DAY
        cti = os.urandom(8)
        issuer_signed = make_issuer_signed(MdocParams(
            mdoc_elements(card), dkey.public_key(), self.keys["ds"], self.ds_cert, t, t, until, index,
            status_uri=str(self.config["status_uri"])))
        vqr = make_vqr_issuer(VqrParams(vqr_card_claim(card, vqr_profile), dkey.public_key(), self.keys["ds"], self.ds_cert,
                                        t, until, cti, index, iss=str(self.config["iss"])))
        return IssuedCredential(stem or f"cred-{index:06d}", card, index, cti, issuer_signed, vqr, dkey, t, until)

    # -- lists

    def trust_list_bytes(self, issued_at: int, seq: int) -> bytes:
        """The signed trust list with the authority's certificates and the extra ones."""
        iacas = [der(self.iaca_cert)] + [bytes.fromhex(h) for h in self.config["extra_iaca"]]
        dss = [der(self.ds_cert)] + [bytes.fromhex(h) for h in self.config["extra_ds"]]
        return make_trust_list(self.keys["trust-list"], seq, issued_at, iacas, dss,
                               self.keys["status-list"].public_key(), [der(self.reader_cert)],
                               [der(self.reader_ca_cert)])

    def write_trust_list(self, now: int | None = None, seq: int | None = None) -> bytes:
        """Sign and write `trust-list.cose` with the next sequence number (or `seq`)."""
        s = int(self.config["trust_seq"]) + 1 if seq is None else seq
        data = self.trust_list_bytes(now_s() if now is None else now, s)
        (self.path / "trust-list.cose").write_bytes(data)
        self.config["trust_seq"] = max(s, int(self.config["trust_seq"]))
        self.save()
        return data

    def status_list_bytes(self, issued_at: int, seq: int, next_update_s: int = DAY) -> bytes:
        """The signed status list of the revoked indices."""
        return make_status_list(self.keys["status-list"], list(self.config["revoked"]),
                                int(self.config["status_capacity"]), seq, issued_at, issued_at + next_update_s)

    def write_status_list(self, now: int | None = None, seq: int | None = None, next_update_s: int = DAY) -> bytes:
        """Sign and write `status-list.cose` with the next sequence number (or `seq`)."""
        s = int(self.config["status_seq"]) + 1 if seq is None else seq
        data = self.status_list_bytes(now_s() if now is None else now, s, next_update_s)
        (self.path / "status-list.cose").write_bytes(data)
        self.config["status_seq"] = max(s, int(self.config["status_seq"]))
        self.save()
        return data

    def revoke(self, *indices: int) -> None:
        """Mark status indices revoked (the status list must be rebuilt to publish it)."""
        revoked = set(self.config["revoked"]) | set(indices)
        self.config["revoked"] = sorted(revoked)
        self.save()

    def issue_reader_cert(self, csr_der: bytes, now: int | None = None, days: int = 825) -> bytes:
        """A reader certificate (DER, EKU 1.0.18013.5.1.6) from the reader CA for a device's PKCS#10 request.

        The request must be a P-256 key signed by itself (proof the device holds it); raises ValueError.
        """
        csr = x509.load_der_x509_csr(csr_der)
        if not csr.is_signature_valid:
            raise ValueError("the certificate request's signature does not verify")
        pub = csr.public_key()
        if not isinstance(pub, ec.EllipticCurvePublicKey) or not isinstance(pub.curve, ec.SECP256R1):
            raise ValueError("a reader key must be P-256")
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(cns[0].value) if cns else "Vitale Reader"
        t = now_s() if now is None else now
        cert = make_leaf_cert(pub, self.keys["reader-ca"], self.reader_ca_cert, cn, t - DAY, t + days * DAY,
                              EKU_MDL_READER, str(self.config["country"]), str(self.config["name"]))
        return der(cert)

    def add_trusted(self, iaca: Sequence[bytes] = (), ds: Sequence[bytes] = ()) -> None:
        """Add extra IACA / document-signer certificates (DER) to future trust lists."""
        for key, ders in (("extra_iaca", iaca), ("extra_ds", ds)):
            for d in ders:
                x509.load_der_x509_certificate(d)
                if d.hex() not in self.config[key]:
                    self.config[key].append(d.hex())
        self.save()


def load_cert_file(path: str | Path) -> bytes:
    """A certificate file (PEM, DER, or hex of DER) -> DER bytes."""
    raw = Path(path).read_bytes()
    if raw.lstrip().startswith(b"-----"):
        return der(x509.load_pem_x509_certificate(raw))
    try:
        return der(x509.load_der_x509_certificate(raw))
    except ValueError:
        return der(x509.load_der_x509_certificate(bytes.fromhex(raw.decode().strip())))
