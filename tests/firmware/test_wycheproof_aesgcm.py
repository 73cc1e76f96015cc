"""Every vector of Wycheproof aes_gcm_test.json, in CPython and in the MicroPython VM.

Accepted: keys of 128/192/256 bits, IVs of any non-zero length, 128-bit
tags (the only tag size in the file). Refused by design: empty IVs (the
file expects those to be invalid). A "valid" vector we refuse counts as a
failure, never as a pass.
"""

from binascii import unhexlify

import fwsupport
from vitale.crypto import CryptoError, aesgcm

_FILE = "wycheproof/aes_gcm_test.json"


def _check(select, label):
    doc = fwsupport.load_json(_FILE)
    counts = {"valid": 0, "invalid": 0, "refused_by_design": 0}
    wrong = []
    for g in doc["testGroups"]:
        if not select(g["keySize"], g["ivSize"]):
            continue
        assert g["tagSize"] == 128
        for t in g["tests"]:
            key = unhexlify(t["key"])
            iv = unhexlify(t["iv"])
            aad = unhexlify(t["aad"])
            msg = unhexlify(t["msg"])
            ct = unhexlify(t["ct"])
            tag = unhexlify(t["tag"])
            try:
                got = aesgcm.decrypt(key, iv, ct + tag, aad)
                dec_ok = got == msg
            except CryptoError:
                dec_ok = False
            try:
                enc_ok = aesgcm.encrypt(key, iv, msg, aad) == ct + tag
                refused = False
            except CryptoError:
                enc_ok = False
                refused = True
            if t["result"] == "valid":
                if not (dec_ok and enc_ok):
                    wrong.append(t["tcId"])
                counts["valid"] += 1
            else:
                if dec_ok:
                    wrong.append(t["tcId"])
                counts["invalid"] += 1
                if refused:
                    counts["refused_by_design"] += 1
    assert not wrong, "vectors with the wrong outcome: %r" % (wrong,)
    fwsupport.report(label, **counts)
    return counts, doc["numberOfTests"]


def test_aes256_iv96():
    c, _ = _check(lambda k, iv: k == 256 and iv == 96, "wycheproof aes-gcm 256-bit key 96-bit iv")
    assert c["valid"] == 39 and c["invalid"] == 27


def test_other_key_and_iv_sizes():
    c, _ = _check(lambda k, iv: not (k == 256 and iv == 96), "wycheproof aes-gcm other key/iv sizes")
    assert c["valid"] + c["invalid"] == 316 - 66
    # the only vectors refused outright are the six empty-iv ones, all "invalid"
    assert c["refused_by_design"] == 6
