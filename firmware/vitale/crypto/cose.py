"""COSE (RFC 9052/9053) as ISO 18013-5 uses it: COSE_Sign1 with ES256, COSE_Mac0 with
HMAC 256/256, COSE_Key EC2 on P-256.

  Sign1.parse(data) -> Sign1      data: CBOR bytes, a decoded 4-element list, or Tag(18, list)
  sign1 = Sign1.create(private_key, payload, ...)      ES256 signer
  sign1.verify(public_key, alg=ALG_ES256, external_aad=b"", detached_payload=None)
  Mac0.parse(data) / Mac0.create(key, payload, ...) / mac0.verify(key, ...)
  key_from_cose(cose_key, alg=None) -> 65-byte SEC1 public key
  key_to_cose(public_key, kid=None, alg=None) -> COSE_Key dict

A parsed message exposes .protected_raw (the protected header bstr exactly as received; the
Sig_structure / MAC_structure always use these bytes, never a re-encoding), .protected and
.unprotected (dicts), .payload (bytes, or None when detached), .signature (Sign1) / .tag
(Mac0), .tagged (arrived with CBOR tag 18 / 17), .raw (the exact bytes it was parsed from,
or None), .alg, .kid, .x5chain (list of DER certificates, leaf first), header(label),
to_be_signed(external_aad, detached_payload) (the exact Sig_structure / MAC_structure).
ES256 hashes that structure piecewise (no joined copy of a large payload) and uses
p256.ecdsa_sign_digest / ecdsa_verify_digest.
encode() re-emits the message (protected bytes verbatim, unprotected map re-encoded
deterministically); hash .raw, not encode(), when the exact received bytes matter.

Algorithm policy: the caller names the one algorithm it accepts (default ES256 / HMAC
256/256); the `alg` in the protected header must be exactly that, and an `alg` that is
missing, only in the unprotected header, unknown, or different is refused with code
"unsupported_alg" (no algorithm substitution). A `crit` header is refused (no extension is
understood), and so is a label present in both header buckets.

Every failure raises CoseError (a CryptoError) whose `.code` is one of: bad_structure,
bad_header, unsupported_alg, missing_payload, bad_key, bad_signature, bad_tag.
"""

import hashlib

from vitale.codec import cbor
from vitale.crypto import CryptoError, p256
from vitale.crypto.hmac import compare_digest, hmac_sha256

ALG_ES256 = -7
ALG_HMAC256 = 5  # HMAC 256/256
HDR_ALG = 1
HDR_CRIT = 2
HDR_CTY = 3
HDR_KID = 4
HDR_X5CHAIN = 33

KTY_EC2 = 2
CRV_P256 = 1

_TAG_SIGN1 = 18
_TAG_MAC0 = 17


class CoseError(CryptoError):
    """A COSE message or key was refused; `.code` classifies why, `.reason` explains."""

    def __init__(self, code, reason=None):
        super().__init__(code if reason is None else code + ": " + reason)
        self.code = code
        self.reason = reason if reason is not None else code


