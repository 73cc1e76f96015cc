"""Every vector of Wycheproof hkdf_sha256_test.json and hmac_sha256_test.json (CPython and VM)."""

from binascii import unhexlify

import fwsupport
from vitale.crypto import CryptoError
from vitale.crypto.hkdf import hkdf_sha256
from vitale.crypto.hmac import compare_digest, hmac_sha256


def test_wycheproof_hkdf_sha256():
    doc = fwsupport.load_json("wycheproof/hkdf_sha256_test.json")
    counts = {"valid": 0, "invalid": 0}
    wrong = []
    for g in doc["testGroups"]:
        for t in g["tests"]:
            ikm = unhexlify(t["ikm"])
            salt = unhexlify(t["salt"])
            info = unhexlify(t["info"])
            try:
                ok = hkdf_sha256(ikm, salt, info, t["size"]) == unhexlify(t["okm"])
            except CryptoError:
                ok = False
            if ok != (t["result"] == "valid"):
                wrong.append(t["tcId"])
            counts[t["result"]] += 1
    assert not wrong, "vectors with the wrong outcome: %r" % (wrong,)
    assert counts["valid"] + counts["invalid"] == doc["numberOfTests"]
    assert counts["invalid"] == 3  # the SizeTooLarge vectors
    fwsupport.report("wycheproof hkdf-sha256", **counts)


def test_wycheproof_hmac_sha256():
    doc = fwsupport.load_json("wycheproof/hmac_sha256_test.json")
    counts = {"valid": 0, "invalid": 0, "truncated_tag": 0}
    wrong = []
    for g in doc["testGroups"]:
        n = g["tagSize"] // 8
        for t in g["tests"]:
            tag = unhexlify(t["tag"])
            mac = hmac_sha256(unhexlify(t["key"]), unhexlify(t["msg"]))[:n]
            ok = len(tag) == n and compare_digest(mac, tag)
            if ok != (t["result"] == "valid"):
                wrong.append(t["tcId"])
            counts[t["result"]] += 1
            if n < 32:
                counts["truncated_tag"] += 1
    assert not wrong, "vectors with the wrong outcome: %r" % (wrong,)
    assert counts["valid"] + counts["invalid"] == doc["numberOfTests"]
    fwsupport.report("wycheproof hmac-sha256", **counts)
