"""Reader over pyserial on a real pty against the firmware link (scripted reads, real signing and VQR checks)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sdksupport import device, provisioned, vitale_home, world  # noqa: F401  (fixtures)
from sdksupport import ScriptedReader, vqr_text
from vitale.link.protocol import event
from vitale.link.signing import ReaderKey
from vitale.store import Store
from vitale_host import (
    CardRefused, ForgedResult, HealthCard, PinStore, Reader, ReaderError, ReaderTimeout, ReadProgress,
    UnverifiedResult,
)
from vitale_tools.authority import Authority


def _card(world: Authority, patient: str) -> dict[str, Any]:
    card: dict[str, Any] = json.loads((world.path / "issued" / f"{patient}.json").read_text())["card"]
    return card


def _later(fn: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def _show(dev: ScriptedReader, world: Authority, patient: str) -> threading.Thread:
    def go() -> None:
        dev.wait_read()
        dev.show_qr(vqr_text(world.path, patient))
    return _later(go)


def test_qr_read_gives_the_verified_card(provisioned: ScriptedReader, world: Authority) -> None:
    progress: list[ReadProgress] = []
    with Reader(provisioned.path) as r:
        assert r.pinned and r.reader_kid == provisioned.state.reader_key.kid.hex()
        t = _show(provisioned, world, "1")
        res = r.read_card(channel="qr", profile="billing", timeout=10, on_progress=progress.append)
        t.join()
    assert res.verified and res.status == "verified" and res.channel == "qr" and res.counter == 1
    assert isinstance(res.card, HealthCard)
    want = _card(world, "1")
    got = res.card.to_dict()
    assert {k: got[k] for k in ("nir", "family_name", "birth_date")} == {k: want[k] for k in
                                                                         ("nir", "family_name", "birth_date")}
    assert res.verification is not None and res.verification.format == "vqr"
    assert res.verification.device_auth == "presentation"
    assert [p.state for p in progress] == ["scanning", "verifying"]
    # the request the reader received is the documented one
    starts = [json.loads(line) for line in provisioned.received if b'"read.start"' in line]
    assert starts[0]["args"] == {"channel": "qr", "timeout_ms": 10000, "profile": "billing"}


def test_refusals_raise_with_their_code_or_are_returned(provisioned: ScriptedReader, world: Authority) -> None:
    with Reader(provisioned.path) as r:
        t = _show(provisioned, world, "2")  # revoked
        with pytest.raises(CardRefused) as e:
            r.read_card(channel="qr", timeout=10)
        t.join()
        assert e.value.code == "revoked" and e.value.refusal.code == "revoked"
        assert e.value.result.card is None and e.value.result.channel == "qr"
        # a replayed QR, returned rather than raised
        text = vqr_text(world.path, "0")
        for expect in ("verified", "refused"):
            t = _later(lambda: (provisioned.wait_read(), provisioned.show_qr(text)) and None)
            res = r.read_card(channel="qr", timeout=10, raise_on_refusal=False)
            t.join()
            assert res.status == expect
        assert res.refusal is not None and res.refusal.code == "replayed" and res.card is None
        assert res.counter == 3


def test_reader_timeout_is_a_refusal(provisioned: ScriptedReader) -> None:
    with Reader(provisioned.path) as r:
        t0 = time.monotonic()
        with pytest.raises(CardRefused) as e:
            r.read_card(timeout=1)
        assert e.value.code == "timeout" and time.monotonic() - t0 < 10


def test_cancel_from_another_thread(provisioned: ScriptedReader) -> None:
    with Reader(provisioned.path) as r:
        def cancel() -> None:
            provisioned.wait_read()
            assert r.cancel() is True
        t = _later(cancel)
        with pytest.raises(CardRefused) as e:
            r.read_card(timeout=30)
        t.join()
        assert e.value.code == "cancelled"
        assert r.cancel() is False


def test_unpinned_reader_is_refused(device: ScriptedReader, world: Authority) -> None:
    from sdksupport import provision
    provision(device, world)
    with pytest.raises(ReaderError) as e:
        Reader(device.path)
    assert e.value.code == "reader_not_pinned"
    with Reader(device.path, require_pin=False) as r:
        assert not r.pinned and r.info().reader_pinned is False
        with pytest.raises(ReaderError) as e:
            r.read_card()
        assert e.value.code == "reader_not_pinned"
        assert not any(b"read.start" in line for line in device.received)
        kid = r.pin_reader_key()
        assert kid == device.state.reader_key.kid.hex() and r.pinned
    assert PinStore().lookup(kid) == device.state.reader_key.public_key()


def _forged_during_read(dev: ScriptedReader, r: Reader, make_line: Callable[[int], bytes]) -> ForgedResult:
    def go() -> None:
        rid = dev.wait_read()["read_id"]
        dev.send(make_line(rid))
    t = _later(go)
    with pytest.raises(ForgedResult) as e:
        r.read_card(timeout=10)
    t.join()
    assert e.value.code == "forged_result"
    return e.value


def test_forged_and_replayed_results_are_refused(provisioned: ScriptedReader, world: Authority,
                                                  tmp_path: Path) -> None:
    other = ReaderKey(Store(str(tmp_path / "other")))
    card = {"fields": _card(world, "0"), "doc_type": "org.vitale-reader.hic.1", "channel": "qr"}

    def result(rid: int) -> dict[str, Any]:
        return {"read_id": rid, "status": "verified", "channel": "qr", "profile": "billing", "card": card}

    with Reader(provisioned.path) as r:
        nonce = r._nonce  # noqa: SLF001  (the session nonce, as a man in the middle would have seen it)
        # another key (the attacker's own "reader")
        e = _forged_during_read(provisioned, r, lambda rid: event("card", other.sign_result(result(rid), nonce, 5)))
        assert "another reader" in e.message
        # the genuine reader key over another session's nonce (a replay from an earlier session)
        key = provisioned.state.reader_key
        e = _forged_during_read(provisioned, r, lambda rid: event("card", key.sign_result(result(rid), b"\1" * 32, 9)))
        assert "nonce" in e.message
        # no signature at all
        e = _forged_during_read(provisioned, r, lambda rid: event("card", {"result": result(rid)}))
        assert "signature" in e.message
        # a genuine result of this session, replayed within it
        t = _show(provisioned, world, "1")
        assert r.read_card(timeout=10).verified
        t.join()
        first = provisioned.sent_events[-1]
        e = _forged_during_read(provisioned, r, lambda rid: first)
        assert "counter" in e.message
        # after all that the link still reads
        t = _show(provisioned, world, "0")
        assert r.read_card(timeout=10).verified
        t.join()


def test_unverified_payload_is_never_a_card(provisioned: ScriptedReader) -> None:
    with Reader(provisioned.path) as r:
        t = _later(lambda: (provisioned.wait_read(), provisioned.pass_through(b"OFFICIAL-APP-QR")) and None)
        with pytest.raises(UnverifiedResult) as e:
            r.read_card()
        t.join()
        assert e.value.code == "unverified_payload" and e.value.result.card is None
        t = _later(lambda: (provisioned.wait_read(), provisioned.pass_through(b"\x00\xff")) and None)
        res = r.read_card(allow_unverified=True)
        t.join()
        assert res.status == "unverified" and not res.verified and res.card is None and res.verification is None
        assert res.unverified is not None and res.unverified.payload == b"\x00\xff"
        assert res.to_dict()["verified"] is False and "card" not in res.to_dict()


def test_malformed_signed_result_has_a_code(provisioned: ScriptedReader) -> None:
    with Reader(provisioned.path) as r:
        def go() -> None:
            rid = provisioned.wait_read()["read_id"]
            provisioned.emit_result("card", {"read_id": rid, "status": "verified", "card": {"fields": 3}})
        t = _later(go)
        with pytest.raises(ReaderError) as e:
            r.read_card()
        t.join()
        assert e.value.code == "bad_result"


def test_bad_arguments_are_refused_before_sending(provisioned: ScriptedReader) -> None:
    with Reader(provisioned.path) as r:
        for kw in ({"channel": "bluetooth"}, {"profile": "everything"}, {"timeout": 0.1}, {"timeout": 1000}):
            with pytest.raises(ReaderError) as e:
                r.read_card(**kw)  # type: ignore[arg-type]
            assert e.value.code == "bad_args"
        with pytest.raises(ReaderError) as e:
            r.request("hello", {"nonce": "00" * 16})
        assert e.value.code == "bad_args"
    assert not any(b"read.start" in line for line in provisioned.received)


def test_reconnects_after_unplug_with_a_new_session(provisioned: ScriptedReader, world: Authority) -> None:
    with Reader(provisioned.path, reconnect_timeout=5) as r:
        first_nonce = provisioned.state.nonce
        assert r.info().board == "sdk-test"
        provisioned.unplug()
        time.sleep(0.3)
        assert not r.connected
        threading.Timer(0.5, provisioned.plug).start()  # plugged back while the SDK waits for the port
        info = r.info()
        assert info.reader_pinned and r.connected
        assert provisioned.state.nonce != first_nonce  # a new hello: a new signed session
        t = _show(provisioned, world, "1")
        res = r.read_card(timeout=10)
        t.join()
        assert res.verified and res.counter == 1


def test_unplug_mid_read_then_next_read_succeeds(provisioned: ScriptedReader, world: Authority) -> None:
    with Reader(provisioned.path, reconnect_timeout=5) as r:
        def pull() -> None:
            provisioned.wait_read()
            provisioned.unplug()
            provisioned.read = None  # the board reset with the unplug
            time.sleep(0.3)
            provisioned.plug()
        t = _later(pull)
        with pytest.raises(ReaderError) as e:
            r.read_card(timeout=10)
        t.join()
        assert e.value.code == "disconnected"
        t = _show(provisioned, world, "0")
        assert r.read_card(timeout=10).verified
        t.join()


def test_gone_reader_fails_with_a_code_after_the_deadline(provisioned: ScriptedReader) -> None:
    r = Reader(provisioned.path, reconnect_timeout=0.5)
    provisioned.unplug()
    time.sleep(0.2)
    with pytest.raises(ReaderError) as e:
        r.info()
    assert e.value.code in ("port_unavailable", "disconnected")
    r.close()
    with pytest.raises(ReaderError) as e:
        r.info()
    assert e.value.code == "closed"


def test_leftover_read_is_cancelled_and_two_reads_do_not_interleave(provisioned: ScriptedReader,
                                                                    world: Authority) -> None:
    # a read left running by a program that was killed; it stops a moment after read.cancel
    provisioned.cancel_delay = 0.3
    with Reader(provisioned.path) as r:
        r.request("read.start", {"channel": "any", "timeout_ms": 60000})
    assert provisioned.read is not None
    leftover = provisioned.read["read_id"]
    with Reader(provisioned.path) as r:
        errors: list[str] = []

        def second() -> None:
            while provisioned.wait_read()["read_id"] == leftover:
                time.sleep(0.01)
            try:
                r.read_card(timeout=5)
            except ReaderError as e:
                errors.append(e.code)
        t2 = _later(second)
        def show() -> None:
            while provisioned.wait_read()["read_id"] == leftover or not errors:
                time.sleep(0.01)
            provisioned.show_qr(vqr_text(world.path, "1"))
        t = _later(show)
        res = r.read_card(timeout=10)
        t.join()
        t2.join()
        assert res.verified and errors == ["busy"]
        assert r.info().board == "sdk-test"  # commands from two threads never interleave (Connection lock)


def test_port_given_twice_is_refused(provisioned: ScriptedReader) -> None:
    with Reader(provisioned.path):
        with pytest.raises(ReaderError) as e:
            Reader(provisioned.path, connect_timeout=0.3)
        assert e.value.code == "port_unavailable"


def test_silent_port_times_out(tmp_path: Path) -> None:
    import os
    master, slave = os.openpty()
    try:
        t0 = time.monotonic()
        with pytest.raises(ReaderTimeout):
            Reader(os.ttyname(slave), connect_timeout=1.0)
        assert time.monotonic() - t0 < 8
    finally:
        os.close(master)
        os.close(slave)


def test_events_iterator_verifies_results(provisioned: ScriptedReader, world: Authority) -> None:
    with Reader(provisioned.path) as r:
        r.request("read.start", {"channel": "qr"})
        provisioned.show_qr(vqr_text(world.path, "1"))
        names = []
        for ev in r.events(timeout=2):
            names.append(ev.name)
            if ev.result is not None:
                assert ev.result.verified and ev.result.card is not None and ev.fields == {}
                break
        assert names == ["state", "state", "card"]
        provisioned.send(event("card", {"result": {"status": "verified"}}))
        with pytest.raises(ForgedResult):
            list(r.events(timeout=2))


def test_garbage_and_oversized_lines_from_the_reader_are_ignored(provisioned: ScriptedReader,
                                                                 world: Authority) -> None:
    with Reader(provisioned.path) as r:
        def go() -> None:
            rid = provisioned.wait_read()["read_id"]
            provisioned.send(b"\x00\xff garbage\r\n{not json\n[1, 2]\n" + b'{"id": 999, "ok": true}\n')
            provisioned.send(b'{"event": "state", "read_id": ' + str(rid).encode() + b', "state": "x' +
                             b"y" * (1 << 21) + b'"}\n')
            provisioned.show_qr(vqr_text(world.path, "1"))
        t = _later(go)
        res = r.read_card(timeout=20)
        t.join()
        assert res.verified
        assert any(b"garbage" in line for line in r.noise)
        assert r.info().board == "sdk-test"


def test_start_app_soft_resets_a_board_left_at_the_repl(provisioned: ScriptedReader) -> None:
    provisioned.at_repl = True
    with pytest.raises(ReaderTimeout):
        Reader(provisioned.path, connect_timeout=1.0)  # without start_app nothing is sent but hello
    assert provisioned.at_repl and not any(b"\x04" in line for line in provisioned.received)
    with Reader(provisioned.path, connect_timeout=3.0, start_app=True) as r:
        assert not provisioned.at_repl and r.info().board == "sdk-test"


def test_async_events_and_provisioning(provisioned: ScriptedReader, world: Authority) -> None:
    import asyncio

    from vitale_host import AsyncReader

    async def go() -> list[str]:
        r = await AsyncReader.open(provisioned.path)
        try:
            assert await r.provision_clock(1_800_000_000) == 1_800_000_000
            await r.provision_clock()
            await r.request("read.start", {"channel": "qr"})
            provisioned.show_qr(vqr_text(world.path, "0"))
            names = []
            async for ev in r.events(timeout=2):
                names.append(ev.name)
                if ev.result is not None:
                    assert ev.result.verified
                    break
            return names
        finally:
            await r.close()
    assert asyncio.run(go()) == ["state", "state", "card"]
