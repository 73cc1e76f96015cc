"""Every refusal code on the host: the shared case table (tools/vitale_tools/cred_cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitale_host.models import REFUSAL_CODES, Refusal, Verification
from vitale_tools.cred_cases import CredCase, World, build_cases, host_result, load_cases, outcome, write_cases

WORLD = World.make()
CASES = build_cases(WORLD)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_gets_its_code(case: CredCase) -> None:
    result = host_result(case)
    assert outcome(result) == case.expected, (case.name, result)
    if case.expected is None and case.kind in ("mdoc", "vqr"):
        assert isinstance(result, Verification)
        assert result.card is not None and result.card.to_dict() == case.expected_card
    if case.expected is not None:
        assert isinstance(result, Refusal) and result.message == REFUSAL_CODES[case.expected]


def test_every_refusal_code_has_a_case() -> None:
    covered = {c.expected for c in CASES}
    assert set(REFUSAL_CODES) <= covered, set(REFUSAL_CODES) - covered


def test_issue_acceptance_list_is_covered() -> None:
    """The failing credentials the issue names, each present with its code."""
    names = {c.name: c.expected for c in CASES}
    for name, code in {
        "mdoc_tampered_element": "digest_mismatch", "mdoc_changed_digest": "bad_issuer_signature",
        "mdoc_mso_signed_by_unknown_key": "bad_issuer_signature", "mdoc_expired_certificate": "expired",
        "mdoc_expired_mso": "expired", "mdoc_wrong_doctype": "wrong_doctype", "mdoc_revoked": "revoked",
        "mdoc_device_signature_other_transcript": "device_auth_failed", "vqr_stale": "qr_expired",
        "vqr_replayed": "replayed", "vqr_unknown_kid": "untrusted_issuer", "vqr_alg_es384": "unsupported_alg",
        "mdoc_issuer_alg_es384": "unsupported_alg", "trust_list_rollback": "rollback",
        "mdoc_clock_unset": "clock_unset", "mdoc_stale_status_list": "stale_status_list",
    }.items():
        assert names[name] == code


def test_the_valid_cases_turn_bad_with_one_change() -> None:
    """The accepted cases are not accepted by accident: the same input fails with a wrong clock or list."""
    for case in CASES:
        if case.expected is None and case.kind in ("mdoc", "vqr"):
            assert outcome(host_result(_with(case, now=None))) == "clock_unset"
            assert outcome(host_result(_with(case, status_list=None))) == "stale_status_list"
            later = (case.now or 0) + 400 * 86400
            assert outcome(host_result(_with(case, now=later))) == "expired"


def test_replay_cache_accepts_once() -> None:
    case = next(c for c in CASES if c.name == "vqr_valid")
    from vitale_host.verify import Policy, ReplayCache, TrustStore, public_key_from_sec1, verify_bytes

    store = TrustStore.load(case.trust_list, public_key_from_sec1(case.pinned_key, "k"), case.status_list)
    cache = ReplayCache()
    verify_bytes(case.data, store, case.now, Policy(), cache)
    second = host_result(_with(case, replay=[(k.hex(), t) for k, t in cache.entries.items()]))
    assert outcome(second) == "replayed"


def test_corpus_round_trip(tmp_path: Path) -> None:
    n = write_cases(tmp_path, CASES)
    back = load_cases(tmp_path)
    assert n == len(back) == len(CASES)
    for case in back:
        assert outcome(host_result(case)) == case.expected, case.name


def _with(case: CredCase, **changes: object) -> CredCase:
    import dataclasses

    return dataclasses.replace(case, **changes)  # type: ignore[arg-type]
