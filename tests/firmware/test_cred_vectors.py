"""cred.mdoc on independent vectors: ISO 18013-5 Annex D (deviceMac), the synthetic NFC session
(deviceSignature, readerAuth request), and an IssuerSigned made by pymdoccbor answered here."""

import binascii
import time

from fwsupport import load_json, read_hex, report

from vitale.codec import cbor, der
from vitale.cred import mdoc, trust
from vitale.cred.policy import Policy
from vitale.cred.result import Refusal
from vitale.crypto import p256

ANNEX = "iso18013-5/annex-d/"
SYNTH = "iso18013-5/synthetic-vitale-nfc-session/"
PYMDOC = "iso18013-5/pymdoccbor-custom-doctype/"

T_ANNEX_SIGNED = 1601559002    # 2020-10-01T13:30:02Z: the MSO's signed = validFrom
T_2021 = 1609459200            # 2021-01-01T00:00:00Z
T_ANNEX_LAST = 1633046399      # 2021-09-30T23:59:59Z: the DS certificate's last second
T_2027 = 1798761600            # 2027-01-01T00:00:00Z
T_SYNTH_AFTER = 1826960540     # 2027-11-23T09:02:20Z: one second after the synthetic MSO's validUntil
T_PYMDOC_AFTER = 1827014400    # 2027-11-24T00:00:00Z


