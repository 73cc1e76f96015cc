"""A MicroPython raw-REPL client over pyserial: run code on a board, move files.

Protocol (as MicroPython's ``pyexec.c`` and mpremote speak it):

- **Enter**: Ctrl-C twice stops a running program (the reader app gives the
  REPL back on Ctrl-C), Ctrl-A enters the raw REPL, which answers
  ``raw REPL; CTRL-B to exit\\r\\n>``.
- **Exec, raw-paste** (MicroPython >= 1.14): ``\\x05A\\x01``; the board answers
  ``R\\x01`` and a little-endian 16-bit window size, then sends ``\\x01`` each
  time another window of bytes may be sent (``\\x04``: it stopped reading, e.g.
  a syntax error). The host ends the code with ``\\x04`` and waits for the
  board's ``\\x04``. ``R\\x00`` (known but disabled) or anything else (a board
  that predates it) falls back to **plain raw**: the code, ``\\x04``, ``OK``.
- **Result**: the program's output, ``\\x04``, its error output (a traceback),
  ``\\x04``, then the next ``>`` prompt.
- **Soft reset**: ``\\x04`` at an empty raw prompt: ``soft reboot``, boot.py
  runs (main.py does not in the raw REPL), the raw banner again.
- **Leave**: Ctrl-B gives the friendly REPL (``>>> ``); a Ctrl-D there soft
  resets *and* runs main.py, which starts the app (`reset_to_app`).

Files move as base64 chunks written by small helper functions the client
defines on the board once per session (`HELPERS`); every written file is
hashed (SHA-256) on the board and compared with the host's hash. Every wait
has a deadline; every failure is a `RawReplError` with a stable code.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import re
import struct
import time
from dataclasses import dataclass
from typing import Any

import serial

from .errors import ReaderError
from .transport import open_exclusive

BANNER = b"raw REPL; CTRL-B to exit\r\n"
PROMPT = b">"
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"soft reboot"
CHUNK = 2048  # raw bytes per write; 2732 base64 characters per exec
MAX_OUTPUT = 16 << 20  # bytes of output one exec may return before we give up
DEFAULT_TIMEOUT = 10.0

_CTRL_A, _CTRL_B, _CTRL_C, _CTRL_D = b"\x01", b"\x02", b"\x03", b"\x04"
_RAW_PASTE_REQ = b"\x05A\x01"

try:
    from termios import error as _TermiosError
except ImportError:  # Windows: no termios

    class _TermiosError(Exception):  # type: ignore[no-redef]
        pass


_PORT_GONE = (serial.SerialException, OSError, _TermiosError)


class RawReplError(ReaderError):
    """The raw REPL failed.

    Codes: ``port_unavailable``, ``disconnected``, ``timeout``, ``no_raw_repl``
    (the board did not give its raw REPL: an app that swallows Ctrl-C, a wrong
    port, no MicroPython), ``protocol`` (unexpected bytes), ``output_too_large``,
    ``verify_failed`` (a written file's hash on the board differs), ``not_found``, ``device_error``
    (the code raised on the board: see `DeviceExecError`).
    """


class DeviceExecError(RawReplError):
    """Code run on the board raised: `exc_type`, `errno` (for OSError) and the `traceback` text."""

    def __init__(self, traceback: str, output: bytes = b"") -> None:
        self.traceback = traceback
        self.output = output
        last = traceback.strip().splitlines()[-1] if traceback.strip() else "error"
        m = re.match(r"^(\w+(?:\.\w+)*)(?::\s*(.*))?$", last.strip())
        self.exc_type = m.group(1) if m else "Exception"
        detail = (m.group(2) or "") if m else last
        em = re.search(r"\[Errno (\d+)\]", detail)
        if em:
            self.errno: int | None = int(em.group(1))
        elif self.exc_type == "OSError" and detail.strip().isdigit():
            self.errno = int(detail.strip())
        else:
            self.errno = None
        super().__init__("device_error", last.strip())


# Helper functions defined on the board (MicroPython and CPython compatible). Errno values
# differ between ports (the WebAssembly VM uses Emscripten's: ENOENT 44, EEXIST 20), so the
# helpers test existence with os.stat instead of comparing errno numbers.
# _vh_h(path) -> sha256 hex or None; _vh_md(path) mkdir -p; _vh_rm(path) -> 1 removed, 0 missing;
# _vh_rt(path) rmtree (missing ok);
# _vh_mv(src, dst) rename replacing dst; _vh_ls(path) -> [(name, is_dir, size)];
# _vh_wk(path, []) -> every file below path (recursive; missing -> []);
# _vh_o(path) opens _vh_f for writing; _vh_w(b64) writes one chunk; _vh_c(path) closes, prints hash.
HELPERS = """\
import os, binascii, hashlib
def _vh_h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(1024)
    m = memoryview(b)
    try:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(m[:n])
    finally:
        f.close()
    return binascii.hexlify(h.digest()).decode()
def _vh_md(p):
    q = ''
    for s in p.split('/'):
        if s:
            q += '/' + s
            try:
                os.mkdir(q)
            except OSError:
                if not os.stat(q)[0] & 0x4000:
                    raise
def _vh_rm(p):
    try:
        os.stat(p)
    except OSError:
        return 0
    os.remove(p)
    return 1
def _vh_rt(p):
    try:
        m = os.stat(p)[0]
    except OSError:
        return
    if m & 0x4000:
        for e in list(os.ilistdir(p)):
            _vh_rt(p + '/' + e[0])
        os.rmdir(p)
    else:
        os.remove(p)
def _vh_mv(s, d):
    try:
        os.rename(s, d)
    except OSError:
        os.remove(d)
        os.rename(s, d)
def _vh_ls(p):
    r = []
    for e in os.ilistdir(p):
        q = p.rstrip('/') + '/' + e[0]
        d = e[1] & 0x4000 != 0
        r.append((e[0], d, 0 if d else os.stat(q)[6]))
    return r
def _vh_wk(p, r):
    try:
        es = list(os.ilistdir(p))
    except OSError:
        return r
    for e in es:
        q = p.rstrip('/') + '/' + e[0]
        if e[1] & 0x4000:
            _vh_wk(q, r)
        else:
            r.append(q)
    return r
_vh_f = None
def _vh_o(p):
    global _vh_f
    if _vh_f:
        _vh_f.close()
    _vh_f = open(p, 'wb')
def _vh_w(s):
    _vh_f.write(binascii.a2b_base64(s))
def _vh_c(p):
    global _vh_f
    f, _vh_f = _vh_f, None
    f.close()
    print(_vh_h(p))
"""


@dataclass
class Stats:
    """Counters of one session: execs, bytes of code sent, file bytes written."""

    execs: int = 0
    code_bytes: int = 0
    file_bytes: int = 0
    files_written: int = 0
    raw_paste: bool | None = None  # None until the first exec


class RawRepl:
    """A raw-REPL session on one serial port (or any pyserial URL).

    Use as a context manager: ``with RawRepl(port) as r: r.exec("print(1)")``
    enters the raw REPL on entry and leaves it (Ctrl-B) on exit.
    """

    def __init__(self, port: str, baudrate: int = 115200, *, enter_timeout: float = 10.0,
                 raw_paste: bool = True, chunk: int = CHUNK) -> None:
        self.port = port
        self.baudrate = baudrate
        self.enter_timeout = enter_timeout
        self.chunk = chunk
        self.stats = Stats()
        self._use_raw_paste = raw_paste
        self._ser: serial.SerialBase | None = None
        self._buf = bytearray()
        self._in_raw = False
        self._helpers = False

    # -- port --------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the port (exclusively for a device path); raises RawReplError(port_unavailable)."""
        try:
            self._ser = open_exclusive(self.port, self.baudrate, timeout=0.02, write_timeout=5)
        except ReaderError as e:
            raise RawReplError(e.code, e.message) from e.__cause__
        self._buf.clear()

    def close(self) -> None:
        """Close the port (idempotent); does not leave the raw REPL."""
        ser, self._ser = self._ser, None
        self._in_raw = False
        self._helpers = False
        if ser is not None:
            try:
                ser.close()
            except _PORT_GONE:
                pass

    def __enter__(self) -> RawRepl:
        self.open()
        try:
            self.enter()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._in_raw and self._ser is not None:
                self.leave()
        except RawReplError:
            pass
        finally:
            self.close()

    def _write(self, data: bytes) -> None:
        ser = self._ser
        if ser is None:
            raise RawReplError("disconnected", "the port is closed")
        try:
            ser.write(data)
        except serial.SerialTimeoutException as e:
            raise RawReplError("timeout", f"write timed out: {e}") from e
        except _PORT_GONE as e:
            raise RawReplError("disconnected", f"write failed: {e}") from e

    def _fill(self) -> int:
        ser = self._ser
        if ser is None:
            raise RawReplError("disconnected", "the port is closed")
        try:
            chunk = ser.read(max(1, ser.in_waiting))
        except (*_PORT_GONE, TypeError) as e:
            raise RawReplError("disconnected", f"read failed: {e}") from e
        self._buf.extend(chunk)
        return len(chunk)

    def _read_until(self, marker: bytes, deadline: float, what: str, keep: int = MAX_OUTPUT) -> bytes:
        """Bytes up to and including `marker`; raises RawReplError(timeout) at the deadline."""
        start = 0
        while True:
            i = self._buf.find(marker, start)
            if i >= 0:
                out = bytes(self._buf[: i + len(marker)])
                del self._buf[: i + len(marker)]
                return out
            start = max(0, len(self._buf) - len(marker) + 1)
            if len(self._buf) > keep:
                if keep < MAX_OUTPUT:  # scanning for a banner: older bytes do not matter
                    del self._buf[: len(self._buf) - len(marker)]
                    start = 0
                else:
                    raise RawReplError("output_too_large", f"more than {keep} bytes while waiting for {what}")
            if time.monotonic() >= deadline:
                tail = bytes(self._buf[-80:])
                raise RawReplError("timeout", f"no {what} from the board (last bytes: {tail!r})")
            self._fill()

    def _read_exact(self, n: int, deadline: float, what: str) -> bytes:
        while len(self._buf) < n:
            if time.monotonic() >= deadline:
                raise RawReplError("timeout", f"no {what} from the board")
            self._fill()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _drain(self, quiet: float, limit: float) -> bytes:
        """Read and return whatever arrives until the line is quiet for `quiet` s (at most `limit` s)."""
        end = time.monotonic() + limit
        last = time.monotonic()
        got = bytearray(self._buf)
        self._buf.clear()
        while time.monotonic() < end:
            if self._fill():
                got.extend(self._buf)
                self._buf.clear()
                last = time.monotonic()
            elif time.monotonic() - last >= quiet:
                break
        return bytes(got)

    # -- REPL modes --------------------------------------------------------------------------------

    @property
    def in_raw_repl(self) -> bool:
        """True between `enter` and `leave`."""
        return self._in_raw

    def enter(self, timeout: float | None = None) -> None:
        """Stop any running program (Ctrl-C twice) and enter the raw REPL; raises RawReplError(no_raw_repl)."""
        deadline = time.monotonic() + (self.enter_timeout if timeout is None else timeout)
        attempt = 0
        while True:
            attempt += 1
            self._write(b"\r" + _CTRL_C)
            time.sleep(0.05)
            self._write(_CTRL_C)
            self._drain(quiet=0.1, limit=min(1.0, max(0.0, deadline - time.monotonic())))
            self._write(b"\r" + _CTRL_A)
            try:
                self._read_until(BANNER + PROMPT, min(deadline, time.monotonic() + 2.0 * attempt),
                                 "raw REPL banner", keep=4096)
            except RawReplError as e:
                if e.code != "timeout":
                    raise
                if time.monotonic() >= deadline:
                    raise RawReplError("no_raw_repl", f"{self.port} did not enter the raw REPL "
                                       "(is MicroPython running, and does the app let Ctrl-C through?)") from None
                continue
            self._in_raw = True
            self._helpers = False
            return

    def leave(self) -> None:
        """Leave the raw REPL for the friendly REPL (Ctrl-B); the prompt is awaited briefly."""
        self._write(b"\r" + _CTRL_B)
        self._in_raw = False
        self._helpers = False
        try:
            self._read_until(FRIENDLY_PROMPT, time.monotonic() + 2.0, "friendly prompt", keep=4096)
        except RawReplError as e:
            if e.code != "timeout":
                raise

    def soft_reset(self, timeout: float = 10.0) -> None:
        """Soft reset from the raw REPL (boot.py runs, main.py does not); back at the raw prompt."""
        self._need_raw()
        deadline = time.monotonic() + timeout
        self._write(_CTRL_D)
        self._read_until(SOFT_REBOOT, deadline, "soft reboot", keep=4096)
        self._read_until(BANNER + PROMPT, deadline, "raw REPL banner after reset", keep=1 << 16)
        self._helpers = False

    def reset_to_app(self, timeout: float = 10.0) -> None:
        """Leave the raw REPL and soft reset from the friendly REPL, so main.py (the app) runs."""
        deadline = time.monotonic() + timeout
        if self._in_raw:
            self.leave()
        self._write(b"\r" + _CTRL_D)
        self._read_until(SOFT_REBOOT, deadline, "soft reboot", keep=1 << 16)

    def _need_raw(self) -> None:
        if not self._in_raw:
            raise RawReplError("no_raw_repl", "not in the raw REPL (call enter() first)")

    # -- exec --------------------------------------------------------------------------------------

    def _raw_paste_write(self, code: bytes, deadline: float) -> None:
        window = struct.unpack("<H", self._read_exact(2, deadline, "raw-paste window size"))[0]
        if window == 0:
            raise RawReplError("protocol", "raw-paste window size 0")
        remain = window
        i = 0
        while i < len(code):
            while remain == 0 or self._buf or (self._ser is not None and self._ser.in_waiting):
                b = self._read_exact(1, deadline, "raw-paste flow control")
                if b == _CTRL_A:
                    remain += window
                elif b == _CTRL_D:  # the board stopped reading (e.g. a syntax error): acknowledge
                    self._write(_CTRL_D)
                    return
                else:
                    raise RawReplError("protocol", f"unexpected byte during raw paste: {b!r}")
            part = code[i: i + remain]
            self._write(part)
            remain -= len(part)
            i += len(part)
        self._write(_CTRL_D)
        self._read_until(_CTRL_D, deadline, "raw-paste end acknowledgement", keep=64)

    def _plain_write(self, code: bytes, deadline: float) -> None:
        for i in range(0, len(code), 256):
            self._write(code[i: i + 256])
            time.sleep(0.005)  # plain raw has no flow control: let a small UART buffer drain
        self._write(_CTRL_D)
        ok = self._read_exact(2, deadline, "OK")
        if ok != b"OK":
            raise RawReplError("protocol", f"could not exec (board answered {ok!r})")

    def exec_raw(self, code: str | bytes, timeout: float = DEFAULT_TIMEOUT) -> tuple[bytes, bytes]:
        """Run code on the board; returns (output, error output), waiting at most `timeout` s."""
        self._need_raw()
        data = code.encode() if isinstance(code, str) else code
        deadline = time.monotonic() + timeout
        self.stats.execs += 1
        self.stats.code_bytes += len(data)
        try:
            if self._use_raw_paste:
                self._write(_RAW_PASTE_REQ)
                reply = self._read_exact(2, deadline, "raw-paste reply")
                if reply == b"R\x01":
                    self.stats.raw_paste = True
                    self._raw_paste_write(data, deadline)
                    return self._follow(deadline)
                if reply != b"R\x00":  # a board without raw-paste: it re-printed its banner
                    self._read_until(BANNER[2:] + PROMPT, deadline, "raw REPL banner", keep=4096)
                self._use_raw_paste = False
            self.stats.raw_paste = False
            self._plain_write(data, deadline)
            return self._follow(deadline)
        except RawReplError as e:
            if e.code == "timeout":
                self._interrupt()
            raise

    def _follow(self, deadline: float) -> tuple[bytes, bytes]:
        out = self._read_until(_CTRL_D, deadline, "end of output")[:-1]
        err = self._read_until(_CTRL_D, deadline, "end of error output")[:-1]
        self._read_until(PROMPT, deadline, "raw prompt", keep=64)
        return out, err

    def _interrupt(self) -> None:
        """After a timeout: stop the program and resynchronise on a fresh raw prompt (best effort)."""
        try:
            self._write(_CTRL_C)
            self._drain(quiet=0.1, limit=0.5)
            self._write(b"\r" + _CTRL_A)
            self._read_until(BANNER + PROMPT, time.monotonic() + 2.0, "raw REPL banner", keep=4096)
        except RawReplError:
            self._in_raw = False

    def exec(self, code: str | bytes, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """Run code; returns its output; raises DeviceExecError when it raised on the board."""
        out, err = self.exec_raw(code, timeout)
        if err:
            raise DeviceExecError(err.decode("utf-8", "replace").replace("\r\n", "\n"), out)
        return out

    def eval(self, expr: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The value of a Python literal-valued expression evaluated on the board."""
        out = self.exec(f"print(repr({expr}))", timeout).decode("utf-8", "replace").strip()
        try:
            return ast.literal_eval(out)
        except (ValueError, SyntaxError) as e:
            raise RawReplError("protocol", f"cannot parse {out[:80]!r}: {e}") from None

    # -- files -------------------------------------------------------------------------------------

    def _ensure_helpers(self) -> None:
        if not self._helpers:
            self.exec(HELPERS)
            self._helpers = True

    def sha256(self, path: str) -> str | None:
        """Hex SHA-256 of a file on the board, None when it does not exist."""
        self._ensure_helpers()
        value = self.eval(f"_vh_h({path!r})")
        if value is not None and not isinstance(value, str):
            raise RawReplError("protocol", f"bad hash for {path}: {value!r}")
        return value

    def exists(self, path: str) -> bool:
        """Whether a file or folder exists on the board."""
        out = self.exec("import os\ntry:\n os.stat(%r)\n print(1)\nexcept OSError:\n print(0)\n" % path)
        return out.strip() == b"1"

    def mkdir_p(self, path: str) -> None:
        """Create a folder and its parents (existing ones are fine)."""
        self._ensure_helpers()
        self.exec(f"_vh_md({path!r})")

    def rmtree(self, path: str) -> None:
        """Remove a file or a folder tree; a missing path is fine."""
        self._ensure_helpers()
        self.exec(f"_vh_rt({path!r})", timeout=60.0)

    def remove(self, path: str, missing_ok: bool = False) -> None:
        """Remove a file; RawReplError(not_found) when it is missing, unless missing_ok."""
        self._ensure_helpers()
        if self.exec(f"print(_vh_rm({path!r}))").strip() != b"1" and not missing_ok:
            raise RawReplError("not_found", f"{path}: no such file on the board")

    def rename(self, src: str, dst: str) -> None:
        """Rename `src` to `dst`, replacing a file at `dst` (FAT refuses that: it is removed first)."""
        self._ensure_helpers()
        self.exec(f"_vh_mv({src!r}, {dst!r})")

    def ls(self, path: str = "/") -> list[tuple[str, bool, int]]:
        """Entries of a folder: (name, is_dir, size)."""
        self._ensure_helpers()
        value = self.eval(f"_vh_ls({path!r})")
        if not isinstance(value, list):
            raise RawReplError("protocol", f"bad listing of {path}")
        return [(str(n), bool(d), int(s)) for n, d, s in value]

    def walk(self, path: str) -> list[str]:
        """Every file below a folder, recursively, as full paths (a missing folder: [])."""
        self._ensure_helpers()
        value = self.eval(f"_vh_wk({path!r}, [])", timeout=60.0)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RawReplError("protocol", f"bad listing of {path}")
        return sorted(value)

    def write_file(self, path: str, data: bytes, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Write `data` to `path` in chunks and check its SHA-256 on the board; returns bytes written."""
        self._ensure_helpers()
        want = hashlib.sha256(data).hexdigest()
        chunks = [data[i: i + self.chunk] for i in range(0, len(data), self.chunk)] or [b""]
        try:
            if len(chunks) == 1:
                out = self.exec(f"_vh_o({path!r})\n_vh_w({_b64(chunks[0])!r})\n_vh_c({path!r})", timeout)
            else:
                self.exec(f"_vh_o({path!r})\n_vh_w({_b64(chunks[0])!r})", timeout)
                for c in chunks[1:-1]:
                    self.exec(f"_vh_w({_b64(c)!r})", timeout)
                out = self.exec(f"_vh_w({_b64(chunks[-1])!r})\n_vh_c({path!r})", timeout)
        except DeviceExecError:
            try:
                self.exec("if _vh_f:\n _vh_f.close()\n_vh_f = None")
            except RawReplError:
                pass
            raise
        got = out.decode("ascii", "replace").strip()
        if got != want:
            raise RawReplError("verify_failed", f"{path}: board has sha256 {got}, sent {want}")
        self.stats.file_bytes += len(data)
        self.stats.files_written += 1
        return len(data)

    def read_file(self, path: str, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The content of a file on the board; RawReplError(not_found) when it is missing."""
        code = ("import binascii\ntry:\n _vh_r = open(%r, 'rb')\nexcept OSError:\n _vh_r = None\n print('-')\n"
                "if _vh_r:\n try:\n  while True:\n   b = _vh_r.read(%d)\n   if not b:\n    break\n"
                "   print(binascii.b2a_base64(b).decode().strip())\n finally:\n  _vh_r.close()\n") % (path, 1536)
        lines = self.exec(code, timeout).split()
        if lines == [b"-"]:
            raise RawReplError("not_found", f"{path}: no such file on the board")
        try:
            return b"".join(base64.b64decode(line) for line in lines)
        except ValueError as e:
            raise RawReplError("protocol", f"bad file data for {path}: {e}") from None

    def read_text(self, path: str) -> str | None:
        """A UTF-8 text file's content, None when it does not exist."""
        try:
            return self.read_file(path).decode("utf-8", "replace")
        except RawReplError as e:
            if e.code == "not_found":
                return None
            raise


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)
