"""Hypothesis: whatever the input, the host verifier's parsers raise only `Refused`."""

from __future__ import annotations

import os
from typing import Any

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitale_host.verify import (
    Refused, StatusList, TrustStore, base45_decode, load_status_list, load_trust_list, public_key_from_sec1,
    strict_loads, verify_bytes,
)
from vitale_tools.authority import base45_encode
from vitale_tools.cred_cases import NOW, World, build_cases

WORLD = World.make()
CASES = {c.name: c for c in build_cases(WORLD)}
MDOC = CASES["mdoc_valid_signature"]
VQR = CASES["vqr_valid"]
STORE = TrustStore.load(MDOC.trust_list, public_key_from_sec1(MDOC.pinned_key, "k"), MDOC.status_list)
PINNED = public_key_from_sec1(MDOC.pinned_key, "k")
# FUZZ_EXAMPLES=4000 for a long run (passed 4000 per test when written); 200 keeps CI fast.
# FUZZ_EXAMPLES=4000 for a long run (4000 per test passed when written); 200 keeps the suite fast.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

cbor_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 64), 2 ** 64 - 1), st.binary(max_size=40),
                      st.text(max_size=20), st.floats(allow_nan=False))
cbor_value = st.recursive(
    cbor_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers(-70000, 40)), inner, max_size=5),
        st.builds(cbor2.CBORTag, st.sampled_from([0, 18, 24, 100, 1004, 55799]), inner)),
    max_leaves=25)


def _only_refused(data: bytes) -> None:
    try:
        verify_bytes(data, STORE, NOW)
    except Refused:
        pass


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    b = bytearray(data)
    for kind, pos, val in edits:
        if not b:
            break
        i = pos % len(b)
        if kind == 0:
            b[i] = val
        elif kind == 1:
            del b[i]
        else:
            b.insert(i, val)
    return bytes(b)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=4)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _only_refused(data)
    _only_refused(b"VQR1:" + data)


@FUZZ
@given(edits)
def test_mutated_device_response_container(e: list[tuple[int, int, int]]) -> None:
    _only_refused(_mutate(MDOC.data, e))


@FUZZ
@given(edits)
def test_mutated_inner_device_response(e: list[tuple[int, int, int]]) -> None:
    c = cbor2.loads(MDOC.data)
    c["deviceResponse"] = _mutate(c["deviceResponse"], e)
    _only_refused(cbor2.dumps(c))


@FUZZ
@given(edits)
def test_mutated_vqr_cbor(e: list[tuple[int, int, int]]) -> None:
    raw = base45_decode(VQR.data.decode()[5:])
    _only_refused(b"VQR1:" + base45_encode(_mutate(raw, e)).encode())
    issuer, at, sig = cbor2.loads(raw)
    _only_refused(b"VQR1:" + base45_encode(cbor2.dumps([_mutate(issuer, e), at, sig])).encode())


@FUZZ
@given(cbor_value)
def test_structured_values_in_every_slot(v: Any) -> None:
    _only_refused(cbor2.dumps(v))
    _only_refused(cbor2.dumps({"deviceResponse": cbor2.dumps(v), "sessionTranscript": cbor2.dumps(v)}))
    _only_refused(b"VQR1:" + base45_encode(cbor2.dumps([cbor2.dumps(v), 1, b"x" * 64])).encode())
    dr = cbor2.loads(cbor2.loads(MDOC.data)["deviceResponse"])
    doc = dr["documents"][0]
    for path in (("docType",), ("issuerSigned", "issuerAuth"), ("issuerSigned", "nameSpaces"),
                 ("deviceSigned", "deviceAuth"), ("deviceSigned", "nameSpaces")):
        target = doc
        for k in path[:-1]:
            target = target[k]
        old = target[path[-1]]
        target[path[-1]] = v
        c = cbor2.loads(MDOC.data)
        c["deviceResponse"] = cbor2.dumps(dr)
        _only_refused(cbor2.dumps(c))
        target[path[-1]] = old


@FUZZ
@given(edits)
def test_mutated_lists(e: list[tuple[int, int, int]]) -> None:
    for loader, data in ((lambda d: load_trust_list(d, PINNED), MDOC.trust_list),):
        try:
            loader(_mutate(data, e))
        except Refused:
            pass
    signer = STORE.trust.status_signer
    assert signer is not None and MDOC.status_list is not None
    try:
        load_status_list(_mutate(MDOC.status_list, e), signer)
    except Refused:
        pass


@FUZZ
@given(st.binary(max_size=64), st.integers(0, 4), st.integers(0, 6), st.integers(0, 1 << 17))
def test_status_chunk_decoding(data: bytes, count: int, k: int, index: int) -> None:
    sl = StatusList(1, 0, 0, 1 << 17, count * 2, k, 16, (0).to_bytes(4, "big") + count.to_bytes(4, "big")
                    + len(data).to_bytes(4, "big") + count.to_bytes(4, "big"), data + data)
    try:
        sl.is_revoked(index)
    except Refused:
        pass


@FUZZ
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:~a", max_size=30))
def test_base45_and_cbor_decoders(text: str) -> None:
    try:
        strict_loads(base45_decode(text))
    except Refused:
        pass
