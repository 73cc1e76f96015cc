"""Typed results of a credential verification and the health-card profile.

The profile (`docs/credential-profile.md`) is defined once here: element
identifiers, their VQR short keys, the value rules the reader checks and the
read profiles (`billing`, `identity`, `full`). The verifier, the test
authority and the SDK all use these tables.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any

DOC_TYPE = "org.vitale-reader.hic.1"
NAMESPACE = "org.vitale-reader.hic.1"

# INS OIDs (FR Core INS profile): NIR, NIA, test NIR, demo NIR.
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")

# element identifier -> VQR short key (the integer key in the VQR card claim)
SHORT_KEYS: dict[str, int] = {
    "nir": 1,
    "nir_key": 2,
    "ins_matricule": 3,
    "ins_oid": 4,
    "family_name": 5,
    "usage_name": 6,
    "given_names": 7,
    "birth_date": 8,
    "birth_rank": 9,
    "quality": 10,
    "regime": 11,
    "caisse": 12,
    "centre": 13,
    "amo_rights": 14,
    "amc": 15,
}
ELEMENTS: tuple[str, ...] = tuple(SHORT_KEYS)
ELEMENT_BY_SHORT_KEY: dict[int, str] = {v: k for k, v in SHORT_KEYS.items()}

# Elements every issued credential carries (the others are optional).
ISSUE_REQUIRED: tuple[str, ...] = (
    "nir", "nir_key", "family_name", "given_names", "birth_date", "birth_rank",
    "quality", "regime", "caisse", "centre", "amo_rights",
)

# Read profiles: what the reader requests, and what must come back.
PROFILES: dict[str, tuple[str, ...]] = {
    "billing": ("nir", "nir_key", "family_name", "usage_name", "given_names", "birth_date", "birth_rank",
                "quality", "regime", "caisse", "centre", "amo_rights", "amc"),
    "identity": ("nir", "nir_key", "ins_matricule", "ins_oid", "family_name", "usage_name", "given_names",
                 "birth_date", "birth_rank"),
    "full": ELEMENTS,
}
PROFILE_REQUIRED: dict[str, tuple[str, ...]] = {
    "billing": ISSUE_REQUIRED,
    "identity": ("nir", "nir_key", "family_name", "given_names", "birth_date"),
    "full": ISSUE_REQUIRED,
}

# Refusal codes and their human messages (docs/refusal-codes.md).
REFUSAL_CODES: dict[str, str] = {
    "malformed": "the credential is not well-formed",
    "unsupported_alg": "an algorithm, curve or digest that the reader does not accept",
    "untrusted_issuer": "the issuer is not in the trust list",
    "bad_issuer_signature": "the issuer's signature does not verify",
    "expired": "the credential or its issuer certificate has expired",
    "not_yet_valid": "the credential or its issuer certificate is not valid yet",
    "digest_mismatch": "a data element does not match the issuer's digest",
    "wrong_doctype": "the document type is not the one signed or requested",
    "device_auth_failed": "the phone did not prove it holds the credential's key",
    "revoked": "the credential has been revoked",
    "stale_status_list": "no recent enough revocation list to check this credential",
    "qr_expired": "the QR code is too old (a screenshot?)",
    "qr_not_yet_valid": "the QR code's time is ahead of the reader's clock",
    "replayed": "this QR presentation was already used",
    "clock_unset": "the reader's clock is not set",
    "invalid_element": "a data element breaks the card profile",
    "missing_element": "a data element the profile needs was not returned",
    "not_requested": "the phone returned an element that was not requested",
    "no_document": "the phone returned no document",
    "bad_list_signature": "the trust or status list is not signed by the pinned key",
    "rollback": "the trust or status list is older than the one in use",
}

_NIR_RE = re.compile(r"^[1-8][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{6}$")
_DIGITS_RE = re.compile(r"^[0-9]+$")
_FULL_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MAX_NAME_LEN = 100


class ProfileError(ValueError):
    """A value breaks the card profile (reason in the message)."""


def nir_number(nir13: str) -> int:
    """The 13-character NIR as the integer the key is computed on (2A -> 19, 2B -> 18)."""
    if not _NIR_RE.fullmatch(nir13):
        raise ProfileError("NIR must be 13 characters: digits, with 2A/2B only as the department")
    dept = {"2A": "19", "2B": "18"}.get(nir13[5:7], nir13[5:7])
    return int(nir13[:5] + dept + nir13[7:])


def nir_key(nir13: str) -> int:
    """The NIR key: 97 - (NIR mod 97), after the Corsica substitution."""
    return 97 - nir_number(nir13) % 97


def check_ins_matricule(value: str) -> None:
    """An INS matricule is a NIR/NIA (13 characters) followed by its 2-digit key."""
    if len(value) != 15 or not value[13:].isdigit() or not value.isascii():
        raise ProfileError("INS matricule must be 15 characters (NIR + 2-digit key)")
    if int(value[13:]) != nir_key(value[:13]):
        raise ProfileError("INS matricule key does not match")


def full_date(value: str) -> str:
    """Check an RFC 3339 full-date 'YYYY-MM-DD' (a real calendar date) and return it."""
    if not isinstance(value, str) or not _FULL_DATE_RE.fullmatch(value):
        raise ProfileError("date must be YYYY-MM-DD")
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        raise ProfileError("not a calendar date") from None
    return value


def days_to_date(days: int) -> str:
    """RFC 8943 tag-100 day count (days since 1970-01-01) -> 'YYYY-MM-DD'."""
    if not isinstance(days, int) or isinstance(days, bool) or not -719162 <= days <= 2932896:
        raise ProfileError("day count out of range")
    return (_dt.date(1970, 1, 1) + _dt.timedelta(days=days)).isoformat()


def date_to_days(value: str) -> int:
    """'YYYY-MM-DD' -> days since 1970-01-01 (RFC 8943 tag 100)."""
    return (_dt.date.fromisoformat(full_date(value)) - _dt.date(1970, 1, 1)).days


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_LEN:
        raise ProfileError(f"{what} must be text of 1..{MAX_NAME_LEN} characters")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ProfileError(f"{what} has control characters")
    return value


def _digits(value: Any, n: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != n or not _DIGITS_RE.fullmatch(value):
        raise ProfileError(f"{what} must be {n} digits")
    return value


def _uint(value: Any, lo: int, hi: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ProfileError(f"{what} must be an integer {lo}..{hi}")
    return value


@dataclass(frozen=True)
class RightsPeriod:
    """One AMO rights period (dates inclusive, YYYY-MM-DD)."""

    start: str
    end: str

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class AmcData:
    """Complementary insurer (AMC) data."""

    org: str
    contract: str | None = None
    start: str | None = None
    end: str | None = None

    def to_dict(self) -> dict[str, str]:
        """JSON form (absent fields left out)."""
        d = {"org": self.org}
        for k in ("contract", "start", "end"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


@dataclass(frozen=True)
class HealthCard:
    """The verified card: only the elements that were disclosed are set."""

    nir: str | None = None
    nir_key: int | None = None
    ins_matricule: str | None = None
    ins_oid: str | None = None
    family_name: str | None = None
    usage_name: str | None = None
    given_names: str | None = None
    birth_date: str | None = None
    birth_rank: int | None = None
    quality: int | None = None
    regime: str | None = None
    caisse: str | None = None
    centre: str | None = None
    amo_rights: tuple[RightsPeriod, ...] | None = None
    amc: AmcData | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the patient-file format (`--patient FILE.json`), absent elements left out."""
        out: dict[str, Any] = {}
        for name in ELEMENTS:
            v = getattr(self, name)
            if v is None:
                continue
            if name == "amo_rights":
                out[name] = [p.to_dict() for p in v]
            elif name == "amc":
                out[name] = v.to_dict()
            else:
                out[name] = v
        return out

    @property
    def organisme(self) -> str | None:
        """The 9-digit affiliation body: régime + caisse + centre."""
        if self.regime is None or self.caisse is None or self.centre is None:
            return None
        return self.regime + self.caisse + self.centre

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthCard:
        """Build and check a card from its JSON form (unknown keys refused)."""
        unknown = set(data) - set(ELEMENTS)
        if unknown:
            raise ProfileError(f"unknown elements: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, v in data.items():
            if name == "amo_rights":
                if not isinstance(v, list):
                    raise ProfileError("amo_rights must be a list")
                values[name] = [{"start": p.get("start"), "end": p.get("end")} if isinstance(p, dict) else p
                                for p in v]
            else:
                values[name] = v
        return card_from_values(values)


def check_value(name: str, value: Any) -> Any:
    """Check one element's normalised value (dates as 'YYYY-MM-DD'); return it in card form."""
    if name == "nir":
        if not isinstance(value, str):
            raise ProfileError("NIR must be text")
        nir_number(value)
        return value
    if name == "nir_key":
        return _uint(value, 1, 97, "NIR key")
    if name == "ins_matricule":
        if not isinstance(value, str):
            raise ProfileError("INS matricule must be text")
        check_ins_matricule(value)
        return value
    if name == "ins_oid":
        if value not in INS_OIDS:
            raise ProfileError("unknown INS OID")
        return value
    if name in ("family_name", "usage_name", "given_names"):
        return _text(value, name)
    if name == "birth_date":
        return _digits(value, 8, "birth date (YYYYMMDD as printed)")
    if name == "birth_rank":
        return _uint(value, 1, 9, "birth rank")
    if name == "quality":
        return _uint(value, 0, 9, "quality")
    if name == "regime":
        return _digits(value, 2, "regime")
    if name == "caisse":
        return _digits(value, 3, "caisse")
    if name == "centre":
        return _digits(value, 4, "centre")
    if name == "amo_rights":
        if not isinstance(value, list) or not 1 <= len(value) <= 3:
            raise ProfileError("amo_rights must hold 1..3 periods")
        periods = []
        for p in value:
            if not isinstance(p, dict) or set(p) != {"start", "end"}:
                raise ProfileError("a rights period has exactly start and end")
            start, end = full_date(p["start"]), full_date(p["end"])
            if start > end:
                raise ProfileError("a rights period ends before it starts")
            periods.append(RightsPeriod(start, end))
        return tuple(periods)
    if name == "amc":
        if not isinstance(value, dict) or "org" not in value or not set(value) <= {"org", "contract", "start", "end"}:
            raise ProfileError("amc must hold org and optionally contract, start, end")
        org = value["org"]
        if not isinstance(org, str) or not 1 <= len(org) <= 10 or not _DIGITS_RE.fullmatch(org):
            raise ProfileError("AMC organisation number must be 1..10 digits")
        contract = value.get("contract")
        if contract is not None:
            if not isinstance(contract, str) or not 1 <= len(contract) <= 16 or not contract.isascii() \
                    or not contract.isprintable():
                raise ProfileError("AMC contract must be 1..16 printable ASCII characters")
        amc_start = full_date(value["start"]) if "start" in value else None
        amc_end = full_date(value["end"]) if "end" in value else None
        if amc_start is not None and amc_end is not None and amc_start > amc_end:
            raise ProfileError("AMC period ends before it starts")
        return AmcData(org, contract, amc_start, amc_end)
    raise ProfileError(f"unknown element {name!r}")


def card_from_values(values: dict[str, Any]) -> HealthCard:
    """Check every element of `values` (normalised form) and build the card.

    Also checks the cross-element rule: `nir_key` must be the key of `nir`.
    """
    checked = {name: check_value(name, v) for name, v in values.items()}
    if "nir" in checked and "nir_key" in checked and checked["nir_key"] != nir_key(checked["nir"]):
        raise ProfileError("NIR key does not match the NIR")
    return HealthCard(**checked)


@dataclass(frozen=True)
class Refusal:
    """Why a credential was refused: a stable code and a message for people."""

    code: str
    message: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        """JSON form: {"refused": CODE, "message": ..., "detail": ...}."""
        d = {"refused": self.code, "message": self.message}
        if self.detail:
            d["detail"] = self.detail
        return d


@dataclass(frozen=True)
class Verification:
    """An accepted credential."""

    format: str                       # "mdoc" or "vqr"
    doc_type: str
    card: HealthCard | None           # set for the health-card docType
    elements: dict[str, dict[str, Any]]  # namespace -> element -> JSON-able value
    issuer: str                       # DS certificate subject (RFC 4514)
    kid: str                          # hex of the first 8 bytes of SHA-256(DS certificate)
    status_index: int | None
    valid_until: str                  # ISO 8601 UTC
    device_auth: str                  # "signature", "mac" or "presentation"
    verified_at: int                  # the reader time used (Unix seconds)
    presented_at: int | None = None   # VQR presentation time
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        d: dict[str, Any] = {
            "accepted": True,
            "format": self.format,
            "docType": self.doc_type,
            "card": self.card.to_dict() if self.card is not None else None,
            "elements": self.elements,
            "issuer": self.issuer,
            "kid": self.kid,
            "statusIndex": self.status_index,
            "validUntil": self.valid_until,
            "deviceAuth": self.device_auth,
            "verifiedAt": _dt.datetime.fromtimestamp(self.verified_at, _dt.timezone.utc).isoformat(),
        }
        if self.presented_at is not None:
            d["presentedAt"] = self.presented_at
        d.update(self.extra)
        return d


# --------------------------------------------------------------------------- reads through the reader (SDK)

READ_CHANNELS = ("nfc", "qr", "any")
RESULT_EVENTS = ("card", "refusal", "unverified_payload")
READ_STATES = ("scanning", "reading", "verifying", "reporting", "idle")


class BadResult(ValueError):
    """A signed result that does not have the shape of docs/host-protocol.md ("Reads")."""


def _iso_or_none(ts: Any) -> str | None:
    if isinstance(ts, int) and not isinstance(ts, bool):
        return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat()
    return None


@dataclass(frozen=True)
class UnverifiedPayload:
    """A closed-format QR or NFC payload the reader passed through WITHOUT verifying it.

    Never a health card: the reader only vouches that it saw these bytes.
    """

    format: str          # "qr" or "nfc"
    payload: bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"format": self.format, "payload": self.payload.hex(), "verified": False}


