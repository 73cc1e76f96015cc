"""Line framing for the host link: bytes in, complete lines out.

Lines end with LF (a CR before it is dropped). A line longer than the limit
is discarded up to its end and reported once as an overflow, so one bad line
never desynchronises the next.
"""

from vitale.compat import const

MAX_LINE = const(65536)
_LF = const(10)
_CR = const(13)


class LineBuffer:
    """Accumulates received bytes; `feed` returns what completed."""

    def __init__(self, max_line=MAX_LINE):
        self.max_line = max_line
        self._buf = bytearray()
        self._dropping = False

    def feed(self, data):
        """Take received bytes; return a list of (line bytes or None for an overflowed line)."""
        out = []  # type: list
        start = 0
        n = len(data)
        while start < n:
            end = data.find(b"\n", start) if isinstance(data, (bytes, bytearray)) else bytes(data).find(b"\n", start)
            chunk_end = n if end < 0 else end
            if not self._dropping:
                if len(self._buf) + (chunk_end - start) > self.max_line:
                    self._dropping = True
                    self._buf = bytearray()
                else:
                    self._buf.extend(data[start:chunk_end])
            if end < 0:
                break
            if self._dropping:
                out.append(None)
                self._dropping = False
            else:
                line = bytes(self._buf)
                if line and line[-1] == _CR:
                    line = line[:-1]
                out.append(line)
            self._buf = bytearray()
            start = end + 1
        return out

    def pending(self):
        """Bytes of the incomplete line held so far."""
        return len(self._buf)

    def reset(self):
        """Forget any partial line (e.g. after the host reconnects)."""
        self._buf = bytearray()
        self._dropping = False
