"""The virtual reader: world + emulated board + firmware runtime + USB serial pty + control channel.

    vr = VirtualReader(World.create(), runtime="cpython")
    vr.start()                 # app running, provisioned through the pty, reader key pinned on this host
    vr.port                    # /dev/pts/N  (open it with the SDK / pyserial)
    vr.command("tap 0")        # -> "ok tapped 0 (...)" or "error CODE: message"
    host, port = vr.serve_control()   # the same commands over TCP on 127.0.0.1
    vr.close()

Control commands (one per line, one reply line `ok ...` / `error CODE: message`):

    tap PATIENT [--expired] [--consent-deny] [--remove-after N]
    tap --credential FILE.mdoc.cbor          (device key FILE.device-key.pem beside it)
    show-qr PATIENT [--expired] [--remove-after N]
    show-qr --credential FILE.vqr-issuer.cbor (device key beside it)
    show-qr --text TEXT                      (the rest of the line, verbatim)
    remove
    fault remove-after N | consent-deny | camera-off | camera-on | uart-noise [N] | clear
    revoke PATIENT
    set-time now | UNIX | +SECONDS | -SECONDS
    inject LINE                              (LINE written to the host as if the reader sent it: forged events)
    status
    reboot
    help
    quit

PATIENT is `0`, `1`, `2`, ... (file stem in DIR/issued), a NIR or a status index.
`fault remove-after N` and `fault consent-deny` apply to the next phone
presented (tap or show-qr) only; `camera-off` lasts until `camera-on` or
`fault clear`; `uart-noise N` damages the next N PN532 replies (default 3; the
firmware driver must resynchronise).
"""

from __future__ import annotations

import shlex
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

from vitale_host.connection import Connection
from vitale_host.errors import ReaderError
from vitale_host.transport import SerialTransport

from .hardware import VirtualHardware, board_parts
from .provision import provision, set_time, upload_list
from .runtime import Runtime, make_runtime
from .serial import HostLink, PtyPort
from .world import World, WorldError

__all__ = ["VirtualReader", "ControlError", "COMMANDS_HELP"]

COMMANDS_HELP = ("tap PATIENT [--expired] [--consent-deny] [--remove-after N] | tap --credential FILE | "
                 "show-qr PATIENT [--expired] [--remove-after N] | show-qr --credential FILE | show-qr --text TEXT | "
                 "remove | fault remove-after N|consent-deny|camera-off|camera-on|uart-noise [N]|clear | "
                 "revoke PATIENT | set-time now|UNIX|+S|-S | inject LINE | status | reboot | help | quit")


