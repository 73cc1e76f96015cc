"""`vitale deploy`'s transfer over a real pty with pyserial, against the scripted board peer.

The peer runs the code the client sends, and at each boot the real `main.py`
the build wrote (journal prelude included), with CPython on a folder standing
in for the board's flash. The same transfer runs against the MicroPython VM in
test_deploy_transfer_vm.py.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rawrepl_peer import RawReplPeer, device_state  # noqa: E402

from vitale_host import deploy  # noqa: E402
from vitale_host.cli import main as vitale_main  # noqa: E402
from vitale_host.rawrepl import RawReplError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BOARD = {"id": "test-board", "chip": "esp32", "name": "test"}


def _firmware(dst: Path, version: int) -> Path:
    """A small firmware tree: v1 and v2 differ by a changed, an added and a removed module."""
    pkg = dst / "vitale"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"__version__ = '0.0.{version}'\n")
    (pkg / "app.py").write_text("def main():\n    print('app')\n")
    (pkg / "a.py").write_text(f"A = {version}\n" + "".join(f"X{i} = {i * version}\n" for i in range(400)))
    (pkg / "sub" / "__init__.py").write_text("")
    if version == 1:
        (pkg / "sub" / "b.py").write_text("B = 1\n")
    else:
        (pkg / "sub" / "c.py").write_text("C = 2\n")
    shutil.copyfile(ROOT / "firmware/main.py", dst / "main.py")
    shutil.copyfile(ROOT / "firmware/boot.py", dst / "boot.py")
    return dst


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, deploy.Build]:
    base = tmp_path_factory.mktemp("fw")
    return {v: deploy.build(BOARD, base / f"build{v}", _firmware(base / f"fw{v}", v)) for v in (1, 2)}


def installed_version(root: Path, builds: dict[int, deploy.Build]) -> int:
    """Which build the device holds exactly (manifest included); 0 for a mix."""
    state = device_state(root)
    manifest = deploy.parse_manifest((root / "vitale-manifest.json").read_text()
                                     if (root / "vitale-manifest.json").is_file() else None)
    state.pop(deploy.DEVICE_MANIFEST, None)
    for v, b in builds.items():
        if state == b.manifest and manifest == b.manifest:
            return v
    return 0


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[RawReplPeer]:
    p = RawReplPeer(tmp_path / "flash", window=256)
    yield p
    p.close()


def test_full_then_incremental_then_nothing(peer: RawReplPeer, builds: dict[int, deploy.Build]) -> None:
    seen: list[str] = []
    res = deploy.deploy_to_device(peer.path, builds[1], ready_timeout=10,
                                  progress=lambda i, n, op: seen.append(op.kind))
    assert installed_version(peer.root, builds) == 1
    assert res.files == len(builds[1].manifest) and res.recovered == -1
    assert res.file_bytes == sum(builds[1].local_path(p).stat().st_size for p in builds[1].manifest) + len(
        json.dumps(builds[1].manifest, sort_keys=True, separators=(",", ":"))) + len(
        [op for op in deploy.steps(res.plan) if op.kind == "journal"][0].content)
    assert seen.count("put") == len(builds[1].manifest) and "journal" in seen
    assert res.hello is not None and res.hello["firmware"] == peer.firmware_id()
    assert peer.mode == "app" and not (peer.root / "vitale-journal.json").exists()
    assert not any(p.is_file() for p in (peer.root / "vitale.new").rglob("*"))

    res2 = deploy.deploy_to_device(peer.path, builds[2], ready_timeout=10)
    assert installed_version(peer.root, builds) == 2
    assert res2.plan.copy == ["/lib/vitale/__init__.mpy", "/lib/vitale/a.mpy", "/lib/vitale/sub/c.mpy"]
    assert res2.plan.delete == ["/lib/vitale/sub/b.mpy"]
    assert res2.hello is not None and res2.hello["firmware"] == peer.firmware_id()

    writes_before = sum(b"_vh_o('" in c for c in peer.code_log)
    res3 = deploy.deploy_to_device(peer.path, builds[2], ready_timeout=10)
    assert res3.plan.empty and res3.files == 0 and res3.file_bytes == 0
    assert sum(b"_vh_o('" in c for c in peer.code_log) == writes_before  # not one file opened for writing
    assert installed_version(peer.root, builds) == 2 and res3.hello is not None


def test_sources_copied_by_hand_are_replaced(peer: RawReplPeer, builds: dict[int, deploy.Build]) -> None:
    lib = peer.root / "lib/vitale"
    (lib / "sub").mkdir(parents=True)
    for name in ("__init__.py", "app.py", "a.py", "sub/b.py"):  # `mpremote cp -r firmware/vitale :lib/`
        (lib / name).write_text("# by hand\n")
    res = deploy.deploy_to_device(peer.path, builds[1], reset=False)
    assert "/lib/vitale/a.py" in res.plan.delete
    assert installed_version(peer.root, builds) == 1  # no .py left to shadow a .mpy


def test_verify_repairs_a_file_changed_by_hand(peer: RawReplPeer, builds: dict[int, deploy.Build]) -> None:
    deploy.deploy_to_device(peer.path, builds[1], reset=False)
    (peer.root / "lib/vitale/a.mpy").write_bytes(b"tampered")
    assert deploy.deploy_to_device(peer.path, builds[1], reset=False).plan.empty  # the manifest lies
    res = deploy.deploy_to_device(peer.path, builds[1], reset=False, verify=True)
    assert res.plan.copy == ["/lib/vitale/a.mpy"]
    assert installed_version(peer.root, builds) == 1


def _count_execs(tmp_path: Path, builds: dict[int, deploy.Build]) -> tuple[Path, int]:
    """A flash with v1 installed, and how many execs a v1 -> v2 deploy takes (without the reset)."""
    base = tmp_path / "v1"
    p = RawReplPeer(base)
    deploy.deploy_to_device(p.path, builds[1], reset=False)
    p.close()
    probe = tmp_path / "probe"
    shutil.copytree(base, probe)
    p = RawReplPeer(probe)
    start = p.execs
    deploy.deploy_to_device(p.path, builds[2], reset=False)
    n = p.execs - start
    p.close()
    assert installed_version(probe, builds) == 2
    return base, n


@pytest.mark.slow
def test_interrupted_deploy_boots_old_or_new_never_a_mix(tmp_path: Path, builds: dict[int, deploy.Build]) -> None:
    """Power cut after k execs of a v1 -> v2 deploy (every other k): the next boot runs v1 or v2 completely."""
    base, n = _count_execs(tmp_path, builds)
    outcomes: dict[int, int] = {}
    for k in sorted(set(range(1, n + 1, 2)) | {n}):
        flash = tmp_path / f"cut{k}"
        shutil.copytree(base, flash)
        p = RawReplPeer(flash, cut_after_execs=k, boot_app=False)
        with pytest.raises(RawReplError):
            deploy.deploy_to_device(p.path, builds[2], reset=False, enter_timeout=3)
        p.close()
        # power back on: main.py (with the journal prelude) runs, then the app
        p = RawReplPeer(flash)
        try:
            assert p.mode == "app", k
            v = installed_version(flash, builds)
            assert v in (1, 2), f"cut after {k} execs left a mix"
            outcomes[k] = v
            hello = deploy.wait_for_app(p.path, timeout=5)
            assert hello["firmware"] == p.firmware_id()
            # and the next deploy completes from there
            deploy.deploy_to_device(p.path, builds[2], reset=False)
            assert installed_version(flash, builds) == 2
        finally:
            p.close()
        shutil.rmtree(flash)
    # early cuts keep v1, late cuts (after the journal's commit) finish v2: both really happen
    print(f"v1 -> v2 deploy: {n} execs; cut after each: {outcomes}")
    assert set(outcomes.values()) == {1, 2}
    first_new = min(k for k, v in outcomes.items() if v == 2)
    assert all(v == 1 for k, v in outcomes.items() if k < first_new)
    assert all(v == 2 for k, v in outcomes.items() if k >= first_new)


def test_next_deploy_finishes_a_journal_left_without_a_reboot(tmp_path: Path,
                                                               builds: dict[int, deploy.Build]) -> None:
    base, n = _count_execs(tmp_path, builds)
    p = RawReplPeer(base, cut_after_execs=n - 2, boot_app=False)  # cut in the journaled phase
    with pytest.raises(RawReplError):
        deploy.deploy_to_device(p.path, builds[2], reset=False, enter_timeout=3)
    p.close()
    assert (base / "vitale-journal.json").is_file() and installed_version(base, builds) == 0  # mid-install
    p = RawReplPeer(base, boot_app=False)  # the host comes back before any reboot
    try:
        res = deploy.deploy_to_device(p.path, builds[2], reset=False)
        assert res.recovered > 0 and res.plan.empty  # finished by the journal: nothing left to copy
        assert installed_version(base, builds) == 2
    finally:
        p.close()


def test_board_that_does_not_give_its_repl(tmp_path: Path, builds: dict[int, deploy.Build]) -> None:
    p = RawReplPeer(tmp_path / "flash", mute=True)
    try:
        with pytest.raises(RawReplError) as e:
            deploy.deploy_to_device(p.path, builds[1], enter_timeout=1.0)
        assert e.value.code == "no_raw_repl"
    finally:
        p.close()


@pytest.mark.slow
def test_cli_deploys_the_real_firmware(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = RawReplPeer(tmp_path / "flash", window=512)
    try:
        out_dir = tmp_path / "build"
        assert vitale_main(["--port", p.path, "deploy", "--board", "esp32-s3-eye", "--out", str(out_dir)]) == 0
        out = capsys.readouterr().out
        b = deploy.Build(out_dir, "esp32-s3-eye", "xtensawin",
                         {("/" + f.relative_to(out_dir).as_posix()): deploy.sha256_file(f)
                          for f in out_dir.rglob("*") if f.is_file()})
        n = len(b.manifest)
        assert f"{n} copied" in out and "app ready: hello answered" in out and "[1/" in out
        state = device_state(p.root)
        assert state.pop(deploy.DEVICE_MANIFEST) and state == b.manifest
        assert json.loads((p.root / "board.json").read_text())["id"] == "esp32-s3-eye"
        assert vitale_main(["--port", p.path, "deploy", "--board", "esp32-s3-eye", "--dry-run"]) == 0
        assert f"0 to copy, 0 to delete, {n} unchanged" in capsys.readouterr().out
        assert vitale_main(["--port", p.path, "deploy", "--board", "esp32-s3-eye", "-q"]) == 0
        assert f"0 copied (0 B), 0 deleted, {n} unchanged" in capsys.readouterr().out
    finally:
        p.close()


def test_cli_reports_a_board_without_repl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = RawReplPeer(tmp_path / "flash", mute=True)
    try:
        assert vitale_main(["--port", "/dev/does-not-exist-vitale", "deploy", "--board", "esp32-s3-eye", "-q"]) == 1
        assert "port_unavailable" in capsys.readouterr().err
    finally:
        p.close()


@pytest.mark.vm
def test_main_prelude_finishes_a_journal_under_micropython(builds: dict[int, deploy.Build]) -> None:
    """The journal prelude of the built main.py, run by the MicroPython VM on a staged v1 -> v2 install."""
    from vitale_tools.mpvm import run_code

    p = deploy.plan(builds[2].manifest, builds[1].manifest)
    ops = deploy.steps(p)
    journal = [op for op in ops if op.kind == "journal"][0].content
    files = {"/lib/vitale/sub/b.mpy": "old", "/lib/vitale/a.mpy": "old a", "/main.py": "old main"}
    files.update({deploy.STAGING + path: "new " + path for path in p.copy})
    files[deploy.STAGING + deploy.DEVICE_MANIFEST] = "{}"
    prelude = builds[2].local_path("/main.py").read_text().split("# ---- firmware/main.py ----")[0]
    code = "\n".join([
        "import os",
        "def mk(p):",
        "    q = ''",
        "    for s in p.split('/')[1:-1]:",
        "        q += '/' + s",
        "        try:",
        "            os.mkdir(q)",
        "        except OSError:",
        "            pass",
        f"for p, c in {sorted(files.items())!r}:",
        "    mk(p)",
        "    with open(p, 'w') as f:",
        "        f.write(c)",
        f"with open({deploy.JOURNAL!r}, 'w') as f:",
        f"    f.write({journal!r})",
        prelude,
        "def walk(d):",
        "    for e in os.ilistdir(d):",
        "        p = d.rstrip('/') + '/' + e[0]",
        "        if e[1] & 0x4000:",
        "            yield from walk(p)",
        "        else:",
        "            yield p",
        "for p in sorted(walk('/lib')) + ['/main.py', '/vitale-manifest.json']:",
        "    print(p, open(p).read())",
        f"print('journal left:', {deploy.JOURNAL[1:]!r} in os.listdir('/'))",
    ])
    r = run_code(code, firmware=False, timeout=120)
    assert r.ok, r.stderr
    got = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line.startswith("/"))
    want = {path: "new " + path for path in p.copy}
    want[deploy.DEVICE_MANIFEST] = "{}"
    want["/main.py"] = "old main"  # the same in both builds: not copied
    assert "/main.py" not in p.copy and "/lib/vitale/a.mpy" in p.copy
    assert got == want  # b.mpy (stale) removed, every new file in place, nothing else touched
    assert "journal left: False" in r.stdout
