"""The symbols embedded in tests/firmware/test_qr_support.py are what segno makes for their payloads."""

from __future__ import annotations

import binascii

import make_qr_fixtures
import test_qr_support


def test_embedded_symbols_match_segno() -> None:
    assert set(test_qr_support.CASES) == set(make_qr_fixtures.SPECS)
    for name, spec in make_qr_fixtures.SPECS.items():
        version, level, mask, payload_hex, bits_hex = test_qr_support.CASES[name]
        data = spec[0]
        assert (version, level, mask) == spec[1:4]
        assert binascii.unhexlify(payload_hex) == (data.encode() if isinstance(data, str) else data)
        n, hx = make_qr_fixtures.build(spec)
        assert n == 4 * version + 17 and hx == bits_hex, name
