"""Public and independent vectors through the host verifier: Annex D, the synthetic session, pymdoccbor."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from credsupport import authority_with, hexfile, jsonfile
from vitale_host.verify import Refused, TrustStore, parse_time, verify_bytes, verify_device_response
from vitale_tools import mdoc_holder as mh

ANNEX_IACA = "annex-d/iaca_cert.der.hex"
SYNTH_IACA = "synthetic-vitale-nfc-session/iaca_cert.der.hex"
PYMDOC_IACA = "pymdoccbor-custom-doctype/iaca_cert.der.hex"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> TrustStore:
    return authority_with(tmp_path_factory.mktemp("vec"), [ANNEX_IACA, SYNTH_IACA, PYMDOC_IACA])[1]


def _annex() -> tuple[bytes, bytes, bytes]:
    keys = jsonfile("annex-d/keys.json")
    return (hexfile("annex-d/device_response.hex"), hexfile("annex-d/session_transcript_bytes.hex"),
            bytes.fromhex(keys["ephemeral_reader_key_d"]))


@pytest.mark.parametrize("at", ["2020-10-01T13:30:02Z", "2021-01-01T00:00:00Z", "2021-09-30T23:59:59Z"])
def test_annex_d_verifies_inside_its_validity(store: TrustStore, at: str) -> None:
    dr, st, erk = _annex()
    v = verify_device_response(dr, st, store, parse_time(at), e_reader_key=erk)
    assert v.device_auth == "mac" and v.doc_type == "org.iso.18013.5.1.mDL"
    els = v.elements["org.iso.18013.5.1"]
    assert sorted(els) == sorted(["family_name", "issue_date", "expiry_date", "document_number", "portrait",
                                  "driving_privileges"])
    assert els["family_name"] == "Doe" and els["portrait"] == hexfile("annex-d/portrait.jpg.hex").hex()
    assert v.issuer == "C=US,CN=utopia ds" and v.status_index is None


def test_annex_d_refused_as_expired_today(store: TrustStore) -> None:
    dr, st, erk = _annex()
    with pytest.raises(Refused) as e:
        verify_device_response(dr, st, store, int(time.time()), e_reader_key=erk)
    assert e.value.code == "expired"


def test_annex_d_refusals(store: TrustStore, tmp_path: Path) -> None:
    dr, st, erk = _annex()
    at = parse_time("2021-01-01T00:00:00Z")
    with pytest.raises(Refused) as e:  # before the MSO's validFrom (the certificate is valid from midnight)
        verify_device_response(dr, st, store, parse_time("2020-10-01T13:30:01Z"), e_reader_key=erk)
    assert e.value.code == "not_yet_valid"
    other = bytes(31) + b"\x01"
    with pytest.raises(Refused) as e:
        verify_device_response(dr, st, store, at, e_reader_key=other)
    assert e.value.code == "device_auth_failed"
    with pytest.raises(Refused) as e:
        verify_device_response(dr, st, store, at)
    assert e.value.code == "device_auth_failed"
    i = dr.index(b"Doe")
    with pytest.raises(Refused) as e:
        verify_device_response(dr[:i] + b"Dod" + dr[i + 3:], st, store, at, e_reader_key=erk)
    assert e.value.code == "digest_mismatch"
    _, alone = authority_with(tmp_path, [])
    with pytest.raises(Refused) as e:
        verify_device_response(dr, st, alone, at, e_reader_key=erk)
    assert e.value.code == "untrusted_issuer"


def test_annex_d_through_the_container(store: TrustStore) -> None:
    dr, st, erk = _annex()
    c = mh.make_container(dr, st, erk)
    assert verify_bytes(c, store, parse_time("2021-01-01T00:00:00Z")).device_auth == "mac"


def _synthetic() -> tuple[bytes, bytes, bytes]:
    se = cbor2.loads(hexfile("synthetic-vitale-nfc-session/session_establishment.hex"))
    st = mh.session_transcript_bytes(hexfile("synthetic-vitale-nfc-session/device_engagement.hex"),
                                     cbor2.dumps(se["eReaderKey"]),
                                     [hexfile("synthetic-vitale-nfc-session/handover_select_ndef.hex"), None])
    req = cbor2.loads(hexfile("synthetic-vitale-nfc-session/device_request.hex"))
    items = cbor2.dumps(req["docRequests"][0]["itemsRequest"])
    return hexfile("synthetic-vitale-nfc-session/device_response.hex"), st, items


def test_synthetic_session_transcript_matches_its_salt() -> None:
    _, st, _ = _synthetic()
    info = jsonfile("synthetic-vitale-nfc-session/info.json")
    assert hashlib.sha256(st).hexdigest() == info["derived"]["salt"]


def test_synthetic_session_verifies(store: TrustStore) -> None:
    dr, st, items = _synthetic()
    at = parse_time("2027-01-01T00:00:00Z")
    v = verify_device_response(dr, st, store, at, items_request=items)
    assert v.device_auth == "signature" and v.doc_type == "org.example.vitale.1"
    assert v.elements["org.example.vitale.1"] == {"family_name": "TESTPERSON", "given_name": "CAMILLE",
                                                  "birth_date": "1980-05-17", "nir": "180057512345678"}
    other = mh.new_session().transcript
    with pytest.raises(Refused) as e:
        verify_device_response(dr, other, store, at)
    assert e.value.code == "device_auth_failed"
    with pytest.raises(Refused) as e:
        verify_device_response(dr, st, store, parse_time("2027-11-23T09:02:20Z"))
    assert e.value.code == "expired"


def _pymdoc_device_key() -> ec.EllipticCurvePrivateKey:
    info = jsonfile("pymdoccbor-custom-doctype/info.json")
    key = serialization.load_pem_private_key(info["device_private_key_pem"].encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def test_pymdoccbor_vector_with_a_holder_response(store: TrustStore) -> None:
    """The stored pymdoccbor IssuerSigned + its device key, answered by our holder, verifies."""
    raw = cbor2.loads(hexfile("pymdoccbor-custom-doctype/issuer_signed_response.hex"))
    issuer_signed = cbor2.dumps(raw["documents"][0]["issuerSigned"])
    s = mh.new_session()
    dr = mh.build_device_response(issuer_signed, _pymdoc_device_key(), s.transcript)
    v = verify_device_response(dr, s.transcript, store, parse_time("2027-01-01T00:00:00Z"))
    els = v.elements["org.example.vitale.1"]
    assert els["family_name"] == "TESTPERSON" and els["beneficiaries"] == [{"rank": 1, "given_name": "CAMILLE"}]
    with pytest.raises(Refused) as e:
        verify_device_response(dr, s.transcript, store, parse_time("2027-11-24T00:00:00Z"))
    assert e.value.code == "expired"
