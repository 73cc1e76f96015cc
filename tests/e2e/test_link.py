"""The serial link end to end: garbage and oversized lines, a host that goes away mid-read, two clients,
forged and replayed `card` events injected on the line — and after each, the next read succeeds."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
import serial
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from vitale_host.client import CardRefused
from vitale_host.connection import Connection
from vitale_host.errors import ForgedResult, ReaderError
from vitale_host.models import ReadProgress
from vitale_host.signed import reader_kid
from vitale_host.transport import SerialTransport

from .conftest import Emulator
from .test_reads import READ_S, read_ok


def raw_replies(port: str, payload: bytes, want_id: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Write raw bytes on the pty with pyserial; the JSON lines that came back up to the reply with want_id."""
    got: list[dict[str, Any]] = []
    with serial.Serial(port, 115200, timeout=0.2, exclusive=True) as ser:
        ser.write(payload)
        ser.flush()
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            buf += ser.read(4096)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"{"):
                    msg = json.loads(line)
                    got.append(msg)
                    if msg.get("id") == want_id:
                        return got
    raise AssertionError(f"no reply {want_id} within {timeout} s; got {got}")


def test_garbage_and_oversized_lines_answered_and_link_survives(vr: Emulator) -> None:
    payload = (b"{not json at all\n"
               + b"[1, 2, 3]\n"
               + b'{"id": 5, "cmd": 42}\n'
               + b"{" + b"x" * 70_000 + b"}\n"
               + b'{"id": 6, "cmd": "no.such.command"}\n'
               + b'{"id": 7, "cmd": "info", "args": {"unexpected": 1}}\n'
               + b'{"id": 8, "cmd": "info"}\n')
    got = raw_replies(vr.port, payload, 8)
    codes = [(m.get("id"), m["error"]["code"]) for m in got if m.get("ok") is False]
    # "[1, 2, 3]" does not start with "{": a typed line, answered in text ("error ...")
    assert codes == [(None, "bad_json"), (5, "bad_request"), (None, "line_too_long"), (6, "unknown_command"),
                     (7, "bad_args")]
    assert got[-1]["ok"] is True and got[-1]["result"]["board"] == "virtual-devkit"
    read_ok(vr, "nfc", "tap 0", "0")


def test_binary_noise_on_the_line(vr: Emulator) -> None:
    noise = bytes(range(256)) * 8 + b"\n" + os.urandom(3000).replace(b"\n", b"") + b"\n"
    got = raw_replies(vr.port, noise + b'{"id": 9, "cmd": "info"}\n', 9)
    assert got[-1]["ok"] is True
    read_ok(vr, "qr", "show-qr 1", "1")


def _hello(conn: Connection) -> bytes:
    nonce = os.urandom(16)
    conn.request("hello", {"nonce": nonce.hex()}, 10.0)
    return nonce


def test_host_disconnect_mid_read(vr: Emulator) -> None:
    # a host starts a read and goes away while it runs (no phone yet)
    conn = Connection(SerialTransport(vr.port))
    conn.open()
    _hello(conn)
    conn.request("read.start", {"channel": "any", "timeout_ms": 60000}, 10.0)
    conn.close()
    # a host goes away between the tap and the result (the result event has nobody to go to)
    conn = Connection(SerialTransport(vr.port))
    conn.open()
    _hello(conn)
    vr.ok("tap 1")
    try:
        conn.request("read.start", {"channel": "nfc", "timeout_ms": 20000}, 10.0)
    except ReaderError as e:
        assert e.code == "busy"  # the first host's read may still run: it was never cancelled
    conn.close()
    time.sleep(0.3)
    st = vr.status()
    assert st["app"] == "running" and st["crashes"] == "0"
    # the next program gets a clean session and reads
    read_ok(vr, "nfc", "tap 1", "1")
    assert vr.status()["crashes"] == "0"


def test_second_client_refused_while_port_open(vr: Emulator) -> None:
    with vr.reader():
        with pytest.raises(ReaderError) as ei:
            vr.reader(connect_timeout=0.5)
        assert ei.value.code == "port_unavailable"
        with pytest.raises(serial.SerialException):
            serial.Serial(vr.port, 115200, exclusive=True)
    read_ok(vr, "nfc", "tap 2", "2")


def _read_in_thread(r: Any, channel: str) -> tuple[threading.Thread, dict[str, Any], threading.Event]:
    out: dict[str, Any] = {}
    scanning = threading.Event()

    def progress(p: ReadProgress) -> None:
        if p.state == "scanning":
            scanning.set()

    def run() -> None:
        try:
            out["result"] = r.read_card(channel=channel, timeout=READ_S, on_progress=progress)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out, scanning


