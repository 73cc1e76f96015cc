"""Revocation by status index: the signed, Rice-coded status list (docs/trust-and-status.md §3, §4).

The list can be far larger than the RAM (718 kB for 70 million credentials),
so it is never loaded whole: it is read through a *source* (`BytesSource` over
bytes, `FileSource` over a file on flash) and

  parse(src, signer, current=None) -> StatusList
      streams the file once: COSE_Sign1 structure, ES256 signature by `signer`
      (65-byte SEC1 point) hashed piecewise, the payload's ten fields, the
      directory; `current` = (seq, payload SHA-256) of the list in use -> rollback.
  StatusList.is_revoked(index)   reads 16 directory bytes and one chunk (< 1 kB),
      decodes Rice-coded gaps only up to `index`.
  check(trust, index, now, policy)  freshness (max age, not from the future) then
      revocation: Refusal stale_status_list / revoked.
  install(store, data, signer) / load(store, signer)   the list kept in a
      vitale.store.Store (atomic writes); `load` reads it back as a FileSource.
  stage(store, total) -> vitale.store.Writer; install_staged(store, signer)
      a list too large for the RAM: streamed to flash as STAGE_FILE, verified
      there, then renamed over STATUS_FILE (Store.replace); a refused one is dropped.

Signed-list helpers shared with trust.py: `open_signed` (the COSE_Sign1
envelope of both lists, streamed), `read_head`, `sign1_headers`.
Every refusal is a vitale.cred.result.Refusal with the documented code.
"""

import hashlib

from vitale.codec import cbor
from vitale.cred.result import Refusal
from vitale.crypto import p256

STATUS_LIST_TYPE = "vitale-reader/status-list/1"
STATUS_FILE = "status-list"
STAGE_FILE = "status-list.new"  # a streamed upload, until verified
ALG_ES256 = -7

_WINDOW = 1024   # bytes read at once while hashing / scanning the directory
_UNPROT_MAX = 4096  # each header of a list must fit this window (the host has no limit: a few kB is plenty)

# number of leading one-bits of each byte value
_LEAD1 = bytes([0] * 128 + [1] * 64 + [2] * 32 + [3] * 16 + [4] * 8 + [5] * 4 + [6] * 2 + [7, 8])

_SIG1_CONTEXT = b"\x84\x6aSignature1"


def malformed(detail):
    """Refusal('malformed', detail)."""
    return Refusal("malformed", detail)


def is_uint(v):
    """A CBOR unsigned integer (not a bool)."""
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < (1 << 64)


def strict_loads(data, what):
    """One strict CBOR item (definite lengths, no duplicate keys, nothing after it), else `malformed`."""
    try:
        return cbor.loads(data, strict=True)
    except cbor.CborError as e:
        raise malformed(what + " CBOR: " + e.reason)




# --- sources ---------------------------------------------------------------


class BytesSource:
    """Random access to bytes in RAM; `bytes_read` counts what was read."""

    def __init__(self, data):
        self._mv = memoryview(data)
        self.size = len(data)
        self.bytes_read = 0

    def read(self, off, n):
        """Up to n bytes at off (fewer at the end)."""
        b = bytes(self._mv[off:off + n])
        self.bytes_read += len(b)
        return b

    def pieces(self, off, n):
        """The n bytes at off as successive views of at most _WINDOW bytes (valid until the next one)."""
        end = min(off + n, self.size)
        while off < end:
            m = min(_WINDOW, end - off)
            self.bytes_read += m
            yield self._mv[off:off + m]
            off += m


