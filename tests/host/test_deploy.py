"""`vitale deploy` planning (no device): build with mpy-cross, manifests, plans, steps, CLI, mip package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitale_host import deploy
from vitale_host.cli import main as vitale_main

ROOT = Path(__file__).resolve().parents[2]
ARCH_XTENSAWIN = 10  # mpy-cross's arch number, stored in byte 2 bits 2..7 of a .mpy with native code
VIPER_MODULE = "/lib/vitale/vision/qr/binarize.mpy"  # uses @micropython.viper


def _fw_modules() -> list[str]:
    return sorted(p.relative_to(ROOT / "firmware").as_posix() for p in (ROOT / "firmware/vitale").rglob("*.py"))


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, deploy.Build]:
    base = tmp_path_factory.mktemp("deploy")
    return {name: deploy.build(name, base / name)
            for name in ("ai-thinker-esp32-cam", "esp32-s3-eye")}


@pytest.mark.parametrize("name,chip", [("ai-thinker-esp32-cam", "esp32"), ("esp32-s3-eye", "esp32s3")])
def test_build_layout_and_arch(builds: dict[str, deploy.Build], name: str, chip: str) -> None:
    b = builds[name]
    assert b.arch == "xtensawin" and b.board_id == name
    expected = {"/lib/" + m[:-3] + ".mpy" for m in _fw_modules()} | {"/main.py", "/boot.py", "/board.json"}
    assert set(b.manifest) == expected
    for path, digest in b.manifest.items():
        assert deploy.sha256_file(b.local_path(path)) == digest
    for path in b.manifest:
        if path.endswith(".mpy"):
            head = b.local_path(path).read_bytes()[:3]
            assert head[0:1] == b"M" and head[1] == 6, path
            # bytecode-only modules carry no arch; native/viper ones must say xtensawin
            assert head[2] >> 2 in (0, ARCH_XTENSAWIN), (path, head)
    viper = b.local_path(VIPER_MODULE).read_bytes()
    assert b"micropython.viper" in (ROOT / "firmware/vitale/vision/qr/binarize.py").read_bytes()
    assert viper[2] >> 2 == ARCH_XTENSAWIN
    board = json.loads(b.local_path("/board.json").read_text())
    assert board["id"] == name and board["chip"] == chip
    assert b.local_path("/main.py").read_bytes() == (ROOT / "firmware/main.py").read_bytes()
    assert b.local_path("/boot.py").read_bytes() == (ROOT / "firmware/boot.py").read_bytes()


def test_build_is_deterministic_and_board_specific(builds: dict[str, deploy.Build], tmp_path: Path) -> None:
    again = deploy.build("ai-thinker-esp32-cam", tmp_path / "again")
    assert again.manifest == builds["ai-thinker-esp32-cam"].manifest
    a, s3 = builds["ai-thinker-esp32-cam"].manifest, builds["esp32-s3-eye"].manifest
    # same chip family arch: only the board file differs
    assert {p for p in a if a[p] != s3[p]} == {"/board.json"}


def test_build_refuses_unknown_board_and_chip(tmp_path: Path) -> None:
    with pytest.raises(deploy.DeployError) as e:
        deploy.build("no-such-board", tmp_path / "x")
    assert e.value.code == "unknown_board"
    with pytest.raises(deploy.DeployError) as e:
        deploy.build({"id": "x", "chip": "rp2040"}, tmp_path / "y")
    assert e.value.code == "unknown_chip"


LOCAL = {"/lib/vitale/a.mpy": "1" * 64, "/lib/vitale/sub/b.mpy": "2" * 64, "/main.py": "3" * 64}


def test_plan_empty_device_copies_all() -> None:
    p = deploy.plan(LOCAL, {})
    assert p.copy == sorted(LOCAL) and p.delete == [] and p.unchanged == []
    assert not p.empty


def test_plan_identical_copies_nothing() -> None:
    p = deploy.plan(LOCAL, dict(LOCAL))
    assert p.copy == [] and p.delete == [] and p.unchanged == sorted(LOCAL) and p.empty


def test_plan_changed_and_stale() -> None:
    device = dict(LOCAL)
    device["/lib/vitale/a.mpy"] = "f" * 64
    device["/lib/vitale/old.mpy"] = "4" * 64
    device["/user.py"] = "5" * 64  # not ours: never deleted
    device["/lib/vitalex/x.mpy"] = "6" * 64  # prefix look-alike: not ours either
    del device["/main.py"]
    p = deploy.plan(LOCAL, device)
    assert p.copy == ["/lib/vitale/a.mpy", "/main.py"]
    assert p.delete == ["/lib/vitale/old.mpy"]
    assert p.unchanged == ["/lib/vitale/sub/b.mpy"]
    assert p.manifest == LOCAL


def test_second_deploy_copies_nothing(builds: dict[str, deploy.Build]) -> None:
    b = builds["esp32-s3-eye"]
    first = deploy.plan(b.manifest, {})
    written = [op for op in deploy.steps(first) if op.kind == "write_manifest"][0]
    second = deploy.plan(b.manifest, deploy.parse_manifest(written.content))
    assert second.empty and len(second.unchanged) == len(b.manifest)


def test_parse_manifest_garbled_means_copy_all() -> None:
    assert deploy.parse_manifest(None) == {}
    assert deploy.parse_manifest("{not json") == {}
    assert deploy.parse_manifest("[1, 2]") == {}
    assert deploy.parse_manifest('{"/a": "x", "/b": 3}') == {"/a": "x"}


def test_steps_order() -> None:
    device = {"/lib/vitale/old.mpy": "4" * 64, "/main.py": "3" * 64}
    ops = deploy.steps(deploy.plan(LOCAL, device))
    kinds = [op.kind for op in ops]
    assert kinds[0] == "rmtree" and ops[0].path == deploy.STAGING
    assert kinds[-1] == "write_manifest" and ops[-1].path == deploy.DEVICE_MANIFEST
    assert json.loads(ops[-1].content) == LOCAL
    puts = [op for op in ops if op.kind == "put"]
    renames = [op for op in ops if op.kind == "rename"]
    assert [op.path for op in puts] == [deploy.STAGING + "/lib/vitale/a.mpy", deploy.STAGING + "/lib/vitale/sub/b.mpy"]
    assert [op.source for op in puts] == ["lib/vitale/a.mpy", "lib/vitale/sub/b.mpy"]
    assert [(op.source, op.path) for op in renames] == [(deploy.STAGING + p, p) for p in
                                                        ("/lib/vitale/a.mpy", "/lib/vitale/sub/b.mpy")]
    # every put lands in a folder made before it; every rename after all puts; deletes after renames
    made: set[str] = set()
    for i, op in enumerate(ops):
        if op.kind == "mkdir":
            made.add(op.path)
        if op.kind in ("put", "rename"):
            parent = op.path.rsplit("/", 1)[0]
            assert parent in made or parent == "", (op, made)
    last_put = max(i for i, k in enumerate(kinds) if k == "put")
    first_rename = min(i for i, k in enumerate(kinds) if k == "rename")
    assert last_put < first_rename
    assert kinds.index("rm") > max(i for i, k in enumerate(kinds) if k == "rename")
    assert [op.path for op in ops if op.kind == "rm"] == ["/lib/vitale/old.mpy"]


def test_steps_when_nothing_changed_only_rewrite_manifest() -> None:
    ops = deploy.steps(deploy.plan(LOCAL, dict(LOCAL)))
    assert [op.kind for op in ops] == ["rmtree", "write_manifest"]


def test_cli_dry_run(builds: dict[str, deploy.Build], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = builds["ai-thinker-esp32-cam"]
    device = dict(b.manifest)
    del device["/lib/vitale/store.mpy"]
    device["/lib/vitale/gone.mpy"] = "0" * 64
    mf = tmp_path / "m.json"
    mf.write_text(json.dumps(device))
    assert vitale_main(["deploy", "--board", "ai-thinker-esp32-cam", "--dry-run",
                        "--device-manifest", str(mf)]) == 0
    out = capsys.readouterr().out
    assert "copy   /lib/vitale/store.mpy" in out
    assert "delete /lib/vitale/gone.mpy" in out
    assert f"1 to copy, 1 to delete, {len(b.manifest) - 1} unchanged" in out
    assert vitale_main(["deploy", "--board", "ai-thinker-esp32-cam", "--dry-run", "--steps",
                        "--device-manifest", str(mf)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  put /vitale.new/lib/vitale/store.mpy <- lib/vitale/store.mpy" in lines
    assert lines[-1] == "  write_manifest /vitale-manifest.json"


def test_cli_without_dry_run_is_an_honest_stub(capsys: pytest.CaptureFixture[str]) -> None:
    assert vitale_main(["deploy", "--board", "esp32-s3-eye"]) == 1
    assert "device transfer not implemented yet; use --dry-run" in capsys.readouterr().err


def test_cli_unknown_board(capsys: pytest.CaptureFixture[str]) -> None:
    assert vitale_main(["deploy", "--board", "nope", "--dry-run"]) == 2
    assert "unknown_board" in capsys.readouterr().err


def test_mip_package_is_up_to_date() -> None:
    text = (ROOT / "firmware/package.json").read_text()
    assert text == deploy.mip_package_text(), "regenerate: python -m vitale_host.deploy"
    data = json.loads(text)
    assert set(data) == {"urls", "version"}
    dests = [d for d, _ in data["urls"]]
    assert dests == _fw_modules()  # every firmware module, nothing else, no duplicates
    for dest, url in data["urls"]:
        assert url == f"{deploy.MIP_BASE_PLACEHOLDER}/firmware/{dest}"
        assert (ROOT / "firmware" / dest).is_file()
    assert data["version"] == deploy.firmware_version()
