"""End-to-end fixtures: one `vitale-sim emulate` process per test module, driven through its control port,
read through the SDK over pyserial on its pty.

Every wait is bounded; each emulator has its own VITALE_HOME and authority folder (parallel-safe).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vitale_host.pins import PinStore

START_TIMEOUT = 90.0  # the MicroPython VM takes longer to boot and provision
CONTROL_TIMEOUT = 60.0


class Emulator:
    """A running `vitale-sim emulate` process."""

    def __init__(self, proc: subprocess.Popen[str], lines: queue.Queue[str], home: Path, stderr_path: Path) -> None:
        self.proc = proc
        self.lines = lines
        self.home = home
        self.stderr_path = stderr_path
        self.info: dict[str, str] = {}
        self._sock: socket.socket | None = None
        self._f: Any = None

    def wait_ready(self, timeout: float) -> None:
        """Read `authority:`, `port:` and `control:` from stdout (bounded)."""
        deadline = time.monotonic() + timeout
        while not {"port", "control", "authority"} <= set(self.info):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("the virtual reader did not start: %s\n%s" % (self.info, self.stderr()))
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            key, _, value = line.strip().partition(": ")
            if key in ("port", "control", "authority", "reader"):
                self.info[key] = value
        host, port = self.info["control"].rsplit(":", 1)
        self._sock = socket.create_connection((host, int(port)), timeout=CONTROL_TIMEOUT)
        self._f = self._sock.makefile("rwb")

    def stderr(self) -> str:
        """What the emulator wrote to stderr so far."""
        try:
            return self.stderr_path.read_text()[-4000:]
        except OSError:
            return ""

    @property
    def port(self) -> str:
        return self.info["port"]

    @property
    def authority(self) -> Path:
        return Path(self.info["authority"])

    @property
    def pins(self) -> PinStore:
        return PinStore(self.home / "readers.json")

    def ctl(self, line: str) -> str:
        """Send one control command; its reply line."""
        assert self._f is not None
        self._f.write(line.encode() + b"\n")
        self._f.flush()
        reply = self._f.readline()
        if not reply:
            raise RuntimeError("the control channel closed:\n" + self.stderr())
        return str(reply.decode().rstrip("\n"))

    def ok(self, line: str) -> str:
        """A control command that must succeed."""
        reply = self.ctl(line)
        assert reply.startswith("ok"), f"{line!r} -> {reply!r}"
        return reply

    def status(self) -> dict[str, str]:
        """`status` as a dict."""
        reply = self.ok("status")
        return dict(w.split("=", 1) for w in reply[3:].split() if "=" in w)

    def reader(self, **kwargs: Any) -> Any:
        """An SDK Reader on the pty with this emulator's pinned key."""
        from vitale_host.client import Reader

        kwargs.setdefault("timeout", 15.0)
        kwargs.setdefault("connect_timeout", 20.0)
        return Reader(self.port, pins=self.pins, **kwargs)

    def patient(self, stem: str) -> dict[str, Any]:
        """The issued patient's metadata (card, status index)."""
        data: dict[str, Any] = json.loads((self.authority / "issued" / f"{stem}.json").read_text())
        return data

    def close(self) -> None:
        """`quit`, then wait (bounded), then kill."""
        try:
            if self._f is not None:
                self.ctl("quit")
        except (OSError, RuntimeError):
            pass
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._sock is not None:
            self._sock.close()


def start_emulator(tmp: Path, *args: str, timeout: float = START_TIMEOUT) -> Emulator:
    """Start `vitale-sim emulate ARGS` with its own VITALE_HOME under tmp."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, VITALE_HOME=str(home), PYTHONUNBUFFERED="1")
    stderr_path = tmp / "emulate.stderr"
    err = open(stderr_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "vitale_tools.cli", "emulate", "--authority", str(tmp / "authority"),
                             "-v", "--quit-on-eof", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=err, text=True, env=env)  # if this test process dies, stdin ends: it stops
    err.close()
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    emu = Emulator(proc, lines, home, stderr_path)
    try:
        emu.wait_ready(timeout)
    except BaseException:
        emu.close()
        raise
    return emu


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One virtual reader (CPython runtime) for the whole module."""
    e = start_emulator(tmp_path_factory.mktemp("vr"))
    try:
        yield e
    finally:
        e.close()


@pytest.fixture
def vr(emu: Emulator) -> Iterator[Emulator]:
    """The module's virtual reader with no phone in front of it and no faults."""
    emu.ok("remove")
    emu.ok("fault clear")
    yield emu
    if emu.proc.poll() is None:
        emu.ctl("remove")
        emu.ctl("fault clear")
