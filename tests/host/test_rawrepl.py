"""The raw-REPL client over a real pty with pyserial, against a scripted board peer (rawrepl_peer.py).

mpremote itself is run against the same peer first, so the peer is known to
speak the protocol a real client expects. The client is tested again against
the MicroPython VM in test_deploy_transfer_vm.py.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rawrepl_peer import RawReplPeer, RootedOS  # noqa: E402

from vitale_host.rawrepl import DeviceExecError, RawRepl, RawReplError  # noqa: E402

MPREMOTE = Path(sys.executable).parent / "mpremote"


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[RawReplPeer]:
    p = RawReplPeer(tmp_path / "fs", window=32)
    yield p
    p.close()


@pytest.mark.parametrize("raw_paste", [True, None])
def test_mpremote_accepts_the_peer(tmp_path: Path, raw_paste: bool | None) -> None:
    if not MPREMOTE.is_file():
        pytest.skip("mpremote is not installed in the venv")
    p = RawReplPeer(tmp_path / "fs", raw_paste=raw_paste, window=32)
    try:
        (tmp_path / "fs/lib").mkdir()
        src = tmp_path / "x.bin"
        src.write_bytes(os.urandom(3000))
        r = subprocess.run([str(MPREMOTE), "connect", p.path, "fs", "cp", str(src), ":lib/x.bin",
                            "+", "fs", "ls", ":lib", "+", "exec", "print(6*7)"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "3000 x.bin" in r.stdout and "42" in r.stdout
        assert (tmp_path / "fs/lib/x.bin").read_bytes() == src.read_bytes()
    finally:
        p.close()


def test_exec_output_error_eval_with_flow_control(peer: RawReplPeer) -> None:
    with RawRepl(peer.path) as r:
        long_code = "x = 0\n" + "".join(f"x += {i}\n" for i in range(300)) + "print(x)"
        assert len(long_code) > 10 * peer.window  # many raw-paste windows
        assert r.exec(long_code).strip() == str(sum(range(300))).encode()
        assert r.stats.raw_paste is True
        out, err = r.exec_raw("print('a')\n1/0")
        assert out == b"a\r\n" and b"ZeroDivisionError" in err
        assert r.eval("[1, 'b', None, (2, 3)]") == [1, "b", None, (2, 3)]
        assert r.exec("print(x)").strip() == str(sum(range(300))).encode()  # globals persist


@pytest.mark.parametrize("raw_paste", [False, None])
def test_plain_raw_when_raw_paste_is_missing(tmp_path: Path, raw_paste: bool | None) -> None:
    p = RawReplPeer(tmp_path / "fs", raw_paste=raw_paste)
    try:
        with RawRepl(p.path) as r:
            assert r.exec("print(2 ** 10)") == b"1024\r\n"
            assert r.stats.raw_paste is False
            assert r.exec("print(3)") == b"3\r\n"
            data = os.urandom(700)
            r.write_file("/f.bin", data)
            assert (tmp_path / "fs/f.bin").read_bytes() == data
    finally:
        p.close()


def test_device_errors_carry_type_and_errno(peer: RawReplPeer) -> None:
    with RawRepl(peer.path) as r:
        with pytest.raises(DeviceExecError) as e:
            r.exec("open('/nope.txt')")
        assert e.value.code == "device_error" and e.value.exc_type == "OSError" and e.value.errno == 2
        with pytest.raises(DeviceExecError) as e:
            r.exec("raise ValueError('bad thing')")
        assert e.value.exc_type == "ValueError" and "bad thing" in str(e.value) and e.value.errno is None
        with pytest.raises(DeviceExecError) as e:
            r.exec("def (:")
        assert e.value.exc_type == "SyntaxError"
        assert r.exec("print('still fine')") == b"still fine\r\n"


def test_files_round_trip(peer: RawReplPeer) -> None:
    root = peer.root
    data = os.urandom(5000)
    with RawRepl(peer.path, chunk=700) as r:
        r.mkdir_p("/lib/vitale/sub")
        r.mkdir_p("/lib/vitale/sub")  # existing is fine
        assert r.write_file("/lib/vitale/sub/a.bin", data) == 5000
        assert r.stats.files_written == 1 and r.stats.file_bytes == 5000
        assert (root / "lib/vitale/sub/a.bin").read_bytes() == data
        assert r.read_file("/lib/vitale/sub/a.bin") == data
        assert r.sha256("/lib/vitale/sub/a.bin") == hashlib.sha256(data).hexdigest()
        assert r.sha256("/missing") is None
        r.write_file("/empty", b"")
        assert r.read_file("/empty") == b"" and r.sha256("/empty") == hashlib.sha256(b"").hexdigest()
        assert r.read_text("/missing") is None
        assert sorted(r.ls("/")) == [("empty", False, 0), ("lib", True, 0)]
        assert r.ls("/lib/vitale/sub") == [("a.bin", False, 5000)]
        r.write_file("/b.txt", b"new")
        r.rename("/b.txt", "/empty")  # replaces
        assert (root / "empty").read_bytes() == b"new" and not (root / "b.txt").exists()
        assert r.exists("/empty") and not r.exists("/b.txt")
        r.remove("/empty")
        r.remove("/empty", missing_ok=True)
        with pytest.raises(RawReplError) as e2:
            r.remove("/empty")
        assert e2.value.code == "not_found"
        with pytest.raises(RawReplError) as e2:
            r.read_file("/empty")
        assert e2.value.code == "not_found"
        r.rmtree("/lib")
        r.rmtree("/lib")  # missing is fine
        assert not (root / "lib").exists()


def test_rename_over_an_existing_file_on_fat(tmp_path: Path) -> None:
    p = RawReplPeer(tmp_path / "fs", fat=True)
    try:
        with RawRepl(p.path) as r:
            r.write_file("/a", b"1")
            r.write_file("/b", b"2")
            r.rename("/a", "/b")
            assert (tmp_path / "fs/b").read_bytes() == b"1" and not (tmp_path / "fs/a").exists()
    finally:
        p.close()


class _CorruptingOS(RootedOS):
    def open(self, p: str, mode: str = "r", *a: Any, **k: Any) -> Any:
        f = super().open(p, mode, *a, **k)
        if "w" in mode:
            real_write = f.write
            f.write = lambda b: real_write(bytes([b[0] ^ 1]) + bytes(b[1:]) if b else b)
        return f


def test_a_corrupted_write_is_caught_by_the_board_hash(peer: RawReplPeer) -> None:
    peer.fs = _CorruptingOS(peer.root)
    with RawRepl(peer.path) as r:
        with pytest.raises(RawReplError) as e:
            r.write_file("/x.bin", b"hello world")
        assert e.value.code == "verify_failed"


def test_soft_reset_reinstalls_helpers(peer: RawReplPeer) -> None:
    with RawRepl(peer.path) as r:
        r.write_file("/a", b"x")
        r.soft_reset()
        assert peer.soft_resets == 1
        assert r.sha256("/a") == hashlib.sha256(b"x").hexdigest()


def _install_app(root: Path) -> None:
    (root / "lib/vitale").mkdir(parents=True, exist_ok=True)
    (root / "lib/vitale/app.py").write_text("")
    (root / "main.py").write_text("from vitale import app\napp.main()\n")


def test_enter_stops_a_running_app_and_reset_to_app_restarts_it(tmp_path: Path) -> None:
    _install_app(tmp_path / "fs")
    p = RawReplPeer(tmp_path / "fs")
    try:
        assert p.mode == "app"
        with RawRepl(p.path) as r:
            assert p.mode == "raw"
            assert r.exec("print(1)") == b"1\r\n"
            r.reset_to_app()
            assert not r.in_raw_repl
        deadline = time.monotonic() + 5
        while p.mode != "app" and time.monotonic() < deadline:  # main.py runs after "soft reboot"
            time.sleep(0.01)
        assert p.mode == "app" and p.soft_resets == 1
    finally:
        p.close()


def test_app_that_swallows_ctrl_c_gives_no_raw_repl(tmp_path: Path) -> None:
    _install_app(tmp_path / "fs")
    p = RawReplPeer(tmp_path / "fs", swallow_ctrl_c=True)
    try:
        with pytest.raises(RawReplError) as e:
            with RawRepl(p.path, enter_timeout=1.5):
                pass
        assert e.value.code == "no_raw_repl"
    finally:
        p.close()


def test_exec_deadline_then_resync(peer: RawReplPeer) -> None:
    with RawRepl(peer.path) as r:
        with pytest.raises(RawReplError) as e:
            r.exec("import time\ntime.sleep(1.2)\nprint('late')", timeout=0.3)
        assert e.value.code == "timeout"
        assert r.exec("print(5)") == b"5\r\n"  # resynchronised on a fresh prompt


def test_board_gone_mid_session_is_disconnected(tmp_path: Path) -> None:
    p = RawReplPeer(tmp_path / "fs", cut_after_execs=1)
    try:
        r = RawRepl(p.path, enter_timeout=3)
        r.open()
        r.enter()
        with pytest.raises(RawReplError) as e:
            r.exec("print(1)", timeout=3)
        assert e.value.code in ("disconnected", "timeout")
        r.close()
    finally:
        p.close()


def test_mute_port_and_missing_port() -> None:
    with pytest.raises(RawReplError) as e:
        RawRepl("/dev/does-not-exist-vitale").open()
    assert e.value.code == "port_unavailable"


def test_mute_board_times_out(tmp_path: Path) -> None:
    p = RawReplPeer(tmp_path / "fs", mute=True)
    try:
        with pytest.raises(RawReplError) as e:
            with RawRepl(p.path, enter_timeout=1.0):
                pass
        assert e.value.code == "no_raw_repl"
    finally:
        p.close()
