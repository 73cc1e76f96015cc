"""`vitale-sim authority ...` and `vitale verify ...` from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from credsupport import VECTORS, hexfile, jsonfile
from vitale_host.cli import main as vitale
from vitale_tools.authority import now_s
from vitale_tools.cli import main as vitale_sim
from vitale_tools.patients import synthetic_patients


def _verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = vitale(["verify", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    assert vitale_sim(["authority", "init", str(d / "auth")]) == 0
    patient = synthetic_patients(1, seed=4)[0].to_dict()
    (d / "jeanne.json").write_text(json.dumps(patient))
    assert vitale_sim(["authority", "issue", str(d / "auth"), "--out", str(d / "out"), "--patient",
                       str(d / "jeanne.json"), "--synthetic", "2", "--valid-days", "30"]) == 0
    return d


def test_issue_writes_the_files(issued: Path) -> None:
    names = sorted(p.name for p in (issued / "out").iterdir())
    assert names == sorted(["jeanne.mdoc.cbor", "jeanne.device-key.pem", "jeanne.vqr-issuer.cbor", "jeanne.json",
                            "cred-000001.mdoc.cbor", "cred-000001.device-key.pem", "cred-000001.vqr-issuer.cbor",
                            "cred-000001.json", "cred-000002.mdoc.cbor", "cred-000002.device-key.pem",
                            "cred-000002.vqr-issuer.cbor", "cred-000002.json"])
    meta = json.loads((issued / "out" / "jeanne.json").read_text())
    assert meta["statusIndex"] == 0 and meta["card"] == json.loads((issued / "jeanne.json").read_text())


def test_vqr_accepted_then_stale(issued: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = now_s()
    iso = _iso(t)
    assert vitale_sim(["authority", "present", str(issued / "auth"), str(issued / "out" / "jeanne.vqr-issuer.cbor"),
                       "--at", iso, "--out", str(issued / "q.txt")]) == 0
    text = (issued / "q.txt").read_text().strip()
    assert text.startswith("VQR1:")
    code, out = _verify(capsys, str(issued / "q.txt"), "--trust", str(issued / "auth"), "--at", iso)
    patient = json.loads((issued / "jeanne.json").read_text())
    assert code == 0 and out["accepted"] is True and out["format"] == "vqr"
    assert out["card"] == {k: v for k, v in patient.items() if k not in ("ins_matricule", "ins_oid")}
    code, out = _verify(capsys, str(issued / "q.txt"), "--trust", str(issued / "auth"), "--at", _iso(t + 31))
    assert code == 1 and out["refused"] == "qr_expired"


def test_mdoc_accepted_then_revoked(issued: Path, capsys: pytest.CaptureFixture[str]) -> None:
    auth = str(issued / "auth")
    r = str(issued / "r.cbor")
    assert vitale_sim(["authority", "respond", auth, str(issued / "out" / "cred-000001.mdoc.cbor"), "--out", r,
                       "--profile", "billing"]) == 0
    code, out = _verify(capsys, r, "--trust", auth, "--profile", "billing")
    assert code == 0 and out["deviceAuth"] == "signature" and out["statusIndex"] == 1
    assert vitale_sim(["authority", "revoke", auth, "1"]) == 0
    code, out = _verify(capsys, r, "--trust", auth)
    assert code == 1 and out["refused"] == "revoked"
    code, out = _verify(capsys, r, "--trust", auth, "--at", _iso(now_s() + 73 * 3600))
    assert code == 1 and out["refused"] == "stale_status_list"
    # deviceMac through the container (the reader's ephemeral key travels in it)
    assert vitale_sim(["authority", "respond", auth, str(issued / "out" / "cred-000002.mdoc.cbor"), "--out", r,
                       "--mac"]) == 0
    code, out = _verify(capsys, r, "--trust", auth)
    assert code == 0 and out["deviceAuth"] == "mac"


def test_trust_list_rebuilds_and_extra_iaca(issued: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    shutil.copytree(issued / "auth", auth)
    (tmp_path / "iaca.hex").write_text((VECTORS / "annex-d" / "iaca_cert.der.hex").read_text())
    assert vitale_sim(["authority", "trust-list", str(auth), "--add-iaca", str(tmp_path / "iaca.hex")]) == 0
    keys = jsonfile("annex-d/keys.json")
    from vitale_tools.mdoc_holder import make_container

    c = make_container(hexfile("annex-d/device_response.hex"), hexfile("annex-d/session_transcript_bytes.hex"),
                       bytes.fromhex(keys["ephemeral_reader_key_d"]))
    (tmp_path / "annex.cbor").write_bytes(c)
    code, out = _verify(capsys, str(tmp_path / "annex.cbor"), "--trust", str(auth), "--at", "2021-01-01T00:00:00Z")
    assert code == 0 and out["docType"] == "org.iso.18013.5.1.mDL" and out["card"] is None
    code, out = _verify(capsys, str(tmp_path / "annex.cbor"), "--trust", str(auth))
    assert code == 1 and out["refused"] == "expired"
    code, out = _verify(capsys, str(tmp_path / "annex.cbor"), "--trust", str(issued / "auth"), "--at", "2021-01-01")
    assert code == 1 and out["refused"] == "untrusted_issuer"


def test_trust_dir_with_a_forged_list(issued: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    shutil.copytree(issued / "auth", auth)
    other = tmp_path / "other"
    assert vitale_sim(["authority", "init", str(other)]) == 0
    shutil.copy(other / "trust-list.cose", auth / "trust-list.cose")
    assert vitale_sim(["authority", "present", str(auth), str(issued / "out" / "jeanne.vqr-issuer.cbor"),
                       "--out", str(tmp_path / "q.txt")]) == 0
    code, out = _verify(capsys, str(tmp_path / "q.txt"), "--trust", str(auth))
    assert code == 1 and out["refused"] == "bad_list_signature"


def test_status_list_command_and_cases(issued: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    auth = tmp_path / "auth"
    shutil.copytree(issued / "auth", auth)
    seq = json.loads((auth / "authority.json").read_text())["status_seq"]
    assert vitale_sim(["authority", "status-list", str(auth)]) == 0
    assert json.loads((auth / "authority.json").read_text())["status_seq"] == seq + 1
    assert vitale_sim(["authority", "cases", str(tmp_path / "cases")]) == 0
    manifest = json.loads((tmp_path / "cases" / "manifest.json").read_text())
    assert len(manifest["cases"]) > 60
    capsys.readouterr()
    assert vitale_sim(["authority", "status-size", "--count", "1000000", "--fraction", "0.01",
                       "--lookups", "200"]) == 0
    size = json.loads(capsys.readouterr().out)
    assert size["revoked"] == 10000 and 7.5 < size["bits_per_revoked"] < 9.0


def test_vqr_size_typical_card_fits_version_14(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert vitale_sim(["authority", "vqr-size"]) == 0
    sizes = json.loads(capsys.readouterr().out)
    assert sizes[0]["card"].startswith("typical") and sizes[0]["qr_version_ecc_m"] <= 14
    assert all(s["qr_version_ecc_m"] <= 16 for s in sizes)


def test_console_scripts_exit_codes(issued: Path, tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    q = tmp_path / "q.txt"
    subprocess.run([bindir / "vitale-sim", "authority", "present", issued / "auth",
                    issued / "out" / "jeanne.vqr-issuer.cbor", "--out", q], check=True)
    ok = subprocess.run([bindir / "vitale", "verify", q, "--trust", issued / "auth"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("ACCEPTED vqr")
    q.write_text("VQR1:XX")
    bad = subprocess.run([bindir / "vitale", "verify", q, "--trust", issued / "auth", "--json"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and json.loads(bad.stdout)["refused"] == "malformed"
    missing = subprocess.run([bindir / "vitale", "verify", tmp_path / "nope", "--trust", issued / "auth"],
                             capture_output=True, text=True)
    assert missing.returncode == 2


def _iso(t: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
