"""Records the byte transcript that tests/firmware/test_pn532_transcript.py replays in the VM.

Run `python tests/nfc/pn532_transcript.py` to rewrite the TRANSCRIPT block of
that file after a change to the driver or the emulator.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FW_TEST = ROOT / "tests" / "firmware" / "test_pn532_transcript.py"
sys.path.insert(0, str(FW_TEST.parent))

import test_pn532_transcript as fw  # noqa: E402

from vitale_tools.nfc_target import demo_phone  # noqa: E402
from vitale_tools.pn532_sim import PN532Emulator, RecordingUart, SimClock, SimUart  # noqa: E402


def record() -> tuple[list[tuple[str, str]], dict[str, object]]:
    """Run the scenario against the emulator; return (transcript, results)."""
    clock = SimClock()
    chip = PN532Emulator(clock, demo_phone(fw.UID), strict_wake=True)
    uart = RecordingUart(SimUart(chip, clock))

    def hook(step: str) -> None:
        if step == "begin":
            chip.faults.drop_acks = 1  # SAMConfiguration's ACK is lost: its reply still counts
        elif step == "poll":
            chip.faults.lose_frames = 1  # InListPassiveTarget never arrives: ACK timeout, abort, resend
        elif step == "get":
            chip.faults.corrupt_replies = 1  # a reply with a flipped bit: NACK, resend

    out = fw.scenario(uart, clock, hook)
    return [(k, v.hex()) for k, v in uart.events], out


def render(transcript: list[tuple[str, str]]) -> str:
    """TRANSCRIPT as Python source, hex split in 96-character pieces."""
    lines = ["TRANSCRIPT = ("]
    for kind, hx in transcript:
        pieces = [hx[i : i + 96] for i in range(0, len(hx), 96)] or [""]
        if len(pieces) == 1:
            lines.append('    ("%s", "%s"),' % (kind, pieces[0]))
        else:
            lines.append('    ("%s",' % kind)
            lines.extend('     "%s"' % p for p in pieces)
            lines[-1] += "),"
    lines.append(")")
    return "\n".join(lines)


def main() -> int:
    """Rewrite the TRANSCRIPT block in the firmware test file."""
    transcript, _ = record()
    text = FW_TEST.read_text()
    new = re.sub(
        r"(# BEGIN TRANSCRIPT[^\n]*\n).*?(\n# END TRANSCRIPT)",
        lambda m: m.group(1) + render(transcript) + m.group(2),
        text,
        flags=re.S,
    )
    FW_TEST.write_text(new)
    print("%d transcript steps written to %s" % (len(transcript), FW_TEST))
    return 0


if __name__ == "__main__":
    sys.exit(main())
