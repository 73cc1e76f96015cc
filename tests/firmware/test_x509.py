"""x509: the ISO 18013-5 annex certificates parse and chain; every refusal has its code."""

from fwsupport import read_hex
from vitale.crypto import x509

T_2021 = 1609459200  # 2021-01-01, inside the annex certificates' validity
T_2019 = 1546300800
T_2026 = 1795000000


def _annex(name):
    return x509.parse(read_hex("iso18013-5/annex-d/" + name + ".der.hex"))


def _code(fn):
    try:
        fn()
    except x509.X509Error as e:
        return e.code
    return None


def test_annex_document_signer_chains_to_iaca():
    ds, iaca = _annex("ds_cert"), _annex("iaca_cert")
    assert ds.subject_cn == "utopia ds" and iaca.is_ca
    assert x509.EKU_MDL_DS in ds.ext_key_usage
    assert x509.verify_chain([ds], [iaca], T_2021, x509.EKU_MDL_DS) is ds
    assert len(ds.public_key) == 65 and len(ds.fingerprint()) == 32


def test_validity_codes():
    ds, iaca = _annex("ds_cert"), _annex("iaca_cert")
    assert _code(lambda: x509.verify_chain([ds], [iaca], T_2026)) == "expired"
    assert _code(lambda: x509.verify_chain([ds], [iaca], T_2019)) == "not_yet_valid"


def test_reader_certificate_chain_and_eku():
    rc, root = _annex("reader_cert"), _annex("reader_root_cert")
    assert x509.verify_chain([rc], [root], T_2021, x509.EKU_MDL_READER_AUTH) is rc
    assert _code(lambda: x509.verify_chain([rc], [root], T_2021, x509.EKU_MDL_DS)) == "bad_key_usage"


def test_wrong_root_is_untrusted_and_leaf_cannot_be_issuer():
    ds, root = _annex("ds_cert"), _annex("reader_root_cert")
    assert _code(lambda: x509.verify_chain([ds], [root], T_2021)) == "untrusted_issuer"
    iaca = _annex("iaca_cert")
    # the IACA as a leaf has no digitalSignature usage
    assert _code(lambda: x509.verify_chain([iaca], [iaca], T_2021)) == "bad_key_usage"


def test_tampered_signature_is_bad_signature():
    raw = bytearray(read_hex("iso18013-5/annex-d/ds_cert.der.hex"))
    raw[-5] ^= 0x01  # inside the signature's r or s
    iaca = _annex("iaca_cert")
    try:
        ds = x509.parse(bytes(raw))
    except x509.X509Error as e:
        assert e.code == "malformed"
        return
    assert _code(lambda: x509.verify_chain([ds], [iaca], T_2021)) == "bad_signature"


def test_garbage_is_malformed():
    raw = read_hex("iso18013-5/annex-d/ds_cert.der.hex")
    for bad in (b"", b"\x30\x00", raw[:100], raw + b"\x00", b"\x30\x80\x00\x00"):
        assert _code(lambda: x509.parse(bad)) == "malformed"
