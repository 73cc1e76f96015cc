"""A scripted reader on a real pty for the SDK tests, and the tests' fixtures.

The firmware's own link (Dispatcher, the real `hello`/`info`/`time.set`/`provision.*`
commands over a real Store, the real ReaderKey signing every result) serves the pty;
the read commands of the "Reads" contract are scripted here: `read.start` waits for the
test to present something, and a presented VQR is verified by the firmware's own
`vitale.cred.vqr.verify` against the provisioned trust list. The port is reached through a
symlink so a test can unplug the reader and plug it back at the same path.
"""

from __future__ import annotations

import base64
import json
import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vitale.compat import ticks_diff, ticks_ms
from vitale.cred import vqr as fw_vqr
from vitale.cred.policy import Policy
from vitale.cred.result import Refusal
from vitale.crypto.csr import csr_der
from vitale.hal.board import Board, Clock
from vitale.link.commands import ReaderState, policy_dict, register
from vitale.link.lines import LineBuffer
from vitale.link.protocol import T_BOOL, T_INT, T_OBJ, T_STR, Command, LinkError, event
from vitale.store import Store
from vitale_host.pins import PinStore
from vitale_tools.authority import Authority, load_private_key, present
from vitale_tools.sim_world import make_world


def pinned_key(auth: Authority) -> bytes:
    """The authority's trust-list key as 65-byte SEC1."""
    return bytes(auth.keys["trust-list"].public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def vqr_text(auth_dir: Path, patient: str, at: int | None = None) -> str:
    """Patient's phone showing its QR now (or at `at`)."""
    issued = auth_dir / "issued"
    return present((issued / f"{patient}.vqr-issuer.cbor").read_bytes(),
                   load_private_key(issued / f"{patient}.device-key.pem"), int(time.time()) if at is None else at)


class ScriptedReader:
    """The firmware link on a pty, with scripted reads (see the module docstring)."""

    def __init__(self, root: Path, name: str = "sdk-test") -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.path = str(root / "port")          # stable across unplug / plug
        self.board = Board(name, Clock(ticks_ms, ticks_diff))
        self.state = ReaderState(self.board, Store(str(root / "store")))
        self.config: dict[str, Any] = {"passthrough": False, "attach_raw": False}
        from vitale.link.protocol import Dispatcher

        self.d = Dispatcher()
        register(self.d, self.state)
        self.d.add(Command("read.start", self._start, (("channel", T_STR, False), ("profile", T_STR, False),
                                                       ("timeout_ms", T_INT, False)), "start a read"))
        self.d.add(Command("read.cancel", self._cancel, (), "cancel the read"))
        self.d.add(Command("reader.csr", self._csr, (("cn", T_STR, False),), "certificate request"))
        self.d.add(Command("provision.reader_cert", self._cert, (("cert", T_STR, True),), "install certificate"))
        # provision.config with the Reads switches (the real app adds them to the stored config)
        self.d.add(Command("provision.config", self._config, (("policy", T_OBJ, True), ("passthrough", T_BOOL, False),
                                                              ("attach_raw", T_BOOL, False)), "config"))
        self.read: dict[str, Any] | None = None
        self.next_read = 0
        self.replay = fw_vqr.ReplayCache()
        self.received: list[bytes] = []
        self.sent_events: list[bytes] = []
        self.reader_cert: bytes | None = None
        self.cancel_delay = 0.0
        self.at_repl = False        # True: a MicroPython REPL that echoes, until Ctrl-D soft-resets into the app
        self._after: list[bytes] = []
        self._lock = threading.RLock()
        self._master = -1
        self._slave = -1
        self._plugged = False
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._stop = False
        self.plug()
        self._ticker.start()

    # -- the USB line

    def plug(self) -> None:
        """Attach a new pty at self.path (as a replugged USB device)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        tmp = self.path + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)
        self._master, self._slave = master, slave
        self._plugged = True
        self._server = threading.Thread(target=self._serve, args=(master, slave), daemon=True)
        self._server.start()

    def unplug(self) -> None:
        """Close the pty: the host sees the port go away."""
        with self._lock:
            if not self._plugged:
                return
            self._plugged = False
            os.unlink(self.path)
        # the serving thread closes the fds (a close while it blocks in read would not free the pty)
        self._server.join(timeout=5)

    def close(self) -> None:
        """Unplug and stop."""
        self._stop = True
        self.unplug()

    def send(self, data: bytes) -> None:
        """Write bytes to the host (an injected line, an event)."""
        with self._lock:
            if self._plugged:
                try:
                    os.write(self._master, data)
                except OSError:
                    pass

    def _serve(self, master: int, slave: int) -> None:
        try:
            self._serve_loop(master)
        finally:
            with self._lock:
                self._plugged = False
                os.close(slave)
                os.close(master)

    def _serve_loop(self, master: int) -> None:
        lb = LineBuffer(65536)
        while not self._stop and self._plugged:
            if not select.select([master], [], [], 0.05)[0]:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if self.at_repl:
                head, reset, data = data.partition(b"\x04")
                self.send(b">>> " + head.replace(b"\n", b"\r\n>>> "))
                if not reset:
                    continue
                self.at_repl = False
                self.send(b"MPY: soft reboot\r\n")
            for line in lb.feed(data):
                if line is not None:
                    self.received.append(bytes(line))
                with self._lock:
                    out = self.d.handle_line(line)
                    after, self._after = self._after, []
                if out:
                    self.send(out)
                for ev in after:
                    self.send(ev)

    def _tick(self) -> None:
        while not self._stop:
            time.sleep(0.05)
            with self._lock:
                r = self.read
                if r is not None and time.monotonic() > r["deadline"]:
                    self._finish_refused("timeout", "no card was presented in time", "", None)

    # -- scripted commands

    def _start(self, args: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        if st.session is None:
            raise LinkError("no_session", "send hello first")
        if st.trust is None:
            raise LinkError("no_trust_list", "provision a trust list first")
        if not self.board.clock.is_set():
            raise LinkError("clock_unset", "set the clock first")
        if self.read is not None:
            raise LinkError("busy", "a read is running")
        channel = args.get("channel", "any")
        if channel not in ("nfc", "qr", "any"):
            raise LinkError("bad_args", "channel")
        profile = args.get("profile") or st.policy.profile or "billing"
        t = args.get("timeout_ms", 30000)
        if not 1000 <= t <= 300000:
            raise LinkError("bad_args", "timeout_ms")
        self.next_read += 1
        self.read = {"read_id": self.next_read, "channel": channel, "profile": profile,
                     "deadline": time.monotonic() + t / 1000}
        self._after.append(event("state", {"read_id": self.next_read, "state": "scanning", "channel": channel}))
        return {"read_id": self.next_read, "channel": channel, "profile": profile, "timeout_ms": t}

    def _cancel(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.read is None:
            return {"cancelled": False}
        rid = self.read["read_id"]
        if self.cancel_delay:
            # like the App: the read stops a moment after the reply (its task must notice the cancel)
            def stop() -> None:
                with self._lock:
                    if self.read is not None and self.read["read_id"] == rid:
                        self._finish_refused("cancelled", "the read was cancelled", "", None)
            threading.Timer(self.cancel_delay, stop).start()
        else:
            self._finish_refused("cancelled", "the read was cancelled", "", None, later=True)
        return {"cancelled": True, "read_id": rid}

    def _csr(self, args: dict[str, Any]) -> dict[str, Any]:
        k = self.state.reader_key
        return {"csr": csr_der(k.private_key(), k.public_key(), args.get("cn") or "Vitale Reader").hex()}

    def _cert(self, args: dict[str, Any]) -> dict[str, Any]:
        der = bytes.fromhex(args["cert"])
        cert = x509.load_der_x509_certificate(der)
        point = cert.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
        if point != self.state.reader_key.public_key():
            raise LinkError("bad_reader_cert", "not for this reader's key")
        self.reader_cert = der
        return {"installed": True, "subject": cert.subject.rfc4514_string(),
                "not_after": int(cert.not_valid_after_utc.timestamp())}

    def _config(self, args: dict[str, Any]) -> dict[str, Any]:
        from vitale.link.commands import check_policy

        p = check_policy(args["policy"])
        self.state.policy = p
        for k in ("passthrough", "attach_raw"):
            if k in args:
                self.config[k] = args[k]
        return {"policy": policy_dict(p), "config": dict(self.config)}

    # -- results

    def _emit(self, name: str, result: dict[str, Any], later: bool = False) -> None:
        assert self.state.session is not None
        line = event(name, self.state.session.sign(result))
        self.sent_events.append(line)
        if later:
            self._after.append(line)
        else:
            self.send(line)

    def _finish_refused(self, code: str, message: str, detail: str, channel: str | None,
                        later: bool = False) -> None:
        r = self.read
        assert r is not None
        self.read = None
        self._emit("refusal", {"read_id": r["read_id"], "status": "refused", "channel": channel,
                               "refusal": {"code": code, "message": message, "detail": detail}}, later)

    def wait_read(self, timeout: float = 5.0) -> dict[str, Any]:
        """The running read, once the host started one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.read
            if r is not None:
                return r
            time.sleep(0.01)
        raise AssertionError("the host started no read")

    def show_qr(self, text: str) -> None:
        """The patient shows a QR: the firmware verifies it and the signed result is sent."""
        with self._lock:
            r = self.read
            assert r is not None, "no read running"
            self.send(event("state", {"read_id": r["read_id"], "state": "verifying", "channel": "qr"}))
            pol = Policy.from_dict(dict(policy_dict(self.state.policy), profile=r["profile"]))
            try:
                card = fw_vqr.verify(text, self.state.trust, pol, self.board.clock.now(), replay=self.replay)
            except Refusal as e:
                self._finish_refused(e.code, e.message, e.detail, "qr")
                return
            self.read = None
            result: dict[str, Any] = {"read_id": r["read_id"], "status": "verified", "channel": "qr",
                                      "profile": r["profile"], "card": card.to_dict()}
            if self.config["attach_raw"]:
                result["raw"] = {"format": "vqr", "text": text}
            self._emit("card", result)

    def pass_through(self, payload: bytes) -> None:
        """A closed-format QR passed through unverified."""
        with self._lock:
            r = self.read
            assert r is not None
            self.read = None
            self._emit("unverified_payload", {"read_id": r["read_id"], "status": "unverified", "channel": "qr",
                                              "verified": False, "payload": payload.hex(), "format": "qr"})

    def emit_result(self, name: str, result: dict[str, Any]) -> None:
        """Sign and send any result (for malformed-result tests)."""
        with self._lock:
            self.read = None
            self._emit(name, result)


def provision(reader: ScriptedReader, auth: Authority) -> None:
    """Provision the reader directly (clock, trust key, lists), as `vitale-sim emulate` does."""
    st = reader.state
    reader.board.clock.set(int(time.time()))
    for cmd, args in (("provision.pin", {"key": pinned_key(auth).hex()}),
                      ("provision.trust_list", {"data": base64.b64encode(
                          (auth.path / "trust-list.cose").read_bytes()).decode()}),
                      ("provision.status_list", {"data": base64.b64encode(
                          (auth.path / "status-list.cose").read_bytes()).decode()})):
        out = reader.d.handle_line(json.dumps({"id": 1, "cmd": cmd, "args": args}).encode())
        assert out is not None and json.loads(out)["ok"] is True, out
    assert st.trust is not None


# ---------------------------------------------------------------- fixtures (imported by the test modules)


@pytest.fixture(autouse=True)
def vitale_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "vitale-home"
    monkeypatch.setenv("VITALE_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    """A test authority with patients 0, 1, 2; patient 2 is revoked."""
    d = make_world(tmp_path_factory.mktemp("world") / "authority")
    auth = Authority(d)
    meta = json.loads((d / "issued" / "2.json").read_text())
    auth.revoke(int(meta["statusIndex"]))
    auth.write_status_list(int(time.time()) - 60)
    return auth


@pytest.fixture
def device(tmp_path: Path) -> Iterator[ScriptedReader]:
    """An unprovisioned scripted reader."""
    d = ScriptedReader(tmp_path / "device")
    yield d
    d.close()


@pytest.fixture
def provisioned(device: ScriptedReader, world: Authority) -> ScriptedReader:
    """A provisioned reader whose key is pinned on this host."""
    provision(device, world)
    PinStore().pin(device.state.reader_key.public_key(), "sdk-test")
    return device