class FileSource:
    """Random access to `size` bytes stored at `base` in a file (opened per read)."""

    def __init__(self, fs, path, base, size):
        self.fs = fs
        self.path = path
        self.base = base
        self.size = size
        self.bytes_read = 0

    def read(self, off, n):
        """Up to n bytes at off (fewer at the end)."""
        n = min(n, self.size - off)
        if n <= 0:
            return b""
        with self.fs.open(self.path, "rb") as f:
            f.seek(self.base + off)
            b = f.read(n)
        self.bytes_read += len(b)
        return b

    def pieces(self, off, n):
        """The n bytes at off as successive views of at most _WINDOW bytes (valid until the next one).

        The file is opened once and read into one reused buffer.
        """
        n = min(n, self.size - off)
        buf = bytearray(_WINDOW)
        mv = memoryview(buf)
        with self.fs.open(self.path, "rb") as f:
            f.seek(self.base + off)
            while n > 0:
                got = f.readinto(buf if n >= _WINDOW else mv[:n])  # full windows: no new view
                if not got:
                    break
                self.bytes_read += got
                n -= got
                yield mv if got == _WINDOW else mv[:got]


# --- the signed envelope -----------------------------------------------------


def read_head(src, off, end):
    """(major type, argument, offset after the head) of the CBOR head at off; definite lengths only."""
    if off >= end:
        raise malformed("truncated CBOR")
    b = src.read(off, 9)
    if not b:
        raise malformed("truncated CBOR")
    ib = b[0]
    major = ib >> 5
    ai = ib & 31
    if ai < 24:
        return major, ai, off + 1
    if ai > 27:
        raise malformed("indefinite length or reserved CBOR header")
    n = 1 << (ai - 24)
    if off + 1 + n > end or len(b) < 1 + n:
        raise malformed("truncated CBOR")
    return major, int.from_bytes(b[1:1 + n], "big"), off + 1 + n


def sign1_headers(prot_raw, unprot, what):
    """The decoded protected header of a COSE message; the header rules of the host verifier."""
    if len(prot_raw) == 0:
        prot = {}
    else:
        prot = strict_loads(prot_raw, what + " protected header")
    if not isinstance(prot, dict):
        raise malformed(what + " protected header is not a map")
    for k in prot:
        if k in unprot:
            raise malformed(what + " has a header label both protected and unprotected")
    if 1 in unprot:
        raise malformed(what + " alg must be protected")
    return prot


def _bstr_at(src, off, end, what):
    major, n, off = read_head(src, off, end)
    if major != 2:
        raise malformed(what + " is not a byte string")
    if n > end - off:
        raise malformed("truncated CBOR string")
    return off, n


def open_signed(src, key, what):
    """Check the COSE_Sign1 list file in src; (payload offset, payload length, SHA-256 of the payload).

    key None skips the signature (used only to read the sequence of a list already accepted).
    Order of checks: structure -> malformed, alg -> unsupported_alg, signature -> bad_list_signature.
    """
    end = src.size
    major, arg, off = read_head(src, 0, end)
    if major == 6:
        if arg != 18:
            raise malformed(what + " is not a COSE_Sign1 (tag 18) array of 4")
        major, arg, off = read_head(src, off, end)
    if major != 4 or arg != 4:
        raise malformed(what + " is not a COSE array of 4")
    poff, plen = _bstr_at(src, off, end, what + " protected header")
    if plen > _UNPROT_MAX:
        raise malformed(what + " protected header too large")
    prot_raw = src.read(poff, plen)
    off = poff + plen
    win = src.read(off, min(end - off, _UNPROT_MAX))
    try:
        d = cbor.Decoder(win, strict=True)
        unprot = d.decode_item()
    except cbor.CborError as e:
        raise malformed(what + " CBOR: " + e.reason)
    if not isinstance(unprot, dict):
        raise malformed(what + " has wrong COSE field types")
    off += d.pos
    major, arg, p = read_head(src, off, end)
    if major == 7 and arg == 22:
        payload_off = None
        off = p
    else:
        payload_off, payload_len = _bstr_at(src, off, end, what + " payload")
        off = payload_off + payload_len
    soff, slen = _bstr_at(src, off, end, what + " signature")
    if soff + slen != end:
        raise malformed("trailing bytes after CBOR item")
    sig = src.read(soff, slen) if slen == 64 else b""  # any other length fails the signature check
    prot = sign1_headers(prot_raw, unprot, what)
    alg = prot.get(1)
    if alg != ALG_ES256:
        raise Refusal("unsupported_alg", what + " alg " + repr(alg))
    if payload_off is None:
        raise malformed(what + " payload is detached")
    h = hashlib.sha256(_SIG1_CONTEXT)
    h.update(cbor.head(2, plen))
    h.update(prot_raw)
    h.update(b"\x40")
    h.update(cbor.head(2, payload_len))
    ph = hashlib.sha256()
    for piece in src.pieces(payload_off, payload_len):
        h.update(piece)
        ph.update(piece)
    if key is not None and not p256.ecdsa_verify_digest(key, h.digest(), sig):
        raise Refusal("bad_list_signature", what + " signature")
    return payload_off, payload_len, ph.digest()


