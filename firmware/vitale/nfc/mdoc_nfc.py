"""ISO 18013-5 mdoc read over NFC (reader side): engagement, session encryption, request, response.

  read_mdoc(transceive, reader_key, reader_cert_der, elements, doc_type=DOC_TYPE, ...)
      -> (device_response_bytes, session_transcript_bytes, e_reader_key)
      `transceive(apdu) -> response` is one ISO-DEP exchange (e.g. PN532.data_exchange).
      Static handover on the Type 4 Tag, SELECT of the mdoc AID, SessionEstablishment
      in ENVELOPEs (DO'53', CLA 10 chaining, short APDUs of <= 261 bytes, Le 00),
      GET RESPONSE for the answer (any chunk size), decryption, then SessionData
      {status: 20}. Raises Refusal with card_removed, reader_not_trusted,
      consent_denied, mdoc_error, nfc_error, timeout or internal; nothing else.
      The DeviceResponse is returned unverified: cred/mdoc.py checks it.
  Building blocks (used by the tests against the Annex D vectors):
      session_keys(e_reader_private, e_device_public, transcript_bytes) -> (SKReader, SKDevice)
      SessionCipher(sk_reader, sk_device)        .encrypt(plain) / .decrypt(data), counters from 1
      e_reader_key_bytes(public_key), session_transcript_bytes(de, erk_bytes, hs, hr=None)
      items_request_bytes(doc_type, namespace, names, intent=True)
      reader_authentication_bytes(transcript_bytes, items_request_bytes)
      reader_auth(reader_key, reader_cert_der, transcript_bytes, items_request_bytes) -> bytes
      device_request(items_request_bytes, reader_auth_bytes=None) -> bytes
      session_establishment(erk_bytes, data), do53(data), un_do53(data)
      response_refusal(device_response_bytes, doc_type) -> refusal code or None

How a phone says no (project convention, the standard's codes beyond 0 are
not public): DeviceResponse without documents and documentErrors
{docType: 0} = the user declined (consent_denied); {docType: DOC_ERR_READER_AUTH}
= the reader's certificate or readerAuth was refused (reader_not_trusted);
any other error, a non-zero status, or SessionData carrying only a status =
mdoc_error.
"""

from vitale import compat as _compat
from vitale.codec import cbor
from vitale.compat import const
from vitale.cred.policy import DOC_TYPE, PROFILES
from vitale.cred.result import Refusal
from vitale.crypto import CryptoError, cose, p256
from vitale.crypto.aesgcm import AESGCM
from vitale.crypto.hkdf import hkdf_sha256
from vitale.crypto.hmac import sha256
from vitale.nfc import engagement
from vitale.nfc.isodep import ApduLink, IsoDepError, build_apdu, parse_response, sw_code

MDOC_AID = b"\xa0\x00\x00\x02\x48\x04\x00"
DOC_ERR_NOT_RETURNED = const(0)
DOC_ERR_READER_AUTH = const(10)
STATUS_SESSION_ENCRYPTION = const(10)
STATUS_CBOR_DECODING = const(11)
STATUS_TERMINATION = const(20)
_INS_ENVELOPE = const(0xC3)
_MAX_APDU = const(261)  # 4 + Lc 1 + 255 + Le 1: one PN532 InDataExchange
_MAX_ANSWER = const(32768)
_CHUNK = const(255)  # ENVELOPE data per APDU: short Lc, one PN532 frame
_MAX_ROUNDS = const(200)
_GET_RESPONSE = b"\x00\xc0\x00\x00\x00"
_IV_READER = b"\x00\x00\x00\x00\x00\x00\x00\x00"
_IV_DEVICE = b"\x00\x00\x00\x00\x00\x00\x00\x01"
TERMINATION = b"\xa1\x66status\x14"

class MdocNfcError(ValueError):
    """A session-level failure inside a read; `.code` is the Refusal code it maps to."""

    def __init__(self, code, detail=""):
        super().__init__(code + (": " + detail if detail else ""))
        self.code = code
        self.detail = detail


# --- session keys and encryption ---------------------------------------------


def session_keys(e_reader_private, e_device_public, transcript_bytes):
    """(SKReader, SKDevice): HKDF-SHA-256 of the ECDH secret, salt SHA-256(SessionTranscriptBytes)."""
    z = p256.ecdh(e_reader_private, e_device_public)
    salt = sha256(transcript_bytes)
    return (hkdf_sha256(z, salt, b"SKReader", 32), hkdf_sha256(z, salt, b"SKDevice", 32))


