"""Byte-level format checks, independent of the verifier where possible (cbor2 + cryptography directly)."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from vitale_host.models import (
    DOC_TYPE, INS_OIDS, NAMESPACE, ProfileError, card_from_values, check_value, nir_key,
)
from vitale_host.verify import (
    Refused, ReplayCache, StatusList, base45_decode, device_authentication_bytes, sig_structure, strict_loads,
    verify_device_response,
)
from vitale_tools import mdoc_holder as mh
from vitale_tools.authority import (
    MdocParams, base45_encode, cose_sign1, der, make_ca_cert, make_issuer_signed, make_leaf_cert, mdoc_elements,
    new_key, present, rice_encode, status_chunks, status_payload, tdate,
)
from vitale_tools.cred_cases import NOW, World, build_cases, host_result, outcome
from vitale_tools.patients import synthetic_patients, typical_card


@pytest.mark.parametrize("nir,key", [("2951099126111", 93), ("253072B073004", 70), ("253072A073004", 43),
                                     ("1850775123456", 8)])
def test_nir_key(nir: str, key: int) -> None:
    assert nir_key(nir) == key
    check_value("ins_matricule", nir + f"{key:02d}")
    with pytest.raises(ProfileError):
        check_value("ins_matricule", nir + f"{key % 97 + 1:02d}")


@pytest.mark.parametrize("name,value", [
    ("nir", "2951099126A11"), ("nir", "295109912611"), ("nir", "9951099126111"), ("nir", "2A51099126111"),
    ("nir_key", 0), ("nir_key", 98), ("nir_key", True), ("birth_date", "1980-05-17"), ("birth_date", "1980051"),
    ("birth_rank", 0), ("quality", 10), ("regime", "1"), ("caisse", "75A"), ("centre", "12345"),
    ("family_name", ""), ("family_name", "A\x00B"), ("family_name", "X" * 101), ("ins_oid", "1.2.3"),
    ("amo_rights", []), ("amo_rights", [{"start": "2026-01-01", "end": "2025-01-01"}]),
    ("amo_rights", [{"start": "2026-02-30", "end": "2027-01-01"}]), ("amo_rights", [{"start": "2026-01-01"}]),
    ("amo_rights", [{"start": "2026-01-01", "end": "2026-12-31"}] * 4), ("amc", {"contract": "X"}),
    ("amc", {"org": "12345678901"}), ("amc", {"org": "1", "extra": 1}), ("usage", "X"),
])
def test_profile_rejects(name: str, value: Any) -> None:
    with pytest.raises(ProfileError):
        check_value(name, value)


def test_lunar_birth_dates_are_kept_as_printed() -> None:
    for d in ("19750000", "19751300", "19750231"):
        assert check_value("birth_date", d) == d


def test_synthetic_patients_are_valid_and_varied() -> None:
    cards = synthetic_patients(1500, seed=7, today=dt.date(2026, 11, 23))
    depts = {c.ins_matricule[5:7] for c in cards if c.ins_matricule}
    assert {"2A", "2B", "99", "97"} <= depts
    corsica = [c for c in cards if c.ins_matricule and c.ins_matricule[5:7] in ("2A", "2B", "20")]
    assert any(c.ins_matricule[5:7] == "20" for c in corsica)
    for c in corsica:
        year = int(c.birth_date[:4])  # type: ignore[index]
        assert (c.ins_matricule[5:7] == "20") == (year < 1976)  # type: ignore[index]
    assert any(c.birth_date.endswith("0000") for c in cards)  # type: ignore[union-attr]
    assert {c.quality for c in cards} >= {0, 2, 6}
    beneficiaries = [c for c in cards if c.quality != 0]
    assert all(c.ins_matricule[:13] != c.nir for c in beneficiaries)  # type: ignore[index]
    assert all(c.nir_key == nir_key(c.nir) for c in cards)  # type: ignore[arg-type]
    today = "2026-11-23"
    assert all(any(p.start <= today <= p.end for p in c.amo_rights or ()) for c in cards)
    assert {c.regime for c in cards} >= {"01", "02"}
    assert any(c.amc for c in cards) and any(c.usage_name for c in cards)
    for c in cards[:50]:
        assert card_from_values(c.to_dict()) == c


@pytest.mark.parametrize("raw,text", [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
                                      (b"ietf!", "QED8WEX0"), (b"", "")])
def test_base45_rfc9285(raw: bytes, text: str) -> None:
    assert base45_encode(raw) == text
    assert base45_decode(text) == raw


@pytest.mark.parametrize("bad", ["GGW", "A", "aa", "::::"])
def test_base45_rejects(bad: str) -> None:
    with pytest.raises(Refused):
        base45_decode(bad)


def test_strict_cbor() -> None:
    for bad in ("a2616101616102", "0102", "9f01ff", "5f4101ff", "1c", "a1", "d818"):
        with pytest.raises(Refused):
            strict_loads(bytes.fromhex(bad))
    assert strict_loads(bytes.fromhex("d903ec6a323031392d31302d3230")) == cbor2.CBORTag(1004, "2019-10-20")


def test_sig_structure_and_device_authentication_match_cbor2() -> None:
    prot, payload = cbor2.dumps({1: -7}), bytes(i % 256 for i in range(300))
    assert sig_structure(prot, payload) == cbor2.dumps(["Signature1", prot, b"", payload])
    s = mh.new_session()
    transcript = cbor2.loads(s.transcript).value
    expected = cbor2.dumps(cbor2.CBORTag(24, cbor2.dumps(
        ["DeviceAuthentication", cbor2.loads(transcript), DOC_TYPE, cbor2.CBORTag(24, b"\xa0")])))
    assert device_authentication_bytes(transcript, DOC_TYPE, mh.EMPTY_DEVICE_NAMESPACES) == expected


def test_vqr_layout_byte_exact() -> None:
    """The VQR of docs/vqr-format.md, checked with cbor2 + cryptography only."""
    w = World.make()
    case = next(c for c in build_cases(w) if c.name == "vqr_valid")
    text = case.data.decode()
    assert text.startswith("VQR1:") and set(text[5:]) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    top = cbor2.loads(base45_decode(text[5:]))
    issuer, presented_at, sig = top
    assert isinstance(issuer, bytes) and isinstance(presented_at, int) and len(sig) == 64
    prot, unprot, payload, isig = cbor2.loads(issuer)
    assert prot == b"\xa2\x01\x26\x04\x48" + hashlib.sha256(der(w.ds)).digest()[:8] and unprot == {}
    claims = cbor2.loads(payload)
    assert set(claims) == {1, 4, 6, 7, 8, -65537, -65538}
    assert claims[8][1][-3] in (True, False) and len(claims[8][1][-2]) == 32
    assert claims[-65538] == 3 and set(claims[-65537]) <= set(range(1, 16))
    assert isinstance(claims[-65537][14][0][0], dt.date)  # tag 100, which cbor2 reads as a date
    ds_pub = w.ds.public_key()
    assert isinstance(ds_pub, ec.EllipticCurvePublicKey)
    ds_pub.verify(_der_sig(isig), cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256()))
    tbs = b"vitale-reader:vqr1:presentation" + presented_at.to_bytes(8, "big") + hashlib.sha256(issuer).digest()
    assert len(tbs) == 71
    dev = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), bytes([2 + claims[8][1][-3]]) + claims[8][1][-2])
    dev.verify(_der_sig(sig), tbs, ec.ECDSA(hashes.SHA256()))


def _der_sig(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def test_typical_card_vqr_fits_qr_version_14() -> None:
    segno = pytest.importorskip("segno")
    w = World.make()
    text = next(c for c in build_cases(w) if c.name == "vqr_valid").data.decode()
    assert w.card == typical_card()
    assert segno.make_qr(text, error="m", boost_error=False).version <= 14


def test_status_list_lookup_matches_the_set() -> None:
    rng = random.Random(5)
    size = 3 * 65536 + 1000
    for fraction in (0.0, 0.001, 0.01, 0.2):
        revoked = sorted(rng.sample(range(size), int(size * fraction)))
        p = status_payload(revoked, size, 1, 0, 1)
        sl = StatusList(1, 0, 1, size, len(revoked), p[7], p[8], p[9], p[10])
        got = [i for c in range(len(p[9]) // 8) for i in sl.chunk_indices(c)]
        assert got == revoked
        probes = revoked[:20] + [rng.randrange(size) for _ in range(30)]
        revoked_set = set(revoked)
        assert all(sl.is_revoked(i) == (i in revoked_set) for i in probes)
        with pytest.raises(Refused):
            sl.is_revoked(size)


def test_status_list_size_for_one_percent() -> None:
    """8.1 bits per revoked index at 1 % (the entropy bound is 8.08): 70 M credentials -> about 710 kB."""
    rng = random.Random(1)
    size = 2_000_000
    revoked = rng.sample(range(size), size // 100)
    p = status_payload(revoked, size, 1, 0, 1)
    bits = 8 * len(p[10]) / len(revoked)
    assert p[7] == 6 and 7.9 < bits < 8.4
    assert len(p[9]) == 8 * ((size + 65535) // 65536)


def test_rice_code_bits() -> None:
    assert rice_encode([0, 1, 64, 65], 6) == bytes.fromhex("00060204")  # docs/trust-and-status.md §3.2
    assert status_chunks([0, 1, 65536, 65540], 2 * 65536) == [[0, 0], [0, 3]]


def test_replay_cache() -> None:
    r = ReplayCache()
    r.check(b"a", 100)
    r.add(b"a", 100, 100, 35)
    with pytest.raises(Refused):
        r.check(b"a", 100)
    with pytest.raises(Refused):
        r.check(b"a", 99)
    r.check(b"a", 101)
    r.add(b"b", 200, 200, 35)
    assert b"a" not in r.entries


def test_non_minimal_item_encoding_is_hashed_as_received() -> None:
    """The verifier must digest the IssuerSignedItemBytes exactly as sent, not a re-encoding."""
    k_iaca, k_ds, dkey = new_key(), new_key(), new_key()
    iaca = make_ca_cert(k_iaca, "T IACA", NOW - 86400, NOW + 86400 * 900)
    ds = make_leaf_cert(k_ds.public_key(), k_iaca, iaca, "T DS", NOW - 86400, NOW + 86400 * 300)
    item = cbor2.dumps({"digestID": 0, "random": b"r" * 16, "elementIdentifier": "nir", "elementValue": "2951099126111"})
    raw = b"\xd8\x18\x59" + len(item).to_bytes(2, "big") + item  # 2-byte length where 1 byte would do
    mso = {"version": "1.0", "digestAlgorithm": "SHA-256", "valueDigests": {NAMESPACE: {0: hashlib.sha256(raw).digest()}},
           "deviceKeyInfo": {"deviceKey": {1: 2, -1: 1, -2: dkey.public_key().public_numbers().x.to_bytes(32, "big"),
                                           -3: dkey.public_key().public_numbers().y.to_bytes(32, "big")}},
           "docType": DOC_TYPE, "validityInfo": {"signed": tdate(NOW - 60), "validFrom": tdate(NOW - 60),
                                                 "validUntil": tdate(NOW + 86400)},
           "status": {"status_list": {"idx": 0, "uri": "u"}}}
    auth = cose_sign1(k_ds, cbor2.dumps(cbor2.CBORTag(24, cbor2.dumps(mso))), None, {33: der(ds)})
    issuer_signed = (b"\xa2\x6anameSpaces\xa1" + cbor2.dumps(NAMESPACE) + b"\x81" + raw + b"\x6aissuerAuth" + auth)
    s = mh.new_session()
    dr = mh.build_device_response(issuer_signed, dkey, s.transcript)
    assert raw in dr
    from vitale_host.verify import TrustList, TrustStore
    from vitale_tools.authority import make_status_list

    sk = new_key()
    store = TrustStore(TrustList(1, NOW, [iaca], [], sk.public_key(), [], []))
    from vitale_host.verify import load_status_list

    store.status = load_status_list(make_status_list(sk, [], 256, 1, NOW, NOW + 1), sk.public_key())
    v = verify_device_response(dr, s.transcript, store, NOW)
    assert v.card is not None and v.card.nir == "2951099126111"
    # the re-encoded (minimal) item no longer matches the digest
    dr2 = dr.replace(raw, cbor2.dumps(cbor2.CBORTag(24, item)))
    with pytest.raises(Refused) as e:
        verify_device_response(dr2, s.transcript, store, NOW)
    assert e.value.code == "digest_mismatch"


def test_mdoc_element_encodings() -> None:
    card = typical_card()
    els = mdoc_elements(card)
    assert els["amo_rights"][0]["start"] == cbor2.CBORTag(1004, card.amo_rights[0].start)  # type: ignore[index]
    assert els["birth_date"] == "19850717" and els["nir_key"] == 8
    isd = cbor2.loads(make_issuer_signed(MdocParams(
        els, new_key().public_key(), new_key(), make_ca_cert(new_key(), "x", NOW, NOW + 1), NOW, NOW, NOW + 1, 9)))
    ids = sorted(cbor2.loads(i.value)["digestID"] for i in isd["nameSpaces"][NAMESPACE])
    assert ids == list(range(len(els)))
    assert INS_OIDS[0] == "1.2.250.1.213.1.4.8"


def test_an_accepted_vqr_is_refused_when_reused_by_another_presentation() -> None:
    """A presentation signature is bound to its time: re-stamping the QR breaks it."""
    w = World.make()
    case = next(c for c in build_cases(w) if c.name == "vqr_valid")
    issuer, at, sig = cbor2.loads(base45_decode(case.data.decode()[5:]))
    forged = present(issuer, w.device_key, at + 1, signature=sig).encode()
    import dataclasses

    assert outcome(host_result(dataclasses.replace(case, data=forged))) == "device_auth_failed"



def test_element_formats_refuse_a_trailing_newline() -> None:
    """`$` in a regex also matches before a final newline: the checks must match the whole text."""
    import pytest

    from vitale_host import models

    assert models.nir_key("1850275123456") >= 1
    for bad in (lambda: models.nir_key("1850275123456\n"), lambda: models.full_date("2026-01-01\n"),
                lambda: models._digits("01\n", 3, "regime")):
        with pytest.raises(ValueError):
            bad()
