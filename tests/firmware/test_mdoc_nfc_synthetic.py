"""nfc.mdoc_nfc.read_mdoc against the independent synthetic NFC session (static handover, deviceSignature).

The phone side is the recorded synthetic transcript: its engagement (a Type 4
Tag serving the vector's Handover Select), its ENVELOPE/GET RESPONSE answers
byte for byte. The reader's ephemeral key is the vector's, so the session keys
and the phone's encrypted answer match; our SessionEstablishment is checked by
decrypting it (readerAuth is ours, deterministic, and must verify).
"""

import binascii

from fwsupport import load_json, read_hex, report
from test_pn532_transcript import TickClock as FakeClock

from vitale.codec import cbor
from vitale.cred.result import Refusal
from vitale.crypto import cose, x509
from vitale.crypto.hmac import sha256
from vitale.nfc import mdoc_nfc
from vitale.nfc.isodep import parse_command

S = "iso18013-5/synthetic-vitale-nfc-session/"
_T4T_AID = binascii.unhexlify("d2760000850101")


def pem_scalar(pem):
    """The 32-byte private scalar of a P-256 PKCS#8 PEM (cryptography's layout)."""
    body = "".join(line for line in pem.strip().split("\n") if not line.startswith("-----"))
    der = binascii.a2b_base64(body.encode())
    i = der.find(b"\x02\x01\x01\x04\x20")
    assert i > 0
    return der[i + 5:i + 37]


class SyntheticPhone:
    """A Type 4 Tag with the vector's Handover Select, then the recorded mdoc exchange."""

    def __init__(self, sk_reader, remove_at=None):
        self.hs = read_hex(S + "handover_select_ndef.hex")
        ex = load_json(S + "nfc_data_transfer_apdus.json")["exchanges"]
        self.ex = [(binascii.unhexlify(e["command"]), binascii.unhexlify(e["response"])) for e in ex]
        self.file = None
        self.chain = bytearray()
        self.queue = []
        self.sk_reader = sk_reader
        self.request = None
        self.terminated = False
        self.n = 0
        self.remove_at = remove_at

    def __call__(self, apdu):
        self.n += 1
        if self.remove_at is not None and self.n >= self.remove_at:
            raise LostTarget()
        cla, ins, p1, p2, data, le, ext = parse_command(apdu)
        if ins == 0xA4 and p1 == 4:
            self.file = None
            return b"\x90\x00"
        if ins == 0xA4:
            self.file = bytes(data)
            return b"\x90\x00"
        if ins == 0xB0:
            body = binascii.unhexlify("000f2000ff00ff0406e1040400 00ff".replace(" ", "")) \
                if self.file == b"\xe1\x03" else len(self.hs).to_bytes(2, "big") + self.hs
            off = (p1 << 8) | p2
            return body[off:off + le] + b"\x90\x00"
        if ins == 0xC3:
            self.chain.extend(data)
            if cla & 0x10:
                return b"\x90\x00"
            msg = mdoc_nfc.un_do53(bytes(self.chain))
            self.chain = bytearray()
            if self.request is None:
                self.request = msg
                self.queue = self.ex[5:]
                return self.ex[4][1]
            assert msg == mdoc_nfc.TERMINATION
            self.terminated = True
            return b"\x90\x00"
        if ins == 0xC0:
            cmd, resp = self.queue.pop(0)
            assert bytes(apdu) == cmd
            return resp
        return b"\x6d\x00"


class LostTarget(ValueError):
    def __init__(self):
        super().__init__("target_lost")
        self.code = "target_lost"


def _setup():
    info = load_json(S + "info.json")
    keys = info["private_keys_pem"]
    req = cbor.loads(read_hex(S + "device_request.hex"))
    doc_req = req["docRequests"][0]
    items = doc_req["itemsRequest"]
    reader_cert = cose.Sign1.parse(doc_req["readerAuth"]).x5chain[0]
    names = items.value["nameSpaces"]["org.example.vitale.1"]
    # the map order as received (CPython keeps it; the VM sorts: compare sets below)
    return info, keys, items, reader_cert, names


def test_synthetic_session_end_to_end():
    info, keys, items, reader_cert, names = _setup()
    sk_r = binascii.unhexlify(info["derived"]["sk_reader"])
    phone = SyntheticPhone(sk_r)
    order = ["family_name", "given_name", "birth_date", "nir"]
    assert sorted(order) == sorted(names.keys())
    pairs = [(n, names[n]) for n in order]
    erk = pem_scalar(keys["e_reader"])
    reader_key = pem_scalar(keys["reader"])
    session = mdoc_nfc.Session()
    resp, st, used = mdoc_nfc.read_mdoc(phone, reader_key, reader_cert, pairs, "org.example.vitale.1",
                                        clock=FakeClock(), e_reader_key=erk, session=session)
    assert used == erk
    assert st == read_hex(S + "session_transcript_bytes.hex")
    assert resp == read_hex(S + "device_response.hex")
    assert phone.terminated and not phone.queue
    # what we sent: SessionEstablishment with the same EReaderKeyBytes, a request the phone can decrypt
    se = cbor.loads(phone.request)
    se_vec = cbor.loads(read_hex(S + "session_establishment.hex"))
    assert se["eReaderKey"].tagged == se_vec["eReaderKey"].tagged
    sk_d = binascii.unhexlify(info["derived"]["sk_device"])
    dreq = mdoc_nfc.SessionCipher(sk_r, sk_d, reader=False).decrypt(se["data"])
    dr = cbor.loads(dreq)["docRequests"][0]
    assert dr["itemsRequest"].tagged == items.tagged
    ra = cose.Sign1.parse(dr["readerAuth"])
    ra.verify(x509.parse(reader_cert).public_key,
              detached_payload=mdoc_nfc.reader_authentication_bytes(st, items.tagged))
    assert session.apdus == 6 + 11 + 1  # engagement, data transfer, termination
    report("mdoc_nfc synthetic session", apdus=session.apdus, bytes_in=session.bytes_in,
           bytes_out=session.bytes_out)


