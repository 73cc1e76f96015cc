"""`vitale read`: ask the reader for a card (NFC tap or QR) and print the verified result.

    vitale [--port PORT] read [--json] [--channel nfc|qr|any] [--profile P] [--timeout S]

Exit codes (a public contract): 0 a verified card, 1 a refusal (the refusal object with
--json), 2 any other error (`{"status": "error", "error": {"code", "message"}}` with --json),
3 an unverified passthrough payload (only with --allow-unverified). The JSON validates
against docs/read-result.schema.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vitale_host.client import CardRefused, UnverifiedResult
from vitale_host.errors import ReaderError
from vitale_host.models import PROFILES, READ_CHANNELS, ReadProgress, ReadResult

from .common import EXIT_ERROR, EXIT_OK, EXIT_REFUSED, Spinner, open_reader, report_error

EXIT_UNVERIFIED = 3

LABELS = (
    ("family_name", "Family name"), ("usage_name", "Usage name"), ("given_names", "Given names"),
    ("birth_date", "Birth date"), ("birth_rank", "Birth rank"), ("nir", "NIR"), ("nir_key", "NIR key"),
    ("ins_matricule", "INS matricule"), ("ins_oid", "INS OID"), ("quality", "Quality"), ("regime", "Régime"),
    ("caisse", "Caisse"), ("centre", "Centre"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vitale read`."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON (docs/read-result.schema.json)")
    parser.add_argument("--channel", choices=READ_CHANNELS, default="any", help="nfc, qr or any (default)")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="elements to request (default: the reader's)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="seconds to wait for a card, 1-300 (default 30)")
    parser.add_argument("--allow-unverified", action="store_true",
                        help="accept a passthrough payload the reader could not verify (exit 3)")
    parser.add_argument("--verify-raw", action="store_true",
                        help="re-check the raw credential on the host (needs the reader's attach_raw config and "
                             "the trust lists in $VITALE_HOME/trust or --trust)")
    parser.add_argument("--trust", metavar="DIR", help="trust folder for --verify-raw")


def _row(label: str, value: Any) -> str:
    return f"  {label:<15} {value}"


def format_result(res: ReadResult) -> str:
    """The result as a table for people."""
    lines: list[str] = []
    if res.status == "refused" and res.refusal is not None:
        r = res.refusal
        lines.append(f"REFUSED  {r.code}: {r.message}")
        if r.detail:
            lines.append(_row("Detail", r.detail))
        if res.channel:
            lines.append(_row("Channel", res.channel))
    elif res.status == "unverified" and res.unverified is not None:
        u = res.unverified
        lines.append(f"UNVERIFIED payload ({u.format}, {len(u.payload)} bytes): NOT checked by the reader")
        lines.append(_row("Payload (hex)", u.payload.hex()[:64] + ("..." if len(u.payload) > 32 else "")))
    elif res.verification is not None:
        v = res.verification
        lines.append(f"VERIFIED {v.doc_type} by {'NFC' if res.channel == 'nfc' else 'QR'}"
                     f" (device auth: {v.device_auth})")
        if res.card is not None:
            card = res.card.to_dict()
            for key, label in LABELS:
                if key in card:
                    lines.append(_row(label, card[key]))
            for p in card.get("amo_rights", []):
                lines.append(_row("AMO rights", f"{p['start']} to {p['end']}"))
            amc = card.get("amc")
            if amc:
                lines.append(_row("AMC", " ".join(f"{k}={v}" for k, v in amc.items())))
        else:
            for ns, items in v.elements.items():
                for name, value in items.items():
                    lines.append(_row(f"{ns}/{name}", json.dumps(value, ensure_ascii=False)[:60]))
        lines.append(_row("Issuer", v.issuer))
        lines.append(_row("Valid until", v.valid_until))
        if v.status_index is not None:
            lines.append(_row("Status index", v.status_index))
        if res.host_checked:
            lines.append(_row("Host re-check", "agrees"))
    lines.append(_row("Signed by", f"reader {res.reader_kid} (result #{res.counter} of this session)"))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Entry point of `vitale read`."""
    try:
        reader = open_reader(args, verify_raw=args.verify_raw, trust=args.trust)
    except ReaderError as e:
        return report_error(e, args.json)
    where = {"nfc": "tap the phone", "qr": "show the QR code", "any": "tap the phone or show the QR code"}
    spinner = Spinner(f"{where[args.channel]} ({args.channel})")

    def progress(p: ReadProgress) -> None:
        spinner.text = f"{where[args.channel]}: {p.state}"

    try:
        with reader, spinner:
            res = reader.read_card(args.channel, args.profile, args.timeout, on_progress=progress,
                                   raise_on_refusal=False, allow_unverified=args.allow_unverified)
    except UnverifiedResult as e:
        return report_error(ReaderError(e.code, e.message + " (use --allow-unverified)"), args.json)
    except CardRefused as e:  # pragma: no cover - raise_on_refusal=False returns refusals
        res = e.result
    except ReaderError as e:
        return report_error(e, args.json)
    except KeyboardInterrupt:
        return report_error(ReaderError("interrupted", "interrupted; the read was cancelled"), args.json)
    if args.json:
        print(json.dumps(res.to_dict(), ensure_ascii=False))
    else:
        print(format_result(res))
    sys.stdout.flush()
    if res.status == "verified":
        return EXIT_OK
    if res.status == "unverified":
        return EXIT_UNVERIFIED
    return EXIT_REFUSED if res.status == "refused" else EXIT_ERROR