@dataclass(frozen=True)
class ReadProgress:
    """A progress event of a running read (not signed: for display only)."""

    read_id: Any
    state: str
    channel: str | None


@dataclass(frozen=True)
class ReadResult:
    """How one read ended, taken from the reader's signed result (docs/host-protocol.md, "Reads").

    Exactly one of `verification` (status "verified"), `refusal` ("refused") or
    `unverified` ("unverified") is set. `card` is the verified HealthCard, or None
    (a refusal, an unverified payload, or another document type).
    """

    status: str                       # "verified", "refused" or "unverified"
    read_id: Any
    channel: str | None
    profile: str | None
    reader_kid: str                   # hex kid of the pinned key that signed the result
    counter: int                      # the result's number in the signed session
    verification: Verification | None = None
    refusal: Refusal | None = None
    unverified: UnverifiedPayload | None = None
    raw: dict[str, Any] | None = None  # the credential as the reader saw it, when its config attaches it
    host_checked: bool = False         # True when the host reference verifier re-checked `raw` and agreed

    @property
    def verified(self) -> bool:
        """True for a verified card."""
        return self.status == "verified"

    @property
    def card(self) -> HealthCard | None:
        """The verified health card (None unless status is "verified" and it is a health card)."""
        return self.verification.card if self.verification is not None and self.status == "verified" else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the output of `vitale read --json` (docs/read-result.schema.json)."""
        d: dict[str, Any] = {"status": self.status, "read_id": self.read_id, "channel": self.channel,
                             "profile": self.profile, "reader_kid": self.reader_kid, "counter": self.counter}
        if self.verification is not None and self.status == "verified":
            v = self.verification
            d["card"] = v.card.to_dict() if v.card is not None else None
            d["credential"] = {
                "format": v.format, "doc_type": v.doc_type, "issuer": v.issuer, "kid": v.kid,
                "status_index": v.status_index, "valid_until": v.valid_until,
                "valid_from": _iso_or_none(v.extra.get("valid_from")),
                "signed_at": _iso_or_none(v.extra.get("signed")),
                "status_list_age_s": v.extra.get("status_list_age"),
                "device_auth": v.device_auth, "presented_at": v.presented_at,
                "elements": v.elements,
            }
            d["host_checked"] = self.host_checked
        elif self.refusal is not None:
            d["refusal"] = {"code": self.refusal.code, "message": self.refusal.message,
                            "detail": self.refusal.detail}
        elif self.unverified is not None:
            d["verified"] = False
            d["format"] = self.unverified.format
            d["payload"] = self.unverified.payload.hex()
        return d


def _opt_str(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise BadResult(f"{key} must be text or null")
    return v


def _int_or_none(v: Any, what: str) -> int | None:
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise BadResult(f"{what} must be an integer or null")
    return v


def verification_from_card(card: Any, received_at: int) -> Verification:
    """The Verification of a reader's signed `card` object (firmware VerifiedCard.to_dict())."""
    if not isinstance(card, dict):
        raise BadResult("card must be an object")
    fields = card.get("fields")
    doc_type = card.get("doc_type")
    if not isinstance(fields, dict) or not isinstance(doc_type, str):
        raise BadResult("card needs fields and doc_type")
    health: HealthCard | None = None
    if doc_type == DOC_TYPE:
        try:
            health = HealthCard.from_dict(fields)
        except ProfileError as e:
            raise BadResult(f"the reader's card breaks the profile: {e}") from None
    elements = card.get("elements", {})
    if not isinstance(elements, dict):
        raise BadResult("elements must be an object")
    channel = card.get("channel")
    valid_until = _int_or_none(card.get("valid_until"), "valid_until")
    extra: dict[str, Any] = {
        "valid_from": _int_or_none(card.get("valid_from"), "valid_from"),
        "signed": _int_or_none(card.get("signed"), "signed"),
        "status_list_age": _int_or_none(card.get("status_list_age"), "status_list_age"),
        "errors": card.get("errors") if isinstance(card.get("errors"), dict) else {},
    }
    return Verification(
        format="mdoc" if channel == "nfc" else "vqr", doc_type=doc_type, card=health, elements=elements,
        issuer=str(card.get("issuer", "")), kid=str(card.get("kid", "")),
        status_index=_int_or_none(card.get("status_index"), "status_index"),
        valid_until=_iso_or_none(valid_until) or "", device_auth=str(card.get("device_auth", "")),
        verified_at=received_at, presented_at=_int_or_none(card.get("presented_at"), "presented_at"),
        extra=extra)


