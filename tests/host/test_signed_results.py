"""Device-signed results: firmware-signed events verify on the host; forged or replayed ones are refused."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from vitale.link.protocol import Command, T_STR, event
from vitale.link.signing import ReaderKey, SignedSession
from vitale.store import Store
from vitale_host.connection import Connection
from vitale_host.errors import ForgedResult
from vitale_host.signed import reader_kid, verify_signed_event
from vitale_host.transport import SerialTransport

from test_connection import PtyDevice  # tests/host is on the path (pytest's rootdir-less import)

NONCE = bytes(range(16))
RESULT: dict[str, Any] = {
    "fields": {"nir": "1840512345678", "given_names": ["Jeanne", "Marie"], "birth_rank": 1},
    "channel": "qr", "status_index": None, "valid": True, "signed": 1750000000,
}


@pytest.fixture
def key(tmp_path: Path) -> ReaderKey:
    return ReaderKey(Store(str(tmp_path / "reader")))


@pytest.fixture
def other_key(tmp_path: Path) -> ReaderKey:
    return ReaderKey(Store(str(tmp_path / "other")))


def _signed(rk: ReaderKey, result: dict[str, Any] = RESULT, nonce: bytes = NONCE, counter: int = 1) -> dict[str, Any]:
    """The event exactly as the host receives it (through JSON)."""
    ev: dict[str, Any] = json.loads(event("card", rk.sign_result(result, nonce, counter)))
    return ev


def _hand_signed(rk: ReaderKey, protected: dict[int, Any], payload: dict[str, Any],
                 unprotected: dict[int, Any] | None = None) -> str:
    """A COSE_Sign1 built with cbor2 + cryptography, signed by rk's real private key."""
    prot = cbor2.dumps(protected)
    body = cbor2.dumps(payload)
    priv = ec.derive_private_key(int.from_bytes(rk._priv, "big"), ec.SECP256R1())
    r, s = decode_dss_signature(priv.sign(cbor2.dumps(["Signature1", prot, b"", body]), ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return base64.b64encode(cbor2.dumps(cbor2.CBORTag(18, [prot, unprotected or {}, body, sig]))).decode()


def _payload(rk: ReaderKey, **over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"result": RESULT, "nonce": NONCE, "counter": 1, "reader": rk.kid}
    p.update(over)
    return p


def _refused(ev: dict[str, Any], pinned: bytes, nonce: bytes = NONCE, last: int = 0) -> str:
    with pytest.raises(ForgedResult) as e:
        verify_signed_event(ev, pinned, nonce, last)
    assert e.value.code == "forged_result"
    return e.value.message


def test_firmware_signed_event_verifies(key: ReaderKey) -> None:
    pub = key.public_key()
    assert reader_kid(pub) == key.kid
    last = 0
    for n in (1, 2, 5):
        result, last = verify_signed_event(_signed(key, counter=n), pub, NONCE, last)
        assert result == RESULT and last == n
    # the plain copy is only a convenience: without it the signed copy still verifies
    ev = _signed(key)
    del ev["result"]
    assert verify_signed_event(ev, pub, NONCE, 0) == (RESULT, 1)
    # the hand-built signer (independent of the firmware) agrees on the format
    ev = {"event": "card", "cose": _hand_signed(key, {1: -7, 4: key.kid}, _payload(key)), "result": RESULT}
    assert verify_signed_event(ev, pub, NONCE, 0) == (RESULT, 1)


def test_wrong_key_is_refused(key: ReaderKey, other_key: ReaderKey) -> None:
    pub = key.public_key()
    assert "another reader" in _refused(_signed(other_key), pub)
    # another key claiming the pinned reader's kid: the signature fails
    forged = _hand_signed(other_key, {1: -7, 4: key.kid}, _payload(key))
    assert "does not verify" in _refused({"cose": forged, "result": RESULT}, pub)
    # the pinned key's kid in the header but another reader named in the payload
    forged = _hand_signed(key, {1: -7, 4: key.kid}, _payload(key, reader=other_key.kid))
    assert "another reader" in _refused({"cose": forged}, pub)


def test_replayed_nonce_is_refused(key: ReaderKey) -> None:
    old = _signed(key, nonce=b"\x99" * 16)
    assert "nonce" in _refused(old, key.public_key())


def test_replayed_counter_is_refused(key: ReaderKey) -> None:
    pub = key.public_key()
    ev = _signed(key, counter=4)
    _, last = verify_signed_event(ev, pub, NONCE, 3)
    assert "counter" in _refused(ev, pub, last=last)
    assert "counter" in _refused(_signed(key, counter=2), pub, last=last)
    forged = _hand_signed(key, {1: -7, 4: key.kid}, _payload(key, counter=True))
    assert "counter" in _refused({"cose": forged}, pub)


def test_tampered_result_is_refused(key: ReaderKey) -> None:
    pub = key.public_key()
    ev = _signed(key)
    ev["result"] = dict(RESULT, fields=dict(RESULT["fields"], nir="2840512345678"))
    assert "differs" in _refused(ev, pub)
    ev = _signed(key)
    ev["result"] = dict(RESULT, valid=1)  # True == 1 in Python; not in JSON
    assert "differs" in _refused(ev, pub)
    ev = _signed(key)
    ev["result"] = dict(RESULT, extra=None)
    assert "differs" in _refused(ev, pub)
    # a modified signed payload breaks the signature
    ev = _signed(key)
    raw = bytearray(base64.b64decode(ev["cose"]))
    i = raw.find(b"1840512345678")
    raw[i] ^= 1
    ev["cose"] = base64.b64encode(bytes(raw)).decode()
    assert "does not verify" in _refused(ev, pub)


def test_missing_or_malformed_signature_is_refused(key: ReaderKey) -> None:
    pub = key.public_key()
    ev = _signed(key)
    for bad in (None, 7, "", "!!!not base64", base64.b64encode(b"\xff\xff").decode(),
                base64.b64encode(cbor2.dumps([1, 2, 3])).decode(),
                base64.b64encode(cbor2.dumps(cbor2.CBORTag(17, [b"", {}, b"", b""]))).decode(),
                base64.b64encode(cbor2.dumps([b"", {}, None, b""])).decode()):
        e = dict(ev)
        if bad is None:
            del e["cose"]
        else:
            e["cose"] = bad
        _refused(e, pub)
    assert "not an object" in _refused([ev], pub)  # type: ignore[arg-type]
    # a truncated signature
    arr = list(cbor2.loads(base64.b64decode(ev["cose"])).value)
    arr[3] = arr[3][:63]
    ev["cose"] = base64.b64encode(cbor2.dumps(arr)).decode()
    assert "64 bytes" in _refused(ev, pub)


def test_alg_swap_is_refused(key: ReaderKey) -> None:
    pub = key.public_key()
    for prot, unprot in (({1: 5, 4: key.kid}, {}), ({1: -35, 4: key.kid}, {}), ({1: True, 4: key.kid}, {}),
                         ({4: key.kid}, {1: -7}), ({1: -7, 4: key.kid}, {1: -7}), ({4: key.kid}, {})):
        forged = _hand_signed(key, prot, _payload(key), unprot)
        assert "ES256" in _refused({"cose": forged}, pub)
    forged = _hand_signed(key, {1: -7, 4: key.kid, 2: [99]}, _payload(key))
    assert "critical" in _refused({"cose": forged}, pub)


@pytest.fixture(scope="module")
def fuzz_key(tmp_path_factory: pytest.TempPathFactory) -> ReaderKey:
    return ReaderKey(Store(str(tmp_path_factory.mktemp("fuzz"))))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_signature_bytes_never_pass_as_another_result(fuzz_key: ReaderKey, data: st.DataObject) -> None:
    ev = _signed(fuzz_key)
    raw = bytearray(base64.b64decode(ev["cose"]))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    ev["cose"] = base64.b64encode(bytes(raw)).decode()
    try:
        result, counter = verify_signed_event(ev, fuzz_key.public_key(), NONCE, 0)
    except ForgedResult:
        return
    assert (result, counter) == (RESULT, 1)


def test_bad_pinned_key_is_a_caller_error(key: ReaderKey) -> None:
    with pytest.raises(ValueError):
        verify_signed_event(_signed(key), key.public_key()[:33], NONCE, 0)


# --- end to end over a pty --------------------------------------------------


class SigningDevice(PtyDevice):
    """test_connection's pty device plus `start` (opens a signed session) and `read` (emits a signed card event)."""

    def __init__(self, rk: ReaderKey) -> None:
        super().__init__()
        self.rk = rk
        self.session: SignedSession | None = None
        self.dispatcher.add(Command("start", self._start, (("nonce", T_STR, True),), "open a session"))
        self.dispatcher.add(Command("read", self._read, (), "emit a signed card event"))

    def _start(self, args: dict[str, Any]) -> dict[str, Any]:
        self.session = SignedSession(self.rk, binascii.unhexlify(args["nonce"]))
        return {}

    def _read(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self.session is not None
        self.inject(event("card", self.session.sign(RESULT)))
        return {}

    def inject(self, line: bytes) -> None:
        os.write(self.master, line)


@pytest.fixture
def device(key: ReaderKey) -> Iterator[SigningDevice]:
    d = SigningDevice(key)
    yield d
    d.close()


def test_forged_event_injected_on_the_line_is_refused(device: SigningDevice, other_key: ReaderKey) -> None:
    pinned = device.rk.public_key()
    nonce = os.urandom(16)
    with Connection(SerialTransport(device.path)) as c:
        c.request("start", {"nonce": nonce.hex()})
        c.request("read")
        genuine = c.next_event(2.0)
        assert genuine is not None
        result, last = verify_signed_event(genuine, pinned, nonce, 0)
        assert result == RESULT and last == 1

        # replayed: the same genuine line again
        device.inject(json.dumps(genuine).encode() + b"\n")
        # wrong key: another reader signs for this very session
        device.inject(event("card", other_key.sign_result(RESULT, nonce, last + 1)))
        # replayed from an earlier session (old nonce), with a fresh counter
        device.inject(event("card", device.rk.sign_result(RESULT, b"\x00" * 16, last + 1)))
        # the genuine signature with a doctored plain result
        doctored = dict(genuine, result=dict(RESULT, valid=False))
        device.inject(json.dumps(doctored).encode() + b"\n")
        # an unsigned card event
        device.inject(event("card", {"result": RESULT}))
        # (the doctored copy is checked as if its counter were fresh: the result check alone refuses it)
        for why, since in (("counter", last), ("another reader", last), ("nonce", last), ("differs", 0),
                           ("no device signature", last)):
            ev = c.next_event(2.0)
            assert ev is not None and ev["event"] == "card"
            with pytest.raises(ForgedResult) as e:
                verify_signed_event(ev, pinned, nonce, since)
            assert why in e.value.message

        # the genuine session goes on
        c.request("read")
        ev = c.next_event(2.0)
        assert ev is not None
        assert verify_signed_event(ev, pinned, nonce, last) == (RESULT, 2)
