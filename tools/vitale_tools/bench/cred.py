"""Credential benchmark: full VQR and mdoc verification and a 70-million-entry status list, CPython and VM."""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vitale_host.verify import Policy, ReplayCache, TrustStore, load_status_list, verify_bytes
from vitale_tools import mdoc_holder as mh
from vitale_tools import mpvm
from vitale_tools.bench.crypto import _parse
from vitale_tools.authority import (
    DAY, MdocParams, VqrParams, cose_sign1, der, make_ca_cert, make_issuer_signed, make_leaf_cert,
    make_trust_list, make_vqr_issuer, mdoc_elements, new_key, present, sec1, status_payload, vqr_card_claim,
)
from vitale_tools.patients import typical_card

HERE = Path(__file__).resolve().parent
HERE_VMBENCH = HERE / "vmbench.py"
OPS = HERE / "cred_ops.py"
NOW = 1803981600  # 2027-03-01T10:00:00Z

Row = dict[str, float]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim bench cred`."""
    parser.add_argument("--count", type=int, default=70_000_000, help="status list size (credentials)")
    parser.add_argument("--fraction", type=float, default=0.01, help="fraction of them revoked")
    parser.add_argument("--scale", type=int, default=1, help="multiply the rounds per measurement")
    parser.add_argument("--no-vm", action="store_true", help="skip the MicroPython VM run")


def build(folder: Path, count: int, fraction: float) -> dict[str, float]:
    """Write the benchmark inputs into folder; return host-side figures (build and lookup times)."""
    rng = random.Random(70)
    iaca_key, ds_key, trust_key, status_key, device_key = (new_key() for _ in range(5))
    iaca = make_ca_cert(iaca_key, "Bench IACA", NOW - 400 * DAY, NOW + 3000 * DAY)
    ds = make_leaf_cert(ds_key.public_key(), iaca_key, iaca, "Bench DS", NOW - 100 * DAY, NOW + 300 * DAY)
    trust_list = make_trust_list(trust_key, 1, NOW - 3600, [der(iaca)], [der(ds)], status_key.public_key(), [], [])
    index = count - 1
    revoked = set(rng.sample(range(count), int(count * fraction)))
    revoked.discard(index)
    t0 = time.perf_counter()
    payload = status_payload(sorted(revoked), count, 1, NOW - 3600, NOW - 3600 + DAY)
    import cbor2

    status_list = cose_sign1(status_key, cbor2.dumps(payload))
    build_s = time.perf_counter() - t0
    (folder / "status-list.cose").write_bytes(status_list)
    (folder / "trust-list.cose").write_bytes(trust_list)
    (folder / "pinned.bin").write_bytes(sec1(trust_key.public_key()))

    card = typical_card()
    isd = make_issuer_signed(MdocParams(mdoc_elements(card), device_key.public_key(), ds_key, ds,
                                        NOW - 10 * DAY, NOW - 10 * DAY, NOW + 300 * DAY, index))
    vqr_issuer = make_vqr_issuer(VqrParams(vqr_card_claim(card), device_key.public_key(), ds_key, ds,
                                           NOW - 10 * DAY, NOW + 300 * DAY, rng.randbytes(8), index))
    text = present(vqr_issuer, device_key, NOW - 2)
    (folder / "vqr.txt").write_text(text)
    from vitale_host.models import DOC_TYPE, NAMESPACE, PROFILES

    billing = {NAMESPACE: list(PROFILES["billing"])}
    req = mh.items_request_bytes(DOC_TYPE, billing, True)
    for mac in (False, True):
        s = mh.new_session()
        dr = mh.build_device_response(isd, device_key, s.transcript, requested=billing,
                                      mac_reader_pub=s.e_reader_key.public_key() if mac else None)
        c = mh.make_container(dr, s.transcript, s.e_reader_scalar if mac else None, req)
        (folder / f"mdoc-billing-{'mac' if mac else 'signature'}.cbor").write_bytes(c)
    rev_sorted = sorted(revoked)
    revoked_probes = [rev_sorted[rng.randrange(len(rev_sorted))] for _ in range(20)] if rev_sorted else []
    probes = revoked_probes + [rng.randrange(count) for _ in range(80)]
    (folder / "meta.json").write_text(json.dumps({"now": NOW, "probes": probes, "revoked_probes": revoked_probes}))

    # host reference verifier on the same inputs
    from vitale_host.verify import public_key_from_sec1

    host_sl = load_status_list(status_list, status_key.public_key())
    t0 = time.perf_counter()
    for x in probes:
        host_sl.is_revoked(x)
    host_lookup_us = (time.perf_counter() - t0) / len(probes) * 1e6
    store_h = TrustStore.load(trust_list, public_key_from_sec1(sec1(trust_key.public_key()), "k"), status_list)
    t0 = time.perf_counter()
    for _ in range(5):
        verify_bytes(text.encode(), store_h, NOW, Policy(), ReplayCache())
    host_vqr_us = (time.perf_counter() - t0) / 5 * 1e6
    cont = (folder / "mdoc-billing-signature.cbor").read_bytes()
    t0 = time.perf_counter()
    for _ in range(5):
        verify_bytes(cont, store_h, NOW, Policy(profile="billing", doc_type=DOC_TYPE))
    host_mdoc_us = (time.perf_counter() - t0) / 5 * 1e6
    lengths = [host_sl.chunk(i)[1] for i in range(len(host_sl.directory) // 8)]
    return {"build_s": build_s, "host_lookup_us": host_lookup_us, "host_vqr_us": host_vqr_us,
            "host_mdoc_us": host_mdoc_us, "max_chunk": float(max(lengths)),
            "mean_chunk": sum(lengths) / len(lengths), "k": float(host_sl.rice_k), "revoked": float(len(revoked)),
            "file": float(len(status_list))}


def run_cpython(folder: Path, scale: int) -> dict[str, Row]:
    """The ops script under CPython (a fresh process, like the VM run)."""
    proc = subprocess.run([sys.executable, str(OPS), f"--dir={folder}", f"--store={folder / 'flash'}",
                           f"--scale={scale}"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"CPython cred ops failed:\n{proc.stdout}\n{proc.stderr}")
    return _parse(proc.stdout.splitlines())


def run_vm(folder: Path, scale: int) -> dict[str, Row]:
    """The ops script inside the MicroPython VM (the folder mounted at /bench)."""
    res = mpvm.run_file(OPS, args=["--dir=/bench", f"--scale={scale}"], mounts={"/bench": folder, "/lib/vmbench.py": HERE_VMBENCH},
                        heap=32 * 1024 * 1024, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError(f"VM cred ops failed:\n{res.stdout}\n{res.stderr}")
    return _parse(res.lines)


def _fmt_us(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.1f} us"


def run(args: argparse.Namespace) -> int:
    """Build the inputs, run both runtimes, print the table."""
    with tempfile.TemporaryDirectory(prefix="bench-cred-") as tmp:
        folder = Path(tmp)
        host = build(folder, args.count, args.fraction)
        cp = run_cpython(folder, args.scale)
        vm = {} if args.no_vm else run_vm(folder, args.scale)
    info = {k[5:]: v["us"] for k, v in cp.items() if k.startswith("info:")}
    size, rev = int(info["status_size"]), int(info["status_revoked"])
    print(f"vitale-sim bench cred (status list: {size:,} credentials, {rev:,} revoked, Rice k={int(host['k'])})")
    print(f"  signed file (flash)     {int(info['status_file_bytes']):>12,} bytes"
          f"  (+16 bytes store frame; raw bitmap would be {size // 8:,})")
    print(f"  directory               {int(info['status_directory_bytes']):>12,} bytes")
    print(f"  data                    {int(info['status_data_bytes']):>12,} bytes"
          f"  = {8 * info['status_data_bytes'] / max(rev, 1):.2f} bits per revoked index")
    print(f"  chunk length            {host['mean_chunk']:>12.0f} bytes mean, {int(host['max_chunk'])} max")
    print(f"  bytes read per lookup   {int(info['status_bytes_read_per_lookup']):>12,}")
    print(f"  build on the host       {host['build_s']:>12.2f} s")
    print()
    names = ["trust_list_load", "status_list_install", "status_list_load", "status_lookup", "vqr_verify_new_signer", "vqr_verify",
             "mdoc_verify_billing_new_signer", "mdoc_verify_billing_signature", "mdoc_verify_billing_mac"]
    ref = {"status_lookup": host["host_lookup_us"], "vqr_verify_new_signer": host["host_vqr_us"],
           "mdoc_verify_billing_new_signer": host["host_mdoc_us"]}
    print(f"{'operation':<32}{'CPython':>12}{'MicroPython VM':>17}{'VM bytes/op':>14}{'host verifier':>15}")
    for n in names:
        c, v = cp.get(n), vm.get(n)
        b = f"{int(v['bytes']):,}" if v and v["bytes"] >= 0 else "-"
        print(f"{n:<32}{_fmt_us(c['us'] if c else None):>12}{_fmt_us(v['us'] if v else None):>17}{b:>14}"
              f"{_fmt_us(ref.get(n)):>15}")
    print()
    print("status_list_install: verify the received file, write it through vitale.store, load it back.")
    print("status_list_load streams the whole file twice (store frame check, then signature + directory);")
    print("a lookup reads one directory pair and one chunk. *_new_signer: the first credential of a document")
    print("signer (its certificate is parsed and its IACA signature checked, then remembered by Trust).")
    print("The host verifier (`cryptography`, C) checks the chain every time.")
    return 0
