"""Synthetic patients for the test authority: valid NIR keys, plausible codes.

Everything here is made up. Names come from short lists of common French
names, codes look like real ones (régime 01 + a CPAM-style caisse + a
4-digit centre) but are not taken from any official table. NIR rules used:
sex (1/2), year, month, department (2A/2B for people born in Corsica from
1976 on, 20 before; 97x overseas with a 2-digit commune; 99 abroad), commune,
order number, key = 97 − (NIR mod 97) with 2A→19 and 2B→18.
"""

from __future__ import annotations

import datetime as dt
import random

from vitale_host.models import INS_OIDS, AmcData, HealthCard, RightsPeriod, card_from_values, nir_key

FAMILY_NAMES = (
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT",
    "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD",
    "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT", "MULLER", "LEFEVRE", "FAURE", "ANDRE",
    "MERCIER", "BLANC", "GUERIN", "BOYER", "GARNIER", "CHEVALIER", "FRANCOIS", "LEGRAND", "GAUTHIER", "GARCIA",
    "PERRIN", "ROBIN", "CLEMENT", "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON",
    "SANTONI", "ALBERTINI", "PAOLI", "LE GALL", "N'DIAYE", "DE LA TOUR", "BENALI", "NGUYEN", "DOS SANTOS",
)
GIVEN_F = ("MARIE", "CAMILLE", "LEA", "MANON", "CHLOE", "EMMA", "INES", "SARAH", "JULIE", "ANNE", "CLAIRE",
           "SOPHIE", "NATHALIE", "ISABELLE", "SYLVIE", "CATHERINE", "LOUISE", "JEANNE", "ROSE", "AGATHE")
GIVEN_M = ("JEAN", "PIERRE", "LOUIS", "LUCAS", "HUGO", "THOMAS", "NICOLAS", "JULIEN", "PAUL", "ANTOINE",
           "FRANCOIS", "MICHEL", "PHILIPPE", "ALAIN", "ETIENNE", "GABRIEL", "ARTHUR", "RAPHAEL", "JULES", "MARC")
# Metropolitan departments a person may be born or live in (20 is Corsica before 1976).
METRO_DEPTS = tuple(f"{d:02d}" for d in range(1, 96) if d != 20)
OVERSEAS = ("971", "972", "973", "974", "976")
ABROAD_COUNTRIES = ("350", "351", "352", "109", "134", "139", "127", "132", "212", "243")  # INSEE 99xxx codes
REGIMES = (("01", 80), ("02", 8), ("04", 2), ("05", 1), ("08", 2), ("17", 1), ("91", 4), ("95", 2))
QUALITIES = ((0, 80), (6, 12), (2, 5), (1, 2), (9, 1))
AMC_CONTRACTS = ("TP", "SP", "NOEMIE", "IHC2", "RO", "CSS")


def _weighted(rng: random.Random, table: tuple[tuple[object, int], ...]) -> object:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def make_nir(rng: random.Random, sex: int, birth: dt.date | None, year: int, birthplace: str) -> str:
    """A 13-character NIR for someone born in `year` (month from `birth`, '20' if unknown) at `birthplace`.

    `birthplace` is 'metro', 'corsica', 'overseas' or 'abroad'.
    """
    month = f"{birth.month:02d}" if birth is not None else "20"
    if birthplace == "corsica":
        place = ("2A" if rng.random() < 0.5 else "2B") if year >= 1976 else "20"
        place += f"{rng.randint(1, 366):03d}"
    elif birthplace == "overseas":
        place = rng.choice(OVERSEAS) + f"{rng.randint(1, 34):02d}"
    elif birthplace == "abroad":
        place = "99" + rng.choice(ABROAD_COUNTRIES)
    else:
        place = rng.choice(METRO_DEPTS) + f"{rng.randint(1, 800):03d}"
    return f"{sex}{year % 100:02d}{month}{place}{rng.randint(1, 999):03d}"


def _given(rng: random.Random, sex: int) -> str:
    names = GIVEN_M if sex == 1 else GIVEN_F
    return " ".join(rng.sample(names, rng.choice((1, 1, 2, 2, 3))))


