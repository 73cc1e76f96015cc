"""Regenerates the symbol matrices embedded in tests/firmware/test_qr_support.py (segno is the encoder).

Run: .venv/bin/python tests/vision/make_qr_fixtures.py > /tmp/cases.py and paste CASES over the old table;
tests/vision/test_qr_fixtures.py checks that the embedded table still matches segno.
"""

from __future__ import annotations

import binascii
import random

import segno

# name: (text or bytes, version, error level, mask, mode)
SPECS: dict[str, tuple[str | bytes, int, str, int, str | None]] = {
    "v1l_numeric": ("01234567890123", 1, "L", 0, "numeric"),
    "v2m_alnum": ("HELLO VITALE READER 42", 2, "M", 3, "alphanumeric"),
    "v3q_bytes": (bytes(range(0, 250, 11)), 3, "Q", 5, "byte"),
    "v4h_text": ("carte vitale", 4, "H", 6, "byte"),
    "v5m_vqr": ("VQR1:" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 $%*+-./:" * 2, 5, "M", 1, "alphanumeric"),
    "v7l_mixed": ("VQR1:" + "0123456789" * 12, 7, "L", 2, None),
    "v10q_alnum": ("VQR1:" + "VITALE READER TEST " * 7, 10, "Q", 4, "alphanumeric"),
}


def _vqr400() -> str:
    rng = random.Random(15)
    data = bytes(rng.randrange(256) for _ in range(380))
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    out = []
    for i in range(0, len(data) - 1, 2):
        v = data[i] * 256 + data[i + 1]
        out += [alphabet[v % 45], alphabet[v // 45 % 45], alphabet[v // 2025]]
    return "VQR1:" + "".join(out)


SPECS["v15m_vqr400"] = (_vqr400(), 15, "M", 7, "alphanumeric")


def build(spec: tuple[str | bytes, int, str, int, str | None]) -> tuple[int, str]:
    """(size, hex of the row-major module bits) of the symbol."""
    data, version, err, mask, mode = spec
    q = segno.make_qr(data, version=version, error=err.lower(), mask=mask, mode=mode, boost_error=False)
    assert q.version == version and q.mask == mask and q.error == err, (q.designator, q.mask)
    bits = [1 if v else 0 for row in q.matrix for v in row]
    bits += [0] * (-len(bits) % 8)
    packed = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
    return len(q.matrix), binascii.hexlify(packed).decode()


def main() -> None:
    print("CASES = {")
    for name, spec in SPECS.items():
        data, version, err, mask, _ = spec
        n, hx = build(spec)
        payload = data.encode() if isinstance(data, str) else data
        ph = binascii.hexlify(payload).decode()
        print(f'    "{name}": (')
        print(f'        {version}, "{err}", {mask},')
        for chunk in (ph, hx):
            lines = [chunk[i : i + 96] for i in range(0, len(chunk), 96)]
            for j, line in enumerate(lines):
                print(f'        "{line}"' + ("," if j == len(lines) - 1 else ""))
        print("    ),")
    print("}")


if __name__ == "__main__":
    main()
