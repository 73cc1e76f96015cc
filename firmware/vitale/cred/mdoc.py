"""ISO 18013-5 DeviceResponse verification (docs/credential-profile.md §5, docs/refusal-codes.md §2.1).

  verify(device_response, session_transcript, trust, policy, now, e_reader_key=None, items_request=None)
      -> VerifiedCard, or raises Refusal(code)
  verify_container(data, trust, policy, now)     the host's verify container (§6)

device_response: the DeviceResponse bytes exactly as decrypted; session_transcript:
SessionTranscriptBytes (the #6.24 encoding) exactly as used; e_reader_key: the reader's
ephemeral private scalar (32 bytes), needed only for deviceMac; items_request: the
ItemsRequestBytes the reader sent (then returned elements must have been requested);
now: Unix seconds, None when the clock was never set (clock_unset).

Checks run in the documented order, the first failing one decides the code:
clock, strict decode, issuerAuth (alg, DS certificate -> trusted IACA, signature, times),
MSO, digests over the exact tag-24 bytes received, docType, validityInfo, mdoc
authentication (deviceSignature or deviceMac over DeviceAuthentication of this
session), device-signed elements, returned ⊆ requested, then for the health card the
element values, the read profile and the status list. Only issuer-signed elements whose
digest matched reach the result.
"""

import hashlib

from vitale.codec import cbor
from vitale.cred import policy as pol
from vitale.cred import status
from vitale.cred import trust as tr
from vitale.cred.result import Refusal, VerifiedCard
from vitale.crypto import p256
from vitale.crypto.hkdf import hkdf_sha256
from vitale.crypto.hmac import compare_digest, hmac_sha256

ALG_ES256 = -7
ALG_HMAC256 = 5
_DA_HEAD = b"\x84\x74DeviceAuthentication"


_malformed = status.malformed
_uint = status.is_uint
_loads = status.strict_loads


def _embedded(v, what):
    """The decoded content of a tag-24 item (an Embedded from the strict decoder)."""
    if not isinstance(v, cbor.Embedded):
        raise _malformed(what + " must be a tag-24 byte string")
    try:
        return v.value
    except cbor.CborError as e:
        raise _malformed(what + " CBOR: " + e.reason)


def _text_keys(m, what):
    if not isinstance(m, dict):
        raise _malformed(what + " is not a map")
    for k in m:
        if not isinstance(k, str):
            raise _malformed(what + " has a non-text key")


# --- byte walk: the namespaces in the order they were sent -------------------------


def _skip(buf, off):
    # end of the (already validated, definite-length) item at off
    src = status.BytesSource(buf)
    todo = 1
    n = len(buf)
    while todo:
        major, arg, off = status.read_head(src, off, n)
        todo -= 1
        if major == 2 or major == 3:
            off += arg
        elif major == 4:
            todo += arg
        elif major == 5:
            todo += 2 * arg
        elif major == 6:
            todo += 1
    return off


def _map_value(buf, off, key):
    # offset of the value of text key `key` in the map at off, or -1
    major, n, off = status.read_head(status.BytesSource(buf), off, len(buf))
    if major != 5:
        return -1
    for _ in range(n):
        d = cbor.Decoder(buf, strict=True)
        d.pos = off
        k = d.decode_item()
        if k == key:
            return d.pos
        off = _skip(buf, d.pos)
    return -1


def _namespace_order(buf):
    """The keys of documents[0].issuerSigned.nameSpaces in the order they were encoded."""
    off = _map_value(buf, 0, "documents")
    if off >= 0:
        major, n, off = status.read_head(status.BytesSource(buf), off, len(buf))
        off = _map_value(buf, off, "issuerSigned") if major == 4 and n else -1
    if off >= 0:
        off = _map_value(buf, off, "nameSpaces")
    out = []  # type: list
    if off < 0:
        return out
    major, n, off = status.read_head(status.BytesSource(buf), off, len(buf))
    for _ in range(n):
        d = cbor.Decoder(buf, strict=True)
        d.pos = off
        out.append(d.decode_item())
        off = _skip(buf, d.pos)
    return out