def _rights(rng: random.Random, today: dt.date) -> tuple[RightsPeriod, ...]:
    start = today - dt.timedelta(days=rng.randint(0, 365))
    end = today + dt.timedelta(days=rng.randint(180, 730))
    periods = [RightsPeriod(start.isoformat(), end.isoformat())]
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        prev_end = dt.date.fromisoformat(periods[0].start) - dt.timedelta(days=1)
        prev_start = prev_end - dt.timedelta(days=rng.randint(90, 365))
        periods.insert(0, RightsPeriod(prev_start.isoformat(), prev_end.isoformat()))
    return tuple(periods)


def synthetic_patient(rng: random.Random, today: dt.date, *, with_ins: bool = True,
                      with_amc: bool | None = None) -> HealthCard:
    """One synthetic patient (a checked HealthCard) with rights current on `today`."""
    quality = int(str(_weighted(rng, QUALITIES)))
    age = rng.randint(1, 15) if quality == 6 else rng.randint(18, 95)
    year = today.year - age
    sex = rng.choice((1, 2))
    place_kind = str(_weighted(rng, (("metro", 85), ("corsica", 4), ("overseas", 5), ("abroad", 6))))
    lunar = place_kind == "abroad" and rng.random() < 0.3
    birth = None if lunar else dt.date(year, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
    own_nir = make_nir(rng, sex, birth, year, place_kind)
    birth_date = f"{year:04d}0000" if birth is None else birth.strftime("%Y%m%d")
    if quality == 0:
        nir = own_nir
    else:  # a beneficiary: rights open under the insured person's NIR
        parent_year = year - rng.randint(20, 40) if quality == 6 else year + rng.randint(-5, 5)
        parent_birth = dt.date(parent_year, rng.randint(1, 12), 1)
        nir = make_nir(rng, rng.choice((1, 2)), parent_birth, parent_year, "metro")
    family = rng.choice(FAMILY_NAMES)
    usage = rng.choice(FAMILY_NAMES) if sex == 2 and quality in (0, 2) and rng.random() < 0.3 else None
    regime = str(_weighted(rng, REGIMES))
    dept = rng.choice(METRO_DEPTS)
    caisse = dept + str(rng.randint(1, 2)) if regime == "01" else f"{rng.randint(1, 999):03d}"
    amc = None
    if with_amc if with_amc is not None else rng.random() < 0.3:
        amc = AmcData(f"{rng.randint(10_000_000, 999_999_999)}", rng.choice(AMC_CONTRACTS),
                      dt.date(today.year, 1, 1).isoformat(), dt.date(today.year, 12, 31).isoformat())
    values = {
        "nir": nir, "nir_key": nir_key(nir),
        "family_name": family, "given_names": _given(rng, sex), "birth_date": birth_date,
        "birth_rank": 2 if quality == 6 and rng.random() < 0.05 else 1, "quality": quality,
        "regime": regime, "caisse": caisse, "centre": f"{rng.randint(1, 9999):04d}",
        "amo_rights": [p.to_dict() for p in _rights(rng, today)],
    }
    if usage is not None:
        values["usage_name"] = usage
    if with_ins:
        values["ins_matricule"] = own_nir + f"{nir_key(own_nir):02d}"
        values["ins_oid"] = INS_OIDS[0]
    if amc is not None:
        values["amc"] = amc.to_dict()
    return card_from_values(values)


def synthetic_patients(n: int, seed: int = 1, today: dt.date | None = None) -> list[HealthCard]:
    """`n` synthetic patients, reproducible for a given seed and day."""
    rng = random.Random(seed)
    day = today or dt.datetime.now(dt.timezone.utc).date()
    return [synthetic_patient(rng, day) for _ in range(n)]


def typical_card(today: dt.date | None = None) -> HealthCard:
    """The 'typical card' used to size the VQR: an insured adult, one rights period, no AMC, no INS."""
    day = today or dt.date(2026, 11, 23)
    return card_from_values({
        "nir": "1850775123456", "nir_key": nir_key("1850775123456"),
        "family_name": "DUBOIS", "given_names": "CAMILLE MARIE", "birth_date": "19850717",
        "birth_rank": 1, "quality": 0, "regime": "01", "caisse": "751", "centre": "0123",
        "amo_rights": [{"start": (day - dt.timedelta(days=200)).isoformat(),
                        "end": (day + dt.timedelta(days=500)).isoformat()}],
    })
