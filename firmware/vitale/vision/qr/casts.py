"""Viper pointer casts for the QR hot modules, and their plain fallback.

Inside a viper function ptr8/ptr16/ptr32 are compiler casts whatever these
names are bound to. Where the hot modules run as plain bytecode (CPython,
the WebAssembly VM) the casts are the identity: the buffers reaching the hot
loops are then unsigned bytearrays or array('H')/array('i') and are indexed
directly, which is much faster than compat's wrapper objects. The decoder
copies a signed camera memoryview into a bytearray once per frame in that case.
"""

from vitale.compat import HAS_NATIVE_EMITTER

if HAS_NATIVE_EMITTER:
    from vitale.compat import ptr8, ptr16, ptr32  # noqa: F401
else:

    def ptr8(buf):
        """Identity: buffers here are already indexable as unsigned elements."""
        return buf

    ptr16 = ptr8
    ptr32 = ptr8