def check_seq(what, seq, payload_hash, current):
    """Refusal('rollback') when (seq, payload_hash) is older than `current` (seq, hash), or equal but different."""
    if current is None:
        return
    cur_seq, cur_hash = current
    if seq < cur_seq or (seq == cur_seq and payload_hash != cur_hash):
        raise Refusal("rollback", what + " sequence " + str(seq) + " after " + str(cur_seq))


# --- the status list ---------------------------------------------------------


class _Unusable(Exception):
    pass


class StatusList:
    """A verified status list read through a source (see the module notes)."""

    def __init__(self, src):
        self.src = src
        self.seq = 0
        self.issued_at = 0
        self.next_update = 0
        self.size = 0
        self.revoked_count = 0
        self.rice_k = 0
        self.chunk_shift = 0
        self.payload_hash = b""
        self.file_size = src.size
        self.dir_off = 0
        self.dir_len = 0
        self.data_off = 0
        self.data_len = 0

    @property
    def chunks(self):
        """Number of chunks (directory entries)."""
        return self.dir_len >> 3

    def chunk(self, i):
        """(byte offset in data, byte length, count) of chunk i."""
        last = i + 1 >= self.chunks
        e = self.src.read(self.dir_off + 8 * i, 8 if last else 16)
        off = int.from_bytes(e[0:4], "big")
        count = int.from_bytes(e[4:8], "big")
        nxt = self.data_len if last else int.from_bytes(e[8:12], "big")
        return off, nxt - off, count

    def _scan(self, i, x):
        # Decode chunk i. x None: every index (checked to the last padding bit); else stop at x.
        off, length, count = self.chunk(i)
        buf = self.src.read(self.data_off + off, length)
        k = self.rice_k
        shift = self.chunk_shift
        qmax = 1 << shift
        limit = min(self.size, (i + 1) << shift)
        nbytes = len(buf)
        nbits = nbytes << 3
        mask = (1 << k) - 1
        lead1 = _LEAD1
        prev = (i << shift) - 1
        pos = 0
        out = [] if x is None else None  # type: list | None
        for _ in range(count):
            q = 0
            while True:
                bi = pos >> 3
                if bi >= nbytes:
                    raise _Unusable("status chunk truncated")
                sh = pos & 7
                avail = 8 - sh
                ones = lead1[(buf[bi] << sh) & 0xFF]
                if ones < avail:
                    q += ones
                    pos += ones + 1
                    break
                q += avail
                pos += avail
                if q > qmax:
                    raise _Unusable("status chunk gap too large")
            if q > qmax:
                raise _Unusable("status chunk gap too large")
            r = 0
            if k:
                if pos + k > nbits:
                    raise _Unusable("status chunk truncated")
                bi = pos >> 3
                need = (pos & 7) + k
                nb = (need + 7) >> 3
                v = 0
                for j in range(nb):
                    v = (v << 8) | buf[bi + j]
                r = (v >> ((nb << 3) - need)) & mask
                pos += k
            idx = prev + 1 + ((q << k) | r)
            if idx >= limit:
                raise _Unusable("status index outside its chunk")
            if out is None:
                if idx >= x:
                    return idx == x
            else:
                out.append(idx)
            prev = idx
        if out is None:
            return False
        if nbits - pos >= 8:
            raise _Unusable("status chunk has trailing bytes")
        return out

    def chunk_indices(self, i):
        """Every revoked index of chunk i, the whole chunk checked; Refusal('malformed') if it does not decode."""
        try:
            return self._scan(i, None)
        except _Unusable as e:
            raise malformed(e.args[0])

    def is_revoked(self, index):
        """Whether index is revoked; Refusal('stale_status_list') when the list does not cover it or cannot be read."""
        if index >= self.size:
            raise Refusal("stale_status_list", "status list covers " + str(self.size) + " indices, not " + str(index))
        try:
            return self._scan(index >> self.chunk_shift, index)
        except _Unusable as e:
            raise Refusal("stale_status_list", "status list chunk unusable: " + e.args[0])


