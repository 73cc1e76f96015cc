"""`vitale provision`: set up a reader — clock, trust list, status list, config, reader certificate —
and pin its key on this host.

    vitale [--port PORT] provision --clock --trust DIR [--reader-ca DIR] [--config FILE] [--yes]

Steps run in this order, each only when asked: clock (`--clock`), trust-list key, trust list and
status list (`--trust DIR` holding trust-list-key.pem, trust-list.cose, status-list.cose, or the
single-file options), config (`--config FILE`), reader certificate (`--reader-ca DIR`: the
reader CA of a test authority, for development), then the reader's key is pinned on this host
(`$VITALE_HOME/readers.json`; `--no-pin` skips it). The plan is shown and confirmed first
(`--yes` skips the question). Large lists are uploaded in chunks with a progress bar.

Exit codes: 0 done, 1 a step was refused or failed (its code is printed), 2 usage, files or
connection error, or not confirmed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from vitale_host import provision as prov
from vitale_host.client import Reader
from vitale_host.errors import ReaderError
from vitale_host.pins import PinStore
from vitale_host.signed import reader_kid

from .common import EXIT_ERROR, EXIT_OK, EXIT_REFUSED, open_reader, progress_bar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vitale provision`."""
    parser.add_argument("--clock", action="store_true", help="set the reader's clock to this host's (UTC)")
    parser.add_argument("--trust", metavar="DIR", type=Path,
                        help="folder with trust-list-key.pem, trust-list.cose and status-list.cose")
    parser.add_argument("--trust-key", metavar="FILE", type=Path, help="the trust-list key (PEM, SEC1 or hex)")
    parser.add_argument("--trust-list", metavar="FILE", type=Path, help="a signed trust list (trust-list.cose)")
    parser.add_argument("--status-list", metavar="FILE", type=Path, help="a signed status list (status-list.cose)")
    parser.add_argument("--config", metavar="FILE", type=Path,
                        help='JSON: {"policy": {...}, "passthrough": bool, "attach_raw": bool} or a policy object')
    parser.add_argument("--reader-ca", metavar="DIR", type=Path,
                        help="certify the reader's key with this test authority's reader CA (development)")
    parser.add_argument("--cn", default=None, help="common name of the reader certificate")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the reader's key on this host")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


class _Usage(Exception):
    pass


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise _Usage(f"cannot read the {what} {path}: {e}") from None


Step = tuple[str, Callable[[Reader], str]]


def _plan(args: argparse.Namespace) -> list[Step]:
    """(description, action) of every step asked for, in order; files are read now."""
    steps: list[Step] = []
    trust_key = args.trust_key or (args.trust / "trust-list-key.pem" if args.trust else None)
    trust_list = args.trust_list or (args.trust / "trust-list.cose" if args.trust else None)
    status_list = args.status_list
    if status_list is None and args.trust is not None and (args.trust / "status-list.cose").exists():
        status_list = args.trust / "status-list.cose"
    if args.clock:
        def clock(r: Reader) -> str:
            now = r.provision_clock()
            return "clock set to " + dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat()
        steps.append(("set the reader's clock to this host's time (UTC)", clock))
    if trust_key is not None:
        try:
            key = prov.trust_key_bytes(_read(trust_key, "trust-list key"))
        except ReaderError as e:
            raise _Usage(f"{trust_key}: {e.message}") from None

        def pin_key(r: Reader) -> str:
            if r.provision_trust_key(key):
                return "trust-list key pinned on the reader"
            return "the reader already has a trust-list key pinned (kept; a list signed by another key is refused)"
        steps.append((f"pin the trust-list key {reader_kid(key).hex()} on the reader (once for its life)", pin_key))
    for kind, path in (("trust_list", trust_list), ("status_list", status_list)):
        if path is None:
            continue
        data = _read(path, kind.replace("_", " "))
        label = kind.replace("_", " ")

        def upload(r: Reader, data: bytes = data, kind: str = kind, label: str = label) -> str:
            res = prov.upload_list(r, kind, data, progress_bar(label) if len(data) > prov.CHUNK else None)
            return f"{label} installed: seq {res.get('seq')}"
        steps.append((f"install the {label} {path} ({len(data)} bytes)", upload))
    if args.config is not None:
        try:
            cfg = json.loads(_read(args.config, "config"))
        except ValueError as e:
            raise _Usage(f"{args.config}: not JSON: {e}") from None
        if not isinstance(cfg, dict):
            raise _Usage(f"{args.config}: the config is a JSON object")
        policy = cfg.get("policy", cfg if not {"passthrough", "attach_raw"} & set(cfg) else {})
        passthrough, attach_raw = cfg.get("passthrough"), cfg.get("attach_raw")

        def config(r: Reader) -> str:
            res = r.provision_config(policy, passthrough, attach_raw)
            return "config set: " + json.dumps(res.get("policy", res), sort_keys=True)
        steps.append((f"set the config {json.dumps(cfg, sort_keys=True)}", config))
    if args.reader_ca is not None:
        sign = prov.authority_signer(args.reader_ca)

        def cert(r: Reader) -> str:
            res = r.provision_reader_cert(sign, args.cn)
            return f"reader certificate installed: {res.get('subject')}, valid until {res.get('not_after')}"
        steps.append((f"certify the reader's key with the reader CA of {args.reader_ca} (development)", cert))
    return steps


def _confirm(prompt: str) -> bool:
    print(prompt + " [y/N] ", end="", flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print()
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    """Entry point of `vitale provision`."""
    try:
        steps = _plan(args)
    except (_Usage, ReaderError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    try:
        reader = open_reader(args, require_pin=False)
    except ReaderError as e:
        print(f"error {e.code}: {e.message}", file=sys.stderr)
        return EXIT_ERROR
    with reader:
        board = str(reader.hello.get("board", "?"))
        pin = not args.no_pin
        print(f"Reader on {reader.port}: board {board}, key {reader.reader_kid}"
              f" ({'pinned' if reader.pinned else 'not pinned'} on this host)")
        if not steps and not pin:
            print("nothing to do (see vitale provision --help)")
            return EXIT_OK
        lines = [d for d, _ in steps]
        if pin:
            lines.append(f"pin the reader's key {reader.reader_kid} on this host ({PinStore().path}): this host"
                         f" will accept results signed by it")
        for i, d in enumerate(lines, 1):
            print(f"  {i}. {d}")
        if not args.yes and not _confirm("Proceed?"):
            print("not confirmed: nothing was changed", file=sys.stderr)
            return EXIT_ERROR
        t0 = time.monotonic()
        for desc, action in steps:
            try:
                print("ok   " + action(reader))
            except ReaderError as e:
                print(f"FAILED {desc}: {e.code}: {e.message}", file=sys.stderr)
                return EXIT_REFUSED
        if pin:
            try:
                kid = reader.pin_reader_key()
            except ReaderError as e:
                print(f"FAILED pinning the reader key: {e.code}: {e.message}", file=sys.stderr)
                return EXIT_REFUSED
            print(f"ok   reader key {kid} pinned on this host")
        info = reader.info()
        print(f"done in {time.monotonic() - t0:.1f} s; clock {'set' if info.clock_set else 'NOT set'}, trust list "
              f"{'seq %s' % info.trust_list.get('seq') if info.trust_list else 'none'}, status list "
              f"{'seq %s' % info.status_list.get('seq') if info.status_list else 'none'}")
    return EXIT_OK