def _code(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except Refusal as e:
        return e.code
    return None


def _annex():
    keys = load_json(ANNEX + "keys.json")
    return (read_hex(ANNEX + "device_response.hex"), read_hex(ANNEX + "session_transcript_bytes.hex"),
            binascii.unhexlify(keys["ephemeral_reader_key_d"]))


def _annex_trust():
    return trust.Trust.of_certs([read_hex(ANNEX + "iaca_cert.der.hex")])


def test_annex_d_verifies_inside_its_validity():
    dr, st, erk = _annex()
    t = _annex_trust()
    portrait = binascii.hexlify(read_hex(ANNEX + "portrait.jpg.hex")).decode()
    for at in (T_ANNEX_SIGNED, T_2021, T_ANNEX_LAST):
        v = mdoc.verify(dr, st, t, Policy(), at, e_reader_key=erk)
        assert v.device_auth == "mac" and v.doc_type == "org.iso.18013.5.1.mDL" and v.channel == "nfc"
        els = v.elements["org.iso.18013.5.1"]
        assert sorted(els) == sorted(["family_name", "issue_date", "expiry_date", "document_number", "portrait",
                                      "driving_privileges"])
        assert els["family_name"] == "Doe" and els["portrait"] == portrait
        assert v.fields["family_name"] == "Doe" and v.status_index is None
        assert v.issuer == "utopia ds" and v.signed == T_ANNEX_SIGNED and v.valid_from == T_ANNEX_SIGNED
    report("cred annex-d", digests=6, device_mac=1, times=3)


def test_annex_d_is_refused_as_expired_today():
    dr, st, erk = _annex()
    today = max(int(time.time()), 1795000000)  # never before 2026-11-18, whatever the VM's clock
    assert _code(mdoc.verify, dr, st, _annex_trust(), None, today, e_reader_key=erk) == "expired"


def test_annex_d_refusals():
    dr, st, erk = _annex()
    t = _annex_trust()
    assert _code(mdoc.verify, dr, st, t, None, T_ANNEX_SIGNED - 1, e_reader_key=erk) == "not_yet_valid"
    assert _code(mdoc.verify, dr, st, t, None, T_2021, e_reader_key=bytes(31) + b"\x01") == "device_auth_failed"
    assert _code(mdoc.verify, dr, st, t, None, T_2021) == "device_auth_failed"   # a MAC needs the reader's key
    assert _code(mdoc.verify, dr, st, t, None, None, e_reader_key=erk) == "clock_unset"
    i = dr.find(b"Doe")
    tampered = dr[:i] + b"Dod" + dr[i + 3:]
    assert _code(mdoc.verify, tampered, st, t, None, T_2021, e_reader_key=erk) == "digest_mismatch"
    other = trust.Trust.of_certs([read_hex(SYNTH + "iaca_cert.der.hex")])
    assert _code(mdoc.verify, dr, st, other, None, T_2021, e_reader_key=erk) == "untrusted_issuer"
    assert _code(mdoc.verify, dr, st, t, Policy(doc_type="org.vitale-reader.hic.1"), T_2021,
                 e_reader_key=erk) == "wrong_doctype"
    assert _code(mdoc.verify, dr + b"\x00", st, t, None, T_2021, e_reader_key=erk) == "malformed"
    # the MAC covers this session: another transcript changes EMacKey and DeviceAuthentication
    other_st = read_hex(SYNTH + "session_transcript_bytes.hex")
    assert _code(mdoc.verify, dr, other_st, t, None, T_2021, e_reader_key=erk) == "device_auth_failed"


def _synthetic():
    se = cbor.loads(read_hex(SYNTH + "session_establishment.hex"))
    de = read_hex(SYNTH + "device_engagement.hex")
    hs = read_hex(SYNTH + "handover_select_ndef.hex")
    inner = b"\x83" + cbor.Embedded(de).tagged + se["eReaderKey"].tagged + cbor.dumps([hs, None])
    st = cbor.Embedded(inner).tagged
    req = cbor.loads(read_hex(SYNTH + "device_request.hex"))
    items = req["docRequests"][0]["itemsRequest"].tagged
    return read_hex(SYNTH + "device_response.hex"), st, items


def test_synthetic_session_verifies():
    import hashlib

    dr, st, items = _synthetic()
    info = load_json(SYNTH + "info.json")
    assert binascii.hexlify(hashlib.sha256(st).digest()).decode() == info["derived"]["salt"]
    assert st == read_hex(SYNTH + "session_transcript_bytes.hex")
    t = trust.Trust.of_certs([read_hex(SYNTH + "iaca_cert.der.hex")])
    v = mdoc.verify(dr, st, t, None, T_2027, items_request=items)
    assert v.device_auth == "signature" and v.doc_type == "org.example.vitale.1"
    assert v.elements["org.example.vitale.1"] == {"family_name": "TESTPERSON", "given_name": "CAMILLE",
                                                  "birth_date": "1980-05-17", "nir": "180057512345678"}
    assert _code(mdoc.verify, dr, read_hex(ANNEX + "session_transcript_bytes.hex"), t, None, T_2027) \
        == "device_auth_failed"
    assert _code(mdoc.verify, dr, st, t, None, T_SYNTH_AFTER) == "expired"
    report("cred synthetic-session", elements=4, device_signature=1)


def _pkcs8_scalar(pem):
    body = "".join(line for line in pem.split("\n") if line and not line.startswith("-----"))
    top = der.parse(binascii.a2b_base64(body.encode())).children()
    return der.parse(top[2].as_octets()).children()[1].as_octets()


def _pymdoc_response(transcript_inner, extra_namespace=False):
    """A DeviceResponse around the stored pymdoccbor IssuerSigned, device-signed here with its device key."""
    info = load_json(PYMDOC + "info.json")
    doc = cbor.loads(read_hex(PYMDOC + "issuer_signed_response.hex"))["documents"][0]
    isd = doc["issuerSigned"]
    if extra_namespace:  # pymdoccbor itself accepts an element in a namespace absent from the MSO
        first = isd["nameSpaces"]["org.example.vitale.1"][0]
        isd["nameSpaces"]["org.attacker"] = [first]
    dns = cbor.Embedded(b"\xa0")
    da = cbor.Embedded(b"\x84\x74DeviceAuthentication" + transcript_inner + cbor.dumps(doc["docType"])
                       + dns.tagged).tagged
    prot = b"\xa1\x01\x26"
    tbs = cbor.dumps(["Signature1", prot, b"", da])
    sig = p256.ecdsa_sign(_pkcs8_scalar(info["device_private_key_pem"]), tbs)
    device_signed = {"nameSpaces": dns, "deviceAuth": {"deviceSignature": [prot, {}, None, sig]}}
    return cbor.dumps({"version": "1.0", "status": 0, "documents": [
        {"docType": doc["docType"], "issuerSigned": isd, "deviceSigned": device_signed}]})


def test_pymdoccbor_issued_verifies():
    inner = cbor.dumps([cbor.Embedded(b"\xa0"), cbor.Embedded(b"\xa0"), None])
    st = cbor.Embedded(inner).tagged
    t = trust.Trust.of_certs([read_hex(PYMDOC + "iaca_cert.der.hex")])
    v = mdoc.verify(_pymdoc_response(inner), st, t, None, T_2027)
    els = v.elements["org.example.vitale.1"]
    assert els["family_name"] == "TESTPERSON" and els["beneficiaries"] == [{"rank": 1, "given_name": "CAMILLE"}]
    assert v.device_auth == "signature"
    assert _code(mdoc.verify, _pymdoc_response(inner), st, t, None, T_PYMDOC_AFTER) == "expired"
    assert _code(mdoc.verify, _pymdoc_response(inner, True), st, t, None, T_2027) == "digest_mismatch"
    other = cbor.Embedded(cbor.dumps([None, None, None])).tagged
    assert _code(mdoc.verify, _pymdoc_response(inner), other, t, None, T_2027) == "device_auth_failed"
    report("cred pymdoccbor", elements=len(els))


def test_response_errors_are_surfaced():
    inner = cbor.dumps([None, None, None])
    st = cbor.Embedded(inner).tagged
    t = trust.Trust.of_certs([read_hex(PYMDOC + "iaca_cert.der.hex")])
    resp = cbor.loads(_pymdoc_response(inner))
    resp["documents"][0]["errors"] = {"org.example.vitale.1": {"portrait": 0}}
    v = mdoc.verify(cbor.dumps(resp), st, t, None, T_2027)
    assert v.errors == {"org.example.vitale.1": {"portrait": 0}} and v.to_dict()["errors"] == v.errors
    empty = cbor.dumps({"version": "1.0", "status": 0, "documentErrors": [{"org.example.vitale.1": 0}]})
    try:
        mdoc.verify(empty, st, t, None, T_2027)
        assert False
    except Refusal as e:
        assert e.code == "no_document" and "org.example.vitale.1=0" in e.detail
    assert _code(mdoc.verify, cbor.dumps({"version": "1.0", "status": 10}), st, t, None, T_2027) == "no_document"


def test_cose_tags_as_documented():
    """COSE_Sign1 may come under tag 18 and COSE_Mac0 under tag 17, never under the other's tag."""
    dr, st, erk = _annex()
    t = _annex_trust()
    for tag, want in ((17, None), (18, "malformed")):
        resp = cbor.loads(dr)
        auth = resp["documents"][0]["deviceSigned"]["deviceAuth"]
        auth["deviceMac"] = cbor.Tag(tag, auth["deviceMac"])
        assert _code(mdoc.verify, cbor.dumps(resp), st, t, None, T_2021, e_reader_key=erk) == want, tag
    inner = cbor.dumps([None, None, None])
    pst = cbor.Embedded(inner).tagged
    pt = trust.Trust.of_certs([read_hex(PYMDOC + "iaca_cert.der.hex")])
    for tag, want in ((18, None), (17, "malformed")):
        resp = cbor.loads(_pymdoc_response(inner))
        doc = resp["documents"][0]
        doc["issuerSigned"]["issuerAuth"] = cbor.Tag(tag, doc["issuerSigned"]["issuerAuth"])
        assert _code(mdoc.verify, cbor.dumps(resp), pst, pt, None, T_2027) == want, tag