def _is_buf(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _structure_parts(context, protected_raw, external_aad, payload):
    """The encoded Sig_structure / MAC_structure as pieces (hashed without joining)."""
    first = b"\x84" + cbor.dumps(context) + cbor.head(2, len(protected_raw))
    return (first, protected_raw, cbor.head(2, len(external_aad)), external_aad,
            cbor.head(2, len(payload)), payload)


def _decode_input(data, tag):
    """The 4-element list of a COSE message given as bytes, list or Tag; (list, tagged, raw)."""
    raw = None
    if _is_buf(data):
        raw = bytes(data)
        try:
            data = cbor.loads(raw)
        except cbor.CborError as e:
            raise CoseError("bad_structure", "CBOR: " + e.reason)
    tagged = False
    if isinstance(data, cbor.Tag):
        if data.tag != tag:
            raise CoseError("bad_structure", "unexpected tag " + str(data.tag))
        data = data.value
        tagged = True
    if not isinstance(data, list) or len(data) != 4:
        raise CoseError("bad_structure", "not a 4-element array")
    return data, tagged, raw


def _parse_common(msg, arr, tagged, raw):
    prot, unprot, payload = arr[0], arr[1], arr[2]
    if not isinstance(prot, bytes):
        raise CoseError("bad_structure", "protected header is not a bstr")
    if not isinstance(unprot, dict):
        raise CoseError("bad_structure", "unprotected header is not a map")
    if payload is not None and not isinstance(payload, bytes):
        raise CoseError("bad_structure", "payload is neither bstr nor nil")
    if len(prot) == 0:
        ph = {}
    else:
        try:
            ph = cbor.loads(prot)
        except cbor.CborError as e:
            raise CoseError("bad_header", "protected header CBOR: " + e.reason)
        if not isinstance(ph, dict):
            raise CoseError("bad_header", "protected header is not a map")
    for k in ph:
        if k in unprot:
            raise CoseError("bad_header", "label in both header buckets")
    if HDR_CRIT in ph or HDR_CRIT in unprot:
        raise CoseError("bad_header", "critical headers are not supported")
    if HDR_KID in ph or HDR_KID in unprot:
        kid = ph[HDR_KID] if HDR_KID in ph else unprot[HDR_KID]
        if not isinstance(kid, bytes):
            raise CoseError("bad_header", "kid is not a bstr")
    if HDR_X5CHAIN in ph or HDR_X5CHAIN in unprot:
        x5 = ph[HDR_X5CHAIN] if HDR_X5CHAIN in ph else unprot[HDR_X5CHAIN]
        if isinstance(x5, list):
            if not x5:
                raise CoseError("bad_header", "empty x5chain")
            for c in x5:
                if not isinstance(c, bytes):
                    raise CoseError("bad_header", "x5chain entry is not a bstr")
        elif not isinstance(x5, bytes):
            raise CoseError("bad_header", "x5chain is not a bstr or array")
    msg.protected_raw = prot
    msg.protected = ph
    msg.unprotected = unprot
    msg.payload = payload
    msg.tagged = tagged
    msg.raw = raw


class _Message:
    """What COSE_Sign1 and COSE_Mac0 share: headers, payload, structure bytes."""

    # Set by _parse_common / _new (declarations for the type checker only).
    protected_raw: bytes
    protected: dict
    unprotected: dict
    payload: "bytes | None"
    tagged: bool
    raw: "bytes | None"

    _CONTEXT = ""
    _TAG = 0

    @classmethod
    def _from(cls, data):
        """(message, last element) of a parsed Sign1 / Mac0."""
        arr, tagged, raw = _decode_input(data, cls._TAG)
        msg = cls()
        _parse_common(msg, arr, tagged, raw)
        if not isinstance(arr[3], bytes):
            raise CoseError("bad_structure", "signature / tag is not a bstr")
        return msg, arr[3]

    @classmethod
    def _new(cls, alg, supported, payload, kid, x5chain, protected, unprotected, detached, tagged):
        """A message to be signed / MACed; the last element is set by the caller."""
        if alg != supported:
            raise CoseError("unsupported_alg", "alg " + repr(alg) + " cannot be produced")
        if not _is_buf(payload):
            raise CoseError("bad_structure", "payload is not bytes")
        msg = cls()
        msg.protected_raw = _protected_bytes(alg, protected)
        msg.protected = cbor.loads(msg.protected_raw)
        msg.unprotected = _unprotected(kid, x5chain, unprotected)
        msg.payload = None if detached else bytes(payload)
        msg.tagged = tagged
        msg.raw = None
        return msg

    def header(self, label, default=None):
        """Value of a header label, protected bucket first."""
        if label in self.protected:
            return self.protected[label]
        return self.unprotected.get(label, default)

    @property
    def alg(self):
        """`alg` of the protected header (None when absent)."""
        return self.protected.get(HDR_ALG)

    @property
    def kid(self):
        """Key identifier (bytes) or None."""
        return self.header(HDR_KID)

    @property
    def x5chain(self):
        """DER certificates of the x5chain header, leaf first ([] when absent)."""
        x5 = self.header(HDR_X5CHAIN)
        if x5 is None:
            return []
        if isinstance(x5, bytes):
            return [x5]
        return list(x5)

    def _check_alg(self, expected, supported):
        if expected != supported:
            raise CoseError("unsupported_alg", "caller asked for an unsupported alg")
        if HDR_ALG in self.unprotected:
            raise CoseError("unsupported_alg", "alg must be in the protected header")
        a = self.protected.get(HDR_ALG)
        if a is None:
            raise CoseError("unsupported_alg", "no alg in the protected header")
        if a != expected or isinstance(a, bool):
            raise CoseError("unsupported_alg", "alg " + repr(a) + " is not the expected " + str(expected))

    def _payload_for(self, detached_payload):
        if self.payload is None:
            if detached_payload is None:
                raise CoseError("missing_payload", "detached payload not given")
            if not _is_buf(detached_payload):
                raise CoseError("bad_structure", "detached payload is not bytes")
            return detached_payload
        if detached_payload is not None:
            raise CoseError("bad_structure", "payload is attached, not detached")
        return self.payload

    def to_be_signed(self, external_aad=b"", detached_payload=None):
        """The encoded Sig_structure / MAC_structure this message's signature or tag covers."""
        return b"".join(self._parts(external_aad, detached_payload))

    def _parts(self, external_aad, detached_payload):
        if not _is_buf(external_aad):
            raise CoseError("bad_structure", "external_aad is not bytes")
        payload = self._payload_for(detached_payload)
        return _structure_parts(self._CONTEXT, self.protected_raw, external_aad, payload)

    def _array(self, last):
        return [self.protected_raw, self.unprotected, self.payload, last]

    def _encode(self, last, tagged):
        if tagged is None:
            tagged = self.tagged
        arr = self._array(last)
        return cbor.dumps(cbor.Tag(self._TAG, arr) if tagged else arr)


def _protected_bytes(alg, extra):
    ph = {HDR_ALG: alg}
    if extra:
        for k in extra:
            ph[k] = extra[k]
    return cbor.dumps(ph)


def _unprotected(kid, x5chain, extra):
    uh = {}
    if extra:
        for k in extra:
            uh[k] = extra[k]
    if kid is not None:
        uh[HDR_KID] = bytes(kid)
    if x5chain:
        uh[HDR_X5CHAIN] = bytes(x5chain[0]) if len(x5chain) == 1 else [bytes(c) for c in x5chain]
    return uh


def _sha256_parts(parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


class Sign1(_Message):
    """COSE_Sign1 = [protected, unprotected, payload / nil, signature]."""

    signature: bytes

    _CONTEXT = "Signature1"
    _TAG = _TAG_SIGN1

    @staticmethod
    def parse(data):
        """Sign1 from CBOR bytes, a decoded array, or Tag(18, array); checks the structure only."""
        msg, sig = Sign1._from(data)
        msg.signature = sig
        return msg

    @staticmethod
    def create(private_key, payload, alg=ALG_ES256, kid=None, x5chain=None, protected=None,
               unprotected=None, external_aad=b"", detached=False, tagged=False):
        """Sign payload (bytes) with a 32-byte P-256 private key; detached=True leaves payload nil."""
        msg = Sign1._new(alg, ALG_ES256, payload, kid, x5chain, protected, unprotected, detached, tagged)
        parts = msg._parts(external_aad, bytes(payload) if detached else None)
        try:
            msg.signature = p256.ecdsa_sign_digest(private_key, _sha256_parts(parts))
        except CryptoError as e:
            raise CoseError("bad_key", str(e))
        return msg

    def verify(self, public_key, alg=ALG_ES256, external_aad=b"", detached_payload=None):
        """Check the signature with public_key (65-byte SEC1 point or COSE_Key dict); raise CoseError if bad."""
        self._check_alg(alg, ALG_ES256)
        if isinstance(public_key, dict):
            public_key = key_from_cose(public_key, alg)
        else:
            _check_point(public_key)
        digest = _sha256_parts(self._parts(external_aad, detached_payload))
        if len(self.signature) != 64 or not p256.ecdsa_verify_digest(public_key, digest, self.signature):
            raise CoseError("bad_signature", "ES256 signature does not verify")
        return True

    def encode(self, tagged=None):
        """CBOR bytes of the message (tag 18 when tagged, default: as parsed/created)."""
        return self._encode(self.signature, tagged)


class Mac0(_Message):
    """COSE_Mac0 = [protected, unprotected, payload / nil, tag]."""

    tag: bytes

    _CONTEXT = "MAC0"
    _TAG = _TAG_MAC0

    @staticmethod
    def parse(data):
        """Mac0 from CBOR bytes, a decoded array, or Tag(17, array); checks the structure only."""
        msg, tag = Mac0._from(data)
        msg.tag = tag
        return msg

    @staticmethod
    def create(key, payload, alg=ALG_HMAC256, kid=None, protected=None, unprotected=None,
               external_aad=b"", detached=False, tagged=False):
        """MAC payload (bytes) with HMAC 256/256 under key; detached=True leaves payload nil."""
        _check_mac_key(key)
        msg = Mac0._new(alg, ALG_HMAC256, payload, kid, None, protected, unprotected, detached, tagged)
        msg.tag = hmac_sha256(key, b"".join(msg._parts(external_aad, bytes(payload) if detached else None)))
        return msg

    def verify(self, key, alg=ALG_HMAC256, external_aad=b"", detached_payload=None):
        """Check the 32-byte HMAC-SHA256 tag under key (constant-time compare); raise CoseError if bad."""
        self._check_alg(alg, ALG_HMAC256)
        _check_mac_key(key)
        mac = hmac_sha256(key, b"".join(self._parts(external_aad, detached_payload)))
        if not compare_digest(mac, self.tag):
            raise CoseError("bad_tag", "MAC does not verify")
        return True

    def encode(self, tagged=None):
        """CBOR bytes of the message (tag 17 when tagged, default: as parsed/created)."""
        return self._encode(self.tag, tagged)


def _check_mac_key(key):
    if not _is_buf(key) or len(key) == 0:
        raise CoseError("bad_key", "MAC key must be non-empty bytes")


def _check_point(public_key):
    try:
        p256.decode_point(public_key)
    except CryptoError as e:
        raise CoseError("bad_key", str(e))


def key_from_cose(key, alg=None):
    """65-byte SEC1 public key of an EC2 P-256 COSE_Key (dict, CBOR bytes or Embedded).

    When alg is given and the key names an alg (label 3), they must match.
    """
    if isinstance(key, cbor.Embedded):
        try:
            key = key.value
        except cbor.CborError as e:
            raise CoseError("bad_key", "CBOR: " + e.reason)
    elif _is_buf(key):
        try:
            key = cbor.loads(key)
        except cbor.CborError as e:
            raise CoseError("bad_key", "CBOR: " + e.reason)
    if not isinstance(key, dict):
        raise CoseError("bad_key", "COSE_Key is not a map")
    if key.get(1) != KTY_EC2 or isinstance(key.get(1), bool):
        raise CoseError("bad_key", "kty is not EC2")
    if key.get(-1) != CRV_P256 or isinstance(key.get(-1), bool):
        raise CoseError("bad_key", "crv is not P-256")
    if alg is not None and 3 in key and (key[3] != alg or isinstance(key[3], bool)):
        raise CoseError("unsupported_alg", "key alg does not match")
    x = key.get(-2)
    y = key.get(-3)
    if not isinstance(x, bytes) or len(x) != 32:
        raise CoseError("bad_key", "x is not a 32-byte bstr")
    if isinstance(y, bool):
        raise CoseError("bad_key", "compressed point form is not supported")
    if not isinstance(y, bytes) or len(y) != 32:
        raise CoseError("bad_key", "y is not a 32-byte bstr")
    pub = b"\x04" + x + y
    _check_point(pub)
    return pub


def key_to_cose(public_key, kid=None, alg=None):
    """EC2 P-256 COSE_Key dict {1: 2, -1: 1, -2: x, -3: y} (+ 2: kid, 3: alg) of a SEC1 key."""
    try:
        x, y = p256.decode_point(public_key)
    except CryptoError as e:
        raise CoseError("bad_key", str(e))
    k = {1: KTY_EC2, -1: CRV_P256, -2: x.to_bytes(32, "big"), -3: y.to_bytes(32, "big")}
    if kid is not None:
        k[2] = bytes(kid)
    if alg is not None:
        k[3] = alg
    return k