def parse(src, signer, current=None):
    """Verify a status list file read through src (see the module notes); Refusal on failure."""
    poff, plen, phash = open_signed(src, signer, STATUS_LIST_TYPE)
    end = poff + plen
    major, arg, off = read_head(src, poff, end)
    if major != 5 or arg != 10:
        raise malformed("status list keys must be 1..10 in this order")
    vals = [None] * 11  # type: list
    for key in range(1, 11):
        major, arg, off = read_head(src, off, end)
        if major != 0 or arg != key:
            raise malformed("status list keys must be 1..10 in this order")
        major, arg, off = read_head(src, off, end)
        if key == 1:
            if major != 3 or arg > end - off or src.read(off, arg) != STATUS_LIST_TYPE.encode():
                raise malformed("payload is not a " + STATUS_LIST_TYPE)
            off += arg
        elif key <= 8:
            if major != 0:
                raise malformed("status list key " + str(key) + " must be a uint")
            vals[key] = arg
        else:
            if major != 2 or arg > end - off:
                raise malformed("status list directory and data must be byte strings")
            vals[key] = (off, arg)
            off += arg
    if off != end:
        raise malformed("trailing bytes in the status list payload")
    sl = StatusList(src)
    sl.seq, sl.issued_at, sl.next_update, sl.size, sl.revoked_count, sl.rice_k, sl.chunk_shift = vals[2:9]
    sl.dir_off, sl.dir_len = vals[9]
    sl.data_off, sl.data_len = vals[10]
    sl.payload_hash = phash
    if not 8 <= sl.chunk_shift <= 24 or sl.rice_k > 24 or sl.size >= 1 << 32 or sl.revoked_count > sl.size:
        raise malformed("status list parameters out of range")
    chunks = (sl.size + (1 << sl.chunk_shift) - 1) >> sl.chunk_shift
    if sl.dir_len != 8 * chunks:
        raise malformed("status list directory size")
    _check_directory(sl, chunks)
    check_seq("status list", sl.seq, phash, current)
    return sl


def _check_directory(sl, chunks):
    # offsets start at 0, never decrease, stay inside data; counts add up (read in windows)
    # entry i is checked when entry i+1 (its end) is known; the last one ends at len(data)
    # (no allocation per entry: the national list has over a thousand)
    prev = 0
    total = 0
    limit = 1 << sl.chunk_shift
    data_len = sl.data_len
    have = False
    coff = 0
    ccount = 0
    rest = b""
    for piece in sl.src.pieces(sl.dir_off, sl.dir_len):
        if rest:  # a short read split an entry
            piece = rest + bytes(piece)
        whole = len(piece) & ~7
        for j in range(0, whole, 8):
            off = (piece[j] << 24) | (piece[j + 1] << 16) | (piece[j + 2] << 8) | piece[j + 3]
            if have:
                if coff != prev or off < coff or off > data_len or ccount > limit:
                    raise malformed("status list directory offsets")
                prev = off
                total += ccount
            coff = off
            ccount = (piece[j + 4] << 24) | (piece[j + 5] << 16) | (piece[j + 6] << 8) | piece[j + 7]
            have = True
        rest = bytes(piece[whole:]) if whole < len(piece) else b""
    if have:
        if coff != prev or data_len < coff or ccount > limit:
            raise malformed("status list directory offsets")
        prev = data_len
        total += ccount
    if prev != data_len or total != sl.revoked_count:
        raise malformed("status list directory does not match the data")