def test_synthetic_response_authenticates():
    """The decrypted response carries a deviceSignature over our transcript and a trusted issuerAuth."""
    st = read_hex(S + "session_transcript_bytes.hex")
    doc = cbor.loads(read_hex(S + "device_response.hex"))["documents"][0]
    auth = cose.Sign1.parse(doc["issuerSigned"]["issuerAuth"])
    mso = cbor.loads(auth.payload).value
    ds = x509.parse(auth.x5chain[0])
    iaca = x509.parse(read_hex(S + "iaca_cert.der.hex"))
    t = cbor.tdate_to_epoch(mso["validityInfo"]["signed"].value) + 60
    x509.verify_chain([ds], [iaca], t, "1.0.18013.5.1.2")
    auth.verify(ds.public_key)
    digests = mso["valueDigests"]["org.example.vitale.1"]
    for item in doc["issuerSigned"]["nameSpaces"]["org.example.vitale.1"]:
        assert digests[item.value["digestID"]] == sha256(item.tagged)
    dns = doc["deviceSigned"]["nameSpaces"]
    inner = b"\x84" + cbor.dumps("DeviceAuthentication") + cbor.loads(st).raw + cbor.dumps(doc["docType"]) + dns.tagged
    dab = b"\xd8\x18" + cbor.head(2, len(inner)) + inner
    sig = cose.Sign1.parse(doc["deviceSigned"]["deviceAuth"]["deviceSignature"])
    assert sig.verify(mso["deviceKeyInfo"]["deviceKey"], detached_payload=dab)


def test_phone_removed_at_every_step_gives_card_removed():
    info, keys, items, reader_cert, names = _setup()
    erk = pem_scalar(keys["e_reader"])
    full = mdoc_nfc.Session()
    mdoc_nfc.read_mdoc(SyntheticPhone(None), None, None, list(names.keys()), "org.example.vitale.1",
                       clock=FakeClock(), e_reader_key=erk, session=full)
    codes = []
    for k in range(1, full.apdus + 1):
        phone = SyntheticPhone(None, remove_at=k)
        try:
            mdoc_nfc.read_mdoc(phone, None, None, list(names.keys()), "org.example.vitale.1",
                               clock=FakeClock(), e_reader_key=erk)
            codes.append("ok")
        except Refusal as e:
            codes.append(e.code)
    # the last APDU is the termination, after the answer: the read still succeeds
    assert codes == ["card_removed"] * (full.apdus - 1) + ["ok"], codes


def test_timeout_and_bad_answers():
    info, keys, items, reader_cert, names = _setup()
    erk = pem_scalar(keys["e_reader"])
    clock = FakeClock()
    phone = SyntheticPhone(None)

    def slow(apdu):
        clock.t += 400
        return phone(apdu)

    try:
        mdoc_nfc.read_mdoc(slow, None, None, ["nir"], "org.example.vitale.1", timeout_ms=1000, clock=clock,
                           e_reader_key=erk)
        raise AssertionError("no timeout")
    except Refusal as e:
        assert e.code == "timeout"
    # a corrupted ciphertext byte: mdoc_error, never an exception of another kind
    phone = SyntheticPhone(None)
    r = bytearray(phone.ex[6][1])
    r[10] ^= 1
    phone.ex[6] = (phone.ex[6][0], bytes(r))
    try:
        mdoc_nfc.read_mdoc(phone, None, None, ["nir"], "org.example.vitale.1", clock=FakeClock(), e_reader_key=erk)
        raise AssertionError("no refusal")
    except Refusal as e:
        assert e.code == "mdoc_error"


def test_response_refusal_codes():
    dt = "org.vitale-reader.hic.1"

    def resp(errors, status=0):
        return cbor.dumps({"version": "1.0", "documentErrors": [{dt: errors}], "status": status})

    assert mdoc_nfc.response_refusal(resp(0), dt) == "consent_denied"
    assert mdoc_nfc.response_refusal(resp(mdoc_nfc.DOC_ERR_READER_AUTH), dt) == "reader_not_trusted"
    assert mdoc_nfc.response_refusal(resp(3), dt) == "mdoc_error"
    assert mdoc_nfc.response_refusal(cbor.dumps({"version": "1.0", "status": 10}), dt) == "mdoc_error"
    assert mdoc_nfc.response_refusal(b"\xff", dt) == "mdoc_error"
    assert mdoc_nfc.un_do53(mdoc_nfc.do53(b"x" * 300)) == b"x" * 300
    for n in (5, 200, 70000):
        assert mdoc_nfc.un_do53(mdoc_nfc.do53(b"\x01" * n)) == b"\x01" * n
    for bad in (b"", b"\x54\x00", b"\x53\x02\x00", b"\x53\x80", b"\x53\x84\x00\x00\x00\x00", b"\x53\x82\x00"):
        try:
            mdoc_nfc.un_do53(bad)
            raise AssertionError(bad)
        except mdoc_nfc.MdocNfcError as e:
            assert e.code == "mdoc_error"
