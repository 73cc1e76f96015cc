"""Cryptography for the reader: P-256, AES-GCM, HMAC/HKDF, COSE, X.509 subset."""


class CryptoError(ValueError):
    """A cryptographic operation refused its input (bad key, point, tag, ...)."""
