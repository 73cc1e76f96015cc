"""Encodings: CBOR, base45, DER."""
