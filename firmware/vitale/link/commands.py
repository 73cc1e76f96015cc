"""The reader's host-link commands: hello, info, time.set, provisioning, reader key, self-test.

  state = ReaderState(board, store)     pinned trust-list key, policy and lists from the Store
  register(dispatcher, state)           adds the commands below to a vitale.link.protocol.Dispatcher

Commands (docs/host-protocol.md, "Commands"): hello, info, time.set,
provision.pin, provision.trust_list, provision.status_list, provision.config,
reader.public_key, selftest. A refused list is answered with the Refusal's
code (rollback, bad_list_signature, malformed, ...) as the LinkError code.
"""

import binascii
import gc
import hashlib
import json

import vitale
from vitale.compat import const, ticks_diff, ticks_ms
from vitale.cred import status as _status
from vitale.cred import trust as _trust
from vitale.cred.trust import hexstr
from vitale.cred.policy import PROFILES, Policy
from vitale.cred.result import Refusal
from vitale.crypto import CryptoError, aesgcm, p256
from vitale.link.protocol import (PROTOCOL_VERSION, T_BOOL, T_INT, T_OBJ, T_STR, Command, LinkError)
from vitale.link.signing import ReaderKey, SignedSession
from vitale.store import StoreError

PIN_FILE = "trust-key"
POLICY_FILE = "policy"
CONFIG_FILE = "config"  # {"passthrough": bool, "attach_raw": bool}
READER_CERT_FILE = "reader.cert"
CONFIG_FLAGS = ("passthrough", "attach_raw")
MAX_UPLOAD = const(262144)  # bytes a chunked trust-list upload may assemble in RAM
MAX_STREAM = const(2097152)  # bytes a chunked status-list upload may stream to flash (docs/host-protocol.md)
_MIN_UNIX = 1704067200  # 2024-01-01T00:00:00Z (not const: above a small int on 32-bit ports)
_MAX_UNIX = 4102444800  # 2100-01-01T00:00:00Z
_POLICY_INTS = ("qr_window_s", "clock_skew_s", "status_max_age_s")


def unhex(s, what):
    """Bytes of a hex argument; LinkError(bad_args) naming `what` when it is not hex."""
    try:
        return binascii.unhexlify(s)
    except (ValueError, TypeError):
        raise LinkError("bad_args", what + " must be hex")


def _unb64(s, what):
    try:
        text = s.strip().encode()  # MicroPython's a2b_base64 takes bytes only
        data = binascii.a2b_base64(text)
        # a2b_base64 skips characters outside the alphabet: accept only canonical text
        ok = len(data) > 0 and binascii.b2a_base64(data).strip() == text
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise LinkError("bad_args", what + " must be non-empty standard base64")
    return data


def policy_dict(p):
    """The JSON-able attributes of a Policy."""
    return {"qr_window_s": p.qr_window_s, "clock_skew_s": p.clock_skew_s,
            "status_max_age_s": p.status_max_age_s, "doc_type": p.doc_type, "profile": p.profile}


def check_policy(d):
    """A Policy from a config object; LinkError(bad_args) on an unknown key or a bad value."""
    for k in d:
        if k not in _POLICY_INTS and k not in ("doc_type", "profile"):
            raise LinkError("bad_args", "unknown policy key: " + str(k))
    for k in _POLICY_INTS:
        if k in d:
            v = d[k]
            if not isinstance(v, int) or v is True or v is False or v < 0:
                raise LinkError("bad_args", k + " must be a non-negative integer")
    for k in ("doc_type", "profile"):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise LinkError("bad_args", k + " must be a string or null")
    if d.get("profile") is not None and d["profile"] not in PROFILES:
        raise LinkError("bad_args", "unknown profile " + d["profile"])
    try:
        return Policy.from_dict(d)
    except ValueError as e:
        raise LinkError("bad_args", str(e))


