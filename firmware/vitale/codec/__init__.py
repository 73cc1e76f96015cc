"""Encodings: CBOR, base45, DER."""


class CodecError(ValueError):
    """Input a codec refused: `.reason` is a short code, `.offset` the byte offset (-1: unknown)."""

    def __init__(self, reason, offset=-1):
        if offset >= 0:
            super().__init__(reason + " at offset " + str(offset))
        else:
            super().__init__(reason)
        self.reason = reason
        self.offset = offset
