"""x509 refuses certificates outside the P-256 / ECDSA-SHA256 profile (made with `cryptography`)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509 as cx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from vitale.crypto import x509

NOW = 1800000000
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _name(cn: str) -> cx.Name:
    return cx.Name([cx.NameAttribute(NameOID.COMMON_NAME, cn), cx.NameAttribute(NameOID.COUNTRY_NAME, "FR")])


def _cert(subject_key: object, issuer_key: object, *, ca: bool, cn: str = "leaf", issuer_cn: str = "root",
          ku_sign: bool = True, extra: cx.ExtensionType | None = None, critical_extra: bool = False,
          hash_alg: hashes.HashAlgorithm | None = None) -> bytes:
    pub = subject_key.public_key()  # type: ignore[attr-defined]
    b = (cx.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer_cn))
         .public_key(pub).serial_number(7).not_valid_before(T0)
         .not_valid_after(T0 + dt.timedelta(days=3650)))
    b = b.add_extension(cx.BasicConstraints(ca=ca, path_length=None), critical=True)
    b = b.add_extension(cx.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                    data_encipherment=False, key_agreement=False, key_cert_sign=ca and ku_sign,
                                    crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
    if extra is not None:
        b = b.add_extension(extra, critical=critical_extra)
    c = b.sign(issuer_key, hash_alg or hashes.SHA256())  # type: ignore[arg-type]
    return c.public_bytes(serialization.Encoding.DER)


def _code(fn: object) -> str | None:
    try:
        fn()  # type: ignore[operator]
    except x509.X509Error as e:
        return e.code
    return None


@pytest.fixture(scope="module")
def keys() -> dict[str, object]:
    return {"root": ec.generate_private_key(ec.SECP256R1()), "leaf": ec.generate_private_key(ec.SECP256R1())}


def test_good_chain(keys: dict[str, object]) -> None:
    root = x509.parse(_cert(keys["root"], keys["root"], ca=True, cn="root"))
    leaf = x509.parse(_cert(keys["leaf"], keys["root"], ca=False))
    assert x509.verify_chain([leaf], [root], NOW) is leaf
    assert leaf.subject_country == "FR"


def test_other_curve_and_rsa_are_unsupported(keys: dict[str, object]) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert _code(lambda: x509.parse(_cert(p384, keys["root"], ca=False))) == "unsupported_alg"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _code(lambda: x509.parse(_cert(rsa_key, rsa_key, ca=False))) == "unsupported_alg"
    assert _code(lambda: x509.parse(_cert(keys["leaf"], keys["root"], ca=False, hash_alg=hashes.SHA384()))) \
        == "unsupported_alg"


def test_unknown_critical_extension_is_refused(keys: dict[str, object]) -> None:
    ext = cx.UnrecognizedExtension(cx.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    assert _code(lambda: x509.parse(_cert(keys["leaf"], keys["root"], ca=False, extra=ext, critical_extra=True))) \
        == "malformed"
    ok = x509.parse(_cert(keys["leaf"], keys["root"], ca=False, extra=ext, critical_extra=False))
    assert ok.subject_cn == "leaf"


def test_issuer_without_cert_sign_usage_is_refused(keys: dict[str, object]) -> None:
    root = x509.parse(_cert(keys["root"], keys["root"], ca=True, cn="root", ku_sign=False))
    leaf = x509.parse(_cert(keys["leaf"], keys["root"], ca=False))
    assert _code(lambda: x509.verify_chain([leaf], [root], NOW)) == "bad_key_usage"


def test_leaf_signed_by_another_key_is_bad_signature(keys: dict[str, object]) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    root = x509.parse(_cert(keys["root"], keys["root"], ca=True, cn="root"))
    leaf = x509.parse(_cert(keys["leaf"], other, ca=False))
    assert _code(lambda: x509.verify_chain([leaf], [root], NOW)) == "bad_signature"
