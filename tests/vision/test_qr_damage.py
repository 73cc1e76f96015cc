"""Damaged codewords: up to the correctable number per block decodes, one more is refused (never mis-decoded)."""

from __future__ import annotations

import random

import pytest

import qrgen
from vitale.vision import qr

# ISO 18004 Table 9: misdecode-protection codewords of small symbols
_PROTECTION = {(1, "L"): 3, (1, "M"): 2, (1, "Q"): 1, (1, "H"): 1, (2, "L"): 2, (3, "L"): 1}

CASES = [(1, "L"), (1, "M"), (1, "Q"), (1, "H"), (2, "L"), (3, "L"), (5, "Q"), (7, "M"), (10, "H"), (15, "M"), (22, "L")]


def _correctable(version: int, level: str, total: int, data: int) -> int:
    return (total - data - _PROTECTION.get((version, level), 0)) // 2


def _damage(parts: list[tuple[bytes, bytes]], counts: list[int], rng: random.Random) -> list[tuple[bytes, bytes]]:
    out = []
    for (d, e), k in zip(parts, counts):
        block = bytearray(d + e)
        for p in rng.sample(range(len(block)), k):
            block[p] ^= rng.randrange(1, 256)
        out.append((bytes(block[: len(d)]), bytes(block[len(d) :])))
    return out


def _decode(version: int, level: str, mask: int, parts: list[tuple[bytes, bytes]]) -> list[qr.decoder.QRCode]:
    m = qrgen.place(version, level, mask, qrgen.interleave(parts))
    img = qrgen.to_image(m, scale=2)
    h, w = img.shape
    return qr.decode_codes(img.tobytes(), w, h)


@pytest.mark.parametrize(("version", "level"), CASES)
def test_correctable_damage_decodes(version: int, level: str) -> None:
    rng = random.Random(version * 10 + "LMQH".index(level))
    for trial in range(3):
        payload = bytes(rng.randrange(256) for _ in range(qrgen.data_capacity(version, level) - 3))
        parts = qrgen.split_blocks(qrgen.byte_mode_data(payload, version, level), version, level)
        counts = [_correctable(version, level, t, d) for t, d in qrgen.blocks(version, level)]
        codes = _decode(version, level, trial, _damage(parts, counts, rng))
        assert [c.payload for c in codes] == [payload]
        assert codes[0].corrected == sum(counts)


@pytest.mark.parametrize(("version", "level"), CASES)
def test_one_more_than_correctable_is_refused(version: int, level: str) -> None:
    rng = random.Random(1000 + version * 10 + "LMQH".index(level))
    for trial in range(3):
        payload = bytes(rng.randrange(256) for _ in range(qrgen.data_capacity(version, level) - 3))
        parts = qrgen.split_blocks(qrgen.byte_mode_data(payload, version, level), version, level)
        shape = qrgen.blocks(version, level)
        counts = [_correctable(version, level, t, d) for t, d in shape]
        victim = rng.randrange(len(counts))
        counts[victim] += 1
        assert _decode(version, level, 7 - trial, _damage(parts, counts, rng)) == []