def test_two_threads_on_one_reader_are_serialized(vr: Emulator) -> None:
    with vr.reader() as r:
        t, out, scanning = _read_in_thread(r, "nfc")
        assert scanning.wait(15)
        with pytest.raises(ReaderError) as ei:
            r.read_card(channel="nfc", timeout=5)
        assert ei.value.code == "busy"
        assert r.info().board == "virtual-devkit"  # other commands still go through, one at a time
        vr.ok("tap 0")
        t.join(READ_S + 15)
        assert not t.is_alive()
    assert "error" not in out, out.get("error")
    assert out["result"].card.nir == vr.patient("0")["card"]["nir"]


def _cose_sign1_event(result: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: bytes, nonce: bytes,
                      counter: int) -> dict[str, Any]:
    """A `card` event signed as docs/host-protocol.md says, by `key`."""
    prot = cbor2.dumps({1: -7, 4: kid}, canonical=True)
    payload = cbor2.dumps({"result": result, "nonce": nonce, "counter": counter, "reader": kid}, canonical=True)
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    cose = cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, sig]))
    return {"event": "card", "cose": base64.b64encode(cose).decode(), "result": result}


def _forged_read(vr: Emulator, make_event: Callable[[Any], dict[str, Any]]) -> BaseException | None:
    """Start an SDK read, inject the event on the line while it scans; what read_card raised."""
    with vr.reader() as r:
        t, out, scanning = _read_in_thread(r, "nfc")
        assert scanning.wait(15)
        vr.ok("inject " + json.dumps(make_event(r)))
        t.join(READ_S + 15)
        assert not t.is_alive()
    assert "result" not in out, "a forged event was accepted"
    err: BaseException | None = out.get("error")
    return err


def test_forged_card_event_wrong_key_refused(vr: Emulator) -> None:
    genuine = vr.patient("0")["card"]
    result = {"read_id": 1, "status": "verified", "channel": "nfc", "profile": "billing",
              "card": {"fields": genuine, "doc_type": "org.vitale-reader.hic.1"}}
    impostor = ec.generate_private_key(ec.SECP256R1())

    def make(r: Any) -> dict[str, Any]:
        kid = bytes.fromhex(r.reader_kid)  # claims to be the pinned reader
        return _cose_sign1_event(result, impostor, kid, os.urandom(32), 1)

    err = _forged_read(vr, make)
    assert isinstance(err, ForgedResult) and err.code == "forged_result", err
    assert "signature" in err.message
    # an event signed by another key with its own kid: refused as another reader's
    other_kid = reader_kid(impostor.public_key().public_bytes(serialization.Encoding.X962,
                                                              serialization.PublicFormat.UncompressedPoint))
    err = _forged_read(vr, lambda r: _cose_sign1_event(result, impostor, other_kid, os.urandom(32), 1))
    assert isinstance(err, ForgedResult) and "another reader" in err.message
    # unsigned
    err = _forged_read(vr, lambda r: {"event": "card", "result": result})
    assert isinstance(err, ForgedResult)
    read_ok(vr, "nfc", "tap 0", "0")


def test_replayed_card_event_from_another_session_refused(vr: Emulator) -> None:
    # a genuine signed card event of one session, captured off the line
    conn = Connection(SerialTransport(vr.port))
    conn.open()
    try:
        _hello(conn)
        vr.ok("tap 1")
        conn.request("read.start", {"channel": "nfc", "timeout_ms": 20000}, 10.0)
        deadline = time.monotonic() + READ_S
        captured = None
        while captured is None and time.monotonic() < deadline:
            ev = conn.next_event(1.0)
            if ev is not None and ev.get("event") == "card":
                captured = ev
    finally:
        conn.close()
        vr.ok("remove")
    assert captured is not None
    # replayed into the next session: the nonce is not that session's
    err = _forged_read(vr, lambda r: captured)
    assert isinstance(err, ForgedResult) and "nonce" in err.message
    read_ok(vr, "nfc", "tap 1", "1")


def test_timeout_and_cancel_then_read(vr: Emulator) -> None:
    with vr.reader() as r:
        with pytest.raises(CardRefused) as ei:
            r.read_card(channel="nfc", timeout=1)
        assert ei.value.code == "timeout"
    read_ok(vr, "nfc", "tap 0", "0")
