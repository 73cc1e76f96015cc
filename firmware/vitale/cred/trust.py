"""What the reader trusts (docs/trust-and-status.md §1, §2, §4) and the issuer checks built on it.

  parse_trust_list(data, pinned, current=None) -> TrustList
      a COSE_Sign1 (ES256) by the trust-list key pinned at provisioning (65-byte
      SEC1 point): IACA roots, document signers (VQR kid lookup), the status-list
      signer, reader certificates; `current` = (seq, payload SHA-256) in use -> rollback.
  Trust(trust_list, status=None, status_error=None)       what a verification uses
  Trust.load(trust_bytes, pinned, status_list=None, trust_current=None, status_current=None)
      like the host's TrustStore.load: a refused status list is kept as
      `status_error` and reported (stale_status_list) when a credential needs it.
  Trust.from_store(store, pinned) / install(store, data, pinned)
      the lists kept in a vitale.store.Store: the trust list in RAM (a few kB),
      the status list read from flash chunk by chunk (vitale.cred.status).
  Trust.of_certs(iacas, dss=())    an unsigned trust setup (tests, vectors)

Issuer checks shared by mdoc and VQR: `check_document_signer` (the DS profile
of credential-profile.md §5.3 against the IACAs), `check_cert_times`,
`sign1` (COSE_Sign1 / Mac0 fields as the host verifier reads them),
`es256_ok`, `cose_key_point`, `load_cert`, `kid_of`.
"""

import binascii
import hashlib

from vitale.codec import cbor
from vitale.cred import status
from vitale.cred.result import Refusal
from vitale.crypto import p256, x509

TRUST_LIST_TYPE = "vitale-reader/trust-list/1"
TRUST_FILE = "trust-list"
ALG_ES256 = -7
HDR_X5CHAIN = 33


_malformed = status.malformed


def hexstr(b):
    """Lower-case hex of bytes."""
    return binascii.hexlify(b).decode()


def kid_of(cert_der):
    """The VQR kid of a document-signer certificate: the first 8 bytes of SHA-256(DER)."""
    return hashlib.sha256(cert_der).digest()[:8]


# --- COSE as the verifiers read it ----------------------------------------------------


class Sign1:
    """Fields of a COSE_Sign1 (or COSE_Mac0: `signature` is the tag)."""

    def __init__(self, protected_raw, protected, unprotected, payload, signature):
        self.protected_raw = protected_raw
        self.protected = protected
        self.unprotected = unprotected
        self.payload = payload
        self.signature = signature

    @property
    def alg(self):
        """The protected `alg` (label 1), or None."""
        return self.protected.get(1)


def sign1(value, what, tag=18):
    """A decoded COSE_Sign1 (or COSE_Mac0 with tag=17) array, untagged or under its own tag -> Sign1.

    Structure errors are `malformed` (another tag included).
    """
    if isinstance(value, cbor.Tag) and value.tag == tag:
        value = value.value
    if not isinstance(value, list) or len(value) != 4:
        raise _malformed(what + " is not a COSE array of 4")
    prot_raw, unprot, payload, sig = value
    if not isinstance(prot_raw, bytes) or not isinstance(unprot, dict) or not isinstance(sig, bytes):
        raise _malformed(what + " has wrong COSE field types")
    if payload is not None and not isinstance(payload, bytes):
        raise _malformed(what + " payload must be a byte string or null")
    return Sign1(prot_raw, status.sign1_headers(prot_raw, unprot, what), unprot, payload, sig)


def es256_ok(public_key, protected_raw, payload, signature):
    """True when signature (raw r||s) is ES256 over Sig_structure(protected, payload); hashed piecewise."""
    if len(signature) != 64:
        return False
    h = hashlib.sha256(b"\x84\x6aSignature1")
    h.update(cbor.head(2, len(protected_raw)))
    h.update(protected_raw)
    h.update(b"\x40")
    h.update(cbor.head(2, len(payload)))
    h.update(payload)
    return p256.ecdsa_verify_digest(public_key, h.digest(), signature)


def cose_key_point(key, what):
    """SEC1 point of a COSE_Key EC2 P-256 (y as 32 bytes, or the sign bool of a compressed point)."""
    if not isinstance(key, dict):
        raise _malformed(what + " is not a COSE_Key")
    if key.get(1) != 2 or key.get(-1) != 1:
        raise Refusal("unsupported_alg", what + ": only EC2 keys on P-256")
    x = key.get(-2)
    y = key.get(-3)
    if not isinstance(x, bytes) or len(x) != 32:
        raise _malformed(what + ": x must be 32 bytes")
    if isinstance(y, bool):
        point = (b"\x03" if y else b"\x02") + x
    elif isinstance(y, bytes) and len(y) == 32:
        point = b"\x04" + x + y
    else:
        raise _malformed(what + ": y must be 32 bytes or a bool")
    try:
        p256.decode_point(point)
    except ValueError:
        raise _malformed(what + ": not a point on P-256")
    return point


