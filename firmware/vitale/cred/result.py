"""What a read ends with: a verified card, or a refusal with a stable code.

Codes are part of the host protocol and never change meaning; the list and
when each applies is docs/refusal-codes.md.
"""

# code -> message shown to people
REFUSALS = {
    "malformed": "the credential could not be parsed",
    "unsupported_alg": "the credential uses an algorithm the reader does not accept",
    "bad_issuer_signature": "the issuer's signature does not verify",
    "untrusted_issuer": "the issuer is not in the reader's trust list",
    "expired": "the credential or its issuer certificate has expired",
    "not_yet_valid": "the credential or its issuer certificate is not valid yet",
    "digest_mismatch": "a data element does not match what the issuer signed",
    "wrong_doctype": "the document is not the requested type",
    "device_auth_failed": "the phone did not prove it holds the credential's key",
    "revoked": "the credential has been revoked",
    "stale_status_list": "the reader's revocation list is too old",
    "no_status_list": "the reader has no revocation list",
    "qr_expired": "the QR code is too old: ask the patient to show it again",
    "replayed": "this QR code presentation was already used",
    "clock_unset": "the reader's clock has not been set by the host",
    "bad_nir_key": "the NIR's control key is wrong",
    "missing_element": "a data element the profile needs is missing",
    "card_removed": "the phone was moved away before the read finished",
    "consent_denied": "the patient declined to share the card",
    "reader_not_trusted": "the phone refused this reader's certificate",
    "mdoc_error": "the phone reported an error",
    "not_a_credential": "the code shown is not a health card",
    "timeout": "no card was presented in time",
    "cancelled": "the read was cancelled",
    "nfc_error": "the NFC exchange failed",
    "internal": "the reader hit an internal error",
    # codes of docs/refusal-codes.md not in the first list
    "qr_not_yet_valid": "the QR code's time is ahead of the reader's clock",
    "invalid_element": "a data element breaks the card profile",
    "not_requested": "the phone returned an element that was not requested",
    "no_document": "the phone returned no document",
    "bad_list_signature": "the trust or status list is not signed by the pinned key",
    "rollback": "the trust or status list is older than the one in use",
}


class Refusal(Exception):
    """A credential was refused; `code` is one of REFUSALS."""

    def __init__(self, code, detail=""):
        if code not in REFUSALS:
            detail = "unknown code " + str(code) + (": " + detail if detail else "")
            code = "internal"
        super().__init__(code)
        self.code = code
        self.detail = detail

    @property
    def message(self):
        """The human message for the code, with the detail when there is one."""
        m = REFUSALS[self.code]
        return m + " (" + self.detail + ")" if self.detail else m

    def to_dict(self):
        """The refusal as the host protocol sends it."""
        return {"refused": self.code, "message": self.message}


class VerifiedCard:
    """A card whose every signature checked out.

    fields        dict: element identifier -> value (only signed elements)
    channel       "nfc" or "qr"
    doc_type      the document type
    issuer        the document signer's subject or kid (str)
    valid_from, valid_until, signed   seconds since 1970
    status_index  the credential's index in the status list (or None)
    status_list_age  seconds since the status list was issued (or None)
    device_auth   "signature", "mac" (mdoc) or "presentation" (VQR)
    elements      dict: namespace -> element identifier -> value (JSON-able), all signed elements
    kid           hex of the first 8 bytes of SHA-256(DS certificate)
    presented_at  VQR presentation time (or None)
    errors        mdoc only: the Document's unsigned `errors` as the phone sent them
                  ({namespace: {element: error code}}: elements it did not return), or {}

    For the health card (`org.vitale-reader.hic.1`) `fields` is the checked card
    (dates "YYYY-MM-DD", amo_rights [{"start", "end"}], amc {"org", ...}); for
    other document types it is the elements of every namespace, keyed
    "namespace/element" when an identifier occurs in two namespaces.
    """

    def __init__(self, fields, channel, doc_type, issuer, valid_from, valid_until, signed,
                 status_index=None, status_list_age=None, device_auth="", elements=None, kid="",
                 presented_at=None, errors=None):
        self.fields = fields
        self.channel = channel
        self.doc_type = doc_type
        self.issuer = issuer
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.signed = signed
        self.status_index = status_index
        self.status_list_age = status_list_age
        self.device_auth = device_auth
        self.elements = elements if elements is not None else {}
        self.kid = kid
        self.presented_at = presented_at
        self.errors = errors if errors is not None else {}

    def to_dict(self):
        """The card as the host protocol sends it."""
        return {
            "fields": self.fields,
            "channel": self.channel,
            "doc_type": self.doc_type,
            "issuer": self.issuer,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "signed": self.signed,
            "status_index": self.status_index,
            "status_list_age": self.status_list_age,
            "device_auth": self.device_auth,
            "elements": self.elements,
            "kid": self.kid,
            "presented_at": self.presented_at,
            "errors": self.errors,
        }
