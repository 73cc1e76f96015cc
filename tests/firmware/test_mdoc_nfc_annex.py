"""nfc.mdoc_nfc against ISO 18013-5 Annex D: session keys, SessionData crypto, request bytes, readerAuth, deviceMac."""

import binascii

from fwsupport import load_json, read_hex, report

from vitale.codec import cbor
from vitale.crypto import cose, p256, x509
from vitale.crypto.hkdf import hkdf_sha256
from vitale.crypto.hmac import sha256
from vitale.nfc import engagement, mdoc_nfc

A = "iso18013-5/annex-d/"


def _keys():
    k = load_json(A + "keys.json")

    def pt(name):
        return b"\x04" + binascii.unhexlify(k[name + "_x"]) + binascii.unhexlify(k[name + "_y"])

    return k, pt


def _d(k, name):
    return binascii.unhexlify(k[name + "_d"])


def _transcript_parts():
    st = read_hex(A + "session_transcript_bytes.hex")
    arr = cbor.loads(cbor.loads(st).raw)
    return st, arr


def test_transcript_rebuilt_from_its_parts():
    k, pt = _keys()
    st, arr = _transcript_parts()
    de = read_hex(A + "derived_device_engagement_nfc.hex")
    hs = read_hex(A + "derived_handover_select_ndef.hex")
    hr = read_hex(A + "derived_handover_request_ndef.hex")
    erk = mdoc_nfc.e_reader_key_bytes(pt("ephemeral_reader_key"))
    assert erk == arr[1].tagged
    assert mdoc_nfc.session_transcript_bytes(de, erk, hs, hr) == st
    assert mdoc_nfc.session_transcript_bytes(de, erk, hs) != st


def test_session_keys_match_annex():
    k, pt = _keys()
    st, _ = _transcript_parts()
    want = load_json(A + "derived_session_keys.json")
    sk_r, sk_d = mdoc_nfc.session_keys(_d(k, "ephemeral_reader_key"), pt("ephemeral_device_key"), st)
    assert binascii.hexlify(sk_r).decode() == want["sk_reader"]
    assert binascii.hexlify(sk_d).decode() == want["sk_device"]
    # the mdoc side gets the same keys from the other pair
    sk_r2, sk_d2 = mdoc_nfc.session_keys(_d(k, "ephemeral_device_key"), pt("ephemeral_reader_key"), st)
    assert (sk_r2, sk_d2) == (sk_r, sk_d)


def test_decrypt_and_reencrypt_annex_messages():
    k, pt = _keys()
    st, arr = _transcript_parts()
    sk_r, sk_d = mdoc_nfc.session_keys(_d(k, "ephemeral_reader_key"), pt("ephemeral_device_key"), st)
    se = read_hex(A + "session_establishment.hex")
    sd = read_hex(A + "session_data.hex")
    req = read_hex(A + "device_request.hex")
    resp = read_hex(A + "device_response.hex")
    se_map = cbor.loads(se)
    assert se_map["eReaderKey"].tagged == arr[1].tagged
    mdoc_side = mdoc_nfc.SessionCipher(sk_r, sk_d, reader=False)
    assert mdoc_side.decrypt(se_map["data"]) == req
    reader = mdoc_nfc.SessionCipher(sk_r, sk_d)
    # GCM is deterministic for a given key and IV: the reader rebuilds the annex bytes exactly
    assert mdoc_nfc.session_establishment(arr[1].tagged, reader.encrypt(req)) == se
    assert mdoc_side.encrypt(resp) == cbor.loads(sd)["data"]
    assert reader.decrypt(cbor.loads(sd)["data"]) == resp
    assert (reader.sent, reader.received) == (1, 1)
    # a second message uses counter 2: decrypting the first again fails
    failed = False
    try:
        reader.decrypt(cbor.loads(sd)["data"])
    except ValueError:
        failed = True
    assert failed
    assert mdoc_nfc.TERMINATION == read_hex(A + "session_termination.hex")
    report("mdoc_nfc annex-d", messages=2)


