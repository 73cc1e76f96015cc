"""Reader policy and the health-card profile (docs/credential-profile.md, docs/refusal-codes.md §3).

  Policy(qr_window_s=30, clock_skew_s=5, status_max_age_s=72 h, doc_type=None, profile=None)
  require_clock(now)                    Refusal("clock_unset") when the host never set the clock
  PROFILES / PROFILE_REQUIRED           read profiles: requested and required elements
  check_value(name, value)              one element (normalised form) -> its card form, or ProfileError
  build_card(values, policy)            every element checked -> card dict; Refusal invalid_element /
                                        missing_element
  restrict(card, profile)               the card reduced to a profile's elements
  days_to_date(n) / full_date(s)        RFC 8943 day counts and "YYYY-MM-DD" dates

The normalised form of a value is the one both formats reduce to before the
checks: dates as "YYYY-MM-DD" text, `amo_rights` a list of {"start", "end"},
`amc` a map with text keys. The card form is the JSON of the patient file
(`HealthCard.to_dict()` on the host), so the two verifiers can be compared
element for element.
"""

from vitale.codec.der import DerError, civil_to_epoch
from vitale.cred.result import Refusal

DOC_TYPE = "org.vitale-reader.hic.1"
NAMESPACE = "org.vitale-reader.hic.1"

# element identifiers in short-key order (VQR short key = index + 1)
ELEMENTS = (
    "nir", "nir_key", "ins_matricule", "ins_oid", "family_name", "usage_name", "given_names",
    "birth_date", "birth_rank", "quality", "regime", "caisse", "centre", "amo_rights", "amc",
)
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")

_ISSUE_REQUIRED = (
    "nir", "nir_key", "family_name", "given_names", "birth_date", "birth_rank",
    "quality", "regime", "caisse", "centre", "amo_rights",
)
PROFILES = {
    "billing": ("nir", "nir_key", "family_name", "usage_name", "given_names", "birth_date", "birth_rank",
                "quality", "regime", "caisse", "centre", "amo_rights", "amc"),
    "identity": ("nir", "nir_key", "ins_matricule", "ins_oid", "family_name", "usage_name", "given_names",
                 "birth_date", "birth_rank"),
    "full": ELEMENTS,
}
PROFILE_REQUIRED = {
    "billing": _ISSUE_REQUIRED,
    "identity": ("nir", "nir_key", "family_name", "given_names", "birth_date"),
    "full": _ISSUE_REQUIRED,
}

_MAX_NAME = 100
_DAY_MIN = -719162   # 0001-01-01
_DAY_MAX = 2932896   # 9999-12-31


class ProfileError(ValueError):
    """A value breaks the card profile (reason in the message)."""


class Policy:
    """What the reader accepts; defaults as in docs/refusal-codes.md §3."""

    def __init__(self, qr_window_s=30, clock_skew_s=5, status_max_age_s=72 * 3600, doc_type=None,
                 profile=None):
        if profile is not None and profile not in PROFILES:
            raise ValueError("unknown profile " + str(profile))
        self.qr_window_s = qr_window_s
        self.clock_skew_s = clock_skew_s
        self.status_max_age_s = status_max_age_s
        self.doc_type = doc_type
        self.profile = profile

    @staticmethod
    def from_dict(d):
        """A Policy from a dict with the attribute names (missing keys keep their defaults)."""
        p = Policy()
        for k in ("qr_window_s", "clock_skew_s", "status_max_age_s", "doc_type", "profile"):
            if k in d:
                setattr(p, k, d[k])
        if p.profile is not None and p.profile not in PROFILES:
            raise ValueError("unknown profile " + str(p.profile))
        return p


DEFAULT = Policy()


def require_clock(now):
    """The reader time as an int; Refusal('clock_unset') when it is None (never set by the host)."""
    if now is None:
        raise Refusal("clock_unset")
    return int(now)


# --- value rules -----------------------------------------------------------


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _all_digits(s):
    for c in s:
        if c < "0" or c > "9":
            return False
    return True


def _digits(value, n, what):
    if not isinstance(value, str) or len(value) != n or not _all_digits(value):
        raise ProfileError(what + " must be " + str(n) + " digits")
    return value


def _uint(value, lo, hi, what):
    if not _is_int(value) or value < lo or value > hi:
        raise ProfileError(what + " must be an integer " + str(lo) + ".." + str(hi))
    return value


def _text(value, what):
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_NAME:
        raise ProfileError(what + " must be text of 1..100 characters")
    for c in value:
        o = ord(c)
        if o < 0x20 or 0x7F <= o < 0xA0:
            raise ProfileError(what + " has control characters")
    return value


def nir_number(nir13):
    """The 13-character NIR as the number its key is computed on (2A -> 19, 2B -> 18)."""
    ok = isinstance(nir13, str) and len(nir13) == 13 and "1" <= nir13[0] <= "8" and _all_digits(nir13[1:5]) \
        and _all_digits(nir13[7:])
    dept = nir13[5:7] if ok else ""
    if ok and not _all_digits(dept):
        if dept == "2A":
            dept = "19"
        elif dept == "2B":
            dept = "18"
        else:
            ok = False
    if not ok:
        raise ProfileError("NIR must be 13 characters: digits, with 2A/2B only as the department")
    return int(nir13[:5] + dept + nir13[7:])


