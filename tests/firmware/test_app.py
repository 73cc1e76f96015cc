"""The App's host link and read commands without emulators (runs in CPython and in the MicroPython VM).

What runs here is synchronous: lines fed to the App, the read commands'
checks, a read queued but not started (busy, cancel), the signed events, the
CSR, the reader certificate checks, the config flags, reboot.
"""

import binascii
import json

from test_store import MemFs
from vitale.app import App
from vitale.codec import cbor, der
from vitale.compat import ticks_diff, ticks_ms
from vitale.cred.result import VerifiedCard
from vitale.cred.trust import Trust
from vitale.crypto import cose, p256
from vitale.hal.board import Board, Clock
from vitale.link.lines import MAX_LINE
from vitale.store import Store

NONCE = "0102030405060708090a0b0c0d0e0f10"
NOW = 1790000000


class _Part:
    """A board part the App never touches without its loop (NFC UART, camera)."""


def _app(nfc=True, camera=True, reboot=None, fs=None):
    board = Board("fw-test", Clock(ticks_ms, ticks_diff), nfc_uart=_Part() if nfc else None,
                  camera=_Part() if camera else None, reboot=reboot)
    return App(board, store=Store("/data", fs if fs is not None else MemFs()))


def _lines(app):
    out = []
    for chunk in app.out:
        for line in chunk.split(b"\n"):
            if line:
                out.append(line)
    app.out = []
    return out


def _send(app, cmd, args=None, rid=1):
    """All JSON objects written after one request (its reply and any events)."""
    req = {"id": rid, "cmd": cmd}
    if args is not None:
        req["args"] = args
    assert app.feed(json.dumps(req).encode() + b"\n") == 1
    return [json.loads(x) for x in _lines(app)]


def _reply(app, cmd, args=None):
    objs = _send(app, cmd, args)
    assert len(objs) == 1 and "ok" in objs[0], objs
    return objs[0]


def _ok(app, cmd, args=None):
    r = _reply(app, cmd, args)
    assert r["ok"] is True, r
    return r["result"]


def _err(app, cmd, args=None):
    r = _reply(app, cmd, args)
    assert r["ok"] is False, r
    return r["error"]["code"]


def _ready(app):
    """hello, a (certificate-free) trust setup and the clock: read.start's preconditions."""
    _ok(app, "hello", {"nonce": NONCE})
    app.state.trust = Trust.of_certs([])
    _ok(app, "time.set", {"unix": NOW})


def _signed(app, event):
    """The signed payload map of a result event, after checking its COSE_Sign1 with the reader key."""
    msg = cose.Sign1.parse(binascii.a2b_base64(event["cose"].encode()))
    msg.verify(app.state.reader_key.public_key())
    assert msg.kid == app.state.reader_key.kid
    payload = cbor.loads(msg.payload)
    assert payload["reader"] == app.state.reader_key.kid
    return payload


def test_read_start_bad_args():
    app = _app()
    _ready(app)
    for args in ({"channel": "ble"}, {"channel": 1}, {"profile": "everything"}, {"timeout_ms": 999},
                 {"timeout_ms": 300001}, {"timeout_ms": "30000"}, {"timeout_ms": 1.5}, {"speed": 1}):
        assert _err(app, "read.start", args) == "bad_args", args
    assert app.reads.job is None


def test_read_start_preconditions_in_order():
    app = _app()
    assert _err(app, "read.start", {}) == "no_session"
    _ok(app, "hello", {"nonce": NONCE})
    assert _err(app, "read.start", {}) == "no_trust_list"
    app.state.trust = Trust.of_certs([])
    assert _err(app, "read.start", {}) == "clock_unset"
    _ok(app, "time.set", {"unix": NOW})
    res = _ok(app, "read.start", {})
    assert res == {"read_id": 1, "channel": "any", "profile": "billing", "timeout_ms": 30000}
    job = app.reads.job
    assert job.channel == "any" and job.profile == "billing" and not job.started and not job.done


def test_read_start_profile_defaults_to_policy():
    app = _app()
    _ready(app)
    _ok(app, "provision.config", {"policy": {"profile": "identity"}})
    assert _ok(app, "read.start", {"channel": "qr"})["profile"] == "identity"


