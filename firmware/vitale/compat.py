"""Runtime differences between MicroPython (ESP32, WebAssembly VM) and CPython.

This is the only module that asks which runtime it is on. Everything else
imports the names below and stays runtime-agnostic.

Names:
  IS_MICROPYTHON, HAS_NATIVE_EMITTER
  micropython         the real module, or a stand-in with const/viper/native
  const(x)            compile-time constant on MicroPython, identity elsewhere
  ptr8/ptr16/ptr32    viper casts; plain-code fallbacks that index bytes/halves/words
  uint                viper type name
  ticks_ms, ticks_diff, ticks_add, sleep_ms
  random_bytes(n)     cryptographic randomness from the platform
  zlib_decompress(data, wbits) / DecompressError
  import_hot(name)    import a module with viper/native functions, falling back
                      to plain bytecode on a runtime without a native emitter
  modinv(a, m)        modular inverse of a mod a prime m
  mem_alloc()         bytes allocated on the heap (-1 when the runtime cannot tell)
"""

import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

if IS_MICROPYTHON:
    import micropython  # noqa: F401  (re-exported)
    from micropython import const  # noqa: F401
    import time as _time

    ticks_ms = _time.ticks_ms
    ticks_diff = _time.ticks_diff
    ticks_add = _time.ticks_add
    sleep_ms = _time.sleep_ms

    def ticks_us():
        """Microsecond tick counter (wraps like ticks_ms)."""
        return _time.ticks_us()

    import os as _os

    if hasattr(_os, "urandom"):

        def random_bytes(n):
            """n bytes from the platform's cryptographic generator."""
            return _os.urandom(n)

    else:
        # The WebAssembly port has no os.urandom; its host's Web Crypto is the
        # cryptographic source there.
        import js as _js

        def random_bytes(n):
            """n bytes from the host's Web Crypto generator."""
            a = _js.Uint8Array.new(n)
            _js.crypto.getRandomValues(a)
            return bytes(a[i] for i in range(n))

    import gc as _gc

    def mem_alloc():
        """Bytes currently allocated on the MicroPython heap."""
        return _gc.mem_alloc()

else:
    import os as _os
    import time as _time

    _PERIOD = 1 << 30  # MicroPython's ticks period on every port
    _HALF = _PERIOD >> 1

    class _MicroPythonStandIn:
        """What the firmware uses of the `micropython` module, for CPython."""

        @staticmethod
        def const(x):
            return x

        @staticmethod
        def viper(f):
            return f

        @staticmethod
        def native(f):
            return f

        @staticmethod
        def bytecode(f):
            return f

        @staticmethod
        def schedule(f, arg):
            f(arg)

    micropython = _MicroPythonStandIn()
    const = micropython.const

    def ticks_ms():
        """Millisecond tick counter, wrapping at 2**30 like MicroPython's."""
        return int(_time.monotonic() * 1000) & (_PERIOD - 1)

    def ticks_us():
        """Microsecond tick counter, wrapping at 2**30 like MicroPython's."""
        return int(_time.monotonic() * 1000000) & (_PERIOD - 1)

    def ticks_diff(a, b):
        """Signed difference a - b of two tick values, wrap-aware."""
        return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF

    def ticks_add(a, delta):
        """Tick value delta after a, wrap-aware."""
        return (a + delta) & (_PERIOD - 1)

    def sleep_ms(ms):
        """Sleep for ms milliseconds."""
        _time.sleep(ms / 1000)

    def random_bytes(n):
        """n bytes from the platform's cryptographic generator."""
        return _os.urandom(n)

    def mem_alloc():
        """Heap accounting is not available on CPython."""
        return -1


