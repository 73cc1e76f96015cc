"""Provisioning through the SDK and `vitale provision` against the firmware's own provisioning commands."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sdksupport import device, provisioned, vitale_home, world  # noqa: F401  (fixtures)
from sdksupport import ScriptedReader, pinned_key, vqr_text
from vitale_host import PinStore, Reader, ReaderError
from vitale_host import provision as prov
from vitale_host.cli import main
from vitale_tools.authority import Authority


def test_cli_provisions_everything_then_reads(device: ScriptedReader, world: Authority, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"policy": {"qr_window_s": 20}, "attach_raw": True}))
    code = main(["--port", device.path, "provision", "--clock", "--trust", str(world.path),
                 "--config", str(cfg), "--reader-ca", str(world.path), "--cn", "Cabinet Test", "--yes"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "trust list installed: seq 1" in out and "status list installed" in out
    assert "reader certificate installed: " in out and "CN=Cabinet Test" in out
    st = device.state
    assert st.board.clock.is_set() and st.trust is not None and st.trust.status is not None
    assert st.policy.qr_window_s == 20 and device.config["attach_raw"] is True
    # the certificate the reader got is the reader CA's, for the reader's own key
    assert device.reader_cert is not None
    cert = x509.load_der_x509_certificate(device.reader_cert)
    assert cert.issuer == world.reader_ca_cert.subject
    ca_key = world.reader_ca_cert.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    cert.verify_directly_issued_by(world.reader_ca_cert)
    # the reader key is pinned on this host: reads work
    assert PinStore().lookup(st.reader_key.kid) == st.reader_key.public_key()
    with Reader(device.path, verify_raw=True, trust=world.path) as r:
        t = threading.Thread(target=lambda: (device.wait_read(), device.show_qr(vqr_text(world.path, "1"))))
        t.start()
        res = r.read_card(timeout=10)
        t.join()
        assert res.verified and res.raw == {"format": "vqr", "text": res.raw["text"]} and res.host_checked


def test_confirmation_is_asked(device: ScriptedReader, world: Authority, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["--port", device.path, "provision", "--clock", "--trust", str(world.path)]) == 2
    cap = capsys.readouterr()
    assert "Proceed? [y/N]" in cap.out and "not confirmed" in cap.err
    assert not device.state.board.clock.is_set() and device.state.pinned is None and not PinStore().readers()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["--port", device.path, "provision", "--clock"]) == 0
    assert device.state.board.clock.is_set() and PinStore().readers()


def test_refused_list_exits_1_with_its_code(device: ScriptedReader, world: Authority, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    other = Authority.init(tmp_path / "other")
    code = main(["--port", device.path, "provision", "--trust-key", str(world.path / "trust-list-key.pem"),
                 "--trust-list", str(other.path / "trust-list.cose"), "--yes"])
    assert code == 1 and "bad_list_signature" in capsys.readouterr().err
    assert device.state.trust is None
    assert not PinStore().readers()  # a failed provisioning pins nothing
    code = main(["--port", device.path, "provision", "--trust-list", str(tmp_path / "missing.cose"), "--yes"])
    assert code == 2 and "cannot read" in capsys.readouterr().err


def test_chunked_upload_with_progress(device: ScriptedReader, world: Authority) -> None:
    data = (world.path / "trust-list.cose").read_bytes()
    with Reader(device.path, require_pin=False) as r:
        assert r.provision_trust_key(pinned_key(world)) is True
        assert r.provision_trust_key(pinned_key(world)) is False  # already pinned: kept
        seen: list[tuple[int, int]] = []
        res = prov.upload_list(r, "trust_list", data, lambda a, b: seen.append((a, b)), chunk=500)
        assert res["complete"] is True and res["seq"] == 1
        assert len(seen) == -(-len(data) // 500) and seen[-1] == (len(data), len(data))
        pieces = [json.loads(line) for line in device.received if b"provision.trust_list" in line]
        assert [p["args"]["offset"] for p in pieces] == list(range(0, len(data), 500))
        assert all(len(line) < 65536 for line in device.received)
        with pytest.raises(ReaderError) as e:
            prov.upload_list(r, "status_list", b"x" * (prov.MAX_STATUS_UPLOAD + 1))
        assert e.value.code == "too_large"
        with pytest.raises(ReaderError) as e:
            prov.upload_list(r, "trust_list", b"x" * (prov.MAX_UPLOAD + 1))
        assert e.value.code == "too_large"
        with pytest.raises(ReaderError) as e:
            r.provision_trust_key(b"not a key")
        assert e.value.code == "bad_trust_key"


def test_reader_certificate_for_another_key_is_refused(device: ScriptedReader, world: Authority) -> None:
    with Reader(device.path, require_pin=False) as r:
        csr = prov.request_csr(r, "Desk 2")
        assert x509.load_der_x509_csr(csr).is_signature_valid
        # a CA answering with a certificate for another key (its own reader key) is refused by the reader
        with pytest.raises(ReaderError) as e:
            r.provision_reader_cert(lambda _csr: world.reader_cert.public_bytes(
                __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER))
        assert e.value.code == "bad_reader_cert"
        with pytest.raises(ReaderError) as e:
            r.provision_reader_cert(lambda _csr: (_ for _ in ()).throw(ValueError("no")))
        assert e.value.code == "bad_csr"