# --- certificates ------------------------------------------------------------------------


class Unsupported:
    """A trust-list certificate outside the firmware's profile (not P-256 / ECDSA-SHA256): never trusted."""

    def __init__(self, raw, detail):
        self.raw = raw
        self.detail = detail


def load_cert(der, what):
    """Parse a DER certificate: `malformed`, or `unsupported_alg` for another key or signature algorithm."""
    if not isinstance(der, bytes):
        raise _malformed(what + " must be a DER byte string")
    try:
        return x509.parse(der)
    except x509.X509Error as e:
        if e.code == "unsupported_alg":
            raise Refusal("unsupported_alg", what + ": " + e.detail)
        raise _malformed(what + " is not a DER certificate: " + e.detail)
    except ValueError:
        raise _malformed(what + " is not a DER certificate")


def _list_cert(der, what):
    try:
        return load_cert(der, what)
    except Refusal as e:
        if e.code != "unsupported_alg":
            raise
        return Unsupported(der, e.detail)


def check_document_signer(ds, iacas):
    """The IACA that issued `ds` after the DS profile checks (no time checks); else Refusal untrusted_issuer."""
    if isinstance(ds, Unsupported):
        raise Refusal("unsupported_alg", "certificate key is not P-256")
    issuer = None
    for iaca in iacas:
        if isinstance(iaca, Unsupported) or iaca.subject_raw != ds.issuer_raw:
            continue
        if ds.signed_by(iaca.public_key):
            issuer = iaca
            break
    if issuer is None:
        raise Refusal("untrusted_issuer", "document signer not issued by a trusted IACA")
    if not issuer.is_ca or not issuer.has_key_usage(x509.KU_KEY_CERT_SIGN):
        raise Refusal("untrusted_issuer", "trusted IACA is not a CA certificate")
    if not ds.has_key_usage(x509.KU_DIGITAL_SIGNATURE) or ds.has_key_usage(x509.KU_KEY_CERT_SIGN) \
            or ds.has_key_usage(x509.KU_CRL_SIGN):
        raise Refusal("untrusted_issuer", "document signer key usage is not digitalSignature")
    if ds.ext_key_usage is None or x509.EKU_MDL_DS not in ds.ext_key_usage:
        raise Refusal("untrusted_issuer", "document signer lacks EKU 1.0.18013.5.1.2")
    if ds.is_ca:
        raise Refusal("untrusted_issuer", "document signer is a CA")
    if ds.subject_country and issuer.subject_country and ds.subject_country != issuer.subject_country:
        raise Refusal("untrusted_issuer", "document signer country differs from the IACA's")
    return issuer


def check_cert_times(now, *certs):
    """Each certificate valid at now (bounds inclusive), else Refusal expired / not_yet_valid."""
    for c in certs:
        if now < c.not_before:
            raise Refusal("not_yet_valid", "certificate " + c.subject_cn + " not valid yet")
        if now > c.not_after:
            raise Refusal("expired", "certificate " + c.subject_cn + " expired")


# --- the trust list ----------------------------------------------------------------------


class TrustList:
    """A verified trust list: parsed certificates (x509.Certificate, or Unsupported)."""

    def __init__(self, seq, issued_at, iacas, dss, status_signer=None, readers=(), reader_cas=(),
                 payload_hash=b""):
        self.seq = seq
        self.issued_at = issued_at
        self.iacas = iacas
        self.dss = dss
        self.status_signer = status_signer
        self.readers = readers
        self.reader_cas = reader_cas
        self.payload_hash = payload_hash
        self._kids = [kid_of(c.raw) for c in dss]

    def ds_for_kid(self, kid):
        """The document-signer certificates whose kid is `kid` (collisions allowed)."""
        return [self.dss[i] for i in range(len(self.dss)) if self._kids[i] == kid]

    def reader_certificate(self, public_key):
        """The reader certificate for this reader's public key (65-byte SEC1), or None."""
        for c in self.readers:
            if not isinstance(c, Unsupported) and c.public_key == public_key:
                return c
        return None


def _cert_list(v, what, allow_empty=True):
    if not isinstance(v, list) or (not v and not allow_empty):
        raise _malformed(what + " must be a list of certificates")
    return [_list_cert(d, what) for d in v]


def _payload(src, key, what):
    poff, plen, phash = status.open_signed(src, key, what)
    p = status.strict_loads(src.read(poff, plen), what + " payload")
    if not isinstance(p, dict) or p.get(1) != what:
        raise _malformed("payload is not a " + what)
    for k in (2, 3):
        if not status.is_uint(p.get(k)):
            raise _malformed(what + " key " + str(k) + " must be a uint")
    return p, phash


