"""Interop: pymdoccbor issues -> we verify; we issue -> pymdoccbor (and pycose) verify."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from pathlib import Path
from typing import Any

import cbor2
import pytest
from pycose.keys import EC2Key
from pycose.messages import Sign1Message

from credsupport import authority_with
from vitale_host.models import DOC_TYPE, NAMESPACE
from vitale_host.verify import Refused, TrustStore, kid_of, verify_device_response
from vitale_tools import mdoc_holder as mh
from vitale_tools.authority import Authority, IssuedCredential, der, mdoc_elements, new_key
from vitale_tools.patients import synthetic_patients

pymdoc_issuer = pytest.importorskip("pymdoccbor.mdoc.issuer")
pymdoc_verifier = pytest.importorskip("pymdoccbor.mdoc.verifier")
pymdoc_settings = pytest.importorskip("pymdoccbor.settings")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, TrustStore]:
    return authority_with(tmp_path_factory.mktemp("interop"), [])


def _pymdoc_issue(auth: Authority, elements: dict[str, Any], device_pub: Any, index: int) -> bytes:
    """IssuerSigned bytes made by pymdoccbor with our document signer."""
    ds = auth.keys["ds"]
    issuer = pymdoc_issuer.MdocCborIssuer(
        private_key={"KTY": "EC2", "CURVE": "P_256", "ALG": "ES256",
                     "D": ds.private_numbers().private_value.to_bytes(32, "big"), "KID": b"ds"}, alg="ES256")
    n = device_pub.public_numbers()
    today = dt.datetime.now(dt.timezone.utc).date()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pymdoccbor calls datetime.utcnow()
        issuer.new(data={NAMESPACE: elements}, doctype=DOC_TYPE,
                   validity={"issuance_date": today.isoformat(),
                             "expiry_date": (today + dt.timedelta(days=30)).isoformat()},
                   devicekeyinfo={"KTY": "EC2", "CURVE": "P_256", "X": n.x.to_bytes(32, "big"),
                                  "Y": n.y.to_bytes(32, "big")},
                   x509_chain=[auth.ds_cert], revocation={"status_list": {"idx": index, "uri": "urn:t"}})
    return bytes(cbor2.dumps(cbor2.loads(issuer.dump())["documents"][0]["issuerSigned"]))


def test_pymdoccbor_issued_verifies_here(world: tuple[Authority, TrustStore],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    auth, store = world
    # pymdoccbor tags every "birth_date" as a full-date; ours is the card's text (lunar dates allowed).
    monkeypatch.delitem(pymdoc_settings.CBORTAGS_ATTR_MAP, "birth_date")
    for card in synthetic_patients(4, seed=11):
        dkey = new_key()
        isd = _pymdoc_issue(auth, mdoc_elements(card), dkey.public_key(), 5)
        s = mh.new_session()
        dr = mh.build_device_response(isd, dkey, s.transcript)
        v = verify_device_response(dr, s.transcript, store, int(time.time()))
        assert v.card == card and v.status_index == 5
        # and our verifier still refuses what pymdoccbor lets through
        bad = cbor2.loads(isd)
        bad["nameSpaces"]["org.attacker"] = [bad["nameSpaces"][NAMESPACE][0]]
        dr = mh.build_device_response(cbor2.dumps(bad), dkey, s.transcript)
        with pytest.raises(Refused) as e:
            verify_device_response(dr, s.transcript, store, int(time.time()))
        assert e.value.code == "digest_mismatch"


def test_pymdoccbor_issued_with_unknown_signer_is_refused(world: tuple[Authority, TrustStore],
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, store = world
    other, _ = authority_with(tmp_path, [])
    monkeypatch.delitem(pymdoc_settings.CBORTAGS_ATTR_MAP, "birth_date")
    dkey = new_key()
    isd = _pymdoc_issue(other, mdoc_elements(synthetic_patients(1, seed=2)[0]), dkey.public_key(), 1)
    s = mh.new_session()
    with pytest.raises(Refused) as e:
        verify_device_response(mh.build_device_response(isd, dkey, s.transcript), s.transcript, store,
                               int(time.time()))
    assert e.value.code == "untrusted_issuer"


def _ours(auth: Authority) -> tuple[IssuedCredential, bytes]:
    cred = auth.issue(synthetic_patients(1, seed=5)[0])
    return cred, mh.build_device_response(cred.issuer_signed, cred.device_key, mh.new_session().transcript)


def test_ours_verifies_with_pymdoccbor(world: tuple[Authority, TrustStore]) -> None:
    auth, _ = world
    cred, dr = _ours(auth)
    m = pymdoc_verifier.MdocCbor()
    m.loads(dr)
    assert m.verify(trusted_root_certs=[auth.iaca_cert]) is True
    claims = m.disclosure_map[NAMESPACE]
    assert claims["nir"] == cred.card.nir and claims["family_name"] == cred.card.family_name


def test_pymdoccbor_refuses_our_tampered_or_untrusted(world: tuple[Authority, TrustStore], tmp_path: Path) -> None:
    auth, _ = world
    cred, dr = _ours(auth)
    i = dr.index(cred.card.nir.encode())  # type: ignore[union-attr]
    tampered = dr[:i] + (b"2" if dr[i:i + 1] == b"1" else b"1") + dr[i + 1:]
    m = pymdoc_verifier.MdocCbor()
    m.loads(tampered)
    assert m.verify(trusted_root_certs=[auth.iaca_cert]) is False
    other, _ = authority_with(tmp_path, [])
    m = pymdoc_verifier.MdocCbor()
    m.loads(dr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m.verify(trusted_root_certs=[other.iaca_cert]) is False


def _pycose_sign1(sign1: bytes) -> Sign1Message:
    """Our untagged COSE_Sign1 as a pycose message (its decode() wants tag 18 and a list under cbor2 6)."""
    return Sign1Message.from_cose_obj(list(cbor2.loads(sign1)), True)


def _pycose_key(pub: Any) -> EC2Key:
    n = pub.public_numbers()
    return EC2Key(crv="P_256", x=n.x.to_bytes(32, "big"), y=n.y.to_bytes(32, "big"))


def test_pycose_verifies_our_vqr_issuer_part_and_lists(world: tuple[Authority, TrustStore]) -> None:
    auth, _ = world
    cred = auth.issue(synthetic_patients(1, seed=6)[0])
    msg = _pycose_sign1(cred.vqr_issuer)
    msg.key = _pycose_key(auth.ds_cert.public_key())
    assert msg.verify_signature()
    assert cbor2.loads(cbor2.loads(cred.vqr_issuer)[0]) == {1: -7, 4: kid_of(der(auth.ds_cert))}
    for name, key in (("trust-list.cose", auth.keys["trust-list"]), ("status-list.cose", auth.keys["status-list"])):
        m = _pycose_sign1((auth.path / name).read_bytes())
        m.key = _pycose_key(key.public_key())
        assert m.verify_signature()
        m.key = _pycose_key(new_key().public_key())
        assert not m.verify_signature()
