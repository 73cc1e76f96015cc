"""`vitale-sim authority`: a TEST authority — keys, credentials, trust and status lists.

Subcommands: init, issue, present, respond, trust-list, status-list, revoke, status-size, cases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

from vitale_host.models import NAMESPACE, PROFILES, HealthCard, ProfileError
from vitale_host.verify import VQR_PREFIX, base45_decode, parse_time

from . import mdoc_holder
from .authority import (
    DAY, STATUS_CHUNK_SHIFT, Authority, load_cert_file, load_private_key, now_s, present, status_payload,
)
from .patients import synthetic_patients


def _time(text: str | None) -> int:
    return now_s() if text is None else parse_time(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim authority`."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sub.add_parser("init", help="make IACA, document signer, reader CA/certificate, list keys and lists")
    p.add_argument("dir")
    p.add_argument("--at", help="creation time (ISO 8601; default now)")
    p.add_argument("--name", default="Vitale Reader Test")
    p.add_argument("--iss", default="VR-TEST", help="the VQR `iss` claim")
    p.add_argument("--ds-days", type=int, default=457, help="document-signer certificate lifetime")
    p.add_argument("--iaca-years", type=int, default=9)

    p = sub.add_parser("issue", help="issue credentials (mdoc IssuerSigned + VQR issuer part + device key)")
    p.add_argument("dir")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--patient", action="append", default=[], metavar="FILE.json",
                   help="a patient (the card JSON of docs/credential-profile.md); repeatable")
    p.add_argument("--synthetic", type=int, default=0, metavar="N", help="N synthetic patients")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic patients")
    p.add_argument("--valid-days", type=int, default=365)
    p.add_argument("--vqr-profile", choices=sorted(PROFILES), default="billing",
                   help="elements the VQR carries (the mdoc carries all)")
    p.add_argument("--at", help="issue time (ISO 8601; default now)")

    p = sub.add_parser("present", help="the phone's VQR presentation at a time: prints the VQR1: text")
    p.add_argument("dir")
    p.add_argument("credential", help="CRED.vqr-issuer.cbor (the device key is CRED.device-key.pem beside it)")
    p.add_argument("--at", help="presentation time (ISO 8601; default now)")
    p.add_argument("--out", help="write the text here instead of stdout")

    p = sub.add_parser("respond", help="the phone's NFC answer: a verify container (DeviceResponse + transcript)")
    p.add_argument("dir")
    p.add_argument("credential", help="CRED.mdoc.cbor (the device key is CRED.device-key.pem beside it)")
    p.add_argument("--out", required=True)
    p.add_argument("--profile", choices=sorted(PROFILES), help="disclose only this profile's elements")
    p.add_argument("--mac", action="store_true", help="deviceMac instead of deviceSignature")

    p = sub.add_parser("trust-list", help="sign a new trust list (next sequence number)")
    p.add_argument("dir")
    p.add_argument("--add-iaca", action="append", default=[], metavar="CERT", help="also trust this IACA")
    p.add_argument("--add-ds", action="append", default=[], metavar="CERT", help="also list this document signer")
    p.add_argument("--seq", type=int, help="force a sequence number (tests)")
    p.add_argument("--at", help="issue time (ISO 8601; default now)")

    p = sub.add_parser("status-list", help="sign a new status list (next sequence number)")
    p.add_argument("dir")
    p.add_argument("--seq", type=int, help="force a sequence number (tests)")
    p.add_argument("--at", help="issue time (ISO 8601; default now)")
    p.add_argument("--next-update-hours", type=float, default=24.0)

    p = sub.add_parser("revoke", help="revoke status indices and sign a new status list")
    p.add_argument("dir")
    p.add_argument("index", type=int, nargs="+")
    p.add_argument("--at", help="status-list issue time (ISO 8601; default now)")

    p = sub.add_parser("status-size", help="size and time a status list for a population")
    p.add_argument("--count", type=int, default=70_000_000)
    p.add_argument("--fraction", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lookups", type=int, default=2000)

    sub.add_parser("vqr-size", help="VQR sizes and QR versions (ECC M) for typical and large cards")

    p = sub.add_parser("cases", help="write the refusal-case corpus (manifest.json + files) for other verifiers")
    p.add_argument("out")


def _stem_path(credential: str, suffix: str) -> Path:
    p = Path(credential)
    for s in (".vqr-issuer.cbor", ".mdoc.cbor", ".device-key.pem", ".json"):
        if p.name.endswith(s):
            return p.with_name(p.name[: -len(s)] + suffix)
    return p.with_name(p.name + suffix)


def _issue(args: argparse.Namespace) -> int:
    auth = Authority(args.dir)
    t = _time(args.at)
    cards: list[tuple[str | None, HealthCard]] = []
    for f in args.patient:
        try:
            cards.append((Path(f).stem, HealthCard.from_dict(json.loads(Path(f).read_text()))))
        except (ProfileError, ValueError) as e:
            print(f"{f}: {e}", file=sys.stderr)
            return 2
    day = time.gmtime(t)
    for card in synthetic_patients(args.synthetic, args.seed, dt.date(day.tm_year, day.tm_mon, day.tm_mday)):
        cards.append((None, card))
    if not cards:
        print("nothing to issue: give --patient FILE.json or --synthetic N", file=sys.stderr)
        return 2
    out = Path(args.out)
    capacity = auth.config["status_capacity"]
    for stem, card in cards:
        cred = auth.issue(card, t, args.valid_days, stem, vqr_profile=args.vqr_profile)
        files = cred.write(out)
        print(json.dumps({"statusIndex": cred.status_index, **files}))
    if auth.config["status_capacity"] != capacity:  # the status list must now cover the new indices
        auth.write_status_list(t)
    return 0


def _respond(args: argparse.Namespace) -> int:
    issuer_signed = Path(args.credential).read_bytes()
    key = load_private_key(_stem_path(args.credential, ".device-key.pem"))
    s = mdoc_holder.new_session()
    requested = {NAMESPACE: PROFILES[args.profile]} if args.profile else None
    dr = mdoc_holder.build_device_response(issuer_signed, key, s.transcript, requested=requested,
                                           mac_reader_pub=s.e_reader_key.public_key() if args.mac else None)
    Path(args.out).write_bytes(mdoc_holder.make_container(dr, s.transcript, s.e_reader_scalar if args.mac else None))
    return 0


def _status_size(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    n_rev = int(args.count * args.fraction)
    t0 = time.perf_counter()
    revoked = sorted(rng.sample(range(args.count), n_rev))
    t1 = time.perf_counter()
    payload = status_payload(revoked, args.count, 1, 0, DAY)
    t2 = time.perf_counter()
    from vitale_host.verify import StatusList
    sl = StatusList(1, 0, DAY, args.count, n_rev, payload[7], payload[8], payload[9], payload[10])
    probes = [rng.randrange(args.count) for _ in range(args.lookups)]
    t3 = time.perf_counter()
    hits = sum(sl.is_revoked(i) for i in probes)
    t4 = time.perf_counter()
    chunk_sizes = [sl.chunk(i)[1] for i in range(len(payload[9]) // 8)]
    total = len(payload[9]) + len(payload[10])
    print(json.dumps({
        "count": args.count, "revoked": n_rev, "rice_k": payload[7], "chunk_indices": 1 << STATUS_CHUNK_SHIFT,
        "chunks": len(chunk_sizes), "directory_bytes": len(payload[9]), "data_bytes": len(payload[10]),
        "total_bytes_approx": total + 120, "bits_per_revoked": round(8 * len(payload[10]) / max(1, n_rev), 2),
        "largest_chunk_bytes": max(chunk_sizes, default=0), "mean_chunk_bytes": round(sum(chunk_sizes) / max(1, len(chunk_sizes)), 1),
        "bitmap_bytes": (args.count + 7) // 8,
        "build_s": round(t2 - t1, 2), "sample_s": round(t1 - t0, 2),
        "host_lookup_us": round(1e6 * (t4 - t3) / max(1, args.lookups), 1), "probe_hits": hits,
    }, indent=1))
    return 0


def vqr_sizes() -> list[dict[str, object]]:
    """Sizes of VQR texts for a set of cards (typical first) and the QR version each needs at ECC M."""
    import segno

    from vitale_host.models import INS_OIDS, card_from_values, nir_key

    from .authority import (
        MdocParams, VqrParams, make_ca_cert, make_issuer_signed, make_leaf_cert, make_vqr_issuer, mdoc_elements,
        new_key, vqr_card_claim,
    )
    from .patients import typical_card

    t = 1_800_000_000
    k_iaca, k_ds, k_dev = new_key(), new_key(), new_key()
    iaca = make_ca_cert(k_iaca, "Vitale Reader Test IACA", t - DAY, t + 3000 * DAY)
    ds = make_leaf_cert(k_ds.public_key(), k_iaca, iaca, "Vitale Reader Test Document Signer", t - DAY, t + 400 * DAY)
    base = typical_card().to_dict()
    amc = {"org": "123456789", "contract": "IHC2", "start": "2027-01-01", "end": "2027-12-31"}
    big = dict(base, family_name="DE LA TOUR D'AUVERGNE", usage_name="MONTMORENCY-LAVAL",
               given_names="MARIE CLAIRE ANNE SOPHIE", amc=amc,
               amo_rights=[{"start": "2024-01-01", "end": "2024-12-31"}, {"start": "2025-01-01", "end": "2025-12-31"},
                           {"start": "2026-01-01", "end": "2027-12-31"}])
    ins = dict(base, ins_matricule=base["nir"] + f"{nir_key(base['nir']):02d}", ins_oid=INS_OIDS[0])
    variants = [("typical (billing profile, 1 rights period)", base, "billing"),
                ("typical + AMC", dict(base, amc=amc), "billing"),
                ("large billing card (3 periods, AMC, usage name, long names)", big, "billing"),
                ("typical, full profile (with INS)", ins, "full")]
    out: list[dict[str, object]] = []
    for label, values, profile in variants:
        card = card_from_values(values)
        issuer = make_vqr_issuer(VqrParams(vqr_card_claim(card, profile), k_dev.public_key(), k_ds, ds, t,
                                           t + 365 * DAY, b"\x00" * 8, 69_999_999))
        text = present(issuer, k_dev, t)
        mdoc = make_issuer_signed(MdocParams(mdoc_elements(card), k_dev.public_key(), k_ds, ds, t, t,
                                             t + 365 * DAY, 69_999_999))
        qr = segno.make_qr(text, error="m", boost_error=False)
        out.append({"card": label, "issuer_part_bytes": len(issuer),
                    "vqr_cbor_bytes": len(base45_decode(text[len(VQR_PREFIX):])),
                    "text_chars": len(text), "qr_version_ecc_m": qr.version, "mdoc_issuer_signed_bytes": len(mdoc)})
    return out


def run(args: argparse.Namespace) -> int:
    """Run one authority action."""
    a = args.action
    if a == "init":
        try:
            auth = Authority.init(args.dir, _time(args.at), name=args.name, iss=args.iss, ds_days=args.ds_days,
                                  iaca_years=args.iaca_years)
        except FileExistsError as e:
            print(e, file=sys.stderr)
            return 1
        print(f"authority in {auth.path}: trust list seq {auth.config['trust_seq']}, "
              f"status list seq {auth.config['status_seq']}")
        return 0
    if a == "issue":
        return _issue(args)
    if a == "present":
        issuer_part = Path(args.credential).read_bytes()
        key = load_private_key(_stem_path(args.credential, ".device-key.pem"))
        text = present(issuer_part, key, _time(args.at))
        if args.out:
            Path(args.out).write_text(text + "\n")
        else:
            print(text)
        return 0
    if a == "respond":
        return _respond(args)
    if a == "trust-list":
        auth = Authority(args.dir)
        auth.add_trusted([load_cert_file(f) for f in args.add_iaca], [load_cert_file(f) for f in args.add_ds])
        auth.write_trust_list(_time(args.at), args.seq)
        print(f"trust list seq {args.seq if args.seq is not None else auth.config['trust_seq']}")
        return 0
    if a == "status-list":
        auth = Authority(args.dir)
        auth.write_status_list(_time(args.at), args.seq, int(args.next_update_hours * 3600))
        print(f"status list seq {args.seq if args.seq is not None else auth.config['status_seq']}, "
              f"{len(auth.config['revoked'])} revoked")
        return 0
    if a == "revoke":
        auth = Authority(args.dir)
        auth.revoke(*args.index)
        auth.write_status_list(_time(args.at))
        print(f"status list seq {auth.config['status_seq']}, {len(auth.config['revoked'])} revoked")
        return 0
    if a == "status-size":
        return _status_size(args)
    if a == "vqr-size":
        print(json.dumps(vqr_sizes(), indent=1))
        return 0
    if a == "cases":
        from .cred_cases import write_cases
        n = write_cases(Path(args.out))
        print(f"{n} cases in {args.out}")
        return 0
    raise SystemExit(f"unknown action {a}")
