"""The reader, for practice software: `Reader` (blocking) and `AsyncReader` (asyncio).

    from vitale_host import Reader, CardRefused

    with Reader() as reader:                       # the only reader on USB, or Reader("/dev/ttyUSB0")
        try:
            result = reader.read_card(channel="any", timeout=30)
        except CardRefused as e:
            print("refused:", e.code)              # revoked, expired, qr_expired, timeout, ...
        else:
            print(result.card.family_name)

On connection the SDK sends `hello` with a fresh random nonce; the reader signs every
result of the session over that nonce and a counter, and the SDK accepts a result only
when it verifies against the reader key pinned on this host (`vitale_host.pins`, written
by `vitale provision`). A reader whose key is not pinned is refused (`reader_not_pinned`),
a result that does not verify raises `ForgedResult`. See docs/sdk.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import provision as _prov
from .connection import Connection
from .errors import ReaderError, ReaderTimeout
from .models import (
    PROFILES, READ_CHANNELS, RESULT_EVENTS, BadResult, ReaderInfo, ReadProgress, ReadResult, Refusal,
    read_result_from_signed,
)
from .pins import PinStore, home
from .signed import verify_signed_event
from .transport import DEFAULT_BAUD, SerialTransport, auto_port

__all__ = ["AsyncReader", "CardRefused", "Reader", "ReaderEvent", "UnverifiedResult"]

NONCE_BYTES = 32
HELLO_TIMEOUT = 3.0        # one hello attempt; repeated until connect_timeout (the board may be booting)
RESULT_GRACE = 10.0        # how long after the read's own timeout the host still waits for its result
MIN_READ_S, MAX_READ_S = 1.0, 300.0
# Ctrl-C twice (stop a program), Ctrl-B (leave the raw REPL), Ctrl-D (soft reset: boot.py, main.py, the app)
WAKE_APP = b"\r\x03\x03\x02\x04"
BUSY_WAIT = 5.0            # how long a leftover read, once cancelled, may take to stop
# What is retried until the deadline: at first connection only a reader that does not answer yet
# (booting); when reconnecting, also a port that is not back yet.
_CONNECT_RETRY = ("timeout",)
_RECONNECT_RETRY = ("port_unavailable", "no_reader", "disconnected", "timeout")


class CardRefused(ReaderError):
    """The reader (or the host re-check) refused the card; `code` is the refusal code.

    `refusal` is the `Refusal` (code, message, detail), `result` the whole signed ReadResult.
    """

    def __init__(self, result: ReadResult) -> None:
        assert result.refusal is not None
        super().__init__(result.refusal.code, result.refusal.message)
        self.refusal: Refusal = result.refusal
        self.result = result


class UnverifiedResult(ReaderError):
    """The reader passed through a payload it could not verify (code ``unverified_payload``).

    Raised by `read_card` unless `allow_unverified=True`; `result.unverified` holds the bytes.
    """

    def __init__(self, result: ReadResult) -> None:
        super().__init__("unverified_payload", "the reader passed through a payload it did not verify")
        self.result = result


@dataclass(frozen=True)
class ReaderEvent:
    """An event from the reader. For result events (card, refusal, unverified_payload) `result`
    is the verified signed result and `fields` holds nothing of the unsigned copy."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    result: ReadResult | None = None


def _check_read_args(channel: str, profile: str | None, timeout: float) -> int:
    if channel not in READ_CHANNELS:
        raise ReaderError("bad_args", f"channel must be one of {', '.join(READ_CHANNELS)}")
    if profile is not None and profile not in PROFILES:
        raise ReaderError("bad_args", f"profile must be one of {', '.join(sorted(PROFILES))}")
    if not MIN_READ_S <= timeout <= MAX_READ_S:
        raise ReaderError("bad_args", f"timeout must be {MIN_READ_S:g} to {MAX_READ_S:g} seconds")
    return int(timeout * 1000)