# Viper casts. Inside a viper function the compiler treats these names as
# casts whatever the globals say; these definitions serve the plain-code
# fallback (CPython, or a MicroPython without a native emitter) and the
# annotations CPython evaluates.
class _Ptr:
    """Plain-code stand-in for a viper pointer: indexes elements of a buffer."""

    __slots__ = ("_mv", "_size")

    def __init__(self, buf, size):
        self._mv = buf
        self._size = size

    def __getitem__(self, i):
        s = self._size
        mv = self._mv
        if s == 1:
            return mv[i] & 0xFF
        o = i * s
        v = 0
        for k in range(s - 1, -1, -1):
            v = (v << 8) | (mv[o + k] & 0xFF)
        return v

    def __setitem__(self, i, v):
        s = self._size
        mv = self._mv
        if s == 1:
            mv[i] = v & 0xFF
            return
        o = i * s
        for k in range(s):
            mv[o + k] = (v >> (8 * k)) & 0xFF


def ptr8(buf):
    """Byte view of buf; reads are unsigned even for signed ('b') memoryviews."""
    return _Ptr(buf, 1)


def ptr16(buf):
    """Little-endian 16-bit view of a byte buffer."""
    return _Ptr(buf, 2)


def ptr32(buf):
    """Little-endian 32-bit view of a byte buffer."""
    return _Ptr(buf, 4)


uint = int


def _probe_native():
    if not IS_MICROPYTHON:
        return False
    try:
        exec("@micropython.native\ndef _f():\n    pass\n")
        return True
    except SyntaxError:
        return False


HAS_NATIVE_EMITTER = _probe_native()


class _HotModule:
    """Namespace for a hot module loaded as plain bytecode."""

    def __init__(self, ns):
        for k in ns:
            setattr(self, k, ns[k])


def import_hot(name):
    """Import module `name` (dotted) whose functions use @micropython.viper/native.

    On a runtime with a native emitter (ESP32) or on CPython this is a plain
    import. The WebAssembly port has no native emitter and rejects those
    decorators at compile time; there the module's source is compiled as
    bytecode with the decorators removed, which is the documented plain
    fallback: the same functions, slower.
    """
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    try:
        mod = __import__(name)
        for part in name.split(".")[1:]:
            mod = getattr(mod, part)
        return mod
    except SyntaxError:
        if HAS_NATIVE_EMITTER:
            raise
    path = None
    for base in sys.path:
        cand = (base + "/" if base else "") + name.replace(".", "/") + ".py"
        try:
            open(cand).close()
            path = cand
            break
        except OSError:
            pass
    if path is None:
        raise ImportError("no source for hot module " + name)
    with open(path) as f:
        src = f.read()
    src = src.replace("@micropython.viper", "").replace("@micropython.native", "")
    ns = {"__name__": name}
    exec(src, ns)
    mod = _HotModule(ns)
    sys.modules[name] = mod
    return mod


if IS_MICROPYTHON:
    try:
        import deflate as _deflate
        import io as _io

        class DecompressError(ValueError):
            """Raised when compressed data is corrupt."""

        def zlib_decompress(data, wbits=15):
            """Decompress zlib (wbits 9..15) or raw deflate (wbits -9..-15) data."""
            fmt = _deflate.ZLIB if wbits > 0 else _deflate.RAW
            try:
                with _deflate.DeflateIO(_io.BytesIO(data), fmt, abs(wbits)) as d:
                    return d.read()
            except (OSError, ValueError, EOFError) as e:
                raise DecompressError(str(e))

    except ImportError:
        import zlib as _zlib

        DecompressError = ValueError

        def zlib_decompress(data, wbits=15):
            """Decompress zlib (wbits > 0) or raw deflate (wbits < 0) data."""
            try:
                return _zlib.decompress(data, wbits)
            except Exception as e:  # uzlib raises OSError/ValueError by port
                raise DecompressError(str(e))

    def modinv(a, m):
        """Inverse of a modulo prime m (Fermat: MicroPython pow has no -1 exponent)."""
        return pow(a, m - 2, m)

else:
    import zlib as _zlib

    class DecompressError(ValueError):
        """Raised when compressed data is corrupt."""

    def zlib_decompress(data, wbits=15):
        """Decompress zlib (wbits > 0) or raw deflate (wbits < 0) data."""
        try:
            return _zlib.decompress(data, wbits)
        except _zlib.error as e:
            raise DecompressError(str(e))

    def modinv(a, m):
        """Inverse of a modulo m."""
        return pow(a, -1, m)