class SessionCipher:
    """AES-256-GCM of SessionData: reader->mdoc under SKReader, mdoc->reader under SKDevice.

    IV = 8-byte identifier (reader 0..0, mdoc 0..01) + 4-byte counter, each
    direction counting from 1. `reader=False` gives the mdoc's side.
    """

    def __init__(self, sk_reader, sk_device, reader=True):
        if reader:
            self._out = AESGCM(sk_reader)
            self._in = AESGCM(sk_device)
            self._out_id = _IV_READER
            self._in_id = _IV_DEVICE
        else:
            self._out = AESGCM(sk_device)
            self._in = AESGCM(sk_reader)
            self._out_id = _IV_DEVICE
            self._in_id = _IV_READER
        self.sent = 0
        self.received = 0

    def encrypt(self, plaintext):
        """Ciphertext || tag of the next outgoing message."""
        self.sent += 1
        return self._out.encrypt(self._out_id + self.sent.to_bytes(4, "big"), plaintext)

    def decrypt(self, data):
        """Plaintext of the next incoming message (CryptoError when the tag fails)."""
        self.received += 1
        return self._in.decrypt(self._in_id + self.received.to_bytes(4, "big"), data)


# --- structures ----------------------------------------------------------------


def _tag24(inner):
    return b"\xd8\x18" + cbor.head(2, len(inner)) + inner


def _text(s):
    b = s.encode()
    return cbor.head(3, len(b)) + b


def e_reader_key_bytes(public_key):
    """EReaderKeyBytes = #6.24(bstr .cbor COSE_Key) of a 65-byte SEC1 public key."""
    return _tag24(cbor.dumps(cose.key_to_cose(public_key)))


def session_transcript_bytes(de, erk_bytes, hs, hr=None):
    """SessionTranscriptBytes = #6.24([#6.24(DE), EReaderKeyBytes, [HS, HR or null]]) for NFC."""
    handover = b"\x82" + cbor.head(2, len(hs)) + hs + (b"\xf6" if hr is None else cbor.head(2, len(hr)) + hr)
    return _tag24(b"\x83" + _tag24(de) + erk_bytes + handover)


def items_request_bytes(doc_type, namespace, names, intent=True):
    """ItemsRequestBytes {docType, nameSpaces: {namespace: {name: intent}}}, names in the given order.

    `names` is a sequence of element names, or of (name, intent) pairs.
    """
    body = bytearray(b"\xa2")
    body += _text("docType") + _text(doc_type) + _text("nameSpaces") + b"\xa1" + _text(namespace)
    body += cbor.head(5, len(names))
    for n in names:
        flag = intent
        if isinstance(n, tuple):
            n, flag = n
        body += _text(n)
        body.append(0xF5 if flag else 0xF4)
    return _tag24(bytes(body))


def _transcript_array(transcript_bytes):
    try:
        st = cbor.loads(transcript_bytes)
    except cbor.CborError as e:
        raise MdocNfcError("internal", "transcript: " + e.reason)
    if not isinstance(st, cbor.Embedded):
        raise MdocNfcError("internal", "transcript is not tag 24")
    return st.raw


def reader_authentication_bytes(transcript_bytes, items_request):
    """#6.24(["ReaderAuthentication", SessionTranscript, ItemsRequestBytes])."""
    return _tag24(b"\x83" + _text("ReaderAuthentication") + _transcript_array(transcript_bytes) + items_request)


def reader_auth(reader_key, reader_cert_der, transcript_bytes, items_request):
    """readerAuth: COSE_Sign1 (ES256, detached payload, x5chain in the unprotected header)."""
    rab = reader_authentication_bytes(transcript_bytes, items_request)
    return cose.Sign1.create(reader_key, rab, x5chain=[reader_cert_der], detached=True).encode()


def device_request(items_request, reader_auth_bytes=None):
    """DeviceRequest {version "1.0", docRequests: [{itemsRequest, readerAuth}]}."""
    doc = b"\xa2" if reader_auth_bytes is not None else b"\xa1"
    doc += _text("itemsRequest") + items_request
    if reader_auth_bytes is not None:
        doc += _text("readerAuth") + reader_auth_bytes
    return b"\xa2" + _text("version") + _text("1.0") + _text("docRequests") + b"\x81" + doc


def session_establishment(erk_bytes, data):
    """SessionEstablishment {eReaderKey, data}."""
    return b"\xa2" + _text("eReaderKey") + erk_bytes + _text("data") + cbor.head(2, len(data)) + data


def do53(data):
    """Wrap data in BER-TLV DO'53'."""
    n = len(data)
    if n < 0x80:
        h = bytes((0x53, n))
    elif n < 0x100:
        h = bytes((0x53, 0x81, n))
    elif n < 0x10000:
        h = bytes((0x53, 0x82, n >> 8, n & 0xFF))
    else:
        h = bytes((0x53, 0x83, n >> 16, (n >> 8) & 0xFF, n & 0xFF))
    return h + data


