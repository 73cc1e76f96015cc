"""The virtual reader's USB serial: a pseudo-terminal for the host, shared with the emulator's own control link.

`PtyPort` is the pty: raw mode, non-blocking on our (master) side, and it
survives the host closing and reopening the port. We do not keep the slave
open ourselves, so a closed port is seen as a hang-up (POLLHUP/EIO on the
master): output written meanwhile is dropped, as a USB CDC device drops what
no host reads, and a line the host left half-written is discarded.

`HostLink` is the firmware's host stream (`Board.host`: `read() -> bytes`,
never blocking, and `write(buf)`). It carries the pty's lines to the app and
the app's output back to the pty, and also lets the emulator itself send
requests on the same link (`request()`, used for `revoke` and `set-time` while
the practice software holds the port): those lines are slipped in between the
host's lines, their ids are strings `"ctl-N"`, and the replies with such ids
are taken out of the output before it reaches the pty. Events always go to
the pty.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import queue
import select
import threading
import time
import tty
from typing import Any

from vitale_host.connection import result_of
from vitale_host.errors import ReaderTimeout

__all__ = ["PtyPort", "HostLink", "HOLD_PARTIAL", "MAX_PENDING_OUT"]

HOLD_PARTIAL = 4096  # a pty line held back until its LF up to this size, then passed on as it is
MAX_PENDING_OUT = 1 << 20  # output kept for a slow host before the oldest is dropped
CTL_PREFIX = "ctl-"


class PtyPort:
    """A raw pseudo-terminal; `path` is what the host opens (e.g. with pyserial)."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)  # a cooked pty would echo our output back and mangle CR/LF
        self.path = os.ttyname(slave)
        os.close(slave)  # a host that closes the port is then seen as a hang-up
        os.set_blocking(self.master, False)
        self._poll = select.poll()
        self._poll.register(self.master, select.POLLIN)
        self.closed = False
        self.opens = 0  # times a host opened the port
        self._was_connected = False

    def connected(self) -> bool:
        """True while a host has the port open."""
        if self.closed:
            return False
        try:
            ev = self._poll.poll(0)
        except (OSError, ValueError):
            return False
        hup = any(e & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, e in ev)
        now = not hup
        if now and not self._was_connected:
            self.opens += 1
        self._was_connected = now
        return now

    def read(self) -> bytes:
        """What the host sent (b"" when nothing or no host); never blocks."""
        if self.closed:
            return b""
        try:
            return os.read(self.master, 65536)
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno in (errno.EIO, errno.EBADF):
                return b""
            raise

    def write(self, data: bytes) -> int:
        """Write what the pty takes now; returns the count (0 when full or no host)."""
        if self.closed or not data:
            return 0
        try:
            return os.write(self.master, data)
        except BlockingIOError:
            return 0
        except OSError as e:
            if e.errno in (errno.EIO, errno.EBADF):
                return 0
            raise

    def close(self) -> None:
        """Close the pty (the host then sees the port disappear)."""
        if not self.closed:
            self.closed = True
            try:
                os.close(self.master)
            except OSError:
                pass


