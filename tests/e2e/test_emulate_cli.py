"""`vitale-sim emulate` as documented: a fresh authority by default, the printed lines, control on stdin,
the reader's key pinned under $VITALE_HOME, and a clean stop."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


def _line(q: queue.Queue[str], deadline: float) -> str:
    return q.get(timeout=max(0.1, deadline - time.monotonic()))


@pytest.mark.slow
def test_emulate_defaults_stdin_control_and_pinning(tmp_path: Path) -> None:
    env = dict(os.environ, VITALE_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-m", "vitale_tools.cli", "emulate", "--quit-on-eof"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    q: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [q.put(x) for x in proc.stdout or ()], daemon=True).start()
    authority = None
    try:
        deadline = time.monotonic() + 60
        seen: dict[str, str] = {}
        while "control" not in seen:
            key, _, value = _line(q, deadline).rstrip("\n").partition(": ")
            seen[key] = value
        authority = Path(seen["authority"])
        assert (authority / "issued" / "0.mdoc.cbor").exists() and (authority / "issued" / "2.json").exists()
        assert seen["port"].startswith("/dev/pts/") and os.path.exists(seen["port"])
        host, port = seen["control"].rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        kid = seen["reader"].split()[0]
        pinned = json.loads((tmp_path / "home" / "readers.json").read_text())["readers"]
        assert list(pinned) == [kid]
        assert proc.stdin is not None
        proc.stdin.write("status\n")
        proc.stdin.flush()
        status = _line(q, deadline)
        assert status.startswith("ok board=virtual-devkit ") and "runtime=cpython" in status
        proc.stdin.write("tap 1\n")
        proc.stdin.flush()
        assert _line(q, deadline).startswith("ok tapped 1 (uid ")
        proc.stdin.write("tap nobody\n")
        proc.stdin.flush()
        assert _line(q, deadline).startswith("error unknown_patient: ")
        proc.stdin.close()  # end of stdin with --quit-on-eof: it stops
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if authority is not None:
            shutil.rmtree(authority, ignore_errors=True)


def test_emulate_refuses_an_unknown_runtime() -> None:
    proc = subprocess.run([sys.executable, "-m", "vitale_tools.cli", "emulate", "--runtime", "jvm"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
