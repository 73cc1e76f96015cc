"""NFC mdoc read benchmark: APDUs, bytes, modelled wire time (UART + air) vs 106 kbps, firmware compute (CPython, VM).

One billing-profile read of a test-authority credential: firmware
(vitale.nfc.mdoc_nfc over vitale.nfc.pn532) <-> PN532 emulator (modelled
time, 115200 baud HSU by default) <-> phone emulator (vitale_tools.wallet).
The same read is recorded (the phone's answers) and replayed without the
emulators, to time the firmware's own work in CPython and inside the
MicroPython VM. The helpers here (`make_world`, `NfcRig`, `record_read`,
`replay_in_vm`) are shared with tests/nfc/test_mdoc_read_e2e.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitale_host.models import DOC_TYPE
from vitale_host.verify import TrustStore
from vitale_tools import mpvm
from vitale_tools.authority import Authority, IssuedCredential, der, now_s
from vitale_tools.nfc_target import CardTarget
from vitale_tools.patients import typical_card
from vitale_tools.pn532_sim import ETU_S, Faults, PN532Emulator, SimClock, SimUart
from vitale_tools.wallet import Wallet, WalletConfig

# the firmware package (MicroPython code, not type-checked here)
from vitale.cred.result import Refusal  # type: ignore[import-not-found,unused-ignore]
from vitale.nfc import mdoc_nfc  # type: ignore[import-not-found,unused-ignore]
from vitale.nfc.pn532 import PN532, PN532Error  # type: ignore[import-not-found,unused-ignore]

UID = bytes.fromhex("08c0ffee")
RETRY_CODES = ("nfc_error", "timeout")
Transceive = Callable[[bytes], bytes]

VM_REPLAY = r'''
import binascii
import json
import time

from vitale.nfc import mdoc_nfc

u = binascii.unhexlify
with open(ARGV[-1]) as f:
    t = json.loads(f.read())
ex = [(u(c), u(r)) for c, r in t["exchanges"]]
pos = [0]
bad = []


def tx(apdu):
    c, r = ex[pos[0]]
    pos[0] += 1
    if bytes(apdu) != c:
        bad.append(pos[0])
    return r


runs = int(t.get("runs", 1))
best = None
for _ in range(runs):
    pos[0] = 0
    t0 = time.ticks_us()
    resp, st, erk = mdoc_nfc.read_mdoc(tx, u(t["reader_key"]), u(t["reader_cert"]), t["profile"],
                                       e_reader_key=u(t["e_reader_key"]), timeout_ms=600000)
    dt = time.ticks_diff(time.ticks_us(), t0)
    best = dt if best is None or dt < best else best
print("MISMATCH", len(bad), bad[:3])
print("SAME_RESPONSE", int(resp == u(t["response"])), int(st == u(t["transcript"])), pos[0], len(ex))
print("RESULT", best)
'''


@dataclass
class World:
    """A test authority, one issued credential, the reader's key and certificate, the trust store."""

    auth: Authority
    cred: IssuedCredential
    now: int
    reader_key: bytes
    reader_cert: bytes
    store: TrustStore


def make_world(path: Path, now: int | None = None) -> World:
    """A fresh authority in `path` and one credential for the typical synthetic patient."""
    t = now_s() if now is None else now
    auth = Authority.init(path / "auth", t - 3600)
    cred = auth.issue(typical_card(), t - 600)
    key = auth.keys["reader"].private_numbers().private_value.to_bytes(32, "big")
    return World(auth, cred, t, key, der(auth.reader_cert), TrustStore.load_dir(auth.path))


def wallet_for(world: World, **options: Any) -> Wallet:
    """The patient's phone: reader authentication enforced against the authority's reader CA."""
    opts: dict[str, Any] = {"reader_roots": [world.auth.reader_ca_cert], "now": world.now}
    opts.update(options)
    return Wallet(WalletConfig(world.cred.issuer_signed, world.cred.device_key, **opts), UID)


