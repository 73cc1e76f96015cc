"""Differential: every credential case through the firmware verifier (CPython and the MicroPython VM) and the host.

The case table is tools/vitale_tools/cred_cases.py (one or more failing credentials per
refusal code, plus valid ones). It is written as a corpus (manifest + files) once; the
firmware runs it in-process under CPython (tests/cred_fw/vm_cred_cases.run_case) and
inside the VM (the same file as a script, one VM process for all cases). Each case must
get its expected code in all three, and a valid credential exactly the issued card.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from vitale.cred import policy as fw_policy
from vitale.cred import result as fw_result
from vitale.cred import status as fw_status
from vitale.cred import trust as fw_trust
from vitale.cred import vqr as fw_vqr
from vitale.store import Store
from vitale_host.models import PROFILE_REQUIRED, PROFILES, REFUSAL_CODES
from vitale_host.verify import load_status_list
from vitale_tools import mpvm
from vitale_tools.authority import make_status_list, new_key, sec1, status_payload
from vitale_tools.cred_cases import NOW, CredCase, World, build_cases, host_result, outcome, write_cases

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import vm_cred_cases as runner  # noqa: E402  (the MicroPython-compatible case runner)

WORLD = World.make()


def _pymdoccbor_cases() -> list[CredCase]:
    """Health-card mdocs issued by pymdoccbor (an independent issuer) with a document signer valid today."""
    import datetime as dt
    import time
    import warnings

    import cbor2

    from vitale_host.models import DOC_TYPE, NAMESPACE
    from vitale_tools import mdoc_holder as mh
    from vitale_tools.authority import DAY, der, make_ca_cert, make_leaf_cert, make_trust_list, mdoc_elements
    from vitale_tools.patients import synthetic_patients

    issuer_mod = pytest.importorskip("pymdoccbor.mdoc.issuer")
    settings = pytest.importorskip("pymdoccbor.settings")
    now = int(time.time())
    iaca_key, ds_key, trust_key, status_key = new_key(), new_key(), new_key(), new_key()
    iaca = make_ca_cert(iaca_key, "Interop IACA", now - 10 * DAY, now + 900 * DAY)
    ds = make_leaf_cert(ds_key.public_key(), iaca_key, iaca, "Interop DS", now - 10 * DAY, now + 400 * DAY)
    tlist = make_trust_list(trust_key, 1, now - 60, [der(iaca)], [der(ds)], status_key.public_key(), [], [])
    slist = make_status_list(status_key, [4], 1 << 16, 1, now - 60, now + DAY)
    today = dt.datetime.now(dt.timezone.utc).date()
    out: list[CredCase] = []
    # pymdoccbor tags every "birth_date" as a full-date; ours is the card's text (lunar dates allowed)
    saved = settings.CBORTAGS_ATTR_MAP.pop("birth_date", None)
    try:
        for i, card in enumerate(synthetic_patients(4, seed=21)):
            dkey = new_key()
            iss = issuer_mod.MdocCborIssuer(private_key={
                "KTY": "EC2", "CURVE": "P_256", "ALG": "ES256",
                "D": ds_key.private_numbers().private_value.to_bytes(32, "big"), "KID": b"ds"}, alg="ES256")
            n = dkey.public_key().public_numbers()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # pymdoccbor calls datetime.utcnow()
                iss.new(data={NAMESPACE: mdoc_elements(card)}, doctype=DOC_TYPE,
                        validity={"issuance_date": today.isoformat(),
                                  "expiry_date": (today + dt.timedelta(days=30)).isoformat()},
                        devicekeyinfo={"KTY": "EC2", "CURVE": "P_256", "X": n.x.to_bytes(32, "big"),
                                       "Y": n.y.to_bytes(32, "big")},
                        x509_chain=[ds], revocation={"status_list": {"idx": i + 2, "uri": "urn:t"}})
            isd = bytes(cbor2.dumps(cbor2.loads(iss.dump())["documents"][0]["issuerSigned"]))
            s = mh.new_session()
            mac = i % 2 == 1
            dr = mh.build_device_response(isd, dkey, s.transcript,
                                          mac_reader_pub=s.e_reader_key.public_key() if mac else None)
            container = mh.make_container(dr, s.transcript, s.e_reader_scalar if mac else None)
            expected = "revoked" if i + 2 == 4 else None
            out.append(CredCase(f"pymdoccbor_issued_{i}", "mdoc", expected, container, now + 60, tlist,
                                sec1(trust_key.public_key()), slist,
                                expected_card=card.to_dict() if expected is None else None))
            if i == 0:
                bad = cbor2.loads(isd)
                bad["nameSpaces"]["org.attacker"] = [bad["nameSpaces"][NAMESPACE][0]]
                dr = mh.build_device_response(cbor2.dumps(bad), dkey, s.transcript)
                out.append(CredCase("pymdoccbor_attacker_namespace", "mdoc", "digest_mismatch",
                                    mh.make_container(dr, s.transcript), now + 60, tlist,
                                    sec1(trust_key.public_key()), slist))
    finally:
        if saved is not None:
            settings.CBORTAGS_ATTR_MAP["birth_date"] = saved
    return out


def _mutants(base: list[CredCase], n: int) -> list[CredCase]:
    """Mutated valid credentials; each expects the host verifier's outcome (see tests/fuzz/test_fuzz_cred.py)."""
    import random

    import cbor2

    from test_fuzz_codecs import mutate
    from vitale_host.verify import base45_decode
    from vitale_tools.authority import base45_encode, der

    rng = random.Random(1234)
    valid = [c for c in base if c.expected is None and c.kind in ("mdoc", "vqr") and c.now == NOW]
    ds = der(WORLD.ds)
    out: list[CredCase] = []
    while len(out) < n:
        c = rng.choice(valid)
        if c.kind == "vqr":
            data = b"VQR1:" + base45_encode(mutate(rng, base45_decode(c.data.decode()[5:]))).encode()
        else:
            cont = cbor2.loads(c.data)
            key = rng.choice(("deviceResponse", "deviceResponse", "sessionTranscript"))
            cont[key] = mutate(rng, cont[key])
            data = cbor2.dumps(cont)
            if ds not in data:
                continue  # a mutated certificate: cryptography and the firmware's DER parser may classify it apart
        m = dataclasses.replace(c, name=f"mutant_{len(out):03d}_{c.name}", data=data)
        result = host_result(m)
        m.expected = outcome(result)
        m.expected_card = result.card.to_dict() if m.expected is None and result.card else None  # type: ignore[union-attr]
        out.append(m)
    return out


