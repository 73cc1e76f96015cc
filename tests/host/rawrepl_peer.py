"""A scripted MicroPython REPL peer on a pty, for raw-REPL client tests.

It speaks the board's side of the REPL byte protocol (friendly REPL, raw REPL,
raw-paste with flow control, soft reset) and runs the code it receives with
CPython on a folder that stands in for the board's file system (`RootedOS`):
a stand-in *below* the real interface. The same clients are also tested
against the real MicroPython VM (tests/host/test_deploy_transfer_vm.py), and
mpremote itself is run against this peer to prove it speaks the protocol.

At a soft reset from the friendly REPL it runs the board's `/main.py` the
same way; `from vitale import app` finds a stand-in app when
`/lib/vitale/app.mpy` or `app.py` exists, which answers `hello` lines with
the SHA-256 of the installed `/lib/vitale` files as its "firmware".
"""

from __future__ import annotations

import builtins
import errno as errno_mod
import hashlib
import io
import json
import os
import select
import struct
import threading
import traceback
import tty
import types
from pathlib import Path
from typing import Any

BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY = b"\r\nMicroPython v1.27.0 on 2026-01-01; scripted peer\r\nType \"help()\" for more information.\r\n>>> "


class PeerCut(Exception):
    """The peer was told to die (a cable pulled, a power cut)."""


class RootedOS:
    """`os` for device code, mapped onto a host folder; `fat` makes rename refuse an existing target."""

    def __init__(self, root: Path, fat: bool = False) -> None:
        self.root = root
        self.fat = fat

    def host(self, p: str) -> str:
        parts = [s for s in p.split("/") if s and s != "."]
        if ".." in parts:
            raise OSError(errno_mod.EINVAL, "EINVAL")
        return str(self.root.joinpath(*parts))

    def module(self) -> types.ModuleType:
        m = types.ModuleType("os")
        m.stat = lambda p: tuple(os.stat(self.host(p)))  # type: ignore[attr-defined]
        m.mkdir = lambda p: os.mkdir(self.host(p))  # type: ignore[attr-defined]
        m.remove = lambda p: os.remove(self.host(p))  # type: ignore[attr-defined]
        m.rmdir = lambda p: os.rmdir(self.host(p))  # type: ignore[attr-defined]
        m.listdir = lambda p="/": sorted(os.listdir(self.host(p)))  # type: ignore[attr-defined]
        m.rename = self._rename  # type: ignore[attr-defined]
        m.ilistdir = self._ilistdir  # type: ignore[attr-defined]
        m.sync = lambda: None  # type: ignore[attr-defined]
        return m

    def _rename(self, a: str, b: str) -> None:
        if self.fat and os.path.exists(self.host(b)):
            raise OSError(errno_mod.EEXIST, "EEXIST")
        os.replace(self.host(a), self.host(b))

    def _ilistdir(self, p: str = "/") -> Any:
        for e in sorted(os.scandir(self.host(p)), key=lambda e: e.name):
            yield (e.name, 0x4000 if e.is_dir() else 0x8000, 0, 0 if e.is_dir() else e.stat().st_size)

    def open(self, p: str, mode: str = "r", *a: Any, **k: Any) -> Any:
        return builtins.open(self.host(p), mode, *a, **k)


def mp_traceback(e: BaseException) -> str:
    """A traceback as MicroPython prints it (OSError as `OSError: [Errno N] ENAME`)."""
    if isinstance(e, OSError) and e.errno is not None:
        last = f"OSError: [Errno {e.errno}] {errno_mod.errorcode.get(e.errno, '')}"
    else:
        last = "".join(traceback.format_exception_only(type(e), e)).strip()
    return f'Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n{last}\r\n'