# --- values ------------------------------------------------------------------------------


def _tdate(v, what):
    """`#6.0("YYYY-MM-DDTHH:MM:SSZ")` -> Unix seconds (no fractions, no offsets)."""
    ok = isinstance(v, cbor.Tag) and v.tag == 0 and isinstance(v.value, str) and len(v.value) == 20
    s = v.value if ok else ""
    if ok:
        for i in range(20):
            c = s[i]
            want = "-" if i in (4, 7) else "T" if i == 10 else ":" if i in (13, 16) else "Z" if i == 19 else ""
            if (want and c != want) or (not want and not "0" <= c <= "9"):
                ok = False
                break
    if not ok or s[:4] == "0000":
        raise _malformed(what + " must be a tdate YYYY-MM-DDTHH:MM:SSZ")
    try:
        return cbor.tdate_to_epoch(s)
    except cbor.CborError:
        raise _malformed(what + " is not a real time")


def _full_date_value(v):
    if not isinstance(v, cbor.Tag) or v.tag != 1004 or not isinstance(v.value, str):
        raise pol.ProfileError("date must be a full-date (tag 1004)")
    return v.value


def _normalise(name, v):
    """An mdoc element value -> the normalised form policy.check_value takes."""
    if name == "amo_rights":
        if not isinstance(v, list):
            raise pol.ProfileError("amo_rights must be an array")
        out = []
        for p in v:
            if not isinstance(p, dict) or len(p) != 2 or "start" not in p or "end" not in p:
                raise pol.ProfileError("a rights period is {start, end}")
            out.append({"start": _full_date_value(p["start"]), "end": _full_date_value(p["end"])})
        return out
    if name == "amc":
        if not isinstance(v, dict):
            raise pol.ProfileError("amc must be a map")
        amc = {}
        for k in v:
            amc[k] = _full_date_value(v[k]) if k in ("start", "end") else v[k]
        return amc
    return v


def to_json(v):
    """A decoded CBOR value as JSON-able data (bytes as hex, tags 0/1004/100 as dates), as the host does."""
    if isinstance(v, cbor.Tag):
        if (v.tag == 0 or v.tag == 1004) and isinstance(v.value, str):
            return v.value
        if v.tag == 100 and isinstance(v.value, int):
            try:
                return pol.days_to_date(v.value)
            except pol.ProfileError:
                pass
        return {"tag": v.tag, "value": to_json(v.value)}
    if isinstance(v, cbor.Embedded):
        return {"tag": 24, "value": tr.hexstr(v.raw)}
    if isinstance(v, (bytes, bytearray)):
        return tr.hexstr(v)
    if isinstance(v, list):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        out = {}
        for k in v:
            out[str(k)] = to_json(v[k])
        return out
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def flatten(elements):
    """{namespace: {id: value}} -> {id: value}, "namespace/id" for an id found in two namespaces."""
    out = {}
    seen = {}
    for ns in sorted(elements):
        for name in elements[ns]:
            if name in seen:
                out[ns + "/" + name] = elements[ns][name]
            else:
                seen[name] = True
                out[name] = elements[ns][name]
    return out


def _tag24(inner):
    return b"\xd8\x18" + cbor.head(2, len(inner)) + inner


# --- the verification -------------------------------------------------------------------


