# Runs the credential case corpus (tools/vitale_tools/cred_cases.write_cases) through the FIRMWARE verifier.
# MicroPython-compatible: the host test imports run_case() under CPython, and runs this file as a script
# inside the MicroPython VM with the corpus mounted at /cases; each case prints one line
#   CASE <name> <refusal code | OK> <card as JSON | null>
import binascii
import json

from vitale.cred import mdoc, status, trust, vqr
from vitale.cred.policy import Policy
from vitale.cred.result import Refusal


def _read(folder, name):
    with open(folder + "/" + name, "rb") as f:
        return f.read()


def _current(c):
    if c is None:
        return None
    return (c[0], binascii.unhexlify(c[1]))


def _trust(case, folder, cache):
    # Trust.load of a case's lists; results (or refusals) cached per file pair
    key = (case["trust_list"], case["status_list"], case["pinned_key"])
    if key not in cache:
        pinned = binascii.unhexlify(case["pinned_key"])
        sl = _read(folder, case["status_list"]) if case["status_list"] else None
        try:
            cache[key] = trust.Trust.load(_read(folder, case["trust_list"]), pinned, sl)
        except Refusal as e:
            cache[key] = e
    t = cache[key]
    if isinstance(t, Refusal):
        raise t
    return t


def run_case(case, folder, cache=None):
    """(refusal code or None, card dict or None) of one manifest case."""
    cache = {} if cache is None else cache
    data = _read(folder, case["data"])
    pinned = binascii.unhexlify(case["pinned_key"])
    try:
        kind = case["kind"]
        if kind == "trust_list":
            trust.parse_trust_list(data, pinned, _current(case["trust_current"]))
            return None, None
        if kind == "status_list":
            t = trust.Trust.load(_read(folder, case["trust_list"]), pinned)
            if t.trust_list.status_signer is None:
                raise Refusal("stale_status_list", "no status-list signer")
            status.parse(status.BytesSource(data), t.trust_list.status_signer, _current(case["status_current"]))
            return None, None
        t = _trust(case, folder, cache)
        policy = Policy.from_dict(case["policy"])
        if kind == "vqr":
            replay = vqr.ReplayCache()
            for cti, at in case["replay"]:
                replay.entries[binascii.unhexlify(cti)] = at
            v = vqr.verify(data, t, policy, case["now"], replay)
        else:
            v = mdoc.verify_container(data, t, policy, case["now"])
        return None, v.fields
    except Refusal as e:
        return e.code, None


def main(argv):
    folder = argv[0] if argv else "/cases"
    with open(folder + "/manifest.json") as f:
        cases = json.load(f)["cases"]
    cache = {}
    for case in cases:
        code, card = run_case(case, folder, cache)
        print("CASE", case["name"], code or "OK", json.dumps(card))
    print("DONE", len(cases))


if __name__ == "__main__":
    main(ARGV[1:] if "ARGV" in globals() else [])  # noqa: F821
