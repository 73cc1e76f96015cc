"""The signed QR of the health card, format VQR1 (docs/vqr-format.md).

  verify(text, trust, policy, now, replay=None) -> VerifiedCard, or raises Refusal(code)
      text: the scanned text (str, or ASCII bytes) "VQR1:" + base45([issuer part, presented_at,
      device signature]); now: Unix seconds, None when the clock was never set.
  ReplayCache()        per credential `cti`, the newest presentation accepted; `replay=None`
                       uses the reader's module-wide cache DEFAULT_REPLAY.

Checks in the order of vqr-format.md §5: clock, decoding, issuer alg and kid, the kid's
document signer chained to a trusted IACA, the issuer signature, certificate times,
CWT claims and their times, the phone's presentation signature (cnf key), freshness
(presented_at within the window, not ahead beyond the skew), docType, card values and
read profile, status list, replay. Only an accepted presentation enters the cache.
"""

import hashlib

from vitale.codec import base45, cbor
from vitale.cred import policy as pol
from vitale.cred import status
from vitale.cred import trust as tr
from vitale.cred.result import Refusal, VerifiedCard
from vitale.crypto import p256

PREFIX = "VQR1:"
CONTEXT = b"vitale-reader:vqr1:presentation"   # 31 bytes
CLAIM_CARD = -65537
CLAIM_STATUS = -65538
ALG_ES256 = -7
_AMC_SHORT = {1: "org", 2: "contract", 3: "start", 4: "end"}


_malformed = status.malformed
_uint = status.is_uint
_loads = status.strict_loads


class ReplayCache:
    """Per `cti`, the newest accepted presented_at, kept window + skew seconds (bounded in size)."""

    def __init__(self, max_entries=64):
        self.entries = {}
        self.max_entries = max_entries

    def check(self, cti, presented_at):
        """Refusal('replayed') if this presentation is not newer than one already accepted."""
        last = self.entries.get(cti)
        if last is not None and presented_at <= last:
            raise Refusal("replayed", "presentation already seen")

    def add(self, cti, presented_at, now, keep_s):
        """Remember an accepted presentation; forget the ones older than keep_s (and the oldest when full)."""
        self.entries[cti] = presented_at
        for k in [k for k in self.entries if self.entries[k] < now - keep_s]:
            del self.entries[k]
        while len(self.entries) > self.max_entries:
            oldest = None
            for k in self.entries:
                if oldest is None or self.entries[k] < self.entries[oldest]:
                    oldest = k
            del self.entries[oldest]


DEFAULT_REPLAY = ReplayCache()


def presentation_tbs(presented_at, issuer_part):
    """The 71 bytes the phone signs: context || uint64be(presented_at) || SHA-256(issuer part)."""
    return CONTEXT + presented_at.to_bytes(8, "big") + hashlib.sha256(issuer_part).digest()


def _days(v):
    if not isinstance(v, cbor.Tag) or v.tag != 100:
        raise pol.ProfileError("date must be a tag-100 day count")
    return pol.days_to_date(v.value)


def _normalise(name, v):
    """A card-claim value -> the normalised form policy.check_value takes."""
    if name == "amo_rights":
        if not isinstance(v, list):
            raise pol.ProfileError("amo_rights must be an array")
        out = []
        for p in v:
            if not isinstance(p, list) or len(p) != 2:
                raise pol.ProfileError("a rights period is [start, end]")
            out.append({"start": _days(p[0]), "end": _days(p[1])})
        return out
    if name == "amc":
        if not isinstance(v, dict):
            raise pol.ProfileError("amc must be a map with keys 1..4")
        amc = {}
        for k in v:
            if k not in _AMC_SHORT:
                raise pol.ProfileError("amc must be a map with keys 1..4")
            amc[_AMC_SHORT[k]] = _days(v[k]) if k == 3 or k == 4 else v[k]
        return amc
    return v


def _text(text):
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode()
        except UnicodeError:
            raise _malformed("VQR text is not ASCII")
    if not isinstance(text, str):
        raise _malformed("VQR text must be text")
    text = text.strip()
    if not text.startswith(PREFIX):
        raise _malformed("not a VQR1 text")
    try:
        return base45.decode(text[len(PREFIX):])
    except ValueError as e:
        raise _malformed("base45: " + str(e))