def read_result_from_signed(result: dict[str, Any], reader_kid: str, counter: int, received_at: int) -> ReadResult:
    """A ReadResult from the signed `result` object of a result event; raises BadResult."""
    status = result.get("status")
    channel = _opt_str(result, "channel")
    profile = _opt_str(result, "profile")
    common: dict[str, Any] = {"read_id": result.get("read_id"), "channel": channel, "profile": profile,
                              "reader_kid": reader_kid, "counter": counter}
    if status == "verified":
        raw = result.get("raw")
        if raw is not None and not isinstance(raw, dict):
            raise BadResult("raw must be an object")
        return ReadResult(status="verified", verification=verification_from_card(result.get("card"), received_at),
                          raw=raw, **common)
    if status == "refused":
        r = result.get("refusal")
        if not isinstance(r, dict) or not isinstance(r.get("code"), str):
            raise BadResult("refusal needs a code")
        code: str = r["code"]
        msg_v = r.get("message")
        detail = r.get("detail")
        message: str = msg_v if isinstance(msg_v, str) else REFUSAL_CODES.get(code) or code
        return ReadResult(status="refused", refusal=Refusal(
            code, message,
            detail if isinstance(detail, str) else ""), **common)
    if status == "unverified":
        payload = result.get("payload")
        fmt = result.get("format")
        if result.get("verified") is not False or not isinstance(payload, str) or not isinstance(fmt, str):
            raise BadResult("an unverified payload needs verified: false, payload (hex) and format")
        try:
            data = bytes.fromhex(payload)
        except ValueError:
            raise BadResult("payload must be hex") from None
        return ReadResult(status="unverified", unverified=UnverifiedPayload(fmt, data), **common)
    raise BadResult(f"unknown result status {status!r}")


