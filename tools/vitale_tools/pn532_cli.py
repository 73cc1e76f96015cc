"""`vitale-sim pn532`: serve an emulated PN532 (and a phone) on a pseudo-terminal.

Prints `port: /dev/pts/N` (open it with pyserial at 115200, e.g. with
adafruit-circuitpython-pn532 or nfcpy), then reads commands on stdin:
`tap` (the phone enters the field, with a new random UID), `remove`,
`status`, `quit`. At end of input it keeps serving until interrupted.

The phone is the mdoc health-card wallet (`vitale_tools.wallet`) holding
PATIENT's credential from the test authority DIR. Without `--authority` a
fresh authority with synthetic patients `0`, `1`, `2` is made (its folder is
printed); without `--phone` patient `0` is served. `--test-phone` serves a
simple test phone instead (an NFC Forum type 4 tag with a URI, and the
EchoService AID F0010203040506).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading

from vitale_tools.nfc_target import CardTarget, demo_phone
from vitale_tools.pn532_sim import PN532Emulator, PtyServer, RealClock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim pn532`."""
    parser.add_argument("--no-phone", action="store_true", help="start with an empty field (`tap` places the phone)")
    parser.add_argument("--phone", metavar="PATIENT", help="present PATIENT's mdoc health card (default 0)")
    parser.add_argument("--authority", metavar="DIR", help="test authority folder the patient's credential comes from")
    parser.add_argument("--uid", metavar="HEX", help="fixed UID (default: random on every tap, as HCE phones do)")
    parser.add_argument("--test-phone", action="store_true",
                        help="serve the simple test phone (type 4 tag + echo app) instead of the mdoc wallet")
    parser.add_argument("--latency-ms", type=float, default=2.0, help="the phone app's time per APDU (default 2)")
    parser.add_argument("--no-extended-apdus", action="store_true", help="the phone refuses extended-length APDUs (6700)")
    parser.add_argument("--strict-wake", action="store_true",
                        help="start asleep (LowVbat): the host must send 0x55 and wait before its first frame")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command to stderr")


WALLET_MODULES = ("vitale_tools.wallet",)


def make_phone(args: argparse.Namespace) -> CardTarget:
    """The phone to serve: the mdoc wallet when asked for and available, else the test phone.

    Raises OSError/ValueError when the wallet cannot find or load the patient's credential.
    """
    uid = bytes.fromhex(args.uid) if args.uid else None
    if args.test_phone:
        return demo_phone(uid, latency_s=args.latency_ms / 1000.0, extended_apdus=not args.no_extended_apdus)
    if not args.authority:
        from .sim_world import make_world

        args.authority = str(make_world())
        print("authority: %s (patients 0, 1, 2)" % args.authority, flush=True)
    if not args.phone:
        args.phone = "0"
    if args.phone or args.authority:
        for name in WALLET_MODULES:
            try:
                factory = getattr(importlib.import_module(name), "card_target")
            except (ImportError, AttributeError):
                continue
            target: CardTarget = factory(args.phone, args.authority, uid)
            return target
        print("--phone/--authority need the mdoc wallet (%s.card_target), which is not available in this "
              "build; serving the test phone instead" % WALLET_MODULES[0], file=sys.stderr)
    return demo_phone(uid, latency_s=args.latency_ms / 1000.0, extended_apdus=not args.no_extended_apdus)


def _status(chip: PN532Emulator) -> str:
    c = chip.counters
    card = chip.card.uid.hex() if chip.card is not None else "none"
    return ("card %s, field %s, baud %d, frames %d (bad %d), acks %d, nacks %d, RF frames %d, RF time %.1f ms"
            % (card, "on" if chip.rf_on else "off", chip.baud, c["frames"], c["bad_frames"], c["acks_in"],
               c["nacks_in"], c["rf_frames"], chip.rf_time_s * 1000))


def run(args: argparse.Namespace) -> int:
    """Serve until `quit` or an interrupt."""
    log = (lambda text: print("pn532: " + text, file=sys.stderr, flush=True)) if args.verbose else None
    try:
        phone = make_phone(args)
    except (OSError, ValueError) as e:
        print("vitale-sim pn532: cannot load the phone: %s" % e, file=sys.stderr)
        return 2
    chip = PN532Emulator(RealClock(), strict_wake=args.strict_wake, log=log)
    server = PtyServer(chip).start()
    try:
        print("port: %s" % server.port, flush=True)
        if not args.no_phone:
            chip.place(phone)
        for line in sys.stdin:
            cmd = line.strip().lower()
            if cmd == "tap":
                chip.place(phone)
                server.poke()
                print("tapped: uid %s" % phone.uid.hex(), flush=True)
            elif cmd == "remove":
                chip.remove()
                server.poke()
                print("removed", flush=True)
            elif cmd == "status":
                print(_status(chip), flush=True)
            elif cmd in ("quit", "exit"):
                return 0
            elif cmd:
                print("commands: tap, remove, status, quit", flush=True)
        threading.Event().wait()  # end of input: serve until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
