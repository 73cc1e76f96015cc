# Credential benchmark that runs unchanged under CPython and in the MicroPython VM.
# Input: a folder made by vitale_tools.bench.cred (trust list, pinned key, the 70-million-entry status
# list, a VQR text, verify containers); the status list is installed into a vitale.store.Store at
# --store= (a fresh folder) and read back from there. Prints
#   RESULT name us_per_op bytes_per_op n        (bytes_per_op -1 where allocations are not counted)
#   INFO name value
import gc
import json
import sys

try:  # type comments only: the VM has no typing module
    from typing import Any, Callable  # noqa: F401
except ImportError:
    pass

from vitale import compat  # type: ignore[import-not-found]
from vitale.cred import mdoc, status, trust, vqr  # type: ignore[import-not-found]
from vitale.cred.policy import Policy  # type: ignore[import-not-found]
from vitale.store import Store  # type: ignore[import-not-found]

try:
    from vitale_tools.bench.vmbench import measure
except ImportError:  # inside the VM it is mounted beside the firmware
    from vmbench import measure  # type: ignore[import-not-found,no-redef]

_G = globals()
ARGS = (_G["ARGV"] if "ARGV" in _G else sys.argv)[1:]  # the VM passes its arguments as ARGV
FOLDER = "/bench"
STORE = "/flash"
SCALE = 1
for _a in ARGS:
    if _a.startswith("--scale="):
        SCALE = max(1, int(_a[8:]))
    elif _a.startswith("--dir="):
        FOLDER = _a[6:]
    elif _a.startswith("--store="):
        STORE = _a[8:]


def _read(name, mode="rb"):
    # type: (str, str) -> Any
    with open(FOLDER + "/" + name, mode) as f:
        return f.read()


def main():
    # type: () -> None
    meta = json.loads(_read("meta.json", "r"))
    now = meta["now"]
    pinned = _read("pinned.bin")
    trust_bytes = _read("trust-list.cose")
    store = Store(STORE)
    status_bytes = _read("status-list.cose")
    text = _read("vqr.txt")
    sig_c = _read("mdoc-billing-signature.cbor")
    mac_c = _read("mdoc-billing-mac.cbor")
    billing = Policy(profile="billing", doc_type="org.vitale-reader.hic.1")

    tl = trust.parse_trust_list(trust_bytes, pinned)
    measure("trust_list_load", lambda: trust.parse_trust_list(trust_bytes, pinned), 2 * SCALE)
    # install: verify the received file, write it atomically to the store, read it back from flash
    measure("status_list_install", lambda: trust.install_status(store, status_bytes, tl), SCALE)
    del status_bytes
    gc.collect()
    measure("status_list_load", lambda: status.load(store, tl.status_signer), SCALE)
    t = trust.Trust(tl, status.load(store, tl.status_signer))
    sl = t.status
    print("INFO status_file_bytes %d" % sl.file_size)
    print("INFO status_directory_bytes %d" % sl.dir_len)
    print("INFO status_data_bytes %d" % sl.data_len)
    print("INFO status_size %d" % sl.size)
    print("INFO status_revoked %d" % sl.revoked_count)

    probes = meta["probes"]
    revoked = meta["revoked_probes"]
    for x in revoked:
        assert sl.is_revoked(x), x
    state = [0]

    def lookup():
        # type: () -> Any
        x = probes[state[0] % len(probes)]
        state[0] += 1
        return sl.is_revoked(x)

    before = sl.src.bytes_read
    n = 0
    for x in probes:
        assert sl.is_revoked(x) == (x in revoked)
        n += 1
    print("INFO status_bytes_read_per_lookup %d" % ((sl.src.bytes_read - before) // n))
    measure("status_lookup", lookup, 100 * SCALE)

    def vqr_once():
        # type: () -> Any
        v = vqr.verify(text, t, Policy(), now, vqr.ReplayCache())
        assert v.fields["nir"]

    def mdoc_sig():
        # type: () -> Any
        v = mdoc.verify_container(sig_c, t, billing, now)
        assert v.device_auth == "signature"

    def mdoc_mac():
        # type: () -> Any
        v = mdoc.verify_container(mac_c, t, billing, now)
        assert v.device_auth == "mac"

    def vqr_cold():  # a document signer not seen before: its chain signature is checked too
        # type: () -> Any
        v = vqr.verify(text, trust.Trust(tl, sl), Policy(), now, vqr.ReplayCache())
        assert v.fields["nir"]

    def mdoc_cold():
        # type: () -> Any
        v = mdoc.verify_container(sig_c, trust.Trust(tl, sl), billing, now)
        assert v.device_auth == "signature"

    measure("vqr_verify_new_signer", vqr_cold, 10 * SCALE)
    measure("mdoc_verify_billing_new_signer", mdoc_cold, 10 * SCALE)
    measure("vqr_verify", vqr_once, 10 * SCALE)
    measure("mdoc_verify_billing_signature", mdoc_sig, 10 * SCALE)
    measure("mdoc_verify_billing_mac", mdoc_mac, 10 * SCALE)
    print("INFO vqr_text_chars %d" % len(text))
    print("INFO mdoc_container_bytes %d" % len(sig_c))


main()