class Reader:
    """A reader on a serial port (blocking API; thread-safe).

    `port`: a device path, a pty of the virtual reader or a pyserial URL; None finds the only
    reader plugged in (`transport.auto_port`). `pins`: the host's pinned reader keys (default
    `$VITALE_HOME/readers.json`). `timeout`: seconds per command. `verify_raw`: re-check every
    result that carries the raw credential with the host reference verifier (`trust`: a
    `verify.TrustStore` or a folder with trust-list-key.pem, trust-list.cose, status-list.cose;
    default `$VITALE_HOME/trust`), refusing on disagreement. `require_pin=False` connects to a
    reader whose key is not pinned (to provision it); reads are still refused until it is.
    After an unplug the next call re-opens the port (waiting up to `reconnect_timeout`) and
    starts a new signed session. `start_app=True`: when the first `hello` gets no answer (a board
    left at the MicroPython REPL), send Ctrl-C, Ctrl-B, Ctrl-D — a soft reset that runs main.py,
    hence the app — once, then keep saying hello until `connect_timeout`.
    """

    def __init__(self, port: str | None = None, *, pins: PinStore | str | Path | None = None,
                 baudrate: int = DEFAULT_BAUD, timeout: float = 5.0, verify_raw: bool = False,
                 trust: Any = None, require_pin: bool = True, connect_timeout: float = 10.0,
                 reconnect_timeout: float = 10.0, start_app: bool = False) -> None:
        self._port_arg = port
        self.port: str = port or ""
        self.pins = pins if isinstance(pins, PinStore) else PinStore(pins)
        self.baudrate = baudrate
        self.timeout = timeout
        self.verify_raw = verify_raw
        self.require_pin = require_pin
        self.connect_timeout = connect_timeout
        self.reconnect_timeout = reconnect_timeout
        self.start_app = start_app
        self._woken = False
        self.hello: dict[str, Any] = {}
        self.reader_kid = ""
        self._conn: Connection | None = None
        self._nonce = b""
        self._last_counter = 0
        self._pinned_key: bytes | None = None
        self._conn_lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._closed = False
        self._trust: Any = None
        self._host_policy: Any = None
        if verify_raw:
            self._trust = self._load_trust(trust)
        self._connect(self.connect_timeout, _CONNECT_RETRY)

    # -- connection and session

    @staticmethod
    def _load_trust(trust: Any) -> Any:
        from .verify import Refused, TrustStore

        if isinstance(trust, TrustStore):
            return trust
        folder = Path(trust) if trust is not None else home() / "trust"
        try:
            return TrustStore.load_dir(folder)
        except (OSError, Refused) as e:
            raise ReaderError("no_host_trust", f"verify_raw needs the trust lists on the host ({folder}): {e}") \
                from None

    def _connect(self, wait: float, retry: tuple[str, ...]) -> None:
        """Open the port and start a signed session, retrying errors in `retry` for `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self._connect_once()
                return
            except ReaderError as e:
                self._drop()
                if e.code not in retry or time.monotonic() + 0.2 >= deadline:
                    raise
            time.sleep(0.2)

    def _connect_once(self) -> None:
        self.port = self._port_arg or auto_port()
        conn = Connection(SerialTransport(self.port, self.baudrate))
        conn.open()
        self._conn = conn
        nonce = os.urandom(NONCE_BYTES)
        attempt = min(HELLO_TIMEOUT, max(0.5, self.connect_timeout / 3))
        try:
            hello = conn.request("hello", {"nonce": nonce.hex()}, timeout=attempt)
        except ReaderTimeout:
            if self.start_app and not self._woken:
                self._woken = True
                conn.transport.write_raw(WAKE_APP)
            raise
        if not isinstance(hello, dict) or not isinstance(hello.get("reader_kid"), str):
            raise ReaderError("bad_reply", "hello did not return the reader's key id")
        self.hello = hello
        self.reader_kid = str(hello["reader_kid"]).lower()
        self._nonce = nonce
        self._last_counter = 0
        self._pinned_key = self.pins.lookup(self.reader_kid)
        if self._pinned_key is None and self.require_pin:
            raise ReaderError("reader_not_pinned",
                              f"the reader's key {self.reader_kid} is not pinned on this host (run vitale provision)")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def reconnect(self, timeout: float | None = None) -> None:
        """Close and re-open the port (e.g. after an unplug), with a new hello and signed session."""
        with self._conn_lock:
            self._drop()
            self._closed = False
            self._connect(self.reconnect_timeout if timeout is None else timeout, _RECONNECT_RETRY)

    def _live(self) -> Connection:
        with self._conn_lock:
            if self._closed:
                raise ReaderError("closed", "the Reader was closed")
            if self._conn is None or not self._conn.alive:
                self.reconnect()
            assert self._conn is not None
            return self._conn

    @property
    def connected(self) -> bool:
        """True while the port is open and answering."""
        return self._conn is not None and self._conn.alive

    @property
    def pinned(self) -> bool:
        """True when this host has the connected reader's key pinned."""
        return self._pinned_key is not None

    @property
    def noise(self) -> list[bytes]:
        """Recent non-protocol lines from the reader (boot banner, debug prints), for diagnostics."""
        return list(self._conn.noise) if self._conn is not None else []

    def close(self) -> None:
        """Close the port."""
        with self._conn_lock:
            self._closed = True
            self._drop()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands

    def request(self, cmd: str, args: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Send any command of docs/host-protocol.md and return its result (ReaderError on error).

        `hello` is reserved (it would end the signed session): use `reconnect()`.
        """
        if cmd == "hello":
            raise ReaderError("bad_args", "hello is sent by the SDK; use reconnect() for a new session")
        return self._live().request(cmd, args, self.timeout if timeout is None else timeout)

    def info(self) -> ReaderInfo:
        """The reader's state: board, firmware, lists and their ages, clock, memory, policy."""
        r = self.request("info")
        try:
            return ReaderInfo.from_reply(r, reader_pinned=self._pinned_key is not None)
        except BadResult as e:
            raise ReaderError("bad_reply", str(e)) from None

    def cancel(self) -> bool:
        """Cancel the running read (it ends with the refusal `cancelled`); False when none ran."""
        r = self.request("read.cancel")
        return isinstance(r, dict) and r.get("cancelled") is True

    def _verify(self, ev: dict[str, Any]) -> ReadResult:
        """The verified ReadResult of a result event; ForgedResult / ReaderError otherwise."""
        key = self._pinned_key
        if key is None:
            raise ReaderError("reader_not_pinned", f"the reader's key {self.reader_kid} is not pinned on this host")
        result, counter = verify_signed_event(ev, key, self._nonce, self._last_counter)
        self._last_counter = counter
        try:
            return read_result_from_signed(result, self.reader_kid, counter, int(time.time()))
        except BadResult as e:
            raise ReaderError("bad_result", f"the reader's signed result is malformed: {e}") from None

    def _event(self, ev: dict[str, Any]) -> ReaderEvent:
        name = str(ev.get("event"))
        if name in RESULT_EVENTS:
            return ReaderEvent(name, {}, self._verify(ev))
        return ReaderEvent(name, {k: v for k, v in ev.items() if k != "event"})

    def events(self, timeout: float | None = None) -> Iterator[ReaderEvent]:
        """The reader's events as they come; stops after `timeout` seconds without one (None: never).

        Result events are verified like `read_card`'s (ForgedResult otherwise). Do not iterate
        while a `read_card` runs in another thread: both would take the same events.
        """
        while True:
            conn = self._live()
            ev = conn.next_event(0.5 if timeout is None else timeout)
            if ev is None:
                if timeout is None:
                    continue
                return
            yield self._event(ev)

    def read_card(self, channel: str = "any", profile: str | None = None, timeout: float = 30.0, *,
                  on_progress: Callable[[ReadProgress], None] | None = None, raise_on_refusal: bool = True,
                  allow_unverified: bool = False) -> ReadResult:
        """Ask for a card (NFC tap and/or QR) and return the reader's verified, signed result.

        Returns a ReadResult whose `.card` is the verified HealthCard. A refusal raises
        `CardRefused` (its `code`: revoked, expired, timeout, cancelled, ...) or, with
        `raise_on_refusal=False`, is returned with `.refusal` set. A passthrough payload the
        reader could not verify raises `UnverifiedResult`, or with `allow_unverified=True`
        is returned with `.unverified` set (never as a card). `timeout` (1-300 s) is the
        reader's; `on_progress` receives its progress events (scanning, reading, ...).
        """
        timeout_ms = _check_read_args(channel, profile, timeout)
        if self._pinned_key is None:
            raise ReaderError("reader_not_pinned", f"the reader's key {self.reader_kid} is not pinned on this host")
        if not self._read_lock.acquire(blocking=False):
            raise ReaderError("busy", "a read is already running on this Reader")
        try:
            res = self._read(channel, profile, timeout, timeout_ms, on_progress)
        finally:
            self._read_lock.release()
        if res.status == "verified" and self.verify_raw and res.raw is not None:
            res = self._host_check(res)
        if res.status == "refused" and raise_on_refusal:
            raise CardRefused(res)
        if res.status == "unverified" and not allow_unverified:
            raise UnverifiedResult(res)
        return res

    def _start(self, conn: Connection, args: dict[str, Any]) -> Any:
        try:
            return conn.request("read.start", args, self.timeout)
        except ReaderError as e:
            if e.code != "busy":
                raise
        # This host owns the port exclusively, so a read already running is a leftover
        # (e.g. of a program that was killed mid-read): cancel it and start ours once it
        # has ended (a cancelled read takes a moment to stop on the reader).
        conn.request("read.cancel", None, self.timeout)
        deadline = time.monotonic() + BUSY_WAIT
        while True:
            try:
                return conn.request("read.start", args, self.timeout)
            except ReaderError as e:
                if e.code != "busy" or time.monotonic() >= deadline:
                    raise
            time.sleep(0.05)

    def _read(self, channel: str, profile: str | None, timeout: float, timeout_ms: int,
              on_progress: Callable[[ReadProgress], None] | None) -> ReadResult:
        conn = self._live()
        conn.clear_events()  # results of earlier reads are stale
        args: dict[str, Any] = {"channel": channel, "timeout_ms": timeout_ms}
        if profile is not None:
            args["profile"] = profile
        reply = self._start(conn, args)
        if not isinstance(reply, dict) or "read_id" not in reply:
            raise ReaderError("bad_reply", "read.start did not return a read_id")
        read_id = reply["read_id"]
        deadline = time.monotonic() + timeout + RESULT_GRACE
        done = False
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReaderTimeout(f"no result from the reader within {timeout + RESULT_GRACE:g} s")
                ev = conn.next_event(min(left, 0.5))
                if ev is None:
                    continue
                name = ev.get("event")
                if name == "state":
                    if ev.get("read_id") == read_id and on_progress is not None:
                        st, ch = ev.get("state"), ev.get("channel")
                        on_progress(ReadProgress(read_id, str(st), ch if isinstance(ch, str) else None))
                    continue
                if name not in RESULT_EVENTS:
                    continue
                res = self._verify(ev)
                if res.read_id != read_id:
                    continue  # a verified result of an earlier read of this session
                done = True
                return res
        finally:
            if not done and conn.alive:
                try:
                    conn.request("read.cancel", None, 2.0)
                except ReaderError:
                    pass

    def _host_check(self, res: ReadResult) -> ReadResult:
        """Re-check `res.raw` with the host reference verifier; a refusal when it disagrees."""
        from . import verify as hv

        raw = res.raw or {}
        policy = hv.Policy(profile=res.profile)
        if self._host_policy is None:
            try:
                self._host_policy = self.info().policy
            except ReaderError:
                self._host_policy = {}
        for k in ("qr_window_s", "clock_skew_s", "status_max_age_s", "doc_type"):
            if k in self._host_policy and self._host_policy[k] is not None:
                setattr(policy, k, self._host_policy[k])
        now = int(time.time())
        try:
            fmt = raw.get("format")
            if fmt == "vqr":
                host = hv.verify_vqr(str(raw.get("text", "")), self._trust, now, policy)
            elif fmt == "mdoc":
                erk = raw.get("e_reader_key")
                host = hv.verify_device_response(
                    bytes.fromhex(str(raw.get("device_response", ""))),
                    bytes.fromhex(str(raw.get("session_transcript", ""))), self._trust, now, policy,
                    bytes.fromhex(erk) if isinstance(erk, str) else None)
            else:
                raise hv.Refused("malformed", f"unknown raw format {fmt!r}")
        except hv.Refused as e:
            return self._disagree(res, e.refusal.code, e.refusal.message, e.refusal.detail)
        except ValueError as e:  # hex that does not decode
            return self._disagree(res, "malformed", "the raw credential does not decode", str(e))
        mine = res.card.to_dict() if res.card is not None else None
        theirs = host.card.to_dict() if host.card is not None else None
        if mine != theirs or res.verification is None or host.doc_type != res.verification.doc_type:
            return self._disagree(res, "verification_mismatch",
                                  "the host verifier read another card than the reader", "")
        return dataclasses.replace(res, host_checked=True)

    @staticmethod
    def _disagree(res: ReadResult, code: str, message: str, detail: str) -> ReadResult:
        return dataclasses.replace(
            res, status="refused", verification=None, host_checked=True,
            refusal=Refusal(code, message, ("host re-check: " + detail) if detail else "host re-check"))

    # -- provisioning (vitale_host.provision)

    def provision_clock(self, unix: int | None = None) -> int:
        """Set the reader's clock (default: this host's); returns the reader's time."""
        return _prov.set_clock(self, unix)

    def provision_trust_key(self, key: bytes) -> bool:
        """Pin the trust-list key on the reader (PEM, SEC1 or hex); False when one was already pinned."""
        return _prov.pin_trust_key(self, key)

    def provision_trust_list(self, data: bytes, progress: _prov.Progress | None = None) -> dict[str, Any]:
        """Install a signed trust list (chunked when large); `progress(sent, total)`."""
        return _prov.upload_list(self, "trust_list", data, progress)

    def provision_status_list(self, data: bytes, progress: _prov.Progress | None = None) -> dict[str, Any]:
        """Install a signed status list (chunked when large); `progress(sent, total)`."""
        return _prov.upload_list(self, "status_list", data, progress)

    def provision_config(self, policy: dict[str, Any], passthrough: bool | None = None,
                         attach_raw: bool | None = None) -> dict[str, Any]:
        """Set the reader's policy and its passthrough / attach_raw switches."""
        self._host_policy = None
        return _prov.set_config(self, policy, passthrough, attach_raw)

    def provision_reader_cert(self, sign: _prov.Signer, cn: str | None = None) -> dict[str, Any]:
        """Certify the reader's key: reader.csr, `sign(csr_der) -> cert_der`, provision.reader_cert."""
        return _prov.install_reader_cert(self, sign, cn)

    def pin_reader_key(self) -> str:
        """Pin the connected reader's key on this host (trust on first use); returns its kid."""
        kid, pub = _prov.pin_reader(self, self.pins, str(self.hello.get("board", "")), self.reader_kid)
        self._pinned_key = pub
        return kid


class AsyncReader:
    """`Reader` for asyncio: the same methods, awaitable (each runs the blocking call in a thread).

        async with AsyncReader(port) as reader:
            result = await reader.read_card(timeout=30)

    Cancelling a task awaiting `read_card` cancels the read on the reader.
    """

    def __init__(self, port: str | None = None, **kwargs: Any) -> None:
        self._port = port
        self._kwargs = kwargs
        self._reader: Reader | None = None

    @classmethod
    async def open(cls, port: str | None = None, **kwargs: Any) -> AsyncReader:
        """Connect and return the reader."""
        r = cls(port, **kwargs)
        await r.connect()
        return r

    async def connect(self) -> None:
        """Open the port and start the signed session (see Reader)."""
        if self._reader is None:
            self._reader = await asyncio.to_thread(Reader, self._port, **self._kwargs)

    @property
    def reader(self) -> Reader:
        """The underlying blocking Reader."""
        if self._reader is None:
            raise ReaderError("closed", "the AsyncReader is not connected (await connect())")
        return self._reader

    async def close(self) -> None:
        """Close the port."""
        if self._reader is not None:
            await asyncio.to_thread(self._reader.close)

    async def __aenter__(self) -> AsyncReader:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(self, cmd: str, args: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """See Reader.request."""
        return await asyncio.to_thread(self.reader.request, cmd, args, timeout)

    async def info(self) -> ReaderInfo:
        """See Reader.info."""
        return await asyncio.to_thread(self.reader.info)

    async def cancel(self) -> bool:
        """See Reader.cancel."""
        return await asyncio.to_thread(self.reader.cancel)

    async def reconnect(self, timeout: float | None = None) -> None:
        """See Reader.reconnect."""
        await asyncio.to_thread(self.reader.reconnect, timeout)

    async def read_card(self, channel: str = "any", profile: str | None = None, timeout: float = 30.0, *,
                        on_progress: Callable[[ReadProgress], None] | None = None, raise_on_refusal: bool = True,
                        allow_unverified: bool = False) -> ReadResult:
        """See Reader.read_card; `on_progress` is called in the event loop's thread."""
        reader = self.reader
        loop = asyncio.get_running_loop()
        cb: Callable[[ReadProgress], None] | None = None
        if on_progress is not None:
            user_cb = on_progress

            def cb(p: ReadProgress) -> None:
                loop.call_soon_threadsafe(user_cb, p)

        task = asyncio.ensure_future(asyncio.to_thread(
            reader.read_card, channel, profile, timeout, on_progress=cb, raise_on_refusal=raise_on_refusal,
            allow_unverified=allow_unverified))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            try:
                await asyncio.to_thread(reader.cancel)
            except ReaderError:
                pass
            try:
                await asyncio.wait_for(task, 5.0)
            except (ReaderError, asyncio.TimeoutError):
                pass
            raise

    async def events(self, timeout: float | None = None) -> AsyncIterator[ReaderEvent]:
        """See Reader.events."""
        reader = self.reader
        while True:
            conn = await asyncio.to_thread(reader._live)  # noqa: SLF001
            ev = await asyncio.to_thread(conn.next_event, 0.5 if timeout is None else timeout)
            if ev is None:
                if timeout is None:
                    continue
                return
            yield reader._event(ev)  # noqa: SLF001

    async def provision_clock(self, unix: int | None = None) -> int:
        """See Reader.provision_clock."""
        return await asyncio.to_thread(self.reader.provision_clock, unix)

    async def provision_trust_key(self, key: bytes) -> bool:
        """See Reader.provision_trust_key."""
        return await asyncio.to_thread(self.reader.provision_trust_key, key)

    async def provision_trust_list(self, data: bytes, progress: _prov.Progress | None = None) -> dict[str, Any]:
        """See Reader.provision_trust_list."""
        return await asyncio.to_thread(self.reader.provision_trust_list, data, progress)

    async def provision_status_list(self, data: bytes, progress: _prov.Progress | None = None) -> dict[str, Any]:
        """See Reader.provision_status_list."""
        return await asyncio.to_thread(self.reader.provision_status_list, data, progress)

    async def provision_config(self, policy: dict[str, Any], passthrough: bool | None = None,
                               attach_raw: bool | None = None) -> dict[str, Any]:
        """See Reader.provision_config."""
        return await asyncio.to_thread(self.reader.provision_config, policy, passthrough, attach_raw)

    async def provision_reader_cert(self, sign: _prov.Signer, cn: str | None = None) -> dict[str, Any]:
        """See Reader.provision_reader_cert."""
        return await asyncio.to_thread(self.reader.provision_reader_cert, sign, cn)

    async def pin_reader_key(self) -> str:
        """See Reader.pin_reader_key."""
        return await asyncio.to_thread(self.reader.pin_reader_key)
