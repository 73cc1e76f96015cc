"""cred.policy: the health-card value rules, read profiles, dates and the clock rule."""

from vitale.cred import policy as pol
from vitale.cred.result import REFUSALS, Refusal

CARD = {"nir": "1850775123456", "nir_key": 8, "family_name": "DUBOIS", "given_names": "CAMILLE MARIE",
        "birth_date": "19850717", "birth_rank": 1, "quality": 0, "regime": "01", "caisse": "751",
        "centre": "0123", "amo_rights": [{"start": "2026-05-07", "end": "2028-04-06"}]}


def _refusal(fn, *args):
    try:
        fn(*args)
    except Refusal as e:
        return e.code
    return None


def _bad(name, value):
    try:
        pol.check_value(name, value)
    except pol.ProfileError:
        return True
    return False


def test_nir_keys_of_the_profile_examples():
    assert pol.nir_key("2951099126111") == 93
    assert pol.nir_key("253072B073004") == 70
    assert pol.nir_key("253072A073004") == 43
    assert pol.nir_key("1850775123456") == 8
    for bad in ("9850775123456", "185077512345", "18507751234567", "185072C123456", "18507751234X6", "1850775123456\n"):
        assert _bad("nir", bad), bad


def test_card_checks_and_cross_element_rule():
    card = pol.build_card(dict(CARD), pol.Policy())
    assert card == CARD
    wrong = dict(CARD, nir_key=9)
    assert _refusal(pol.build_card, wrong, pol.Policy()) == "invalid_element"
    partial = {"nir": CARD["nir"], "family_name": "X"}
    assert pol.build_card(partial, pol.Policy()) == partial
    assert _refusal(pol.build_card, partial, pol.Policy(profile="billing")) == "missing_element"
    assert _refusal(pol.build_card, dict(CARD, given_names="A\x07B"), pol.Policy()) == "invalid_element"


def test_value_rules():
    good = [("ins_matricule", "185077512345608"), ("ins_oid", "1.2.250.1.213.1.4.10"), ("birth_date", "19850017"),
            ("birth_rank", 9), ("quality", 0), ("usage_name", "É" * 100),
            ("amc", {"org": "12345", "contract": "A-1 ~", "start": "2026-01-01", "end": "2026-12-31"}),
            ("amo_rights", [{"start": "2024-02-29", "end": "2024-02-29"}] * 3)]
    for name, v in good:
        assert not _bad(name, v), name
    bad = [("ins_matricule", "185077512345609"), ("ins_oid", "1.2.3"), ("birth_date", "1985071"),
           ("birth_date", 19850717), ("birth_rank", 0), ("birth_rank", True), ("quality", 10), ("regime", "1"),
           ("regime", "0\n"), ("caisse", "75a"), ("centre", "01234"), ("family_name", ""), ("family_name", "A" * 101),
           ("family_name", "A\x85"), ("amo_rights", []), ("amo_rights", [{"start": "2026-01-01"}]),
           ("amo_rights", [{"start": "2026-02-01", "end": "2026-01-31"}]),
           ("amo_rights", [{"start": "2023-02-29", "end": "2024-01-01"}]),
           ("amo_rights", [{"start": "0000-01-01", "end": "2024-01-01"}]),
           ("amo_rights", [{"start": "2026-1-01", "end": "2024-01-01"}]),
           ("amo_rights", [{"start": "2026-01-01", "end": "2026-01-02"}] * 4),
           ("amc", {"contract": "x"}), ("amc", {"org": "12345678901"}), ("amc", {"org": "1", "contract": "é"}),
           ("amc", {"org": "1", "x": 1}), ("amc", {"org": "1", "start": "2026-02-01", "end": "2026-01-01"}),
           ("unknown", 1)]
    for name, v in bad:
        assert _bad(name, v), (name, v)
    assert pol.check_value("amc", {"org": "1", "contract": None}) == {"org": "1"}


def test_day_counts():
    assert pol.days_to_date(0) == "1970-01-01"
    assert pol.days_to_date(20580) == "2026-05-07" and pol.days_to_date(21280) == "2028-04-06"
    assert pol.days_to_date(-719162) == "0001-01-01" and pol.days_to_date(2932896) == "9999-12-31"
    for d in range(-800, 800, 7):
        assert pol.date_to_days(pol.days_to_date(d)) == d
    for d in (-719163, 2932897, True, 1.0):
        try:
            pol.days_to_date(d)
            assert False, d
        except pol.ProfileError:
            pass


def test_profiles_restrict_and_clock():
    assert pol.restrict(CARD, None) is CARD
    ident = pol.restrict(CARD, "identity")
    assert sorted(ident) == sorted(["nir", "nir_key", "family_name", "given_names", "birth_date", "birth_rank"])
    assert _refusal(pol.require_clock, None) == "clock_unset"
    assert pol.require_clock(1800000000) == 1800000000
    p = pol.Policy.from_dict({"profile": "billing", "doc_type": pol.DOC_TYPE})
    assert p.profile == "billing" and p.qr_window_s == 30 and p.clock_skew_s == 5 and p.status_max_age_s == 259200
    try:
        pol.Policy(profile="nope")
        assert False
    except ValueError:
        pass
    for code in ("qr_not_yet_valid", "invalid_element", "not_requested", "no_document", "bad_list_signature",
                 "rollback", "clock_unset", "stale_status_list"):
        assert code in REFUSALS
    assert Refusal("no_such_code").code == "internal"