class ReaderState:
    """What the commands work on: board, store, pinned key, policy, reader key, lists, session."""

    def __init__(self, board, store, reader_key=None):
        self.board = board
        self.store = store
        self.reader_key = reader_key if reader_key is not None else ReaderKey(store)
        self.pinned = store.get(PIN_FILE)
        self.policy = Policy()
        raw = store.get(POLICY_FILE)
        if raw is not None:
            try:
                self.policy = check_policy(json.loads(raw))
            except (ValueError, LinkError, AttributeError):
                pass  # an unreadable config keeps the defaults; provision.config rewrites it
        self.config = {"passthrough": False, "attach_raw": False}
        raw = store.get(CONFIG_FILE)
        if raw is not None:
            try:
                d = json.loads(raw)
                for k in CONFIG_FLAGS:
                    if d.get(k) is True:
                        self.config[k] = True
            except (ValueError, AttributeError):
                pass  # an unreadable config keeps the defaults
        self.reader_cert = store.get(READER_CERT_FILE)  # DER installed by provision.reader_cert, or None
        self.trust = None
        self.nonce = None
        self.session = None
        self.upload = None  # (command name, total, bytearray or store Writer) of a chunked upload in progress
        # a status-list upload cut by a power loss leaves its staged copy: flash is scarce
        store.delete(_status.STAGE_FILE)
        self.reload_trust()

    def reload_trust(self):
        """Load the stored trust list and status list (None when absent or refused)."""
        self.trust = None
        if self.pinned is None:
            return
        try:
            self.trust = _trust.Trust.from_store(self.store, self.pinned)
        except Refusal:
            self.trust = None

    def age(self, t):
        """Seconds since unix time t, or None when the clock is unset."""
        now = self.board.clock.now()
        return None if now is None else now - t


def _hello(state):
    def handler(args):
        nonce = unhex(args["nonce"], "nonce")
        if not 8 <= len(nonce) <= 64:
            raise LinkError("bad_args", "nonce must be 8 to 64 bytes (16 to 128 hex digits)")
        state.nonce = nonce
        state.session = SignedSession(state.reader_key, nonce)
        return {"protocol": PROTOCOL_VERSION, "firmware": vitale.__version__,
                "board": state.board.name, "reader_kid": hexstr(state.reader_key.kid)}
    return handler


def _info(state):
    def handler(args):
        tl = None
        sl = None
        if state.trust is not None:
            t = state.trust.trust_list
            tl = {"seq": t.seq, "issued_at": t.issued_at, "age_s": state.age(t.issued_at)}
            s = state.trust.status
            if s is not None:
                sl = {"seq": s.seq, "issued_at": s.issued_at, "next_update": s.next_update,
                      "age_s": state.age(s.issued_at)}
        mem_free = getattr(gc, "mem_free", None)
        clock = state.board.clock
        return {"board": state.board.name, "firmware": vitale.__version__, "protocol": PROTOCOL_VERSION,
                "trust_list": tl, "status_list": sl,
                "clock": {"set": clock.is_set(), "now": clock.now()},
                "mem_free": mem_free() if mem_free is not None else None,
                "policy": policy_dict(state.policy), "pinned": state.pinned is not None,
                "reader_kid": hexstr(state.reader_key.kid),
                "config": {"passthrough": state.config["passthrough"], "attach_raw": state.config["attach_raw"]},
                "reader_cert": state.reader_cert is not None}
    return handler


def _time_set(state):
    def handler(args):
        t = args["unix"]
        if not _MIN_UNIX <= t < _MAX_UNIX:
            raise LinkError("bad_args", "unix time must be between 2024 and 2100")
        state.board.clock.set(t)
        return {"now": state.board.clock.now()}
    return handler


def _pin(state):
    def handler(args):
        key = unhex(args["key"], "key")
        if state.pinned is not None:
            if bytes(state.pinned) == key:  # provisioning again with the same key is not an error
                return {"pinned": True, "key": hexstr(key), "already": True}
            raise LinkError("already_pinned", "another trust-list key is already pinned")
        if len(key) != 65 or key[0] != 4:
            raise LinkError("bad_args", "key must be a 65-byte uncompressed SEC1 P-256 point")
        try:
            p256.decode_point(key)
        except ValueError:
            raise LinkError("bad_args", "key is not a point on P-256")
        state.store.write(PIN_FILE, key)
        state.pinned = key
        state.reload_trust()
        return {"pinned": True, "key": hexstr(key)}
    return handler


