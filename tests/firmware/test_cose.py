"""vitale.crypto.cose: Sign1/Mac0 round trips, Annex D vectors, algorithm policy, COSE_Key."""

import binascii

from fwsupport import load_json, read_hex, report
from vitale.codec import cbor, der
from vitale.crypto import CryptoError, cose, p256
from vitale.crypto.cose import CoseError, Mac0, Sign1

h = binascii.unhexlify
PRIV = h("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
MAC_KEY = b"\x0b" * 32


def _fails(code, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except CoseError as e:
        assert isinstance(e, CryptoError) and isinstance(e, ValueError)
        assert e.code == code, "expected %s, got %s (%s)" % (code, e.code, e.reason)
        return
    raise AssertionError("accepted; expected CoseError " + code)


_PUB = []


def _pub():
    if not _PUB:
        _PUB.append(p256.public_key(PRIV))
    return _PUB[0]


def _cert_pub(cert_der):
    tbs = der.parse(cert_der).children()[0]
    ch = tbs.children()
    return ch[6].children()[1].as_bits()  # v3: [0] version, serial, sig, issuer, validity, subject, spki


def _forged_sign1(protected, unprotected=None, payload=b"p", signature=None):
    return cbor.dumps([protected, unprotected or {}, payload, signature or bytes(64)])


def test_sign1_roundtrip_attached():
    msg = Sign1.create(PRIV, b"hello", kid=b"k1")
    enc = msg.encode()
    assert enc[0] == 0x84 and enc[1:5] == h("43a10126")
    got = Sign1.parse(enc)
    assert got.raw == enc and not got.tagged
    assert got.alg == cose.ALG_ES256 and got.kid == b"k1" and got.payload == b"hello"
    assert got.protected_raw == h("a10126") and got.protected == {1: -7}
    assert got.verify(_pub()) is True
    assert got.verify(cose.key_to_cose(_pub())) is True
    assert got.encode() == enc
    tampered = Sign1.parse(cbor.dumps([got.protected_raw, {}, b"hellO", got.signature]))
    _fails("bad_signature", tampered.verify, _pub())
    other = p256.public_key(b"\x02" * 32)
    _fails("bad_signature", got.verify, other)


def test_sign1_detached_and_external_aad():
    msg = Sign1.create(PRIV, b"detached body", external_aad=b"aad", detached=True,
                       x5chain=[b"cert-leaf", b"cert-ca"], tagged=True)
    enc = msg.encode()
    assert enc[0] == 0xD2  # tag 18
    got = Sign1.parse(enc)
    assert got.tagged and got.payload is None
    assert got.x5chain == [b"cert-leaf", b"cert-ca"]
    got.verify(_pub(), external_aad=b"aad", detached_payload=b"detached body")
    _fails("bad_signature", got.verify, _pub(), external_aad=b"", detached_payload=b"detached body")
    _fails("bad_signature", got.verify, _pub(), external_aad=b"aad", detached_payload=b"other")
    _fails("missing_payload", got.verify, _pub(), external_aad=b"aad")
    attached = Sign1.create(PRIV, b"x")
    _fails("bad_structure", attached.verify, _pub(), detached_payload=b"x")
    # a single certificate travels as a bstr, not an array (RFC 9360)
    one = Sign1.create(PRIV, b"x", x5chain=[b"only"])
    assert one.unprotected[33] == b"only" and one.x5chain == [b"only"]
    # the Sig_structure follows RFC 9052 exactly
    tbs = got.to_be_signed(b"aad", b"detached body")
    assert cbor.loads(tbs) == ["Signature1", h("a10126"), b"aad", b"detached body"]


def test_protected_header_used_as_received():
    # {1: -7} with a non-minimal key head: re-encoding would give a10126
    prot = h("a1180126")
    tbs = cbor.dumps(["Signature1", prot, b"", b"payload"])
    sig = p256.ecdsa_sign(PRIV, tbs)
    msg = Sign1.parse(cbor.dumps([prot, {}, b"payload", sig]))
    assert msg.alg == -7 and msg.protected_raw == prot
    msg.verify(_pub())
    assert Sign1.parse(msg.encode()).protected_raw == prot


def test_algorithm_substitution_refused():
    good = Sign1.create(PRIV, b"m")
    _fails("unsupported_alg", good.verify, _pub(), alg=-35)  # caller expects ES384
    _fails("unsupported_alg", good.verify, _pub(), alg=cose.ALG_HMAC256)
    for prot in (h("a1013822"), h("a10105"), h("a10127"), h("a101654553323536"), h("a0"), b""):
        m = Sign1.parse(_forged_sign1(prot, signature=good.signature))
        _fails("unsupported_alg", m.verify, _pub())
    # alg only in the unprotected bucket is not trusted
    m = Sign1.parse(_forged_sign1(b"", {1: -7}))
    _fails("unsupported_alg", m.verify, _pub())
    _fails("unsupported_alg", Sign1.create, PRIV, b"m", alg=-35)
    _fails("unsupported_alg", Mac0.create, MAC_KEY, b"m", alg=4)
    # Mac0 with a signature alg, Sign1 verified as if it were a MAC
    mac = Mac0.parse(cbor.dumps([h("a10126"), {}, b"m", bytes(32)]))
    _fails("unsupported_alg", mac.verify, MAC_KEY)


def test_header_rules():
    _fails("bad_header", Sign1.parse, _forged_sign1(h("a10126"), {1: -7}))  # in both buckets
    _fails("bad_header", Sign1.parse, _forged_sign1(h("a2012602811864")))  # crit
    _fails("bad_header", Sign1.parse, _forged_sign1(h("a10126"), {4: "text kid"}))
    _fails("bad_header", Sign1.parse, _forged_sign1(h("a10126"), {33: []}))
    _fails("bad_header", Sign1.parse, _forged_sign1(h("a10126"), {33: [b"a", 1]}))
    _fails("bad_header", Sign1.parse, _forged_sign1(h("a10126"), {33: "pem"}))
    _fails("bad_header", Sign1.parse, _forged_sign1(h("8101")))  # protected is not a map
    _fails("bad_header", Sign1.parse, _forged_sign1(h("a101")))  # truncated map
    m = Sign1.parse(_forged_sign1(h("a2012604426b31"), {33: [b"a", b"b"]}))
    assert m.kid == b"k1" and m.x5chain == [b"a", b"b"] and m.header(99, 7) == 7


def test_structure_errors():
    for bad in (b"", h("ff"), h("83404040"), h("8540a0f64040"), h("a0"), h("d18440a0f640"),
                h("84a0a0f640"), h("8440f6f640"), h("8440a00140"), h("8440a0f601"), "text", 5):
        _fails("bad_structure", Sign1.parse, bad)
    _fails("bad_structure", Mac0.parse, h("d28440a0f640"))
    msg = Sign1.parse(_forged_sign1(h("a10126"), signature=b"short"))
    _fails("bad_signature", msg.verify, _pub())
    good = Sign1.parse(_forged_sign1(h("a10126")))
    _fails("bad_key", good.verify, b"\x04" + bytes(64))
    _fails("bad_key", good.verify, b"not a key")
    _fails("bad_key", Sign1.create, b"\x00" * 32, b"m")
    _fails("bad_structure", Sign1.create, PRIV, "text payload")
    _fails("bad_structure", good.verify, _pub(), external_aad="x")
    # parse from an already decoded structure (tag 18 or bare array)
    arr = cbor.loads(Sign1.create(PRIV, b"z", tagged=True).encode())
    assert isinstance(arr, cbor.Tag) and arr.tag == 18
    Sign1.parse(arr).verify(_pub())
    Sign1.parse(arr.value).verify(_pub())


def test_mac0_roundtrip_and_tamper():
    msg = Mac0.create(MAC_KEY, b"payload", kid=b"m1", external_aad=b"x")
    enc = msg.encode()
    got = Mac0.parse(enc)
    assert got.alg == 5 and got.kid == b"m1" and len(got.tag) == 32
    got.verify(MAC_KEY, external_aad=b"x")
    _fails("bad_tag", got.verify, MAC_KEY)
    _fails("bad_tag", got.verify, b"\x0c" * 32, external_aad=b"x")
    bad = bytearray(got.tag)
    bad[31] ^= 1
    t = Mac0.parse(cbor.dumps([got.protected_raw, {}, b"payload", bytes(bad)]))
    _fails("bad_tag", t.verify, MAC_KEY, external_aad=b"x")
    t = Mac0.parse(cbor.dumps([got.protected_raw, {}, b"payloaD", got.tag]))
    _fails("bad_tag", t.verify, MAC_KEY, external_aad=b"x")
    t = Mac0.parse(cbor.dumps([got.protected_raw, {}, b"payload", got.tag[:16]]))
    _fails("bad_tag", t.verify, MAC_KEY, external_aad=b"x")
    det = Mac0.create(MAC_KEY, b"body", detached=True, tagged=True)
    d2 = Mac0.parse(det.encode())
    assert d2.tagged and d2.payload is None and det.encode()[0] == 0xD1
    d2.verify(MAC_KEY, detached_payload=b"body")
    _fails("missing_payload", d2.verify, MAC_KEY)
    _fails("bad_key", d2.verify, b"", detached_payload=b"body")
    assert cbor.loads(d2.to_be_signed(b"", b"body")) == ["MAC0", h("a10105"), b"", b"body"]


def test_cose_key_parse_and_emit():
    pub = _pub()
    k = cose.key_to_cose(pub, kid=b"id", alg=-7)
    assert k[1] == 2 and k[-1] == 1 and len(k[-2]) == 32 and k[2] == b"id" and k[3] == -7
    assert cose.key_from_cose(k) == pub
    assert cose.key_from_cose(cbor.dumps(k)) == pub
    assert cose.key_from_cose(cbor.Embedded.of(k)) == pub
    assert cose.key_from_cose(k, alg=-7) == pub
    _fails("unsupported_alg", cose.key_from_cose, k, alg=-35)
    base = {1: 2, -1: 1, -2: k[-2], -3: k[-3]}
    for change, code in (({1: 1}, "bad_key"), ({-1: 2}, "bad_key"), ({-2: k[-2][1:]}, "bad_key"),
                         ({-3: True}, "bad_key"), ({-3: None}, "bad_key"),
                         ({-3: k[-2]}, "bad_key"), ({1: True}, "bad_key")):
        bad = dict(base)
        for x in change:
            bad[x] = change[x]
        _fails(code, cose.key_from_cose, bad)
    _fails("bad_key", cose.key_from_cose, [1, 2])
    _fails("bad_key", cose.key_from_cose, h("a1"))
    _fails("bad_key", cose.key_to_cose, b"\x04" + bytes(64))
    # compressed SEC1 input still emits the full EC2 form
    comp = bytes((2 | (pub[64] & 1),)) + pub[1:33]
    assert cose.key_to_cose(comp)[-3] == pub[33:]


def test_annex_d_vectors():
    st = cbor.loads(read_hex("iso18013-5/annex-d/session_transcript_bytes.hex"))
    resp = cbor.loads(read_hex("iso18013-5/annex-d/device_response.hex"))
    doc = resp["documents"][0]
    # issuerAuth: untagged COSE_Sign1, x5chain in the unprotected header
    ia = Sign1.parse(doc["issuerSigned"]["issuerAuth"])
    assert not ia.tagged and ia.x5chain == [read_hex("iso18013-5/annex-d/ds_cert.der.hex")]
    ia.verify(_cert_pub(ia.x5chain[0]))
    _fails("bad_signature", ia.verify, _cert_pub(read_hex("iso18013-5/annex-d/reader_cert.der.hex")))
    # deviceMac over DeviceAuthenticationBytes (detached)
    ds = doc["deviceSigned"]
    da = ["DeviceAuthentication", cbor.Raw(st.raw), doc["docType"], ds["nameSpaces"]]
    payload = cbor.dumps(cbor.Embedded.of(da))
    mac = Mac0.parse(ds["deviceAuth"]["deviceMac"])
    keys = load_json("iso18013-5/annex-d/derived_session_keys.json")
    assert mac.tag == h(keys["device_mac_tag_expected"])
    mac.verify(h(keys["emac_key"]), detached_payload=payload)
    _fails("bad_tag", mac.verify, h(keys["sk_device"]), detached_payload=payload)
    # readerAuth over ReaderAuthenticationBytes (detached)
    req = cbor.loads(read_hex("iso18013-5/annex-d/device_request.hex"))
    dr = req["docRequests"][0]
    ra = Sign1.parse(dr["readerAuth"])
    assert ra.payload is None
    rab = cbor.dumps(cbor.Embedded.of(["ReaderAuthentication", cbor.Raw(st.raw), dr["itemsRequest"]]))
    ra.verify(_cert_pub(ra.x5chain[0]), detached_payload=rab)
    # EDeviceKeyBytes is a tag-24 COSE_Key
    ek = cose.key_from_cose(cbor.loads(read_hex("iso18013-5/annex-d/e_device_key_bytes.hex")))
    k = load_json("iso18013-5/annex-d/keys.json")
    assert ek == b"\x04" + h(k["ephemeral_device_key_x"]) + h(k["ephemeral_device_key_y"])
    report("cose_annex_d", sign1_verified=2, mac0_verified=1)
