"""Device-signed results: every `card` event carries a COSE_Sign1 by the reader's own key.

  rk = ReaderKey(store)               loads "reader.key" from the Store, generating it on first use
  rk.public_key()                     65-byte SEC1 point (pinned by the host at provisioning)
  rk.kid                              first 8 bytes of SHA-256(public key)
  rk.sign_result(result, host_nonce, counter) -> {"cose": base64 text, "result": result}

The signed payload is the deterministic CBOR map
{"result": result, "nonce": host_nonce, "counter": counter, "reader": kid}; the COSE_Sign1
(ES256, tag 18) has protected header {1: -7, 4: kid}. The host trusts only the signed copy of
the result (docs/host-protocol.md, "Device-signed results").

The private key is generated on the device and never leaves it; it is not personal data, so
it is stored as is (framed, power-loss safe) in the Store.
"""

import binascii
import hashlib

from vitale.codec import cbor
from vitale.crypto import CryptoError, cose, p256
from vitale.store import StoreError

KEY_FILE = "reader.key"
_MIN_NONCE = 8
_MAX_NONCE = 64
_MAX_COUNTER = (1 << 63) - 1


class SigningError(ValueError):
    """The reader key or a value to sign is unusable."""


def kid_of(public_key):
    """Key id of a reader public key: first 8 bytes of SHA-256 of the 65-byte SEC1 point."""
    return hashlib.sha256(bytes(public_key)).digest()[:8]


def _b64(data):
    # b2a_base64 appends a newline (MicroPython's has no newline= on every port)
    return binascii.b2a_base64(data).strip().decode()


class ReaderKey:
    """The reader's P-256 signing key, kept in a Store under `name`."""

    def __init__(self, store, name=KEY_FILE):
        try:
            priv = store.read(name)
        except StoreError:
            priv = None
        if priv is None:
            # First use (or every copy lost): a new identity, to be pinned again by the host.
            priv, pub = p256.generate_keypair()
            store.write(name, priv)
        else:
            try:
                pub = p256.public_key(priv)
            except CryptoError as e:
                raise SigningError("stored reader key is unusable: " + str(e))
        self._priv = priv
        self._pub = pub
        self.kid = kid_of(pub)

    def public_key(self):
        """The 65-byte uncompressed SEC1 public key."""
        return self._pub

    def private_key(self):
        """The 32-byte private scalar, for the device's own signers (readerAuth, the CSR); never sent."""
        return self._priv

    def sign_result(self, result, host_nonce, session_counter):
        """Event fields {"cose", "result"} signing result for this host nonce and counter."""
        if not isinstance(result, dict):
            raise SigningError("result must be a dict")
        if not isinstance(host_nonce, (bytes, bytearray)) or not _MIN_NONCE <= len(host_nonce) <= _MAX_NONCE:
            raise SigningError("host nonce must be 8 to 64 bytes")
        if (not isinstance(session_counter, int) or session_counter is True or session_counter is False
                or not 0 < session_counter <= _MAX_COUNTER):
            raise SigningError("counter must be a positive integer")
        try:
            payload = cbor.dumps({"result": result, "nonce": bytes(host_nonce),
                                  "counter": session_counter, "reader": self.kid})
        except cbor.CborError as e:
            raise SigningError("result is not encodable: " + e.reason)
        msg = cose.Sign1.create(self._priv, payload, protected={cose.HDR_KID: self.kid}, tagged=True)
        return {"cose": _b64(msg.encode()), "result": result}


class SignedSession:
    """Signs the results of one host session: its nonce, and a counter that starts at 1."""

    def __init__(self, reader_key, host_nonce):
        self.key = reader_key
        self.nonce = bytes(host_nonce)
        self.counter = 0

    def sign(self, result):
        """Event fields for the next result of this session."""
        fields = self.key.sign_result(result, self.nonce, self.counter + 1)
        self.counter += 1
        return fields
