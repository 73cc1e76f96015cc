"""Power-loss-safe files on the device's flash.

Each stored file is framed as::

    b"VST1" | length (4 bytes, big-endian) | SHA-256(payload)[:8] | payload

A write goes to ``NAME.tmp`` (flushed and synced), then the current good copy
becomes ``NAME.bak`` and the temporary is renamed to ``NAME``. A read takes the
first copy whose frame checks out, in the order NAME, NAME.tmp, NAME.bak, so a
power cut at any step leaves either the old or the new content readable —
never a torn or half-old-half-new file. ``recover`` tidies the leftovers.

A file too large for the RAM is written in pieces: ``w = store.writer(name,
total)``; ``w.write(piece)`` appends to ``NAME.tmp`` behind a placeholder
header (not a valid frame), ``w.commit()`` patches the header (length, hash of
everything written) in place, syncs and does the same rename dance;
``w.abort()`` drops the temporary. ``replace(staged, name)`` makes the intact
file ``staged`` the new ``name`` the same way (the old one kept as
``NAME.bak``), so a large file can be checked on flash before it is used.
Copies are checked by hashing them through a bounded window, never whole in RAM.

The filesystem is reached through an object with ``open``, ``rename``,
``remove`` and ``sync`` (the module ``os`` plus ``open`` by default), so tests
can cut the power at every step.
"""

import hashlib

from vitale.compat import const

_MAGIC = b"VST1"
_HEADER = const(16)
_WINDOW = const(1024)  # bytes hashed at once when a copy is checked on flash
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

    def path(self, name):
        """The path of the main copy of file `name`."""
        return self._path(name)

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

    def _length(self, path):
        """Payload length of the framed file at path when its frame checks out, else None (streamed)."""
        try:
            with self.fs.open(path, "rb") as f:
                head = f.read(_HEADER)
                if head is None or len(head) != _HEADER or head[:4] != _MAGIC:
                    return None
                n = int.from_bytes(head[4:8], "big")
                h = hashlib.sha256()
                got = 0
                buf = bytearray(_WINDOW)
                mv = memoryview(buf)
                while got <= n:
                    m = f.readinto(buf)
                    if not m:
                        break
                    h.update(buf if m == _WINDOW else mv[:m])  # no new view per full window
                    got += m
        except OSError:
            return None
        if got != n or h.digest()[:8] != head[8:16]:
            return None
        return n

    def _swap(self, main, new, intact=None):
        # the intact current copy becomes .bak, then the complete new file becomes main
        if intact is None:
            intact = self._length(main) is not None
        if intact:
            self._remove(main + ".bak")
            self.fs.rename(main, main + ".bak")
        else:
            self._remove(main)
        self.fs.rename(new, main)
        self.fs.sync()

    def write(self, name, payload):
        """Replace file `name` with payload; the old content stays readable until the new is complete."""
        if len(payload) > MAX_FILE:
            raise StoreError("file too large")
        main = self._path(name)
        tmp = main + ".tmp"
        with self.fs.open(tmp, "wb") as f:
            f.write(frame(payload))
            if hasattr(f, "flush"):
                f.flush()
        self.fs.sync()
        self._swap(main, tmp)

    def writer(self, name, total):
        """A Writer replacing file `name` with `total` bytes given in pieces (see the module notes)."""
        return Writer(self, name, total)

    def locate(self, name, main_only=False):
        """(path, payload length) of the newest intact copy of `name` (NAME, NAME.tmp, NAME.bak), or None.

        The payload starts 16 bytes into the file. main_only: consider NAME alone.
        """
        main = self._path(name)
        for path in ((main,) if main_only else (main, main + ".tmp", main + ".bak")):
            n = self._length(path)
            if n is not None:
                return path, n
        return None

    def replace(self, staged, name):
        """Make the intact main copy of file `staged` the new `name` (old kept as NAME.bak), power-loss safe."""
        src = self._path(staged)
        if self._length(src) is None:
            raise StoreError("no intact copy of " + staged)
        main = self._path(name)
        intact = self._length(main) is not None
        if intact:
            self._remove(main + ".tmp")
        else:
            self.recover(name)  # finish or undo an interrupted write of `name` first
            intact = self._length(main) is not None
        self._swap(main, src, intact)
        self._remove(src + ".bak")
        self._remove(src + ".tmp")

    def drop_backup(self, name):
        """Remove NAME.bak when the main copy of `name` is intact (frees flash before a large write)."""
        main = self._path(name)
        if self._length(main) is not None:
            self._remove(main + ".bak")

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
        if self._length(main) is not None:
            self._remove(tmp)
            return
        if self._length(tmp) is not None:
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


class Writer:
    """A streamed, power-loss-safe write of exactly `total` bytes to store file `name` (Store.writer)."""

    def __init__(self, store, name, total):
        if not 0 <= total <= MAX_FILE:
            raise StoreError("file too large")
        self.store = store
        self.total = total
        self.written = 0
        self._main = store._path(name)
        self._tmp = self._main + ".tmp"
        self._hash = hashlib.sha256()
        self._f = store.fs.open(self._tmp, "wb")
        try:
            self._f.write(bytes(_HEADER))  # placeholder: zeros are no frame until commit patches them
        except BaseException:
            self.abort()
            raise

    def write(self, data):
        """Append data (at most `total` bytes in all); StoreError past total or after commit/abort."""
        if self._f is None:
            raise StoreError("writer closed")
        if self.written + len(data) > self.total:
            raise StoreError("more than the announced total")
        try:
            self._f.write(data)
        except BaseException:
            self.abort()
            raise
        self._hash.update(data)
        self.written += len(data)

    def commit(self):
        """Patch the header, sync, and replace the file (the old one kept as NAME.bak)."""
        if self._f is None:
            raise StoreError("writer closed")
        if self.written != self.total:
            self.abort()
            raise StoreError("short write")
        f = self._f
        try:
            f.seek(0)
            f.write(_MAGIC + self.total.to_bytes(4, "big") + self._hash.digest()[:8])
            if hasattr(f, "flush"):
                f.flush()
            f.close()
        except BaseException:
            self.abort()
            raise
        self._f = None
        self.store.fs.sync()
        self.store._swap(self._main, self._tmp)

    def abort(self):
        """Close and remove the temporary; the stored file is untouched. Safe to call twice."""
        f = self._f
        self._f = None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
        self.store._remove(self._tmp)
