"""GCM inner loops, compiled to native code where the runtime can (ESP32).

Hot module (native): import it with `vitale.compat.import_hot("vitale.crypto._gcm_hot")`.
The code is ordinary Python on objects (no viper types), so the bytecode
fallback of the WebAssembly VM and CPython run exactly the same logic.
"""

import struct

from vitale.compat import micropython

_MASK120 = (1 << 120) - 1


@micropython.native
def ghash(m, y, data):
    """Fold data (zero-padded to whole blocks) into the GHASH state y.

    m[b] is H times the byte b (GCM's reflected bit order). Per block,
    sum m[byte] * x^(8j) without reducing, in a 248-bit int (Horner with
    left shifts), then reduce once: the 120 overflow bits t times
    x^128 = 1 + x + x^2 + x^7 are t ^ t>>1 ^ t>>2 ^ t>>7. Fewer big-int
    operations than a per-byte reduction table.
    """
    n = len(data)
    if not n:
        return y
    mask = _MASK120
    mv = memoryview(data)
    full = n & ~15
    i = 0
    while i < n:
        if i < full:
            x = (y ^ int.from_bytes(mv[i : i + 16], "big")).to_bytes(16, "big")
        else:
            v = int.from_bytes(mv[i:n], "big") << (8 * (16 - n + i))
            x = (y ^ v).to_bytes(16, "big")
        e = m[x[0]]
        e = (e << 8) ^ m[x[1]]
        e = (e << 8) ^ m[x[2]]
        e = (e << 8) ^ m[x[3]]
        e = (e << 8) ^ m[x[4]]
        e = (e << 8) ^ m[x[5]]
        e = (e << 8) ^ m[x[6]]
        e = (e << 8) ^ m[x[7]]
        e = (e << 8) ^ m[x[8]]
        e = (e << 8) ^ m[x[9]]
        e = (e << 8) ^ m[x[10]]
        e = (e << 8) ^ m[x[11]]
        e = (e << 8) ^ m[x[12]]
        e = (e << 8) ^ m[x[13]]
        e = (e << 8) ^ m[x[14]]
        e = (e << 8) ^ m[x[15]]
        t = (e & mask) << 8
        y = (e >> 120) ^ t ^ (t >> 1) ^ (t >> 2) ^ (t >> 7)
        i += 16
    return y


@micropython.native
def fill_counters(out, prefix, ctr, nblocks):
    """out[16i:16i+16] = prefix || (ctr + i) mod 2**32 for i < nblocks."""
    o = 0
    for i in range(nblocks):
        out[o : o + 12] = prefix
        struct.pack_into(">I", out, o + 12, (ctr + i) & 0xFFFFFFFF)
        o += 16
