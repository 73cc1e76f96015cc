"""Pure-Python AES encryption (FIPS 197) for runtimes without cryptolib.

Only the forward cipher is needed (GCM uses AES in counter mode). The state
is kept as eight 16-bit halves of the four column words: on MicroPython
small ints hold 30 bits, so 32-bit T-table words would be heap-allocated
big ints on every operation, while 16-bit halves never allocate. Each
T-table is split into a high-half and a low-half table.
"""

import struct


def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    # S-box from the multiplicative inverse (walking generator 3 and its
    # inverse together) followed by the affine map.
    s = bytearray(256)
    s[0] = 0x63
    p = q = 1
    while True:
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= (q << 1) & 0xFF
        q ^= (q << 2) & 0xFF
        q ^= (q << 4) & 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q
        for r in (1, 2, 3, 4):
            x ^= ((q << r) | (q >> (8 - r))) & 0xFF
        s[p] = x ^ 0x63
        if p == 1:
            return s


SBOX = _sbox()
# Final-round S-box, pre-shifted into the high byte of a half.
_SH = [0] * 256
# Te0..Te3 split into (high 16 bits, low 16 bits): A=Te0, B=Te1, C=Te2, D=Te3.
_AH = [0] * 256
_AL = [0] * 256
_BH = [0] * 256
_BL = [0] * 256
_CH = [0] * 256
_CL = [0] * 256
_DH = [0] * 256
_DL = [0] * 256


def _tables():
    for i in range(256):
        s = SBOX[i]
        s2 = _xtime(s)
        s3 = s2 ^ s
        _SH[i] = s << 8
        _AH[i] = (s2 << 8) | s
        _AL[i] = (s << 8) | s3
        _BH[i] = (s3 << 8) | s2
        _BL[i] = (s << 8) | s
        _CH[i] = (s << 8) | s3
        _CL[i] = (s2 << 8) | s
        _DH[i] = (s << 8) | s
        _DL[i] = (s3 << 8) | s2


_tables()


def expand_key(key):
    """Round keys as a flat list of 16-bit halves (8 per round) and the round count."""
    nk = len(key) // 4
    nr = nk + 6
    sb = SBOX
    # Words as (hi, lo) pairs to stay within small ints.
    hs = []
    ls = []
    for i in range(nk):
        hs.append((key[4 * i] << 8) | key[4 * i + 1])
        ls.append((key[4 * i + 2] << 8) | key[4 * i + 3])
    rcon = 1
    for i in range(nk, 4 * (nr + 1)):
        h = hs[i - 1]
        lo = ls[i - 1]
        if i % nk == 0:
            h, lo = (
                ((sb[h & 255] << 8) | sb[lo >> 8]) ^ (rcon << 8),
                (sb[lo & 255] << 8) | sb[h >> 8],
            )
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            h = (sb[h >> 8] << 8) | sb[h & 255]
            lo = (sb[lo >> 8] << 8) | sb[lo & 255]
        hs.append(hs[i - nk] ^ h)
        ls.append(ls[i - nk] ^ lo)
    rk = []
    for i in range(len(hs)):
        rk.append(hs[i])
        rk.append(ls[i])
    return rk, nr


def _mid_rounds(rk, first, nr):
    # Round keys of rounds first..nr-1 as 8-tuples: unpacking one tuple per
    # round is cheaper in the VM than eight indexed loads.
    return [tuple(rk[8 * r : 8 * r + 8]) for r in range(first, nr)]


