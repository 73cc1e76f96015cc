"""The credential cases: each makes one credential (or list) and says which refusal code it must get.

One table for every verifier: the host reference verifier runs it in
`tests/cred_host/`, the firmware verifier runs the SAME cases (in-process via
`build_cases()`, or from the corpus written by `write_cases(DIR)` /
`vitale-sim authority cases DIR`) so both can be compared case by case.

A case is a `CredCase`: `kind` is "mdoc" (data = verify container CBOR),
"vqr" (data = the `VQR1:` text as ASCII), "trust_list" or "status_list"
(data = the candidate list file, checked against `trust_current` /
`status_current`); `expected` is the refusal code, or None for acceptance
(then `expected_card` is the card JSON the verifier must return).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

from vitale_host.models import DOC_TYPE, NAMESPACE, PROFILES, HealthCard, Refusal, Verification
from vitale_host.verify import (
    Policy, ReplayCache, Refused, TrustStore, load_status_list, load_trust_list,
    public_key_from_sec1, tag24, verify_bytes, vqr_presentation_tbs,
)

from . import mdoc_holder as mh
from .authority import (
    DAY, MdocParams, PrivateKey, VqrParams, cose_sign1, der, es256_sign, make_ca_cert,
    make_issuer_signed, make_leaf_cert, make_status_list, make_trust_list, make_vqr_issuer, mdoc_elements,
    new_key, present, sec1, status_payload, vqr_card_claim,
)
from .patients import typical_card

NOW = 1803981600  # 2027-03-01T10:00:00Z: every case carries its own reader time
TRUST_SEQ = 5
STATUS_SEQ = 5
INDEX = 3
REVOKED_INDEX = 7
STATUS_SIZE = 1 << 16


@dataclass
class CredCase:
    """One verifier input and the outcome every verifier must report."""

    name: str
    kind: str                         # "mdoc", "vqr", "trust_list", "status_list"
    expected: str | None              # refusal code; None = accepted
    data: bytes
    now: int | None
    trust_list: bytes
    pinned_key: bytes                 # SEC1 uncompressed trust-list key
    status_list: bytes | None
    policy: dict[str, Any] = field(default_factory=dict)
    replay: list[tuple[str, int]] = field(default_factory=list)    # (cti hex, presented_at) already accepted
    trust_current: tuple[int, str] | None = None                   # (seq, payload SHA-256 hex) in use
    status_current: tuple[int, str] | None = None
    expected_card: dict[str, Any] | None = None
    note: str = ""


@dataclass
class World:
    """The trusted setup the cases share, plus an untrusted look-alike."""

    iaca_key: PrivateKey
    ds_key: PrivateKey
    trust_key: PrivateKey
    status_key: PrivateKey
    device_key: PrivateKey
    card: HealthCard
    iaca: Any
    ds: Any
    trust_list: bytes
    status_list: bytes
    revoked: list[int]

    @classmethod
    def make(cls) -> World:
        """Fresh keys and certificates, a trust list (seq 5) and a status list (seq 5, index 7 revoked)."""
        iaca_key, ds_key, trust_key, status_key = new_key(), new_key(), new_key(), new_key()
        iaca = make_ca_cert(iaca_key, "Case IACA", NOW - 400 * DAY, NOW + 3000 * DAY)
        ds = make_leaf_cert(ds_key.public_key(), iaca_key, iaca, "Case DS", NOW - 100 * DAY, NOW + 300 * DAY)
        revoked = [REVOKED_INDEX, 40000]
        w = cls(iaca_key, ds_key, trust_key, status_key, new_key(), typical_card(), iaca, ds, b"", b"", revoked)
        w.trust_list = w.make_trust_list(TRUST_SEQ)
        w.status_list = w.make_status_list(STATUS_SEQ, NOW - 3600)
        return w

    @property
    def pinned(self) -> bytes:
        """The trust-list key as a reader pins it."""
        return sec1(self.trust_key.public_key())

    def make_trust_list(self, seq: int, dss: list[bytes] | None = None, key: PrivateKey | None = None,
                        iacas: list[bytes] | None = None) -> bytes:
        """A trust list signed by the pinned key (or `key`)."""
        return make_trust_list(key or self.trust_key, seq, NOW - 7200, iacas or [der(self.iaca)],
                               dss if dss is not None else [der(self.ds)], self.status_key.public_key(), [], [])

    def make_status_list(self, seq: int, issued_at: int, key: PrivateKey | None = None) -> bytes:
        """A status list with `revoked`."""
        return make_status_list(key or self.status_key, self.revoked, STATUS_SIZE, seq, issued_at, issued_at + DAY)

    def mdoc(self, **overrides: Any) -> MdocParams:
        """MdocParams of a valid credential, with overrides."""
        p = MdocParams(mdoc_elements(self.card), self.device_key.public_key(), self.ds_key, self.ds,
                       NOW - 10 * DAY, NOW - 10 * DAY, NOW + 300 * DAY, INDEX)
        return dataclasses.replace(p, **overrides)

    def vqr(self, **overrides: Any) -> VqrParams:
        """VqrParams of a valid credential, with overrides."""
        p = VqrParams(vqr_card_claim(self.card), self.device_key.public_key(), self.ds_key, self.ds,
                      NOW - 10 * DAY, NOW + 300 * DAY, bytes(range(8)), INDEX)
        return dataclasses.replace(p, **overrides)

    def case(self, name: str, kind: str, expected: str | None, data: bytes, **kw: Any) -> CredCase:
        """A case in this world (trust and status lists as made, reader time NOW unless given)."""
        kw.setdefault("now", NOW)
        kw.setdefault("status_list", self.status_list)
        kw.setdefault("trust_list", self.trust_list)
        return CredCase(name, kind, expected, data, pinned_key=self.pinned, **kw)


def _container(issuer_signed: bytes, device_key: PrivateKey, *, mac: bool = False,
               transcript_for_device: bytes | None = None, requested: dict[str, Any] | None = None,
               items_request: bytes | None = None, **kw: Any) -> bytes:
    """A verify container: the phone answers a fresh session (or signs over another transcript)."""
    s = mh.new_session()
    dr = mh.build_device_response(issuer_signed, device_key, transcript_for_device or s.transcript,
                                  requested=requested, mac_reader_pub=s.e_reader_key.public_key() if mac else None,
                                  **kw)
    return mh.make_container(dr, s.transcript, s.e_reader_scalar if mac else None, items_request)


def _edit_first_item(issuer_signed: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """IssuerSigned with its first IssuerSignedItem decoded, edited and re-encoded (digest not updated)."""
    isd = cbor2.loads(issuer_signed)
    items = isd["nameSpaces"][NAMESPACE]
    item = cbor2.loads(items[0].value)
    edit(item)
    items[0] = cbor2.CBORTag(24, cbor2.dumps(item))
    return bytes(cbor2.dumps(isd))


def _edit_mso(issuer_signed: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """IssuerSigned whose MSO is edited but NOT re-signed."""
    isd = cbor2.loads(issuer_signed)
    auth = isd["issuerAuth"]
    mso = cbor2.loads(cbor2.loads(auth[2]).value)
    edit(mso)
    auth[2] = cbor2.dumps(cbor2.CBORTag(24, cbor2.dumps(mso)))
    return bytes(cbor2.dumps(isd))


def _other_chain() -> tuple[PrivateKey, Any, Any]:
    """A complete, valid, but untrusted IACA -> DS chain with the same names as the trusted one."""
    k_iaca, k_ds = new_key(), new_key()
    iaca = make_ca_cert(k_iaca, "Case IACA", NOW - 400 * DAY, NOW + 3000 * DAY)
    ds = make_leaf_cert(k_ds.public_key(), k_iaca, iaca, "Case DS", NOW - 100 * DAY, NOW + 300 * DAY)
    return k_ds, iaca, ds


def _mdoc_cases(w: World) -> list[CredCase]:
    good = make_issuer_signed(w.mdoc())
    card = w.card.to_dict()
    c: list[CredCase] = []
    add = c.append
    dk = w.device_key
    add(w.case("mdoc_valid_signature", "mdoc", None, _container(good, dk), expected_card=card))
    add(w.case("mdoc_valid_mac", "mdoc", None, _container(good, dk, mac=True), expected_card=card))
    billing = {NAMESPACE: list(PROFILES["billing"])}
    req = mh.items_request_bytes(DOC_TYPE, billing, True)
    add(w.case("mdoc_valid_billing_profile", "mdoc", None,
               _container(good, dk, requested=billing, items_request=req),
               policy={"profile": "billing", "doc_type": DOC_TYPE},
               expected_card={k: v for k, v in card.items() if k in PROFILES["billing"]}))

    def tamper(item: dict[str, Any]) -> None:
        item["elementValue"] = "X" + str(item["elementValue"]) if isinstance(item["elementValue"], str) else 99
    add(w.case("mdoc_tampered_element", "mdoc", "digest_mismatch", _container(_edit_first_item(good, tamper), dk)))

    def bump_digest(mso: dict[str, Any]) -> None:
        d = mso["valueDigests"][NAMESPACE]
        d[0] = bytes([d[0][0] ^ 1]) + d[0][1:]
    add(w.case("mdoc_changed_digest", "mdoc", "bad_issuer_signature", _container(_edit_mso(good, bump_digest), dk)))
    add(w.case("mdoc_mso_signed_by_unknown_key", "mdoc", "bad_issuer_signature",
               _container(make_issuer_signed(w.mdoc(ds_key=new_key())), dk),
               note="x5chain names the trusted DS, the signature is by another key"))
    k_ds, _, other_ds = _other_chain()
    add(w.case("mdoc_untrusted_chain", "mdoc", "untrusted_issuer",
               _container(make_issuer_signed(w.mdoc(ds_key=k_ds, ds_cert=other_ds)), dk)))
    no_eku = make_leaf_cert(w.ds_key.public_key(), w.iaca_key, w.iaca, "Case DS", NOW - 100 * DAY,
                            NOW + 300 * DAY, eku=None)
    add(w.case("mdoc_ds_without_eku", "mdoc", "untrusted_issuer",
               _container(make_issuer_signed(w.mdoc(ds_cert=no_eku)), dk)))
    old_ds = make_leaf_cert(w.ds_key.public_key(), w.iaca_key, w.iaca, "Case DS", NOW - 400 * DAY, NOW - DAY)
    add(w.case("mdoc_expired_certificate", "mdoc", "expired",
               _container(make_issuer_signed(w.mdoc(ds_cert=old_ds, signed=NOW - 10 * DAY)), dk)))
    new_ds = make_leaf_cert(w.ds_key.public_key(), w.iaca_key, w.iaca, "Case DS", NOW + DAY, NOW + 400 * DAY)
    add(w.case("mdoc_certificate_not_yet_valid", "mdoc", "not_yet_valid",
               _container(make_issuer_signed(w.mdoc(ds_cert=new_ds, signed=NOW + 2 * DAY)), dk)))
    add(w.case("mdoc_expired_mso", "mdoc", "expired",
               _container(make_issuer_signed(w.mdoc(valid_until=NOW - 60)), dk)))
    add(w.case("mdoc_mso_not_yet_valid", "mdoc", "not_yet_valid",
               _container(make_issuer_signed(w.mdoc(valid_from=NOW + 60)), dk)))
    add(w.case("mdoc_signed_outside_ds_validity", "mdoc", "untrusted_issuer",
               _container(make_issuer_signed(w.mdoc(signed=NOW - 200 * DAY)), dk)))
    add(w.case("mdoc_wrong_doctype", "mdoc", "wrong_doctype",
               _container(good, dk, doc_type="org.iso.18013.5.1.mDL"),
               note="Document.docType differs from the MSO docType"))
    add(w.case("mdoc_not_the_requested_doctype", "mdoc", "wrong_doctype", _container(good, dk),
               policy={"doc_type": "org.iso.18013.5.1.mDL"}))
    add(w.case("mdoc_revoked", "mdoc", "revoked",
               _container(make_issuer_signed(w.mdoc(status_index=REVOKED_INDEX)), dk)))
    add(w.case("mdoc_device_signature_other_transcript", "mdoc", "device_auth_failed",
               _container(good, dk, transcript_for_device=mh.new_session().transcript)))
    add(w.case("mdoc_device_signature_wrong_key", "mdoc", "device_auth_failed", _container(good, new_key())))
    add(w.case("mdoc_device_mac_wrong_key", "mdoc", "device_auth_failed", _container(good, new_key(), mac=True)))
    add(w.case("mdoc_issuer_alg_es384", "mdoc", "unsupported_alg",
               _container(make_issuer_signed(w.mdoc(protected={1: -35})), dk)))
    add(w.case("mdoc_device_alg_eddsa", "mdoc", "unsupported_alg", _container(good, dk, device_protected={1: -8})))
    add(w.case("mdoc_digest_sha512", "mdoc", "unsupported_alg",
               _container(make_issuer_signed(w.mdoc(digest_algorithm="SHA-512")), dk)))
    add(w.case("mdoc_clock_unset", "mdoc", "clock_unset", _container(good, dk), now=None))
    add(w.case("mdoc_stale_status_list", "mdoc", "stale_status_list", _container(good, dk),
               status_list=w.make_status_list(STATUS_SEQ, NOW - 73 * 3600)))
    add(w.case("mdoc_no_status_list", "mdoc", "stale_status_list", _container(good, dk), status_list=None))
    add(w.case("mdoc_status_list_bad_signature", "mdoc", "stale_status_list", _container(good, dk),
               status_list=w.make_status_list(STATUS_SEQ, NOW - 3600, key=new_key())))
    add(w.case("mdoc_index_beyond_status_list", "mdoc", "stale_status_list",
               _container(make_issuer_signed(w.mdoc(status_index=STATUS_SIZE + 5)), dk)))
    add(w.case("mdoc_no_status_index", "mdoc", "malformed",
               _container(make_issuer_signed(w.mdoc(status_index=None)), dk)))
    bad_key = dict(mdoc_elements(w.card), nir_key=(w.card.nir_key or 0) % 97 + 1)
    add(w.case("mdoc_bad_nir_key", "mdoc", "invalid_element",
               _container(make_issuer_signed(w.mdoc(elements=bad_key)), dk)))
    only_nir = {NAMESPACE: ["nir"]}
    add(w.case("mdoc_missing_element", "mdoc", "missing_element", _container(good, dk, requested=only_nir),
               policy={"profile": "billing"}))
    add(w.case("mdoc_not_requested", "mdoc", "not_requested",
               _container(good, dk, items_request=mh.items_request_bytes(DOC_TYPE, only_nir))))
    add(w.case("mdoc_device_signed_elements", "mdoc", "not_requested",
               _container(good, dk, device_namespaces=tag24(cbor2.dumps({NAMESPACE: {"nir": "1"}})))))
    add(w.case("mdoc_trailing_bytes", "mdoc", "malformed", _container(good, dk) + b"\x00"))
    empty = cbor2.dumps({"version": "1.0", "status": 10})
    add(w.case("mdoc_no_document", "mdoc", "no_document",
               mh.make_container(empty, mh.new_session().transcript)))
    isd = cbor2.loads(good)
    isd["nameSpaces"][NAMESPACE].append(isd["nameSpaces"][NAMESPACE][0])
    add(w.case("mdoc_repeated_digest_id", "mdoc", "digest_mismatch", _container(cbor2.dumps(isd), dk)))
    isd = cbor2.loads(good)
    isd["nameSpaces"]["org.attacker"] = [isd["nameSpaces"][NAMESPACE][0]]
    add(w.case("mdoc_namespace_not_in_mso", "mdoc", "digest_mismatch", _container(cbor2.dumps(isd), dk),
               note="pymdoccbor accepts this one"))
    return c


def _vqr_text(w: World, p: VqrParams, at: int, key: PrivateKey | None = None,
              tbs_issuer: bytes | None = None) -> bytes:
    issuer = make_vqr_issuer(p)
    sig = None
    if tbs_issuer is not None:
        sig = es256_sign(key or w.device_key, vqr_presentation_tbs(at, tbs_issuer))
    return present(issuer, key or w.device_key, at, sig).encode()


def _vqr_cases(w: World) -> list[CredCase]:
    c: list[CredCase] = []
    add = c.append
    vqr_card = {k: v for k, v in w.card.to_dict().items() if k in PROFILES["billing"]}
    good = w.vqr()
    add(w.case("vqr_valid", "vqr", None, _vqr_text(w, good, NOW - 3), expected_card=vqr_card))
    add(w.case("vqr_valid_uncompressed_cnf", "vqr", None, _vqr_text(w, w.vqr(compressed_cnf=False), NOW),
               expected_card=vqr_card))
    add(w.case("vqr_valid_skew", "vqr", None, _vqr_text(w, good, NOW + 5), expected_card=vqr_card))
    add(w.case("vqr_stale", "vqr", "qr_expired", _vqr_text(w, good, NOW - 31)))
    add(w.case("vqr_from_the_future", "vqr", "qr_not_yet_valid", _vqr_text(w, good, NOW + 6)))
    add(w.case("vqr_replayed", "vqr", "replayed", _vqr_text(w, good, NOW - 2),
               replay=[(good.cti.hex(), NOW - 2)]))
    add(w.case("vqr_unknown_kid", "vqr", "untrusted_issuer",
               _vqr_text(w, w.vqr(protected={1: -7, 4: b"\x00" * 8}), NOW)))
    k_ds, _, other_ds = _other_chain()
    add(w.case("vqr_ds_listed_but_not_under_iaca", "vqr", "untrusted_issuer",
               _vqr_text(w, w.vqr(ds_key=k_ds, ds_cert=other_ds), NOW),
               trust_list=w.make_trust_list(TRUST_SEQ, [der(w.ds), der(other_ds)])))
    add(w.case("vqr_alg_es384", "vqr", "unsupported_alg",
               _vqr_text(w, w.vqr(protected={1: -35, 4: bytes.fromhex(_kid(w))}), NOW)))
    add(w.case("vqr_signed_by_unknown_key", "vqr", "bad_issuer_signature", _vqr_text(w, w.vqr(ds_key=new_key()), NOW)))
    add(w.case("vqr_wrong_device_key", "vqr", "device_auth_failed", _vqr_text(w, good, NOW, key=new_key())))
    add(w.case("vqr_presentation_of_other_credential", "vqr", "device_auth_failed",
               _vqr_text(w, good, NOW, tbs_issuer=make_vqr_issuer(w.vqr(cti=b"other-ct")))))
    add(w.case("vqr_expired", "vqr", "expired", _vqr_text(w, w.vqr(exp=NOW - 1), NOW)))
    add(w.case("vqr_not_yet_valid", "vqr", "not_yet_valid", _vqr_text(w, w.vqr(iat=NOW + 60), NOW)))
    old_ds = make_leaf_cert(w.ds_key.public_key(), w.iaca_key, w.iaca, "Case DS", NOW - 400 * DAY, NOW - DAY)
    add(w.case("vqr_expired_certificate", "vqr", "expired",
               _vqr_text(w, w.vqr(ds_cert=old_ds, iat=NOW - 10 * DAY), NOW),
               trust_list=w.make_trust_list(TRUST_SEQ, [der(old_ds)])))
    add(w.case("vqr_revoked", "vqr", "revoked", _vqr_text(w, w.vqr(status_index=REVOKED_INDEX), NOW)))
    add(w.case("vqr_stale_status_list", "vqr", "stale_status_list", _vqr_text(w, good, NOW),
               status_list=w.make_status_list(STATUS_SEQ, NOW - 73 * 3600)))
    add(w.case("vqr_clock_unset", "vqr", "clock_unset", _vqr_text(w, good, NOW), now=None))
    bad = {**vqr_card_claim(w.card), 2: (w.card.nir_key or 0) % 97 + 1}
    add(w.case("vqr_bad_nir_key", "vqr", "invalid_element", _vqr_text(w, w.vqr(card_claim=bad), NOW)))
    text = _vqr_text(w, good, NOW)
    add(w.case("vqr_bad_base45", "vqr", "malformed", text[:-1] + b"~"))
    add(w.case("vqr_wrong_prefix", "vqr", "malformed", b"VQR2:" + text[5:]))
    add(w.case("vqr_truncated", "vqr", "malformed", text[:-3]))
    return c


def _kid(w: World) -> str:
    return hashlib.sha256(der(w.ds)).digest()[:8].hex()


def _payload_hash(signed_list: bytes) -> str:
    return hashlib.sha256(cbor2.loads(signed_list)[2]).hexdigest()


def _list_cases(w: World) -> list[CredCase]:
    c: list[CredCase] = []
    add = c.append
    cur_t = (TRUST_SEQ, _payload_hash(w.trust_list))
    cur_s = (STATUS_SEQ, _payload_hash(w.status_list))
    add(w.case("trust_list_newer", "trust_list", None, w.make_trust_list(TRUST_SEQ + 1), trust_current=cur_t))
    add(w.case("trust_list_same", "trust_list", None, w.trust_list, trust_current=cur_t))
    add(w.case("trust_list_rollback", "trust_list", "rollback", w.make_trust_list(TRUST_SEQ - 1),
               trust_current=cur_t))
    add(w.case("trust_list_same_seq_other_content", "trust_list", "rollback",
               w.make_trust_list(TRUST_SEQ, dss=[]), trust_current=cur_t))
    add(w.case("trust_list_unpinned_key", "trust_list", "bad_list_signature",
               w.make_trust_list(TRUST_SEQ + 1, key=new_key()), trust_current=cur_t))
    payload = cbor2.loads(cbor2.loads(w.trust_list)[2])
    add(w.case("trust_list_alg_es384", "trust_list", "unsupported_alg",
               cose_sign1(w.trust_key, cbor2.dumps(payload), {1: -35}), trust_current=cur_t))
    add(w.case("trust_list_is_a_status_list", "trust_list", "malformed",
               make_status_list(w.trust_key, [], 256, TRUST_SEQ + 1, NOW, NOW + DAY), trust_current=cur_t))
    add(w.case("status_list_newer", "status_list", None, w.make_status_list(STATUS_SEQ + 1, NOW),
               status_current=cur_s))
    add(w.case("status_list_rollback", "status_list", "rollback", w.make_status_list(STATUS_SEQ - 1, NOW),
               status_current=cur_s))
    add(w.case("status_list_wrong_signer", "status_list", "bad_list_signature",
               w.make_status_list(STATUS_SEQ + 1, NOW, key=new_key()), status_current=cur_s))
    p = status_payload(w.revoked, STATUS_SIZE, STATUS_SEQ + 1, NOW, NOW + DAY)
    p[9] = p[9][:-8]
    add(w.case("status_list_bad_directory", "status_list", "malformed", cose_sign1(w.status_key, cbor2.dumps(p)),
               status_current=cur_s))
    p = status_payload(w.revoked, STATUS_SIZE, STATUS_SEQ + 1, NOW, NOW + DAY)
    p[6] = p[6] + 1
    add(w.case("status_list_bad_count", "status_list", "malformed", cose_sign1(w.status_key, cbor2.dumps(p)),
               status_current=cur_s))
    return c


def build_cases(world: World | None = None) -> list[CredCase]:
    """Every case, made fresh (new keys each call)."""
    w = world or World.make()
    return _mdoc_cases(w) + _vqr_cases(w) + _list_cases(w)


def _current(c: tuple[int, str] | None) -> tuple[int, bytes] | None:
    return None if c is None else (c[0], bytes.fromhex(c[1]))


def host_result(case: CredCase) -> Verification | Refusal | None:
    """Run a case through the host reference verifier: the Verification, the Refusal, or None (list accepted)."""
    pinned = public_key_from_sec1(case.pinned_key, "pinned key")
    try:
        if case.kind == "trust_list":
            load_trust_list(case.data, pinned, _current(case.trust_current))
            return None
        store = TrustStore.load(case.trust_list, pinned, case.status_list if case.kind != "status_list" else None)
        if case.kind == "status_list":
            if store.trust.status_signer is None:
                raise Refused("stale_status_list", "no status-list signer")
            load_status_list(case.data, store.trust.status_signer, _current(case.status_current))
            return None
        replay = ReplayCache({bytes.fromhex(h): t for h, t in case.replay})
        return verify_bytes(case.data, store, case.now, Policy(**case.policy), replay)
    except Refused as e:
        return e.refusal


def outcome(result: Verification | Refusal | None) -> str | None:
    """The refusal code of a result, or None when accepted."""
    return result.code if isinstance(result, Refusal) else None


def write_cases(out: Path, cases: list[CredCase] | None = None) -> int:
    """Write `manifest.json` (+ one data file per case) for verifiers that cannot import this module."""
    cases = cases if cases is not None else build_cases()
    out.mkdir(parents=True, exist_ok=True)
    shared: dict[str, str] = {}
    manifest = []
    for case in cases:
        d = dataclasses.asdict(case)
        fname = f"{case.name}.{'txt' if case.kind == 'vqr' else 'cbor'}"
        (out / fname).write_bytes(case.data)
        d["data"] = fname
        for key in ("trust_list", "status_list"):
            blob = d[key]
            if blob is not None:
                h = hashlib.sha256(blob).hexdigest()[:16]
                name = f"{key.replace('_', '-')}-{h}.cose"
                if name not in shared:
                    (out / name).write_bytes(blob)
                    shared[name] = name
                d[key] = name
        d["pinned_key"] = base64.b16encode(case.pinned_key).decode().lower()
        manifest.append(d)
    (out / "manifest.json").write_text(json.dumps({"cases": manifest}, indent=1) + "\n")
    return len(cases)


def load_cases(folder: Path) -> list[CredCase]:
    """Read back a corpus written by `write_cases`."""
    manifest = json.loads((folder / "manifest.json").read_text())
    cases = []
    for d in manifest["cases"]:
        d = dict(d)
        d["data"] = (folder / d["data"]).read_bytes()
        for key in ("trust_list", "status_list"):
            if d[key] is not None:
                d[key] = (folder / d[key]).read_bytes()
        d["pinned_key"] = bytes.fromhex(d["pinned_key"])
        d["replay"] = [tuple(r) for r in d["replay"]]
        for key in ("trust_current", "status_current"):
            if d[key] is not None:
                d[key] = tuple(d[key])
        cases.append(CredCase(**d))
    return cases


__all__ = ["CredCase", "World", "build_cases", "host_result", "load_cases", "outcome", "write_cases", "NOW"]