def verify(device_response, session_transcript, trust, policy=None, now=None, e_reader_key=None,
           items_request=None):
    """Verify a DeviceResponse for this session; VerifiedCard, or Refusal (see the module notes)."""
    policy = policy or pol.DEFAULT
    now = pol.require_clock(now)
    buf = bytes(device_response)
    top = _loads(buf, "DeviceResponse")
    if not isinstance(top, dict) or top.get("version") not in ("1.0", "1.1") or not _uint(top.get("status")):
        raise _malformed("DeviceResponse needs version and status")
    docs = top.get("documents")
    if top["status"] != 0 or not docs:
        raise Refusal("no_document", "status " + str(top["status"]) + _document_errors(top.get("documentErrors")))
    if not isinstance(docs, list) or len(docs) != 1:
        raise _malformed("exactly one document expected")
    _text_keys(top, "DeviceResponse")
    doc = docs[0]
    _text_keys(doc, "Document")
    doc_type = doc.get("docType")
    issuer_signed = doc.get("issuerSigned")
    device_signed = doc.get("deviceSigned")
    if not isinstance(doc_type, str) or not isinstance(issuer_signed, dict) or not isinstance(device_signed, dict):
        raise _malformed("Document needs docType, issuerSigned and deviceSigned")

    # issuer data authentication
    s1 = tr.sign1(issuer_signed.get("issuerAuth"), "issuerAuth")
    if s1.alg != ALG_ES256:
        raise Refusal("unsupported_alg", "issuerAuth alg " + repr(s1.alg))
    x5 = s1.unprotected.get(tr.HDR_X5CHAIN, s1.protected.get(tr.HDR_X5CHAIN))
    if isinstance(x5, list) and x5:
        x5 = x5[0]
    ds, iaca = trust.document_signer(x5)
    if s1.payload is None:
        raise _malformed("issuerAuth payload is detached")
    if not tr.es256_ok(ds.public_key, s1.protected_raw, s1.payload, s1.signature):
        raise Refusal("bad_issuer_signature", "issuerAuth")
    tr.check_cert_times(now, iaca, ds)
    mso = _embedded(_loads(s1.payload, "MobileSecurityObjectBytes"), "MobileSecurityObjectBytes")
    if not isinstance(mso, dict) or mso.get("version") != "1.0" or not isinstance(mso.get("docType"), str) \
            or not isinstance(mso.get("valueDigests"), dict) or not isinstance(mso.get("deviceKeyInfo"), dict) \
            or not isinstance(mso.get("validityInfo"), dict):
        raise _malformed("MSO structure")
    if mso.get("digestAlgorithm") != "SHA-256":
        raise Refusal("unsupported_alg", "digestAlgorithm " + repr(mso.get("digestAlgorithm")))

    elements = _digested_elements(buf, issuer_signed, mso["valueDigests"])

    if mso["docType"] != doc_type:
        raise Refusal("wrong_doctype", "document " + doc_type + ", MSO " + mso["docType"])
    if policy.doc_type is not None and doc_type != policy.doc_type:
        raise Refusal("wrong_doctype", doc_type + " is not " + str(policy.doc_type))

    vi = mso["validityInfo"]
    signed = _tdate(vi.get("signed"), "signed")
    valid_from = _tdate(vi.get("validFrom"), "validFrom")
    valid_until = _tdate(vi.get("validUntil"), "validUntil")
    if valid_from > valid_until:
        raise _malformed("validFrom after validUntil")
    if not ds.not_before <= signed <= ds.not_after:
        raise Refusal("untrusted_issuer", "MSO signed outside the document signer's validity")
    if now < valid_from:
        raise Refusal("not_yet_valid", "MSO not valid yet")
    if now > valid_until:
        raise Refusal("expired", "MSO expired")

    mode = _device_auth(mso, doc_type, device_signed, session_transcript, e_reader_key)

    if items_request is not None:
        req = _embedded(_loads(items_request, "ItemsRequestBytes"), "ItemsRequestBytes")
        if not isinstance(req, dict) or not isinstance(req.get("nameSpaces"), dict):
            raise _malformed("ItemsRequest structure")
        for ns in elements:
            asked = req["nameSpaces"].get(ns)
            for name in elements[ns]:
                if not isinstance(asked, dict) or name not in asked:
                    raise Refusal("not_requested", ns + ": " + name)

    out_elements = {}  # type: dict
    for ns in elements:
        out_elements[ns] = {}
        for name in elements[ns]:
            out_elements[ns][name] = to_json(elements[ns][name])
    status_index = None
    age = None
    if doc_type == pol.DOC_TYPE:
        values = {}
        given = elements.get(pol.NAMESPACE, {})
        try:
            for name in given:
                if name in pol.ELEMENTS:
                    values[name] = _normalise(name, given[name])
        except pol.ProfileError as e:
            raise Refusal("invalid_element", str(e))
        fields = pol.build_card(values, policy)
        out_elements[pol.NAMESPACE] = fields
        st = mso.get("status")
        ref = st.get("status_list") if isinstance(st, dict) else None
        status_index = ref.get("idx") if isinstance(ref, dict) else None
        if not _uint(status_index):
            raise _malformed("MSO status.status_list.idx missing")
        status.check(trust, status_index, now, policy)
        age = now - trust.status.issued_at
    else:
        fields = flatten(out_elements)
    return VerifiedCard(fields, "nfc", doc_type, ds.subject_cn, valid_from, valid_until, signed,
                        status_index, age, mode, out_elements, tr.hexstr(tr.kid_of(ds.raw)),
                        errors=_element_errors(doc.get("errors")))


