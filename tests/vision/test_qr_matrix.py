"""Exact decoding of every version 1-25 x ECC level x mask, rendered clean with segno; encoder cross-check."""

from __future__ import annotations

import random

import numpy as np
import pytest
import segno

import qrgen
from vitale.vision import qr

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def _payload(rng: random.Random, version: int, level: str, kind: int) -> tuple[str | bytes, str]:
    cap_bits = qrgen.data_capacity(version, level) * 8 - 4 - 16
    if kind == 0:
        k = rng.randint(max(1, cap_bits * 3 // 20), cap_bits * 3 // 10 - 2)
        return "".join(rng.choice("0123456789") for _ in range(k)), "numeric"
    if kind == 1:
        k = rng.randint(max(1, cap_bits // 11), cap_bits * 2 // 11 - 1)
        return "".join(rng.choice(ALNUM) for _ in range(k)), "alphanumeric"
    k = rng.randint(max(1, cap_bits // 16), cap_bits // 8 - 1)
    return bytes(rng.randrange(256) for _ in range(k)), "byte"


def _cases() -> list[tuple[int, str, int]]:
    return [(v, lvl, m) for v in range(1, 26) for lvl in "LMQH" for m in range(8)]


@pytest.mark.parametrize("version", range(1, 26))
def test_every_level_and_mask_decodes_exactly(version: int) -> None:
    rng = random.Random(version)
    for level in "LMQH":
        for mask in range(8):
            data, mode = _payload(rng, version, level, (mask + "LMQH".index(level)) % 3)
            q = segno.make_qr(data, version=version, error=level.lower(), mask=mask, mode=mode, boost_error=False)
            assert (q.version, q.error, q.mask) == (version, level, mask)
            img = qrgen.to_image(np.array(q.matrix, dtype=np.uint8), scale=2)
            h, w = img.shape
            codes = qr.decode_codes(img.tobytes(), w, h)
            want = data.encode() if isinstance(data, str) else data
            assert [c.payload for c in codes] == [want], (version, level, mask)
            c = codes[0]
            assert (c.version, c.level, c.mask, c.corrected) == (version, level, mask, 0)


@pytest.mark.parametrize("version", (1, 2, 3, 6, 7, 9, 10, 14, 20, 25, 27, 40))
def test_test_encoder_matches_segno(version: int) -> None:
    # qrgen's data order, masks, block split and RS agree with segno's symbols
    rng = random.Random(100 + version)
    for level in "LMQH":
        mask = rng.randrange(8)
        cap = qrgen.data_capacity(version, level) - 3
        payload = bytes(rng.randrange(256) for _ in range(rng.randint(1, cap)))
        q = segno.make_qr(payload, version=version, error=level.lower(), mask=mask, mode="byte", boost_error=False)
        ref = np.array(q.matrix, dtype=np.uint8)
        stream = qrgen.read_codewords(ref, version, mask)
        blocks = qrgen.blocks(version, level)
        assert len(stream) == sum(t for t, _ in blocks)
        data = qrgen.deinterleave_data(stream, version, level)  # raises if an ECC block does not verify
        assert data[0] >> 4 == 4  # a byte-mode segment first
        assert np.array_equal(qrgen.place(version, level, mask, stream), ref), (version, level)
        assert np.array_equal(qrgen.symbol(data, version, level, mask), ref), (version, level)


@pytest.mark.parametrize("version", (1, 4, 7, 12, 25, 33, 40))
def test_mirrored_and_light_on_dark(version: int) -> None:
    rng = random.Random(200 + version)
    payload = bytes(rng.randrange(256) for _ in range(qrgen.data_capacity(version, "Q") // 2))
    m = qrgen.symbol(qrgen.byte_mode_data(payload, version, "Q"), version, "Q", version % 8)
    for mat, invert in ((m.T.copy(), False), (m, True), (m.T.copy(), True)):
        img = qrgen.to_image(mat, scale=2, invert=invert)
        h, w = img.shape
        codes = qr.decode_codes(img.tobytes(), w, h)
        assert [c.payload for c in codes] == [payload]
        assert codes[0].mirrored == (mat is not m) and codes[0].inverted == invert
