"""Exceptions of the host SDK; each carries a stable machine-readable code."""

from __future__ import annotations


class ReaderError(Exception):
    """Something went wrong talking to the reader, or the reader refused a command.

    `code` is stable (e.g. ``port_unavailable``, ``disconnected``, ``timeout``,
    ``bad_args``, ``busy``, or a device error code); `message` is for people.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ReaderTimeout(ReaderError):
    """The reader did not answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


class ForgedResult(ReaderError):
    """A result's device signature or nonce did not check out: it was not made by the pinned reader."""