class NfcRig:
    """Firmware driver + PN532 emulator + a phone on one modelled clock (HSU)."""

    def __init__(self, phone: CardTarget, baud: int = 115200, faults: Faults | None = None) -> None:
        self.clock = SimClock()
        self.phone = phone
        self.chip = PN532Emulator(self.clock, phone, faults=faults, baud=baud)
        self.uart = SimUart(self.chip, self.clock, baudrate=baud)
        self.pn = PN532(uart=self.uart, clock=self.clock)
        self.exchanges: list[tuple[bytes, bytes]] = []
        self.attempts = 0

    def transceive(self, apdu: bytes) -> bytes:
        """One APDU through InDataExchange (3 s: room for the phone's WTX), recorded."""
        r: bytes = self.pn.data_exchange(apdu, 3000)
        self.exchanges.append((bytes(apdu), r))
        return r

    def read(self, world: World, profile: str = "billing", e_reader_key: bytes | None = None,
             attempts: int = 2, timeout_ms: int = 10000, reader_key: bytes | None = None,
             reader_cert: bytes | None = None, session: mdoc_nfc.Session | None = None
             ) -> tuple[bytes, bytes, bytes]:
        """Poll and read; an nfc_error or timeout is retried (new poll, new session) up to `attempts` times."""
        last: Refusal | None = None
        for _ in range(attempts):
            self.attempts += 1
            self.exchanges = []
            try:
                if self.pn.asleep or self.attempts == 1:
                    self.pn.begin()
                if self.pn.list_passive_target(500) is None:
                    last = Refusal("timeout", "no phone in the field")
                    continue
            except PN532Error as e:
                last = Refusal("nfc_error", str(e))
                continue
            try:
                out: tuple[bytes, bytes, bytes] = mdoc_nfc.read_mdoc(self.transceive, reader_key or world.reader_key,
                                          reader_cert or world.reader_cert, profile, DOC_TYPE,
                                          timeout_ms=timeout_ms, clock=self.clock, e_reader_key=e_reader_key,
                                          session=session)
                return out
            except Refusal as e:
                last = e
                if e.code not in RETRY_CODES:
                    raise
        assert last is not None
        raise last


def record_read(world: World, e_reader_key: bytes, baud: int = 115200, **wallet_options: Any
                ) -> tuple[NfcRig, dict[str, Any]]:
    """A billing read through the emulators with a fixed ephemeral key; the transcript for a replay."""
    rig = NfcRig(wallet_for(world, **wallet_options), baud)
    rig.pn.begin()
    assert rig.pn.list_passive_target(500) is not None
    session = mdoc_nfc.Session()
    rf0 = rig.chip.rf_time_s
    t0 = rig.clock.now()
    resp, st, _ = mdoc_nfc.read_mdoc(rig.transceive, world.reader_key, world.reader_cert, "billing", DOC_TYPE,
                                     clock=rig.clock, e_reader_key=e_reader_key, session=session)
    elapsed = rig.clock.now() - t0
    return rig, {
        "profile": "billing", "reader_key": world.reader_key.hex(), "reader_cert": world.reader_cert.hex(),
        "e_reader_key": e_reader_key.hex(), "response": resp.hex(), "transcript": st.hex(),
        "exchanges": [(c.hex(), r.hex()) for c, r in rig.exchanges],
        "modelled_s": elapsed, "rf_s": rig.chip.rf_time_s - rf0,
        "apdus": session.apdus, "bytes_out": session.bytes_out, "bytes_in": session.bytes_in,
    }


def replay_cpython(t: dict[str, Any], runs: int = 3) -> float:
    """Best wall time (s) of the firmware's read against the recorded phone, in this process."""
    ex = [(bytes.fromhex(c), bytes.fromhex(r)) for c, r in t["exchanges"]]
    best = float("inf")
    for _ in range(runs):
        it = iter(ex)

        def tx(apdu: bytes) -> bytes:
            c, r = next(it)
            if apdu != c:
                raise AssertionError("the firmware sent something else than in the recording")
            return r

        t0 = time.perf_counter()
        resp, _, _ = mdoc_nfc.read_mdoc(tx, bytes.fromhex(t["reader_key"]), bytes.fromhex(t["reader_cert"]),
                                        t["profile"], e_reader_key=bytes.fromhex(t["e_reader_key"]))
        best = min(best, time.perf_counter() - t0)
        if resp.hex() != t["response"]:
            raise AssertionError("replayed read gave another response")
    return best


