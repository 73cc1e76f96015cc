"""Fuzzing the PN532 frame parser, the target parser, the driver, the APDU parsers and the emulator.

Property: bad input only ever raises the module's own error (PN532Error,
IsoDepError), in bounded (modelled) time; good input round-trips.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))

from vitale.nfc.isodep import ApduLink, IsoDepError, build_apdu, parse_command, parse_response  # noqa: E402
from vitale.nfc.pn532 import (  # noqa: E402
    FRAME_ACK,
    FRAME_BAD,
    FRAME_DATA,
    FRAME_ERROR,
    FRAME_NACK,
    FRAME_NONE,
    PN532,
    PN532Error,
    build_frame,
    parse_frame,
    parse_target,
)
from vitale_tools.nfc_target import demo_phone  # noqa: E402
from vitale_tools.pn532_sim import PN532Emulator, SimClock  # noqa: E402

FAST = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MEDIUM = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

noise = st.binary(max_size=600)


def frame_bytes(payload: bytes) -> bytes:
    out = bytearray(len(payload) + 11)
    n = build_frame(out, payload[0], payload[1], payload[2:])
    return bytes(out[:n])


@FAST
@given(noise, st.integers(0, 40))
def test_parse_frame_on_anything_stays_in_bounds(data: bytes, start: int) -> None:
    start = min(start, len(data))
    kind, a, b, nxt = parse_frame(data, start)
    assert kind in (FRAME_NONE, FRAME_ACK, FRAME_NACK, FRAME_DATA, FRAME_ERROR, FRAME_BAD)
    assert start <= nxt <= len(data) or kind == FRAME_NONE
    if kind == FRAME_NONE:
        assert start <= a <= len(data)
    if kind in (FRAME_DATA, FRAME_ERROR):
        assert 1 <= b <= 265 and a + b < nxt <= len(data)
        assert (sum(data[a : a + b + 1])) & 0xFF == 0  # the data checksum holds
    if kind == FRAME_BAD:
        assert nxt > start


@FAST
@given(st.binary(min_size=2, max_size=265), noise, noise)
def test_built_frames_are_found_after_any_prefix(payload: bytes, before: bytes, after: bytes) -> None:
    frame = frame_bytes(payload)
    buf = before + frame + after
    ours = len(before) + len(frame) - 1  # index after our DCS
    pos = 0
    found = overlapped = False
    for _ in range(len(buf) + 2):
        kind, a, b, nxt = parse_frame(buf, pos)
        if kind == FRAME_NONE:
            break
        if kind == FRAME_DATA and bytes(buf[a : a + b]) == payload and nxt == ours:
            found = True
            break
        if kind != FRAME_BAD and nxt > len(before) + 2:
            overlapped = True  # noise that happens to form a valid frame running into ours
            break
        pos = nxt
    assert found or overlapped


@FAST
@given(st.binary(min_size=2, max_size=265), st.integers(0, 300), st.integers(0, 7))
def test_any_flipped_bit_is_caught(payload: bytes, pos: int, bit: int) -> None:
    frame = bytearray(frame_bytes(payload))
    pos = 3 + pos % (len(frame) - 4)  # LEN .. DCS
    frame[pos] ^= 1 << bit
    kind, a, b, nxt = parse_frame(frame)
    assert kind == FRAME_BAD  # LEN/LCS, the extended marker and DCS each catch a single flip


@FAST
@given(st.binary(max_size=80), st.booleans())
def test_parse_target_only_raises_pn532error(data: bytes, auto_rats: bool) -> None:
    try:
        t = parse_target(data, 0, -1, auto_rats)
    except PN532Error as e:
        assert e.code == "bad_reply"
        return
    if t is not None:
        assert len(t.uid) in (4, 7, 10) and len(t.sens_res) == 2
        assert t.ats is None or t.ats[0] == len(t.ats)
        assert 0 <= t.fwi() <= 14 and t.fwt_ms() >= 1


@FAST
@given(noise)
def test_parse_command_only_raises_isodeperror(data: bytes) -> None:
    try:
        cla, ins, p1, p2, body, le, ext = parse_command(data)
    except IsoDepError as e:
        assert e.code == "bad_apdu"
        return
    assert build_apdu(cla, ins, p1, p2, body or None, le, ext) == data


@FAST
@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
       st.one_of(st.none(), st.binary(min_size=1, max_size=700)), st.one_of(st.none(), st.integers(1, 65536)),
       st.booleans())
def test_build_then_parse_round_trips(cla: int, ins: int, p1: int, p2: int, data: bytes | None,
                                      le: int | None, ext: bool) -> None:
    apdu = build_apdu(cla, ins, p1, p2, data, le, ext)
    c = parse_command(apdu)
    assert c[:6] == (cla, ins, p1, p2, data or b"", le)


@FAST
@given(st.binary(max_size=40))
def test_parse_response_only_raises_isodeperror(data: bytes) -> None:
    try:
        body, sw = parse_response(data)
    except IsoDepError:
        assert len(data) < 2
        return
    assert body + sw.to_bytes(2, "big") == data


@MEDIUM
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=40), st.binary(max_size=600),
       st.one_of(st.none(), st.integers(1, 65536)))
def test_apdu_link_on_arbitrary_answers(answers: list[bytes], data: bytes, le: int | None) -> None:
    feed = iter(answers)

    def transceive(apdu: bytes) -> bytes:
        assert len(apdu) <= 261
        return next(feed, b"\x90\x00")

    link = ApduLink(transceive, max_total=4096)
    try:
        out = link.send(0x00, 0xC3, 0, 0, data or None, le)
    except IsoDepError:
        return
    assert isinstance(out, bytes) and len(out) <= 4096 + 300
    assert link.exchanges <= len(answers) + 1 + len(data) // 255 + 600


class NoiseUart:
    """A UART whose chip answers each write with fuzzed bytes."""

    def __init__(self, clock: SimClock, replies: list[bytes]) -> None:
        self.clock = clock
        self.replies = list(replies)
        self.rx = bytearray()

    def write(self, buf: bytes | bytearray | memoryview) -> int:
        if self.replies:
            self.rx += self.replies.pop(0)
        return len(buf)

    def any(self) -> int:
        return len(self.rx)

    def readinto(self, buf: bytearray | memoryview) -> int | None:
        n = min(len(buf), len(self.rx))
        if not n:
            return None
        buf[:n] = self.rx[:n]
        del self.rx[:n]
        return n


ACK = b"\x00\x00\xff\x00\xff\x00"


def noisy_reply() -> st.SearchStrategy[bytes]:
    """Real-looking replies (ACK, frames with mutations) mixed with raw noise."""
    payload = st.binary(min_size=2, max_size=270).map(lambda p: b"\xd5" + p[1:265])
    frame = payload.map(frame_bytes)
    mutated = st.tuples(frame, st.integers(0, 300), st.integers(0, 255)).map(
        lambda t: t[0][: t[1] % len(t[0])] + bytes((t[2],)) + t[0][t[1] % len(t[0]) + 1 :])
    return st.lists(st.one_of(st.just(ACK), frame, mutated, st.binary(max_size=40)), max_size=4).map(b"".join)


@MEDIUM
@given(st.lists(noisy_reply(), max_size=12), st.sampled_from(["fw", "poll", "dep", "ext"]))
def test_driver_on_fuzzed_replies_raises_only_pn532error_in_bounded_time(replies: list[bytes], op: str) -> None:
    clock = SimClock()
    pn = PN532(uart=NoiseUart(clock, replies), clock=clock)
    pn.asleep = False
    t0 = clock.now()
    try:
        if op == "fw":
            pn.firmware_version()
        elif op == "poll":
            pn.list_passive_target(200)
        elif op == "dep":
            pn.data_exchange(b"\x00\xa4\x04\x00\x02\x01\x02", 300, max_len=2000)
        else:
            pn.data_exchange(bytes(600), 300, max_len=2000)
    except PN532Error:
        pass
    # Every command has deadlines: 3 sends x 50 ms ACK wait, then 300 ms for the reply; each
    # further command (MI piece) needs one more scripted reply, so at most 13 commands run.
    assert clock.now() - t0 < 13 * 0.5


@MEDIUM
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_emulator_answers_anything_with_well_formed_frames(chunks: list[bytes]) -> None:
    clock = SimClock()
    chip = PN532Emulator(clock, demo_phone(b"\x08\x01\x02\x03"))
    for c in chunks:
        chip.receive(c, clock.now(), chip.byte_s)
        clock.advance(0.05 + len(c) * chip.byte_s)
    clock.advance(10.0)
    out = chip.pop_ready()
    pos = 0
    while True:
        kind, a, b, nxt = parse_frame(out, pos)
        assert kind != FRAME_BAD and kind != FRAME_NACK
        if kind == FRAME_NONE:
            assert all(x == 0 for x in out[pos:])
            break
        pos = nxt


@MEDIUM
@given(st.lists(st.tuples(st.integers(0, 0x60), st.binary(max_size=270)), min_size=1, max_size=10))
def test_emulator_commands_with_random_parameters(cmds: list[tuple[int, bytes]]) -> None:
    clock = SimClock()
    chip = PN532Emulator(clock, demo_phone(b"\x08\x01\x02\x03"))
    for code, params in cmds:
        frame = frame_bytes(bytes((0xD4, code)) + params[:263])
        chip.receive(frame, clock.now(), chip.byte_s)
        clock.advance(6.0)  # longer than any modelled command (WTX of a slow app included)
        out = chip.pop_ready()
        kind, a, b, nxt = parse_frame(out)
        assert kind == FRAME_ACK, out.hex()
        kind, a, b, nxt = parse_frame(out, nxt)
        if kind == FRAME_NONE:  # only a poll waiting for a card stays silent
            assert code == 0x4A
            continue
        assert kind in (FRAME_DATA, FRAME_ERROR)
        if kind == FRAME_DATA:
            assert out[a] == 0xD5 and out[a + 1] == code + 1


class NoiseI2C:
    """An I2C bus whose chip reads back fuzzed frames after each write."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = list(replies)
        self.frame = b""

    def writeto(self, addr: int, buf: bytes | bytearray | memoryview) -> int:
        self.frame = self.replies.pop(0) if self.replies else b""
        return len(buf)

    def readfrom_into(self, addr: int, buf: bytearray | memoryview) -> None:
        if not self.frame:
            buf[:] = bytes(len(buf))
            return
        data = (b"\x01" + self.frame + bytes(len(buf)))[: len(buf)]
        buf[:] = data
        if len(buf) > len(self.frame):
            self.frame = b""  # read whole: consumed, as the chip does


