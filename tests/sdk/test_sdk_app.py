"""The SDK and the `vitale` CLI against the real firmware App on the virtual reader (CPython runtime):
pyserial on the pty <-> vitale.app.App <-> emulated PN532 + phone, camera + phone screen.

One virtual reader for the module, provisioned by `vitale provision` itself.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from sdksupport import vitale_home  # noqa: F401  (fixture)
from vitale_host import AsyncReader, CardRefused, ForgedResult, PinStore, Reader, ReaderError
from vitale_host.cli import main
from vitale_tools.virtual.reader import VirtualReader
from vitale_tools.virtual.world import World

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "read-result.schema.json").read_text())


@pytest.fixture(scope="module")
def vr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualReader]:
    tmp = tmp_path_factory.mktemp("app")
    world = World.create(tmp / "world")
    reader = VirtualReader(world, runtime="cpython")
    reader.start(do_provision=False)
    cfg = tmp / "config.json"
    cfg.write_text(json.dumps({"policy": {}, "attach_raw": True}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VITALE_HOME", str(tmp / "home"))
        mp.setattr("sys.stdin", io.StringIO(""))
        code = main(["--port", reader.port, "provision", "--clock", "--trust", str(world.path),
                     "--reader-ca", str(world.path), "--config", str(cfg), "--cn", "Desk 1", "--yes"])
        assert code == 0
        reader.pinned = PinStore().readers()  # type: ignore[attr-defined]
    yield reader
    reader.close()


@pytest.fixture
def app(vr: VirtualReader, vitale_home: Path) -> Iterator[VirtualReader]:
    """The module's virtual reader, its key pinned in this test's VITALE_HOME, nothing presented."""
    (entry,) = vr.pinned.values()  # type: ignore[attr-defined]
    PinStore().pin(bytes.fromhex(entry["public_key"]), entry["board"])
    vr.command("remove")
    yield vr
    vr.command("remove")


def _ok(vr: VirtualReader, cmd: str) -> None:
    reply = vr.command(cmd)
    assert reply.startswith("ok"), reply


def test_provisioned_by_the_cli(app: VirtualReader) -> None:
    with Reader(app.port) as r:
        info = r.info()
    assert info.clock_set and info.trust_list is not None and info.status_list is not None
    assert info.raw.get("reader_cert") is True and info.config.get("attach_raw") is True
    assert info.reader_pinned


def test_qr_and_nfc_reads_rechecked_by_the_host(app: VirtualReader) -> None:
    with Reader(app.port, verify_raw=True, trust=app.world.path) as r:
        _ok(app, "show-qr 1")
        qr = r.read_card(channel="qr", timeout=20)
        _ok(app, "remove")
        _ok(app, "tap 0")
        nfc = r.read_card(channel="nfc", profile="billing", timeout=20)
    assert qr.verified and qr.channel == "qr" and qr.host_checked and qr.raw is not None
    assert nfc.verified and nfc.channel == "nfc" and nfc.host_checked
    assert nfc.verification is not None and nfc.verification.format == "mdoc"
    for res, patient in ((qr, "1"), (nfc, "0")):
        want = app.world.meta(patient)["card"]
        assert res.card is not None and res.card.nir == want["nir"] and res.card.family_name == want["family_name"]
    assert (qr.counter, nfc.counter) == (1, 2)


def test_refusals_with_their_codes(app: VirtualReader) -> None:
    with Reader(app.port) as r:
        _ok(app, "tap 1 --consent-deny")
        with pytest.raises(CardRefused) as e:
            r.read_card(channel="nfc", timeout=20)
        assert e.value.code == "consent_denied"
        _ok(app, "remove")
        _ok(app, "show-qr 0 --expired")
        with pytest.raises(CardRefused) as e:
            r.read_card(channel="qr", timeout=20)
        assert e.value.code == "expired"
        _ok(app, "remove")
        with pytest.raises(CardRefused) as e:
            r.read_card(channel="any", timeout=1)
        assert e.value.code == "timeout" and e.value.result.channel is None
        # the reader recovers: the next read succeeds
        _ok(app, "show-qr 2")
        assert r.read_card(channel="qr", timeout=20).verified


def test_injected_forged_event_is_refused(app: VirtualReader, tmp_path: Path) -> None:
    from vitale.link.protocol import event
    from vitale.link.signing import ReaderKey
    from vitale.store import Store

    other = ReaderKey(Store(str(tmp_path / "other")))
    with Reader(app.port) as r:
        forged = event("card", other.sign_result(
            {"read_id": 1, "status": "verified", "channel": "qr", "profile": "billing",
             "card": {"fields": {}, "doc_type": "org.vitale-reader.hic.1"}}, r._nonce, 1))  # noqa: SLF001

        def inject(p: object) -> None:
            if getattr(p, "state", "") == "scanning":
                _ok(app, "inject " + forged.decode().strip())
        with pytest.raises(ForgedResult):
            r.read_card(channel="qr", timeout=20, on_progress=inject)
        _ok(app, "show-qr 1")
        assert r.read_card(channel="qr", timeout=20).verified


def test_cli_read_json_contract(app: VirtualReader, vitale_home: Path) -> None:
    _ok(app, "tap 2")
    p = subprocess.run([sys.executable, "-m", "vitale_host.cli", "--port", app.port, "read", "--json",
                        "--channel", "nfc", "--timeout", "20"], capture_output=True, text=True, timeout=120,
                       env={"VITALE_HOME": str(vitale_home), "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    jsonschema.validate(out, SCHEMA)
    assert out["status"] == "verified" and out["channel"] == "nfc" and out["card"]["nir"] == \
        app.world.meta("2")["card"]["nir"]


def test_async_reader(app: VirtualReader) -> None:
    async def go() -> tuple[str, str]:
        async with AsyncReader(app.port) as r:
            info = await r.info()
            _ok(app, "show-qr 0")
            states: list[str] = []
            res = await r.read_card(channel="qr", timeout=20, on_progress=lambda p: states.append(p.state))
            assert "scanning" in states
            _ok(app, "remove")
            # cancelling the awaiting task cancels the read on the reader
            task = asyncio.ensure_future(r.read_card(channel="qr", timeout=60))
            await asyncio.sleep(0.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            _ok(app, "show-qr 1")
            again = await r.read_card(channel="qr", timeout=20)
            assert again.verified
            assert res.card is not None
            return info.board, res.card.nir or ""
    board, nir = asyncio.run(go())
    assert board == "virtual-devkit" and nir == app.world.meta("0")["card"]["nir"]


def test_console_script(app: VirtualReader, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('help\ninfo\n.json info\n{"id": "x", "cmd": "nope"}\n.bogus\n'))
    assert main(["--port", app.port, "console", "--quiet-after", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "read.start" in out                    # the reader's own help, typed
    assert "board: virtual-devkit" in out         # typed info: readable text
    assert '"board": "virtual-devkit"' in out     # .json info: a pretty-printed reply
    assert "reply #x error unknown_command" in out
    assert "unknown console command .bogus" in out
    # a typed read with the signed console session: the result's signature is checked
    monkeypatch.setattr("sys.stdin", io.StringIO('.json read.start {"channel": "qr", "timeout_ms": 1000}\n'))
    assert main(["--port", app.port, "console", "--quiet-after", "0.5"]) == 0  # waits for the read to end
    out = capsys.readouterr().out
    assert "event refusal  [signature ok]" in out and '"code": "timeout"' in out


def test_reader_busy_error_codes_are_kept(app: VirtualReader) -> None:
    with Reader(app.port) as r:
        with pytest.raises(ReaderError) as e:
            r.request("provision.reader_cert", {"cert": "zz"})
        assert e.value.code == "bad_args"


def readme_example() -> str:
    """The Python block of the README's "Use it from your practice software" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it from your practice software", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_example_runs(app: VirtualReader, vitale_home: Path) -> None:
    code = readme_example()
    assert 8 <= len(code.strip().splitlines()) <= 14
    env = {"VITALE_HOME": str(vitale_home), "VITALE_PORT": app.port, "PATH": "/usr/bin:/bin"}
    _ok(app, "show-qr 1")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    card = app.world.meta("1")["card"]
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[:1] == card["family_name"].split()[:1] and card["nir"] in p.stdout
    # and a refusal takes the other branch
    _ok(app, "remove")
    _ok(app, "show-qr 2 --expired")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert p.returncode == 0 and p.stdout.startswith("refused: expired"), p.stdout + p.stderr
