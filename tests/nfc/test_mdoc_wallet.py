"""The phone emulator (vitale_tools.wallet) against the multipaz static-handover transcript and on its own."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from vitale.nfc import engagement, mdoc_nfc
from vitale_tools.authority import Authority, cose_key
from vitale_tools.bench.nfc import World, make_world, wallet_for
from vitale_tools.patients import typical_card
from vitale_tools.wallet import Wallet, WalletConfig, card_target, do53, nfc_carrier_payload, un_do53

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "iso18013-5"


def test_wallet_answers_the_static_handover_transcript_byte_for_byte(tmp_path: Path) -> None:
    t = json.loads((VECTORS / "multipaz-nfc-engagement" / "static_handover_apdus.json").read_text())
    note = t["note"]
    x = bytes.fromhex(note.split("x=")[1].split()[0])
    y = bytes.fromhex(note.split("y=")[1].split()[0])
    ble = uuid.UUID(note.split("BLE UUID ")[1].split()[0].rstrip(".")).bytes
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    auth = Authority.init(tmp_path / "a")
    cred = auth.issue(typical_card())
    phone = Wallet(WalletConfig(cred.issuer_signed, cred.device_key, ephemeral_key=pub, ble_uuid=ble))
    for e in t["exchanges"]:
        assert phone.process_apdu(bytes.fromhex(e["command"])).hex() == e["response"]
    assert phone.events == ["engagement"]


def test_wallet_engagement_is_fresh_per_tap_and_parses(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    phone = wallet_for(world)
    sel = bytes.fromhex("00a4040007d2760000850101")
    phone.process_apdu(sel)
    hs1 = phone.hs
    phone.process_apdu(sel)
    assert phone.hs != hs1
    eng = engagement.parse_engagement(phone.hs)
    assert eng.nfc_limits == (0xFFFF, 0x10000)
    assert eng.device_engagement.raw == phone.de
    # before SELECT of the mdoc AID the OS answers 6F00 / unknown AID 6A82
    fresh = wallet_for(world)
    assert fresh.process_apdu(bytes.fromhex("00c3000000")) == b"\x6f\x00"
    assert fresh.process_apdu(bytes.fromhex("00a4040007a0000002480401")) == b"\x6a\x82"


def test_carrier_record_and_do53() -> None:
    assert nfc_carrier_payload(255, 256) == bytes.fromhex("01020 1ff03020100".replace(" ", ""))
    for n in (0, 1, 127, 128, 255, 256, 70000):
        assert un_do53(do53(b"\x00" * n)) == b"\x00" * n
        assert mdoc_nfc.do53(b"\x00" * n) == do53(b"\x00" * n)
    assert un_do53(b"\x53\x05\x00") is None and un_do53(b"\x52\x00") is None


def test_wallet_refuses_garbage_messages(tmp_path: Path) -> None:
    world: World = make_world(tmp_path)
    phone = wallet_for(world)
    phone.process_apdu(bytes.fromhex("00a4040007d2760000850101"))
    assert phone.process_apdu(bytes.fromhex("00a4040007a0000002480400")) == b"\x90\x00"
    # not CBOR: SessionData {status: 11}
    body = do53(b"\xff\xff")
    r = phone.process_apdu(bytes((0, 0xC3, 0, 0, len(body))) + body + b"\x00")
    assert cbor2.loads(un_do53(r[:-2]) or b"") == {"status": 11}
    # a SessionEstablishment that does not decrypt: status 10
    erk = cbor2.CBORTag(24, cbor2.dumps(cose_key(ec.generate_private_key(ec.SECP256R1()).public_key())))
    body = do53(cbor2.dumps({"eReaderKey": erk, "data": b"\x00" * 40}))
    r = phone.process_apdu(bytes((0, 0xC3, 0, 0, len(body))) + body + b"\x00")
    assert cbor2.loads(un_do53(r[:-2]) or b"") == {"status": 10}
    assert phone.process_apdu(bytes.fromhex("00c0000000")) == b"\x69\x85"


def test_card_target_from_an_authority_folder(tmp_path: Path) -> None:
    auth = Authority.init(tmp_path / "a")
    cred = auth.issue(typical_card(), stem="alice")
    cred.write(tmp_path / "a" / "issued")
    phone = card_target("alice", str(tmp_path / "a"))
    assert isinstance(phone, Wallet) and phone.cfg.reader_roots is not None
    phone2 = card_target(str(tmp_path / "a" / "issued" / "alice.mdoc.cbor"), None)
    assert phone2.cfg.reader_roots is None