def replay_in_vm(t: dict[str, Any], runs: int = 1) -> dict[str, Any]:
    """Replay the recorded read inside the MicroPython VM: mismatches, same response, compute time (us)."""
    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "replay.py"
        script.write_text(VM_REPLAY)
        data = Path(d) / "t.json"
        keep = ("profile", "reader_key", "reader_cert", "e_reader_key", "response", "transcript", "exchanges")
        data.write_text(json.dumps(dict({k: t[k] for k in keep}, runs=runs)))
        res = mpvm.run_file(script, args=["/t.json"], mounts={"/t.json": data}, timeout=600)
    out: dict[str, Any] = {"returncode": res.returncode, "stdout": res.stdout + res.stderr}
    for line in res.lines:
        p = line.split()
        if p and p[0] == "MISMATCH":
            out["mismatches"] = int(p[1])
        elif p and p[0] == "SAME_RESPONSE":
            out["same_response"] = p[1] == "1" and p[2] == "1"
            out["replayed"] = (int(p[3]), int(p[4]))
        elif p and p[0] == "RESULT":
            out["us"] = int(p[1])
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim bench nfc`."""
    parser.add_argument("--baud", type=int, default=115200, help="PN532 HSU baud rate (default 115200)")
    parser.add_argument("--no-vm", action="store_true", help="skip the MicroPython VM run")
    parser.add_argument("--mac", action="store_true", help="the phone uses deviceMac instead of deviceSignature")


def run(args: argparse.Namespace) -> int:
    """Print the numbers of one billing read."""
    e_reader_key = bytes.fromhex("6f" * 31 + "01")
    with tempfile.TemporaryDirectory() as d:
        world = make_world(Path(d))
        rig, t = record_read(world, e_reader_key, args.baud, device_auth="mac" if args.mac else "signature")
    bytes_total = t["bytes_out"] + t["bytes_in"]
    air_floor = bytes_total * 9 * ETU_S  # 8 data bits + parity per byte at 106 kbps, nothing else
    uart_s = sum(len(c) + len(r) for c, r in rig.exchanges) * 10.0 / args.baud
    print("billing read, %s, PN532 HSU %d baud" % ("deviceMac" if args.mac else "deviceSignature", args.baud))
    print("  APDUs               %d" % t["apdus"])
    print("  bytes reader->phone %d (APDU bytes)" % t["bytes_out"])
    print("  bytes phone->reader %d (R-APDU bytes incl. SW)" % t["bytes_in"])
    print("  modelled on wire    %.1f ms (emulated UART + air + PN532 + phone at %.0f ms/APDU)"
          % (t["modelled_s"] * 1000, rig.phone.latency_s * 1000))
    print("    of which RF       %.1f ms (ISO-DEP framing, CRC, FWT)" % (t["rf_s"] * 1000))
    print("    UART payload      %.1f ms (APDU bytes only, 10 bits/byte)" % (uart_s * 1000))
    print("  106 kbps floor      %.1f ms (APDU bytes at 9 bits each, no framing or turnaround)" % (air_floor * 1000))
    print("  wire / floor        %.2fx" % (t["modelled_s"] / air_floor))
    cpy = replay_cpython(t, 5)
    print("  firmware compute    %.1f ms CPython (best of 5 replayed reads: ECDH, HKDF, ES256 sign, AES-GCM, CBOR)" % (cpy * 1000))
    if not args.no_vm:
        vm = replay_in_vm(t, 3)
        if vm["returncode"] != 0 or "us" not in vm:
            print("  VM run failed:\n" + vm["stdout"], file=sys.stderr)
            return 1
        print("  firmware compute    %.1f ms MicroPython VM (best of 3; %.1fx CPython; APDUs identical: %s)"
              % (vm["us"] / 1000, vm["us"] / 1e6 / cpy, "yes" if vm.get("mismatches") == 0 else "NO"))
    return 0