class PureAES:
    """AES-128/192/256 forward cipher with its key schedule expanded once."""

    def __init__(self, key):
        self.rk, self.nr = expand_key(key)
        self._mid1 = _mid_rounds(self.rk, 1, self.nr)
        self._mid3 = _mid_rounds(self.rk, 3, self.nr)

    def encrypt_block(self, block):
        """Encrypt one 16-byte block; returns 16 bytes."""
        out = bytearray(16)
        rk = self.rk
        h0, l0, h1, l1, h2, l2, h3, l3 = struct.unpack(">8H", block)
        h0 ^= rk[0]
        l0 ^= rk[1]
        h1 ^= rk[2]
        l1 ^= rk[3]
        h2 ^= rk[4]
        l2 ^= rk[5]
        h3 ^= rk[6]
        l3 ^= rk[7]
        _finish_block(out, 0, self._mid1, 8 * self.nr, rk, h0, l0, h1, l1, h2, l2, h3, l3)
        return bytes(out)

    def ctr(self, prefix, ctr, out, nblocks):
        """Write E(prefix || (ctr + i) mod 2**32) for i < nblocks into out (16*nblocks bytes).

        Counter-mode cache: while only the counter's low byte changes, all
        of round 1 but one column and three quarters of round 2 are constant,
        so they are computed once per 256 blocks.
        """
        ah = _AH
        al = _AL
        bh = _BH
        bl = _BL
        ch = _CH
        cl = _CL
        dh = _DH
        dl = _DL
        rk = self.rk
        mid = self._mid3
        kf = 8 * self.nr
        p0, p1, p2, p3, p4, p5 = struct.unpack(">6H", prefix)
        s0 = p0 ^ rk[0]
        t0 = p1 ^ rk[1]
        s1 = p2 ^ rk[2]
        t1 = p3 ^ rk[3]
        s2 = p4 ^ rk[4]
        t2 = p5 ^ rk[5]
        chi = (ctr >> 16) & 0xFFFF
        clo = ctr & 0xFFFF
        rlo = rk[7] & 255
        off = 0
        run = -1
        for _ in range(nblocks):
            if run != clo >> 8:
                run = clo >> 8
                s3 = chi ^ rk[6]
                t3 = clo ^ rk[7]
                # round 1, constant columns 1..3 and the constant part of column 0
                a = s0 >> 8
                b = s1 & 255
                c = t2 >> 8
                c0h = ah[a] ^ bh[b] ^ ch[c] ^ rk[8]
                c0l = al[a] ^ bl[b] ^ cl[c] ^ rk[9]
                a = s1 >> 8
                b = s2 & 255
                c = t3 >> 8
                d = t0 & 255
                u1 = ah[a] ^ bh[b] ^ ch[c] ^ dh[d] ^ rk[10]
                v1 = al[a] ^ bl[b] ^ cl[c] ^ dl[d] ^ rk[11]
                a = s2 >> 8
                b = s3 & 255
                c = t0 >> 8
                d = t1 & 255
                u2 = ah[a] ^ bh[b] ^ ch[c] ^ dh[d] ^ rk[12]
                v2 = al[a] ^ bl[b] ^ cl[c] ^ dl[d] ^ rk[13]
                a = s3 >> 8
                b = s0 & 255
                c = t1 >> 8
                d = t2 & 255
                u3 = ah[a] ^ bh[b] ^ ch[c] ^ dh[d] ^ rk[14]
                v3 = al[a] ^ bl[b] ^ cl[c] ^ dl[d] ^ rk[15]
                # round 2: the parts not depending on column 0
                b = u1 & 255
                c = v2 >> 8
                d = v3 & 255
                q0h = bh[b] ^ ch[c] ^ dh[d] ^ rk[16]
                q0l = bl[b] ^ cl[c] ^ dl[d] ^ rk[17]
                a = u1 >> 8
                b = u2 & 255
                c = v3 >> 8
                q1h = ah[a] ^ bh[b] ^ ch[c] ^ rk[18]
                q1l = al[a] ^ bl[b] ^ cl[c] ^ rk[19]
                a = u2 >> 8
                b = u3 & 255
                d = v1 & 255
                q2h = ah[a] ^ bh[b] ^ dh[d] ^ rk[20]
                q2l = al[a] ^ bl[b] ^ dl[d] ^ rk[21]
                a = u3 >> 8
                c = v1 >> 8
                d = v2 & 255
                q3h = ah[a] ^ ch[c] ^ dh[d] ^ rk[22]
                q3l = al[a] ^ cl[c] ^ dl[d] ^ rk[23]
            x = (clo & 255) ^ rlo
            u0 = c0h ^ dh[x]
            v0 = c0l ^ dl[x]
            a = u0 >> 8
            b = u0 & 255
            c = v0 >> 8
            d = v0 & 255
            h0 = q0h ^ ah[a]
            l0 = q0l ^ al[a]
            h1 = q1h ^ dh[d]
            l1 = q1l ^ dl[d]
            h2 = q2h ^ ch[c]
            l2 = q2l ^ cl[c]
            h3 = q3h ^ bh[b]
            l3 = q3l ^ bl[b]
            _finish_block(out, off, mid, kf, rk, h0, l0, h1, l1, h2, l2, h3, l3)
            off += 16
            clo += 1
            if clo == 0x10000:
                clo = 0
                chi = (chi + 1) & 0xFFFF


def _finish_block(out, off, mid, kf, rk, h0, l0, h1, l1, h2, l2, h3, l3):
    # The rounds in `mid`, then the last round (no MixColumns), into out[off:off+16].
    ah = _AH
    al = _AL
    bh = _BH
    bl = _BL
    ch = _CH
    cl = _CL
    dh = _DH
    dl = _DL
    for r0, r1, r2, r3, r4, r5, r6, r7 in mid:
        a = h0 >> 8
        b = h1 & 255
        c = l2 >> 8
        d = l3 & 255
        y0 = ah[a] ^ bh[b] ^ ch[c] ^ dh[d] ^ r0
        z0 = al[a] ^ bl[b] ^ cl[c] ^ dl[d] ^ r1
        a = h1 >> 8
        b = h2 & 255
        c = l3 >> 8
        d = l0 & 255
        y1 = ah[a] ^ bh[b] ^ ch[c] ^ dh[d] ^ r2
        z1 = al[a] ^ bl[b] ^ cl[c] ^ dl[d] ^ r3
        a = h2 >> 8
        b = h3 & 255
        c = l0 >> 8
        d = l1 & 255
        y2 = ah[a] ^ bh[b] ^ ch[c] ^ dh[d] ^ r4
        z2 = al[a] ^ bl[b] ^ cl[c] ^ dl[d] ^ r5
        a = h3 >> 8
        b = h0 & 255
        c = l1 >> 8
        d = l2 & 255
        h3 = ah[a] ^ bh[b] ^ ch[c] ^ dh[d] ^ r6
        l3 = al[a] ^ bl[b] ^ cl[c] ^ dl[d] ^ r7
        h0 = y0
        l0 = z0
        h1 = y1
        l1 = z1
        h2 = y2
        l2 = z2
    sh = _SH
    sb = SBOX
    struct.pack_into(
        ">8H",
        out,
        off,
        (sh[h0 >> 8] | sb[h1 & 255]) ^ rk[kf],
        (sh[l2 >> 8] | sb[l3 & 255]) ^ rk[kf + 1],
        (sh[h1 >> 8] | sb[h2 & 255]) ^ rk[kf + 2],
        (sh[l3 >> 8] | sb[l0 & 255]) ^ rk[kf + 3],
        (sh[h2 >> 8] | sb[h3 & 255]) ^ rk[kf + 4],
        (sh[l0 >> 8] | sb[l1 & 255]) ^ rk[kf + 5],
        (sh[h3 >> 8] | sb[h0 & 255]) ^ rk[kf + 6],
        (sh[l1 >> 8] | sb[l2 & 255]) ^ rk[kf + 7],
    )