def _issuer(s1, trust):
    """(document signer, its IACA) for the issuer part's kid whose signature verifies (else Refusal)."""
    kid = s1.protected.get(4)
    if not isinstance(kid, bytes) or len(kid) != 8:
        raise _malformed("protected kid must be 8 bytes")
    if s1.payload is None:
        raise _malformed("VQR issuer payload is detached")
    candidates = trust.trust_list.ds_for_kid(kid)
    if not candidates:
        raise Refusal("untrusted_issuer", "unknown kid " + tr.hexstr(kid))
    error = None
    for cand in candidates:
        try:
            iaca = trust.issuer_of(cand)
        except Refusal as e:
            error = error or e
            continue
        if tr.es256_ok(cand.public_key, s1.protected_raw, s1.payload, s1.signature):
            return cand, iaca, kid
        error = Refusal("bad_issuer_signature", "VQR issuer signature")
    raise error  # type: ignore[misc]  # candidates is non-empty, so the loop set error


def verify(text, trust, policy=None, now=None, replay=None):
    """Verify a VQR1 text at reader time now; VerifiedCard, or Refusal (see the module notes)."""
    policy = policy or pol.DEFAULT
    now = pol.require_clock(now)
    top = _loads(_text(text), "VQR")
    if not isinstance(top, list) or len(top) != 3:
        raise _malformed("VQR is not [issuer, presented_at, signature]")
    issuer_part, presented_at, dsig = top
    if not isinstance(issuer_part, bytes) or not _uint(presented_at) or not isinstance(dsig, bytes):
        raise _malformed("VQR field types")
    s1 = tr.sign1(_loads(issuer_part, "VQR issuer part"), "VQR issuer part")
    if s1.alg != ALG_ES256:
        raise Refusal("unsupported_alg", "issuer alg " + repr(s1.alg))
    ds, iaca, kid = _issuer(s1, trust)
    tr.check_cert_times(now, iaca, ds)
    claims = _loads(s1.payload, "CWT claims")
    if not isinstance(claims, dict):
        raise _malformed("CWT claims are not a map")
    iss = claims.get(1)
    exp = claims.get(4)
    iat = claims.get(6)
    cti = claims.get(7)
    cnf = claims.get(8)
    card_raw = claims.get(CLAIM_CARD)
    status_idx = claims.get(CLAIM_STATUS)
    if not isinstance(iss, str) or not _uint(exp) or not _uint(iat) or not isinstance(cti, bytes) \
            or not 8 <= len(cti) <= 32 or not isinstance(cnf, dict) or not isinstance(card_raw, dict) \
            or not _uint(status_idx) or exp <= iat:  # type: ignore[operator]  # _uint() checked exp and iat
        raise _malformed("CWT claims missing or of the wrong type")
    if not ds.not_before <= iat <= ds.not_after:
        raise Refusal("untrusted_issuer", "issued outside the document signer's validity")
    if iat > now + policy.clock_skew_s:
        raise Refusal("not_yet_valid", "issued in the future")
    if now >= exp:
        raise Refusal("expired", "credential expired")
    device_key = tr.cose_key_point(cnf.get(1), "cnf key")
    if len(dsig) != 64 or not p256.ecdsa_verify(device_key, presentation_tbs(presented_at, issuer_part), dsig):
        raise Refusal("device_auth_failed", "presentation signature")
    if presented_at > now + policy.clock_skew_s:
        raise Refusal("qr_not_yet_valid", "presented in the future")
    if now - presented_at > policy.qr_window_s:
        raise Refusal("qr_expired", "presented " + str(now - presented_at) + " s ago")
    if policy.doc_type is not None and policy.doc_type != pol.DOC_TYPE:
        raise Refusal("wrong_doctype", "a VQR carries " + pol.DOC_TYPE)
    values = {}
    try:
        for k in card_raw:
            if isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= len(pol.ELEMENTS):
                name = pol.ELEMENTS[k - 1]
                values[name] = _normalise(name, card_raw[k])
    except pol.ProfileError as e:
        raise Refusal("invalid_element", str(e))
    card = pol.build_card(values, policy)
    status.check(trust, status_idx, now, policy)
    cache = DEFAULT_REPLAY if replay is None else replay
    cache.check(cti, presented_at)
    cache.add(cti, presented_at, now, policy.qr_window_s + policy.clock_skew_s)
    card = pol.restrict(card, policy.profile)
    return VerifiedCard(card, "qr", pol.DOC_TYPE, ds.subject_cn, iat, exp, iat, status_idx,
                        now - trust.status.issued_at, "presentation", {pol.NAMESPACE: card}, tr.hexstr(kid),
                        presented_at)
