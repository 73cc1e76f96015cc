"""Host-link commands: hello, info, time.set, pin, config, reader key, selftest, bad arguments."""

import binascii
import json

from test_store import MemFs
import vitale
from vitale.crypto import p256
from vitale.hal.board import Board, Clock
from vitale.link import commands
from vitale.link.commands import POLICY_FILE, PIN_FILE, ReaderState, register
from vitale.link.protocol import PROTOCOL_VERSION, Dispatcher
from vitale.store import Store

_T = [0]


def _ticks():
    return _T[0]


def _diff(a, b):
    return a - b


def _setup(fs=None):
    fs = fs if fs is not None else MemFs()
    store = Store("/data", fs)
    state = ReaderState(Board("test-board", Clock(_ticks, _diff)), store)
    d = Dispatcher()
    register(d, state)
    return d, state, fs


def _req(d, cmd, args=None, rid=1):
    req = {"id": rid, "cmd": cmd}
    if args is not None:
        req["args"] = args
    return json.loads(d.handle_line(json.dumps(req).encode()))


def _ok(d, cmd, args=None):
    r = _req(d, cmd, args)
    assert r["ok"] is True, r
    return r["result"]


def _err(d, cmd, args=None):
    r = _req(d, cmd, args)
    assert r["ok"] is False, r
    return r["error"]["code"]


def test_hello_starts_session():
    d, state, _ = _setup()
    assert state.session is None
    res = _ok(d, "hello", {"nonce": "11" * 16})
    assert res["protocol"] == PROTOCOL_VERSION
    assert res["firmware"] == vitale.__version__
    assert res["board"] == "test-board"
    assert res["reader_kid"] == binascii.hexlify(state.reader_key.kid).decode()
    assert state.nonce == b"\x11" * 16
    assert state.session.nonce == b"\x11" * 16 and state.session.counter == 0
    state.session.sign({"ok": True})
    _ok(d, "hello", {"nonce": "22" * 8})
    assert state.session.nonce == b"\x22" * 8 and state.session.counter == 0


def test_hello_bad_nonce():
    d, state, _ = _setup()
    for nonce in ("11" * 7, "11" * 65, "zz" * 16, "111", ""):
        assert _err(d, "hello", {"nonce": nonce}) == "bad_args", nonce
    assert _err(d, "hello", {"nonce": 1234}) == "bad_args"
    assert _err(d, "hello", {}) == "bad_args"
    assert _err(d, "hello", {"nonce": "11" * 16, "x": 1}) == "bad_args"
    assert state.session is None


def test_info_fresh_reader():
    d, state, _ = _setup()
    res = _ok(d, "info")
    assert res["board"] == "test-board"
    assert res["firmware"] == vitale.__version__
    assert res["protocol"] == PROTOCOL_VERSION
    assert res["trust_list"] is None and res["status_list"] is None
    assert res["clock"] == {"set": False, "now": None}
    assert res["pinned"] is False
    assert res["policy"]["qr_window_s"] == 30 and res["policy"]["profile"] is None
    assert res["reader_kid"] == binascii.hexlify(state.reader_key.kid).decode()
    assert res["mem_free"] is None or (isinstance(res["mem_free"], int) and res["mem_free"] > 0)


def test_time_set():
    d, state, _ = _setup()
    _T[0] = 5000
    res = _ok(d, "time.set", {"unix": 1750000000})
    assert res["now"] == 1750000000
    _T[0] = 8000
    assert state.board.clock.now() == 1750000003
    assert _ok(d, "info")["clock"] == {"set": True, "now": 1750000003}
    for bad in (0, 1704067199, 4102444800, -5):
        assert _err(d, "time.set", {"unix": bad}) == "bad_args", bad
    assert _err(d, "time.set", {"unix": "1750000000"}) == "bad_args"
    assert _err(d, "time.set", {"unix": 1.75e9}) == "bad_args"
    assert _err(d, "time.set", {"unix": True}) == "bad_args"
    assert state.board.clock.now() == 1750000003
    # typed at a terminal
    out = d.handle_line(b"time.set 1760000000")
    assert b"now: 1760000000" in out
    assert state.board.clock.now() == 1760000000


def test_pin_once_and_kept():
    d, state, fs = _setup()
    _, pub = p256.generate_keypair()
    h = binascii.hexlify(pub).decode()
    assert _err(d, "provision.pin", {"key": "04" + "00" * 64}) == "bad_args"  # not on the curve
    assert _err(d, "provision.pin", {"key": h[2:]}) == "bad_args"
    assert _err(d, "provision.pin", {"key": "xx"}) == "bad_args"
    assert state.pinned is None
    assert _ok(d, "provision.pin", {"key": h})["pinned"] is True
    assert state.pinned == pub and state.store.read(PIN_FILE) == pub
    _, other = p256.generate_keypair()
    assert _err(d, "provision.pin", {"key": binascii.hexlify(other).decode()}) == "already_pinned"
    assert state.pinned == pub
    again = _ok(d, "provision.pin", {"key": h})  # the same key again: provisioning is repeatable
    assert again["pinned"] is True and again["already"] is True
    d2, state2, _ = _setup(fs)
    assert state2.pinned == pub
    assert _ok(d2, "info")["pinned"] is True