def test_device_request_bytes_reproduced():
    st, _ = _transcript_parts()
    names = ("family_name", "document_number", "driving_privileges", "issue_date", "expiry_date",
             ("portrait", False))
    irb = mdoc_nfc.items_request_bytes("org.iso.18013.5.1.mDL", "org.iso.18013.5.1", names, True)
    assert irb == b"\xd8\x18\x58\x93" + read_hex(A + "items_request.hex")
    ra = read_hex(A + "reader_auth.hex")
    assert mdoc_nfc.device_request(irb, ra) == read_hex(A + "device_request.hex")
    dr = cbor.loads(read_hex(A + "device_request.hex"))
    assert dr["docRequests"][0]["itemsRequest"].tagged == irb


def test_annex_reader_auth_verifies():
    st, _ = _transcript_parts()
    irb = b"\xd8\x18\x58\x93" + read_hex(A + "items_request.hex")
    sign1 = cose.Sign1.parse(read_hex(A + "reader_auth.hex"))
    assert sign1.payload is None
    cert = x509.parse(sign1.x5chain[0])
    assert cert.raw == read_hex(A + "reader_cert.der.hex")
    root = x509.parse(read_hex(A + "reader_root_cert.der.hex"))
    t = 1609459200  # 2021-01-01
    assert x509.verify_chain([cert], [root], t, "1.0.18013.5.1.6") is cert
    rab = mdoc_nfc.reader_authentication_bytes(st, irb)
    assert sign1.verify(cert.public_key, detached_payload=rab)
    bad = False
    try:
        sign1.verify(cert.public_key, detached_payload=rab[:-1] + b"\x00")
    except cose.CoseError:
        bad = True
    assert bad


def test_our_reader_auth_verifies_and_is_deterministic():
    k, pt = _keys()
    st, _ = _transcript_parts()
    irb = b"\xd8\x18\x58\x93" + read_hex(A + "items_request.hex")
    key = _d(k, "static_device_key")  # any P-256 key serves for the check
    cert = read_hex(A + "reader_cert.der.hex")
    ra = mdoc_nfc.reader_auth(key, cert, st, irb)
    assert ra == mdoc_nfc.reader_auth(key, cert, st, irb)
    s = cose.Sign1.parse(ra)
    assert s.protected_raw == b"\xa1\x01\x26" and s.x5chain == [cert] and s.payload is None
    assert s.verify(p256.public_key(key), detached_payload=mdoc_nfc.reader_authentication_bytes(st, irb))


def test_annex_device_mac_verifies():
    k, pt = _keys()
    st, arr = _transcript_parts()
    want = load_json(A + "derived_session_keys.json")
    resp = cbor.loads(read_hex(A + "device_response.hex"))
    doc = resp["documents"][0]
    dns = doc["deviceSigned"]["nameSpaces"]
    mac = cose.Mac0.parse(doc["deviceSigned"]["deviceAuth"]["deviceMac"])
    mso = doc["issuerSigned"]["issuerAuth"][2]
    dkey = cose.key_from_cose(cbor.loads(mso).value["deviceKeyInfo"]["deviceKey"])
    assert dkey == pt("static_device_key")
    z = p256.ecdh(_d(k, "ephemeral_reader_key"), dkey)
    emac = hkdf_sha256(z, sha256(st), b"EMacKey", 32)
    assert binascii.hexlify(emac).decode() == want["emac_key"]
    dab_inner = (b"\x84" + cbor.dumps("DeviceAuthentication") + cbor.loads(st).raw + cbor.dumps(doc["docType"])
                 + dns.tagged)
    dab = b"\xd8\x18" + cbor.head(2, len(dab_inner)) + dab_inner
    assert mac.verify(emac, detached_payload=dab)
    assert binascii.hexlify(mac.tag).decode() == want["device_mac_tag_expected"]
    assert mdoc_nfc.response_refusal(read_hex(A + "device_response.hex"), doc["docType"]) is None


def test_annex_engagement_parse():
    hs = read_hex(A + "derived_handover_select_ndef.hex")
    eng = engagement.parse_engagement(hs)
    k, pt = _keys()
    assert eng.device_engagement.e_device_key == pt("ephemeral_device_key")
    assert eng.device_engagement.raw == read_hex(A + "derived_device_engagement_nfc.hex")
    assert eng.nfc_limits is None  # annex D offers BLE only
    qr = engagement.parse_device_engagement(read_hex(A + "device_engagement_qr.hex"))
    assert qr.version == "1.0" and qr.e_device_key == pt("ephemeral_device_key")
    assert qr.e_device_key_bytes == read_hex(A + "e_device_key_bytes.hex")
