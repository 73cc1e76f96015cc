"""The MicroPython VM runner and the firmware test harness report what really happened."""

from __future__ import annotations

from pathlib import Path

from test_firmware_vm import FWTEST
from vitale_tools import mpvm


def test_vm_is_micropython_with_vitale_importable() -> None:
    res = mpvm.run_code("import sys\nimport vitale\nprint(sys.implementation.name, vitale.__version__, ARGV[1:])",
                        args=["x", "y"])
    assert res.returncode == 0, res.stderr
    assert res.lines == ["micropython 0.1.0 ['x', 'y']"]


def test_exit_status_and_traceback_are_relayed() -> None:
    assert mpvm.run_code("raise SystemExit(3)").returncode == 3
    assert mpvm.run_code("raise SystemExit").returncode == 0
    res = mpvm.run_code("def f():\n    1 // 0\nf()")
    assert res.returncode == 1 and "ZeroDivisionError" in res.stderr


def test_mounts_copy_host_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("hello")
    res = mpvm.run_code("print(open('/data/d/a.txt').read())", mounts={"/data": tmp_path})
    assert res.lines == ["hello"], res.stderr


def test_harness_names_every_failing_test(tmp_path: Path) -> None:
    (tmp_path / "test_demo_fail.py").write_text(
        "def test_good():\n    assert 1 + 1 == 2\n\n"
        "def test_bad_one():\n    assert False, 'boom'\n\n"
        "def test_bad_two():\n    raise KeyError('k')\n"
    )
    res = mpvm.run_file(FWTEST, args=["test_demo_fail"], mounts={"/tests": tmp_path})
    assert res.returncode == 1
    failing = sorted(line.split()[1] for line in res.lines if line.startswith("FAIL "))
    assert failing == ["test_bad_one", "test_bad_two"]
    assert "fwtest: 1 passed, 2 failed, 0 skipped" in res.lines
