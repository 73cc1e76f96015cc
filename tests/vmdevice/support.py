"""Helpers for the VM device tests: a host terminal on the device's pty through real pyserial."""

from __future__ import annotations

import time

import serial

CTRL_A, CTRL_B, CTRL_C, CTRL_D = b"\x01", b"\x02", b"\x03", b"\x04"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"


class Term:
    """The host's end of the device's serial line."""

    _syncs = 0  # tokens used by friendly()

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.05)
        self.seen = b""

    def send(self, data: bytes) -> None:
        """Write bytes to the device."""
        self.port.write(data)
        self.port.flush()

    def until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        """Read until `marker` arrives; everything up to and including it. AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        buf = self.seen
        while marker not in buf:
            if time.monotonic() > deadline:
                self.seen = b""
                raise AssertionError(f"no {marker!r} from the device in {timeout} s; got {buf[-400:]!r}")
            buf += self.port.read(max(1, self.port.in_waiting))
        i = buf.index(marker) + len(marker)
        self.seen = buf[i:]
        return buf[:i]

    def friendly(self, timeout: float = 20.0) -> None:
        """Get to an empty friendly-REPL prompt (whatever state the device is in, however slow the machine)."""
        self.send(b"\r" + CTRL_C + CTRL_B)
        Term._syncs += 1
        token = b"sync-%d" % Term._syncs
        # a quiet spell proves nothing on a loaded machine: wait for the answer to an expression of our own
        self.send(b"'" + token + b"'\r")
        self.until(b"\r\n'" + token + b"'\r\n>>> ", timeout)
        self.seen = b""

    def raw_exec(self, code: bytes, timeout: float = 10.0) -> tuple[bytes, bytes]:
        """Run code in the raw REPL (entered first if needed); (stdout, stderr) as the device sent them."""
        self.send(CTRL_C + CTRL_A)
        self.until(RAW_BANNER)
        self.send(code + CTRL_D)
        self.until(b"OK", timeout)
        out = self.until(CTRL_D, timeout)[:-1]
        err = self.until(CTRL_D, timeout)[:-1]
        self.until(b">", timeout)
        return out, err

    def close(self) -> None:
        """Close the port."""
        self.port.close()
