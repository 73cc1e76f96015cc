"""`vitale info`: the reader's state (board, firmware, lists, clock, policy, pinning).

Exit codes: 0 shown, 2 error (with its code; JSON `{"status": "error", ...}` with --json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

from vitale_host.errors import ReaderError
from vitale_host.models import ReaderInfo

from .common import EXIT_OK, open_reader, report_error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vitale info`."""
    parser.add_argument("--json", action="store_true", help="print the reader's info reply as JSON")


def _when(ts: Any) -> str:
    if not isinstance(ts, int):
        return "?"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(s: Any) -> str:
    if not isinstance(s, int):
        return "age unknown (clock unset)"
    if abs(s) < 120:
        return f"{s} s old"
    if abs(s) < 7200:
        return f"{s // 60} min old"
    if abs(s) < 172800:
        return f"{s // 3600} h old"
    return f"{s // 86400} days old"


def format_info(port: str, i: ReaderInfo) -> str:
    """The info as lines for people."""
    rows = [
        ("port", port),
        ("board", i.board),
        ("firmware", f"{i.firmware} (protocol {i.protocol})"),
        ("reader key", f"{i.reader_kid}, {'pinned' if i.reader_pinned else 'NOT pinned'} on this host"
                       + ("" if i.reader_pinned else " (run vitale provision)")),
        ("clock", f"set, {_when(i.clock_now)} (host {int(time.time()) - (i.clock_now or 0):+d} s)"
         if i.clock_set else "NOT set (reads are refused: run vitale provision --clock)"),
        ("trust key", "pinned" if i.trust_key_pinned else "NOT pinned"),
        ("trust list", f"seq {i.trust_list.get('seq')}, issued {_when(i.trust_list.get('issued_at'))}, "
                       f"{_age(i.trust_list.get('age_s'))}" if i.trust_list else "none"),
        ("status list", f"seq {i.status_list.get('seq')}, issued {_when(i.status_list.get('issued_at'))}, "
                        f"{_age(i.status_list.get('age_s'))}, next update {_when(i.status_list.get('next_update'))}"
         if i.status_list else "none"),
        ("policy", ", ".join(f"{k} {v}" for k, v in sorted(i.policy.items()))),
        ("memory", f"{i.mem_free} bytes free" if i.mem_free is not None else "n/a (CPython)"),
    ]
    if i.config:
        rows.append(("config", ", ".join(f"{k} {v}" for k, v in sorted(i.config.items()))))
    return "\n".join(f"{k:<12} {v}" for k, v in rows)


def run(args: argparse.Namespace) -> int:
    """Entry point of `vitale info`."""
    try:
        with open_reader(args, require_pin=False) as reader:
            info = reader.info()
            port = reader.port
    except ReaderError as e:
        return report_error(e, args.json)
    if args.json:
        print(json.dumps(info.to_dict(), ensure_ascii=False))
    else:
        print(format_info(port, info))
    return EXIT_OK
