"""End-to-end NFC mdoc read: firmware (nfc.mdoc_nfc over nfc.pn532) <-> PN532 emulator <-> phone emulator.

The DeviceResponse is verified by the host reference verifier (and by the
firmware's cred/mdoc.py when it exists) and must carry exactly the issued data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vitale.cred.result import Refusal
from vitale.nfc import mdoc_nfc
from vitale_host.models import DOC_TYPE, NAMESPACE, PROFILES
from vitale_host.verify import Policy, Verification, verify_device_response
from vitale_tools.authority import Authority, der
from vitale_tools.bench.nfc import NfcRig, World, make_world, record_read, replay_cpython, replay_in_vm, wallet_for
from vitale_tools.pn532_sim import Faults

E_READER = bytes.fromhex("5a" * 31 + "07")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("mdoc-nfc"))


def host_verify(world: World, resp: bytes, st: bytes, erk: bytes | None = None, profile: str = "billing") -> Verification:
    irb = mdoc_nfc.items_request_bytes(DOC_TYPE, NAMESPACE, PROFILES[profile], True)
    return verify_device_response(resp, st, world.store, world.now, Policy(doc_type=DOC_TYPE, profile=profile),
                                  erk, irb)


def firmware_verify(world: World, resp: bytes, st: bytes, erk: bytes | None, profile: str = "billing") -> Any:
    """The firmware verifier's VerifiedCard (cred/mdoc.py with the authority's signed lists)."""
    from cryptography.hazmat.primitives import serialization

    from vitale.cred import mdoc, policy, trust

    pinned = world.auth.keys["trust-list"].public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    t = trust.Trust.load((world.auth.path / "trust-list.cose").read_bytes(), pinned,
                         (world.auth.path / "status-list.cose").read_bytes())
    irb = mdoc_nfc.items_request_bytes(DOC_TYPE, NAMESPACE, PROFILES[profile], True)
    return mdoc.verify(resp, st, t, policy.Policy(doc_type=DOC_TYPE, profile=profile), world.now, erk, irb)


def expected_billing(world: World) -> dict[str, Any]:
    card = world.cred.card.to_dict()
    return {k: v for k, v in card.items() if k in PROFILES["billing"]}


def test_billing_read_verified_with_exact_data(world: World) -> None:
    rig = NfcRig(wallet_for(world))
    resp, st, erk = rig.read(world)
    v = host_verify(world, resp, st)
    assert v.card is not None and v.device_auth == "signature"
    got = {k: x for k, x in v.card.to_dict().items() if k in PROFILES["billing"]}
    assert got == expected_billing(world)
    assert set(v.elements[NAMESPACE]) == set(PROFILES["billing"]) & set(world.cred.card.to_dict())
    assert "sent" in rig.phone.events and "terminated" in rig.phone.events
    card = firmware_verify(world, resp, st, erk)
    assert card.fields == got and card.device_auth == "signature" and card.channel == "nfc"


def test_device_mac_read(world: World) -> None:
    rig = NfcRig(wallet_for(world, device_auth="mac"))
    resp, st, erk = rig.read(world)
    assert host_verify(world, resp, st, erk).device_auth == "mac"
    assert firmware_verify(world, resp, st, erk).device_auth == "mac"


def test_identity_profile_and_permitted_subset(world: World) -> None:
    rig = NfcRig(wallet_for(world, permitted=["nir", "nir_key", "family_name", "given_names", "birth_date"]))
    resp, st, _ = rig.read(world, "identity")
    assert rig.phone.last_request is not None
    assert rig.phone.last_request[NAMESPACE] == list(PROFILES["identity"])
    v = host_verify(world, resp, st, profile="identity")
    assert set(v.elements[NAMESPACE]) == {"nir", "nir_key", "family_name", "given_names", "birth_date"}


def test_untrusted_reader_is_refused(world: World, tmp_path: Path) -> None:
    other = Authority.init(tmp_path / "other", world.now - 3600)
    key = other.keys["reader"].private_numbers().private_value.to_bytes(32, "big")
    rig = NfcRig(wallet_for(world))
    with pytest.raises(Refusal) as e:
        rig.read(world, reader_key=key, reader_cert=der(other.reader_cert))
    assert e.value.code == "reader_not_trusted"
    assert any(x.startswith("reader_not_trusted") for x in rig.phone.events)
    assert "sent" not in rig.phone.events
    # a trusted certificate with the wrong key: the signature check refuses it too
    rig = NfcRig(wallet_for(world))
    with pytest.raises(Refusal) as e:
        rig.read(world, reader_key=key)
    assert e.value.code == "reader_not_trusted" and "sent" not in rig.phone.events


def test_consent_denied_and_slow_consent(world: World) -> None:
    rig = NfcRig(wallet_for(world, consent=False))
    with pytest.raises(Refusal) as e:
        rig.read(world)
    assert e.value.code == "consent_denied" and "sent" not in rig.phone.events
    rig = NfcRig(wallet_for(world, consent=lambda names: "nir" in names[NAMESPACE], consent_delay_s=1.5))
    t0 = rig.clock.now()
    resp, st, _ = rig.read(world)
    assert 1.5 < rig.clock.now() - t0 < 3.5  # the phone asked for WTX while the user decided
    host_verify(world, resp, st)


def test_wallet_failures_give_codes(world: World) -> None:
    for opts, code in (({"fail_decrypt": True}, "mdoc_error"), ({"nfc_carrier": False}, "nfc_error")):
        rig = NfcRig(wallet_for(world, **opts))
        with pytest.raises(Refusal) as e:
            rig.read(world)
        assert e.value.code == code, opts
    rig = NfcRig(wallet_for(world, honour_get_response_le=True))
    host_verify(world, *rig.read(world)[:2])


def test_phone_removed_at_every_apdu(world: World) -> None:
    rig = NfcRig(wallet_for(world))
    session = mdoc_nfc.Session()
    rig.read(world, session=session)
    n = session.apdus
    assert 15 < n < 40
    for k in range(1, n + 1):
        rig = NfcRig(wallet_for(world, remove_after_apdus=k))
        t0 = rig.clock.now()
        if k == n:  # the termination: the answer is already in
            host_verify(world, *rig.read(world)[:2])
            continue
        with pytest.raises(Refusal) as e:
            rig.read(world)
        assert e.value.code == "card_removed", (k, e.value.detail)
        assert rig.clock.now() - t0 < 2.0


FAULTS: list[tuple[str, Any]] = [
    ("lose_frames", 1), ("lose_frames", 3), ("corrupt_frames", 2), ("drop_acks", 2), ("corrupt_replies", 1),
    ("corrupt_replies", 3), ("truncate_replies", 2), ("duplicate_bytes", 2), ("duplicate_replies", 2),
    ("garbage", bytes.fromhex("00ff13370000ff05")), ("zombie", 1), ("remove_after_frames", 5),
    ("remove_after_frames", 40), ("noise_out", 0.002), ("noise_in", 0.002),
]


@pytest.mark.parametrize(("fault", "value"), FAULTS, ids=["%s-%s" % (f, v if not isinstance(v, bytes) else "x")
                                                         for f, v in FAULTS])
def test_read_under_link_faults(world: World, fault: str, value: Any) -> None:
    rig = NfcRig(wallet_for(world))
    rig.pn.begin()
    faults = rig.chip.faults
    setattr(faults, fault, value)
    faults.seed = 7
    t0 = rig.clock.now()
    try:
        resp, st, _ = rig.read(world, attempts=3)
    except Refusal as e:
        outcome = e.code
        assert outcome in ("card_removed", "nfc_error", "timeout"), (outcome, e.detail)
    else:
        outcome = "ok"
        host_verify(world, resp, st)
    assert rig.clock.now() - t0 < 20.0
    if fault.startswith("remove"):
        assert outcome == "card_removed"
    elif fault != "noise_out" and fault != "noise_in":
        assert outcome == "ok", fault  # the driver's retries or a new session recover every single fault


def test_vm_replay_of_a_recorded_read(world: World) -> None:
    """The same read inside the MicroPython VM: the phone's recorded answers, identical commands."""
    rig, t = record_read(world, E_READER)
    resp = bytes.fromhex(t["response"])
    host_verify(world, resp, bytes.fromhex(t["transcript"]))
    replay_cpython(t, 1)
    vm = replay_in_vm(t)
    assert vm["returncode"] == 0, vm["stdout"]
    assert vm["mismatches"] == 0 and vm["same_response"] and vm["replayed"] == (t["apdus"], t["apdus"])
