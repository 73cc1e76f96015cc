"""Serial transport to a reader: find its port, open it, move lines.

Ports are found by the USB vendor/product IDs of the bridges ESP32 boards use
(or of the ESP32-S3's native USB), or given by path — a pty path for the
virtual reader, or any pyserial URL (``loop://``, ``socket://...``).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import serial
from serial.tools import list_ports

from .errors import ReaderError

# (vendor id, product id) -> what it is
KNOWN_USB_IDS: dict[tuple[int, int], str] = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x USB-UART",
    (0x1A86, 0x7523): "WCH CH340 USB-UART",
    (0x1A86, 0x55D4): "WCH CH9102 USB-UART",
    (0x1A86, 0x55D3): "WCH CH343 USB-UART",
    (0x0403, 0x6001): "FTDI FT232R USB-UART",
    (0x0403, 0x6015): "FTDI FT231X USB-UART",
    (0x303A, 0x1001): "Espressif USB Serial/JTAG (ESP32-S3/C3 native USB)",
    (0x303A, 0x4001): "Espressif TinyUSB CDC (MicroPython native USB)",
}

DEFAULT_BAUD = 115200
# What a port that went away raises: pyserial's own error, an OS error, or a
# raw termios error from a pty whose other side closed.
try:
    from termios import error as _TermiosError
except ImportError:  # Windows: no termios

    class _TermiosError(Exception):  # type: ignore[no-redef]
        pass


_PORT_GONE = (serial.SerialException, OSError, _TermiosError)


@dataclass(frozen=True)
class PortInfo:
    """A serial port that may have a reader on it."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None


def find_ports(include_unknown: bool = False) -> list[PortInfo]:
    """Serial ports whose USB IDs match a known ESP32 bridge or native USB."""
    out = []
    for p in list_ports.comports():
        known = (p.vid, p.pid) in KNOWN_USB_IDS if p.vid is not None and p.pid is not None else False
        if known or include_unknown:
            desc = KNOWN_USB_IDS.get((p.vid or 0, p.pid or 0), p.description or "")
            out.append(PortInfo(p.device, desc, p.vid, p.pid, p.serial_number))
    return out


def auto_port() -> str:
    """``$VITALE_PORT`` when set, else the only reader port plugged in.

    Raises ReaderError (``no_reader`` / ``several_readers``) when there are none or several.
    """
    env = os.environ.get("VITALE_PORT")
    if env:
        return env
    ports = find_ports()
    if not ports:
        raise ReaderError("no_reader", "no reader found on USB; give --port")
    if len(ports) > 1:
        names = ", ".join(p.device for p in ports)
        raise ReaderError("several_readers", f"several readers found ({names}); give --port")
    return ports[0].device


def open_exclusive(port: str, baudrate: int, timeout: float, **options: Any) -> serial.SerialBase:
    """Open a serial port or pyserial URL, exclusively for a device path; raises ReaderError(port_unavailable)."""
    kwargs: dict[str, Any] = {"baudrate": baudrate, "timeout": timeout, **options}
    if "://" not in port:
        # a second program opening the same reader fails here instead of stealing half of its replies
        kwargs["exclusive"] = True
    try:
        return serial.serial_for_url(port, **kwargs)
    except (serial.SerialException, OSError, ValueError) as e:
        raise ReaderError("port_unavailable", f"cannot open {port}: {e}") from e


class SerialTransport:
    """Line-oriented access to one serial port (thread-safe writes)."""

    def __init__(self, port: str, baudrate: int = DEFAULT_BAUD, max_line: int = 1 << 20) -> None:
        self.port = port
        self.baudrate = baudrate
        self.max_line = max_line
        self._ser: serial.SerialBase | None = None
        self._wlock = threading.Lock()
        self._buf = bytearray()

    def open(self) -> None:
        """Open the port; raises ReaderError(port_unavailable)."""
        self._ser = open_exclusive(self.port, self.baudrate, timeout=0.05)
        self._buf.clear()

    @property
    def is_open(self) -> bool:
        return self._ser is not None and bool(self._ser.is_open)

    def close(self) -> None:
        """Close the port (idempotent)."""
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except _PORT_GONE:
                pass

    def write_line(self, data: bytes) -> None:
        """Send one line (LF appended when missing)."""
        if not data.endswith(b"\n"):
            data += b"\n"
        with self._wlock:
            ser = self._ser
            if ser is None:
                raise ReaderError("disconnected", "the port is closed")
            try:
                ser.write(data)
                ser.flush()
            except _PORT_GONE as e:
                raise ReaderError("disconnected", f"write failed: {e}") from e

    def write_raw(self, data: bytes) -> None:
        """Send bytes as they are (e.g. Ctrl-C/Ctrl-D to a MicroPython REPL)."""
        with self._wlock:
            if self._ser is None:
                raise ReaderError("disconnected", "the port is closed")
            try:
                self._ser.write(data)
            except _PORT_GONE as e:
                raise ReaderError("disconnected", f"write failed: {e}") from e

    def read_line(self, timeout: float) -> bytes | None:
        """The next complete line (without LF), or None when none arrived in time.

        Raises ReaderError(disconnected) when the port went away.
        """
        deadline = time.monotonic() + timeout
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line = bytes(self._buf[:i]).rstrip(b"\r")
                del self._buf[: i + 1]
                return line
            if len(self._buf) > self.max_line:
                self._buf.clear()  # a runaway line: drop it rather than grow forever
            ser = self._ser
            if ser is None:
                raise ReaderError("disconnected", "the port is closed")
            try:
                chunk = ser.read(max(1, ser.in_waiting or 1))
            except (*_PORT_GONE, TypeError) as e:
                raise ReaderError("disconnected", f"read failed: {e}") from e
            if chunk:
                self._buf.extend(chunk)
            elif time.monotonic() >= deadline:
                return None
