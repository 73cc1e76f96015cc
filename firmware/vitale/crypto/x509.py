"""X.509 subset for the reader: P-256 / ECDSA-SHA256 certificates and chains.

Only what ISO 18013-5 trust needs: IACA roots, document signers, reader
certificates. Anything outside that profile is refused, never guessed at:
another key type or curve, another signature algorithm, an unknown critical
extension.

  parse(der_bytes) -> Certificate
  verify_chain(chain, roots, now, eku=None) -> Certificate (the leaf)

Errors are X509Error with `code`:
  malformed, unsupported_alg, bad_signature, untrusted_issuer, expired,
  not_yet_valid, bad_key_usage
"""

import hashlib

from vitale.codec import der
from vitale.crypto import p256

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_P256 = "1.2.840.10045.3.1.7"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_CN = "2.5.4.3"
OID_C = "2.5.4.6"
OID_KEY_USAGE = "2.5.29.15"
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_EXT_KEY_USAGE = "2.5.29.37"
OID_SKI = "2.5.29.14"
OID_AKI = "2.5.29.35"
# Extensions we understand well enough to accept when marked critical.
_KNOWN_CRITICAL = (OID_KEY_USAGE, OID_BASIC_CONSTRAINTS, OID_EXT_KEY_USAGE)

# ISO 18013-5 extended key usages
EKU_MDL_DS = "1.0.18013.5.1.2"
EKU_MDL_READER_AUTH = "1.0.18013.5.1.6"

# keyUsage bits (bit 0 is the first, most significant, bit of the BIT STRING)
KU_DIGITAL_SIGNATURE = 0
KU_KEY_CERT_SIGN = 5
KU_CRL_SIGN = 6


class X509Error(ValueError):
    """A certificate or chain was refused; `code` says why."""

    def __init__(self, code, detail=""):
        super().__init__(code + (": " + detail if detail else ""))
        self.code = code
        self.detail = detail


class Certificate:
    """A parsed certificate. Names are kept as their exact DER bytes for matching."""

    def __init__(self):
        self.raw = b""
        self.tbs_raw = b""
        self.signature = b""
        self.serial = 0
        self.issuer_raw = b""
        self.subject_raw = b""
        self.subject_cn = ""
        self.subject_country = ""
        self.not_before = 0
        self.not_after = 0
        self.public_key = b""
        self.key_usage = None  # set of bit numbers, or None when absent
        self.is_ca = False
        self.path_len = None
        self.ext_key_usage = None  # list of OIDs, or None when absent
        self.ski = None
        self.aki = None

    def fingerprint(self):
        """SHA-256 of the whole certificate."""
        return hashlib.sha256(self.raw).digest()

    def has_key_usage(self, bit):
        """True when keyUsage is present and has bit set."""
        return self.key_usage is not None and bit in self.key_usage

    def signed_by(self, issuer_public_key):
        """True when issuer_public_key made this certificate's signature."""
        return p256.ecdsa_verify_der(issuer_public_key, self.tbs_raw, self.signature)


def _name_fields(name_el):
    cn = ""
    c = ""
    for rdn in name_el.expect(der.SEQUENCE).children():
        for atv in rdn.expect(der.SET).children():
            kids = atv.expect(der.SEQUENCE).children()
            if len(kids) != 2:
                raise X509Error("malformed", "attribute")
            oid = kids[0].as_oid()
            if oid == OID_CN:
                cn = kids[1].as_str()
            elif oid == OID_C:
                c = kids[1].as_str()
    return cn, c


def _key_usage_bits(ext_value):
    unused, data = der.parse(ext_value).as_bitstring()
    bits = set()
    for i in range(len(data) * 8 - unused):
        if data[i >> 3] & (0x80 >> (i & 7)):
            bits.add(i)
    return bits


def _parse_extensions(exts_el, cert):
    seen = set()
    for ext in exts_el.expect(der.SEQUENCE).children():
        kids = ext.expect(der.SEQUENCE).children()
        if len(kids) not in (2, 3):
            raise X509Error("malformed", "extension")
        oid = kids[0].as_oid()
        if oid in seen:
            raise X509Error("malformed", "duplicate extension " + oid)
        seen.add(oid)
        critical = False
        if len(kids) == 3:
            critical = kids[1].as_bool()
            if not critical:
                raise X509Error("malformed", "explicit default FALSE")  # DER: DEFAULT omitted
        value = kids[-1].as_octets()
        if oid == OID_KEY_USAGE:
            cert.key_usage = _key_usage_bits(value)
        elif oid == OID_BASIC_CONSTRAINTS:
            bc = der.parse(value).expect(der.SEQUENCE).children()
            i = 0
            if i < len(bc) and bc[i].tag == der.BOOLEAN:
                cert.is_ca = bc[i].as_bool()
                i += 1
            if i < len(bc):
                cert.path_len = bc[i].as_int()
                if cert.path_len < 0:
                    raise X509Error("malformed", "pathLen")
                i += 1
            if i != len(bc):
                raise X509Error("malformed", "basicConstraints")
        elif oid == OID_EXT_KEY_USAGE:
            cert.ext_key_usage = [e.as_oid() for e in der.parse(value).expect(der.SEQUENCE).children()]
        elif oid == OID_SKI:
            cert.ski = der.parse(value).as_octets()
        elif oid == OID_AKI:
            for k in der.parse(value).expect(der.SEQUENCE).children():
                if k.is_context(0) and not k.constructed:
                    cert.aki = k.content
        elif critical:
            raise X509Error("malformed", "unknown critical extension " + oid)


