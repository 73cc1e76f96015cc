"""Fuzzing the firmware credential verifiers with mutated valid inputs.

vitale.cred.vqr.verify, vitale.cred.mdoc.verify / verify_container, trust.parse_trust_list,
status.parse (+ lookups): whatever the mutation, the only exception is a Refusal with a
documented code. A second set compares the firmware's code with the host reference
verifier's on the same mutated input (mutations inside the document-signer certificate
are left out there: `cryptography` and the firmware's strict DER parser classify some
broken certificates differently, malformed vs untrusted_issuer; both refuse).
"""

from __future__ import annotations

import dataclasses
import random

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from test_fuzz_codecs import mutate
from vitale.cred import mdoc, status, trust, vqr
from vitale.cred.policy import Policy
from vitale.cred.result import REFUSALS, Refusal
from vitale_host.models import REFUSAL_CODES
from vitale_host.verify import base45_decode
from vitale_tools.authority import base45_encode, der
from vitale_tools.cred_cases import CredCase, World, build_cases, host_result, outcome

WORLD = World.make()
CASES = {c.name: c for c in build_cases(WORLD)}
TRUST = trust.Trust.load(WORLD.trust_list, WORLD.pinned, WORLD.status_list)
DS_DER = der(WORLD.ds)
MDOC_VALID = ("mdoc_valid_signature", "mdoc_valid_mac", "mdoc_valid_billing_profile")
SEEDS = st.integers(min_value=0, max_value=2 ** 32 - 1)


def _fw(case: CredCase) -> tuple[str | None, object]:
    """The firmware's outcome; any exception other than a documented Refusal fails the test."""
    try:
        if case.kind == "vqr":
            v = vqr.verify(case.data, TRUST, Policy(**case.policy), case.now, vqr.ReplayCache())
        else:
            v = mdoc.verify_container(case.data, TRUST, Policy(**case.policy), case.now)
    except Refusal as e:
        assert e.code in REFUSAL_CODES and e.code in REFUSALS, e.code
        return e.code, None
    return None, v.fields


def _vqr_mutant(rng: random.Random) -> CredCase:
    case = CASES[rng.choice(("vqr_valid", "vqr_valid_uncompressed_cnf"))]
    text = case.data.decode()
    if rng.random() < 0.25:  # the text itself (prefix, alphabet, length)
        data = mutate(rng, text.encode())
    else:  # the CBOR inside, re-encoded so the mutation reaches the parsers behind base45
        data = b"VQR1:" + base45_encode(mutate(rng, base45_decode(text[5:]))).encode()
    return dataclasses.replace(case, data=data)


def _mdoc_mutant(rng: random.Random) -> CredCase:
    case = CASES[rng.choice(MDOC_VALID)]
    if rng.random() < 0.1:
        return dataclasses.replace(case, data=mutate(rng, case.data))
    cont = cbor2.loads(case.data)
    key = rng.choice(("deviceResponse",) * 6 + ("sessionTranscript", "itemsRequest", "eReaderKey"))
    if key in cont:
        cont[key] = mutate(rng, cont[key])
    return dataclasses.replace(case, data=cbor2.dumps(cont))


@settings(max_examples=900, deadline=None)
@given(SEEDS)
def test_vqr_mutations_only_refuse(seed: int) -> None:
    _fw(_vqr_mutant(random.Random(seed)))


@settings(max_examples=1100, deadline=None)
@given(SEEDS)
def test_mdoc_mutations_only_refuse(seed: int) -> None:
    rng = random.Random(seed)
    _fw(_mdoc_mutant(rng))
    # the raw entry point, with odd session transcripts and reader keys
    case = CASES[rng.choice(MDOC_VALID)]
    cont = cbor2.loads(case.data)
    try:
        mdoc.verify(mutate(rng, cont["deviceResponse"]), mutate(rng, cont["sessionTranscript"]), TRUST, None,
                    case.now, e_reader_key=rng.choice((None, b"", bytes(32), b"\xff" * 32, mutate(rng, bytes(32)))))
    except Refusal as e:
        assert e.code in REFUSAL_CODES


@settings(max_examples=500, deadline=None)
@given(SEEDS)
def test_list_mutations_only_refuse(seed: int) -> None:
    rng = random.Random(seed)
    tl = trust.parse_trust_list(WORLD.trust_list, WORLD.pinned)
    try:
        trust.parse_trust_list(mutate(rng, WORLD.trust_list), WORLD.pinned, (tl.seq, tl.payload_hash))
    except Refusal as e:
        assert e.code in REFUSAL_CODES
    try:
        sl = status.parse(status.BytesSource(mutate(rng, WORLD.status_list)), tl.status_signer)
    except Refusal as e:
        assert e.code in REFUSAL_CODES
        return
    for _ in range(20):
        try:
            sl.is_revoked(rng.randrange(sl.size + 2))
        except Refusal as e:
            assert e.code == "stale_status_list"


@settings(max_examples=350, deadline=None)
@given(SEEDS)
def test_mutations_get_the_host_verifiers_code(seed: int) -> None:
    rng = random.Random(seed)
    case = _vqr_mutant(rng) if rng.random() < 0.4 else _mdoc_mutant(rng)
    if case.kind == "mdoc" and DS_DER not in case.data:
        return  # the certificate itself was mutated (see the module notes)
    code, card = _fw(case)
    host = host_result(case)
    assert code == outcome(host), (case.name, code, host)
    if code is None:
        assert card == host.card.to_dict()  # type: ignore[union-attr]
