"""`vitale console`: an interactive serial console to the reader.

Type the reader's commands as at a serial terminal (`help`, `info`, `read qr`, `time.set
1750000000`): they are sent as text and the reader answers in readable text. A line starting
with `{` is sent as a JSON request as it is; `.json CMD {ARGS}` builds one with an id. Replies
and events are pretty-printed; result events are checked against the reader key pinned on
this host and marked `signature ok` or `SIGNATURE REFUSED`. `.help` lists the console's own
commands. History is kept in `$VITALE_HOME/console-history` (readline). Also works with stdin
not a terminal (a script of commands), exiting at its end once every request was answered, a
read it started has ended, and the reader is quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

from vitale_host.errors import ForgedResult, ReaderError
from vitale_host.models import RESULT_EVENTS
from vitale_host.pins import PinStore, home
from vitale_host.signed import verify_signed_event
from vitale_host.transport import SerialTransport, auto_port

from .common import EXIT_ERROR, EXIT_OK

CONSOLE_HELP = """console commands:
  .help                 this help (the reader's own: help, help CMD)
  .json CMD [ARGS]      send a JSON request, ARGS a JSON object: .json read.start {"channel": "qr"}
  .hello                start a new signed session (done at start unless --no-hello)
  .quit                 leave (also Ctrl-D)
anything else is sent to the reader as typed; a line starting with { is sent as JSON."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vitale console`."""
    parser.add_argument("--no-hello", action="store_true",
                        help="do not start a signed session at start (reads need one)")
    parser.add_argument("--quiet-after", type=float, default=1.0, metavar="S",
                        help="with stdin not a terminal: exit once the reader was quiet this long (default 1)")
    parser.add_argument("--read-wait", type=float, default=60.0, metavar="S",
                        help="with stdin not a terminal: wait at most this long for a read in progress to end "
                             "(default 60)")


class Console:
    """The console's state: the port, the session, what was printed."""

    def __init__(self, transport: SerialTransport, out: Any = None) -> None:
        self.t = transport
        self.out = out or sys.stdout
        self.next_id = 1
        self.nonce = b""
        self.counter = 0
        self.last_rx = time.monotonic()
        self.pending = 0
        self.reading = False  # a read is in progress (the last state event was not `idle`)
        self.stop = threading.Event()
        self.error: ReaderError | None = None
        self.lock = threading.Lock()
        self.hello_kid: str | None = None

    def say(self, text: str) -> None:
        """Print a line (thread-safe)."""
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def send_json(self, cmd: str, args: dict[str, Any] | None = None) -> int:
        """Send a JSON request; returns its id."""
        rid = self.next_id
        self.next_id += 1
        self.pending += 1
        self.t.write_line(json.dumps({"id": rid, "cmd": cmd, "args": args or {}}).encode())
        return rid

    def hello(self) -> None:
        """Start a signed session."""
        self.nonce = os.urandom(32)
        self.counter = 0
        self.send_json("hello", {"nonce": self.nonce.hex()})

    def _event(self, msg: dict[str, Any]) -> str:
        name = msg.get("event")
        head = f"event {name}"
        if name in RESULT_EVENTS:
            kid = self.hello_kid
            key = PinStore().lookup(kid) if kid else None
            if key is None:
                head += "  (reader key not pinned on this host: signature not checked)"
            else:
                try:
                    _, self.counter = verify_signed_event(msg, key, self.nonce, self.counter)
                    head += "  [signature ok]"
                except ForgedResult as e:
                    head += f"  [SIGNATURE REFUSED: {e.message}]"
            body = msg.get("result", {})
        else:
            body = {k: v for k, v in msg.items() if k != "event"}
        return head + "\n" + json.dumps(body, indent=2, ensure_ascii=False)

    def show(self, line: bytes) -> None:
        """Print one line from the reader, pretty when it is JSON."""
        text = line.decode("utf-8", "replace")
        msg: Any = None
        if text.startswith("{"):
            try:
                msg = json.loads(text)
            except ValueError:
                msg = None
        if not isinstance(msg, dict):
            self.say(text)
            return
        if "event" in msg:
            if msg.get("event") == "state":
                self.reading = msg.get("state") != "idle"
            self.say(self._event(msg))
            return
        self.pending = max(0, self.pending - 1)
        if msg.get("ok") is True:
            result = msg.get("result")
            if isinstance(result, dict) and "reader_kid" in result and "protocol" in result and "firmware" in result:
                self.hello_kid = str(result["reader_kid"])
            self.say(f"reply #{msg.get('id')} ok\n" + json.dumps(result, indent=2, ensure_ascii=False))
        else:
            err_v = msg.get("error")
            err: dict[str, Any] = err_v if isinstance(err_v, dict) else {}
            self.say(f"reply #{msg.get('id')} error {err.get('code')}: {err.get('message')}")

    def reader_loop(self) -> None:
        """Print what the reader sends until stopped or the port goes away."""
        while not self.stop.is_set():
            try:
                line = self.t.read_line(0.1)
            except ReaderError as e:
                self.error = e
                self.say(f"error {e.code}: {e.message}")
                self.stop.set()
                return
            if line is not None:
                self.last_rx = time.monotonic()
                self.show(line)

    def handle(self, line: str) -> bool:
        """Act on one typed line; False to leave."""
        line = line.strip()
        if not line:
            return True
        if line in (".quit", ".exit", "quit", "exit"):
            return False
        if line == ".help":
            self.say(CONSOLE_HELP)
        elif line == ".hello":
            self.hello()
        elif line.startswith(".json"):
            parts = line.split(None, 2)
            if len(parts) < 2:
                self.say("usage: .json CMD [ARGS as a JSON object]")
                return True
            try:
                args = json.loads(parts[2]) if len(parts) > 2 else {}
            except ValueError as e:
                self.say(f"ARGS is not JSON: {e}")
                return True
            if not isinstance(args, dict):
                self.say("ARGS must be a JSON object")
                return True
            self.send_json(parts[1], args)
        elif line.startswith("."):
            self.say(f"unknown console command {line.split()[0]} (.help)")
        else:
            if line.startswith("{"):
                self.pending += 1
            self.t.write_line(line.encode())
        return True


def _readline_setup() -> None:
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return
    hist = home() / "console-history"
    try:
        hist.parent.mkdir(parents=True, exist_ok=True)
        readline.read_history_file(hist)
    except OSError:
        pass
    readline.set_history_length(1000)
    import atexit

    def save() -> None:
        try:
            readline.write_history_file(hist)
        except OSError:
            pass
    atexit.register(save)


def run(args: argparse.Namespace) -> int:
    """Entry point of `vitale console`."""
    try:
        port = args.port or auto_port()
        t = SerialTransport(port)
        t.open()
    except ReaderError as e:
        print(f"error {e.code}: {e.message}", file=sys.stderr)
        return EXIT_ERROR
    c = Console(t)
    interactive = sys.stdin.isatty()
    reader = threading.Thread(target=c.reader_loop, daemon=True)
    reader.start()
    try:
        if interactive:
            _readline_setup()
            c.say(f"connected to {port}; .help for the console's commands, help for the reader's; Ctrl-D leaves")
        if not args.no_hello:
            c.hello()
        while not c.stop.is_set():
            try:
                line = input("vitale> ") if interactive else sys.stdin.readline()
            except EOFError:
                break
            except KeyboardInterrupt:
                c.say("")
                continue
            if not interactive and not line:
                break
            try:
                if not c.handle(line):
                    break
            except ReaderError as e:
                c.say(f"error {e.code}: {e.message}")
                break
        if not interactive:
            # a script: let the reader answer what was sent and finish a read it started (bounded wait)
            deadline = time.monotonic() + max(10.0, args.read_wait)
            while not c.stop.is_set() and time.monotonic() < deadline:
                if c.pending == 0 and not c.reading and time.monotonic() - c.last_rx > args.quiet_after:
                    break
                time.sleep(0.05)
    finally:
        c.stop.set()
        reader.join(timeout=2)
        t.close()
    return EXIT_ERROR if c.error is not None else EXIT_OK
