"""Shared by the `vitale` reader commands: opening the reader, reporting errors, a spinner."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from typing import Any, TextIO

from vitale_host.client import Reader
from vitale_host.errors import ReaderError

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2


def open_reader(args: argparse.Namespace, **kwargs: Any) -> Reader:
    """A Reader on `--port` (auto-detected when absent); a board left at the REPL is soft-reset into the app."""
    kwargs.setdefault("start_app", True)
    return Reader(getattr(args, "port", None), **kwargs)


def error_dict(code: str, message: str) -> dict[str, Any]:
    """The JSON object of an error (exit 2): {"status": "error", "error": {code, message}}."""
    return {"status": "error", "error": {"code": code, "message": message}}


def report_error(err: ReaderError, as_json: bool) -> int:
    """Print an SDK error (JSON on stdout with --json, text on stderr) and return exit 2."""
    if as_json:
        print(json.dumps(error_dict(err.code, err.message)))
    print(f"error {err.code}: {err.message}", file=sys.stderr)
    return EXIT_ERROR


class Spinner:
    """A one-line spinner on a terminal (stderr); silent when it is not a terminal."""

    FRAMES = "|/-\\"

    def __init__(self, text: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.text = text
        self.enabled = self.stream.isatty()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def _run(self) -> None:
        for frame in itertools.cycle(self.FRAMES):
            if self._stop.wait(0.1):
                return
            secs = time.monotonic() - self._t0
            self.stream.write(f"\r{frame} {self.text} ({secs:.0f} s) \x1b[K")
            self.stream.flush()

    def __enter__(self) -> Spinner:
        if self.enabled:
            self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._t.join()
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def progress_bar(label: str, stream: TextIO | None = None) -> Any:
    """A `progress(sent, total)` callback drawing a bar on stderr (one line per step off a terminal)."""
    out = stream or sys.stderr
    tty = out.isatty()

    def progress(sent: int, total: int) -> None:
        pct = 100 * sent // total if total else 100
        if tty:
            filled = pct * 30 // 100
            out.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}% {sent}/{total} bytes\x1b[K")
            if sent >= total:
                out.write("\n")
        else:
            out.write(f"{label}: {sent}/{total} bytes ({pct}%)\n")
        out.flush()

    return progress