sys.path.insert(0, str(HERE.parent / "fuzz"))
_BASE = build_cases(WORLD) + _pymdoccbor_cases()
CASES = _BASE + _mutants(_BASE, 240)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    d = tmp_path_factory.mktemp("cred-cases")
    write_cases(d, CASES)
    manifest = json.loads((d / "manifest.json").read_text())["cases"]
    return d, {m["name"]: m for m in manifest}


@pytest.fixture(scope="module")
def vm_results(corpus: tuple[Path, dict[str, dict[str, Any]]]) -> dict[str, tuple[str | None, Any]]:
    d, _ = corpus
    res = mpvm.run_file(HERE / "vm_cred_cases.py", args=["/cases"], mounts={"/cases": d}, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out: dict[str, tuple[str | None, Any]] = {}
    for line in res.lines:
        if line.startswith("CASE "):
            _, name, code, card = line.split(" ", 3)
            out[name] = (None if code == "OK" else code, json.loads(card))
    assert f"DONE {len(CASES)}" in res.lines
    return out


def _check(case: CredCase, code: str | None, card: Any, where: str) -> None:
    host = outcome(host_result(case))
    assert host == case.expected, f"host verifier: {case.name} got {host}"
    assert code == case.expected, f"firmware ({where}): {case.name} got {code}, expected {case.expected}"
    if case.expected is None and case.kind in ("mdoc", "vqr"):
        assert card == case.expected_card, f"firmware ({where}): {case.name} card differs"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_firmware_cpython(case: CredCase, corpus: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    d, manifest = corpus
    code, card = runner.run_case(manifest[case.name], str(d))
    _check(case, code, card, "CPython")


@pytest.mark.vm
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_firmware_vm(case: CredCase, vm_results: dict[str, tuple[str | None, Any]]) -> None:
    code, card = vm_results[case.name]
    _check(case, code, card, "MicroPython VM")


def test_interop_cases_are_present() -> None:
    names = {c.name: c.expected for c in CASES if c.name.startswith("pymdoccbor_")}
    assert list(names.values()).count(None) >= 3 and "digest_mismatch" in names.values()


def test_every_documented_code_is_a_firmware_code_with_a_case() -> None:
    assert set(REFUSAL_CODES) <= set(fw_result.REFUSALS), set(REFUSAL_CODES) - set(fw_result.REFUSALS)
    assert set(REFUSAL_CODES) <= {c.expected for c in CASES}
    mutant_codes = {c.expected for c in CASES if c.name.startswith("mutant_")}
    assert {"malformed", "bad_issuer_signature", "device_auth_failed"} <= mutant_codes, mutant_codes


def test_profiles_match_the_host_tables() -> None:
    assert {k: tuple(v) for k, v in fw_policy.PROFILES.items()} == {k: tuple(v) for k, v in PROFILES.items()}
    assert {k: tuple(v) for k, v in fw_policy.PROFILE_REQUIRED.items()} == \
        {k: tuple(v) for k, v in PROFILE_REQUIRED.items()}


def _with(case: CredCase, **changes: Any) -> CredCase:
    return dataclasses.replace(case, **changes)


def _fw(case: CredCase, tmp: Path) -> str | None:
    write_cases(tmp, [case])
    m = json.loads((tmp / "manifest.json").read_text())["cases"][0]
    return runner.run_case(m, str(tmp))[0]


def test_valid_cases_turn_bad_with_one_change(tmp_path: Path) -> None:
    """The firmware accepts the valid cases for the right reasons: one change makes each fail, as on the host."""
    n = 0
    for case in _BASE:
        if case.expected is None and case.kind in ("mdoc", "vqr"):
            for changed, code in ((_with(case, now=None), "clock_unset"),
                                  (_with(case, status_list=None), "stale_status_list"),
                                  (_with(case, now=(case.now or 0) + 400 * 86400), "expired")):
                n += 1
                sub = tmp_path / str(n)
                assert _fw(changed, sub) == code == outcome(host_result(changed)), case.name
    assert n >= 15


def test_replay_cache_accepts_a_presentation_once() -> None:
    case = next(c for c in CASES if c.name == "vqr_valid")
    t = fw_trust.Trust.load(case.trust_list, case.pinned_key, case.status_list)
    cache = fw_vqr.ReplayCache()
    v = fw_vqr.verify(case.data, t, fw_policy.Policy(), case.now, cache)
    assert v.device_auth == "presentation" and v.presented_at == NOW - 3
    with pytest.raises(fw_result.Refusal) as e:  # the same text again, a second later
        fw_vqr.verify(case.data, t, fw_policy.Policy(), case.now + 1, cache)
    assert e.value.code == "replayed"
    # the cache forgets after window + skew: a screenshot is then refused as stale, never accepted
    with pytest.raises(fw_result.Refusal) as e:
        fw_vqr.verify(case.data, t, fw_policy.Policy(), case.now + 40, cache)
    assert e.value.code == "qr_expired"


def test_status_list_decoding_matches_the_host() -> None:
    """Random lists (several Rice parameters and chunk sizes): every chunk decodes as on the host, every lookup agrees."""
    import random

    rng = random.Random(5)
    key = new_key()
    for size, shift, frac in ((1 << 12, 8, 0.3), (70000, 12, 0.01), (1 << 16, 16, 0.05), (5000, 10, 0.0)):
        revoked = sorted(rng.sample(range(size), int(size * frac)))
        data = make_status_list(key, revoked, size, 1, NOW, NOW + 86400, shift)
        host = load_status_list(data, key.public_key())
        fw = fw_status.parse(fw_status.BytesSource(data), sec1(key.public_key()))
        assert (fw.rice_k, fw.chunk_shift, fw.size, fw.revoked_count) == (host.rice_k, shift, size, len(revoked))
        for i in range(fw.chunks):
            assert fw.chunk_indices(i) == host.chunk_indices(i)
        rset = set(revoked)
        probes = revoked[:200] + [rng.randrange(size) for _ in range(300)] + [0, size - 1]
        for x in probes:
            assert fw.is_revoked(x) == (x in rset) == host.is_revoked(x)
        with pytest.raises(fw_result.Refusal) as e:
            fw.is_revoked(size)
        assert e.value.code == "stale_status_list"


def test_status_list_worked_chunk() -> None:
    """trust-and-status.md §3.2: revoked {0, 2, 67, 133}, k 6 -> chunk bytes 00 06 02 04."""
    p = status_payload([0, 2, 67, 133], 1 << 16, 1, NOW, NOW, 16, k=6)
    assert p[10] == bytes.fromhex("00060204") and p[9] == bytes.fromhex("0000000000000004")
    import cbor2

    from vitale_tools.authority import cose_sign1
    key = new_key()
    fw = fw_status.parse(fw_status.BytesSource(cose_sign1(key, cbor2.dumps(p))), sec1(key.public_key()))
    assert fw.chunk_indices(0) == [0, 2, 67, 133]
    assert [x for x in range(200) if fw.is_revoked(x)] == [0, 2, 67, 133]


def test_lists_on_flash_install_rollback_and_lookup(tmp_path: Path) -> None:
    """install() keeps the stored list when a new one is refused; lookups read the file chunk by chunk."""
    w = WORLD
    store = Store(str(tmp_path / "flash"))
    pinned = w.pinned
    tl = fw_trust.install(store, w.trust_list, pinned)
    assert tl.seq == 5 and len(tl.iacas) == 1 and len(tl.dss) == 1
    with pytest.raises(fw_result.Refusal) as e:
        fw_trust.install(store, w.make_trust_list(4), pinned)
    assert e.value.code == "rollback"
    with pytest.raises(fw_result.Refusal) as e:
        fw_trust.install(store, w.make_trust_list(9, key=new_key()), pinned)
    assert e.value.code == "bad_list_signature"
    assert fw_trust.install(store, w.trust_list, pinned).seq == 5          # the same file again: harmless
    assert fw_trust.install(store, w.make_trust_list(6), pinned).seq == 6
    sl = fw_trust.install_status(store, w.status_list, tl)
    assert isinstance(sl.src, fw_status.FileSource)
    with pytest.raises(fw_result.Refusal) as e:
        fw_trust.install_status(store, w.make_status_list(4, NOW), tl)
    assert e.value.code == "rollback"
    t = fw_trust.Trust.from_store(store, pinned)
    assert t.trust_list.seq == 6 and t.status is not None and t.status.seq == 5
    before = t.status.src.bytes_read
    assert t.status.is_revoked(7) and not t.status.is_revoked(8)
    assert t.status.src.bytes_read - before < 64   # two lookups: directory entries + a tiny chunk each
    case = next(c for c in CASES if c.name == "vqr_valid")
    v = fw_vqr.verify(case.data, t, fw_policy.Policy(), case.now, fw_vqr.ReplayCache())
    assert v.fields == case.expected_card and v.status_index == 3
    assert fw_trust.install_status(store, w.make_status_list(6, NOW - 60), tl).seq == 6
    # a corrupted main copy falls back to the previous intact copy, never to garbage
    main = tmp_path / "flash" / "status-list"
    raw = bytearray(main.read_bytes())
    raw[-3] ^= 1
    main.write_bytes(bytes(raw))
    t2 = fw_trust.Trust.from_store(store, pinned)
    assert t2.status is not None and t2.status.seq == 5
