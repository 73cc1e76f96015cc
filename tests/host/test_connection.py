"""Host connection over a real pty with pyserial, against the firmware's own dispatcher."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from vitale.link.lines import LineBuffer
from vitale.link.protocol import Command, Dispatcher, T_INT, event
from vitale_host.connection import Connection
from vitale_host.errors import ReaderError, ReaderTimeout
from vitale_host.transport import SerialTransport


class PtyDevice:
    """The firmware's dispatcher serving the master side of a pty."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self._slave = slave
        import tty

        tty.setraw(slave)
        self.dispatcher = Dispatcher()
        self.dispatcher.add(Command("add", lambda a: {"sum": a["a"] + a["b"]},
                                    (("a", T_INT, True), ("b", T_INT, True)), "add"))
        self.dispatcher.add(Command("slow", lambda a: time.sleep(0.5) or {}, (), "slow"))
        self.dispatcher.add(Command("emit", self._emit, (), "emit an event"))
        self._stop = False
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _emit(self, args: dict[str, object]) -> dict[str, object]:
        os.write(self.master, b"debug print from the board\n")
        os.write(self.master, event("card", {"n": 1}))
        return {}

    def _serve(self) -> None:
        lb = LineBuffer(1024)
        while not self._stop:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            for line in lb.feed(data):
                out = self.dispatcher.handle_line(line)
                if out:
                    try:
                        os.write(self.master, out)
                    except OSError:
                        return  # the test unplugged the device

    def close(self) -> None:
        if self._stop:
            return
        self._stop = True
        os.close(self._slave)
        os.close(self.master)


@pytest.fixture
def device() -> Iterator[PtyDevice]:
    d = PtyDevice()
    yield d
    d.close()


def test_request_reply_and_errors(device: PtyDevice) -> None:
    with Connection(SerialTransport(device.path)) as c:
        assert c.request("add", {"a": 2, "b": 3}) == {"sum": 5}
        with pytest.raises(ReaderError) as e:
            c.request("add", {"a": "x", "b": 3})
        assert e.value.code == "bad_args"
        with pytest.raises(ReaderError) as e:
            c.request("nope")
        assert e.value.code == "unknown_command"


def test_events_and_noise_are_separated(device: PtyDevice) -> None:
    with Connection(SerialTransport(device.path)) as c:
        c.request("emit")
        ev = c.next_event(2.0)
        assert ev == {"event": "card", "n": 1}
        deadline = time.monotonic() + 2
        while not c.noise and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b"debug print from the board" in list(c.noise)


def test_timeout_then_late_reply_does_not_confuse_next_request(device: PtyDevice) -> None:
    with Connection(SerialTransport(device.path)) as c:
        with pytest.raises(ReaderTimeout):
            c.request("slow", timeout=0.1)
        time.sleep(0.6)
        assert c.request("add", {"a": 1, "b": 1}) == {"sum": 2}


def test_two_threads_never_interleave(device: PtyDevice) -> None:
    with Connection(SerialTransport(device.path)) as c:
        results: list[object] = []

        def worker(k: int) -> None:
            for i in range(20):
                results.append(c.request("add", {"a": k, "b": i})["sum"] == k + i)

        ts = [threading.Thread(target=worker, args=(k,)) for k in (100, 200)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert results == [True] * 40


def test_unavailable_port_has_a_code() -> None:
    with pytest.raises(ReaderError) as e:
        Connection(SerialTransport("/dev/does-not-exist")).open()
    assert e.value.code == "port_unavailable"


def test_device_gone_fails_pending_request(device: PtyDevice) -> None:
    c = Connection(SerialTransport(device.path))
    c.open()
    device.close()
    with pytest.raises(ReaderError) as e:
        for _ in range(50):
            c.request("add", {"a": 1, "b": 1}, timeout=0.2)
    assert e.value.code in ("disconnected", "timeout")
    c.close()