def _drop_upload(state):
    """Forget the chunked upload in progress; a streamed one's staged file is removed."""
    up = state.upload
    state.upload = None
    if up is not None and not isinstance(up[2], bytearray):
        up[2].abort()


def _received(sink):
    return len(sink) if isinstance(sink, bytearray) else sink.written


def _assemble(state, name, args, stage=None):
    """The whole list once complete, or a progress dict for a chunk of a chunked upload.

    stage None: chunks are assembled in RAM (at most MAX_UPLOAD bytes) and the list is returned
    as bytes. Otherwise stage(total) gives a vitale.store Writer: chunks are streamed to flash
    (at most MAX_STREAM bytes), and a complete upload is committed and returned as None.
    """
    data = _unb64(args["data"], "data")
    if "offset" not in args and "total" not in args:
        return data
    if "offset" not in args or "total" not in args:
        raise LinkError("bad_args", "a chunk needs both offset and total")
    off = args["offset"]
    total = args["total"]
    limit = MAX_UPLOAD if stage is None else MAX_STREAM
    if not 0 < total <= limit:
        raise LinkError("too_large", "a chunked upload is at most %d bytes" % limit)
    try:
        if off == 0:
            _drop_upload(state)
            gc.collect()
            state.upload = (name, total, bytearray() if stage is None else stage(total))
        up = state.upload
        if up is None or up[0] != name or up[1] != total or off != _received(up[2]):
            _drop_upload(state)
            raise LinkError("bad_chunk", "chunks must be sent in order from offset 0 with the same total")
        if off + len(data) > total:
            _drop_upload(state)
            raise LinkError("bad_chunk", "chunk goes past total")
        sink = up[2]
        if isinstance(sink, bytearray):
            sink.extend(data)
        else:
            sink.write(data)
        got = _received(sink)
        if got < total:
            return {"received": got, "total": total, "complete": False}
        state.upload = None
        if isinstance(sink, bytearray):
            return sink  # the installers take a bytearray: no second copy of a large list
        sink.commit()
        return None
    except (OSError, StoreError) as e:
        _drop_upload(state)
        raise LinkError("storage", "flash write failed: %s" % e)


def _provision(state, name, precondition, install, stage=None):
    """A list-upload handler: precondition(), assemble the (chunked) upload, then install(data).

    With stage (see _assemble) chunked uploads are streamed to flash and install(None) installs the staged list.
    """
    def handler(args):
        precondition()
        data = _assemble(state, name, args, stage)
        if isinstance(data, dict):
            return data
        try:
            return install(data)
        except Refusal as e:
            raise LinkError(e.code, e.detail or e.message)
    return handler


def _need_pin(state):
    def check():
        if state.pinned is None:
            raise LinkError("not_pinned", "pin the trust-list key first (provision.pin)")
    return check


def _need_trust(state):
    def check():
        if state.trust is None:
            raise LinkError("no_trust_list", "provision a trust list first")
    return check


def _install_trust(state):
    def install(data):
        tl = _trust.install(state.store, data, state.pinned)
        state.reload_trust()
        return {"complete": True, "seq": tl.seq, "issued_at": tl.issued_at}
    return install


def _stage_status(state):
    def stage(total):
        return _status.stage(state.store, total)
    return stage


def _install_status(state):
    def install(data):
        try:
            sl = _trust.install_status(state.store, data, state.trust.trust_list)
        except (OSError, StoreError) as e:
            raise LinkError("storage", "status list not stored: %s" % e)
        state.trust.status = sl
        state.trust.status_error = None
        return {"complete": True, "seq": sl.seq, "issued_at": sl.issued_at, "next_update": sl.next_update}
    return install


