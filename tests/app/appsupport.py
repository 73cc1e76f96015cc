"""A firmware App on an emulated board, driven over an in-memory host stream (CPython).

The board is real firmware over real emulators: the PN532 chip emulator with a
phone (wallet) in its field on a SimUart, a camera showing frames rendered by
the camera emulator, and the App's own asyncio loop. Tests talk to it in JSON
lines exactly as the SDK does, and check the signed events with the SDK's
verifier.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np
from cryptography.hazmat.primitives import serialization

from vitale.app import App  # type: ignore[import-not-found,unused-ignore]
from vitale.compat import ticks_diff, ticks_ms  # type: ignore[import-not-found,unused-ignore]
from vitale.hal.board import Board, Buzzer, Clock, Led  # type: ignore[import-not-found,unused-ignore]
from vitale_host.signed import verify_signed_event
from vitale_tools.authority import Authority, load_private_key, present
from vitale_tools.camera_sim import Params, render_frame
from vitale_tools.nfc_target import CardTarget
from vitale_tools.pn532_sim import PN532Emulator, RealClock, SimClock, SimUart
from vitale_tools.sim_world import make_world
from vitale_tools.wallet import card_target

NONCE = bytes(range(1, 17))
DEADLINE_S = 30.0  # the longest any wait in these tests may take


def world(path: Path) -> Authority:
    """A test authority with patients 0, 1, 2; patient 2 revoked in the published status list."""
    auth = Authority(make_world(path))
    meta = json.loads((auth.path / "issued" / "2.json").read_text())
    auth.revoke(int(meta["statusIndex"]))
    auth.write_status_list(int(time.time()) - 60)
    return auth


class MemHost:
    """The board's host stream in memory: what the test sends, what the app wrote."""

    def __init__(self) -> None:
        self.inbox = bytearray()
        self.outbuf = bytearray()

    def read(self) -> bytes:
        """Everything sent so far (b"" when nothing): never blocks."""
        data = bytes(self.inbox)
        self.inbox.clear()
        return data

    def write(self, buf: bytes) -> int:
        """Keep what the app wrote."""
        self.outbuf += buf
        return len(buf)


class FrameCamera:
    """A camera showing one frame (or an empty scene); `fail` makes the next captures raise."""

    W, H = 640, 480

    def __init__(self) -> None:
        self.frame: bytes | None = None
        self.fail: BaseException | None = None
        self.captures = 0

    def capture(self) -> tuple[bytes, int, int]:
        """The frame on show, as the ESP32 driver gives it."""
        self.captures += 1
        if self.fail is not None:
            e, self.fail = self.fail, None
            raise e
        return (self.frame if self.frame is not None else bytes(self.W * self.H)), self.W, self.H

    def show_text(self, text: str, seed: int = 3) -> None:
        """Render a QR code with this text as the camera sees it (slight tilt)."""
        img, _ = render_frame(text, Params(tilt_x=8, roll=4, noise=2.0), np.random.default_rng(seed))
        assert img.shape == (self.H, self.W)
        self.frame = img.tobytes()

    def clear(self) -> None:
        """Nothing in view."""
        self.frame = None


