"""Power-loss-safe files on the device's flash.

Each stored file is framed as::

    b"VST1" | length (4 bytes, big-endian) | SHA-256(payload)[:8] | payload

A write goes to ``NAME.tmp`` (flushed and synced), then the current good copy
becomes ``NAME.bak`` and the temporary is renamed to ``NAME``. A read takes the
first copy whose frame checks out, in the order NAME, NAME.tmp, NAME.bak, so a
power cut at any step leaves either the old or the new content readable —
never a torn or half-old-half-new file. ``recover`` tidies the leftovers.

The filesystem is reached through an object with ``open``, ``rename``,
``remove`` and ``sync`` (the module ``os`` plus ``open`` by default), so tests
can cut the power at every step.
"""

import hashlib

from vitale.compat import const

_MAGIC = b"VST1"
_HEADER = const(16)
MAX_FILE = const(4 * 1024 * 1024)


class StoreError(ValueError):
    """A stored file is missing or no copy of it is intact."""


class OsFs:
    """The device's real filesystem."""

    def __init__(self):
        import os

        self._os = os

    def open(self, path, mode):
        return open(path, mode)

    def rename(self, a, b):
        self._os.rename(a, b)

    def remove(self, path):
        self._os.remove(path)

    def mkdir(self, path):
        self._os.mkdir(path)

    def sync(self):
        # os.sync flushes littlefs/FAT caches on MicroPython; CPython's forces
        # dirty pages out. Missing on some ports: flush+close then suffices.
        s = getattr(self._os, "sync", None)
        if s is not None:
            s()


def frame(payload):
    """The framed bytes stored for payload."""
    n = len(payload)
    return _MAGIC + n.to_bytes(4, "big") + hashlib.sha256(payload).digest()[:8] + payload


def unframe(data):
    """The payload of framed data, or None when the frame is torn or corrupt."""
    if data is None or len(data) < _HEADER or data[:4] != _MAGIC:
        return None
    n = int.from_bytes(data[4:8], "big")
    if n != len(data) - _HEADER:
        return None
    payload = bytes(data[_HEADER:])
    if hashlib.sha256(payload).digest()[:8] != data[8:16]:
        return None
    return payload


class Store:
    """Atomic named files under one folder."""

    def __init__(self, root, fs=None):
        self.root = root.rstrip("/")
        self.fs = fs if fs is not None else OsFs()
        try:
            self.fs.mkdir(self.root)
        except OSError:
            pass  # exists

    def _path(self, name, suffix=""):
        if not name or "/" in name or name.startswith("."):
            raise StoreError("bad file name")
        return self.root + "/" + name + suffix

    def _read_raw(self, path):
        try:
            with self.fs.open(path, "rb") as f:
                data = f.read(MAX_FILE + _HEADER + 1)
        except OSError:
            return None
        return data

    def _remove(self, path):
        try:
            self.fs.remove(path)
        except OSError:
            pass

    def write(self, name, payload):
        """Replace file `name` with payload; the old content stays readable until the new is complete."""
        if len(payload) > MAX_FILE:
            raise StoreError("file too large")
        main = self._path(name)
        tmp = main + ".tmp"
        bak = main + ".bak"
        with self.fs.open(tmp, "wb") as f:
            f.write(frame(payload))
            if hasattr(f, "flush"):
                f.flush()
        self.fs.sync()
        if unframe(self._read_raw(main)) is not None:
            self._remove(bak)
            self.fs.rename(main, bak)
        else:
            self._remove(main)
        self.fs.rename(tmp, main)
        self.fs.sync()

    def read(self, name):
        """The newest intact content of `name`; raises StoreError when there is none."""
        main = self._path(name)
        for path in (main, main + ".tmp", main + ".bak"):
            payload = unframe(self._read_raw(path))
            if payload is not None:
                return payload
        raise StoreError("no intact copy of " + name)

    def get(self, name, default=None):
        """Like read, but returns default when there is no intact copy."""
        try:
            return self.read(name)
        except StoreError:
            return default

    def recover(self, name):
        """Finish or undo an interrupted write of `name` so one intact main copy remains."""
        main = self._path(name)
        tmp = main + ".tmp"
        if unframe(self._read_raw(main)) is not None:
            self._remove(tmp)
            return
        if unframe(self._read_raw(tmp)) is not None:
            self._remove(main)
            self.fs.rename(tmp, main)
            self.fs.sync()
            return
        self._remove(tmp)

    def delete(self, name):
        """Remove every copy of `name`."""
        main = self._path(name)
        for path in (main, main + ".tmp", main + ".bak"):
            self._remove(path)
