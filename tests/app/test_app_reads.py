"""The firmware App end to end on an emulated board: NFC and QR reads, refusals, cancel, passthrough, recovery.

One App per module (provisioned once from a device CSR); each test runs the
App's asyncio loop while it talks JSON lines to it, and checks the signed
result events with the SDK's verifier against the reader key.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from appsupport import Rig, world

from vitale.cred.policy import PROFILES  # type: ignore[import-not-found,unused-ignore]
from vitale.nfc import mdoc_nfc  # type: ignore[import-not-found,unused-ignore]
from vitale_host.models import DOC_TYPE
from vitale_host.verify import Policy, TrustStore, verify_device_response
from vitale_tools.nfc_target import HcePhone
from vitale_tools.wallet import Wallet

pytestmark = pytest.mark.slow

SCAN_ORDER = ["scanning", "reading", "verifying", "reporting", "idle"]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Rig:
    base = tmp_path_factory.mktemp("app")
    r = Rig(world(base / "authority"), base / "store")
    r.run(lambda rig: rig.provision())
    return r


@pytest.fixture(autouse=True)
def _clean_field(rig: Rig) -> Any:
    yield
    rig.remove()
    rig.camera.clear()
    rig.camera.fail = None


def _states(events: list[dict[str, Any]]) -> list[str]:
    return [e["state"] for e in events if e.get("event") == "state"]


def _result_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") in ("card", "refusal", "unverified_payload")]


async def _read(rig: Rig, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """read.start, then (its reply, the signed result checked like the SDK does, all events)."""
    started = await rig.ok("read.start", args)
    events = await rig.events_until()
    results = _result_events(events)
    assert len(results) == 1, events  # exactly one result event per read
    result = rig.verify(results[0])
    assert result["read_id"] == started["read_id"]
    assert all(e.get("read_id") == started["read_id"] for e in events if e.get("event") == "state")
    return started, result, events


def _refusal(result: dict[str, Any]) -> str:
    assert result["status"] == "refused", result
    code: str = result["refusal"]["code"]
    return code


def test_nfc_read_verified(rig: Rig) -> None:
    rig.tap("0")

    async def go(r: Rig) -> Any:
        return await _read(r, {"channel": "nfc"})

    started, result, events = rig.run(go)
    assert started["channel"] == "nfc" and started["profile"] == "billing" and started["timeout_ms"] == 30000
    assert _states(events) == SCAN_ORDER
    assert result["status"] == "verified" and result["channel"] == "nfc" and result["profile"] == "billing"
    card = result["card"]
    assert card["channel"] == "nfc" and card["device_auth"] == "signature"
    assert card["fields"] == rig.card_fields("0", PROFILES["billing"])
    assert "raw" not in result
    assert rig.leds[-1] == _ok_colour()
    assert rig.app.pn is not None  # the chip stays begun between reads


def _ok_colour() -> tuple[int, int, int]:
    from vitale.hal.board import Led  # type: ignore[import-not-found,unused-ignore]

    colour: tuple[int, int, int] = Led.COLOURS["ok"]
    return colour


def test_qr_read_verified_then_replay_refused(rig: Rig) -> None:
    rig.camera.show_text(rig.qr_text("1"))

    async def go(r: Rig) -> Any:
        first = await _read(r, {"channel": "qr", "profile": "billing", "timeout_ms": 20000})
        second = await _read(r, {"channel": "any", "timeout_ms": 20000})  # the same presentation again
        return first, second

    (_, result, events), (_, again, _) = rig.run(go)
    assert _states(events) == SCAN_ORDER
    assert result["status"] == "verified" and result["channel"] == "qr"
    assert result["card"]["fields"] == rig.card_fields("1", PROFILES["billing"])
    assert result["card"]["device_auth"] == "presentation"
    assert _refusal(again) == "replayed" and again["channel"] == "qr"
    from vitale.vision import qr  # type: ignore[import-not-found,unused-ignore]

    dec = qr.decoder_for(640, 480)  # kept between reads: it holds nothing of the patient's QR
    assert dec.results == [] and not any(dec.data) and not any(dec.cw) and not any(dec.grid)


def test_revoked_card_refused_by_nfc(rig: Rig) -> None:
    rig.tap("2")
    _, result, _ = rig.run(lambda r: _read(r, {"channel": "any"}))
    assert _refusal(result) == "revoked" and result["channel"] == "nfc"
    assert result["refusal"]["message"]
    assert (400, 150) in rig.tones  # the refused pattern was played


def test_timeout_when_nothing_is_shown(rig: Rig) -> None:
    _, result, events = rig.run(lambda r: _read(r, {"channel": "any", "timeout_ms": 1000}))
    assert _refusal(result) == "timeout" and result["channel"] is None
    assert _states(events) == ["scanning", "reporting", "idle"]
    assert rig.camera.captures > 0


def test_cancel_then_next_read_works(rig: Rig) -> None:
    async def go(r: Rig) -> Any:
        started = await r.ok("read.start", {"channel": "any"})
        assert await r.error("read.start", {"channel": "qr"}) == "busy"
        cancelled = await r.ok("read.cancel")
        events = await r.events_until()
        results = _result_events(events)
        assert len(results) == 1
        result = r.verify(results[0])
        nothing = await r.ok("read.cancel")
        r.tap("0")
        nxt = await _read(r, {"channel": "nfc"})
        return started, cancelled, result, nothing, nxt

    started, cancelled, result, nothing, (_, nxt, _) = rig.run(go)
    assert cancelled == {"cancelled": True, "read_id": started["read_id"]}
    assert _refusal(result) == "cancelled" and result["read_id"] == started["read_id"]
    assert nothing == {"cancelled": False}
    assert nxt["status"] == "verified"


def test_phone_removed_mid_read(rig: Rig) -> None:
    phone = rig.tap("0")
    assert isinstance(phone, Wallet)
    phone.cfg.remove_after_apdus = 4  # the patient pulls the phone away during the exchange
    _, result, _ = rig.run(lambda r: _read(r, {"channel": "nfc"}))
    assert _refusal(result) == "card_removed" and result["channel"] == "nfc"


def test_consent_denied(rig: Rig) -> None:
    phone = rig.tap("1")
    assert isinstance(phone, Wallet)
    phone.cfg.consent = False
    _, result, _ = rig.run(lambda r: _read(r, {"channel": "nfc"}))
    assert _refusal(result) == "consent_denied"


def test_passthrough_of_closed_formats(rig: Rig) -> None:
    official = "OFFICIAL-APP:1:ZXhhbXBsZSBjbG9zZWQgZm9ybWF0"

    async def go(r: Rig) -> Any:
        r.camera.show_text(official)
        refused = await _read(r, {"channel": "qr"})
        conf = await r.ok("provision.config", {"policy": {}, "passthrough": True})
        info = await r.ok("info")
        passed = await _read(r, {"channel": "qr"})
        r.camera.clear()
        r.tap(HcePhone({}, uid=bytes.fromhex("08a1b2c3")))  # a phone without our wallet
        nfc = await _read(r, {"channel": "nfc"})
        await r.ok("provision.config", {"policy": {}})
        return refused, conf, info, passed, nfc

    (_, refused, _), conf, info, (_, passed, _), (_, nfc, _) = rig.run(go)
    assert _refusal(refused) == "not_a_credential" and refused["channel"] == "qr"
    assert conf["passthrough"] is True and conf["attach_raw"] is False
    assert info["config"] == {"passthrough": True, "attach_raw": False}
    assert passed["status"] == "unverified" and passed["verified"] is False and passed["format"] == "qr"
    assert bytes.fromhex(passed["payload"]) == official.encode()
    assert "card" not in passed
    assert nfc["status"] == "unverified" and nfc["format"] == "nfc" and nfc["channel"] == "nfc"
    assert nfc["payload"] == "08a1b2c3" and nfc["nfc"]["uid"] == "08a1b2c3"


def test_attach_raw_is_rechecked_by_the_host_verifier(rig: Rig) -> None:
    rig.tap("0")

    async def go(r: Rig) -> Any:
        await r.ok("provision.config", {"policy": {}, "attach_raw": True})
        try:
            return await _read(r, {"channel": "nfc", "profile": "identity"})
        finally:
            await r.ok("provision.config", {"policy": {}})

    _, result, _ = rig.run(go)
    assert result["status"] == "verified" and result["profile"] == "identity"
    raw = result["raw"]
    assert raw["format"] == "mdoc"
    irb = mdoc_nfc.items_request_bytes(DOC_TYPE, DOC_TYPE, PROFILES["identity"], True)
    store = TrustStore.load_dir(rig.auth.path)
    v = verify_device_response(bytes.fromhex(raw["device_response"]), bytes.fromhex(raw["session_transcript"]),
                               store, int(time.time()), Policy(doc_type=DOC_TYPE, profile="identity"),
                               bytes.fromhex(raw["e_reader_key"]), irb)
    assert v.card is not None
    host_fields = {k: x for k, x in v.card.to_dict().items() if k in PROFILES["identity"]}
    assert host_fields == result["card"]["fields"]


def test_exception_in_a_read_is_internal_and_the_next_read_works(rig: Rig) -> None:
    async def go(r: Rig) -> Any:
        r.camera.fail = RuntimeError("sensor bus wedged")
        broken = await _read(r, {"channel": "qr"})
        info = await r.ok("info")  # the link is still served
        r.camera.show_text(r.qr_text("0"), seed=5)
        fine = await _read(r, {"channel": "qr"})
        return broken, info, fine

    (_, broken, _), info, (_, fine, _) = rig.run(go)
    assert _refusal(broken) == "internal" and "sensor bus wedged" in broken["refusal"]["detail"]
    assert info["board"] == "test-rig"
    assert fine["status"] == "verified"
    assert rig.app.internal_errors >= 1


def test_typed_read_shows_readable_result(rig: Rig) -> None:
    rig.camera.show_text(rig.qr_text("0", ahead_s=3), seed=9)  # patient 0's QR was read just before

    async def go(r: Rig) -> str:
        await r.send_line(b"read qr\r\n")
        return await r.text_until(b"event: card")

    text = rig.run(go)
    assert "read_id: " in text and "state: scanning" in text
    assert "event: card" in text and "status: verified" in text and "family_name: " in text
    assert "cose" not in text


def test_reboot_replies_then_resets(rig: Rig, tmp_path: Path) -> None:
    before = rig.reboots

    async def go(r: Rig) -> Any:
        return await r.ok("reboot")

    assert rig.run(go) == {"rebooting": True}
    assert rig.reboots == before + 1