class ControlError(Exception):
    """A control command that cannot be done: `code` and message go into the `error CODE: message` reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _opts(words: list[str], flags: tuple[str, ...], valued: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    """Split words into positionals and --options (flags -> True, valued -> next word)."""
    pos: list[str] = []
    opts: dict[str, Any] = {}
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--"):
            if w in flags:
                opts[w[2:]] = True
            elif w in valued:
                if i + 1 >= len(words):
                    raise ControlError("bad_command", f"{w} needs a value")
                opts[w[2:]] = words[i + 1]
                i += 1
            else:
                raise ControlError("bad_command", f"unknown option {w}")
        else:
            pos.append(w)
        i += 1
    return pos, opts


def _count(v: str, what: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise ControlError("bad_command", f"{what} must be a whole number, not {v!r}") from None
    if n < 0:
        raise ControlError("bad_command", f"{what} must not be negative")
    return n


class VirtualReader:
    """One virtual reader (see the module docstring)."""

    def __init__(self, world: World, *, runtime: str = "cpython", board: str = "virtual-devkit",
                 log: Callable[[str], None] | None = None, seed: int | None = None,
                 runtime_options: dict[str, Any] | None = None) -> None:
        self.world = world
        self.runtime_name = runtime
        self.log = log
        self.hw = VirtualHardware(board, seed=seed, log=log, parts=board_parts(board))
        self.pty = PtyPort()
        # the MicroPython REPL shares the line and needs bytes as they come (Ctrl-C, raw REPL)
        self.link = HostLink(self.pty, whole_lines=(runtime != "micropython"))
        self.runtime: Runtime = make_runtime(runtime, log=log, **(runtime_options or {}))
        self.provisioned: dict[str, Any] = {}
        self.quit = threading.Event()
        self._lock = threading.Lock()
        self._armed: dict[str, Any] = {}
        self._server: socketserver.ThreadingTCPServer | None = None
        self.control_address: tuple[str, int] | None = None

    @property
    def port(self) -> str:
        """The pty path practice software opens."""
        return self.pty.path

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    # ---------------------------------------------------------------- life cycle

    def start(self, do_provision: bool = True, provision_timeout: float = 60.0) -> None:
        """Start the firmware and provision it through the pty (a host session that ends before we return)."""
        self.runtime.start(self.hw, self.link)
        if do_provision:
            self.provisioned = self._provision_over_pty(provision_timeout)

    def _provision_over_pty(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        conn = Connection(SerialTransport(self.pty.path))
        conn.open()
        try:
            def request(cmd: str, args: dict[str, Any] | None, t: float) -> Any:
                return conn.request(cmd, args, min(t, max(0.5, deadline - time.monotonic())))

            # the app may still be starting (the VM takes a while): retry hello until the deadline
            while True:
                try:
                    request("info", {}, 2.0)
                    break
                except ReaderError as e:
                    if e.code != "timeout" or time.monotonic() >= deadline:
                        raise
            return provision(request, self.world, log=self.log)
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the control server, the firmware and the pty."""
        self.quit.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        closer = getattr(self.runtime, "close", None)  # VMDevice.close also removes its temporary flash
        if callable(closer):
            closer()
        else:
            self.runtime.stop()
        self.link.close()

    # ---------------------------------------------------------------- control channel

    def serve_control(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve the control commands over TCP (one command per line, one reply line); returns the address."""
        reader = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(None)
                for raw in self.rfile:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if not line.strip():
                        continue
                    reply = reader.command(line)
                    try:
                        self.wfile.write(reply.encode() + b"\n")
                        self.wfile.flush()
                    except OSError:
                        return
                    if reader.quit.is_set():
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((host, port), Handler)
        threading.Thread(target=self._server.serve_forever, name="vitale-control", daemon=True).start()
        addr = self._server.server_address
        self.control_address = (str(addr[0]), int(addr[1]))
        return self.control_address

    def command(self, line: str) -> str:
        """Run one control command; the reply line (`ok ...` or `error CODE: message`)."""
        try:
            with self._lock:
                return "ok " + self._command(line)
        except ControlError as e:
            return f"error {e.code}: {e.message}"
        except WorldError as e:
            return f"error {e.code}: {e.message}"
        except ReaderError as e:
            return f"error {e.code}: {e.message}"
        except Exception as e:  # noqa: BLE001 - the control channel answers, whatever happened
            return f"error internal: {type(e).__name__}: {e}"

    def _command(self, line: str) -> str:
        line = line.strip()
        if line.startswith("show-qr --text "):
            text = line[len("show-qr --text "):]
            self.hw.show(self.world.screen(text=text), **self._take_armed(False))
            return "showing a fixed text (%d chars)" % len(text)
        if line.startswith("inject "):
            text = line[len("inject "):]
            if not self.link.inject_to_host(text.encode() + b"\n"):
                raise ControlError("no_host", "no host has the port open")
            return "injected %d bytes towards the host" % (len(text) + 1)
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise ControlError("bad_command", str(e)) from None
        if not words:
            raise ControlError("bad_command", "empty command")
        cmd, rest = words[0].lower(), words[1:]
        handler = self._handlers.get(cmd)
        if handler is None:
            raise ControlError("unknown_command", f"no command {cmd!r}; commands: {COMMANDS_HELP}")
        return handler(self, rest)

    def _take_armed(self, nfc: bool) -> dict[str, Any]:
        armed, self._armed = self._armed, {}
        out: dict[str, Any] = {"remove_after_frames": armed.get("remove_after")}
        if nfc:
            out["consent"] = not armed.get("consent_deny", False)
        return out

    def _tap(self, words: list[str]) -> str:
        pos, o = _opts(words, ("--expired", "--consent-deny"), ("--remove-after", "--credential"))
        armed = self._take_armed(True)
        remove_after = _count(o["remove-after"], "--remove-after") if "remove-after" in o \
            else armed["remove_after_frames"]
        consent = armed["consent"] and not o.get("consent-deny", False)
        if "credential" in o:
            if pos:
                raise ControlError("bad_command", "tap --credential FILE takes no patient")
            phone = self.world.phone("", credential=o["credential"], consent=consent)
            what = o["credential"]
        else:
            if len(pos) != 1:
                raise ControlError("bad_command", "usage: tap PATIENT [--expired] [--consent-deny] "
                                                  "[--remove-after N] | tap --credential FILE")
            phone = self.world.phone(pos[0], expired=bool(o.get("expired")), consent=consent)
            what = pos[0]
        self.hw.tap(phone, remove_after)
        notes = [n for n, on in (("expired", o.get("expired")), ("consent denied", not consent),
                                 (f"leaves after {remove_after} RF frames", remove_after is not None)) if on]
        return "tapped %s (uid %s%s)" % (what, phone.uid.hex(), "; " + ", ".join(notes) if notes else "")

    def _show_qr(self, words: list[str]) -> str:
        pos, o = _opts(words, ("--expired",), ("--remove-after", "--credential"))
        armed = self._take_armed(False)
        remove_after = _count(o["remove-after"], "--remove-after") if "remove-after" in o \
            else armed["remove_after_frames"]
        if "credential" in o:
            if pos:
                raise ControlError("bad_command", "show-qr --credential FILE takes no patient")
            screen = self.world.screen(credential=o["credential"])
            what = o["credential"]
        else:
            if len(pos) != 1:
                raise ControlError("bad_command", "usage: show-qr PATIENT [--expired] [--remove-after N] | "
                                                  "show-qr --credential FILE | show-qr --text TEXT")
            screen = self.world.screen(pos[0], expired=bool(o.get("expired")))
            what = pos[0]
        self.hw.show(screen, remove_after)
        return "showing the QR of %s%s" % (what, f" (leaves after {remove_after} frames)"
                                           if remove_after is not None else "")

    def _remove(self, words: list[str]) -> str:
        if words:
            raise ControlError("bad_command", "remove takes no arguments")
        self.hw.remove()
        return "removed"

    def _fault(self, words: list[str]) -> str:
        if not words:
            raise ControlError("bad_command", "usage: fault remove-after N|consent-deny|camera-off|camera-on|"
                                              "uart-noise [N]|clear")
        kind, args = words[0].lower(), words[1:]
        if kind == "remove-after" and len(args) == 1:
            self._armed["remove_after"] = _count(args[0], "N")
            return "the next phone leaves after %s frames" % args[0]
        if kind == "consent-deny" and not args:
            self._armed["consent_deny"] = True
            return "the next phone's user refuses consent"
        if kind == "camera-off" and not args:
            self.hw.set_camera(False)
            return "camera off"
        if kind == "camera-on" and not args:
            self.hw.set_camera(True)
            return "camera on"
        if kind == "uart-noise" and len(args) <= 1:
            n = _count(args[0], "N") if args else 3
            self.hw.uart_noise(n)
            return "the next %d PN532 replies are damaged" % n
        if kind == "clear" and not args:
            self._armed = {}
            self.hw.clear_faults()
            return "faults cleared"
        raise ControlError("bad_command", "unknown fault %r; faults: remove-after N, consent-deny, camera-off, "
                                          "camera-on, uart-noise [N], clear" % " ".join(words))

    def _revoke(self, words: list[str]) -> str:
        if len(words) != 1:
            raise ControlError("bad_command", "usage: revoke PATIENT")
        data = self.world.revoke(words[0])
        res = upload_list(self.link.request, "provision.status_list", data)
        return "revoked %s; status list seq %s provisioned" % (words[0], res.get("seq"))

    def _set_time(self, words: list[str]) -> str:
        if len(words) != 1:
            raise ControlError("bad_command", "usage: set-time now|UNIX|+SECONDS|-SECONDS")
        w = words[0]
        try:
            t = int(time.time()) if w == "now" else int(time.time()) + int(w) if w[:1] in "+-" else int(w)
        except ValueError:
            raise ControlError("bad_command", f"not a time: {w!r}") from None
        now = set_time(self.link.request, t)
        return "reader clock set to %d" % now

    def _status(self, words: list[str]) -> str:
        st = self.hw.status()
        st["runtime"] = self.runtime_name
        st["app"] = "running" if self.runtime.alive() else "stopped"
        for k in ("starts", "crashes"):
            v = getattr(self.runtime, k, None)
            if v is not None:
                st[k] = v
        st["host_open"] = self.pty.connected()
        return " ".join("%s=%s" % (k, str(v).replace(" ", "_")) for k, v in st.items())

    def _reboot(self, words: list[str]) -> str:
        self.hw.reboot()
        return "rebooting (the clock is unset until set-time or a host's time.set)"

    def _help(self, words: list[str]) -> str:
        return COMMANDS_HELP

    def _quit(self, words: list[str]) -> str:
        self.quit.set()
        return "bye"

    _handlers: dict[str, Callable[[VirtualReader, list[str]], str]] = {
        "tap": _tap, "show-qr": _show_qr, "remove": _remove, "fault": _fault, "revoke": _revoke,
        "set-time": _set_time, "status": _status, "reboot": _reboot, "help": _help, "quit": _quit,
    }


def control_client(address: tuple[str, int], timeout: float = 30.0) -> Callable[[str], str]:
    """A small client for the TCP control channel: returns send(line) -> reply line."""
    sock = socket.create_connection(address, timeout=timeout)
    f = sock.makefile("rwb")

    def send(line: str) -> str:
        f.write(line.encode() + b"\n")
        f.flush()
        reply = f.readline()
        if not reply:
            raise ConnectionError("the virtual reader closed the control channel")
        return reply.decode().rstrip("\n")

    return send
