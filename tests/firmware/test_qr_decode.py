"""QR decoder end to end on rendered frames: clean, rotated, QVGA/VGA, mirrored, inverted, damaged, hostile."""

from array import array

from fwsupport import report
from test_qr_support import CASES, Lcg, matrix, payload, render, transposed

from vitale.vision import qr
from vitale.vision.qr.decoder import Decoder, FrameError

VM_SHARDS = 2


def _decode(name, w, h, scale, angle=0, noise=0, bits=None, invert=False, seed=1):
    n, m = matrix(name)
    if bits is not None:
        m = bits
    frame = render(n, m, w, h, scale, angle, noise=noise, invert=invert, seed=seed)
    return Decoder(w, h).decode(frame)


def test_clean_small_symbols_axis_aligned():
    names = ("v1l_numeric", "v2m_alnum", "v3q_bytes", "v4h_text", "v5m_vqr", "v7l_mixed")
    for name in names:
        version, level, mask = CASES[name][0], CASES[name][1], CASES[name][2]
        n = 4 * version + 17
        side = 3 * n + 30
        codes = _decode(name, side, side, 3)
        assert len(codes) == 1, name
        c = codes[0]
        assert c.payload == payload(name), name
        assert (c.version, c.level, c.mask) == (version, level, mask), name
        assert not c.mirrored and not c.inverted and c.corrected == 0
    report("qr clean symbols", symbols=len(names))


def test_rotated_noisy_qvga():
    for name, angle in (("v2m_alnum", 30), ("v5m_vqr", -70), ("v7l_mixed", 135)):
        n = 4 * CASES[name][0] + 17
        codes = _decode(name, 320, 240, 150.0 / n, angle, noise=12)
        assert [c.payload for c in codes] == [payload(name)], name


def test_vga_vqr_400_bytes_version_15():
    # the product's case: ~400 B credential, V15-M, 3.7 px/module at VGA, rotated
    codes = _decode("v15m_vqr400", 640, 480, 3.7, 20, noise=8)
    assert [c.payload for c in codes] == [payload("v15m_vqr400")]
    assert codes[0].version == 15 and codes[0].level == "M"


def test_mirrored_symbol():
    n, m = matrix("v5m_vqr")
    codes = _decode("v5m_vqr", 200, 200, 4, 10, bits=transposed(n, m))
    assert [c.payload for c in codes] == [payload("v5m_vqr")]
    assert codes[0].mirrored


def test_light_on_dark_symbol():
    codes = _decode("v4h_text", 240, 200, 4, -15, noise=6, invert=True)
    assert [c.payload for c in codes] == [payload("v4h_text")]
    assert codes[0].inverted


def test_damaged_modules_are_corrected():
    # flip a 5x5 patch of data modules: a few codewords wrong, within ECC level H's reach
    n, m = matrix("v4h_text")
    bad = bytearray(m)
    for r in range(14, 19):
        for c in range(14, 19):
            bad[r * n + c] ^= 1
    codes = _decode("v4h_text", 200, 200, 4, bits=bad)
    assert [c.payload for c in codes] == [payload("v4h_text")]
    assert codes[0].corrected > 0


def test_unreadable_format_information_is_no_code():
    n, m = matrix("v2m_alnum")
    bad = bytearray(m)
    # both copies of the format information inverted
    for c in range(9):
        if c != 6:
            bad[8 * n + c] ^= 1
            bad[c * n + 8] ^= 1
    for k in range(8):
        bad[8 * n + n - 1 - k] ^= 1
        bad[(n - 1 - k) * n + 8] ^= 1
    assert _decode("v2m_alnum", 150, 150, 4, bits=bad) == []


def test_signed_memoryview_frame():
    n, m = matrix("v3q_bytes")
    frame = render(n, m, 160, 140, 4, 5)
    signed = array("b", bytes(frame))
    codes = Decoder(160, 140).decode(memoryview(signed))
    assert [c.payload for c in codes] == [payload("v3q_bytes")]


def test_public_decode_and_steps():
    n, m = matrix("v5m_vqr")
    frame = render(n, m, 200, 180, 4, 8)
    assert qr.decode(frame, 200, 180) == [payload("v5m_vqr")]
    assert qr.decode(bytes(frame), 200, 180) == [payload("v5m_vqr")]
    d = Decoder(200, 180)
    slices = 0
    for _ in d.steps(frame):
        slices += 1
    assert slices >= 5
    assert [c.payload for c in d.results] == [payload("v5m_vqr")]


def test_blank_and_random_frames_have_no_code():
    w, h = 160, 120
    d = Decoder(w, h)
    for level in (0, 128, 255):
        assert d.decode(bytes([level]) * (w * h)) == []
    rng = Lcg(7)
    noise = bytearray(w * h)
    for i in range(w * h):
        noise[i] = rng.below(256)
    assert d.decode(noise) == []
    # blocky random pattern: many dark/light runs, still no symbol
    for i in range(w * h):
        noise[i] = 0 if ((i % w) // 3 * 7 + (i // w) // 3 * 13) % 5 < 2 else 255
    assert d.decode(noise) == []


def test_truncated_buffer_and_bad_sizes():
    d = Decoder(100, 100)
    try:
        d.decode(bytes(100 * 100 - 1))
    except FrameError:
        pass
    else:
        raise AssertionError("short buffer accepted")
    for w, h in ((0, 100), (10, 10), (100, -5), (5000, 100)):
        try:
            qr.decode(bytes(100), w, h)
        except FrameError:
            pass
        else:
            raise AssertionError("bad size accepted")


def test_working_memory_is_bounded():
    d = Decoder(640, 480)
    mem = d.memory()
    # thresholds 2 x 4800 + 16-bit sums + V40 grid + codewords; no frame copy on bytes input
    assert 30000 < mem < 80000, mem
    d.decode(bytes(640 * 480))
    assert d.memory() == mem
    report("qr working memory", vga_bytes=mem)