def un_do53(data):
    """The value of a DO'53' that is all of data (the length must match exactly)."""
    if len(data) < 2 or data[0] != 0x53:
        raise MdocNfcError("mdoc_error", "answer is not DO'53'")
    b = data[1]
    if b < 0x80:
        n = b
        i = 2
    elif 0x81 <= b <= 0x83:
        k = b - 0x80
        if len(data) < 2 + k:
            raise MdocNfcError("mdoc_error", "truncated DO'53' length")
        n = 0
        for j in range(k):
            n = (n << 8) | data[2 + j]
        i = 2 + k
    else:
        raise MdocNfcError("mdoc_error", "bad DO'53' length")
    if len(data) - i != n:
        raise MdocNfcError("mdoc_error", "DO'53' length does not match")
    return bytes(data[i:])


def _session_data(msg):
    """(data bytes or None, status or None) of a SessionData message."""
    try:
        sd = cbor.loads(msg)
    except cbor.CborError as e:
        raise MdocNfcError("mdoc_error", "SessionData CBOR: " + e.reason)
    if not isinstance(sd, dict):
        raise MdocNfcError("mdoc_error", "SessionData is not a map")
    data = sd.get("data")
    status = sd.get("status")
    if data is not None and not isinstance(data, bytes):
        raise MdocNfcError("mdoc_error", "SessionData data is not a bstr")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
        raise MdocNfcError("mdoc_error", "SessionData status is not an int")
    if data is None and status is None:
        raise MdocNfcError("mdoc_error", "empty SessionData")
    return data, status


def response_refusal(device_response, doc_type):
    """The refusal code a DeviceResponse carries instead of a document, or None (documents present)."""
    try:
        d = cbor.Decoder(device_response)
        n = d.enter_map()
        errors = None
        docs = None
        for _ in range(n):
            k = d.decode_item()
            if k == "documentErrors":
                errors = d.decode_item()
            elif k == "documents":
                docs = d.raw_item()
            else:
                d.raw_item()
        d.finish()
    except cbor.CborError:
        return "mdoc_error"
    if docs is not None:
        return None
    if isinstance(errors, list):
        for e in errors:
            if isinstance(e, dict) and doc_type in e:
                code = e[doc_type]
                if code == DOC_ERR_NOT_RETURNED and not isinstance(code, bool):
                    return "consent_denied"
                if code == DOC_ERR_READER_AUTH:
                    return "reader_not_trusted"
    return "mdoc_error"  # no document: a non-zero status or an error we have no code for


# --- the read ------------------------------------------------------------------


class _Deadline:
    def __init__(self, clock, timeout_ms):
        self.clock = clock
        self.t0 = clock.ticks_ms()
        self.timeout_ms = timeout_ms

    def check(self):
        if self.clock.ticks_diff(self.clock.ticks_ms(), self.t0) > self.timeout_ms:
            raise MdocNfcError("timeout", "read took over %d ms" % self.timeout_ms)


def _names(elements):
    if isinstance(elements, str):
        names = PROFILES.get(elements)
        if names is None:
            raise MdocNfcError("internal", "unknown profile " + elements)
        return names
    return elements


def _error_code(e):
    """The Refusal code for an exception raised by the transport or a parser."""
    if isinstance(e, MdocNfcError):
        return e.code
    if getattr(e, "code", None) in ("target_lost", "bad_target"):
        return "card_removed"  # the PN532 lost the phone (status 0x01) or no longer lists it
    if isinstance(e, (CryptoError, cbor.CborError)):
        return "mdoc_error"
    if isinstance(e, (ValueError, OSError)):
        return "nfc_error"  # IsoDepError, PN532Error, NdefError, EngagementError, bus errors
    return "internal"


class Session:
    """Counters and results of one read (filled as it goes; for tests and the bench)."""

    def __init__(self):
        self.apdus = 0
        self.bytes_out = 0
        self.bytes_in = 0
        self.engagement = None
        self.transcript = b""


