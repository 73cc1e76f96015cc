"""Vitale Reader host SDK: talk to the reader, verify its signed results, provision it.

    from vitale_host import Reader, CardRefused

    with Reader() as reader:
        result = reader.read_card(timeout=30)      # raises CardRefused(code) on a refusal
        print(result.card.family_name)

See docs/sdk.md. `vitale_host.verify` is the offline reference verifier.
"""

from __future__ import annotations

from .client import AsyncReader, CardRefused, Reader, ReaderEvent, UnverifiedResult
from .errors import ForgedResult, ReaderError, ReaderTimeout
from .models import (
    AmcData, HealthCard, ReaderInfo, ReadProgress, ReadResult, Refusal, RightsPeriod, UnverifiedPayload,
    Verification,
)
from .pins import PinStore
from .transport import PortInfo, auto_port, find_ports

__all__ = [
    "AmcData", "AsyncReader", "CardRefused", "ForgedResult", "HealthCard", "PinStore", "PortInfo", "ReadProgress",
    "ReadResult", "Reader", "ReaderError", "ReaderEvent", "ReaderInfo", "ReaderTimeout", "Refusal", "RightsPeriod",
    "UnverifiedPayload", "UnverifiedResult", "Verification", "auto_port", "find_ports",
]
