# Crypto micro-benchmark that runs unchanged under CPython and in the MicroPython VM.
# Prints one line per measurement: "RESULT name us_per_op bytes_per_op n".
# bytes_per_op is -1 where the runtime cannot count allocations (CPython).
import sys

from vitale import compat
from vitale.crypto import p256, aesgcm, hkdf
from vitale.codec import cbor

try:
    from vitale_tools.bench import naive_p256
    from vitale_tools.bench.vmbench import measure
except ImportError:  # inside the VM these sit beside the firmware
    import naive_p256
    from vmbench import measure

ROUNDS_SCALE = 1
for _a in (ARGV[1:] if "ARGV" in globals() else sys.argv[1:]):  # noqa: F821
    if _a.startswith("--scale="):
        ROUNDS_SCALE = max(1, int(_a[8:]))


def nested_doc():
    """A ~3 KB nested structure shaped like an mdoc response."""
    items = []
    for i in range(24):
        items.append(cbor.Tag(24, cbor.dumps({
            "digestID": i,
            "random": bytes((i * 7 + k) & 0xFF for k in range(16)),
            "elementIdentifier": "element_%d" % i,
            "elementValue": {"text": "value %d" % i, "n": i * 1000, "list": [1, 2, 3, i]},
        })))
    return {"version": "1.0", "documents": [{"docType": "org.vitale-reader.hic.1",
            "issuerSigned": {"nameSpaces": {"org.vitale-reader.hic.1": items}}}], "status": 0}


def main():
    s = ROUNDS_SCALE
    priv, pub = p256.generate_keypair()
    msg = b"benchmark message " * 8
    sig = p256.ecdsa_sign(priv, msg)
    assert p256.ecdsa_verify(pub, msg, sig)
    priv2, pub2 = p256.generate_keypair()
    key = bytes(range(32))
    iv = bytes(12)
    data2k = bytes(i & 0xFF for i in range(2048))
    doc = cbor.dumps(nested_doc())
    print("INFO cbor_doc_bytes %d" % len(doc))
    k = int.from_bytes(priv, "big")
    gx, gy = naive_p256.G

    measure("ecdsa_verify", lambda: p256.ecdsa_verify(pub, msg, sig), 3 * s)
    measure("ecdsa_sign", lambda: p256.ecdsa_sign(priv, msg), 3 * s)
    measure("ecdh", lambda: p256.ecdh(priv, pub2), 3 * s)
    measure("naive_scalar_mult", lambda: naive_p256.scalar_mult(k, gx, gy), 2 * s)
    measure("aes256gcm_encrypt_2k", lambda: aesgcm.encrypt(key, iv, data2k, b""), 2 * s)
    measure("hkdf_sha256_32", lambda: hkdf.hkdf_sha256(key, b"salt", b"info", 32), 20 * s)
    measure("cbor_decode_3k", lambda: cbor.loads(doc), 5 * s)


main()