def test_lists_need_pin_and_trust():
    d, state, _ = _setup()
    assert _err(d, "provision.trust_list", {"data": "AAAA"}) == "not_pinned"
    assert _err(d, "provision.status_list", {"data": "AAAA"}) == "no_trust_list"
    _, pub = p256.generate_keypair()
    _ok(d, "provision.pin", {"key": binascii.hexlify(pub).decode()})
    assert _err(d, "provision.trust_list", {"data": "!!!"}) == "bad_args"
    assert _err(d, "provision.trust_list", {"data": "AAAA"}) == "malformed"
    assert _err(d, "provision.trust_list", {"data": "AAAA", "offset": 0}) == "bad_args"
    assert _err(d, "provision.trust_list", {"data": "AAAA", "offset": 0, "total": 10 ** 7}) == "too_large"
    assert _err(d, "provision.trust_list", {"data": "AAAA", "offset": 3, "total": 6}) == "bad_chunk"
    assert _ok(d, "provision.trust_list", {"data": "AAAA", "offset": 0, "total": 6}) == \
        {"received": 3, "total": 6, "complete": False}
    assert _err(d, "provision.trust_list", {"data": "AAAAAAAA", "offset": 3, "total": 6}) == "bad_chunk"
    assert state.upload is None
    # a completed chunked upload is verified like a whole one
    _ok(d, "provision.trust_list", {"data": "AAAA", "offset": 0, "total": 6})
    assert _err(d, "provision.trust_list", {"data": "AAAA", "offset": 3, "total": 6}) == "malformed"
    assert state.upload is None
    assert _ok(d, "info")["trust_list"] is None


def test_config_stored():
    d, state, fs = _setup()
    res = _ok(d, "provision.config", {"policy": {"qr_window_s": 60, "profile": "billing"}})
    assert res["policy"]["qr_window_s"] == 60 and res["policy"]["profile"] == "billing"
    assert res["policy"]["clock_skew_s"] == 5
    assert state.policy.qr_window_s == 60 and state.policy.profile == "billing"
    assert json.loads(state.store.read(POLICY_FILE))["qr_window_s"] == 60
    for bad in ({"profile": "nope"}, {"qr_window_s": -1}, {"qr_window_s": "60"}, {"colour": 1},
                {"doc_type": 5}, {"clock_skew_s": True}):
        assert _err(d, "provision.config", {"policy": bad}) == "bad_args", bad
    assert _err(d, "provision.config", {"policy": []}) == "bad_args"
    assert state.policy.qr_window_s == 60
    d2, state2, _ = _setup(fs)
    assert state2.policy.qr_window_s == 60 and state2.policy.profile == "billing"
    assert _ok(d2, "info")["policy"]["profile"] == "billing"


def test_bad_stored_config_keeps_defaults():
    fs = MemFs()
    Store("/data", fs).write(POLICY_FILE, b"{not json")
    _, state, _ = _setup(fs)
    assert state.policy.qr_window_s == 30
    Store("/data", fs).write(POLICY_FILE, b'{"profile": "nope"}')
    _, state, _ = _setup(fs)
    assert state.policy.profile is None


def test_reader_public_key():
    d, state, _ = _setup()
    res = _ok(d, "reader.public_key")
    pub = binascii.unhexlify(res["public_key"])
    assert pub == state.reader_key.public_key() and len(pub) == 65
    assert binascii.unhexlify(res["kid"]) == state.reader_key.kid
    assert _err(d, "reader.public_key", {"x": 1}) == "bad_args"


def test_selftest_passes_and_detects_breakage():
    d, _, _ = _setup()
    res = _ok(d, "selftest")
    assert res["ok"] is True, res
    assert res["checks"] == {"sha256": True, "ecdsa_p256": True, "aes_gcm": True}
    assert isinstance(res["ms"], int) and res["ms"] >= 0
    saved = commands._GCM_CT
    commands._GCM_CT = "00" + saved[2:]
    try:
        res = _ok(d, "selftest")
    finally:
        commands._GCM_CT = saved
    assert res["ok"] is False and res["checks"]["aes_gcm"] is False and res["checks"]["sha256"] is True


