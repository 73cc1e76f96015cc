"""The VM device: the MicroPython WebAssembly VM behaving like a board on a serial line.

    dev = VMDevice(serial, hardware=hw, fs_dir="flash/")   # or VMDevice(log=print)
    dev.start()              # or dev.start(hw, serial): the virtual reader's Runtime call
    ...                      # the host talks to the pty: REPL, raw REPL, mpremote, the app
    dev.stop()

`serial` is the device side of the USB serial line: `read() -> bytes` (b"" when
nothing, never blocks) and `write(data)` (returns the count taken, or None).
`hardware` is a `vitale_tools.virtual.hardware.VirtualHardware` (or None: a bare
board with only its serial line); the firmware in the VM reaches it through
`vitale.hal.vm`, whose calls arrive here as JSON lines (see device.mjs).

The flash is a host folder (`fs_dir`, or a temporary one for the device's
lifetime): every file the VM closes after writing, and every rename, unlink,
mkdir and rmdir, is written through at once, so a device stopped at any moment
("power cut") boots next time from what had been committed. An empty flash gets
the factory image: the firmware package source at /lib/vitale, /main.py,
/boot.py and /board.json, as `vitale deploy` leaves them. `files` (VM path ->
bytes, str or host path) are written over the flash at every start().

A hard reset (`board.reboot()` in the firmware, `hardware.reboot()` from the
emulator, or `reset()`) restarts the VM over the same flash; a soft reboot
(Ctrl-D at the REPL) is done inside the VM process.

By hand: `python -m vitale_tools.mpvm.device [--fs-dir DIR] [--app]` prints
`port: /dev/pts/N`; then e.g. `mpremote connect /dev/pts/N repl`.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tty
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from . import DEFAULT_HEAP, VMError, firmware_dir, repo_root, vm_module_path

__all__ = ["VMDevice", "VMDeviceError", "SerialEnd", "PtyPair", "factory_image", "VM_APP_MAIN"]

_DEVICE_JS = Path(__file__).with_name("device.mjs")
EXIT_RESET = 3
EXIT_HOST_GONE = 4
EXIT_INTERNAL = 5
MAX_PENDING_OUT = 1 << 20  # device output kept for a slow host before the oldest is dropped
MAX_PENDING_IN = 1 << 20  # host input kept for a busy VM before the oldest is dropped


# A main.py that serves the reader app on the VM device's serial line with the
# VM Board (vitale.hal.vm), for as long as firmware/main.py's app.main() does
# not pick that Board by itself. (asyncio.run is this device's: device.mjs.)
VM_APP_MAIN = """\
import asyncio
from vitale.hal import vm
from vitale.app import App
board = vm.build_board()
print("vitale: reader app on this serial line (JSON lines; `help`); Ctrl-C gives the REPL")
while True:
    try:
        asyncio.run(App(board).run())
    except Exception as e:
        print("vitale: app restarted after", repr(e))
