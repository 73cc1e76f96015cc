"""Hostile input: random frames, truncated buffers, random codewords, bad format info, impossible lengths, bogus ECI.

The decoder must return "no code" (an empty list), a payload, or FrameError
for a bad buffer, within a bounded time; never another exception.
"""

from __future__ import annotations

import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qrgen
from vitale.vision import qr
from vitale.vision.qr import segments
from vitale.vision.qr.decoder import FrameError

_FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bits(*fields: tuple[int, int]) -> list[int]:
    out: list[int] = []
    for v, k in fields:
        out += [(v >> (k - 1 - i)) & 1 for i in range(k)]
    return out


def _pack(bits: list[int], cap: int) -> bytes:
    bits = bits + [0] * (-len(bits) % 8)
    data = bytearray(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
    while len(data) < cap:
        data.append(0xEC if (len(data) % 2) == 0 else 0x11)
    return bytes(data[:cap])


def _decode_matrix(m: np.ndarray) -> tuple[list[bytes], float]:
    img = qrgen.to_image(m, scale=2)
    h, w = img.shape
    t = time.perf_counter()
    out = qr.decode(img.tobytes(), w, h)
    return out, time.perf_counter() - t


@_FAST
@given(st.integers(21, 72), st.integers(21, 72), st.data())
def test_random_frames(w: int, h: int, data: st.DataObject) -> None:
    frame = data.draw(st.binary(min_size=w * h, max_size=w * h))
    t = time.perf_counter()
    out = qr.decode(frame, w, h)
    assert isinstance(out, list)
    assert time.perf_counter() - t < 5.0


@_FAST
@given(st.integers(21, 200), st.integers(21, 200), st.integers(0, 100))
def test_truncated_buffers_are_refused(w: int, h: int, short: int) -> None:
    n = max(0, w * h - 1 - short)
    try:
        qr.decode(bytes(n), w, h)
    except FrameError:
        return
    raise AssertionError("a short buffer was accepted")


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([(1, "M"), (2, "L"), (4, "H"), (8, "Q")]), st.integers(0, 7), st.data())
def test_random_data_codewords(vl: tuple[int, str], mask: int, data: st.DataObject) -> None:
    version, level = vl
    cap = qrgen.data_capacity(version, level)
    payload = data.draw(st.binary(min_size=cap, max_size=cap))
    out, dt = _decode_matrix(qrgen.symbol(payload, version, level, mask))
    assert len(out) <= 1 and dt < 5.0
    try:
        expect = segments.parse(payload, cap, version)[0]
    except segments.DataError:
        assert out == []
    else:
        assert out == [expect]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=80), st.integers(1, 40))
def test_segment_parser_never_crashes(data: bytes, version: int) -> None:
    try:
        payload, ecis = segments.parse(data, len(data), version)
    except segments.DataError:
        return
    assert isinstance(payload, bytes) and isinstance(ecis, list)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 0x7FFF), st.integers(0, 0x7FFF))
def test_bad_format_information_is_no_code(word1: int, word2: int) -> None:
    from vitale.vision.qr import tables

    # only words more than 3 bits away from every valid format word
    for w in (word1, word2):
        if tables.nearest(w, tables.FORMAT_WORDS, 3)[0] >= 0:
            return
    version, level, mask = 2, "M", 3
    payload = b"format fuzz"
    m = qrgen.symbol(qrgen.byte_mode_data(payload, version, level), version, level, mask)
    n = m.shape[0]
    copy1 = [(8, 0), (8, 1), (8, 2), (8, 3), (8, 4), (8, 5), (8, 7), (8, 8), (7, 8)] + [(r, 8) for r in range(5, -1, -1)]
    copy2 = [(r, 8) for r in range(n - 1, n - 8, -1)] + [(8, c) for c in range(n - 8, n)]
    for i in range(15):
        m[copy1[i]] = (word1 >> (14 - i)) & 1
        m[copy2[i]] = (word2 >> (14 - i)) & 1
    out, dt = _decode_matrix(m)
    assert out == [] and dt < 5.0


def test_impossible_length_and_bogus_eci_are_no_code() -> None:
    version, level = 3, "L"
    cap = qrgen.data_capacity(version, level)
    hostile = [
        _bits((4, 4), (255, 8), (0x41, 8)),  # byte count beyond the symbol
        _bits((1, 4), (1000, 10)),  # numeric count beyond the symbol
        _bits((2, 4), (2, 9), (2025, 11)),  # alphanumeric pair out of range
        _bits((7, 4), (0xE5, 8), (4, 4), (1, 8), (0x41, 8)),  # ECI with a reserved first byte
        _bits((7, 4), (0xCF, 8), (0xFFFF, 16)),  # ECI designator > 999999
        _bits((13, 4), (1, 8)),  # Hanzi / unknown mode
    ]
    for bits in hostile:
        m = qrgen.symbol(_pack(bits, cap), version, level, 4)
        out, dt = _decode_matrix(m)
        assert out == [] and dt < 5.0
    # a control: the same construction with a sane segment decodes
    m = qrgen.symbol(_pack(_bits((7, 4), (26, 8), (4, 4), (2, 8), (0x68, 8), (0x69, 8), (0, 4)), cap), version, level, 4)
    assert _decode_matrix(m)[0] == [b"hi"]


def test_blank_and_flat_frames() -> None:
    for w, h in ((21, 21), (320, 240), (640, 480)):
        for v in (0, 127, 255):
            assert qr.decode(bytes([v]) * (w * h), w, h) == []
