"""PKCS#10 certificate requests (RFC 2986) for the reader's P-256 key.

  csr_der(private_key, public_key, cn="Vitale Reader") -> bytes
      CertificationRequest, DER: version 0, subject CN (UTF8String), the
      65-byte SEC1 key as id-ecPublicKey / prime256v1, no attributes,
      signed ecdsa-with-SHA256 by the key itself (proof of possession).
  Encoders: oid(dotted), integer(n), sequence(*parts), ecdsa_sig_der(raw r||s).

The host reads it with cryptography.x509.load_der_x509_csr; the test
authority issues the reader certificate from it (authority.issue_reader_cert).
"""

from vitale.codec.der import BIT_STRING, INTEGER, OID, SEQUENCE, SET, UTF8_STRING, encode_tlv
from vitale.crypto import p256

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_P256 = "1.2.840.10045.3.1.7"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_CN = "2.5.4.3"
MAX_CN = 64  # ub-common-name (RFC 5280)


class CsrError(ValueError):
    """A request cannot be built from these inputs."""


def oid(dotted):
    """DER OBJECT IDENTIFIER of a dotted string."""
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2:
        raise CsrError("bad OID " + dotted)
    out = bytearray()
    vals = [arcs[0] * 40 + arcs[1]] + arcs[2:]
    for v in vals:
        if v < 0:
            raise CsrError("bad OID " + dotted)
        chunk = [v & 0x7F]
        v >>= 7
        while v:
            chunk.append(0x80 | (v & 0x7F))
            v >>= 7
        chunk.reverse()
        out.extend(bytes(chunk))
    return encode_tlv(OID, out)


def integer(n):
    """DER INTEGER of a non-negative int (minimal, a 00 before a high bit)."""
    if n < 0:
        raise CsrError("negative INTEGER")
    size = 1
    while n >> (8 * size):  # no int.bit_length on MicroPython
        size += 1
    b = n.to_bytes(size, "big")
    if b[0] & 0x80:
        b = b"\x00" + b
    return encode_tlv(INTEGER, b)


def sequence(*parts):
    """DER SEQUENCE of already encoded parts."""
    return encode_tlv(SEQUENCE, b"".join(parts))


def ecdsa_sig_der(raw):
    """ECDSA-Sig-Value (SEQUENCE of r, s) of a raw 64-byte r||s signature."""
    if len(raw) != 64:
        raise CsrError("raw signature must be 64 bytes")
    return sequence(integer(int.from_bytes(raw[:32], "big")), integer(int.from_bytes(raw[32:], "big")))


def _name(cn):
    atv = sequence(oid(OID_CN), encode_tlv(UTF8_STRING, cn.encode()))
    return sequence(encode_tlv(SET, atv))


def csr_der(private_key, public_key, cn="Vitale Reader"):
    """DER PKCS#10 request for public_key (65-byte SEC1), signed by private_key (32 bytes)."""
    if not isinstance(cn, str) or not cn or len(cn) > MAX_CN:
        raise CsrError("cn must be 1 to %d characters" % MAX_CN)
    if len(public_key) != 65 or public_key[0] != 4:
        raise CsrError("public key must be a 65-byte uncompressed SEC1 point")
    spki = sequence(sequence(oid(OID_EC_PUBLIC_KEY), oid(OID_P256)),
                    encode_tlv(BIT_STRING, b"\x00" + bytes(public_key)))
    info = sequence(integer(0), _name(cn), spki, b"\xa0\x00")  # attributes [0]: empty SET OF
    sig = ecdsa_sig_der(p256.ecdsa_sign(private_key, info))
    return sequence(info, sequence(oid(OID_ECDSA_SHA256)), encode_tlv(BIT_STRING, b"\x00" + sig))
