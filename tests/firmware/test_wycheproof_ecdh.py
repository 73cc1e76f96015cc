# Every Wycheproof ECDH P-256 vector against vitale.crypto.p256.ecdh.
# "valid": the shared secret matches; "invalid": ecdh raises CryptoError (or, for SubjectPublicKeyInfo
# keys, the key is refused before). "acceptable": we accept a SEC1-compressed public point and then the
# secret must match; SPKI encodings that are not the one DER encoding of a named-curve P-256 key are
# refused. MicroPython-compatible: runs under pytest and inside the VM.
import binascii

import fwsupport
from vitale.crypto import CryptoError, p256


# DER is canonical: a named-curve P-256 SubjectPublicKeyInfo is exactly this prefix + the point.
_SPKI_ALGO = binascii.unhexlify("301306072a8648ce3d020106082a8648ce3d030107")
_SPKI_UNCOMPRESSED = b"\x30\x59" + _SPKI_ALGO + b"\x03\x42\x00"
_SPKI_COMPRESSED = b"\x30\x39" + _SPKI_ALGO + b"\x03\x22\x00"


def spki_point(der):
    """The SEC1 point of a strict DER named-curve P-256 SubjectPublicKeyInfo, or None."""
    n = len(_SPKI_UNCOMPRESSED)
    if der[:n] == _SPKI_UNCOMPRESSED and len(der) == n + 65:
        return der[n:]
    if der[:n] == _SPKI_COMPRESSED and len(der) == n + 33:
        return der[n:]
    return None


def private_bytes(hexstr):
    # Wycheproof private keys are big-endian integers, sometimes with a leading 00
    return int(hexstr, 16).to_bytes(32, "big")


def run_file(rel, label, spki):
    data = fwsupport.load_json(rel)
    counts = {"valid": 0, "invalid": 0, "acceptable": 0, "acceptable_accepted": 0}
    wrong = []
    for group in data["testGroups"]:
        assert group["curve"] == "secp256r1"
        for t in group["tests"]:
            result = t["result"]
            counts[result] += 1
            pub = binascii.unhexlify(t["public"])
            if spki:
                pub = spki_point(pub)
            shared = None
            if pub is not None:
                try:
                    shared = p256.ecdh(private_bytes(t["private"]), pub)
                except CryptoError:
                    shared = None
            if result == "invalid":
                ok = shared is None
            elif result == "valid":
                ok = shared == binascii.unhexlify(t["shared"])
            else:
                ok = shared is None or shared == binascii.unhexlify(t["shared"])
                if shared is not None:
                    counts["acceptable_accepted"] += 1
            if not ok:
                wrong.append(t["tcId"])
    assert not wrong, "%s: wrong result for tcId %s" % (label, wrong)
    assert counts["valid"] + counts["invalid"] + counts["acceptable"] == data["numberOfTests"]
    fwsupport.report(label, **counts)
    return counts


def test_wycheproof_ecdh_ecpoint():
    counts = run_file("wycheproof/ecdh_secp256r1_ecpoint_test.json", "wycheproof ecdh ecpoint", False)
    assert counts["acceptable_accepted"] == counts["acceptable"]  # the compressed point


def test_wycheproof_ecdh_spki():
    counts = run_file("wycheproof/ecdh_secp256r1_test.json", "wycheproof ecdh spki", True)
    assert counts["acceptable_accepted"] == 1  # only the compressed key is a strict named-curve SPKI