def parse_trust_list(data, pinned, current=None):
    """Verify a trust list file (bytes) with the pinned key; Refusal on failure (see the module notes)."""
    p, phash = _payload(status.BytesSource(data), pinned, TRUST_LIST_TYPE)
    signer = None
    if 6 in p:
        signer = p[6]
        if not isinstance(signer, bytes) or len(signer) != 65 or signer[0] != 4:
            raise _malformed("status-list signer must be a 65-byte uncompressed P-256 point")
        try:
            p256.decode_point(signer)
        except ValueError:
            raise _malformed("status-list signer: not a point on P-256")
    tl = TrustList(p[2], p[3], _cert_list(p.get(4), "IACA list", False),
                   _cert_list(p.get(5, []), "document-signer list"), signer,
                   _cert_list(p.get(7, []), "reader list"), _cert_list(p.get(8, []), "reader CA list"), phash)
    status.check_seq("trust list", tl.seq, phash, current)
    return tl


class Trust:
    """The trust list and the status list a verification uses (see the module notes)."""

    _CACHE = 8  # document signers whose chain check is remembered

    def __init__(self, trust_list, status_list=None, status_error=None):
        self.trust_list = trust_list
        self.status = status_list
        self.status_error = status_error
        self._ds = {}

    def document_signer(self, der):
        """(certificate, issuing IACA) of a DS certificate (DER): load_cert then check_document_signer.

        The outcome (or the Refusal) is remembered per certificate, so a reader that sees the
        same document signer again skips its parse and chain signature check (no time checks here).
        """
        if not isinstance(der, bytes):
            raise _malformed("x5chain must be a DER byte string")
        hit = self._ds.get(der)
        if hit is None:
            try:
                cert = load_cert(der, "x5chain")
                hit = (cert, check_document_signer(cert, self.trust_list.iacas))
            except Refusal as e:
                hit = (e.code, e.detail)
            if len(self._ds) >= self._CACHE:
                self._ds = {}
            self._ds[der] = hit
        if isinstance(hit[0], str):
            raise Refusal(hit[0], hit[1])
        return hit

    def issuer_of(self, cert):
        """The IACA of a parsed DS certificate (see document_signer)."""
        return self.document_signer(cert.raw)[1] if not isinstance(cert, Unsupported) \
            else check_document_signer(cert, self.trust_list.iacas)

    @staticmethod
    def load(trust_bytes, pinned, status_list=None, trust_current=None, status_current=None):
        """Verify the trust list (Refusal if refused) and the status list (bytes or a source; errors kept)."""
        t = Trust(parse_trust_list(trust_bytes, pinned, trust_current))
        if status_list is not None:
            t.set_status(status_list, status_current)
        return t

    def set_status(self, status_list, current=None):
        """Verify and use a status list (bytes or a source); a refusal is kept in status_error."""
        self.status = None
        self.status_error = None
        signer = self.trust_list.status_signer
        if signer is None:
            self.status_error = Refusal("stale_status_list", "trust list names no status-list signer")
            return
        src = status.BytesSource(status_list) if isinstance(status_list, (bytes, bytearray)) else status_list
        try:
            self.status = status.parse(src, signer, current)
        except Refusal as e:
            self.status_error = e

    @staticmethod
    def of_certs(iacas, dss=(), status_list=None):
        """An unsigned trust setup from DER certificates (tests and vectors; a reader uses signed lists)."""
        tl = TrustList(0, 0, [_list_cert(d, "IACA") for d in iacas], [_list_cert(d, "DS") for d in dss])
        return Trust(tl, status_list)

    @staticmethod
    def from_store(store, pinned):
        """The trust list and status list stored on flash (Refusal if there is no valid trust list)."""
        data = store.get(TRUST_FILE)
        if data is None:
            raise Refusal("untrusted_issuer", "no trust list provisioned")
        t = Trust(parse_trust_list(data, pinned))
        if t.trust_list.status_signer is None:
            t.status_error = Refusal("stale_status_list", "trust list names no status-list signer")
        else:
            try:
                t.status = status.load(store, t.trust_list.status_signer)
            except Refusal as e:
                t.status_error = e
        return t


def stored_current(store):
    """(seq, payload SHA-256) of the stored trust list, or None."""
    data = store.get(TRUST_FILE)
    if data is None:
        return None
    try:
        p, phash = _payload(status.BytesSource(data), None, TRUST_LIST_TYPE)
    except Refusal:
        return None
    return p[2], phash


def install(store, data, pinned):
    """Accept a new trust list (never older than the stored one) and store it atomically."""
    tl = parse_trust_list(data, pinned, stored_current(store))
    store.write(TRUST_FILE, data)
    return tl


def install_status(store, data, trust_list):
    """Accept a new status list signed by the trust list's status-list signer and store it atomically.

    data None: the list staged on flash by vitale.cred.status.stage (streamed upload).
    """
    if trust_list.status_signer is None:
        if data is None:
            store.delete(status.STAGE_FILE)
        raise Refusal("bad_list_signature", "trust list names no status-list signer")
    if data is None:
        return status.install_staged(store, trust_list.status_signer)
    return status.install(store, data, trust_list.status_signer)