"""


class VMDeviceError(VMError):
    """The VM device could not start, or its VM ended with an error."""


class SerialEnd(Protocol):
    """The device side of a serial line (the virtual reader's HostLink / PtyPort)."""

    def read(self) -> bytes: ...

    def write(self, data: bytes) -> Any: ...


class _Hardware(Protocol):
    board_name: str

    def uart_write(self, data: bytes) -> int: ...

    def uart_read(self, n: int) -> bytes: ...

    def uart_any(self) -> int: ...

    def camera_capture(self) -> tuple[bytes, int, int] | None: ...

    def led(self, r: int, g: int, b: int) -> None: ...

    def tone(self, freq: int, ms: int) -> None: ...

    def display(self, lines: list[str]) -> None: ...

    def reboot(self) -> None: ...


class PtyPair:
    """A raw pseudo-terminal: `path` for the host (pyserial, mpremote); read()/write() for the device.

    The device side is non-blocking; the slave stays open here so the line
    exists while no host has it open (output written meanwhile waits in the pty).
    """

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)
        os.set_blocking(self.master, False)

    def fileno(self) -> int:
        """The device side's descriptor (VMDevice waits on it for host input)."""
        return self.master

    def read(self) -> bytes:
        """What the host sent (b"" when nothing); never blocks."""
        try:
            return os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return b""

    def write(self, data: bytes) -> int:
        """Write what the pty takes now; returns the count (0 when full)."""
        try:
            return os.write(self.master, data)
        except (BlockingIOError, OSError):
            return 0

    def close(self) -> None:
        """Close both ends."""
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def factory_image(board_name: str = "vm") -> dict[str, bytes]:
    """The files of a freshly deployed VM device: firmware source, main.py, boot.py, board.json."""
    out: dict[str, bytes] = {}
    fw = firmware_dir()
    for p in sorted(fw.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        out["/lib/vitale/" + p.relative_to(fw).as_posix()] = p.read_bytes()
    root = repo_root() / "firmware"
    for name in ("main.py", "boot.py"):
        if (root / name).is_file():
            out["/" + name] = (root / name).read_bytes()
    out["/board.json"] = json.dumps({"name": board_name, "hal": "vm"}).encode() + b"\n"
    return out


def _host_path(flash: Path, vm_path: str) -> Path:
    parts = [p for p in vm_path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise VMDeviceError(f"bad device path {vm_path!r}")
    return flash.joinpath(*parts)


class _Session:
    """One node process (one power-on of the VM) with its pipes and threads."""

    def __init__(self, dev: VMDevice) -> None:
        self.dev = dev
        self.stop_evt = threading.Event()
        self.booted = threading.Event()
        self.threads: list[threading.Thread] = []
        self.pending_in = bytearray()
        self.pending_out = bytearray()
        in_r, self.in_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.req_r, req_w = os.pipe()
        rep_r, self.rep_w = os.pipe()
        os.set_blocking(in_r, False)  # node polls the serial input
        os.set_blocking(rep_r, False)  # node polls replies against a deadline
        os.set_blocking(self.in_w, False)  # never block our pump on a busy VM
        child = (in_r, out_w, req_w, rep_r)
        node = shutil.which("node")
        if node is None:
            raise VMDeviceError("node is not installed")
        self.proc = subprocess.Popen(
            [node, str(_DEVICE_JS), str(dev._job_path), *(str(fd) for fd in child)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=child,
            close_fds=True,
        )
        for fd in child:
            os.close(fd)
        self.stderr_lines: list[str] = []
        for target in (self._pump, self._serve, self._stderr):
            t = threading.Thread(target=target, name=f"vmdevice-{target.__name__}", daemon=True)
            t.start()
            self.threads.append(t)

    # -- threads ---------------------------------------------------------------

    def _pump(self) -> None:
        """Serial bytes both ways between the host's line and the VM."""
        serial = self.dev.serial
        out_open = True
        waits: list[int] = [self.out_r]
        fileno = getattr(serial, "fileno", None)
        if callable(fileno):
            waits.append(int(fileno()))  # wake on host input too, not only on the poll period
        while True:
            stopping = self.stop_evt.is_set()
            r: list[int] = []
            if out_open:
                r, _, _ = select.select(waits, [], [], 0 if stopping else 0.004)
                if self.out_r in r:
                    try:
                        data = os.read(self.out_r, 65536)
                    except OSError:
                        data = b""
                    if data:
                        self.pending_out += data
                    else:
                        out_open = False
            if serial is not None:
                if self.pending_out:
                    self._write_serial(serial)
                if not stopping:
                    try:
                        data = serial.read()
                    except Exception as e:  # noqa: BLE001 - a broken line must not kill the device
                        self.dev._logline(f"serial read failed: {e!r}")
                        data = b""
                    if data:
                        self.pending_in += data
                        if len(self.pending_in) > MAX_PENDING_IN:
                            del self.pending_in[: len(self.pending_in) - MAX_PENDING_IN]
                    elif r and self.out_r not in r:
                        time.sleep(0.004)  # the line's descriptor is readable but gave nothing (hang-up)
            elif self.pending_out:
                self.pending_out.clear()
            if self.pending_in and not stopping:
                try:
                    n = os.write(self.in_w, bytes(self.pending_in[:65536]))
                    del self.pending_in[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    self.pending_in.clear()
            if stopping and (not out_open or self.out_r not in r):
                if serial is not None and self.pending_out:
                    self._write_serial(serial)
                return

    def _write_serial(self, serial: SerialEnd) -> None:
        connected = getattr(serial, "connected", None)
        if callable(connected) and not connected():
            self.pending_out.clear()  # no host has the port: a USB CDC device drops its output
            return
        try:
            n = serial.write(bytes(self.pending_out[:65536]))
        except Exception as e:  # noqa: BLE001
            self.dev._logline(f"serial write failed: {e!r}")
            n = len(self.pending_out)
        k = len(self.pending_out) if n is None else int(n)
        del self.pending_out[:k]
        if len(self.pending_out) > MAX_PENDING_OUT:
            del self.pending_out[: len(self.pending_out) - MAX_PENDING_OUT]

    def _serve(self) -> None:
        """Answer the firmware's hardware calls (JSON lines)."""
        buf = bytearray()
        while not self.stop_evt.is_set():
            r, _, _ = select.select([self.req_r], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(self.req_r, 65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                i = buf.find(b"\n")
                if i < 0:
                    break
                line = bytes(buf[:i])
                del buf[: i + 1]
                reply = self.dev._dispatch(line)
                try:
                    os.write(self.rep_w, reply)  # blocking: node reads it at once
                except OSError:
                    return

    def _stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("vmdevice: boot"):
                self.dev.boots += 1
                self.booted.set()
                continue
            self.stderr_lines.append(line)
            del self.stderr_lines[:-200]
            self.dev._logline(line)

    # -- end ---------------------------------------------------------------------

    def close(self, timeout: float = 3.0) -> None:
        """Kill the node process (power off), pass its last output on, free the pipes."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self.stop_evt.set()
        for t in self.threads:
            t.join(timeout)
        for fd in (self.in_w, self.out_r, self.req_r, self.rep_w):
            try:
                os.close(fd)
            except OSError:
                pass


class VMDevice:
    """A board running MicroPython in the WebAssembly VM, on a serial line (module docstring)."""

    name = "micropython"

    def __init__(
        self,
        serial: SerialEnd | None = None,
        hardware: _Hardware | None = None,
        *,
        fs_dir: str | os.PathLike[str] | None = None,
        files: Mapping[str, bytes | str | os.PathLike[str]] | None = None,
        factory: bool = True,
        log: Callable[[str], None] | None = None,
        heap: int = DEFAULT_HEAP,
        rpc_timeout: float = 30.0,
    ) -> None:
        self.serial = serial
        self.hardware = hardware
        self.files = dict(files or {})
        self.factory = factory
        self.log = log
        self.heap = heap
        self.rpc_timeout = rpc_timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if fs_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="vmdevice-flash-")
            fs_dir = self._tmp.name
        self.flash = Path(fs_dir)
        self._job_dir: tempfile.TemporaryDirectory[str] | None = None
        self._job_path = Path()
        self._session: _Session | None = None
        self._lock = threading.RLock()
        self._reset_req = threading.Event()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.boots = 0  # VM boots seen (power-ons, hard resets and soft reboots)
        self.resets = 0  # hard resets done
        self.error: str | None = None  # why the VM ended, when it ended by itself
        self.calls = 0  # hardware calls served

    # -- public ----------------------------------------------------------------------

    def start(self, board_hw: _Hardware | None = None, serial: SerialEnd | None = None,
              timeout: float = 30.0) -> None:
        """Power the device on; returns once the VM has booted (boot.py/main.py are starting).

        `board_hw` and `serial` override the constructor's (the virtual reader's
        Runtime interface calls `start(board_hw, serial)`).
        """
        if board_hw is not None:
            self.hardware = board_hw
        if serial is not None:
            self.serial = serial
        if self._supervisor is not None:
            raise VMDeviceError("already started")
        self._prepare_flash()
        self._job_dir = tempfile.TemporaryDirectory(prefix="vmdevice-")
        self._job_path = Path(self._job_dir.name) / "job.json"
        board = getattr(self.hardware, "board_name", None) or "vm"
        self._job_path.write_text(json.dumps({
            "module": str(vm_module_path()),
            "heap": self.heap,
            "pystack": 16384,
            "flash": str(self.flash.resolve()),
            "rpc_timeout_ms": int(self.rpc_timeout * 1000),
            "board": board,
        }))
        add = getattr(self.hardware, "add_reboot_listener", None)
        if callable(add):
            add(self._on_hw_reboot)
        self._stopping.clear()
        with self._lock:
            self._session = _Session(self)
        self._supervisor = threading.Thread(target=self._supervise, name="vmdevice-supervisor", daemon=True)
        self._supervisor.start()
        self.wait_booted(timeout)

    def wait_booted(self, timeout: float = 30.0) -> None:
        """Wait until the current VM process has booted; VMDeviceError when it died or took too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self._session
            if s is not None and s.booted.is_set():
                return
            if self.error is not None:
                raise VMDeviceError(self.error)
            time.sleep(0.01)
        raise VMDeviceError(f"the VM did not boot in {timeout} s")

    def stop(self, timeout: float = 3.0) -> None:
        """Power off (bounded): kill the VM, stop the threads. The flash stays in fs_dir."""
        self._stopping.set()
        sup = self._supervisor
        if sup is not None:
            sup.join(timeout + 2)
        self._supervisor = None
        with self._lock:
            s, self._session = self._session, None
        if s is not None:
            s.close(timeout)
        remove = getattr(self.hardware, "remove_reboot_listener", None)
        if callable(remove):
            remove(self._on_hw_reboot)
        if self._job_dir is not None:
            self._job_dir.cleanup()
            self._job_dir = None

    def close(self) -> None:
        """stop(), then delete the temporary flash (when no fs_dir was given)."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def alive(self) -> bool:
        """True while the device is powered and its VM runs (or is being reset)."""
        return self._supervisor is not None and self._supervisor.is_alive() and self.error is None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the device stops by itself (VM error) or is stopped; True if it did."""
        sup = self._supervisor
        if sup is None:
            return True
        sup.join(timeout)
        return not sup.is_alive()

    def reset(self, timeout: float = 30.0) -> None:
        """Hard reset (the reset button): restart the VM over the same flash, wait for its boot."""
        before = self.resets
        self._reset_req.set()
        deadline = time.monotonic() + timeout
        while self.resets == before and time.monotonic() < deadline and self.alive():
            time.sleep(0.01)
        self.wait_booted(max(0.1, deadline - time.monotonic()))

    def stderr_tail(self) -> list[str]:
        """The VM process's last diagnostic lines (not the serial output)."""
        s = self._session
        return list(s.stderr_lines) if s is not None else []

    # -- internals -----------------------------------------------------------------------

    def _logline(self, line: str) -> None:
        if self.log is not None:
            self.log(line)

    def _on_hw_reboot(self) -> None:
        self._reset_req.set()

    def _prepare_flash(self) -> None:
        self.flash.mkdir(parents=True, exist_ok=True)
        files: dict[str, bytes] = {}
        if self.factory and not any(self.flash.iterdir()):
            board = getattr(self.hardware, "board_name", None) or "vm"
            files.update(factory_image(board))
        for vm_path, content in self.files.items():
            if isinstance(content, bytes):
                files[vm_path] = content
            elif isinstance(content, str):
                files[vm_path] = content.encode()
            else:
                files[vm_path] = Path(content).read_bytes()
        for vm_path, data in files.items():
            hp = _host_path(self.flash, vm_path)
            hp.parent.mkdir(parents=True, exist_ok=True)
            tmp = hp.with_name(hp.name + ".vmdev-tmp")
            tmp.write_bytes(data)
            os.replace(tmp, hp)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            s = self._session
            if s is None:
                return
            code = s.proc.poll()
            if code is None and not self._reset_req.is_set():
                self._stopping.wait(0.02)
                continue
            if self._stopping.is_set():
                return
            if code is None or code == EXIT_RESET:
                self._reset_req.clear()
                s.close()
                with self._lock:
                    if self._stopping.is_set():
                        self._session = None
                        return
                    try:
                        self._session = _Session(self)
                    except Exception as e:  # noqa: BLE001
                        self.error = f"the VM could not restart: {e}"
                        self._logline(self.error)
                        return
                    self.resets += 1
                continue
            tail = "; ".join(s.stderr_lines[-5:])
            self.error = f"the VM ended with status {code}" + (f": {tail}" if tail else "")
            self._logline(self.error)
            s.close()
            return

    def _dispatch(self, line: bytes) -> bytes:
        rid: Any = None
        try:
            msg = json.loads(line)
            rid = msg.get("id")
            result = self._call(str(msg.get("m")), list(msg.get("a") or []))
            out: dict[str, Any] = {"id": rid, "r": result}
        except Exception as e:  # noqa: BLE001 - every failure goes back to the firmware as an error
            out = {"id": rid, "e": f"{type(e).__name__}: {e}"}
        self.calls += 1
        return json.dumps(out, separators=(",", ":")).encode() + b"\n"

    def _call(self, method: str, args: list[Any]) -> Any:
        hw = self.hardware
        if method == "info":
            parts = ["nfc_uart", "camera", "led", "buzzer", "display"] if hw is not None else []
            return {"board": getattr(hw, "board_name", None) or "vm", "parts": parts}
        if method == "reboot":
            if hw is not None:
                hw.reboot()  # the listener asks for the hard reset
            return None
        if hw is None:
            raise VMDeviceError(f"this device has no hardware for {method}")
        if method == "uart_write":
            return hw.uart_write(bytes.fromhex(str(args[0])))
        if method == "uart_read":
            return hw.uart_read(int(args[0])).hex()
        if method == "uart_any":
            return hw.uart_any()
        if method == "camera_capture":
            frame = hw.camera_capture()
            if frame is None:
                return None
            data, w, h = frame
            return "%d %d %s" % (w, h, bytes(data).hex())
        if method == "led":
            hw.led(int(args[0]), int(args[1]), int(args[2]))
            return None
        if method == "tone":
            hw.tone(int(args[0]), int(args[1]))
            return None
        if method == "display":
            hw.display([str(x) for x in args[0]])
            return None
        raise VMDeviceError(f"unknown hardware call {method!r}")


def main(argv: list[str] | None = None) -> int:
    """`python -m vitale_tools.mpvm.device [--fs-dir DIR] [--app]`: a VM device on a pty until Ctrl-C."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m vitale_tools.mpvm.device", description=main.__doc__)
    ap.add_argument("--fs-dir", help="host folder kept as the device's flash (default: a temporary one)")
    ap.add_argument("--app", action="store_true", help="main.py serves the reader app on the VM board")
    args = ap.parse_args(argv)
    pty = PtyPair()
    dev = VMDevice(pty, fs_dir=args.fs_dir, files={"/main.py": VM_APP_MAIN} if args.app else None,
                   log=lambda line: print("vmdevice:", line, flush=True))
    dev.start()
    print(f"port: {pty.path}", flush=True)
    try:
        while dev.alive():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        dev.close()
        pty.close()
    return 1 if dev.error else 0


if __name__ == "__main__":
    raise SystemExit(main())