class RawReplPeer:
    """The board side of the REPL on the master end of a pty; `path` is the port.

    raw_paste: True (supported), False (answers R\\x00), None (predates raw-paste).
    window: raw-paste window size. cut_after_execs: die (close the pty) after that many execs.
    swallow_ctrl_c: the app ignores Ctrl-C (no way into the REPL). mute: never answers.
    """

    def __init__(self, root: Path, *, raw_paste: bool | None = True, window: int = 128, fat: bool = False,
                 cut_after_execs: int | None = None, swallow_ctrl_c: bool = False, mute: bool = False,
                 boot_app: bool = True) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.fs = RootedOS(root, fat)
        self.raw_paste = raw_paste
        self.window = window
        self.cut_after_execs = cut_after_execs
        self.swallow_ctrl_c = swallow_ctrl_c
        self.mute = mute
        self.execs = 0
        self.code_log: list[bytes] = []
        self.soft_resets = 0
        self.app_hellos = 0
        self.mode = "friendly"
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self._stop = False
        self._pending = bytearray()
        self._globals: dict[str, Any] = {}
        self._line = bytearray()
        self.dead = False
        if boot_app:
            self._boot()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    # -- bytes ---------------------------------------------------------------------------------------

    def _getc(self) -> bytes:
        while not self._pending:
            if self._stop:
                raise PeerCut
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    raise PeerCut from None
                self._pending.extend(data)
        c = bytes(self._pending[:1])
        del self._pending[:1]
        return c

    def _put(self, data: bytes) -> None:
        if not self.mute and not self.dead:
            os.write(self.master, data)

    def close(self) -> None:
        """Stop serving and close the pty."""
        self._stop = True
        self._t.join(timeout=2)
        self._die()

    def _die(self) -> None:
        if not self.dead:
            self.dead = True
            for fd in (self.master, self.slave):
                try:
                    os.close(fd)
                except OSError:
                    pass

    # -- code ----------------------------------------------------------------------------------------

    def _import(self, name: str, g: Any = None, loc: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if name == "os":
            return self.fs.module()
        if name == "vitale":
            if not any((self.root / "lib/vitale" / f).is_file() for f in ("app.mpy", "app.py")):
                raise ImportError("no module named 'vitale'")
            m = types.ModuleType("vitale")
            m.app = types.SimpleNamespace(main=self._start_app)  # type: ignore[attr-defined]
            return m
        return builtins.__import__(name, g, loc, fromlist, level)

    def run(self, code: bytes) -> tuple[bytes, bytes]:
        """Run code as the board would; returns (output, error output)."""
        out = self._out = io.StringIO()
        if "__builtins__" not in self._globals:  # functions keep the builtins they were made with
            b = dict(vars(builtins))
            b["__import__"] = self._import
            b["open"] = lambda *a, **k: self.fs.open(*a, **k)
            b["print"] = lambda *a, **k: builtins.print(*a, **{**k, "file": self._out})
            self._globals["__builtins__"] = b
        self._globals.setdefault("__name__", "__main__")
        try:
            exec(compile(code.decode(), "<stdin>", "exec"), self._globals)
        except Exception as e:  # noqa: BLE001 - the board reports any exception
            return out.getvalue().replace("\n", "\r\n").encode(), mp_traceback(e).encode()
        return out.getvalue().replace("\n", "\r\n").encode(), b""

    def _boot(self) -> None:
        self._globals = {}
        main = self.root / "main.py"
        if main.is_file():
            out, err = self.run(main.read_bytes())
            self._put(out + err)
        if self.mode != "app":
            self.mode = "friendly"

    def _start_app(self) -> None:
        self.mode = "app"

    def firmware_id(self) -> str:
        """SHA-256 over the installed /lib/vitale files (what the stand-in app reports)."""
        h = hashlib.sha256()
        lib = self.root / "lib/vitale"
        for p in sorted(lib.rglob("*")) if lib.is_dir() else []:
            if p.is_file():
                h.update(p.relative_to(lib).as_posix().encode() + b"\0" + p.read_bytes())
        return h.hexdigest()

    # -- the REPL ------------------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            while True:
                c = self._getc()
                if self.mode == "app":
                    self._app_byte(c)
                elif self.mode == "friendly":
                    self._friendly_byte(c)
                else:
                    self._raw_byte(c)
        except PeerCut:
            self._die()

    def _app_byte(self, c: bytes) -> None:
        if c == b"\x03":
            if self.swallow_ctrl_c:
                return
            self.mode = "friendly"
            self._put(b"Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n" + FRIENDLY)
            return
        if c != b"\n":
            self._line.extend(c)
            return
        line, self._line = bytes(self._line).strip(), bytearray()
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if isinstance(msg, dict) and msg.get("cmd") == "hello":
            self.app_hellos += 1
            self._put(json.dumps({"id": msg.get("id"), "ok": True,
                                  "result": {"protocol": 1, "firmware": self.firmware_id()}}).encode() + b"\n")

    def _friendly_byte(self, c: bytes) -> None:
        if c == b"\x01":
            self.mode = "raw"
            self._put(b"\r\n" + BANNER)
        elif c == b"\x03":
            self._put(b"\r\n>>> ")
        elif c == b"\x04":
            self.soft_resets += 1
            self._put(b"MPY: soft reboot\r\n")
            self._boot()
            if self.mode == "friendly":
                self._put(FRIENDLY)

    def _raw_byte(self, c: bytes) -> None:
        if c == b"\x01":
            self._line.clear()
            self._put(b"\r\n" + BANNER)
        elif c == b"\x02":
            self._line.clear()
            self.mode = "friendly"
            self._put(FRIENDLY)
        elif c == b"\x03":
            self._line.clear()
        elif c == b"\x04":
            if not self._line:
                self.soft_resets += 1
                self._globals = {}
                self._put(b"MPY: soft reboot\r\n" + BANNER)
                return
            code, self._line = bytes(self._line), bytearray()
            self._put(b"OK")
            self._exec(code)
        elif c == b"\x05" and not self._line and self.raw_paste is not None:
            if self._getc() + self._getc() != b"A\x01":
                return
            if not self.raw_paste:
                self._put(b"R\x00")
                return
            self._put(b"R\x01" + struct.pack("<H", self.window))
            self._raw_paste()
        else:
            self._line.extend(c)

    def _raw_paste(self) -> None:
        code = bytearray()
        remain = self.window  # the first window is granted by the header
        while True:
            c = self._getc()
            if c == b"\x04":
                self._put(b"\x04")
                break
            code.extend(c)
            remain -= 1
            if remain == 0:
                remain = self.window
                self._put(b"\x01")
        self._exec(bytes(code))

    def _exec(self, code: bytes) -> None:
        self.code_log.append(code)
        out, err = self.run(code)
        self.execs += 1
        if self.cut_after_execs is not None and self.execs >= self.cut_after_execs:
            self._die()  # the power goes after the board did the work, before it answers
            raise PeerCut
        self._put(out + b"\x04" + err + b"\x04>")


def device_state(root: Path) -> dict[str, str]:
    """A device's installed files (deploy's staging leftovers and half-written journal aside): path -> sha256."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = "/" + p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith("/vitale.new/") and rel != "/vitale-journal.tmp":
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
