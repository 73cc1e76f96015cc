"""Differential tests: vitale.codec.cbor against cbor2 (an independent implementation)."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitale.codec import cbor

# Tag numbers cbor2 leaves as CBORTag (it gives meaning to 0-5, 24-37, 100, 256+, 1004, ...).
_PLAIN_TAGS = [6, 7, 9, 12, 15, 16, 17, 19, 20, 22, 23, 40, 1000, 5000, 99999, 2**40]

_keys = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.text(max_size=8),
    st.binary(max_size=8),
)
_scalars = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.binary(max_size=40),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(width=16),
    st.floats(width=32),
)


def _tagged(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(cbor.Tag, st.sampled_from(_PLAIN_TAGS), children)


values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(_keys, children, max_size=6),
        _tagged(children),
    ),
    max_leaves=30,
)


def norm(x: Any) -> Any:
    """A type-strict comparable form of a decoded value from either library."""
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, int):
        return ("int", x)
    if isinstance(x, float):
        return ("float", "nan" if math.isnan(x) else struct.pack(">d", x))
    if isinstance(x, (bytes, bytearray)):
        return ("bytes", bytes(x))
    if isinstance(x, str):
        return ("str", x)
    if x is None:
        return ("null",)
    if x is cbor.Undefined or x is cbor2.undefined:
        return ("undefined",)
    if isinstance(x, (list, tuple)):
        return ("list", [norm(v) for v in x])
    if isinstance(x, Mapping):  # cbor2 freezes maps inside tags
        return ("map", sorted(((norm(k), norm(v)) for k, v in x.items()), key=repr))
    if isinstance(x, cbor.Embedded):
        return ("tag", 24, ("bytes", x.raw))
    if isinstance(x, cbor.Tag):
        return ("tag", x.tag, norm(x.value))
    if isinstance(x, cbor2.CBORTag):
        return ("tag", x.tag, norm(x.value))
    if isinstance(x, cbor.Simple):
        return ("simple", x.value)
    if isinstance(x, cbor2.CBORSimpleValue):
        return ("simple", x.value)
    raise TypeError(type(x))


def to_cbor2(x: Any) -> Any:
    """The same value in cbor2's vocabulary (tags as CBORTag)."""
    if isinstance(x, list):
        return [to_cbor2(v) for v in x]
    if isinstance(x, dict):
        return {k: to_cbor2(v) for k, v in x.items()}
    if isinstance(x, cbor.Tag):
        return cbor2.CBORTag(x.tag, to_cbor2(x.value))
    return x


def _key_orders_agree(x: Any) -> bool:
    """True when bytewise (RFC 8949) and length-first (cbor2) key orders coincide everywhere."""
    if isinstance(x, list):
        return all(_key_orders_agree(v) for v in x)
    if isinstance(x, cbor.Tag):
        return _key_orders_agree(x.value)
    if isinstance(x, dict):
        enc = [cbor.dumps(k) for k in x]
        if sorted(enc) != sorted(enc, key=lambda b: (len(b), b)):
            return False
        return all(_key_orders_agree(v) for v in x.values())
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_our_encoding_decodes_equal_in_cbor2(v: Any) -> None:
    enc = cbor.dumps(v)
    assert norm(cbor2.loads(enc)) == norm(v)
    # what we emit is deterministic by our own strict check
    assert norm(cbor.loads(enc, canonical=True)) == norm(v)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_cbor2_encodings_decode_equal_here(v: Any) -> None:
    c = to_cbor2(v)
    for enc in (cbor2.dumps(c, canonical=True), cbor2.dumps(c)):
        assert norm(cbor.loads(enc)) == norm(v)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_same_bytes_as_cbor2_canonical(v: Any) -> None:
    ours = cbor.dumps(v)
    theirs = cbor2.dumps(to_cbor2(v), canonical=True)
    if _key_orders_agree(v):
        assert ours == theirs
    else:
        # only the map order differs (RFC 8949 bytewise vs RFC 7049 length-first)
        assert len(ours) == len(theirs) and sorted(ours) == sorted(theirs)
        assert norm(cbor.loads(theirs)) == norm(cbor.loads(ours))


def test_key_order_difference_is_the_documented_one() -> None:
    m = {24: 0, -1: 0}
    assert cbor.dumps(m) == bytes.fromhex("a2181800" "2000")
    assert cbor2.dumps(m, canonical=True) == bytes.fromhex("a22000181800")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_tag24_decodes_to_embedded_with_exact_bytes(body: bytes) -> None:
    enc = cbor2.dumps(cbor2.CBORTag(24, body))
    e = cbor.loads(enc)
    assert isinstance(e, cbor.Embedded) and e.raw == body and e.tagged == enc
    assert cbor.dumps(e) == enc


@settings(max_examples=1000, deadline=None)
@given(values, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4))
def test_mutated_inputs_agree_when_we_accept(v: Any, muts: list[tuple[int, int]]) -> None:
    """Whatever we accept without tags, cbor2 accepts with the same value."""
    data = bytearray(cbor.dumps(v))
    for pos, byte in muts:
        if data:
            data[pos % len(data)] = byte
    try:
        ours = cbor.loads(bytes(data))
    except cbor.CborError:
        return
    n = norm(ours)
    if "tag" in repr(n) or "simple" in repr(n):
        return  # cbor2 gives tags and simple values its own meaning
    assert norm(cbor2.loads(bytes(data))) == n
