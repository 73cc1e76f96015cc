# Every Wycheproof ECDSA P-256/SHA-256 vector, raw r||s (IEEE P1363) and DER, against vitale.crypto.p256.
# "valid" must verify, "invalid" must not; these two files have no "acceptable" vector (counted if one appears,
# and then only required not to crash). MicroPython-compatible: runs under pytest and inside the VM.
import binascii

import fwsupport
from vitale.crypto import p256



def run_file(rel, verify, label):
    data = fwsupport.load_json(rel)
    counts = {"valid": 0, "invalid": 0, "acceptable": 0}
    wrong = []
    for group in data["testGroups"]:
        key = group["publicKey"]
        pub = binascii.unhexlify(key["uncompressed"])
        x, y = p256.decode_point(pub)
        assert x == int(key["wx"], 16) and y == int(key["wy"], 16)
        compressed = p256.encode_point(x, y, True)
        checked_compressed = False
        for t in group["tests"]:
            result = t["result"]
            counts[result] += 1
            msg = binascii.unhexlify(t["msg"])
            sig = binascii.unhexlify(t["sig"])
            got = verify(pub, msg, sig)
            if result != "acceptable" and got != (result == "valid"):
                wrong.append(t["tcId"])
            if result == "valid" and not checked_compressed:
                # the same key, SEC1-compressed, verifies the same signature
                if not verify(compressed, msg, sig):
                    wrong.append(t["tcId"])
                checked_compressed = True
    assert not wrong, "%s: wrong result for tcId %s" % (label, wrong)
    assert sum(counts.values()) == data["numberOfTests"]
    fwsupport.report(label, **counts)


def test_wycheproof_ecdsa_p1363():
    run_file("wycheproof/ecdsa_secp256r1_sha256_p1363_test.json", p256.ecdsa_verify, "wycheproof ecdsa p1363")


def test_wycheproof_ecdsa_der():
    run_file("wycheproof/ecdsa_secp256r1_sha256_test.json", p256.ecdsa_verify_der, "wycheproof ecdsa der")
