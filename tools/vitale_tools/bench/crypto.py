"""Crypto benchmark: ECDSA, ECDH, AES-GCM, HKDF, CBOR in CPython and in the MicroPython VM, with references."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from vitale_tools import mpvm

HERE = Path(__file__).resolve().parent
OPS = HERE / "crypto_ops.py"
NAIVE = HERE / "naive_p256.py"

Row = dict[str, float]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim bench crypto`."""
    parser.add_argument("--scale", type=int, default=1, help="multiply the rounds per measurement")
    parser.add_argument("--no-vm", action="store_true", help="skip the MicroPython VM runs")


def _parse(lines: list[str]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for line in lines:
        parts = line.split()
        if parts and parts[0] == "RESULT":
            out[parts[1]] = {"us": float(parts[2]), "bytes": float(parts[3]), "n": float(parts[4])}
        elif parts and parts[0] == "INFO":
            out["info:" + parts[1]] = {"us": float(parts[2]), "bytes": -1.0, "n": 0.0}
    return out


def run_cpython(scale: int) -> dict[str, Row]:
    """Run the shared ops script under CPython (a fresh process, like the VM run)."""
    proc = subprocess.run([sys.executable, str(OPS), f"--scale={scale}"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"CPython crypto ops failed:\n{proc.stderr}")
    return _parse(proc.stdout.splitlines())


def run_vm(scale: int) -> dict[str, Row]:
    """Run the shared ops script inside the MicroPython VM."""
    res = mpvm.run_file(OPS, args=[f"--scale={scale}"], mounts={"/lib/naive_p256.py": NAIVE, "/lib/vmbench.py": HERE / "vmbench.py"}, timeout=1200)
    if res.returncode != 0:
        raise RuntimeError(f"VM crypto ops failed:\n{res.stdout}\n{res.stderr}")
    return _parse(res.lines)


def ecdsa_package_verify_us(rounds: int) -> float:
    """Time per verify of the pure-Python `ecdsa` package (its default precomputation)."""
    import hashlib

    import ecdsa

    sk = ecdsa.SigningKey.generate(curve=ecdsa.NIST256p, hashfunc=hashlib.sha256)
    vk = sk.get_verifying_key()
    msg = b"benchmark message " * 8
    sig = sk.sign(msg)
    vk.verify(sig, msg)  # warm-up: builds the package's generator tables
    t0 = time.perf_counter()
    for _ in range(rounds):
        vk.verify(sig, msg)
    return (time.perf_counter() - t0) / rounds * 1e6


def _fmt_us(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.1f} us"


def run(args: argparse.Namespace) -> int:
    """Print the table and the acceptance ratios."""
    cp = run_cpython(args.scale)
    ref_us = ecdsa_package_verify_us(5 * args.scale)
    vm = {} if args.no_vm else run_vm(args.scale)
    names = [
        "ecdsa_verify", "ecdsa_sign", "ecdh", "naive_scalar_mult",
        "aes256gcm_encrypt_2k", "hkdf_sha256_32", "cbor_decode_3k",
    ]
    doc = cp.get("info:cbor_doc_bytes", {}).get("us", 0)
    print(f"vitale-sim bench crypto (CBOR document: {int(doc)} bytes)")
    print(f"{'operation':<24}{'CPython':>14}{'MicroPython VM':>18}{'VM bytes/op':>14}")
    for n in names:
        c, v = cp.get(n), vm.get(n)
        b = f"{int(v['bytes'])}" if v and v["bytes"] >= 0 else "-"
        print(f"{n:<24}{_fmt_us(c['us'] if c else None):>14}{_fmt_us(v['us'] if v else None):>18}{b:>14}")
    print(f"{'ecdsa pkg verify (ref)':<24}{_fmt_us(ref_us):>14}{'-':>18}{'-':>14}")
    print()
    r1 = cp["ecdsa_verify"]["us"] / ref_us
    print(f"CPython: our verify / ecdsa package verify        = {r1:.2f}x  (target <= 1.0x)")
    r2 = cp["ecdsa_verify"]["us"] / cp["naive_scalar_mult"]["us"]
    print(f"CPython: our verify / naive scalar mult            = {r2:.2f}x")
    ok = r1 <= 1.0
    if vm:
        r3 = vm["ecdsa_verify"]["us"] / vm["naive_scalar_mult"]["us"]
        print(f"VM:      our verify / naive scalar mult            = {r3:.2f}x  (target <= 0.8x)")
        print(f"VM:      bytes allocated per verify                = {int(vm['ecdsa_verify']['bytes'])}")
        ok = ok and r3 <= 0.8
    print("targets met" if ok else "TARGETS NOT MET")
    return 0