def read_mdoc(transceive, reader_key, reader_cert_der, elements, doc_type=DOC_TYPE, namespace=None,
              timeout_ms=10000, clock=None, e_reader_key=None, session=None, select_tries=3,
              terminate=True):
    """Run one mdoc read over NFC; see the module docstring.

    elements: a profile name ("billing", "identity", "full") or a sequence of
    element names (or (name, intent) pairs) in `namespace` (default: doc_type).
    reader_key: 32-byte private key of the reader certificate (None: no readerAuth).
    e_reader_key: 32-byte ephemeral private key to use (tests); fresh by default.
    clock: ticks_ms/ticks_diff/sleep_ms (default vitale.compat).
    Returns (DeviceResponse bytes, SessionTranscriptBytes, ephemeral private key).
    """
    if clock is None:
        clock = _compat
    if session is None:
        session = Session()
    try:
        return _read(transceive, reader_key, reader_cert_der, _names(elements), doc_type,
                     namespace or doc_type, _Deadline(clock, timeout_ms), clock, e_reader_key,
                     session, select_tries, terminate)
    except Refusal:
        raise
    except MemoryError:
        raise Refusal("internal", "out of memory")
    except Exception as e:  # noqa: BLE001 - every failure becomes a refusal code
        code = _error_code(e)
        raise Refusal(code, str(e))


def _counting(transceive, session, deadline):
    def tx(apdu):
        deadline.check()
        session.apdus += 1
        session.bytes_out += len(apdu)
        r = transceive(apdu)
        session.bytes_in += len(r)
        return r
    return tx


def _read(transceive, reader_key, reader_cert_der, names, doc_type, namespace, deadline, clock,
          e_reader_key, session, select_tries, terminate):
    tx = _counting(transceive, session, deadline)
    link = ApduLink(tx, _MAX_APDU, _MAX_ANSWER)
    hs = engagement.read_handover_select(link, select_tries, clock.sleep_ms)
    eng = engagement.parse_engagement(hs)
    session.engagement = eng
    if eng.nfc_limits is None:
        raise MdocNfcError("nfc_error", "the phone offers no NFC data transfer (BLE-only wallet)")
    de = eng.device_engagement
    if e_reader_key is None:
        e_reader_key, e_pub = p256.generate_keypair()
    else:
        e_pub = p256.public_key(e_reader_key)
    erk = e_reader_key_bytes(e_pub)
    st = session_transcript_bytes(de.raw, erk, hs)
    session.transcript = st
    sk_r, sk_d = session_keys(e_reader_key, de.e_device_key, st)
    cipher = SessionCipher(sk_r, sk_d)
    irb = items_request_bytes(doc_type, namespace, names, True)
    auth = None
    if reader_key is not None:
        auth = reader_auth(reader_key, reader_cert_der, st, irb)
    req = device_request(irb, auth)
    msg = session_establishment(erk, cipher.encrypt(req))
    deadline.check()
    link.send(0x00, 0xA4, 0x04, 0x00, MDOC_AID, None)
    answer = _envelope(tx, msg)
    data, status = _session_data(answer)
    if data is None:
        raise MdocNfcError("mdoc_error", "the phone ended the session (status %d)" % status)
    try:
        resp = cipher.decrypt(data)
    except CryptoError:
        raise MdocNfcError("mdoc_error", "SessionData does not decrypt")
    if terminate:
        _terminate(tx)
    refused = response_refusal(resp, doc_type)
    if refused is not None:
        raise MdocNfcError(refused, "DeviceResponse without a document")
    return (resp, st, e_reader_key)


def _envelope(tx, msg, max_answer=_MAX_ANSWER):
    """Send one message in ENVELOPEs; return the unwrapped DO'53' answer.

    Pieces of <= 255 bytes, CLA 10 on all but the last (no Le), Le 00 on the
    last; then GET RESPONSE with Le 00 while the phone says 61xx, taking
    answers of any length (some phones ignore the Le of GET RESPONSE).
    """
    data = do53(msg)
    n = len(data)
    mv = memoryview(data)
    pos = 0
    while n - pos > _CHUNK:
        _, sw = parse_response(tx(build_apdu(0x10, _INS_ENVELOPE, 0, 0, mv[pos:pos + _CHUNK])))
        if sw != 0x9000:
            raise IsoDepError(sw_code(sw) or "sw_error", sw, "chained ENVELOPE refused")
        pos += _CHUNK
    part, sw = parse_response(tx(build_apdu(0x00, _INS_ENVELOPE, 0, 0, mv[pos:n], 256)))
    out = bytearray(part)
    rounds = 0
    while sw >> 8 == 0x61:
        rounds += 1
        if rounds > _MAX_ROUNDS or len(out) > max_answer:
            raise MdocNfcError("mdoc_error", "answer too long")
        part, sw = parse_response(tx(_GET_RESPONSE))
        out.extend(part)
    if sw != 0x9000:
        raise IsoDepError(sw_code(sw) or "sw_error", sw, "ENVELOPE refused")
    return un_do53(out)


def _terminate(tx):
    """SessionData {status: 20}: best effort, the read already has its answer."""
    try:
        tx(build_apdu(0x00, _INS_ENVELOPE, 0, 0, do53(TERMINATION), 256))
    except Exception:  # noqa: BLE001 - the phone may already be gone
        pass
