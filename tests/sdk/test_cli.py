"""`vitale info` and `vitale read` against the scripted reader on a pty; JSON checked against the published schema."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sdksupport import device, provisioned, vitale_home, world  # noqa: F401  (fixtures)
from sdksupport import ScriptedReader, vqr_text
from vitale_host.cli import main
from vitale_tools.authority import Authority

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "read-result.schema.json").read_text())
VITALE = [sys.executable, "-m", "vitale_host.cli"]


def _valid(obj: dict[str, Any], shape: str) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(obj)
    jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{shape}", "oneOf": None} | {"oneOf": [
        {"$ref": f"#/$defs/{shape}"}]}).validate(obj)


def _present(dev: ScriptedReader, fn: Any) -> threading.Thread:
    def go() -> None:
        dev.wait_read(10)
        fn()
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def test_read_json_verified_and_refused_match_the_schema(provisioned: ScriptedReader, world: Authority,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    t = _present(provisioned, lambda: provisioned.show_qr(vqr_text(world.path, "1")))
    code = main(["--port", provisioned.path, "read", "--json", "--channel", "qr", "--timeout", "10"])
    t.join()
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "verified"
    _valid(out, "verified")
    want = json.loads((world.path / "issued" / "1.json").read_text())["card"]
    assert out["card"]["nir"] == want["nir"] and out["credential"]["format"] == "vqr"

    t = _present(provisioned, lambda: provisioned.show_qr(vqr_text(world.path, "2")))
    code = main(["--port", provisioned.path, "read", "--json", "--timeout", "10"])
    t.join()
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["status"] == "refused" and out["refusal"]["code"] == "revoked"
    _valid(out, "refused")
    # a verified card never validates as a refusal and the other way round
    with pytest.raises(jsonschema.ValidationError):
        _valid(dict(out, card={}), "refused")


def test_read_public_contract_in_a_subprocess(provisioned: ScriptedReader, world: Authority,
                                              vitale_home: Path) -> None:
    env = {"VITALE_HOME": str(vitale_home), "PATH": "/usr/bin:/bin"}
    p = subprocess.Popen([*VITALE, "--port", provisioned.path, "read", "--json", "--channel", "qr",
                          "--timeout", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=ROOT)
    out, err = p.communicate(timeout=60)
    res = json.loads(out)
    assert p.returncode == 1 and res["refusal"]["code"] == "timeout", err
    _valid(res, "refused")


def test_read_errors_exit_2_with_a_code(device: ScriptedReader, world: Authority,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # not provisioned, not pinned
    code = main(["--port", device.path, "read", "--json"])
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert code == 2 and out == {"status": "error", "error": {"code": "reader_not_pinned", "message": out["error"]["message"]}}
    assert "reader_not_pinned" in cap.err
    _valid(out, "error")
    code = main(["--port", str(Path(device.path).parent / "nothing"), "read"])
    assert code == 2 and "port_unavailable" in capsys.readouterr().err


def test_unverified_payload_needs_allow_unverified(provisioned: ScriptedReader,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    t = _present(provisioned, lambda: provisioned.pass_through(b"OFFICIAL"))
    code = main(["--port", provisioned.path, "read", "--json"])
    t.join()
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["error"]["code"] == "unverified_payload" and "card" not in out
    t = _present(provisioned, lambda: provisioned.pass_through(b"OFFICIAL"))
    code = main(["--port", provisioned.path, "read", "--json", "--allow-unverified"])
    t.join()
    out = json.loads(capsys.readouterr().out)
    assert code == 3 and out["status"] == "unverified" and out["payload"] == b"OFFICIAL".hex()
    _valid(out, "unverified")


def test_read_table_for_people(provisioned: ScriptedReader, world: Authority,
                               capsys: pytest.CaptureFixture[str]) -> None:
    t = _present(provisioned, lambda: provisioned.show_qr(vqr_text(world.path, "0")))
    code = main(["--port", provisioned.path, "read", "--timeout", "10"])
    t.join()
    out = capsys.readouterr().out
    want = json.loads((world.path / "issued" / "0.json").read_text())["card"]
    assert code == 0 and out.startswith("VERIFIED org.vitale-reader.hic.1 by QR")
    assert f"Family name     {want['family_name']}" in out and f"NIR             {want['nir']}" in out
    assert "Signed by       reader " in out


def test_info_text_and_json(provisioned: ScriptedReader, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", provisioned.path, "info"]) == 0
    out = capsys.readouterr().out
    assert "board        sdk-test" in out and "pinned on this host" in out and "trust list   seq 1" in out
    assert main(["--port", provisioned.path, "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["board"] == "sdk-test" and info["reader_pinned"] is True and info["clock"]["set"] is True


def test_info_of_an_unpinned_unprovisioned_reader(device: ScriptedReader, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", device.path, "info"]) == 0
    out = capsys.readouterr().out
    assert "NOT pinned on this host" in out and "clock        NOT set" in out and "trust list   none" in out


def test_upload_progress_lines_off_a_terminal() -> None:
    import io

    from vitale_host.commands.common import progress_bar
    out = io.StringIO()
    bar = progress_bar("trust list", out)
    for sent in (45000, 90000, 100000):
        bar(sent, 100000)
    assert out.getvalue().splitlines() == ["trust list: 45000/100000 bytes (45%)", "trust list: 90000/100000 bytes (90%)",
                                           "trust list: 100000/100000 bytes (100%)"]


def test_refusal_table_for_people(provisioned: ScriptedReader, world: Authority,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    t = _present(provisioned, lambda: provisioned.show_qr(vqr_text(world.path, "2")))
    assert main(["--port", provisioned.path, "read", "--channel", "qr", "--timeout", "10"]) == 1
    t.join()
    out = capsys.readouterr().out
    assert out.startswith("REFUSED  revoked: ") and "Channel         qr" in out


def test_interactive_console_on_a_terminal(provisioned: ScriptedReader, vitale_home: Path) -> None:
    import os
    import select
    import time

    master, slave = os.openpty()
    env = {"VITALE_HOME": str(vitale_home), "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    p = subprocess.Popen([*VITALE, "--port", provisioned.path, "console"], stdin=slave, stdout=slave,
                         stderr=slave, env=env, cwd=ROOT)
    os.close(slave)
    seen = b""

    def until(marker: bytes, timeout: float = 20.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([master], [], [], 0.1)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
    try:
        until(b"vitale> ")
        assert b"connected to" in seen
        os.write(master, b"info\n")
        until(b"board: sdk-test")
        os.write(master, b".help\n")
        until(b".json CMD")
        os.write(master, b".quit\n")
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    assert p.returncode == 0
    assert "info" in (vitale_home / "console-history").read_text().split()