@MEDIUM
@given(st.lists(noisy_reply(), max_size=12), st.sampled_from(["fw", "dep"]))
def test_i2c_driver_on_fuzzed_frames_raises_only_pn532error(replies: list[bytes], op: str) -> None:
    clock = SimClock()
    pn = PN532(i2c=NoiseI2C(replies), clock=clock)
    pn.asleep = False
    t0 = clock.now()
    try:
        if op == "fw":
            pn.firmware_version()
        else:
            pn.data_exchange(bytes(300), 300, max_len=2000)
    except PN532Error:
        pass
    assert clock.now() - t0 < 13 * 0.5


class StuckI2C:
    """A chip that presents the same stale frame forever, on a bus where no time passes."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.reads = 0

    def writeto(self, addr: int, buf: bytes | bytearray | memoryview) -> int:
        return len(buf)

    def readfrom_into(self, addr: int, buf: bytearray | memoryview) -> None:
        self.reads += 1
        buf[:] = (b"\x01" + self.frame + bytes(len(buf)))[: len(buf)]


def test_a_stale_frame_forever_ends_in_an_error() -> None:
    # Found by the fuzzer above: the reply loop once waited through stray frames without bound.
    stale = frame_bytes(b"\xd5\x4b\x00")  # a reply to another command, never consumed
    bus = StuckI2C(stale)
    pn = PN532(i2c=bus, clock=SimClock())
    pn.asleep = False
    try:
        pn.firmware_version()
    except PN532Error as e:
        assert e.code == "bad_reply"
    else:
        raise AssertionError("no error")
    assert bus.reads < 200
