"""cred.status and cred.trust: signed lists, Rice-coded revocation lookups, rollback, lists kept on flash.

The lists are made here with the firmware's own P-256 signer, so this file runs in both runtimes.
"""

import io

from fwsupport import read_hex, report
from test_store import MemFs, cut_runs

from vitale.codec import cbor
from vitale.cred import status, trust
from vitale.cred.policy import Policy
from vitale.cred.result import Refusal
from vitale.crypto import p256
from vitale.store import Store

NOW = 1803981600
ANNEX = "iso18013-5/annex-d/"
_KEYS = []


def _keys():
    if not _KEYS:
        _KEYS.append(p256.generate_keypair())
        _KEYS.append(p256.generate_keypair())
    return _KEYS


def _code(fn, *args):
    try:
        fn(*args)
    except Refusal as e:
        return e.code
    return None


def _sign1(priv, payload, prot=b"\xa1\x01\x26", tag=False):
    sig = p256.ecdsa_sign(priv, cbor.dumps(["Signature1", prot, b"", payload]))
    arr = [prot, {}, payload, sig]
    return cbor.dumps(cbor.Tag(18, arr) if tag else arr)


def _rice(gaps, k):
    bits = []
    for g in gaps:
        bits += [1] * (g >> k) + [0]
        bits += [(g >> (k - 1 - j)) & 1 for j in range(k)]
    bits += [0] * (-len(bits) % 8)
    out = bytearray(len(bits) // 8)
    for i in range(len(bits)):
        if bits[i]:
            out[i >> 3] |= 0x80 >> (i & 7)
    return bytes(out)


def _payload(revoked, size, seq=1, issued=NOW, shift=8, k=3, count_fix=0):
    chunks = (size + (1 << shift) - 1) >> shift
    directory = bytearray()
    data = bytearray()
    rev = sorted(revoked)
    for c in range(chunks):
        base = c << shift
        mine = [x for x in rev if base <= x < base + (1 << shift)]
        gaps = [mine[j] - (mine[j - 1] + 1 if j else base) for j in range(len(mine))]
        directory += len(data).to_bytes(4, "big") + len(mine).to_bytes(4, "big")
        data += _rice(gaps, k)
    return {1: "vitale-reader/status-list/1", 2: seq, 3: issued, 4: issued + 86400, 5: size,
            6: len(rev) + count_fix, 7: k, 8: shift, 9: bytes(directory), 10: bytes(data)}


def _status(payload, key=None, **kw):
    priv = (key or _keys()[0])[0]
    return _sign1(priv, cbor.dumps(payload), **kw)


def _signer():
    return _keys()[0][1]


def test_worked_chunk_of_the_docs():
    p = _payload([0, 2, 67, 133], 1 << 16, shift=16, k=6)
    assert p[10] == b"\x00\x06\x02\x04" and p[9] == b"\x00\x00\x00\x00\x00\x00\x00\x04"
    sl = status.parse(status.BytesSource(_status(p)), _signer())
    assert sl.chunk_indices(0) == [0, 2, 67, 133]
    assert [x for x in range(300) if sl.is_revoked(x)] == [0, 2, 67, 133]


def test_lookups_match_the_revoked_set():
    revoked = [0, 1, 5, 255, 256, 300, 301, 302, 511, 700, 1000, 1023]
    n = 0
    for k in (0, 1, 3, 7):
        sl = status.parse(status.BytesSource(_status(_payload(revoked, 1024 + 77, k=k))), _signer())
        assert sl.size == 1101 and sl.revoked_count == len(revoked) and sl.chunks == 5
        for x in range(sl.size):
            assert sl.is_revoked(x) == (x in revoked), (k, x)
            n += 1
        assert _code(sl.is_revoked, 1101) == "stale_status_list"
    report("cred status lookups", lookups=n)


def test_refused_status_lists():
    good = _payload([3, 9], 512)
    assert _code(status.parse, status.BytesSource(_status(good)), _keys()[1][1]) == "bad_list_signature"
    assert status.parse(status.BytesSource(_status(good, tag=True)), _signer()).size == 512
    assert _code(status.parse, status.BytesSource(_status(good, prot=b"\xa1\x01\x38\x22")), _signer()) \
        == "unsupported_alg"
    assert _code(status.parse, status.BytesSource(_status(good) + b"\x00"), _signer()) == "malformed"
    assert _code(status.parse, status.BytesSource(_status(good)[:-5]), _signer()) == "malformed"
    assert _code(status.parse, status.BytesSource(_status(_payload([3], 512, count_fix=1))), _signer()) == "malformed"
    bad_dir = dict(good)
    bad_dir[9] = good[9][:-8]
    assert _code(status.parse, status.BytesSource(_status(bad_dir)), _signer()) == "malformed"
    swapped = dict(good)
    swapped[9] = good[9][8:16] + good[9][0:8]
    assert _code(status.parse, status.BytesSource(_status(swapped)), _signer()) == "malformed"
    wrong_type = dict(good)
    wrong_type[1] = "vitale-reader/trust-list/1"
    assert _code(status.parse, status.BytesSource(_status(wrong_type)), _signer()) == "malformed"
    extra = dict(good)
    extra[11] = 0
    assert _code(status.parse, status.BytesSource(_status(extra)), _signer()) == "malformed"
    big_shift = _payload([], 512)
    big_shift[8] = 25
    assert _code(status.parse, status.BytesSource(_status(big_shift)), _signer()) == "malformed"
    detached = cbor.dumps([b"\xa1\x01\x26", {}, None, bytes(64)])
    assert _code(status.parse, status.BytesSource(detached), _signer()) == "malformed"
    # rollback: lower sequence, or the same sequence with other content
    cur = status.parse(status.BytesSource(_status(_payload([3], 512, seq=5))), _signer())
    current = (cur.seq, cur.payload_hash)
    assert status.parse(status.BytesSource(_status(_payload([3], 512, seq=5))), _signer(), current).seq == 5
    assert _code(status.parse, status.BytesSource(_status(_payload([3], 512, seq=4))), _signer(), current) \
        == "rollback"
    assert _code(status.parse, status.BytesSource(_status(_payload([4], 512, seq=5))), _signer(), current) \
        == "rollback"


def test_unusable_chunk_is_a_stale_list():
    p = _payload([10, 20], 512, k=3)
    p[10] = b"\xff\xff"  # unary run that never ends
    sl = status.parse(status.BytesSource(_status(p)), _signer())
    assert _code(sl.is_revoked, 10) == "stale_status_list"
    assert _code(sl.chunk_indices, 0) == "malformed"


class _Trust:
    def __init__(self, sl, err=None):
        self.status = sl
        self.status_error = err


def test_freshness_and_revocation_check():
    sl = status.parse(status.BytesSource(_status(_payload([7], 512, issued=NOW))), _signer())
    pol = Policy()
    assert status.check(_Trust(sl), 8, NOW + 72 * 3600, pol) is None
    assert _code(status.check, _Trust(sl), 7, NOW, pol) == "revoked"
    assert _code(status.check, _Trust(sl), 8, NOW + 72 * 3600 + 1, pol) == "stale_status_list"
    assert _code(status.check, _Trust(sl), 8, NOW - 6, pol) == "stale_status_list"
    assert status.check(_Trust(sl), 8, NOW - 5, pol) is None
    assert _code(status.check, _Trust(None), 8, NOW, pol) == "stale_status_list"
    assert _code(status.check, _Trust(None, Refusal("bad_list_signature")), 8, NOW, pol) == "stale_status_list"
    assert _code(status.check, _Trust(sl), 512, NOW, pol) == "stale_status_list"
    assert status.check(_Trust(sl), 8, NOW + 100 * 3600, Policy(status_max_age_s=101 * 3600)) is None


class _MemFile(io.BytesIO):
    def __init__(self, fs, path, data=b""):
        super().__init__(data)
        self.fs = fs
        self.path = path

    def close(self):
        if self.path is not None:
            self.fs.files[self.path] = self.getvalue()
        super().close()

    def __exit__(self, *a):
        self.close()
        return False


class _MemFs:
    """A filesystem in RAM with seekable files (what FileSource needs)."""

    def __init__(self):
        self.files = {}

    def open(self, path, mode):
        if "w" in mode:
            return _MemFile(self, path)
        if path not in self.files:
            raise OSError(2)
        return _MemFile(self, None, self.files[path])

    def rename(self, a, b):
        self.files[b] = self.files.pop(a)

    def remove(self, path):
        if path not in self.files:
            raise OSError(2)
        del self.files[path]

    def mkdir(self, path):
        pass

    def sync(self):
        pass


def _trust_list(priv, seq=1, iacas=None, dss=None, signer=None, list_type="vitale-reader/trust-list/1"):
    p = {1: list_type, 2: seq, 3: NOW - 7200,
         4: iacas if iacas is not None else [read_hex(ANNEX + "iaca_cert.der.hex")],
         5: dss if dss is not None else [read_hex(ANNEX + "ds_cert.der.hex")],
         7: [read_hex(ANNEX + "reader_cert.der.hex")], 8: [read_hex(ANNEX + "reader_root_cert.der.hex")]}
    if signer is not False:
        p[6] = signer or _signer()
    return _sign1(priv, cbor.dumps(p))


def test_trust_list_checks():
    (tpriv, tpub), (opriv, opub) = _keys()
    tl = trust.parse_trust_list(_trust_list(tpriv, 3), tpub)
    assert tl.seq == 3 and len(tl.iacas) == 1 and tl.status_signer == tpub
    ds_der = read_hex(ANNEX + "ds_cert.der.hex")
    assert tl.ds_for_kid(trust.kid_of(ds_der)) == tl.dss and tl.ds_for_kid(bytes(8)) == []
    iaca = trust.check_document_signer(tl.dss[0], tl.iacas)
    assert iaca is tl.iacas[0]
    assert _code(trust.check_cert_times, 1633132800, iaca, tl.dss[0]) == "expired"        # 2021-10-02
    assert trust.check_cert_times(1609459200, iaca, tl.dss[0]) is None
    assert _code(trust.check_document_signer, tl.iacas[0], tl.iacas) == "untrusted_issuer"  # an IACA is no DS
    reader = tl.readers[0]
    assert tl.reader_certificate(reader.public_key) is reader and tl.reader_certificate(tpub) is None
    assert reader.subject_cn == "reader" and tl.reader_cas[0].subject_cn == "reader root"
    assert _code(trust.parse_trust_list, _trust_list(opriv, 3), tpub) == "bad_list_signature"
    current = (tl.seq, tl.payload_hash)
    assert _code(trust.parse_trust_list, _trust_list(tpriv, 2), tpub, current) == "rollback"
    assert _code(trust.parse_trust_list, _trust_list(tpriv, 3, dss=[]), tpub, current) == "rollback"
    assert trust.parse_trust_list(_trust_list(tpriv, 4, dss=[]), tpub, current).seq == 4
    assert _code(trust.parse_trust_list, _trust_list(tpriv, list_type="vitale-reader/status-list/1"), tpub) \
        == "malformed"
    assert _code(trust.parse_trust_list, _trust_list(tpriv, iacas=[]), tpub) == "malformed"
    assert _code(trust.parse_trust_list, _trust_list(tpriv, iacas=[b"\x30\x03\x02\x01\x01"]), tpub) == "malformed"
    assert _code(trust.parse_trust_list, _trust_list(tpriv, signer=b"\x04" + bytes(64)), tpub) == "malformed"
    assert trust.parse_trust_list(_trust_list(tpriv, signer=False), tpub).status_signer is None
    t = trust.Trust.load(_trust_list(tpriv, signer=False), tpub, _status(_payload([], 256)))
    assert t.status is None and t.status_error.code == "stale_status_list"
    t = trust.Trust.load(_trust_list(tpriv), tpub, _status(_payload([], 256), key=_keys()[1]))
    assert t.status is None and t.status_error.code == "bad_list_signature"


def test_lists_on_flash():
    (tpriv, tpub), _ = _keys()
    fs = _MemFs()
    store = Store("/flash", fs)
    tl = trust.install(store, _trust_list(tpriv, 5), tpub)
    assert _code(trust.install, store, _trust_list(tpriv, 4), tpub) == "rollback"
    assert trust.install(store, _trust_list(tpriv, 5), tpub).seq == 5
    sl = trust.install_status(store, _status(_payload([1, 2, 3, 400], 512, seq=2)), tl)
    assert isinstance(sl.src, status.FileSource)
    assert _code(trust.install_status, store, _status(_payload([], 512, seq=1)), tl) == "rollback"
    assert trust.install_status(store, _status(_payload([1, 2, 3, 401], 512, seq=3)), tl).seq == 3
    t = trust.Trust.from_store(store, tpub)
    assert t.trust_list.seq == 5 and t.status.seq == 3
    before = t.status.src.bytes_read
    assert t.status.is_revoked(401) and not t.status.is_revoked(400)
    assert t.status.src.bytes_read - before <= 2 * 16 + 4
    # a torn main copy: the previous intact copy is used
    main = "/flash/status-list"
    fs.files[main] = fs.files[main][:-1]
    t = trust.Trust.from_store(store, tpub)
    assert t.status.seq == 2 and t.status.is_revoked(400)
    fs.files.pop(main + ".bak")
    t = trust.Trust.from_store(store, tpub)
    assert t.status is None and t.status_error.code == "stale_status_list"


def _stage(store, data, piece=100):
    w = status.stage(store, len(data))
    for off in range(0, len(data), piece):
        w.write(data[off:off + piece])
    w.commit()


def test_streamed_status_list_verified_on_flash():
    (tpriv, tpub), (opriv, _) = _keys()
    fs = MemFs()
    store = Store("/flash", fs)
    tl = trust.install(store, _trust_list(tpriv, 5), tpub)
    _stage(store, _status(_payload([1, 2, 3, 400], 512, seq=2)))
    assert fs.files.get("/flash/status-list") is None
    sl = trust.install_status(store, None, tl)
    assert sl.seq == 2 and isinstance(sl.src, status.FileSource) and sl.src.path == "/flash/status-list"
    assert [x for x in range(512) if sl.is_revoked(x)] == [1, 2, 3, 400]
    assert sorted(k for k in fs.files if "status" in k) == ["/flash/status-list"]
    # refused lists never replace the stored one and leave nothing staged
    refused = (_status(_payload([], 512, seq=1)),                      # rollback
               _status(_payload([], 512, seq=9), key=_keys()[1]),      # not the status signer
               _status(_payload([3], 512, seq=9, count_fix=1)))        # directory does not add up
    for data, code in zip(refused, ("rollback", "bad_list_signature", "malformed")):
        _stage(store, data)
        assert _code(trust.install_status, store, None, tl) == code
        assert store.locate(status.STAGE_FILE) is None
        assert status.load(store, tpub).seq == 2
    assert _code(trust.install_status, store, None, tl) == "malformed"  # nothing staged
    _stage(store, _status(_payload([1, 2, 3, 401], 512, seq=3)))
    assert trust.install_status(store, None, tl).seq == 3
    t = trust.Trust.from_store(store, tpub)
    assert t.status.seq == 3 and t.status.is_revoked(401) and not t.status.is_revoked(400)
    # the previous list is the backup until the next upload starts
    assert unframe_seq(fs, "/flash/status-list.bak") == 2
    w = status.stage(store, 10)
    assert "/flash/status-list.bak" not in fs.files and status.load(store, tpub).seq == 3
    w.abort()
    unsigned = trust.parse_trust_list(_trust_list(tpriv, 6, signer=False), tpub)
    _stage(store, _status(_payload([], 512, seq=4)))
    assert _code(trust.install_status, store, None, unsigned) == "bad_list_signature"
    assert store.locate(status.STAGE_FILE) is None and status.load(store, tpub).seq == 3


def unframe_seq(fs, path):
    from vitale.store import unframe
    return status.stored_current(status.BytesSource(unframe(fs.files[path])))[0]


def test_power_cut_during_a_streamed_status_install():
    (tpriv, tpub), _ = _keys()
    tl_data = _trust_list(tpriv, 5)
    old = _status(_payload([1, 2], 512, seq=2))
    new = _status(_payload([3, 4], 512, seq=3))

    tls = []

    def setup(fs):
        store = Store("/flash", fs)
        tl = trust.install(store, tl_data, tpub)
        trust.install_status(store, old, tl)
        store.write("status-list", old)  # a backup copy exists too
        tls.append(tl)

    def action(fs):
        store = Store("/flash", fs)
        _stage(store, new, piece=200)
        trust.install_status(store, None, tls[0])

    seen = set()

    def check(fs, done, where):
        sl = status.load(Store("/flash", fs), tpub)
        assert sl.seq in (2, 3), where
        assert [x for x in range(8) if sl.is_revoked(x)] == ([1, 2] if sl.seq == 2 else [3, 4])
        if done:
            assert sl.seq == 3
        seen.add(sl.seq)

    total, _ = cut_runs(setup, action, check, tears=(0.0, 0.5))
    assert seen == {2, 3} and total >= 10
    report("cred streamed status install power cuts", steps=total)
