"""Camera emulator, corpus CLI and QR benchmark plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zxingcpp

from vitale.vision import qr
from vitale_tools import camera_sim as cs
from vitale_tools.cli import main


def test_base45_rfc9285_examples() -> None:
    assert cs.base45_encode(b"AB") == "BB8"
    assert cs.base45_encode(b"Hello!!") == "%69 VD92EX0"
    assert cs.base45_encode(b"base-45") == "UJCLQE7W581"
    assert cs.base45_encode(b"") == ""


def test_frames_are_reproducible_from_seed_and_index() -> None:
    a = cs.make_frame(3, 5, "qvga")
    b = cs.make_frame(3, 5, "qvga")
    c = cs.make_frame(4, 5, "qvga")
    assert np.array_equal(a["image"], b["image"]) and a["payload"] == b["payload"]
    assert not np.array_equal(a["image"], c["image"])
    assert a["image"].shape == (240, 320) and a["image"].dtype == np.uint8


def test_every_bucket_draws_parameters_in_range() -> None:
    rng = np.random.default_rng(1)
    for bucket in cs.BUCKETS:
        for _ in range(20):
            p = cs.draw_params(rng, bucket, "vga")
            assert -35 <= p.tilt_x <= 35 and -35 <= p.tilt_y <= 35
            assert 0.25 <= p.code_frac <= 0.9
            assert 0 <= p.black < p.white <= 1
    with pytest.raises(ValueError):
        cs.draw_params(rng, "nonsense", "vga")


def test_symbol_height_follows_code_frac() -> None:
    for frac in (0.25, 0.6, 0.9):
        p = cs.Params(code_frac=frac, roll=0, tilt_x=0, tilt_y=0)
        hm = cs._camera_homography(p, 77)
        pts = hm @ np.array([[0, 77, 0, 77], [0, 0, 77, 77], [1, 1, 1, 1]], dtype=np.float64)
        ys = pts[1] / pts[2]
        assert abs((ys.max() - ys.min()) / 480 - frac) < 0.01
        assert abs(cs.module_pixels(p, 77) - frac * 480 / 77) < 0.05


def test_clean_frame_decodes_with_zxing_and_ours() -> None:
    rng = np.random.default_rng(9)
    text = cs.vqr_payload(rng, 380)
    p = cs.Params(roll=17.0, tilt_x=10.0, noise=2.0)
    img, designator = cs.render_frame(text, p, rng)
    assert designator in ("15-M", "16-M")
    z = zxingcpp.read_barcodes(img)
    assert [r.text for r in z] == [text]
    assert qr.decode(img.tobytes(), 640, 480) == [text.encode()]


def test_impairments_change_the_frame() -> None:
    base = cs.Params(noise=0.0, defocus=0.0)
    m = np.zeros((21, 21), np.uint8)
    m[::2, ::2] = 1
    ref = cs.render_matrix(m, base, np.random.default_rng(0))
    for change in (
        {"glare": 1.0},
        {"moire": 0.4},
        {"defocus": 1.2},
        {"motion": 4.0},
        {"noise": 10.0},
        {"jpeg_quality": 30},
        {"occlusion": 1.0},
        {"gamma": 1.8},
        {"invert": True},
    ):
        kw: dict[str, object] = {"noise": 0.0, "defocus": 0.0}
        kw.update(change)
        p = cs.Params(**kw)  # type: ignore[arg-type]
        img = cs.render_matrix(m, p, np.random.default_rng(0))
        assert not np.array_equal(img, ref), change


def test_pgm_roundtrip(tmp_path: Path) -> None:
    img = (np.arange(35 * 21) % 256).astype(np.uint8).reshape(21, 35)
    cs.write_pgm(tmp_path / "a.pgm", img)
    assert np.array_equal(cs.read_pgm(tmp_path / "a.pgm"), img)
    (tmp_path / "b.pgm").write_bytes(b"P2\n1 1\n255\n0")
    with pytest.raises(ValueError):
        cs.read_pgm(tmp_path / "b.pgm")


def test_corpus_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus"
    assert main(["qr-corpus", "--out", str(out), "--count", "4", "--seed", "5", "--size", "qvga"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "vitale-qr-corpus" and manifest["size"] == "qvga" and manifest["seed"] == 5
    assert [f["bucket"] for f in manifest["frames"]] == list(cs.BUCKETS[:4])
    for f in manifest["frames"]:
        assert f["payload"].startswith("VQR1:") and (out / f["file"]).is_file()
        assert set(f["params"]) >= {"tilt_x", "roll", "code_frac", "defocus", "noise", "glare", "moire"}
    entries = cs.load_corpus(out / "manifest.json")
    assert entries[0]["image"].shape == (240, 320)
    assert "wrote 4 qvga frames" in capsys.readouterr().out


def test_bench_qr_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qr-corpus", "--out", str(tmp_path / "c"), "--count", "3", "--seed", "2", "--size", "qvga"]) == 0
    res = tmp_path / "r.json"
    rc = main(["bench", "qr", "--corpus", str(tmp_path / "c"), "--no-vm", "--json", str(res)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "ours" in text and "zxing-cpp" in text and "per bucket" in text
    summary = json.loads(res.read_text())
    assert summary["qvga"]["frames"] == 3 and summary["qvga"]["wrong"]["ours"] == 0