def _document_errors(v):
    # DeviceResponse.documentErrors [{docType: code}] as text for the refusal's detail (unsigned, informative)
    if not isinstance(v, list):
        return ""
    out = []
    for e in v:
        if isinstance(e, dict):
            for k in e:
                out.append(str(k) + "=" + str(e[k]))
    return ", document errors: " + ", ".join(out) if out else ""


def _element_errors(v):
    """Document.errors {namespace: {element: int}} when well-formed, else {} (unsigned, never decisive)."""
    out = {}  # type: dict
    if not isinstance(v, dict):
        return out
    for ns in v:
        m = v[ns]
        if not isinstance(ns, str) or not isinstance(m, dict):
            continue
        for name in m:
            if isinstance(name, str) and isinstance(m[name], int) and not isinstance(m[name], bool):
                out.setdefault(ns, {})[name] = m[name]
    return out


def _digested_elements(buf, issuer_signed, digests):
    """{namespace: {id: value}} of the IssuerSignedItems whose digest matches the MSO (else Refusal)."""
    _text_keys(issuer_signed, "issuerSigned")
    elements = {}  # type: dict
    if "nameSpaces" not in issuer_signed:
        return elements
    nss = issuer_signed["nameSpaces"]
    _text_keys(nss, "nameSpaces")
    for ns in _namespace_order(buf):
        items = nss[ns]
        if not isinstance(items, list):
            raise _malformed("nameSpaces[" + ns + "] is not an array")
        ns_digests = digests.get(ns)
        seen = {}
        for raw in items:
            item = _embedded(raw, "IssuerSignedItemBytes")
            if not isinstance(item, dict) or not _uint(item.get("digestID")) \
                    or not isinstance(item.get("random"), bytes) \
                    or not isinstance(item.get("elementIdentifier"), str) or "elementValue" not in item:
                raise _malformed("IssuerSignedItem structure")
            did = item["digestID"]
            name = item["elementIdentifier"]
            if not isinstance(ns_digests, dict) or did in seen:
                raise Refusal("digest_mismatch", ns + "/" + name + ": namespace unknown or digestID repeated")
            seen[did] = True
            expected = ns_digests.get(did)
            if not isinstance(expected, bytes) or not compare_digest(expected, hashlib.sha256(raw.tagged).digest()):
                raise Refusal("digest_mismatch", ns + "/" + name)
            got = elements.get(ns)
            if got is None:
                got = elements[ns] = {}
            if name in got:
                raise Refusal("digest_mismatch", ns + "/" + name + " returned twice")
            got[name] = item["elementValue"]
    return elements