def test_no_channel():
    for nfc, camera, channel in ((False, True, "nfc"), (True, False, "qr"), (False, False, "any")):
        app = _app(nfc=nfc, camera=camera)
        _ready(app)
        assert _err(app, "read.start", {"channel": channel}) == "no_channel", channel
    app = _app(nfc=False)
    _ready(app)
    assert _ok(app, "read.start", {"channel": "any"})["channel"] == "any"  # the camera alone will do


def test_busy_then_cancel_gives_one_signed_refusal():
    app = _app()
    _ready(app)
    first = _ok(app, "read.start", {"channel": "nfc", "timeout_ms": 5000})
    assert _err(app, "read.start", {"channel": "qr"}) == "busy"
    objs = _send(app, "read.cancel")
    assert objs[0] == {"id": 1, "ok": True, "result": {"cancelled": True, "read_id": first["read_id"]}}
    events = objs[1:]
    names = [e["event"] for e in events]
    assert names == ["state", "refusal", "state"], names
    assert [events[0]["state"], events[2]["state"]] == ["reporting", "idle"]
    ev = events[1]
    payload = _signed(app, ev)
    assert payload["nonce"] == binascii.unhexlify(NONCE) and payload["counter"] == 1
    result = payload["result"]
    assert result == ev["result"]
    assert result["read_id"] == first["read_id"] and result["status"] == "refused"
    assert result["refusal"]["code"] == "cancelled" and result["channel"] is None
    assert _ok(app, "read.cancel") == {"cancelled": False}
    second = _ok(app, "read.start", {"channel": "qr"})
    assert second["read_id"] == first["read_id"] + 1
    _send(app, "read.cancel")
    assert app.state.session.counter == 2


def test_result_events_are_signed_in_sequence():
    app = _app()
    _ready(app)
    _ok(app, "read.start", {"channel": "qr", "profile": "identity"})
    job = app.reads.job
    card = VerifiedCard({"family_name": "MARTIN", "given_names": ["Lea"]}, "qr", "org.vitale-reader.hic.1",
                        "DS", 1, 2, 1, device_auth="presentation")
    assert app.reads.card(job, "qr", card, {"format": "vqr", "text": "VQR1:X"})
    assert not app.reads.refuse(job, "timeout")  # one result per read, never two
    app.flush_events()
    events = [json.loads(x) for x in _lines(app)]
    results = [e for e in events if e["event"] != "state"]
    assert len(results) == 1 and results[0]["event"] == "card"
    payload = _signed(app, results[0])
    r = payload["result"]
    assert r["status"] == "verified" and r["channel"] == "qr" and r["profile"] == "identity"
    assert r["card"]["fields"] == {"family_name": "MARTIN", "given_names": ["Lea"]}
    assert r["raw"] == {"format": "vqr", "text": "VQR1:X"}
    assert [e["state"] for e in events if e["event"] == "state"] == ["reporting", "idle"]
    app.reads.release(job)
    _ok(app, "read.start", {"channel": "nfc"})
    job = app.reads.job
    assert app.reads.unverified(job, "nfc", "nfc", b"\x08\x01\x02\x03", {"nfc": {"uid": "08010203"}})
    app.flush_events()
    ev = [json.loads(x) for x in _lines(app) if b'"unverified_payload"' in x][0]
    payload = _signed(app, ev)
    assert payload["counter"] == 2
    assert payload["result"]["verified"] is False and payload["result"]["payload"] == "08010203"


def test_typed_read_without_session_is_readable():
    app = _app()
    app.state.trust = Trust.of_certs([])
    _ok(app, "time.set", {"unix": NOW})
    app.feed(b"read qr\r\n")
    text = b"".join(app.out).decode()
    app.out = []
    assert "read_id: 1" in text and "channel: qr" in text
    assert app.state.session is None  # a console session, not the host's
    app.feed(b"read.cancel\n")
    text = b"".join(app.out).decode()
    assert "cancelled: True" in text
    assert "event: refusal" in text and "code: cancelled" in text and "state: idle" in text
    assert "cose" not in text
    app.out = []
    app.feed(b"read ble\n")
    assert b"".join(app.out).startswith(b"error bad_args")


