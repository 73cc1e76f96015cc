"""`vitale-sim emulate`: the virtual reader — the firmware app on an emulated board, its USB serial on a pty.

By default a fresh test authority with synthetic patients `0`, `1`, `2` is
made; the firmware app (`vitale.app.App`) starts on an emulated board (PN532
chip emulator with a phone in or out of its field, a camera seeing the
phone's screen, LED/buzzer/display recorded) and is provisioned THROUGH ITS
HOST LINK on the pty, as practice software would: hello, provision.pin (the
authority's trust-list key), provision.trust_list, provision.status_list,
time.set, reader.csr -> reader certificate -> provision.reader_cert. The
reader's public key is pinned on this computer (PinStore, under
$VITALE_HOME, default ~/.config/vitale). Then it prints, each on its own line:

    authority: DIR
    port: /dev/pts/N
    control: 127.0.0.1:PORT

and serves: open the port with the SDK (`vitale --port /dev/pts/N read`), and
drive the world with control commands on stdin or on the TCP control port
(one command per line; one reply line `ok ...` or `error CODE: message`):

  tap PATIENT [--expired] [--consent-deny] [--remove-after N]
                          the patient's phone enters the NFC field (ISO 18013-5 wallet)
  tap --credential FILE   a phone holding FILE (*.mdoc.cbor, its *.device-key.pem beside)
  show-qr PATIENT [--expired] [--remove-after N]
                          the phone screen shows the patient's dynamic QR (a fresh presentation per frame)
  show-qr --credential FILE   the same for FILE (*.vqr-issuer.cbor, device key beside)
  show-qr --text TEXT     the screen shows a fixed text (the rest of the line)
  remove                  the phone leaves the field and the camera's view
  fault remove-after N    the next phone leaves after N RF frames (NFC) or N camera frames (QR)
  fault consent-deny      the next phone's user refuses to share the data
  fault camera-off | camera-on   the camera gives no frame / works again
  fault uart-noise [N]    garbage and the next N (3) PN532 replies damaged on the UART
  fault clear             no faults
  revoke PATIENT          the authority revokes, re-signs the status list and provisions it over the link
  set-time now|UNIX|+S|-S set the reader clock over the link (e.g. +345600: the status list is stale)
  inject LINE             LINE goes to the host as if the reader had sent it (tests of forged events)
  status                  the board's state (phone, camera, LED, display, counters, runtime)
  reboot                  reset the board (app restarted; its clock is unset until set-time / time.set)
  quit                    stop

PATIENT is 0, 1, 2 (or a NIR / status index). `--expired` issues (once) an
expired credential of the same card. One-shot faults apply to the next
tap/show-qr only. The emulator's own link requests (revoke, set-time) use ids
"ctl-N" and never reach the host. At end of stdin it keeps serving until
`quit` on the control port, SIGINT or SIGTERM (or stops, with --quit-on-eof).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from vitale_host.pins import PinStore

from .virtual.reader import VirtualReader
from .virtual.runtime import RUNTIMES
from .virtual.world import World


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vitale-sim emulate`."""
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--runtime", choices=RUNTIMES, default="cpython",
                        help="where the firmware runs: CPython thread (default) or the MicroPython VM")
    parser.add_argument("--board", default="virtual-devkit",
                        help="board name the firmware reports; a board of boards/ (e.g. m5stack-atoms3r-cam) also "
                             "sets which parts it has (camera, LED, buzzer, display); default: every part")
    parser.add_argument("--authority", metavar="DIR",
                        help="use this test authority (patients in DIR/issued); default: a fresh one in a temp folder")
    parser.add_argument("--patients", type=int, default=3, help="patients in a fresh authority (default 3)")
    parser.add_argument("--control-port", type=int, default=0, help="TCP control port on 127.0.0.1 (default: any)")
    parser.add_argument("--no-provision", action="store_true",
                        help="start the app unprovisioned (no pinned key, lists, clock or certificate)")
    parser.add_argument("--seed", type=int, help="seed of the camera's random distortions")
    parser.add_argument("--quit-on-eof", action="store_true",
                        help="stop at the end of stdin (for a program that starts the emulator with a pipe: "
                             "if that program dies, the emulator stops too)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the board and runtime to stderr")


def _serve_stdin(vr: VirtualReader, quit_on_eof: bool) -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        print(vr.command(line.rstrip("\r\n")), flush=True)
        if vr.quit.is_set():
            return
    if quit_on_eof:
        vr.quit.set()


def run(args: argparse.Namespace) -> int:
    """Run the virtual reader until `quit`, SIGINT or SIGTERM."""
    log = (lambda text: print("emulate: " + text, file=sys.stderr, flush=True)) if args.verbose else None
    try:
        if args.authority:
            world = World(args.authority) if (Path(args.authority) / "authority.json").exists() \
                else World.create(args.authority, args.patients)
        else:
            world = World.create(None, args.patients)
    except (OSError, ValueError) as e:
        print(f"vitale-sim emulate: cannot use the authority: {e}", file=sys.stderr)
        return 2
    try:
        vr = VirtualReader(world, runtime=args.runtime, board=args.board, log=log, seed=args.seed)
    except (OSError, ValueError) as e:
        print(f"vitale-sim emulate: {e}", file=sys.stderr)
        return 2

    def on_signal(signum: int, frame: FrameType | None) -> None:
        vr.quit.set()

    signal.signal(signal.SIGTERM, on_signal)
    try:
        try:
            vr.start(do_provision=not args.no_provision)
        except Exception as e:  # noqa: BLE001 - report any start-up failure with its reason
            print(f"vitale-sim emulate: the virtual reader did not start: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        host, port = vr.serve_control("127.0.0.1", args.control_port)
        print(f"authority: {world.path}", flush=True)
        if vr.provisioned:
            print(f"reader: {vr.provisioned['kid']} (pinned in {PinStore().path})", flush=True)
        print(f"port: {vr.port}", flush=True)
        print(f"control: {host}:{port}", flush=True)
        threading.Thread(target=_serve_stdin, args=(vr, args.quit_on_eof), name="vitale-stdin", daemon=True).start()
        try:
            while not vr.quit.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        vr.close()
    return 0