def _check_alg(alg_el):
    kids = alg_el.expect(der.SEQUENCE).children()
    if not kids or kids[0].as_oid() != OID_ECDSA_SHA256:
        raise X509Error("unsupported_alg", "signature algorithm")
    if len(kids) != 1:  # ecdsa-with-SHA256 has absent parameters (RFC 5758)
        raise X509Error("malformed", "algorithm parameters")


def parse(data):
    """Parse a DER certificate; raises X509Error(malformed | unsupported_alg)."""
    try:
        return _parse(data)
    except der.DerError as e:
        raise X509Error("malformed", e.reason)


def _parse(data):
    top = der.parse(data).expect(der.SEQUENCE).children()
    if len(top) != 3:
        raise X509Error("malformed", "certificate")
    tbs_el, alg_el, sig_el = top
    cert = Certificate()
    cert.raw = bytes(data)
    cert.tbs_raw = tbs_el.expect(der.SEQUENCE).raw
    _check_alg(alg_el)
    cert.signature = sig_el.as_bits()
    f = tbs_el.children()
    i = 0
    if f and f[0].is_context(0):
        if f[0].explicit(0).as_int() != 2:
            raise X509Error("malformed", "version")
        i = 1
    else:
        raise X509Error("malformed", "v3 certificate required")
    if len(f) < i + 6:
        raise X509Error("malformed", "tbsCertificate")
    cert.serial = f[i].as_int()
    if f[i + 1].raw != alg_el.raw:
        raise X509Error("malformed", "inner and outer algorithms differ")
    cert.issuer_raw = f[i + 2].expect(der.SEQUENCE).raw
    _name_fields(f[i + 2])
    validity = f[i + 3].expect(der.SEQUENCE).children()
    if len(validity) != 2:
        raise X509Error("malformed", "validity")
    cert.not_before = validity[0].as_time()
    cert.not_after = validity[1].as_time()
    cert.subject_raw = f[i + 4].expect(der.SEQUENCE).raw
    cert.subject_cn, cert.subject_country = _name_fields(f[i + 4])
    spki = f[i + 5].expect(der.SEQUENCE).children()
    if len(spki) != 2:
        raise X509Error("malformed", "subjectPublicKeyInfo")
    alg = spki[0].expect(der.SEQUENCE).children()
    if len(alg) != 2 or alg[0].as_oid() != OID_EC_PUBLIC_KEY or alg[1].tag != der.OID or alg[1].as_oid() != OID_P256:
        raise X509Error("unsupported_alg", "public key must be P-256")
    cert.public_key = spki[1].as_bits()
    try:
        p256.decode_point(cert.public_key)
    except ValueError:
        raise X509Error("malformed", "public key point")
    rest = f[i + 6:]
    for el in rest:
        if el.is_context(3):
            _parse_extensions(el.explicit(3), cert)
        elif el.is_context(1) or el.is_context(2):
            continue  # unique identifiers: allowed, unused
        else:
            raise X509Error("malformed", "unexpected field")
    return cert


def check_validity(cert, now):
    """Raise X509Error(expired | not_yet_valid) when now is outside the certificate's validity."""
    if now < cert.not_before:
        raise X509Error("not_yet_valid", cert.subject_cn)
    if now > cert.not_after:
        raise X509Error("expired", cert.subject_cn)


def verify_chain(chain, roots, now, eku=None):
    """Verify [leaf, intermediates...] up to one of roots at time now; return the leaf.

    chain and roots are lists of Certificate. The leaf must carry the
    digitalSignature key usage (and `eku` in its extended key usage when
    given); every issuer must be a CA allowed to sign certificates. Roots are
    trusted anchors: their signature is not checked but their validity is.
    """
    if not chain:
        raise X509Error("malformed", "empty chain")
    leaf = chain[0]
    if not leaf.has_key_usage(KU_DIGITAL_SIGNATURE):
        raise X509Error("bad_key_usage", "leaf lacks digitalSignature")
    if eku is not None and (leaf.ext_key_usage is None or eku not in leaf.ext_key_usage):
        raise X509Error("bad_key_usage", "leaf lacks extended key usage " + eku)
    for cert in chain:
        check_validity(cert, now)
    # Walk the presented chain, then finish at a root.
    cur = leaf
    for nxt in chain[1:]:
        if cur.issuer_raw != nxt.subject_raw:
            raise X509Error("untrusted_issuer", "chain order")
        _check_issuer(nxt)
        if not cur.signed_by(nxt.public_key):
            raise X509Error("bad_signature", cur.subject_cn)
        cur = nxt
    for root in roots:
        if root.raw == cur.raw:
            return leaf  # the chain ends in a trusted root itself
    for root in roots:
        if root.subject_raw == cur.issuer_raw:
            _check_issuer(root)
            check_validity(root, now)
            if cur.signed_by(root.public_key):
                return leaf
            raise X509Error("bad_signature", cur.subject_cn)
    raise X509Error("untrusted_issuer", cur.subject_cn)


def _check_issuer(cert):
    if not cert.is_ca or not cert.has_key_usage(KU_KEY_CERT_SIGN):
        raise X509Error("bad_key_usage", "issuer is not a certificate authority")
