"""QR code decoder for 8-bit grayscale camera frames, in MicroPython.

    from vitale.vision import qr
    payloads = qr.decode(frame, 640, 480)   # list of bytes, [] when no code

`frame` is row-major, one byte per pixel: bytes, bytearray or a memoryview
(the ESP32 camera driver's signed 'b' memoryviews included). Pipeline: local
8x8-block thresholds, 1:1:3:1:1 finder scan with cross-checks, triple
grouping, version from finder spacing and version information, homography
from finder rings and alignment patterns, sampling, format/version BCH,
unmasking, Reed-Solomon per block, segment decoding. Versions 1-40, all ECC
levels, mirrored and light-on-dark symbols. Modules: binarize, runs, sample,
rs (hot, viper, loaded with compat.import_hot; casts from casts); detect,
locate, homography, symbol, segments, tables, decoder (plain). Design notes:
docs/qr-decoder.md.
"""

from vitale.vision.qr.errors import QRError  # noqa: F401

# The decoder is imported on first use: its hot modules are loaded with
# compat.import_hot, which needs this package to be fully initialised.
_cache = [None]  # type: list


def decoder_for(width, height):
    """A Decoder (vitale.vision.qr.decoder) for this frame size, reused between calls."""
    d = _cache[0]
    if d is None or d.w != width or d.h != height:
        from vitale.vision.qr.decoder import Decoder

        d = Decoder(width, height)
        _cache[0] = d
    return d


def decode_codes(frame, width, height):
    """QRCode objects for every symbol decoded in the frame (empty list if none)."""
    return decoder_for(width, height).decode(frame)


def decode(frame, width, height):
    """Payloads (bytes) of the QR symbols in an 8-bit grayscale frame; [] when none is found.

    Raises decoder.FrameError (a QRError, ValueError) when the buffer is smaller than
    width*height or the size is unsupported.
    """
    return [c.payload for c in decode_codes(frame, width, height)]