def _device_auth(mso, doc_type, device_signed, session_transcript, e_reader_key):
    """mdoc authentication over DeviceAuthentication of this session: "signature" or "mac" (else Refusal)."""
    device_key = tr.cose_key_point(mso["deviceKeyInfo"].get("deviceKey"), "deviceKey")
    _text_keys(device_signed, "deviceSigned")
    if "nameSpaces" not in device_signed:
        raise _malformed("deviceSigned.nameSpaces missing")
    dns_item = device_signed["nameSpaces"]
    dns = _embedded(dns_item, "DeviceNameSpacesBytes")
    if not isinstance(dns, dict):
        raise _malformed("DeviceNameSpaces is not a map")
    if not isinstance(session_transcript, (bytes, bytearray, memoryview)):
        raise _malformed("SessionTranscriptBytes must be bytes")
    st_item = _loads(session_transcript, "SessionTranscriptBytes")
    st = _embedded(st_item, "SessionTranscriptBytes")
    if not isinstance(st, list) or len(st) != 3:
        raise _malformed("SessionTranscript is not an array of 3")
    da = _tag24(_DA_HEAD + st_item.raw + cbor.dumps(doc_type) + dns_item.tagged)
    auth = device_signed.get("deviceAuth")
    if not isinstance(auth, dict) or len(auth) != 1:
        raise _malformed("deviceAuth must hold one of deviceSignature, deviceMac")
    if "deviceSignature" in auth:
        sig = tr.sign1(auth["deviceSignature"], "deviceSignature")
        if sig.alg != ALG_ES256:
            raise Refusal("unsupported_alg", "deviceSignature alg " + repr(sig.alg))
        if sig.payload is not None and sig.payload != da:
            raise Refusal("device_auth_failed", "deviceSignature payload is not DeviceAuthenticationBytes")
        if not tr.es256_ok(device_key, sig.protected_raw, da, sig.signature):
            raise Refusal("device_auth_failed", "deviceSignature")
        mode = "signature"
    elif "deviceMac" in auth:
        mac = tr.sign1(auth["deviceMac"], "deviceMac", 17)
        if mac.alg != ALG_HMAC256:
            raise Refusal("unsupported_alg", "deviceMac alg " + repr(mac.alg))
        if e_reader_key is None or len(e_reader_key) != 32:
            raise Refusal("device_auth_failed", "deviceMac needs the reader's ephemeral key")
        try:
            z = p256.ecdh(bytes(e_reader_key), device_key)
        except ValueError:
            raise _malformed("reader ephemeral key out of range")
        key = hkdf_sha256(z, hashlib.sha256(session_transcript).digest(), b"EMacKey", 32)
        tag = hmac_sha256(key, b"\x84\x64MAC0" + cbor.head(2, len(mac.protected_raw)) + mac.protected_raw
                          + b"\x40" + cbor.head(2, len(da)) + da)
        if (mac.payload is not None and mac.payload != da) or not compare_digest(tag, mac.signature):
            raise Refusal("device_auth_failed", "deviceMac")
        mode = "mac"
    else:
        raise _malformed("deviceAuth must hold one of deviceSignature, deviceMac")
    if dns:
        raise Refusal("not_requested", "device-signed elements are not accepted")
    return mode


def verify_container(data, trust, policy=None, now=None):
    """Verify a verify container {deviceResponse, sessionTranscript, ? eReaderKey, ? itemsRequest}."""
    pol.require_clock(now)
    c = _loads(data, "container")
    if not isinstance(c, dict) or not isinstance(c.get("deviceResponse"), bytes) \
            or not isinstance(c.get("sessionTranscript"), bytes):
        raise _malformed("container needs deviceResponse and sessionTranscript byte strings")
    erk = c.get("eReaderKey")
    req = c.get("itemsRequest")
    if (erk is not None and not isinstance(erk, bytes)) or (req is not None and not isinstance(req, bytes)):
        raise _malformed("container eReaderKey/itemsRequest must be byte strings")
    return verify(c["deviceResponse"], c["sessionTranscript"], trust, policy, now, erk, req)