def check(trust, index, now, policy):
    """The revocation check of a credential with status index `index` at reader time now."""
    sl = trust.status
    if sl is None:
        err = trust.status_error
        raise Refusal("stale_status_list", "status list refused (" + err.code + ")" if err else "no status list")
    if sl.issued_at > now + policy.clock_skew_s:
        raise Refusal("stale_status_list", "status list issued in the future")
    if now - sl.issued_at > policy.status_max_age_s:
        raise Refusal("stale_status_list", "status list issued " + str(now - sl.issued_at) + " s ago")
    if sl.is_revoked(index):
        raise Refusal("revoked", "status index " + str(index))


# --- on flash ------------------------------------------------------------------


def stored_source(store, name, main_only=False):
    """A FileSource over the intact copy of store file `name` (checked by streaming), or None.

    The copies NAME, NAME.tmp, NAME.bak are tried in that order (vitale.store); main_only: NAME alone.
    """
    found = store.locate(name, main_only)
    if found is None:
        return None
    return FileSource(store.fs, found[0], 16, found[1])


def stored_current(src):
    """(seq, payload SHA-256) of the list already accepted in src, or None when it cannot be read."""
    if src is None:
        return None
    try:
        poff, plen, phash = open_signed(src, None, STATUS_LIST_TYPE)
        major, arg, off = read_head(src, poff, poff + plen)
        for key in (1, 2):
            major, arg, off = read_head(src, off, poff + plen)
            major, arg, off = read_head(src, off, poff + plen)
            if key == 1:
                off += arg
        return arg, phash
    except Refusal:
        return None


def install(store, data, signer):
    """Accept a new status list (bytes) against the stored one's sequence, then store it atomically."""
    current = stored_current(stored_source(store, STATUS_FILE))
    parse(BytesSource(data), signer, current)
    store.write(STATUS_FILE, data)
    return load(store, signer)


def stage(store, total):
    """A vitale.store Writer for a new list of `total` bytes, streamed to flash; then install_staged.

    Drops an earlier staged list and the stored list's backup copy first, so the
    flash holds at most two lists (the current one and the staged one).
    """
    store.delete(STAGE_FILE)
    store.drop_backup(STATUS_FILE)
    return store.writer(STAGE_FILE, total)


def install_staged(store, signer):
    """Verify the staged list on flash (signature, sequence vs the stored one, directory), then make it
    the stored list by an atomic rename (the old one kept as a backup). A refused list is deleted and
    the stored one stays in use. Returns the StatusList read from its new place.
    """
    try:
        src = stored_source(store, STAGE_FILE, True)
        if src is None:
            raise malformed("no complete staged status list")
        sl = parse(src, signer, stored_current(stored_source(store, STATUS_FILE)))
        store.replace(STAGE_FILE, STATUS_FILE)
    except Exception:
        store.delete(STAGE_FILE)
        raise
    src.path = store.path(STATUS_FILE)  # the same bytes, renamed
    return sl


def load(store, signer):
    """The stored status list, read from flash (its signature checked again with `signer`)."""
    src = stored_source(store, STATUS_FILE)
    if src is None:
        raise Refusal("stale_status_list", "no status list stored")
    return parse(src, signer)