class HostLink:
    """The firmware's host stream over a PtyPort, plus the emulator's own request channel (module docstring)."""

    def __init__(self, port: PtyPort, whole_lines: bool = True) -> None:
        self.port = port
        self.whole_lines = whole_lines  # False: host bytes pass at once (a MicroPython REPL needs Ctrl-C etc.)
        self._out_since = 0.0  # when the held incomplete output line started
        self.lock = threading.RLock()
        self._in = bytearray()  # from the pty, not yet given to the app
        self._mid_line = False  # the app has been given part of a pty line (an oversized one)
        self._inject: list[bytes] = []  # emulator request lines waiting for a line boundary
        self._out = bytearray()  # app output not yet routed (an incomplete JSON line)
        self._pending = bytearray()  # routed output the pty has not taken yet
        self._ids = itertools.count(1)
        self._waiters: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._req_lock = threading.Lock()
        self._connected = False
        self.dropped_out = 0
        self.last_read = 0.0  # monotonic time the app last polled read()
        self.bytes_in = 0
        self.bytes_out = 0

    # ---------------------------------------------------------------- the app's side (Board.host)

    def read(self) -> bytes:
        """Bytes for the app: whole host lines, or an emulator request line; b"" when none. Never blocks."""
        with self.lock:
            self.last_read = time.monotonic()
            self._service()
            if self._inject and not self._mid_line:
                return self._inject.pop(0)
            if not self.whole_lines:
                if not self._in:
                    return b""
                data = bytes(self._in)
                self._in.clear()
                self._mid_line = data[-1:] != b"\n"
                self.bytes_in += len(data)
                return data
            cut = self._in.rfind(b"\n")
            if self._mid_line and cut < 0 and self._in:
                # the rest of an oversized line the app already has part of: holding it back for its LF
                # would strand its tail (up to HOLD_PARTIAL bytes) whenever the host pauses mid-line
                data = bytes(self._in)
                self._in.clear()
            elif cut >= 0:
                data = bytes(self._in[: cut + 1])
                del self._in[: cut + 1]
                self._mid_line = False
            elif len(self._in) > HOLD_PARTIAL:
                data = bytes(self._in)
                self._in.clear()
                self._mid_line = True
            else:
                return b""
            self.bytes_in += len(data)
            return data

    def write(self, buf: bytes | bytearray | memoryview) -> int:
        """The app's output: routed to the pty, or to a waiting emulator request. Returns len(buf)."""
        data = bytes(buf)
        with self.lock:
            self._out += data
            self._route()
            self._service()
        return len(data)

    def any(self) -> int:
        """Bytes read() could give now (a hint)."""
        with self.lock:
            self._service()
            return len(self._in) + sum(len(x) for x in self._inject)

    # ---------------------------------------------------------------- plumbing

    def _service(self) -> None:
        """Notice host open/close, take the pty's input, push pending output."""
        now = self.port.connected()
        if now != self._connected:
            self._connected = now
            if not now:
                # the host went away: its half-written line and our unsent output are lost
                self._pending.clear()
                self._in.clear()
                if self._mid_line:
                    self._in += b"\n"  # end the oversized line the app was given part of
        if not now:
            return
        if self._out and time.monotonic() - self._out_since > 0.5:
            self._to_host(bytes(self._out))  # an incomplete line starting with "{" (REPL echo): let it go
            self._out.clear()
        data = self.port.read()
        while data:
            self._in += data
            data = self.port.read() if len(self._in) < (1 << 20) else b""
        while self._pending:
            k = self.port.write(bytes(self._pending[:65536]))
            if k <= 0:
                break
            del self._pending[:k]

    def host_connected(self) -> bool:
        """True while a host has the port open (as last seen). Not named `connected`: a runtime seeing that
        would drop the app's output while no host is there, and with it the replies to our own requests."""
        return self._connected

    def _route(self) -> None:
        out = self._out
        had = bool(out)
        while out:
            i = out.find(b"\n")
            if i < 0:
                if out[:1] != b"{" or len(out) > (1 << 20):
                    self._to_host(bytes(out))  # not JSON (REPL prompt, text mode): pass on at once
                    out.clear()
                elif not had:
                    self._out_since = time.monotonic()
                return
            had = False  # what remains after this line is a new incomplete line
            line = bytes(out[: i + 1])
            del out[: i + 1]
            if not self._take_reply(line):
                self._to_host(line)

    def _take_reply(self, line: bytes) -> bool:
        if b'"' + CTL_PREFIX.encode() not in line or not line.startswith(b"{"):
            return False
        try:
            msg = json.loads(line)
        except ValueError:
            return False
        if not isinstance(msg, dict) or "event" in msg:
            return False
        rid = msg.get("id")
        if not isinstance(rid, str) or not rid.startswith(CTL_PREFIX):
            return False
        w = self._waiters.get(rid)
        if w is not None:
            w.put(msg)
        return True

    def _to_host(self, data: bytes) -> None:
        if not self._connected:
            return
        self.bytes_out += len(data)
        self._pending += data
        if len(self._pending) > MAX_PENDING_OUT:
            extra = len(self._pending) - MAX_PENDING_OUT
            self.dropped_out += extra
            del self._pending[:extra]

    def inject_to_host(self, data: bytes) -> bool:
        """Write bytes to the host as if the firmware had sent them (forged-event tests); False when no host."""
        with self.lock:
            self._service()
            if not self._connected:
                return False
            self._to_host(bytes(data))
            self._service()
            return True

    # ---------------------------------------------------------------- the emulator's own requests

    def request(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        """Send a request on the link as a host would and return its result (ReaderError with the code)."""
        with self._req_lock:
            rid = CTL_PREFIX + str(next(self._ids))
            waiter: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
            line = json.dumps({"id": rid, "cmd": cmd, "args": args or {}}).encode() + b"\n"
            with self.lock:
                self._waiters[rid] = waiter
                self._inject.append(line)
            try:
                try:
                    msg = waiter.get(timeout=timeout)
                except queue.Empty:
                    raise ReaderTimeout(f"the app did not answer {cmd} within {timeout} s") from None
            finally:
                with self.lock:
                    self._waiters.pop(rid, None)
                    if line in self._inject:
                        self._inject.remove(line)
        return result_of(msg, cmd)

    def close(self) -> None:
        """Close the pty."""
        with self.lock:
            self.port.close()
