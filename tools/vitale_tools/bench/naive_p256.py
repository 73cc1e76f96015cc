# Textbook P-256 scalar multiplication: affine coordinates, left-to-right
# double-and-add, one modular inversion per point operation. The benchmark's
# reference point; MicroPython-compatible so it runs unchanged in the VM.

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


def inverse(a):
    """a^-1 mod P (Fermat, the one way both CPython and MicroPython have)."""
    return pow(a, P - 2, P)


def add(p1, p2):
    """Affine sum of two points; None is the point at infinity."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 + A) * inverse(2 * y1) % P
    else:
        lam = (y2 - y1) * inverse(x2 - x1) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def scalar_mult(k, x, y):
    """k*(x, y) by double-and-add from the most significant bit; None for infinity."""
    result = None
    point = (x, y)
    bits = []
    while k:
        bits.append(k & 1)
        k >>= 1
    for i in range(len(bits) - 1, -1, -1):
        result = add(result, result)
        if bits[i]:
            result = add(result, point)
    return result


naive_scalar_mult = scalar_mult