def test_help_lists_commands():
    d, _, _ = _setup()
    names = _ok(d, "help")["commands"]
    for n in ("hello", "info", "time.set", "provision.pin", "provision.trust_list", "provision.status_list",
              "provision.config", "reader.public_key", "selftest"):
        assert n in names and names[n], n
    h = _ok(d, "help", {"cmd": "provision.trust_list"})
    assert sorted(a["name"] for a in h["args"]) == ["data", "offset", "total"]
    assert b"board: test-board" in d.handle_line(b"info")


def _b64(data):
    return binascii.b2a_base64(data).decode().strip()


def _staged(fs):
    return sorted(k for k in fs.files if ".new" in k)


def _upload(d, cmd, data, piece):
    res = None
    for off in range(0, len(data), piece):
        res = _ok(d, cmd, {"data": _b64(data[off:off + piece]), "offset": off, "total": len(data)})
        if off + piece < len(data):
            assert res == {"received": off + piece, "total": len(data), "complete": False}, res
    return res


def test_status_list_chunks_stream_to_flash():
    from test_cred_lists import _keys, _payload, _status, _trust_list

    (tpriv, tpub), _ = _keys()
    d, state, fs = _setup()
    _ok(d, "provision.pin", {"key": binascii.hexlify(tpub).decode()})
    _ok(d, "provision.trust_list", {"data": _b64(_trust_list(tpriv, 5))})
    st = "provision.status_list"
    # status lists may be larger than the RAM limit of trust lists, up to MAX_STREAM
    big = commands.MAX_UPLOAD + 1
    assert _err(d, "provision.trust_list", {"data": "AAAA", "offset": 0, "total": big}) == "too_large"
    assert _err(d, st, {"data": "AAAA", "offset": 0, "total": commands.MAX_STREAM + 1}) == "too_large"
    assert _ok(d, st, {"data": "AAAA", "offset": 0, "total": big}) == {"received": 3, "total": big, "complete": False}
    assert _staged(fs) == ["/data/status-list.new.tmp"]
    assert _err(d, st, {"data": "AAAA", "offset": 4, "total": big}) == "bad_chunk"  # not the next byte
    assert state.upload is None and _staged(fs) == []
    _ok(d, st, {"data": "AAAA", "offset": 0, "total": big})
    assert _err(d, st, {"data": "AAAA", "offset": 3, "total": big - 1}) == "bad_chunk"  # another total
    assert _staged(fs) == []
    _ok(d, st, {"data": "AAAA", "offset": 0, "total": 6})
    assert _err(d, st, {"data": "AAAAAAAA", "offset": 3, "total": 6}) == "bad_chunk"  # past total
    assert _staged(fs) == []
    _ok(d, st, {"data": "AAAA", "offset": 0, "total": 6})
    assert _err(d, "provision.trust_list", {"data": "AAAA", "offset": 3, "total": 6}) == "bad_chunk"  # other list
    assert state.upload is None and _staged(fs) == []
    _ok(d, st, {"data": "AAAA", "offset": 0, "total": 6})
    _ok(d, "provision.trust_list", {"data": "AAAA", "offset": 0, "total": 6})  # restarts with the other list
    assert _staged(fs) == []
    _ok(d, st, {"data": "AAAA", "offset": 0, "total": 6})
    assert _err(d, st, {"data": "AAAA", "offset": 3, "total": 6}) == "malformed"  # verified from flash
    assert _staged(fs) == [] and _ok(d, "info")["status_list"] is None
    # a real list in pieces: verified on flash, then in use
    data = _status(_payload([1, 2, 3, 400], 512, seq=2))
    res = _upload(d, st, data, 97)
    assert res["complete"] is True and res["seq"] == 2
    assert _ok(d, "info")["status_list"]["seq"] == 2
    assert state.trust.status.is_revoked(400) and not state.trust.status.is_revoked(401)
    assert _staged(fs) == [] and "/data/status-list" in fs.files
    # refused: older sequence; the stored list stays
    assert _err(d, st, {"data": _b64(_status(_payload([], 512, seq=1))), "offset": 0, "total": 0}) == "too_large"
    old = _status(_payload([], 512, seq=1))
    pieces = [(off, old[off:off + 50]) for off in range(0, len(old), 50)]
    for off, piece in pieces[:-1]:
        _ok(d, st, {"data": _b64(piece), "offset": off, "total": len(old)})
    off, piece = pieces[-1]
    assert _err(d, st, {"data": _b64(piece), "offset": off, "total": len(old)}) == "rollback"
    assert _staged(fs) == [] and state.trust.status.seq == 2
    # the whole-line path still works, and a restarted reader reads the list back from flash
    assert _ok(d, st, {"data": _b64(_status(_payload([7], 512, seq=3)))})["seq"] == 3
    d2, state2, _ = _setup(fs)
    assert state2.trust.status.seq == 3 and state2.trust.status.is_revoked(7)
