"""Host link: line framing and request handling; every bad line gets an error code."""

import json

from vitale.link.lines import LineBuffer
from vitale.link.protocol import Command, Dispatcher, LinkError, T_INT, T_STR, event


def _dispatcher():
    d = Dispatcher()

    def echo(args):
        return {"n": args["n"], "s": args.get("s", "")}

    def boom(args):
        raise KeyError("bug")

    def refuse(args):
        raise LinkError("busy", "a read is running")

    d.add(Command("echo", echo, (("n", T_INT, True), ("s", T_STR, False)), "echo n", ("n", "s")))
    d.add(Command("boom", boom, (), "crashes"))
    d.add(Command("refuse", refuse, (), "refuses"))
    return d


def _reply(d, line):
    out = d.handle_line(line)
    return json.loads(out) if out is not None else None


def test_lines_split_and_cr_dropped():
    lb = LineBuffer(16)
    assert lb.feed(b"ab") == []
    assert lb.feed(b"c\r\nde\nf") == [b"abc", b"de"]
    assert lb.pending() == 1
    assert lb.feed(b"\n") == [b"f"]


def test_overlong_line_reported_once_and_next_line_ok():
    lb = LineBuffer(8)
    got = lb.feed(b"0123456789")
    assert got == []
    got = lb.feed(b"abcdef\nok\n")
    assert got == [None, b"ok"]


def test_ok_reply_echoes_id():
    d = _dispatcher()
    r = _reply(d, b'{"id": 5, "cmd": "echo", "args": {"n": 3}}')
    assert r == {"id": 5, "ok": True, "result": {"n": 3, "s": ""}}


def test_error_codes_for_bad_requests():
    d = _dispatcher()
    cases = [
        (b"{not json", "bad_json"),
        (b'{"id": 1}', "bad_request"),
        (b'{"id": [1], "cmd": "echo"}', "bad_request"),
        (b'{"id": 1, "cmd": "nope"}', "unknown_command"),
        (b'{"id": 1, "cmd": "echo", "args": {}}', "bad_args"),
        (b'{"id": 1, "cmd": "echo", "args": {"n": "3"}}', "bad_args"),
        (b'{"id": 1, "cmd": "echo", "args": {"n": true}}', "bad_args"),
        (b'{"id": 1, "cmd": "echo", "args": {"n": 1, "zzz": 1}}', "bad_args"),
        (b'{"id": 1, "cmd": "echo", "args": 7}', "bad_args"),
        (b'{"id": 1, "cmd": "boom"}', "internal"),
        (b'{"id": 1, "cmd": "refuse"}', "busy"),
    ]
    for line, code in cases:
        r = _reply(d, line)
        assert r["ok"] is False and r["error"]["code"] == code and r["error"]["message"], (line, r)
    # lines that are not JSON objects are read as typed text commands
    assert d.handle_line(b"[1, 2]").startswith(b"error unknown_command")
    assert d.handle_line(b"\xff\xfe{").startswith(b"error bad_text")
    r = _reply(d, None)
    assert r["error"]["code"] == "line_too_long"
    assert d.handle_line(b"   ") is None
    # still usable afterwards
    assert _reply(d, b'{"id": 2, "cmd": "echo", "args": {"n": 1}}')["ok"] is True


def test_text_mode_for_people():
    d = _dispatcher()
    out = d.handle_line(b"echo 42 hi")
    assert out == b"n: 42\ns: hi\n", out
    assert d.handle_line(b"echo x").startswith(b"error bad_args")
    assert d.handle_line(b"frobnicate").startswith(b"error unknown_command")
    helped = d.handle_line(b"help")
    assert b"echo: echo n" in helped and b"help:" in helped
    assert b"n" in d.handle_line(b"help echo")


def test_replies_have_no_control_bytes():
    d = _dispatcher()
    out = d.handle_line(b'{"id": "a\\u0003", "cmd": "echo", "args": {"n": 1, "s": "x\\ny\\u0004"}}')
    assert out.endswith(b"\n")
    body = out[:-1]
    for b in body:
        assert b >= 0x20, body
    ev = event("card", {"x": "\u0003"})
    for b in ev[:-1]:
        assert b >= 0x20
