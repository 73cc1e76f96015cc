"""Request/reply and events over a line transport, following docs/host-protocol.md.

A background thread reads lines: replies are matched to the waiting request
by id, events go to a queue, anything else (REPL banner, debug prints) is
kept in `noise` for diagnostics. One request is in flight at a time (a lock),
so two commands from different threads never interleave.
"""

from __future__ import annotations

import collections
import itertools
import json
import queue
import threading
from typing import Any

from .errors import ReaderError, ReaderTimeout
from .transport import SerialTransport

Json = dict[str, Any]


def result_of(reply: Json, cmd: str) -> Any:
    """The result of a reply message; raises ReaderError with the reader's code for an error reply."""
    if reply.get("ok") is True:
        return reply.get("result")
    err = reply.get("error")
    if isinstance(err, dict):
        raise ReaderError(str(err.get("code", "error")), str(err.get("message", "")))
    raise ReaderError("bad_reply", f"malformed reply to {cmd}")


class Connection:
    """A live link to one reader."""

    def __init__(self, transport: SerialTransport) -> None:
        self.transport = transport
        self.events: queue.Queue[Json] = queue.Queue()
        self.noise: collections.deque[bytes] = collections.deque(maxlen=200)
        self._ids = itertools.count(1)
        self._req_lock = threading.Lock()
        self._pending: dict[int, queue.Queue[Json]] = {}
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: ReaderError | None = None

    def open(self) -> None:
        """Open the transport and start reading (events of an earlier opening are dropped)."""
        self.transport.open()
        self.error = None
        self.clear_events()
        self._stop.clear()
        self._thread = threading.Thread(target=self._reader, name="vitale-link", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop reading and close the transport."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.transport.close()

    def __enter__(self) -> Connection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reader(self) -> None:
        while not self._stop.is_set():
            try:
                line = self.transport.read_line(0.2)
            except ReaderError as e:
                self.error = e
                self._fail_pending(e)
                return
            if line is None:
                continue
            self._route(line)

    def _route(self, line: bytes) -> None:
        if not line.startswith(b"{"):
            self.noise.append(line)
            return
        try:
            msg = json.loads(line)
        except ValueError:
            self.noise.append(line)
            return
        if not isinstance(msg, dict):
            self.noise.append(line)
            return
        if "event" in msg:
            self.events.put(msg)
            return
        req_id = msg.get("id")
        with self._pending_lock:
            waiter = self._pending.get(req_id) if isinstance(req_id, int) else None
        if waiter is not None:
            waiter.put(msg)
        else:
            self.noise.append(line)  # a reply nobody waits for (e.g. after a timeout)

    def _fail_pending(self, err: ReaderError) -> None:
        with self._pending_lock:
            for w in self._pending.values():
                w.put({"ok": False, "error": {"code": err.code, "message": err.message}})

    def request(self, cmd: str, args: Json | None = None, timeout: float = 5.0) -> Any:
        """Send a command and return its result; raises ReaderError with the device's code."""
        if self.error is not None:
            raise self.error
        with self._req_lock:
            req_id = next(self._ids)
            waiter: queue.Queue[Json] = queue.Queue(maxsize=1)
            with self._pending_lock:
                self._pending[req_id] = waiter
            try:
                line = json.dumps({"id": req_id, "cmd": cmd, "args": args or {}}).encode()
                self.transport.write_line(line)
                try:
                    msg = waiter.get(timeout=timeout)
                except queue.Empty:
                    raise ReaderTimeout(f"no reply to {cmd} within {timeout} s") from None
            finally:
                with self._pending_lock:
                    self._pending.pop(req_id, None)
        return result_of(msg, cmd)

    @property
    def alive(self) -> bool:
        """True while the port is open and the reading thread has not seen it go away."""
        return self.error is None and self.transport.is_open and self._thread is not None \
            and self._thread.is_alive()

    def clear_events(self) -> int:
        """Drop every queued event; returns how many were dropped."""
        n = 0
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                return n
            n += 1

    def next_event(self, timeout: float) -> Json | None:
        """The next event from the reader, or None when none arrived in time."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            if self.error is not None:
                raise self.error from None
            return None
