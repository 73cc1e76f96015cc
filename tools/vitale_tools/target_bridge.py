"""A real PN532 in target (card emulation) mode plays the phone: APDUs <-> `wallet.Wallet`.

For the hardware-in-the-loop suite: a second PN532 wired to the host through a
USB-UART (HSU, DIP switches off/off) is held against the reader's antenna. The
host drives it with adafruit-circuitpython-pn532 (`PN532_UART` over pyserial)
in ISO 14443-4 PICC target mode; the PN532 answers the reader's activation
(ATQA, UID, SAK, ATS) itself and hands every command APDU to the host, which
answers with the phone emulator's `process_apdu` (NDEF static handover, then
ISO 18013-5 session establishment and the DeviceResponse).

PN532 commands used (PN532 User Manual, UM0701-02 §7.3.14-7.3.21):

- TgInitAsTarget (0x8C): Mode (0x05 = PassiveOnly | PICCOnly), MifareParams
  (SENS_RES 2, NFCID1t 3 — the chip puts 0x08 in front: a random UID, like a
  phone — SEL_RES 0x20: ISO 14443-4 compliant), FeliCaParams (18, unused),
  NFCID3t (10, unused), Gt (length 0), Tk (historical bytes of the ATS).
  Answers Mode + the initiator's first command once a reader activated it.
- TgGetData (0x86): Status + the next command APDU (status bit 6 = MI: the
  reader chains, more data follows). Status 0x29: the reader released us.
- TgSetMetaData (0x94): a response part with MI set (long responses).
- TgSetData (0x8E): the (last part of the) response APDU.

`TargetLink` is the seam: `AdafruitTargetLink` sends these commands with the
Adafruit driver's `call_function`; tests drive the bridge with a link that
plays a reader (firmware's `read_mdoc`) from the other side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .nfc_target import CardRemoved, CardTarget

TG_INIT_AS_TARGET = 0x8C
TG_GET_DATA = 0x86
TG_SET_DATA = 0x8E
TG_SET_META_DATA = 0x94

MODE_PASSIVE_ONLY = 0x01
MODE_PICC_ONLY = 0x04
SEL_RES_ISO14443_4 = 0x20
SENS_RES = b"\x04\x00"  # ATQA 0x0004: UID size single, anticollision bit frame 4

STATUS_OK = 0x00
STATUS_TIMEOUT = 0x01
STATUS_MI = 0x40
STATUS_RELEASED = 0x29  # "target released by the initiator"
STATUS_DESELECTED = 0x31  # "initiator not in the state" / deselected (PN532 error 0x31)
MAX_PART = 250  # data bytes per TgSetData/TgSetMetaData: a normal PN532 frame holds 255 with TFI and code

# The default historical bytes of our ATS (like many Android HCE stacks: none).
DEFAULT_HISTORICAL = b""


class BridgeError(Exception):
    """The PN532 in target mode failed; `code` is stable (pn532_timeout, pn532_error, released, no_reader)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class TargetLink(Protocol):
    """One PN532 command in target mode: returns the response data after the command code, None on timeout."""

    def call(self, command: int, params: bytes, response_length: int, timeout: float) -> bytes | None:
        """Send `command` with `params`, wait at most `timeout` s for its response."""


class AdafruitTargetLink:
    """`TargetLink` over adafruit-circuitpython-pn532 (e.g. `PN532_UART(serial.Serial(port, 115200))`)."""

    def __init__(self, pn532: Any) -> None:
        self.pn532 = pn532

    def call(self, command: int, params: bytes, response_length: int, timeout: float) -> bytes | None:
        """Send one command through the driver's `call_function`."""
        try:
            r = self.pn532.call_function(command, response_length=response_length, params=params,
                                         timeout=timeout)
        except RuntimeError as e:  # the driver's frame errors
            raise BridgeError("pn532_error", str(e)) from None
        return None if r is None else bytes(r)


def tg_init_params(nfcid1t: bytes = b"\x12\x34\x56", historical: bytes = DEFAULT_HISTORICAL,
                   mode: int = MODE_PASSIVE_ONLY | MODE_PICC_ONLY) -> bytes:
    """TgInitAsTarget parameters for an ISO 14443-4A card (a phone's HCE)."""
    if len(nfcid1t) != 3:
        raise ValueError("NFCID1t is 3 bytes (the PN532 adds the first one, 0x08)")
    if len(historical) > 47:
        raise ValueError("at most 47 historical bytes")
    mifare = SENS_RES + nfcid1t + bytes([SEL_RES_ISO14443_4])
    felica = bytes(18)
    nfcid3t = bytes(10)
    return bytes([mode]) + mifare + felica + nfcid3t + b"\x00" + bytes([len(historical)]) + historical