@dataclass(frozen=True)
class ReaderInfo:
    """What `info` says about a reader (docs/host-protocol.md, "Commands")."""

    board: str
    firmware: str
    protocol: int
    reader_kid: str
    clock_set: bool
    clock_now: int | None
    trust_list: dict[str, Any] | None
    status_list: dict[str, Any] | None
    mem_free: int | None
    policy: dict[str, Any]
    trust_key_pinned: bool             # the reader has a trust-list key pinned
    reader_pinned: bool                # THIS HOST has the reader's key pinned (vitale_host.pins)
    config: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_reply(cls, r: Any, reader_pinned: bool) -> ReaderInfo:
        """Build from the `info` reply; raises BadResult when it is not an object."""
        if not isinstance(r, dict):
            raise BadResult("info reply is not an object")
        clock_v = r.get("clock")
        clock: dict[str, Any] = clock_v if isinstance(clock_v, dict) else {}
        tl, sl = r.get("trust_list"), r.get("status_list")
        pol, cfg = r.get("policy"), r.get("config")
        proto = r.get("protocol")
        mem = r.get("mem_free")
        now = clock.get("now")
        return cls(board=str(r.get("board", "")), firmware=str(r.get("firmware", "")),
                   protocol=proto if isinstance(proto, int) else 0, reader_kid=str(r.get("reader_kid", "")),
                   clock_set=clock.get("set") is True, clock_now=now if isinstance(now, int) else None,
                   trust_list=tl if isinstance(tl, dict) else None, status_list=sl if isinstance(sl, dict) else None,
                   mem_free=mem if isinstance(mem, int) else None, policy=pol if isinstance(pol, dict) else {},
                   trust_key_pinned=r.get("pinned") is True, reader_pinned=reader_pinned,
                   config=cfg if isinstance(cfg, dict) else {}, raw=dict(r))

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the reader's reply plus `reader_pinned` (this host)."""
        d = dict(self.raw)
        d["reader_pinned"] = self.reader_pinned
        return d