class Rig:
    """One App on an emulated board plus the host side's bookkeeping (pinned key, counter)."""

    def __init__(self, auth: Authority, store_root: Path, modelled_nfc: bool = True) -> None:
        self.auth = auth
        self.nfc_clock: Any = SimClock() if modelled_nfc else RealClock()
        self.chip = PN532Emulator(self.nfc_clock)
        self.host = MemHost()
        self.camera = FrameCamera()
        self.leds: list[tuple[int, int, int]] = []
        self.tones: list[tuple[int, int]] = []
        self.reboots = 0
        self.board = Board("test-rig", Clock(ticks_ms, ticks_diff), nfc_uart=SimUart(self.chip, self.nfc_clock),
                           camera=self.camera, led=Led(self.leds.append),
                           buzzer=Buzzer(lambda f, ms: self.tones.append((f, ms))),
                           store_root=str(store_root), host=self.host, reboot=self._reboot)
        if modelled_nfc:
            self.board.nfc_clock = self.nfc_clock
        self.app = App(self.board)
        self.queue: list[dict[str, Any]] = []
        self.text = bytearray()
        self.rid = 0
        self.counter = 0
        self.public_key = b""

    def _reboot(self) -> None:
        self.reboots += 1

    # -- driving the app's loop ------------------------------------------------

    def run(self, scenario: Callable[[Rig], Awaitable[Any]]) -> Any:
        """Run the app's loop while `scenario(self)` talks to it; returns what the scenario returns."""
        async def main() -> Any:
            task = asyncio.create_task(self.app.run())
            try:
                return await asyncio.wait_for(scenario(self), DEADLINE_S)
            finally:
                self.app.stop()
                await asyncio.wait_for(task, DEADLINE_S)
                self.app.stopped = False
        return asyncio.run(main())

    def _pump(self) -> None:
        buf = self.host.outbuf
        while b"\n" in buf:
            i = buf.index(b"\n")
            line = bytes(buf[:i])
            del buf[: i + 1]
            if line.startswith(b"{"):
                self.queue.append(json.loads(line))
            else:
                self.text += line + b"\n"

    async def send_line(self, line: bytes) -> None:
        """Send raw bytes (a line) as the host would."""
        self.host.inbox += line

    async def request(self, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request; the whole reply object (ok or not)."""
        self.rid += 1
        rid = self.rid
        self.host.inbox += json.dumps({"id": rid, "cmd": cmd, "args": args or {}}).encode() + b"\n"
        t0 = time.monotonic()
        while time.monotonic() - t0 < DEADLINE_S:
            await asyncio.sleep(0.002)
            self._pump()
            for o in self.queue:
                if o.get("id") == rid and "ok" in o:
                    self.queue.remove(o)
                    return o
        raise TimeoutError(cmd)

    async def ok(self, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result of a request that must succeed."""
        r = await self.request(cmd, args)
        assert r["ok"] is True, r
        result: dict[str, Any] = r["result"]
        return result

    async def error(self, cmd: str, args: dict[str, Any] | None = None) -> str:
        """The error code of a request that must fail."""
        r = await self.request(cmd, args)
        assert r["ok"] is False, r
        code: str = r["error"]["code"]
        return code

    async def events_until(self, names: tuple[str, ...] = ("card", "refusal", "unverified_payload"),
                           timeout: float = 20.0) -> list[dict[str, Any]]:
        """Events up to and including the first whose name is in `names`, then the idle state after it."""
        out: list[dict[str, Any]] = []
        t0 = time.monotonic()
        final = False
        while time.monotonic() - t0 < timeout:
            await asyncio.sleep(0.005)
            self._pump()
            while self.queue:
                o = self.queue.pop(0)
                out.append(o)
                if o.get("event") in names:
                    final = True
                if final and o.get("event") == "state" and o.get("state") == "idle":
                    return out
        raise TimeoutError("no %s event; got %r" % (names, out))

    async def text_until(self, marker: bytes, timeout: float = 20.0) -> str:
        """Text output (typed commands) up to and including a line holding `marker`, and the rest of it."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            await asyncio.sleep(0.005)
            self._pump()
            if marker in self.text and self.text.endswith(b"\n") and b"state: idle" in self.text:
                out = self.text.decode()
                self.text.clear()
                return out
        raise TimeoutError("no %r in %r" % (marker, bytes(self.text)))

    def verify(self, event: dict[str, Any]) -> dict[str, Any]:
        """The signed result of a result event, checked as the SDK does (pinned key, nonce, counter)."""
        result, self.counter = verify_signed_event(event, self.public_key, NONCE, self.counter)
        assert event["result"] == result
        return result

    # -- the world ---------------------------------------------------------------

    async def provision(self) -> None:
        """hello, clock, pinned key, lists, reader certificate from the device's CSR."""
        auth = self.auth
        await self.ok("hello", {"nonce": NONCE.hex()})
        self.counter = 0
        await self.ok("time.set", {"unix": int(time.time())})
        pinned = auth.keys["trust-list"].public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        await self.ok("provision.pin", {"key": pinned.hex()})
        for cmd, name in (("provision.trust_list", "trust-list.cose"), ("provision.status_list", "status-list.cose")):
            await self.ok(cmd, {"data": base64.b64encode((auth.path / name).read_bytes()).decode()})
        csr = bytes.fromhex((await self.ok("reader.csr"))["csr"])
        await self.ok("provision.reader_cert", {"cert": auth.issue_reader_cert(csr).hex()})
        self.public_key = bytes.fromhex((await self.ok("reader.public_key"))["public_key"])

    def tap(self, patient: str | CardTarget) -> CardTarget:
        """Put a patient's phone (or any target) in the PN532's field."""
        target = card_target(patient, str(self.auth.path)) if isinstance(patient, str) else patient
        self.chip.place(target)
        return target

    def remove(self) -> None:
        """Take the phone away."""
        self.chip.remove()

    def qr_text(self, patient: str, ahead_s: int = 0) -> str:
        """A fresh VQR presentation of a patient's credential (signed by the phone now + ahead_s).

        The reader accepts one presentation per second and credential (newer than the last one
        accepted); ahead_s (within the clock skew) keeps two tests in the same second apart.
        """
        issued = self.auth.path / "issued"
        return present((issued / f"{patient}.vqr-issuer.cbor").read_bytes(),
                       load_private_key(issued / f"{patient}.device-key.pem"), int(time.time()) + ahead_s)

    def card_fields(self, patient: str, profile_names: tuple[str, ...]) -> dict[str, Any]:
        """The issued card's elements of a profile (what a verified read must return)."""
        meta = json.loads((self.auth.path / "issued" / f"{patient}.json").read_text())
        card: dict[str, Any] = meta["card"]
        return {k: v for k, v in card.items() if k in profile_names}