def nir_key(nir13):
    """The NIR key: 97 - (NIR mod 97), after the Corsica substitution."""
    return 97 - nir_number(nir13) % 97


def full_date(value):
    """Check "YYYY-MM-DD" (a real calendar date, year 1..9999) and return it."""
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-" \
            or not _all_digits(value[:4] + value[5:7] + value[8:]):
        raise ProfileError("date must be YYYY-MM-DD")
    _epoch(value)
    return value


def _epoch(value):
    y = int(value[:4])
    try:
        if y < 1:
            raise DerError("bad_time")
        return civil_to_epoch(y, int(value[5:7]), int(value[8:]), 0, 0, 0)
    except DerError:
        raise ProfileError("not a calendar date")


def date_to_days(value):
    """'YYYY-MM-DD' -> days since 1970-01-01."""
    return _epoch(full_date(value)) // 86400


def _pad(n, w):
    s = str(n)
    return "0" * (w - len(s)) + s


def days_to_date(days):
    """RFC 8943 tag-100 day count (days since 1970-01-01) -> 'YYYY-MM-DD' (years 1..9999)."""
    if not _is_int(days) or days < _DAY_MIN or days > _DAY_MAX:
        raise ProfileError("day count out of range")
    z = days + 719468  # H. Hinnant's civil_from_days
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return _pad(y, 4) + "-" + _pad(m, 2) + "-" + _pad(d, 2)


def _ins_matricule(value):
    if not isinstance(value, str):
        raise ProfileError("INS matricule must be text")
    for c in value:
        if ord(c) > 0x7F:
            raise ProfileError("INS matricule must be 15 characters (NIR + 2-digit key)")
    if len(value) != 15 or not _all_digits(value[13:]):
        raise ProfileError("INS matricule must be 15 characters (NIR + 2-digit key)")
    if int(value[13:]) != nir_key(value[:13]):
        raise ProfileError("INS matricule key does not match")
    return value


def _rights(value):
    if not isinstance(value, list) or not 1 <= len(value) <= 3:
        raise ProfileError("amo_rights must hold 1..3 periods")
    out = []
    for p in value:
        if not isinstance(p, dict) or len(p) != 2 or "start" not in p or "end" not in p:
            raise ProfileError("a rights period has exactly start and end")
        start = full_date(p["start"])
        end = full_date(p["end"])
        if start > end:
            raise ProfileError("a rights period ends before it starts")
        out.append({"start": start, "end": end})
    return out


def _amc(value):
    if not isinstance(value, dict) or "org" not in value:
        raise ProfileError("amc must hold org and optionally contract, start, end")
    for k in value:
        if k not in ("org", "contract", "start", "end"):
            raise ProfileError("amc must hold org and optionally contract, start, end")
    org = value["org"]
    if not isinstance(org, str) or not 1 <= len(org) <= 10 or not _all_digits(org):
        raise ProfileError("AMC organisation number must be 1..10 digits")
    out = {"org": org}
    contract = value.get("contract")
    if contract is not None:
        ok = isinstance(contract, str) and 1 <= len(contract) <= 16
        if ok:
            for c in contract:
                if not " " <= c <= "~":
                    ok = False
        if not ok:
            raise ProfileError("AMC contract must be 1..16 printable ASCII characters")
        out["contract"] = contract
    if "start" in value:
        out["start"] = full_date(value["start"])
    if "end" in value:
        out["end"] = full_date(value["end"])
    if "start" in out and "end" in out and out["start"] > out["end"]:
        raise ProfileError("AMC period ends before it starts")
    return out


def check_value(name, value):
    """Check one element's normalised value; return its card form (ProfileError when it breaks the profile)."""
    if name == "nir":
        if not isinstance(value, str):
            raise ProfileError("NIR must be text")
        nir_number(value)
        return value
    if name == "nir_key":
        return _uint(value, 1, 97, "NIR key")
    if name == "ins_matricule":
        return _ins_matricule(value)
    if name == "ins_oid":
        if not isinstance(value, str) or value not in INS_OIDS:
            raise ProfileError("unknown INS OID")
        return value
    if name == "family_name" or name == "usage_name" or name == "given_names":
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
        return _rights(value)
    if name == "amc":
        return _amc(value)
    raise ProfileError("unknown element " + repr(name))


def build_card(values, policy):
    """The checked card of normalised `values`; Refusal invalid_element or missing_element (policy.profile)."""
    card = {}
    try:
        for name in values:
            card[name] = check_value(name, values[name])
        if "nir" in card and "nir_key" in card and card["nir_key"] != nir_key(card["nir"]):
            raise ProfileError("NIR key does not match the NIR")
    except ProfileError as e:
        raise Refusal("invalid_element", str(e))
    if policy.profile is not None:
        missing = [n for n in PROFILE_REQUIRED[policy.profile] if n not in values]
        if missing:
            raise Refusal("missing_element", ", ".join(missing))
    return card


def restrict(card, profile):
    """The card with only the elements of `profile` (the whole card when profile is None)."""
    if profile is None:
        return card
    keep = PROFILES[profile]
    out = {}
    for k in card:
        if k in keep:
            out[k] = card[k]
    return out
