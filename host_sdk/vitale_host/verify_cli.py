"""`vitale verify FILE --trust DIR`: verify a credential offline, on the host.

FILE is a `VQR1:` text or a CBOR verify container (DeviceResponse + its
SessionTranscript, docs/credential-profile.md §6). Exit 0 and the card on
acceptance; exit 1 and the refusal (`{"refused": CODE, ...}` with --json);
exit 2 when FILE or the trust folder cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .models import PROFILES, Refusal, Verification
from .verify import Policy, Refused, TrustStore, parse_time, verify_or_refusal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale verify`."""
    parser.add_argument("file", help="a VQR1: text file, or a CBOR verify container (DeviceResponse + transcript)")
    parser.add_argument("--trust", required=True, metavar="DIR",
                        help="folder with trust-list-key.pem (pinned), trust-list.cose, status-list.cose")
    parser.add_argument("--at", metavar="ISO-TIME", help="verify as of this time (default: the host clock)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="require this read profile's elements")
    parser.add_argument("--doctype", help="require this docType")
    parser.add_argument("--qr-window", type=int, default=30, metavar="S", help="VQR freshness window (s)")
    parser.add_argument("--clock-skew", type=int, default=5, metavar="S", help="allowed clock skew (s)")
    parser.add_argument("--status-max-age", type=float, default=72.0, metavar="H",
                        help="maximum status-list age (hours)")


def _print_card(v: Verification) -> None:
    print(f"ACCEPTED {v.format} {v.doc_type} (issuer {v.issuer}, device auth {v.device_auth}, "
          f"valid until {v.valid_until})")
    if v.card is not None:
        for name, value in v.card.to_dict().items():
            print(f"  {name}: {json.dumps(value, ensure_ascii=False)}")
    else:
        for ns, items in v.elements.items():
            for name, value in items.items():
                text = json.dumps(value, ensure_ascii=False)
                print(f"  {ns}/{name}: {text if len(text) < 100 else text[:97] + '...'}")


def run(args: argparse.Namespace) -> int:
    """Verify FILE and report."""
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        print(f"cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    try:
        now = int(time.time()) if args.at is None else parse_time(args.at)
    except ValueError:
        print(f"--at: not an ISO 8601 time: {args.at}", file=sys.stderr)
        return 2
    result: Verification | Refusal
    try:
        store = TrustStore.load_dir(args.trust)
    except OSError as e:
        print(f"cannot read the trust folder: {e}", file=sys.stderr)
        return 2
    except Refused as e:
        result = e.refusal
    else:
        policy = Policy(qr_window_s=args.qr_window, clock_skew_s=args.clock_skew,
                        status_max_age_s=int(args.status_max_age * 3600), doc_type=args.doctype,
                        profile=args.profile)
        result = verify_or_refusal(data, store, now, policy)
    if isinstance(result, Refusal):
        if args.json:
            print(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            print(f"REFUSED {result.code}: {result.message}" + (f" ({result.detail})" if result.detail else ""))
        return 1
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        _print_card(result)
    return 0