def split_response(data: bytes, part: int = MAX_PART) -> list[bytes]:
    """A response APDU in parts for TgSetMetaData (all but the last) and TgSetData (the last)."""
    return [data[i: i + part] for i in range(0, len(data), part)] or [b""]


@dataclass
class BridgeStats:
    """What one session through the bridge moved."""

    activations: int = 0
    apdus: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    chained_in: int = 0
    chained_out: int = 0
    log: list[str] = field(default_factory=list)


class TargetBridge:
    """Serves `phone` (a CardTarget, e.g. a `Wallet`) through a PN532 in target mode."""

    def __init__(self, link: TargetLink, phone: CardTarget, *, nfcid1t: bytes = b"\x12\x34\x56",
                 historical: bytes = DEFAULT_HISTORICAL, call_timeout: float = 1.0) -> None:
        self.link = link
        self.phone = phone
        self.params = tg_init_params(nfcid1t, historical)
        self.call_timeout = call_timeout
        self.stats = BridgeStats()

    def _call(self, command: int, params: bytes, response_length: int, timeout: float) -> bytes:
        r = self.link.call(command, params, response_length, timeout)
        if r is None:
            raise BridgeError("pn532_timeout", f"no answer to command 0x{command:02X} within {timeout} s")
        return r

    def activate(self, timeout: float) -> bytes:
        """TgInitAsTarget: wait (at most `timeout` s) until a reader activates us; returns its first command."""
        r = self.link.call(TG_INIT_AS_TARGET, self.params, 64, timeout)
        if r is None or not r:
            raise BridgeError("no_reader", f"no reader activated the target within {timeout} s")
        self.stats.activations += 1
        self.phone.on_field()
        self.phone.on_activated()
        return r[1:]

    def get_apdu(self, timeout: float) -> bytes:
        """TgGetData until the whole command APDU is in (MI chaining); raises BridgeError(released)."""
        data = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            r = self._call(TG_GET_DATA, b"", 300, max(0.05, deadline - time.monotonic()))
            status = r[0] & 0x3F
            if status in (STATUS_RELEASED, STATUS_DESELECTED):
                raise BridgeError("released", f"the reader released the target (status 0x{r[0]:02X})")
            if status != STATUS_OK:
                raise BridgeError("pn532_error", f"TgGetData status 0x{r[0]:02X}")
            data.extend(r[1:])
            if not r[0] & STATUS_MI:
                return bytes(data)
            self.stats.chained_in += 1
            if time.monotonic() >= deadline:
                raise BridgeError("pn532_timeout", "chained command not finished in time")

    def send_response(self, rapdu: bytes) -> None:
        """TgSetMetaData for every part but the last, TgSetData for the last."""
        parts = split_response(rapdu)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            cmd = TG_SET_DATA if last else TG_SET_META_DATA
            r = self._call(cmd, part, 1, self.call_timeout)
            if r[:1] and r[0] & 0x3F in (STATUS_RELEASED, STATUS_DESELECTED):
                raise BridgeError("released", "the reader released the target while we answered")
            if r[:1] != b"\x00":
                raise BridgeError("pn532_error", f"0x{cmd:02X} status {r.hex()}")
            if not last:
                self.stats.chained_out += 1

    def serve(self, activate_timeout: float = 30.0, idle_timeout: float = 10.0,
              stop: Callable[[], bool] | None = None) -> BridgeStats:
        """One session: activation, then APDU after APDU until the reader releases us (or `stop()`)."""
        self.activate(activate_timeout)
        try:
            while stop is None or not stop():
                try:
                    apdu = self.get_apdu(idle_timeout)
                except BridgeError as e:
                    if e.code == "released":
                        self.stats.log.append("released")
                        break
                    raise
                self.stats.apdus += 1
                self.stats.bytes_in += len(apdu)
                try:
                    rapdu = self.phone.process_apdu(apdu)
                except CardRemoved:
                    self.stats.log.append("phone left the field")
                    break
                self.stats.bytes_out += len(rapdu)
                self.send_response(rapdu)
        finally:
            self.phone.on_deactivated("released")
        return self.stats