def _config(state):
    def handler(args):
        p = check_policy(args["policy"])
        d = policy_dict(p)
        flags = {}
        for k in CONFIG_FLAGS:
            flags[k] = args.get(k, False)
        state.store.write(POLICY_FILE, json.dumps(d).encode())
        state.store.write(CONFIG_FILE, json.dumps(flags).encode())
        state.policy = p
        state.config = flags
        return {"policy": d, "passthrough": flags["passthrough"], "attach_raw": flags["attach_raw"]}
    return handler


def _public_key(state):
    def handler(args):
        return {"public_key": hexstr(state.reader_key.public_key()), "kid": hexstr(state.reader_key.kid)}
    return handler


# Known answers: SHA-256("abc") (FIPS 180-2); AES-128-GCM test case 2 of the GCM specification
# (zero key, zero IV, 16 zero bytes).
_SHA_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
_GCM_CT = "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"
_SELFTEST_KEY = b"\x01" * 32


def _check(fn):
    try:
        return fn() is True
    except Exception:  # a self-test reports a broken primitive, it never crashes the link
        return False


def _sha_ok():
    return hexstr(hashlib.sha256(b"abc").digest()) == _SHA_ABC


def _ecdsa_ok():
    pub = p256.public_key(_SELFTEST_KEY)
    sig = p256.ecdsa_sign(_SELFTEST_KEY, b"vitale selftest")
    return p256.ecdsa_verify(pub, b"vitale selftest", sig) and not p256.ecdsa_verify(pub, b"vitale selftesT", sig)


def _gcm_ok():
    key = bytes(16)
    iv = bytes(12)
    ct = aesgcm.encrypt(key, iv, bytes(16))
    if hexstr(ct) != _GCM_CT or aesgcm.decrypt(key, iv, ct) != bytes(16):
        return False
    try:
        aesgcm.decrypt(key, iv, ct[:-1] + bytes([ct[-1] ^ 1]))
    except CryptoError:
        return True
    return False


def selftest():
    """Run the known-answer checks: {"ok", "checks": {name: bool}, "ms"}."""
    t0 = ticks_ms()
    checks = {"sha256": _check(_sha_ok), "ecdsa_p256": _check(_ecdsa_ok), "aes_gcm": _check(_gcm_ok)}
    ok = True
    for k in checks:
        ok = ok and checks[k]
    return {"ok": ok, "checks": checks, "ms": ticks_diff(ticks_ms(), t0)}


def register(dispatcher, state):
    """Add the reader's commands, working on `state` (a ReaderState), to a Dispatcher."""
    chunk = (("data", T_STR, True), ("offset", T_INT, False), ("total", T_INT, False))
    for c in (
        Command("hello", _hello(state), (("nonce", T_STR, True),),
                "start a session: nonce (16-128 hex digits) signs this session's results", ("nonce",)),
        Command("info", _info(state), (), "board, firmware, lists, clock, memory and policy"),
        Command("time.set", _time_set(state), (("unix", T_INT, True),),
                "set the reader clock (seconds since 1970, UTC)", ("unix",)),
        Command("provision.pin", _pin(state), (("key", T_STR, True),),
                "pin the trust-list key (hex SEC1), once", ("key",)),
        Command("provision.trust_list",
                _provision(state, "provision.trust_list", _need_pin(state), _install_trust(state)), chunk,
                "install a signed trust list (base64; chunks: offset, total)"),
        Command("provision.status_list",
                _provision(state, "provision.status_list", _need_trust(state), _install_status(state),
                           _stage_status(state)), chunk,
                "install a signed status list (base64; chunks: offset, total)"),
        Command("provision.config", _config(state),
                (("policy", T_OBJ, True), ("passthrough", T_BOOL, False), ("attach_raw", T_BOOL, False)),
                "set and store the verification policy and the passthrough / attach_raw switches"),
        Command("reader.public_key", _public_key(state), (), "the reader's signing key (hex SEC1) and kid"),
        Command("selftest", lambda args: selftest(), (), "known-answer checks of SHA-256, ECDSA P-256, AES-GCM"),
    ):
        dispatcher.add(c)
