"""Reads end to end: SDK over pyserial on the pty <-> virtual reader (firmware app under CPython) <-> emulated
PN532 + phone wallet and camera + phone screen. Each refusal has its exact code, and the next read succeeds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cbor2
import pytest

from vitale_host.client import CardRefused
from vitale_host.errors import ReaderError
from vitale_tools.authority import load_private_key, present
from vitale_tools.sim_world import make_world

from .conftest import Emulator

READ_S = 20.0


def read_ok(vr: Emulator, channel: str, action: str, patient: str) -> Any:
    """Present the phone, read through the SDK, check the verified card is that patient's."""
    vr.ok(action)
    with vr.reader() as r:
        res = r.read_card(channel=channel, timeout=READ_S)
    vr.ok("remove")
    assert res.status == "verified" and res.verified
    assert res.channel == (channel if channel != "any" else res.channel)
    assert res.card is not None
    assert res.card.nir == vr.patient(patient)["card"]["nir"]
    return res


def refused(vr: Emulator, channel: str, action: str) -> str:
    """Present the phone, read, and return the refusal code (the read must be refused)."""
    vr.ok(action)
    with vr.reader() as r:
        with pytest.raises(CardRefused) as ei:
            r.read_card(channel=channel, timeout=READ_S)
    vr.ok("remove")
    res = ei.value.result
    assert res.status == "refused" and res.card is None
    return str(ei.value.code)


def test_nfc_read_verified(vr: Emulator) -> None:
    res = read_ok(vr, "nfc", "tap 0", "0")
    assert res.verification is not None
    assert res.verification.format == "mdoc" and res.verification.device_auth in ("signature", "mac")
    assert res.reader_kid == vr.info["reader"].split()[0]
    assert vr.status()["led"] != "0,0,0"


def test_qr_read_verified(vr: Emulator) -> None:
    res = read_ok(vr, "qr", "show-qr 1", "1")
    assert res.verification is not None
    assert res.verification.format == "vqr" and res.verification.device_auth == "presentation"
    assert int(vr.status()["frames"]) >= 1


def test_any_channel_takes_the_tap(vr: Emulator) -> None:
    res = read_ok(vr, "any", "tap 2", "2")
    assert res.channel == "nfc"


def test_expired_credential_refused_then_recovers(vr: Emulator) -> None:
    assert refused(vr, "nfc", "tap 0 --expired") == "expired"
    assert refused(vr, "qr", "show-qr 0 --expired") == "expired"
    read_ok(vr, "nfc", "tap 0", "0")


def _tamper(src: Path, dst_stem: Path) -> Path:
    """A copy of an issued mdoc with one element value changed after signing (same device key)."""
    top = cbor2.loads(src.read_bytes())
    ns = next(iter(top["nameSpaces"]))
    items = top["nameSpaces"][ns]
    for k, tagged in enumerate(items):
        item = cbor2.loads(tagged.value)
        if item["elementIdentifier"] == "family_name":
            item["elementValue"] = item["elementValue"] + "X"
            items[k] = cbor2.CBORTag(24, cbor2.dumps(item))
            break
    else:
        raise AssertionError("no family_name element")
    out = Path(str(dst_stem) + ".mdoc.cbor")
    out.write_bytes(cbor2.dumps(top))
    key = src.with_name(src.name.replace(".mdoc.cbor", ".device-key.pem"))
    Path(str(dst_stem) + ".device-key.pem").write_bytes(key.read_bytes())
    return out


def test_tampered_credential_refused(vr: Emulator, tmp_path: Path) -> None:
    bad = _tamper(vr.authority / "issued" / "1.mdoc.cbor", tmp_path / "tampered")
    assert refused(vr, "nfc", f"tap --credential {bad}") == "digest_mismatch"
    read_ok(vr, "nfc", "tap 1", "1")


def test_untrusted_issuer_refused(vr: Emulator, tmp_path: Path) -> None:
    other = make_world(tmp_path / "other-authority", patients=1)
    assert refused(vr, "nfc", f"tap --credential {other / 'issued' / '0.mdoc.cbor'}") == "untrusted_issuer"
    assert refused(vr, "qr", f"show-qr --credential {other / 'issued' / '0.vqr-issuer.cbor'}") == "untrusted_issuer"
    read_ok(vr, "qr", "show-qr 2", "2")


def test_phone_removed_mid_read(vr: Emulator) -> None:
    vr.ok("fault remove-after 12")
    assert refused(vr, "nfc", "tap 0") == "card_removed"
    read_ok(vr, "nfc", "tap 0", "0")


def test_consent_denied(vr: Emulator) -> None:
    assert refused(vr, "nfc", "tap 2 --consent-deny") == "consent_denied"
    read_ok(vr, "nfc", "tap 2", "2")


def test_noisy_pn532_uart_still_reads(vr: Emulator) -> None:
    vr.ok("fault uart-noise 3")
    assert vr.status()["uart_faults_pending"] == "4"
    read_ok(vr, "nfc", "tap 1", "1")
    assert vr.status()["uart_faults_pending"] == "0"  # every damaged reply went through the driver


def test_stale_status_list_then_fresh_clock(vr: Emulator) -> None:
    # four days later with no new status list: older than the 72 h the policy allows
    vr.ok("set-time +345600")
    try:
        assert refused(vr, "nfc", "tap 0") == "stale_status_list"
    finally:
        vr.ok("set-time now")
    read_ok(vr, "nfc", "tap 0", "0")


def test_clock_unset_after_reboot(vr: Emulator) -> None:
    vr.ok("reboot")
    with vr.reader() as r:
        assert r.info().clock_set is False
        vr.ok("tap 1")
        with pytest.raises(ReaderError) as ei:
            r.read_card(channel="nfc", timeout=READ_S)
        assert ei.value.code == "clock_unset"
    vr.ok("set-time now")
    read_ok(vr, "nfc", "tap 1", "1")


def test_revoked_then_others_still_read(vr: Emulator) -> None:
    read_ok(vr, "nfc", "tap 2", "2")
    assert vr.ok("revoke 2").startswith("ok revoked 2")
    assert refused(vr, "nfc", "tap 2") == "revoked"
    assert refused(vr, "qr", "show-qr 2") == "revoked"
    read_ok(vr, "nfc", "tap 0", "0")


def test_camera_off_times_out_then_recovers(vr: Emulator) -> None:
    vr.ok("fault camera-off")
    vr.ok("show-qr 0")
    with vr.reader() as r:
        with pytest.raises(CardRefused) as ei:
            r.read_card(channel="qr", timeout=2)
    assert ei.value.code == "timeout"
    vr.ok("fault camera-on")
    read_ok(vr, "qr", "show-qr 0", "0")


def test_fixed_qr_text_foreign_then_replayed(vr: Emulator) -> None:
    assert refused(vr, "qr", "show-qr --text HELLO FROM ANOTHER APP") == "not_a_credential"
    issued = vr.authority / "issued"
    text = present((issued / "1.vqr-issuer.cbor").read_bytes(), load_private_key(issued / "1.device-key.pem"),
                   int(time.time()))
    # base45 text may hold spaces: `show-qr --text` takes the rest of the control line verbatim
    read_ok(vr, "qr", "show-qr --text " + text, "1")
    assert refused(vr, "qr", "show-qr --text " + text) == "replayed"  # the same presentation again