def test_help_lists_read_commands():
    app = _app()
    cmds = _ok(app, "help")["commands"]
    for c in ("read", "read.start", "read.cancel", "reader.csr", "provision.reader_cert", "reboot"):
        assert c in cmds and cmds[c], c
    app.feed(b"help read\n")
    assert b"channel" in b"".join(app.out)


def test_csr_parses_with_the_firmware_der_reader():
    app = _app()
    csr = binascii.unhexlify(_ok(app, "reader.csr", {"cn": "Cabinet Dr Lea"})["csr"])
    top = der.parse(csr).expect(der.SEQUENCE).children()
    assert len(top) == 3
    info, alg, sig = top
    fields = info.expect(der.SEQUENCE).children()
    assert fields[0].as_int() == 0
    rdn = fields[1].children()[0].children()[0].children()
    assert rdn[0].as_oid() == "2.5.4.3" and rdn[1].as_str() == "Cabinet Dr Lea"
    spki = fields[2].children()
    assert [x.as_oid() for x in spki[0].children()] == ["1.2.840.10045.2.1", "1.2.840.10045.3.1.7"]
    pub = spki[1].as_bits()
    assert pub == app.state.reader_key.public_key()
    assert fields[3].tag == 0xA0 and fields[3].content == b""
    assert alg.children()[0].as_oid() == "1.2.840.10045.4.3.2"
    signature = sig.as_bits()
    assert p256.ecdsa_verify_der(pub, info.raw, signature)
    assert not p256.ecdsa_verify_der(pub, info.raw[:-1] + b"\x01", signature)
    default = binascii.unhexlify(_ok(app, "reader.csr")["csr"])
    assert b"Vitale Reader fw-test" in default
    assert _err(app, "reader.csr", {"cn": ""}) == "bad_args"
    assert _err(app, "reader.csr", {"cn": "x" * 65}) == "bad_args"


def test_config_flags_are_stored_and_shown():
    fs = MemFs()
    app = _app(fs=fs)
    assert _ok(app, "info")["config"] == {"passthrough": False, "attach_raw": False}
    res = _ok(app, "provision.config", {"policy": {"qr_window_s": 20}, "passthrough": True, "attach_raw": True})
    assert res["passthrough"] is True and res["attach_raw"] is True and res["policy"]["qr_window_s"] == 20
    again = _app(fs=fs)  # after a reset
    info = _ok(again, "info")
    assert info["config"] == {"passthrough": True, "attach_raw": True}
    assert info["policy"]["qr_window_s"] == 20 and info["reader_cert"] is False
    assert _err(again, "provision.config", {"policy": {}, "passthrough": "yes"}) == "bad_args"
    assert _err(again, "provision.config", {"policy": {}, "attach_raw": 1}) == "bad_args"
    assert _ok(again, "provision.config", {"policy": {}})["passthrough"] is False
    assert _ok(_app(fs=fs), "info")["config"] == {"passthrough": False, "attach_raw": False}


def test_reader_cert_refusals():
    app = _app()
    assert _err(app, "provision.reader_cert", {"cert": "3000"}) == "no_trust_list"
    app.state.trust = Trust.of_certs([])
    assert _err(app, "provision.reader_cert", {"cert": "3000"}) == "clock_unset"
    _ok(app, "time.set", {"unix": NOW})
    assert _err(app, "provision.reader_cert", {"cert": "zz"}) == "bad_args"
    assert _err(app, "provision.reader_cert", {"cert": "3003020100"}) == "bad_reader_cert"
    assert _err(app, "provision.reader_cert", {}) == "bad_args"
    assert app.state.reader_cert is None and app.reads.reader_cert() is None


def test_reboot():
    app = _app()
    assert _err(app, "reboot") == "unsupported"
    resets = []
    app = _app(reboot=lambda: resets.append(1))
    assert _ok(app, "reboot") == {"rebooting": True}
    assert app.reads.reboot_requested and not resets  # the app resets after the reply is written


def test_bad_lines_keep_the_link():
    app = _app()
    app.feed(b"{not json\n")
    app.feed(b"x" * (MAX_LINE + 10) + b"\n")
    app.feed(b'{"id": 3, "cmd": "read.start", "args": []}\n')
    objs = [json.loads(x) for x in _lines(app)]
    assert [o["error"]["code"] for o in objs] == ["bad_json", "line_too_long", "bad_args"]
    assert _ok(app, "info")["board"] == "fw-test"
